//! Resource Groups Tagging API adapter: the tags of any taggable resource by ARN (a
//! security group named by a CloudTrail call), in the resource's region.

use aws_config::SdkConfig;
use aws_sdk_resourcegroupstagging as tagging;

use super::regional::Regional;
use crate::error::KlaxonError;

pub struct ResourceTags {
    clients: Regional<tagging::Client>,
}

impl ResourceTags {
    pub fn new(shared: &SdkConfig) -> Self {
        ResourceTags {
            clients: Regional::new(shared, |shared, region| {
                let mut config = tagging::config::Builder::from(shared);
                if let Some(region) = region {
                    config = config.region(tagging::config::Region::new(region));
                }
                tagging::Client::from_conf(config.build())
            }),
        }
    }

    /// GetResources for one ARN. A resource never tagged is not listed: no tags.
    pub async fn tags(&self, arn: &str) -> Result<Vec<(String, String)>, KlaxonError> {
        let output = self
            .clients
            .for_arn(arn)
            .get_resources()
            .resource_arn_list(arn)
            .send()
            .await
            .map_err(|e| super::error::classify("tag", "GetResources", e))?;
        Ok(output
            .resource_tag_mapping_list()
            .iter()
            .filter(|m| m.resource_arn() == Some(arn))
            .flat_map(|m| m.tags())
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect())
    }
}
