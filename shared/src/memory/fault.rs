//! Faults the memory backend injects, for what moto never does (transaction conflicts) or
//! what is hard to provoke (a failed publish, a crash after the write). They are not part of
//! the production error type: they reach it as an adapter error of kind `InjectedFault`,
//! always retryable.

use crate::error::KlaxonError;

#[derive(Debug, thiserror::Error)]
#[error("injected fault: {0}")]
pub struct InjectedFault(pub String);

impl From<InjectedFault> for KlaxonError {
    fn from(fault: InjectedFault) -> Self {
        KlaxonError::Adapter {
            kind: "InjectedFault",
            retryable: true,
            source: Box::new(fault),
        }
    }
}

/// A retryable injected fault as a [`KlaxonError`].
pub fn injected(what: impl Into<String>) -> KlaxonError {
    InjectedFault(what.into()).into()
}
