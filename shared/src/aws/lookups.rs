//! The lookups the engine makes, routed to one adapter per service.

use aws_config::SdkConfig;

use super::{cloudwatch, elbv2, route53, tagging};
use crate::error::KlaxonError;
use crate::ports::{HealthChecks, LoadBalancers, Metrics, TagSource};

/// Everything the engine reads about the world: tags (CloudWatch for alarms, the tagging
/// API for other resources), CloudWatch metrics and history, ELB target health, Route 53
/// health checks. One adapter per service; this only routes between them.
pub struct AwsLookups {
    pub cloudwatch: cloudwatch::CloudWatch,
    pub elbv2: elbv2::ElbV2,
    pub route53: route53::Route53,
    pub tagging: tagging::ResourceTags,
}

impl AwsLookups {
    pub fn new(shared: &SdkConfig) -> Self {
        AwsLookups {
            cloudwatch: cloudwatch::CloudWatch::new(shared.clone()),
            elbv2: elbv2::ElbV2::new(shared),
            route53: route53::Route53::new(shared),
            tagging: tagging::ResourceTags::new(shared),
        }
    }
}

impl TagSource for AwsLookups {
    async fn resource_tags(&self, arn: &str) -> Result<Vec<(String, String)>, KlaxonError> {
        if arn.contains(":cloudwatch:") && arn.contains(":alarm:") {
            self.cloudwatch.resource_tags(arn).await
        } else {
            self.tagging.tags(arn).await
        }
    }
}

impl Metrics for AwsLookups {
    async fn metric_data(
        &self,
        alarm_arn: &str,
        queries: &[crate::lookup::MetricQuery],
        start: chrono::DateTime<chrono::Utc>,
        end: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<crate::lookup::MetricSeries>, KlaxonError> {
        self.cloudwatch
            .metric_data(alarm_arn, queries, start, end)
            .await
    }

    async fn alarm_history(
        &self,
        alarm_arn: &str,
        start: chrono::DateTime<chrono::Utc>,
        end: chrono::DateTime<chrono::Utc>,
        max: i32,
    ) -> Result<Vec<crate::lookup::HistoryItem>, KlaxonError> {
        self.cloudwatch
            .alarm_history(alarm_arn, start, end, max)
            .await
    }

    async fn put_metric(&self, datum: &crate::lookup::MetricDatum) -> Result<(), KlaxonError> {
        self.cloudwatch.put_metric(datum).await
    }
}

impl LoadBalancers for AwsLookups {
    async fn target_health(
        &self,
        target_group_arn: &str,
    ) -> Result<Vec<crate::lookup::TargetHealth>, KlaxonError> {
        self.elbv2.target_health(target_group_arn).await
    }
}

impl HealthChecks for AwsLookups {
    async fn health_check(
        &self,
        health_check_id: &str,
    ) -> Result<crate::lookup::HealthCheckReport, KlaxonError> {
        self.route53.health_check(health_check_id).await
    }
}
