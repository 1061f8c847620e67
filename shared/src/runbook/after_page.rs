//! The steps after the page: how long to wait between the retries of one.

use std::time::Duration;

/// Backoff between retries of an after-page step: 100 ms, 200 ms, 400 ms, ... at most 2 s.
pub fn retry_delay(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(5)).min(2000))
}
