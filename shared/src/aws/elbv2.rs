//! Elastic Load Balancing v2 adapter for [`LoadBalancers`]: DescribeTargetHealth in the
//! target group's region.

use aws_config::SdkConfig;
use aws_sdk_elasticloadbalancingv2 as elbv2;

use super::regional::Regional;
use crate::error::KlaxonError;
use crate::lookup::TargetHealth;
use crate::ports::LoadBalancers;

pub struct ElbV2 {
    clients: Regional<elbv2::Client>,
}

impl ElbV2 {
    pub fn new(shared: &SdkConfig) -> Self {
        ElbV2 {
            clients: Regional::new(shared, |shared, region| {
                let mut config = elbv2::config::Builder::from(shared);
                if let Some(region) = region {
                    config = config.region(elbv2::config::Region::new(region));
                }
                elbv2::Client::from_conf(config.build())
            }),
        }
    }
}

impl LoadBalancers for ElbV2 {
    async fn target_health(
        &self,
        target_group_arn: &str,
    ) -> Result<Vec<TargetHealth>, KlaxonError> {
        // Without a target list, DescribeTargetHealth reports every registered target.
        let output = self
            .clients
            .for_arn(target_group_arn)
            .describe_target_health()
            .target_group_arn(target_group_arn)
            .send()
            .await
            .map_err(|e| {
                super::error::classify("elasticloadbalancing", "DescribeTargetHealth", e)
            })?;
        Ok(output
            .target_health_descriptions()
            .iter()
            .map(|d| {
                let target = d.target();
                let health = d.target_health();
                TargetHealth {
                    id: target.and_then(|t| t.id()).unwrap_or_default().to_string(),
                    port: target.and_then(|t| t.port()),
                    availability_zone: target
                        .and_then(|t| t.availability_zone())
                        .map(str::to_string),
                    state: health
                        .and_then(|h| h.state())
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_else(|| "unknown".into()),
                    reason: health
                        .and_then(|h| h.reason())
                        .map(|r| r.as_str().to_string()),
                    description: health.and_then(|h| h.description()).map(str::to_string),
                }
            })
            .collect())
    }
}
