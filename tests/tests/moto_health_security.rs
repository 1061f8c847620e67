//! Load-balancer and Route 53 enrichment, resource tag lookups and security routing against
//! moto over HTTP, with the shipped runbooks:
//! - an ALB UnHealthyHostCount alarm pages with the targets that are not healthy and why
//!   (moto's ELBv2 reports a stopped instance `unused` / `Target.InvalidState`; it runs no
//!   health checks, so `unhealthy` with `Target.Timeout` is covered by recorded answers in
//!   the runbook's own tests);
//! - a Route 53 HealthCheckStatus alarm pages with the check's configuration (moto has no
//!   GetHealthCheckLastFailureReason: the page says the reason is unavailable);
//! - security findings and invariants reach the security topic only, and no message (SMS
//!   subscribers receive all of it), subject or chat text carries an IP address, account id
//!   or key id;
//! - with `KLAXON_SECURITY_EMAIL_DETAIL=true`, a security page is one per-protocol Publish:
//!   subscribers other than e-mail get the redacted `default`, `email` keeps the details;
//! - the security-group invariant reads the group's tags through the tagging API.

use klaxon::model::Outcome;
use klaxon_integration_tests::{sample, sns_attribute, LocalAws};
use serde_json::{json, Value};

fn world(aws: &LocalAws) -> &Value {
    &aws.resources["fixtures"]["world"]
}

/// The part of a target group ARN that CloudWatch puts in the `TargetGroup` dimension.
fn dimension(target_group_arn: &str) -> String {
    target_group_arn
        .split_once(":targetgroup/")
        .map(|(_, rest)| format!("targetgroup/{rest}"))
        .expect("a target group ARN")
}

fn message(envelope: &Value) -> &str {
    envelope["Message"].as_str().expect("an SNS message")
}

/// IPv4 addresses, 12-digit account ids, access key ids: none may be in SMS or chat text.
fn assert_nothing_sensitive(what: &str, text: &str) {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || ",;()[]\"'".contains(c))
        .collect();
    for word in words {
        let digits_run = word
            .split(|c: char| !c.is_ascii_digit())
            .any(|d| d.len() == 12);
        let dotted = word
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .any(|part| part.split('.').filter(|g| !g.is_empty()).count() >= 4);
        let key = word.contains("AKIA") || word.contains("ASIA");
        assert!(
            !(digits_run || dotted || key),
            "{what} carries sensitive `{word}`: {text}"
        );
    }
}

#[tokio::test]
async fn an_alb_alarm_pages_with_the_unhealthy_targets_and_their_reasons() {
    let aws = LocalAws::fresh_world("alb-targets").await;
    let w = world(&aws);
    let stopped = w["stopped_instance"].as_str().unwrap();
    let mut event = sample("alarm-alb-unhealthy-hosts-alarm.json");
    event["id"] = json!(format!("alb-{}", aws.table()));
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]
        ["TargetGroup"] = json!(dimension(w["target_group_arn"].as_str().unwrap()));

    let report = aws.engine().handle_value(&event).await.unwrap();
    assert_eq!(report.outcome, Outcome::Opened, "{report:?}");
    let targets = report
        .steps
        .iter()
        .find(|s| s.step == "targets")
        .expect("the target_health step ran");
    assert_eq!(targets.status, klaxon::model::StepStatus::Ok, "{targets:?}");
    assert!(
        targets.summary.contains("1 of 3 target(s) not healthy"),
        "{}",
        targets.summary
    );

    let pages = aws.drain("production").await;
    assert_eq!(pages.len(), 1);
    let body = message(&pages[0]);
    assert!(body.contains("Targets:       1 of 3 not healthy"), "{body}");
    assert!(
        body.contains(&format!(
            "  - {stopped}:8080 unused (Target.InvalidState): Target is in the stopped state"
        )),
        "{body}"
    );
    for healthy in w["instances"].as_array().unwrap() {
        let id = healthy.as_str().unwrap();
        if id != stopped {
            assert!(!body.contains(id), "healthy target {id} listed: {body}");
        }
    }
}

#[tokio::test]
async fn a_route53_alarm_pages_with_what_the_health_check_probes() {
    let aws = LocalAws::fresh_world("r53-check").await;
    let mut event = sample("alarm-route53-health-check-alarm.json");
    event["id"] = json!(format!("r53-{}", aws.table()));
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]
        ["HealthCheckId"] = world(&aws)["health_check_id"].clone();

    let report = aws.engine().handle_value(&event).await.unwrap();
    assert_eq!(report.outcome, Outcome::Opened, "{report:?}");
    let pages = aws.drain("production").await;
    assert_eq!(pages.len(), 1);
    let body = message(&pages[0]);
    assert!(
        body.contains("HTTPS https://shop.example.com:443/health (every 30 s, 3 failures)"),
        "{body}"
    );
    // moto lacks GetHealthCheckLastFailureReason: the page says so instead of failing.
    assert!(body.contains("Last failure:  unavailable ("), "{body}");
}

