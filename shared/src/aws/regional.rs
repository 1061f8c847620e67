//! Clients per region: reads about a resource go to the resource's own region (taken from
//! its ARN), so one deployment can read resources of several regions. Built on first use
//! and kept for the life of the container.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::SdkConfig;

pub struct Regional<C> {
    shared: SdkConfig,
    home: C,
    clients: Mutex<HashMap<String, C>>,
    build: fn(&SdkConfig, Option<String>) -> C,
}

impl<C: Clone> Regional<C> {
    /// `build(config, Some(region))` makes a client for another region; `None`: Klaxon's.
    pub fn new(shared: &SdkConfig, build: fn(&SdkConfig, Option<String>) -> C) -> Self {
        Regional {
            home: build(shared, None),
            shared: shared.clone(),
            clients: Mutex::new(HashMap::new()),
            build,
        }
    }

    /// Klaxon's own region.
    pub fn home(&self) -> C {
        self.home.clone()
    }

    /// The client for the region in `arn` (`arn:partition:service:region:...`); Klaxon's own
    /// for ARNs without one (S3 buckets, IAM).
    pub fn for_arn(&self, arn: &str) -> C {
        let Some(region) = arn
            .split(':')
            .nth(3)
            .filter(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        else {
            return self.home.clone();
        };
        if self
            .shared
            .region()
            .is_some_and(|home| home.as_ref() == region)
        {
            return self.home.clone();
        }
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients
            .entry(region.to_string())
            .or_insert_with(|| (self.build)(&self.shared, Some(region.to_string())))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lookups about a resource (an alarm's tags, say) go to the Region in its ARN; ARNs of
    /// Klaxon's own Region, or without one, use Klaxon's client (docs/CONTRACTS.md (a)).
    #[test]
    fn reads_go_to_the_region_in_the_arn() {
        let shared = SdkConfig::builder()
            .region(aws_config::Region::new("us-east-1"))
            .build();
        let regional: Regional<Option<String>> = Regional::new(&shared, |_, region| region);
        assert_eq!(
            regional.for_arn("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:db-cpu"),
            Some("eu-west-1".to_string())
        );
        assert_eq!(
            regional.for_arn("arn:aws:cloudwatch:us-east-1:123456789012:alarm:db-cpu"),
            None
        );
        assert_eq!(regional.for_arn("arn:aws:s3:::a-bucket"), None);
        assert_eq!(regional.home(), None);
    }
}
