//! Tag lookup with a short per-container cache. A resource's tags rarely change, and during
//! an alarm storm (or a burst of findings) one lookup should serve every event of the same
//! alarm or resource.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::KlaxonError;
use crate::ports::TagSource;

/// How the tags of one event were obtained (logged, and shown by `klaxon replay`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagOrigin {
    Event,
    Lookup,
    Cache,
    /// The lookup failed in a way a retry cannot fix (alarm deleted, access denied): the
    /// resource is treated as untagged, hence production, so a real page is never missed.
    Unavailable,
}

const MAX_CACHED_KEYS: usize = 4096;

type Tags = Vec<(String, String)>;
type Cache = HashMap<String, (Instant, Tags)>;

pub struct TagResolver<T> {
    source: T,
    ttl: Duration,
    cache: Mutex<Cache>,
}

impl<T: TagSource> TagResolver<T> {
    /// The underlying lookups (which also answer the enrichment and metric steps).
    pub fn source(&self) -> &T {
        &self.source
    }

    pub fn new(source: T, ttl: Duration) -> Self {
        TagResolver {
            source,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Retryable lookup failures are returned (the invocation fails and is retried, rather
    /// than routing a test alarm to production on a throttle); others degrade to untagged.
    pub async fn tags(&self, arn: &str) -> Result<(Vec<(String, String)>, TagOrigin), KlaxonError> {
        if let Some((at, tags)) = self.lock().get(arn) {
            if at.elapsed() < self.ttl {
                return Ok((tags.clone(), TagOrigin::Cache));
            }
        }
        match self.source.resource_tags(arn).await {
            Ok(tags) => {
                let mut cache = self.lock();
                if cache.len() >= MAX_CACHED_KEYS {
                    let ttl = self.ttl;
                    cache.retain(|_, (at, _)| at.elapsed() < ttl);
                    if cache.len() >= MAX_CACHED_KEYS {
                        cache.clear();
                    }
                }
                cache.insert(arn.to_string(), (Instant::now(), tags.clone()));
                Ok((tags, TagOrigin::Lookup))
            }
            Err(e) if e.is_retryable() => Err(e),
            Err(e) => {
                tracing::warn!(error = %e, arn = %crate::text::for_log(arn), "tags unavailable; treating the resource as untagged (production)");
                Ok((Vec::new(), TagOrigin::Unavailable))
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryBackend;

    #[tokio::test]
    async fn caches_within_ttl() {
        let backend = MemoryBackend::new();
        backend.set_resource_tags("arn:a", &[("Environment", "dev")]);
        let r = TagResolver::new(backend.clone(), Duration::from_secs(60));
        assert_eq!(r.tags("arn:a").await.unwrap().1, TagOrigin::Lookup);
        let (tags, origin) = r.tags("arn:a").await.unwrap();
        assert_eq!(origin, TagOrigin::Cache);
        assert_eq!(tags, vec![("Environment".to_string(), "dev".to_string())]);
        assert_eq!(backend.tag_lookups(), 1);
        let r0 = TagResolver::new(backend.clone(), Duration::ZERO);
        r0.tags("arn:a").await.unwrap();
        r0.tags("arn:a").await.unwrap();
        assert_eq!(backend.tag_lookups(), 3);
    }

    #[tokio::test]
    async fn retryable_errors_propagate_others_degrade() {
        let backend = MemoryBackend::new();
        let r = TagResolver::new(backend.clone(), Duration::from_secs(60));
        backend.fail_next_tag_lookup(KlaxonError::Aws {
            service: "cloudwatch",
            operation: "ListTagsForResource",
            code: "Throttling".into(),
            message: "slow down".into(),
            retryable: true,
        });
        assert!(r.tags("arn:b").await.is_err());
        backend.fail_next_tag_lookup(KlaxonError::Aws {
            service: "cloudwatch",
            operation: "ListTagsForResource",
            code: "ResourceNotFoundException".into(),
            message: "gone".into(),
            retryable: false,
        });
        let (tags, origin) = r.tags("arn:b").await.unwrap();
        assert!(tags.is_empty());
        assert_eq!(origin, TagOrigin::Unavailable);
    }
}
