//! `alarm_history`: CloudWatch DescribeAlarmHistory over the last hours: transitions, how
//! many into ALARM, flapping.

use serde::{Deserialize, Serialize};

use crate::lookup::HistoryItem;
use crate::runbook::step::common::default_deadline;

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
