//! The steps after the page: what one attempt produces or why it failed, and how long to
//! wait before the next attempt.

use std::time::Duration;

use serde_json::Value;

use crate::error::KlaxonError;
use crate::runbook::step::StepError;

/// Backoff between retries of an after-page step: 100 ms, 200 ms, 400 ms, ... at most 2 s.
pub fn retry_delay(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(5)).min(2000))
}

/// What one attempt at an after-page step produced, for its timeline entry.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutput {
    pub summary: String,
    pub detail: Option<Value>,
}

/// Why an attempt at an after-page step failed.
#[derive(Debug, thiserror::Error)]
pub enum StepFailure {
    /// A call to AWS failed; retried when the error says a retry can help.
    #[error(transparent)]
    Call(#[from] KlaxonError),
    /// The step itself cannot succeed (a template, the hop limit): never retried.
    #[error(transparent)]
    Step(#[from] StepError),
    /// A step kind that only runs before the page (a record from an older version).
    #[error("a {0} step does not run after the page")]
    NotAfterPage(&'static str),
}

impl StepFailure {
    pub fn is_retryable(&self) -> bool {
        matches!(self, StepFailure::Call(e) if e.is_retryable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_retryable_calls_are_retried_and_messages_are_the_causes() {
        let throttled = KlaxonError::Aws {
            service: "sns",
            operation: "Publish",
            code: "Throttling".into(),
            message: "slow down".into(),
            retryable: true,
        };
        let text = throttled.to_string();
        let call = StepFailure::from(throttled);
        assert!(call.is_retryable());
        assert_eq!(call.to_string(), text);
        let step = StepFailure::from(StepError::HopLimit { hops: 3, max: 3 });
        assert!(!step.is_retryable());
        assert_eq!(
            step.to_string(),
            StepError::HopLimit { hops: 3, max: 3 }.to_string()
        );
        let kind = StepFailure::NotAfterPage("guard");
        assert!(!kind.is_retryable());
        assert_eq!(kind.to_string(), "a guard step does not run after the page");
        assert_eq!(retry_delay(0), Duration::from_millis(100));
        assert_eq!(retry_delay(9), Duration::from_millis(2000));
    }
}
