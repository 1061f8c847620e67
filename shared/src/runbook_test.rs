//! `klaxon runbook test`: each runbook's `tests:` run on the embedded backend, offline, with
//! the real engine and every runbook loaded beside it (so order and fallbacks count), and
//! the lookups (CloudWatch, ELB, Route 53) answering from the test's `recorded:` block.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Duration;

use crate::engine::{EngineSettings, Report};
use crate::intake::{self, Intake};
use crate::lookup::HistoryItem;
use crate::model::StepStatus;
use crate::runbook::spec::TestSpec;
use crate::runbook::{Catalog, Runbook};

/// One expectation that did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub field: &'static str,
    pub expected: String,
    pub got: String,
}

#[derive(Debug, Clone)]
pub struct TestResult {
    pub runbook: String,
    pub file: PathBuf,
    pub test: String,
    pub mismatches: Vec<Mismatch>,
    /// What this runbook's steps did, for the failure report.
    pub steps: Vec<String>,
}

impl TestResult {
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// Runs every test of every runbook in the catalog.
pub async fn run_all(catalog: Arc<Catalog>, settings: &EngineSettings) -> Vec<TestResult> {
    let mut results = Vec::new();
    for runbook in catalog.runbooks() {
        for test in &runbook.spec.tests {
            results.push(run_one(&catalog, runbook, test, settings).await);
        }
    }
    results
}

async fn run_one(
    catalog: &Arc<Catalog>,
    runbook: &Runbook,
    test: &TestSpec,
    settings: &EngineSettings,
) -> TestResult {
    let mut result = TestResult {
        runbook: runbook.name().to_string(),
        file: runbook.file.clone(),
        test: test.name.clone(),
        mismatches: Vec::new(),
        steps: Vec::new(),
    };
    let event_file = runbook
        .file
        .parent()
        .unwrap_or(Path::new("."))
        .join(&test.event.value);
    let raw = match std::fs::read(&event_file) {
        Ok(raw) => raw,
        Err(e) => {
            result.mismatches.push(Mismatch {
                field: "event",
                expected: format!("a readable event file {}", event_file.display()),
                got: e.to_string(),
            });
            return result;
        }
    };
    let (backend, engine) = crate::memory::engine_with(settings.clone(), catalog.clone());
    if let Ok(Intake::Change(alarm)) = intake::parse_bytes(&raw) {
        // The test runs "just after" the event, so results do not depend on today's date.
        backend.set_now(alarm.state_timestamp + Duration::seconds(30));
        let tags: Vec<(&str, &str)> = test
            .tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        // Tags answer the lookup the event needs: the alarm's, or the resource's (a
        // security group named by a CloudTrail call).
        let tagged = match &alarm.tags {
            intake::EventTags::LookUp(arn) => arn.as_str(),
            intake::EventTags::Provided(_) => alarm.dedup_key.as_str(),
        };
        backend.set_resource_tags(tagged, &tags);
        for (label, values) in &test.recorded.metrics {
            let n = i64::try_from(values.len()).unwrap_or(0);
            let points: Vec<_> = values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let back = n - 1 - i64::try_from(i).unwrap_or(0);
                    (alarm.state_timestamp - Duration::minutes(back), *v)
                })
                .collect();
            backend.record_metric_points(label, &points);
        }
        backend.record_alarm_history(
            test.recorded
                .alarm_history
                .iter()
                .enumerate()
                .map(|(i, state)| HistoryItem {
                    timestamp: alarm.state_timestamp
                        - Duration::minutes(10 * i64::try_from(i).unwrap_or(0)),
                    summary: format!("Alarm updated to {state}"),
                    new_state: Some(state.clone()),
                })
                .collect(),
        );
        backend.record_target_health(test.recorded.target_health.clone());
        if let Some(report) = &test.recorded.health_check {
            backend.record_health_check(report.clone());
        }
        backend.fail_metric_reads(test.recorded.unavailable);
    }
    let report = match engine.handle_bytes(&raw).await {
        Ok(report) => report,
        Err(e) => {
            result.mismatches.push(Mismatch {
                field: "handling",
                expected: "the event is handled".into(),
                got: format!("error: {e}"),
            });
            return result;
        }
    };
    compare(&mut result, runbook, test, &report);
    result
}

