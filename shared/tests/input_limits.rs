//! Klaxon's limits hold for any input: the most expensive events that can be built within
//! 256 KiB are handled, and what passes a limit is refused with a record, not by running out
//! of time or memory. (What they cost is measured by `benches/worst_case.rs` and
//! `examples/worst_case.rs`, figures in docs/PERFORMANCE.md; these tests check outcomes.)

mod support;

use klaxon::model::Outcome;
use klaxon::pattern::{Pattern, MAX_COMBINATIONS};
use serde_json::Value;
use support::worst_case::{self, Expect};

#[tokio::test]
async fn the_worst_events_within_the_limit_are_handled_and_those_past_it_are_refused() {
    for case in worst_case::cases() {
        let (backend, engine) = klaxon::memory::engine(klaxon::memory::embedded_settings());
        let report = engine
            .handle_bytes(&case.bytes)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        match case.expect {
            Expect::Opened => {
                assert_eq!(report.outcome, Outcome::Opened, "{}: {report:?}", case.name);
                assert_eq!(backend.published().len(), 1, "{}: one page", case.name);
                assert!(backend.rejections().is_empty(), "{}", case.name);
            }
            Expect::Rejected => {
                assert_eq!(report.outcome, Outcome::Rejected, "{}", case.name);
                assert!(backend.all_incidents().is_empty(), "{}", case.name);
                assert!(backend.published().is_empty(), "{}", case.name);
                let rejections = backend.rejections();
                assert_eq!(rejections.len(), 1, "{}: one rejection record", case.name);
                // The record keeps a bounded excerpt, however large the payload.
                assert!(
                    rejections[0].excerpt.len() <= 8 * 1024 + 4,
                    "{}: {} bytes of excerpt",
                    case.name,
                    rejections[0].excerpt.len()
                );
                let reason = &rejections[0].reason;
                match case.name {
                    "too deep" => assert!(reason.contains("recursion limit"), "{reason}"),
                    _ => assert!(
                        reason.contains(&format!("event is {} bytes", case.bytes.len()))
                            && reason.contains("262144"),
                        "{}: {reason}",
                        case.name
                    ),
                }
            }
        }
    }
}

#[test]
fn the_events_are_as_large_as_the_limit_allows() {
    for case in worst_case::cases() {
        if case.expect == Expect::Opened {
            let len = case.bytes.len();
            assert!(
                len <= worst_case::LIMIT && len > worst_case::LIMIT - 2048,
                "{}: {len}",
                case.name
            );
        }
    }
}

#[test]
fn a_pattern_at_the_combination_limit_loads_and_walks_every_element() {
    let pattern = Pattern::from_value(&worst_case::widest_pattern()).unwrap();
    let event: Value = serde_json::from_slice(&worst_case::arrays_on_trigger_paths()).unwrap();
    assert!(!pattern.matches(&event));
    // The same pattern does match when one alternative is there: the walk is not vacuous.
    let mut matching = worst_case::widest_pattern();
    matching["detail"]["requestParameters"]["ipPermissions"]["items"]["ipv6Ranges"]["items"]
        ["$or"][0] = serde_json::json!({"cidrIpv6": ["fd00::/8"]});
    matching["detail"]["requestParameters"]["ipPermissions"]["items"]["$or"][0] =
        serde_json::json!({"ipProtocol": ["tcp"]});
    assert!(Pattern::from_value(&matching).unwrap().matches(&event));
    // Keys holding dots that spell the trigger's paths, on every element: decided field by
    // field there (past 16 alternatives), with the same answers here.
    let dotted = worst_case::dotted_keys_on_trigger_paths();
    assert!(!pattern.matches(&dotted));
    assert!(Pattern::from_value(&matching).unwrap().matches(&dotted));
}

#[test]
fn a_pattern_past_the_combination_limit_is_refused_before_expansion() {
    let e = Pattern::from_value(&worst_case::exploding_pattern()).expect_err("refused");
    assert!(e.to_string().contains("1099511627776 combinations"), "{e}");
    assert!(
        e.to_string()
            .contains(&format!("at most {MAX_COMBINATIONS}")),
        "{e}"
    );
    // One past the limit, exactly: 1,001 = 7 x 11 x 13.
    let alternatives = |n: usize, field: &str| -> Vec<Value> {
        (0..n)
            .map(|k| serde_json::json!({ field: [format!("v{k}")] }))
            .collect()
    };
    let at = |a: usize, b: usize, c: usize| {
        serde_json::json!({
            "source": ["aws.ec2"],
            "x": {"$or": alternatives(a, "a")},
            "y": {"$or": alternatives(b, "b")},
            "z": {"$or": alternatives(c, "c")},
        })
    };
    assert!(Pattern::from_value(&at(10, 10, 10)).is_ok());
    let e = Pattern::from_value(&at(7, 11, 13)).expect_err("refused");
    assert!(e.to_string().contains("1001 combinations"), "{e}");
}

#[test]
fn a_runbook_whose_trigger_explodes_is_refused_at_load() {
    let text = worst_case::runbook_with(&worst_case::exploding_pattern());
    let errors =
        klaxon::runbook::load_str(std::path::Path::new("worst.yaml"), &text).expect_err("refused");
    assert!(
        errors
            .iter()
            .any(|e| e.to_string().contains("combinations")),
        "{errors:?}"
    );
    let text = worst_case::runbook_with(&worst_case::widest_pattern());
    klaxon::runbook::load_str(std::path::Path::new("widest.yaml"), &text).unwrap();
}
