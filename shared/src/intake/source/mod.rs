//! One parser per source, each from the shared [`Envelope`](super::envelope::Envelope) to
//! a state change.

/// The test beside each source parser: each sample (a path under `events/`) and what it
/// becomes, `(dedup key, state, title, severity, security)` per change, as Debug text.
macro_rules! samples_become_state_changes {
    ($(($path:expr, $expected:expr)),+ $(,)?) => {
        #[cfg(test)]
        mod tests {
            /// The public shape of each sample this parser reads (docs/CONTRACTS.md (b2)).
            #[test]
            fn samples_become_state_changes_on_their_keys() {
                $(
                    assert_eq!(
                        format!("{:?}", crate::intake::source::tests::summary($path)),
                        $expected,
                        "{}",
                        $path
                    );
                )+
            }
        }
    };
}

pub(in crate::intake) mod alarm;
pub(in crate::intake) mod alarm_config;
pub(in crate::intake) mod cloudtrail;
pub(in crate::intake) mod cloudtrail_request;
pub(in crate::intake) mod config_compliance;
pub(in crate::intake) mod finding;
pub(in crate::intake) mod guardduty;
pub(in crate::intake) mod health;
pub(in crate::intake) mod securityhub_asff;
pub(in crate::intake) mod securityhub_custom_action;
pub(in crate::intake) mod securityhub_ocsf;

#[cfg(test)]
pub(in crate::intake) mod tests {
    use crate::intake::{parse_bytes, Intake, StateChange};

    /// A sample of `events/` (relative path) read as intake reads it: its state changes.
    pub(in crate::intake) fn sample(path: &str) -> Vec<StateChange> {
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../events/");
        let raw = std::fs::read(format!("{file}{path}")).unwrap();
        match parse_bytes(&raw).unwrap() {
            Intake::Change(c) => vec![*c],
            Intake::Escalation(findings) => findings,
            Intake::Ignored { reason, .. } => panic!("{path} ignored: {reason}"),
        }
    }

    /// `(dedup key, state, title, severity, security)` of each change, to compare at a glance.
    pub(in crate::intake) fn summary(
        path: &str,
    ) -> Vec<(String, String, String, Option<String>, bool)> {
        sample(path)
            .into_iter()
            .map(|c| {
                let signal = c.signal.as_deref();
                (
                    c.dedup_key.clone(),
                    c.state.as_str().to_string(),
                    c.alarm_name.clone(),
                    signal
                        .and_then(|s| s.severity)
                        .map(|s| s.as_str().to_string()),
                    signal.is_some_and(|s| s.security),
                )
            })
            .collect()
    }
}