fn compare(result: &mut TestResult, runbook: &Runbook, test: &TestSpec, report: &Report) {
    let name = runbook.name();
    let expect = &test.expect;
    let mine: Vec<_> = report.steps.iter().filter(|e| e.runbook == name).collect();
    result.steps = mine
        .iter()
        .map(|e| {
            format!(
                "{} ({}): {} - {}",
                e.step,
                e.kind,
                e.status.as_str(),
                e.summary
            )
        })
        .collect();
    let mut check = |field: &'static str, expected: String, got: String| {
        if expected != got {
            result.mismatches.push(Mismatch {
                field,
                expected,
                got,
            });
        }
    };
    let matched = report.runbooks.iter().any(|r| r == name);
    let matched_text = |m: bool| {
        if m {
            "matched".to_string()
        } else {
            format!(
                "not matched (ran: {})",
                if report.runbooks.is_empty() {
                    "none".to_string()
                } else {
                    report.runbooks.join(", ")
                }
            )
        }
    };
    if expect.matched != matched {
        check(
            "matched",
            if expect.matched {
                "matched".into()
            } else {
                "not matched".into()
            },
            matched_text(matched),
        );
        return;
    }
    if let Some(outcome) = &expect.outcome {
        check("outcome", outcome.clone(), report.outcome.as_str().into());
    }
    let scope = report.scopes.iter().find(|s| s.runbook == name);
    if let Some(severity) = expect.severity {
        check(
            "severity",
            severity.as_str().into(),
            scope.map_or("(none)".into(), |s| s.ownership.severity.as_str().into()),
        );
    }
    if let Some(route) = expect.route {
        check(
            "route",
            route.as_str().into(),
            scope.map_or("(none)".into(), |s| s.ownership.route.as_str().into()),
        );
    }
    let ids = |keep: &dyn Fn(StepStatus) -> bool| {
        mine.iter()
            .filter(|e| keep(e.status))
            .map(|e| e.step.clone())
            .collect::<Vec<_>>()
    };
    if let Some(steps) = &expect.steps {
        check(
            "steps",
            format!("{steps:?}"),
            format!("{:?}", ids(&|s| s != StepStatus::Skipped)),
        );
    }
    if let Some(skipped) = &expect.skipped {
        check(
            "skipped",
            format!("{skipped:?}"),
            format!("{:?}", ids(&|s| s == StepStatus::Skipped)),
        );
    }
    let prefix = format!("{name}/");
    let page = report.notifications.iter().find(|n| {
        n.produced_by
            .as_deref()
            .is_some_and(|p| p.starts_with(&prefix))
    });
    if let Some(notified) = expect.notified {
        check("notified", notified.to_string(), page.is_some().to_string());
    }
    if let Some(needle) = &expect.notification_subject_contains {
        let got = page.map_or("(no notification)".to_string(), |p| p.subject.clone());
        if !got.contains(needle.as_str()) {
            check("notification subject", format!("contains {needle:?}"), got);
        }
    }
    if let Some(needle) = &expect.notification_body_contains {
        let got = page.map_or("(no notification)".to_string(), |p| p.message.clone());
        if !got.contains(needle.as_str()) {
            check("notification body", format!("contains {needle:?}"), got);
        }
    }
    for needle in expect.notification_excludes.iter().flatten() {
        let text = page.map_or(String::new(), |p| format!("{}\n{}", p.subject, p.message));
        if text.contains(needle.as_str()) {
            check("notification", format!("does not contain {needle:?}"), text);
        }
    }
}

/// A failure as people read it: each field with what was expected and what came out.
pub fn render_failure(result: &TestResult) -> String {
    let mut out = format!(
        "FAIL {}: {} ({})\n",
        result.runbook,
        crate::text::single_line(&result.test),
        result.file.display()
    );
    for m in &result.mismatches {
        out.push_str(&format!(
            "  {}\n    - expected: {}\n    + got:      {}\n",
            m.field,
            crate::text::single_line(&m.expected),
            crate::text::single_line(&m.got)
        ));
    }
    if !result.steps.is_empty() {
        out.push_str("  steps of this runbook:\n");
        for s in &result.steps {
            out.push_str(&format!("    {}\n", crate::text::single_line(s)));
        }
    }
    out
}
