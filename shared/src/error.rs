//! Errors, each marked retryable or not. Lambda retries every error of an asynchronous
//! invocation, so handlers return an error only when a retry can help (or when a page would
//! otherwise be lost); invalid input is recorded and acknowledged instead.

#[derive(Debug, thiserror::Error)]
pub enum KlaxonError {
    #[error("{service} {operation} failed ({code}): {message}")]
    Aws {
        service: &'static str,
        operation: &'static str,
        code: String,
        message: String,
        retryable: bool,
    },
    #[error("stored record {key} cannot be read: {reason}")]
    CorruptRecord { key: String, reason: String },
    #[error("concurrent updates for {dedup_key} still conflicted after {attempts} attempts")]
    Contention { dedup_key: String, attempts: u32 },
    #[error("outbox item {item_id} of {incident_id} is being delivered by another invocation (lease until {lease_until}); retry later")]
    DeliveryInProgress {
        incident_id: String,
        item_id: String,
        lease_until: String,
    },
    #[error("no SNS topic is configured for route `{0}`")]
    NoTopicForRoute(&'static str),
    /// An adapter's own error (not an AWS SDK call): its kind for `errorType`, and whether a
    /// retry can help. The memory backend's injected faults are of this variant.
    #[error("{source}")]
    Adapter {
        kind: &'static str,
        retryable: bool,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl KlaxonError {
    /// Whether retrying the same invocation later can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            KlaxonError::Aws { retryable, .. } => *retryable,
            KlaxonError::Contention { .. } | KlaxonError::DeliveryInProgress { .. } => true,
            KlaxonError::Adapter { retryable, .. } => *retryable,
            KlaxonError::CorruptRecord { .. } | KlaxonError::NoTopicForRoute(_) => false,
        }
    }

    /// A short stable name for logs and Lambda's `errorType`.
    pub fn kind(&self) -> &'static str {
        match self {
            KlaxonError::Aws { .. } => "AwsError",
            KlaxonError::CorruptRecord { .. } => "CorruptRecord",
            KlaxonError::Contention { .. } => "Contention",
            KlaxonError::DeliveryInProgress { .. } => "DeliveryInProgress",
            KlaxonError::NoTopicForRoute(_) => "NoTopicForRoute",
            KlaxonError::Adapter { kind, .. } => kind,
        }
    }
}

/// Why a commit did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The event id already has an idempotency record: this delivery is a duplicate.
    #[error("event already processed")]
    AlreadyProcessed,
    /// Another invocation changed the alarm's tracker first (conditional check failed), or
    /// DynamoDB cancelled the transaction for a conflicting one: read again and retry.
    #[error("concurrent update: {0}")]
    Conflict(String),
    #[error(transparent)]
    Failed(#[from] KlaxonError),
}
