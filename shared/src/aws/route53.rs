//! Route 53 adapter for [`HealthChecks`]: GetHealthCheck and
//! GetHealthCheckLastFailureReason. Route 53 is a global service: one client.

use aws_config::SdkConfig;
use aws_sdk_route53 as route53;
use chrono::DateTime;

use crate::error::KlaxonError;
use crate::lookup::{HealthCheckObservation, HealthCheckReport};
use crate::ports::HealthChecks;

pub struct Route53 {
    client: route53::Client,
}

impl Route53 {
    pub fn new(shared: &SdkConfig) -> Self {
        Route53 {
            client: route53::Client::new(shared),
        }
    }
}

impl HealthChecks for Route53 {
    async fn health_check(&self, health_check_id: &str) -> Result<HealthCheckReport, KlaxonError> {
        let check = self
            .client
            .get_health_check()
            .health_check_id(health_check_id)
            .send()
            .await
            .map_err(|e| super::error::classify("route53", "GetHealthCheck", e))?;
        let config = check.health_check().and_then(|h| h.health_check_config());
        let target = config.map(|c| {
            let host = c
                .fully_qualified_domain_name()
                .or(c.ip_address())
                .unwrap_or_default();
            let scheme = match c.r#type().as_str() {
                "HTTPS" | "HTTPS_STR_MATCH" => "https://",
                "HTTP" | "HTTP_STR_MATCH" => "http://",
                _ => "",
            };
            format!(
                "{scheme}{host}{}{}",
                c.port().map(|p| format!(":{p}")).unwrap_or_default(),
                c.resource_path().unwrap_or_default()
            )
        });
        // The page must not wait on (or fail for) the failure reason: without it the
        // configuration still says what is checked.
        let (last_failures, last_failure_unavailable) = match self
            .client
            .get_health_check_last_failure_reason()
            .health_check_id(health_check_id)
            .send()
            .await
        {
            Ok(out) => {
                let mut observations: Vec<HealthCheckObservation> = out
                    .health_check_observations()
                    .iter()
                    .map(|o| HealthCheckObservation {
                        region: o.region().map(|r| r.as_str().to_string()),
                        checked_at: o
                            .status_report()
                            .and_then(|s| s.checked_time())
                            .and_then(|t| DateTime::from_timestamp_millis(t.to_millis().ok()?)),
                        status: o
                            .status_report()
                            .and_then(|s| s.status())
                            .unwrap_or_default()
                            .to_string(),
                    })
                    .collect();
                observations.sort_by_key(|o| std::cmp::Reverse(o.checked_at));
                (observations, None)
            }
            Err(e) => {
                let e = super::error::classify("route53", "GetHealthCheckLastFailureReason", e);
                tracing::warn!(error = %e, "health check read, last failure reason not");
                (Vec::new(), Some(crate::text::for_log(&e.to_string())))
            }
        };
        Ok(HealthCheckReport {
            id: health_check_id.to_string(),
            check_type: config.map(|c| c.r#type().as_str().to_string()),
            target,
            request_interval: config.and_then(|c| c.request_interval()),
            failure_threshold: config.and_then(|c| c.failure_threshold()),
            last_failures,
            last_failure_unavailable,
        })
    }
}