#[tokio::test]
async fn security_events_reach_only_the_security_topic_and_say_nothing_sensitive() {
    let aws = LocalAws::fresh_world("security-route").await;
    let production_group = world(&aws)["security_groups"]["production"]
        .as_str()
        .unwrap()
        .to_string();
    let engine = aws.engine();
    let mut expected_pages = 0;
    for (n, file) in [
        "security/guardduty-ssh-bruteforce-high.json",
        "security/securityhub-asff-imported.json",
        "security/securityhub-ocsf-imported.json",
        "security/config-noncompliant.json",
        "security/cloudtrail-sg-open-ssh-world.json",
        "security/cloudtrail-s3-public-bucket-policy.json",
        "security/cloudtrail-stop-logging.json",
        "security/signin-root-console.json",
        "security/cloudtrail-root-create-access-key.json",
    ]
    .iter()
    .enumerate()
    {
        let mut event = sample(file);
        event["id"] = json!(format!("sec-{n}-{}", aws.table()));
        if file.contains("sg-open") {
            // The group's production tag is looked up with the tagging API.
            event["detail"]["requestParameters"]["groupId"] = json!(production_group);
        }
        let report = engine.handle_value(&event).await.unwrap();
        // The OCSF copy is the same GuardDuty finding with the same update time, from
        // another feed: filed on the one incident as evidence (stale), no second page.
        let expected = if file.contains("ocsf") {
            Outcome::Stale
        } else {
            Outcome::Opened
        };
        assert_eq!(report.outcome, expected, "{file}: {report:?}");
        if expected == Outcome::Opened {
            expected_pages += 1;
        }
    }
    for route in ["production", "test", "ops"] {
        assert!(
            aws.drain(route).await.is_empty(),
            "a security event reached the {route} topic"
        );
    }
    let pages = aws.drain("security").await;
    assert_eq!(pages.len(), expected_pages);
    for page in &pages {
        assert_eq!(sns_attribute(page, "route"), Some("security"));
        // SNS sends the whole message to SMS subscribers (split into texts), not only
        // its first line: all of it must be clean.
        assert_nothing_sensitive("message", message(page));
        assert_nothing_sensitive("subject", page["Subject"].as_str().unwrap());
    }
    for event in aws.drain("lifecycle").await {
        let chat = event["detail"]["text"]["chat"].as_str().unwrap();
        assert_nothing_sensitive("chat text", chat);
        assert_eq!(event["detail"]["route"], "security");
    }
}

#[tokio::test]
async fn the_ssh_invariant_leaves_a_dev_security_group_alone() {
    let aws = LocalAws::fresh_world("sg-dev").await;
    let mut event = sample("security/cloudtrail-sg-open-ssh-world.json");
    event["id"] = json!(format!("sg-dev-{}", aws.table()));
    event["detail"]["requestParameters"]["groupId"] = world(&aws)["security_groups"]["dev"].clone();
    let report = aws.engine().handle_value(&event).await.unwrap();
    assert_eq!(report.outcome, Outcome::Ignored, "{report:?}");
    assert_eq!(report.environment, None);
    assert!(aws.drain("security").await.is_empty());
}

#[tokio::test]
async fn with_email_detail_a_security_page_is_per_protocol_and_sms_gets_the_redacted_copy() {
    let aws = LocalAws::fresh_world("security-email").await;
    let mut config = aws.config();
    config.security_email_detail = true;
    let catalog = klaxon::runbook::Catalog::embedded().expect("shipped runbooks are valid");
    let engine =
        klaxon::aws::engine_from_sdk_config(&aws.sdk, config, std::sync::Arc::new(catalog));
    let mut event = sample("security/guardduty-ssh-bruteforce-high.json");
    event["id"] = json!(format!("sec-email-{}", aws.table()));
    let report = engine.handle_value(&event).await.unwrap();
    assert_eq!(report.outcome, Outcome::Opened, "{report:?}");
    // The security topic's SQS subscriber (like SMS, chat and every protocol but e-mail)
    // receives `default`: redacted. SNS accepted the per-protocol message (it requires a
    // `default` key) and, as AWS does with json structure, no attributes were sent.
    let pages = aws.drain("security").await;
    assert_eq!(pages.len(), 1);
    let text = message(&pages[0]);
    assert_nothing_sensitive("message", text);
    assert!(text.contains("Remote IP:   [redacted]"), "{text}");
    assert_eq!(sns_attribute(&pages[0], "route"), None);
    // What Klaxon sent: `default` redacted, `email` with the finding's address and account.
    let sent = aws.published("security");
    assert_eq!(sent.len(), 1, "{sent:?}");
    let per_protocol: Value = serde_json::from_str(sent[0]["message"].as_str().unwrap()).unwrap();
    assert_eq!(per_protocol["default"].as_str(), Some(text));
    let email = per_protocol["email"].as_str().unwrap();
    assert!(email.contains("Remote IP:   198.51.100.23"), "{email}");
    assert!(email.contains("123456789012"), "{email}");
    assert_nothing_sensitive("subject", sent[0]["subject"].as_str().unwrap());
}
