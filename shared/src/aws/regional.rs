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
