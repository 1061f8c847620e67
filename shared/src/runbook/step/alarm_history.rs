//! `alarm_history`: CloudWatch DescribeAlarmHistory over the last hours: transitions, how
//! many into ALARM, flapping.

use serde::{Deserialize, Serialize};

use crate::error::KlaxonError;
use crate::lookup::HistoryItem;
use crate::runbook::step::common::{
    deadline_bounds, default_deadline, out_of_range, Enriched, EnrichmentSource, LookupInputs,
};
use crate::text;
use serde_json::{json, Value};

/// CloudWatch DescribeAlarmHistory: recent transitions, flapping evidence.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmHistory {
    #[serde(default = "twenty_four")]
    pub hours: u32,
    #[serde(default = "default_deadline")]
    pub deadline_ms: u64,
}

pub(crate) fn twenty_four() -> u32 {
    24
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryReport {
    pub transitions: usize,
    pub to_alarm: usize,
    /// Three or more transitions into ALARM in the window: the alarm flaps.
    pub flapping: bool,
    pub recent: Vec<HistoryItem>,
}

pub const FLAPPING_ALARMS: usize = 3;

pub fn history_report(mut items: Vec<HistoryItem>, keep: usize) -> HistoryReport {
    items.sort_by_key(|i| std::cmp::Reverse(i.timestamp));
    let transitions = items.iter().filter(|i| i.new_state.is_some()).count();
    let to_alarm = items
        .iter()
        .filter(|i| i.new_state.as_deref() == Some("ALARM"))
        .count();
    items.truncate(keep);
    HistoryReport {
        transitions,
        to_alarm,
        flapping: to_alarm >= FLAPPING_ALARMS,
        recent: items,
    }
}

impl AlarmHistory {
    /// Limits that keep the step within a Lambda invocation and CloudWatch's own limits.
    pub(crate) fn bounds(&self) -> Option<String> {
        deadline_bounds("alarm_history", self.deadline_ms).or_else(|| {
            out_of_range(
                "alarm_history",
                "hours",
                u64::from(self.hours),
                (1, 720),
                "CloudWatch keeps alarm history for 30 days",
            )
        })
    }

    /// Runs the step: reads AWS through the lookups, summarises what it found.
    pub async fn run(
        &self,
        lookups: &impl EnrichmentSource,
        inputs: &LookupInputs,
    ) -> Result<Enriched, KlaxonError> {
        let start = inputs.state_timestamp - chrono::Duration::hours(i64::from(self.hours));
        let items = lookups
            .alarm_history(&inputs.dedup_key, start, inputs.state_timestamp, 100)
            .await?;
        let mut report = history_report(items, 10);
        // History summaries quote the alarm name: attacker-controlled text.
        for item in &mut report.recent {
            item.summary = text::bounded(&text::single_line(&item.summary), 512);
        }
        let summary = format!(
            "{} state change(s) in {} h, {} into ALARM{}",
            report.transitions,
            self.hours,
            report.to_alarm,
            if report.flapping {
                ": the alarm is flapping"
            } else {
                ""
            }
        );
        Ok(Enriched {
            summary,
            detail: serde_json::to_value(&report).unwrap_or(Value::Null),
        })
    }

    /// A result as the step's templates see it, for checking them at load.
    pub(crate) fn sample_result() -> Value {
        json!({
            "transitions": 3, "to_alarm": 2, "flapping": false,
            "recent": [{"timestamp": "2024-05-01T12:00:00Z", "summary": "Alarm updated from OK to ALARM", "new_state": "ALARM"}],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::runbook::step::common::tests::*;

    #[test]
    fn flapping_needs_three_alarms() {
        let item = |m, s: &str| HistoryItem {
            timestamp: t(m),
            summary: s.into(),
            new_state: Some(s.into()),
        };
        let r = history_report(
            vec![
                item(0, "ALARM"),
                item(1, "OK"),
                item(2, "ALARM"),
                item(3, "OK"),
                item(4, "ALARM"),
            ],
            2,
        );
        assert!(r.flapping);
        assert_eq!((r.transitions, r.to_alarm, r.recent.len()), (5, 3, 2));
        assert_eq!(r.recent[0].timestamp, t(4), "newest first");
        assert!(!history_report(vec![item(0, "ALARM")], 5).flapping);
    }
}
