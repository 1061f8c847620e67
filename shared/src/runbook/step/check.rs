//! `check`: a built-in check of what an event pattern cannot express (a port tied to its
//! range; a bucket made public); like a guard, the remaining steps run only when it holds.

use serde::Deserialize;
use serde_json::{json, Value};

/// A built-in check of what an event pattern cannot express; like a guard, the runbook's
/// remaining steps run only when it holds. Exactly one check per step.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Holds when a security-group call opens one of these ports to the whole internet
    /// (`0.0.0.0/0` or `::/0`) in the same permission: port and range tied together.
    pub open_to_world: Option<Vec<u16>>,
    /// `true`: holds when a bucket call makes the bucket public (a policy statement that
    /// allows everyone unless a condition pins the caller, an ACL grant to
    /// AllUsers/AuthenticatedUsers, a public canned ACL).
    pub public_bucket: Option<bool>,
}

impl Check {
    /// The one check this step makes, or why the step is malformed.
    pub fn validate(&self) -> Result<(), String> {
        match (&self.open_to_world, self.public_bucket) {
            (Some(ports), None) if ports.is_empty() => {
                Err("check `open_to_world` needs at least one port".into())
            }
            (Some(_), None) | (None, Some(true)) => Ok(()),
            (None, Some(false)) => {
                Err("check `public_bucket: false` checks nothing; use `true`".into())
            }
            (None, None) => Err("a check needs one of: open_to_world, public_bucket".into()),
            (Some(_), Some(_)) => {
                Err("a check step makes exactly one check; this one has two".into())
            }
        }
    }
}

/// A `check` step over the context's `signal.details` (filled by intake): whether it
/// holds, and what it found, for the timeline.
pub fn check(config: &Check, context: &Value) -> (bool, String) {
    let details = &context["signal"]["details"];
    if let Some(ports) = &config.open_to_world {
        let mut found = Vec::new();
        for rule in details["ingress"].as_array().into_iter().flatten() {
            let protocol = rule["protocol"].as_str().unwrap_or_default();
            let all_traffic = protocol == "-1" || protocol == "all";
            if !(all_traffic || matches!(protocol, "tcp" | "udp" | "6" | "17")) {
                continue;
            }
            let from = rule["from_port"].as_i64();
            let to = rule["to_port"].as_i64();
            let covers = |port: u16| {
                all_traffic
                    || match (from, to) {
                        (Some(f), Some(t)) => {
                            (f..=t).contains(&i64::from(port)) || (f == -1 && t == -1)
                        }
                        _ => true,
                    }
            };
            for cidr in rule["cidrs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                // CloudTrail carries the range as the caller wrote it (`0.0.0.0/0`, `::/0`,
                // also `::0/0` or `0::/0`): any prefix length of 0 is the whole internet.
                if cidr.trim().ends_with("/0") {
                    for port in ports.iter().filter(|p| covers(**p)) {
                        found.push(format!(
                            "port {port} open to {cidr} ({protocol} {}-{})",
                            from.map(|f| f.to_string()).unwrap_or_else(|| "*".into()),
                            to.map(|t| t.to_string()).unwrap_or_else(|| "*".into())
                        ));
                    }
                }
            }
        }
        let wanted = ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join("/");
        return if found.is_empty() {
            (
                false,
                format!("no permission opens port {wanted} to 0.0.0.0/0 or ::/0"),
            )
        } else {
            (true, found.join("; "))
        };
    }
    if config.public_bucket == Some(true) {
        let why: Vec<&str> = details["bucket"]["why"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        return if details["bucket"]["public"] == json!(true) {
            (true, format!("bucket made public: {}", why.join("; ")))
        } else {
            (false, "the call does not make the bucket public".into())
        };
    }
    (false, "nothing to check".into())
}
