//! CloudWatch adapter for [`TagSource`]. The lookup goes to the alarm's own region (taken
//! from its ARN), so a central deployment can read alarms of other regions; reading other
//! accounts needs an assumed role, which comes with the organisation set-up.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::SdkConfig;

use crate::error::KlaxonError;
use crate::ports::TagSource;

pub struct CloudWatchTags {
    shared: SdkConfig,
    clients: Mutex<HashMap<String, aws_sdk_cloudwatch::Client>>,
}

impl CloudWatchTags {
    pub fn new(shared: SdkConfig) -> Self {
        CloudWatchTags {
            shared,
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn client_for(&self, alarm_arn: &str) -> aws_sdk_cloudwatch::Client {
        let region = alarm_arn
            .split(':')
            .nth(3)
            .filter(|r| !r.is_empty())
            .map(str::to_string);
        let key = region.clone().unwrap_or_default();
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients
            .entry(key)
            .or_insert_with(|| {
                let mut builder = aws_sdk_cloudwatch::config::Builder::from(&self.shared);
                if let Some(region) = region {
                    builder = builder.region(aws_sdk_cloudwatch::config::Region::new(region));
                }
                aws_sdk_cloudwatch::Client::from_conf(builder.build())
            })
            .clone()
    }
}

impl TagSource for CloudWatchTags {
    async fn alarm_tags(&self, alarm_arn: &str) -> Result<Vec<(String, String)>, KlaxonError> {
        let output = self
            .client_for(alarm_arn)
            .list_tags_for_resource()
            .resource_arn(alarm_arn)
            .send()
            .await
            .map_err(|e| super::classify("cloudwatch", "ListTagsForResource", e))?;
        Ok(output
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    t.value().unwrap_or_default().to_string(),
                ))
            })
            .collect())
    }
}
