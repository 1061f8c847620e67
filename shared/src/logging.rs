//! Structured logs with `tracing`: JSON when Lambda's advanced logging asks for it
//! (`AWS_LAMBDA_LOG_FORMAT=JSON`), plain text otherwise. The level comes from
//! `AWS_LAMBDA_LOG_LEVEL`, then `RUST_LOG`, default `info`.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let level = filter_text(
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok(),
        std::env::var("RUST_LOG").ok(),
    );
    let filter = filter(&level);
    let json = is_json(std::env::var("AWS_LAMBDA_LOG_FORMAT").ok().as_deref());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false);
    // try_init: a second call (tests) must not panic.
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder.without_time().try_init()
    };
}

/// `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `info`; lower-cased.
fn filter_text(lambda_level: Option<String>, rust_log: Option<String>) -> String {
    lambda_level
        .or(rust_log)
        .unwrap_or_else(|| "info".into())
        .to_lowercase()
}

/// The filter, or `info` when it cannot be parsed. Whatever the level, the Lambda runtime's
/// own records stay at `info` at most: at `debug` and `trace` it logs each raw event, whose
/// path carries a link's token on the responder (and attacker-sized text everywhere).
fn filter(text: &str) -> EnvFilter {
    let filter = EnvFilter::try_new(text).unwrap_or_else(|_| EnvFilter::new("info"));
    match RUNTIME_CAP.parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    }
}

/// The cap on the runtime's (and lambda_http's) own logging.
const RUNTIME_CAP: &str = "lambda_runtime=info";

/// `AWS_LAMBDA_LOG_FORMAT=JSON`, in any case.
fn is_json(format: Option<&str>) -> bool {
    format.is_some_and(|f| f.eq_ignore_ascii_case("json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lambda_level_wins_then_rust_log_then_info() {
        let some = |s: &str| Some(s.to_string());
        assert_eq!(filter_text(some("DEBUG"), some("warn")), "debug");
        assert_eq!(filter_text(None, some("klaxon=TRACE")), "klaxon=trace");
        assert_eq!(filter_text(None, None), "info");
    }

    #[test]
    fn an_unparsable_filter_falls_back_to_info() {
        let capped = |base: &str| {
            EnvFilter::new(base)
                .add_directive(RUNTIME_CAP.parse().unwrap())
                .to_string()
        };
        assert_eq!(filter("klaxon=notalevel").to_string(), capped("info"));
        assert_eq!(filter("warn").to_string(), capped("warn"));
    }

    #[test]
    fn the_runtime_never_logs_raw_events_whatever_the_level() {
        let text = filter("trace").to_string();
        assert!(text.contains("lambda_runtime=info"), "{text}");
        assert!(filter("klaxon=debug")
            .to_string()
            .contains("lambda_runtime=info"));
    }

    #[test]
    fn json_only_when_lambda_asks_for_it() {
        assert!(is_json(Some("JSON")) && is_json(Some("json")));
        assert!(!is_json(Some("Text")) && !is_json(None));
    }
}
