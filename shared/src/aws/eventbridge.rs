//! EventBridge adapter for [`LifecycleBus`].

use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use crate::error::KlaxonError;
use crate::model::LifecycleEvent;
use crate::ports::LifecycleBus;
use crate::render::LIFECYCLE_SOURCE;

pub struct EventBridgeBus {
    client: aws_sdk_eventbridge::Client,
}

impl EventBridgeBus {
    pub fn new(client: aws_sdk_eventbridge::Client) -> Self {
        EventBridgeBus { client }
    }
}

impl LifecycleBus for EventBridgeBus {
    async fn put(&self, bus: &str, event: &LifecycleEvent) -> Result<(), KlaxonError> {
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(bus)
            .source(event.source.as_deref().unwrap_or(LIFECYCLE_SOURCE))
            .detail_type(&event.detail_type)
            .set_resources(Some(event.resources.clone()))
            .detail(event.detail.to_string())
            .build();
        let output = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| super::error::classify("eventbridge", "PutEvents", e))?;
        // PutEvents reports per-entry failures with a 200 response.
        if output.failed_entry_count() > 0 {
            let failed = output.entries().iter().find(|e| e.error_code().is_some());
            let code = failed
                .and_then(|e| e.error_code())
                .unwrap_or("Unknown")
                .to_string();
            return Err(KlaxonError::Aws {
                service: "eventbridge",
                operation: "PutEvents",
                retryable: code.contains("Throttl")
                    || code.contains("InternalFailure")
                    || code.contains("Internal"),
                message: failed
                    .and_then(|e| e.error_message())
                    .unwrap_or_default()
                    .to_string(),
                code,
            });
        }
        Ok(())
    }
}
