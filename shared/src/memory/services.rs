//! The other ports in memory: pages and bus events recorded, tags, metrics, history,
//! target health and health checks answered as a test recorded them.

use chrono::{DateTime, Utc};

use super::fault::injected;
use super::{MemoryBackend, Published, PutOnBus};
use crate::error::KlaxonError;
use crate::lookup::{
    HealthCheckReport, HistoryItem, MetricDatum, MetricQuery, MetricSeries, TargetHealth,
};
use crate::model::{LifecycleEvent, Notification};
use crate::ports::{HealthChecks, LifecycleBus, LoadBalancers, Metrics, Pager, TagSource};

impl Pager for MemoryBackend {
    async fn publish(
        &self,
        topic_arn: &str,
        notification: &Notification,
    ) -> Result<String, KlaxonError> {
        let mut s = self.lock();
        if s.publish_faults > 0 {
            s.publish_faults -= 1;
            return Err(injected("SNS publish failed"));
        }
        if s.dead_topics.iter().any(|t| t == topic_arn) {
            return Err(KlaxonError::Aws {
                service: "sns",
                operation: "Publish",
                code: "NotFound".into(),
                message: "Topic does not exist".into(),
                retryable: false,
            });
        }
        s.published.push(Published {
            topic_arn: topic_arn.to_string(),
            notification: notification.clone(),
            at: std::time::Instant::now(),
        });
        Ok(format!("memory-message-{}", s.published.len()))
    }
}

impl LifecycleBus for MemoryBackend {
    async fn put(&self, bus: &str, event: &LifecycleEvent) -> Result<(), KlaxonError> {
        let mut s = self.lock();
        if s.bus_faults > 0 {
            s.bus_faults -= 1;
            return Err(injected("PutEvents failed"));
        }
        s.bus.push(PutOnBus {
            bus: bus.to_string(),
            event: event.clone(),
        });
        Ok(())
    }
}

impl TagSource for MemoryBackend {
    async fn resource_tags(&self, alarm_arn: &str) -> Result<Vec<(String, String)>, KlaxonError> {
        let mut s = self.lock();
        s.tag_lookups += 1;
        if let Some(error) = s.tag_faults.pop_front() {
            return Err(error);
        }
        Ok(s.tags.get(alarm_arn).cloned().unwrap_or_default())
    }
}

impl MemoryBackend {
    /// The delay set by [`MemoryBackend::delay_metric_reads`], outside the lock.
    async fn metric_read_delay(&self) {
        let delay = self.lock().metrics_delay;
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
    }
}

impl Metrics for MemoryBackend {
    async fn metric_data(
        &self,
        _alarm_arn: &str,
        queries: &[MetricQuery],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<MetricSeries>, KlaxonError> {
        self.metric_read_delay().await;
        let s = self.lock();
        if s.metrics_fail {
            return Err(injected("GetMetricData failed"));
        }
        Ok(queries
            .iter()
            .map(|q| MetricSeries {
                id: q.id.clone(),
                points: s
                    .metric_points
                    .get(&q.label)
                    .map(|p| {
                        p.iter()
                            .copied()
                            .filter(|(t, _)| *t >= start && *t <= end)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect())
    }

    async fn alarm_history(
        &self,
        _alarm_arn: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        max: i32,
    ) -> Result<Vec<HistoryItem>, KlaxonError> {
        self.metric_read_delay().await;
        let s = self.lock();
        if s.metrics_fail {
            return Err(injected("DescribeAlarmHistory failed"));
        }
        let mut items: Vec<HistoryItem> = s
            .alarm_history
            .iter()
            .filter(|i| i.timestamp >= start && i.timestamp <= end)
            .cloned()
            .collect();
        items.sort_by_key(|i| std::cmp::Reverse(i.timestamp));
        items.truncate(usize::try_from(max).unwrap_or(0));
        Ok(items)
    }

    async fn put_metric(&self, datum: &MetricDatum) -> Result<(), KlaxonError> {
        let mut s = self.lock();
        if s.put_metric_faults > 0 {
            s.put_metric_faults -= 1;
            return Err(injected("PutMetricData failed"));
        }
        s.put_metrics.push(datum.clone());
        Ok(())
    }
}

impl LoadBalancers for MemoryBackend {
    async fn target_health(
        &self,
        _target_group_arn: &str,
    ) -> Result<Vec<TargetHealth>, KlaxonError> {
        self.metric_read_delay().await;
        let s = self.lock();
        if s.metrics_fail {
            return Err(injected("DescribeTargetHealth failed"));
        }
        Ok(s.target_health.clone())
    }
}

impl HealthChecks for MemoryBackend {
    async fn health_check(&self, health_check_id: &str) -> Result<HealthCheckReport, KlaxonError> {
        self.metric_read_delay().await;
        let s = self.lock();
        if s.metrics_fail {
            return Err(injected("GetHealthCheck failed"));
        }
        match &s.health_check {
            Some(report) => Ok(HealthCheckReport {
                id: health_check_id.to_string(),
                ..report.clone()
            }),
            None => Err(injected(format!(
                "no recorded answer for health check {health_check_id}"
            ))),
        }
    }
}
