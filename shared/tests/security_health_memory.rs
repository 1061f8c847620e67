//! Security and AWS Health sources on the embedded backend with the shipped runbooks: every
//! sample's outcome, the lifecycle of each source (open, repeat, resolve), the security
//! route that no runbook can leave, and SMS/chat/subject text without addresses or ids.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use klaxon::engine::Report;
use klaxon::intake::{self, AlarmState, Intake};
use klaxon::memory::{self, MemoryBackend, MemoryEngine};
use klaxon::model::Outcome;
use klaxon::ports::IncidentStore;
use klaxon::route::Route;
use klaxon::runbook::Catalog;
use klaxon::severity::Severity;

fn events() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(events().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn shipped() -> (MemoryBackend, MemoryEngine) {
    memory::engine(memory::embedded_settings())
}

async fn handle(engine: &MemoryEngine, name: &str) -> Report {
    engine.handle_bytes(&read(name)).await.unwrap()
}

/// IPv4 addresses (dotted or in EC2 host names), 12-digit account ids, IAM key/principal ids.
fn sensitive_word(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || ",;()[]\"'".contains(c))
        .find(|word| {
            let account = word
                .split(|c: char| !c.is_ascii_digit())
                .any(|d| d.len() == 12);
            let ipv4 = word
                .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
                .any(|part| {
                    part.split(['.', '-'])
                        .filter(|g| !g.is_empty() && g.len() <= 3)
                        .count()
                        >= 4
                });
            let key = ["AKIA", "ASIA", "AROA", "AIDA"]
                .iter()
                .any(|p| word.contains(p));
            account || ipv4 || key
        })
        .map(str::to_string)
}

#[tokio::test]
async fn every_security_and_health_sample_is_handled_as_documented() {
    // (file, outcome on a fresh backend, severity, route of the page if any). `handled`: a
    // runbook's trigger matched but its check found nothing broken; `ignored`: no runbook.
    let expected: &[(&str, Outcome, Option<Severity>, Option<Route>)] = &[
        (
            "health/health-ec2-issue-open.json",
            Outcome::Opened,
            Some(Severity::High),
            Some(Route::Production),
        ),
        (
            "health/health-ec2-issue-closed.json",
            Outcome::Ignored,
            Some(Severity::High),
            None,
        ),
        (
            "health/health-scheduled-change.json",
            Outcome::Opened,
            Some(Severity::Medium),
            Some(Route::Production),
        ),
        // A public event outside the watched Regions (replay watches us-east-1): recorded
        // at low on the ops route, without a page.
        (
            "health/health-public-minimal.json",
            Outcome::Opened,
            Some(Severity::Low),
            None,
        ),
        (
            "health/health-public-watched-region.json",
            Outcome::Opened,
            Some(Severity::Medium),
            Some(Route::Ops),
        ),
        (
            "health/health-risk-credentials-exposed.json",
            Outcome::Opened,
            Some(Severity::Critical),
            Some(Route::Security),
        ),
        (
            "health/health-abuse-dos-report.json",
            Outcome::Opened,
            Some(Severity::High),
            Some(Route::Security),
        ),
        (
            "security/guardduty-ssh-bruteforce-high.json",
            Outcome::Opened,
            Some(Severity::High),
            Some(Route::Security),
        ),
        (
            "security/guardduty-ssh-bruteforce-repeat.json",
            Outcome::Opened,
            Some(Severity::High),
            Some(Route::Security),
        ),
        (
            "security/guardduty-finding-archived.json",
            Outcome::Ignored,
            Some(Severity::High),
            None,
        ),
        (
            "security/guardduty-s3-low.json",
            Outcome::Opened,
            Some(Severity::Low),
            None,
        ),
        (
            "security/securityhub-asff-imported.json",
            Outcome::Opened,
            Some(Severity::Critical),
            Some(Route::Security),
        ),
        (
            "security/securityhub-asff-resolved.json",
            Outcome::Ignored,
            Some(Severity::Info),
            None,
        ),
        (
            "security/securityhub-ocsf-imported.json",
            Outcome::Opened,
            Some(Severity::High),
            Some(Route::Security),
        ),
        (
            "security/securityhub-ocsf-resolved.json",
            Outcome::Ignored,
            Some(Severity::High),
            None,
        ),
        (
            "security/config-noncompliant.json",
            Outcome::Opened,
            Some(Severity::Medium),
            Some(Route::Security),
        ),
        (
            "security/config-securityhub-managed-rule.json",
            Outcome::Ignored,
            None,
            None,
        ),
        (
            "security/config-compliant.json",
            Outcome::Ignored,
            Some(Severity::Medium),
            None,
        ),
        (
            "security/cloudtrail-sg-open-ssh-world.json",
            Outcome::Opened,
            Some(Severity::Critical),
            Some(Route::Security),
        ),
        (
            "security/cloudtrail-sg-open-ssh-ipv6.json",
            Outcome::Opened,
            Some(Severity::Critical),
            Some(Route::Security),
        ),
        (
            "security/cloudtrail-sg-all-traffic-world.json",
            Outcome::Opened,
            Some(Severity::Critical),
            Some(Route::Security),
        ),
        (
            "security/cloudtrail-sg-modify-rule-world.json",
            Outcome::Opened,
            Some(Severity::Critical),
            Some(Route::Security),
        ),
        (
            "security/cloudtrail-sg-open-https-world.json",
            Outcome::Handled,
            Some(Severity::High),
            None,
        ),
        (
            "security/cloudtrail-sg-ssh-private.json",
            Outcome::Handled,
            Some(Severity::High),
            None,
        ),
        (
            "security/cloudtrail-s3-public-bucket-policy.json",
            Outcome::Opened,
            Some(Severity::High),
            Some(Route::Security),
        ),
        (
            "security/cloudtrail-s3-public-acl.json",
            Outcome::Opened,
            Some(Severity::High),
            Some(Route::Security),
        ),
        (
            "security/cloudtrail-s3-private-bucket-policy.json",
            Outcome::Handled,
            Some(Severity::High),
            None,
        ),
        (
            "security/cloudtrail-stop-logging.json",
            Outcome::Opened,
            Some(Severity::Critical),
            Some(Route::Security),
        ),
        // Config rules: a security rule's conformance-pack copy is a security rule; a
        // tagging rule is recorded for ops at low, without a page.
        (
            "security/config-conformance-pack-noncompliant.json",
            Outcome::Opened,
            Some(Severity::Medium),
            Some(Route::Security),
        ),
        (
            "health/config-required-tags-noncompliant.json",
            Outcome::Opened,
            Some(Severity::Low),
            None,
        ),
        (
            "security/cloudtrail-start-logging.json",
            Outcome::Ignored,
            Some(Severity::Critical),
            None,
        ),
        (
            "security/signin-root-console-failure.json",
            Outcome::Opened,
            Some(Severity::High),
            Some(Route::Security),
        ),
        (
            "security/cloudtrail-stop-logging-denied.json",
            Outcome::Ignored,
            None,
            None,
        ),
        (
            "security/cloudtrail-delete-trail.json",
            Outcome::Opened,
            Some(Severity::Critical),
            Some(Route::Security),
        ),
        (
            "security/signin-root-console.json",
            Outcome::Opened,
            Some(Severity::Critical),
            Some(Route::Security),
        ),
        (
            "security/signin-iam-user-console.json",
            Outcome::Ignored,
            None,
            None,
        ),
        (
            "security/cloudtrail-root-create-access-key.json",
            Outcome::Opened,
            Some(Severity::Critical),
            Some(Route::Security),
        ),
        (
            "security/cloudtrail-user-create-access-key.json",
            Outcome::Ignored,
            None,
            None,
        ),
    ];
    let on_disk: usize = ["security", "health"]
        .iter()
        .map(|d| {
            std::fs::read_dir(events().join(d))
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .path()
                        .extension()
                        .is_some_and(|x| x == "json")
                })
                .count()
        })
        .sum();
    assert_eq!(
        on_disk,
        expected.len(),
        "every sample has an expectation here"
    );
    for (file, outcome, severity, route) in expected {
        let (backend, engine) = shipped();
        let report = handle(&engine, file).await;
        assert_eq!(report.outcome, *outcome, "{file}: {report:?}");
        if report.outcome != Outcome::Ignored || severity.is_some() {
            assert_eq!(report.severity, *severity, "{file}");
        }
        let pages = backend.published();
        match route {
            Some(route) => {
                assert_eq!(pages.len(), 1, "{file}");
                assert_eq!(pages[0].notification.route, *route, "{file}");
            }
            None => assert!(pages.is_empty(), "{file}: {pages:?}"),
        }
        assert!(backend.rejections().is_empty(), "{file}");
    }
}

#[tokio::test]
async fn a_guardduty_finding_opens_updates_with_its_count_and_resolves_when_archived() {
    let (backend, engine) = shipped();
    let first = handle(&engine, "security/guardduty-ssh-bruteforce-high.json").await;
    let again = handle(&engine, "security/guardduty-ssh-bruteforce-high.json").await;
    let repeat = handle(&engine, "security/guardduty-ssh-bruteforce-repeat.json").await;
    let archived = handle(&engine, "security/guardduty-finding-archived.json").await;
    assert_eq!(
        [
            first.outcome,
            again.outcome,
            repeat.outcome,
            archived.outcome
        ],
        [
            Outcome::Opened,
            Outcome::Duplicate,
            Outcome::Updated,
            Outcome::Resolved
        ]
    );
    assert_eq!(first.incident_id, archived.incident_id);
    let incidents = backend.all_incidents();
    assert_eq!(incidents.len(), 1, "one incident per finding id");
    // One page when it opened, one when it was archived; the repeat only updates.
    let pages = backend.published();
    assert_eq!(pages.len(), 2);
    assert!(pages
        .iter()
        .all(|p| p.notification.route == Route::Security));
    let timeline = backend
        .timeline(first.incident_id.as_deref().unwrap())
        .await
        .unwrap();
    assert!(
        timeline.iter().any(|e| e
            .evidence
            .as_ref()
            .unwrap()
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("203.0.113.77")),
        "the repeat's new remote IP is kept as evidence"
    );
}

#[tokio::test]
async fn each_source_resolves_when_it_says_so() {
    for (open, close) in [
        (
            "health/health-ec2-issue-open.json",
            "health/health-ec2-issue-closed.json",
        ),
        (
            "security/config-noncompliant.json",
            "security/config-compliant.json",
        ),
        (
            "security/securityhub-asff-imported.json",
            "security/securityhub-asff-resolved.json",
        ),
        (
            "security/securityhub-ocsf-imported.json",
            "security/securityhub-ocsf-resolved.json",
        ),
    ] {
        let (backend, engine) = shipped();
        let opened = handle(&engine, open).await;
        let resolved = handle(&engine, close).await;
        assert_eq!(
            (opened.outcome, resolved.outcome),
            (Outcome::Opened, Outcome::Resolved),
            "{open} then {close}"
        );
        assert_eq!(opened.incident_id, resolved.incident_id);
        assert_eq!(backend.published().len(), 2, "{close}: a resolution page");
    }
}

#[tokio::test]
async fn a_guardduty_finding_and_its_security_hub_copy_are_one_incident() {
    let (backend, engine) = shipped();
    handle(&engine, "security/guardduty-ssh-bruteforce-high.json").await;
    let copy = handle(&engine, "security/securityhub-ocsf-imported.json").await;
    // Same finding, same update time, another feed: the copy is evidence, not news.
    assert_eq!(
        copy.outcome,
        Outcome::Stale,
        "same finding: filed on its incident, no new page"
    );
    assert_eq!(backend.all_incidents().len(), 1);
    assert_eq!(backend.published().len(), 1);
}

/// A runbook that tries every way to move a security incident off the security route and to
/// print addresses and ids in the SMS line and the subject.
const HOSTILE: &str = r#"
name: leaky-security
description: tries to leak
team: someone
order: 10
trigger:
  source: [aws.guardduty, aws.iam, aws.signin]
steps:
  - id: reroute
    classify:
      rules:
        - when: {severity: [high, critical, medium, low]}
          route: production
  - id: track
    incident: {action: track}
  - id: page
    notify:
      route: ops
      subject: "{{ alarm.account }} {% for f in signal.facts %}{{ f.value }} {% endfor %}"
      sms: "{{ alarm.reason }} {{ alarm.account }} {% for f in signal.facts %}{{ f.value }} {% endfor %}"
  - id: page-default-route
    notify:
      subject: "{{ alarm.account }} {% for f in signal.facts %}{{ f.value }} {% endfor %}"
      sms: "{{ alarm.reason }} {{ alarm.account }} {% for f in signal.facts %}{{ f.value }} {% endfor %}"
"#;

#[tokio::test]
async fn no_runbook_can_move_a_security_incident_or_leak_by_sms() {
    // The shipped runbooks plus the hostile one, from a folder of their own.
    let dir = std::env::temp_dir().join(format!("klaxon-leaky-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for entry in
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../runbooks")).unwrap()
    {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "yaml") {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(dir.join("leaky.yaml"), HOSTILE).unwrap();
    let catalog = Arc::new(Catalog::from_path(&dir).expect("loads"));
    std::fs::remove_dir_all(&dir).ok();
    for file in [
        "security/guardduty-ssh-bruteforce-high.json",
        "security/cloudtrail-root-create-access-key.json",
        "security/signin-root-console.json",
    ] {
        let (backend, engine) = memory::engine_with(memory::embedded_settings(), catalog.clone());
        let report = handle(&engine, file).await;
        assert_eq!(report.outcome, Outcome::Opened, "{file}: {report:?}");
        let pages = backend.published();
        assert!(!pages.is_empty(), "{file}");
        for page in &pages {
            let n = &page.notification;
            assert_eq!(n.route, Route::Security, "{file}: {n:?}");
            let sms = n.message.lines().next().unwrap();
            assert_eq!(sensitive_word(sms), None, "{file}: SMS {sms}");
            assert_eq!(
                sensitive_word(&n.subject),
                None,
                "{file}: subject {}",
                n.subject
            );
            assert_eq!(sensitive_word(&n.message), None, "{file}: {}", n.message);
            // The e-mail copy's first line is the same redacted SMS line, even from a template.
            let email = n.email_message.as_deref().expect("the e-mail copy");
            assert_eq!(email.lines().next(), Some(sms), "{file}: {email}");
        }
        for event in backend.bus_events() {
            let chat = event.event.detail["text"]["chat"]
                .as_str()
                .unwrap_or_default();
            assert_eq!(sensitive_word(chat), None, "{file}: chat {chat}");
        }
        let steps: Vec<_> = report
            .steps
            .iter()
            .filter(|s| s.runbook == "leaky-security")
            .collect();
        assert!(
            steps
                .iter()
                .any(|s| s.step == "reroute" && s.summary.contains("refused")),
            "{steps:?}"
        );
    }
}

#[test]
fn sources_parse_to_state_changes_on_their_dedup_keys() {
    let parse = |name: &str| match intake::parse_bytes(&read(name)).unwrap() {
        Intake::Change(event) => *event,
        other => panic!("{name}: {other:?}"),
    };
    let gd = parse("security/guardduty-ssh-bruteforce-high.json");
    assert!(gd.is_security());
    assert_eq!(gd.state, AlarmState::Alarm);
    assert!(gd
        .dedup_key
        .ends_with("/finding/4ac7e6b1f0d2a9c35e8b17d2f60a9e41"));
    assert_eq!(
        gd.alarm_name,
        "GuardDuty UnauthorizedAccess:EC2/SSHBruteForce on Instance"
    );
    assert_eq!(gd.signal.as_ref().unwrap().count, Some(3));

    let config = parse("security/config-noncompliant.json");
    assert_eq!(
        config.dedup_key,
        "config:123456789012:us-east-1:restricted-ssh:AWS::EC2::SecurityGroup:sg-0b7d6e5f4a3c2b190"
    );
    assert_eq!(
        parse("security/config-compliant.json").state,
        AlarmState::Ok
    );

    let health = parse("health/health-public-minimal.json");
    assert!(!health.is_security());
    assert_eq!(health.state, AlarmState::Alarm);
    // No lastUpdatedTime, no endTime: the envelope's time orders it (a scheduled
    // change's start time may lie in the future).
    assert_eq!(
        health.state_timestamp.to_rfc3339(),
        "2024-05-23T09:20:41+00:00"
    );
    // Public events are the same for every account: keyed on the event and communication.
    assert!(
        health.dedup_key.ends_with("#public"),
        "{}",
        health.dedup_key
    );

    let sg = parse("security/cloudtrail-sg-ssh-private.json");
    assert_eq!(
        sg.tags,
        intake::EventTags::LookUp(
            "arn:aws:ec2:us-east-1:123456789012:security-group/sg-0a9b8c7d6e5f4a3b2".into()
        )
    );
    let ingress = &sg.signal.as_ref().unwrap().details["ingress"];
    assert_eq!(
        ingress.as_array().unwrap().len(),
        2,
        "one entry per permission"
    );
    assert_eq!(ingress[0]["cidrs"][0], "10.0.0.0/8");
    assert_eq!(ingress[1]["from_port"], 443);

    // An IAM user may be named like an address: the title (SMS, chat) is redacted.
    let mut key: serde_json::Value =
        serde_json::from_slice(&read("security/cloudtrail-user-create-access-key.json")).unwrap();
    key["detail"]["responseElements"]["accessKey"]["userName"] = "198.51.100.9".into();
    let Intake::Change(event) = intake::parse_value(&key).unwrap() else {
        panic!("parses")
    };
    assert_eq!(event.alarm_name, "access key created for user [redacted]");
}

#[test]
fn guardduty_bands() {
    for (score, band) in [
        (0.5, Severity::Info),
        (1.0, Severity::Low),
        (3.9, Severity::Low),
        (4.0, Severity::Medium),
        (6.9, Severity::Medium),
        (7.0, Severity::High),
        (8.9, Severity::High),
        (9.0, Severity::Critical),
        (10.0, Severity::Critical),
    ] {
        assert_eq!(intake::guardduty_severity(score), band, "{score}");
    }
}

#[tokio::test]
async fn the_whole_security_page_is_redacted_and_the_details_stay_on_the_timeline() {
    let (backend, engine) = shipped();
    let report = handle(&engine, "security/guardduty-ssh-bruteforce-high.json").await;
    let page = &backend.published()[0].notification;
    // SNS sends the whole message to SMS subscribers, not only its first line.
    assert_eq!(sensitive_word(&page.message), None, "{}", page.message);
    assert!(page.message.contains("Remote IP:   [redacted]"));
    // The e-mail copy (sent only with KLAXON_SECURITY_EMAIL_DETAIL=true) keeps the facts;
    // its SMS-sized first line and subject are the redacted ones.
    let email = page.email_message.as_deref().expect("an e-mail copy");
    assert!(email.contains("Remote IP:   198.51.100.23"), "{email}");
    assert!(email.contains("123456789012"), "{email}");
    assert_eq!(sensitive_word(email.lines().next().unwrap()), None);
    let timeline = backend
        .timeline(report.incident_id.as_deref().unwrap())
        .await
        .unwrap();
    let evidence = timeline[0]
        .evidence
        .as_ref()
        .unwrap()
        .reason_data
        .as_deref()
        .unwrap();
    let facts: serde_json::Value = serde_json::from_str(evidence).unwrap();
    assert_eq!(facts["facts"]["Remote IP"], "198.51.100.23");
    assert_eq!(facts["facts"]["Account"], "123456789012");

    // Pages of other routes have one body for every protocol.
    let (backend, engine) = shipped();
    handle(&engine, "alarm-metric-prod-alarm.json").await;
    assert_eq!(backend.published()[0].notification.email_message, None);
}

#[tokio::test]
async fn a_low_severity_tag_cannot_mute_a_high_finding() {
    let (backend, engine) = shipped();
    let mut finding: serde_json::Value =
        serde_json::from_slice(&read("security/guardduty-ssh-bruteforce-high.json")).unwrap();
    finding["detail"]["resource"]["instanceDetails"]["tags"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"key": "Severity", "value": "low"}));
    let report = engine.handle_value(&finding).await.unwrap();
    assert_eq!(report.severity, Some(Severity::High));
    assert_eq!(backend.published().len(), 1, "still paged");
}

#[tokio::test]
async fn a_finding_id_cannot_land_on_an_alarm_incident() {
    let (backend, engine) = shipped();
    let alarm = handle(&engine, "alarm-metric-prod-alarm.json").await;
    assert_eq!(alarm.outcome, Outcome::Opened);
    // A custom Security Hub finding whose Id is the alarm's ARN, claiming to be resolved.
    let mut finding: serde_json::Value =
        serde_json::from_slice(&read("security/securityhub-asff-resolved.json")).unwrap();
    finding["detail"]["findings"][0]["Id"] = alarm.dedup_key.clone().unwrap().into();
    let report = engine.handle_value(&finding).await.unwrap();
    assert_ne!(report.incident_id, alarm.incident_id);
    assert_eq!(
        backend.all_incidents()[0].status,
        klaxon::model::IncidentStatus::Open,
        "the alarm's incident stays open"
    );
}

#[tokio::test]
async fn cloudtrail_calls_in_the_same_second_both_count() {
    let (backend, engine) = shipped();
    // 443 to the world first (breaks nothing), then 22 to the world in the same second
    // on the same group: the second must still open an incident and page.
    let mut https: serde_json::Value =
        serde_json::from_slice(&read("security/cloudtrail-sg-open-https-world.json")).unwrap();
    let mut ssh: serde_json::Value =
        serde_json::from_slice(&read("security/cloudtrail-sg-open-ssh-world.json")).unwrap();
    https["detail"]["requestParameters"]["groupId"] = "sg-0aaaaaaaaaaaaaaa1".into();
    ssh["detail"]["requestParameters"]["groupId"] = "sg-0aaaaaaaaaaaaaaa1".into();
    https["detail"]["eventTime"] = ssh["detail"]["eventTime"].clone();
    let first = engine.handle_value(&https).await.unwrap();
    let second = engine.handle_value(&ssh).await.unwrap();
    assert_eq!(
        (first.outcome, second.outcome),
        (Outcome::Handled, Outcome::Opened)
    );
    assert_eq!(backend.published().len(), 1);
    // The same violation the next day pages again: CloudTrail never reports "fixed".
    let mut next_day = ssh.clone();
    next_day["id"] = "next-day".into();
    next_day["detail"]["eventTime"] = "2024-05-17T09:31:27Z".into();
    let again = engine.handle_value(&next_day).await.unwrap();
    assert_eq!(again.outcome, Outcome::Opened);
    assert_eq!(backend.published().len(), 2);
}

/// Every security and AWS Health sample, each on a fresh backend: no security page (subject,
/// the whole message, which SNS gives SMS subscribers, and the e-mail copy's first line) and
/// no lifecycle event of a security incident (its chat, plain and HTML text, alarm name)
/// carries an address, an account id or a key id.
#[tokio::test]
async fn no_security_sample_pages_an_address_an_account_or_a_key() {
    let mut files: Vec<String> = Vec::new();
    for dir in ["security", "health"] {
        for entry in std::fs::read_dir(events().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|x| x == "json") {
                files.push(format!(
                    "{dir}/{}",
                    path.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    files.sort();
    let mut pages_checked = 0;
    for file in &files {
        let (backend, engine) = shipped();
        handle(&engine, file).await;
        for page in backend.published() {
            let n = &page.notification;
            if n.route != Route::Security {
                continue;
            }
            pages_checked += 1;
            assert_eq!(sensitive_word(&n.subject), None, "{file}: {}", n.subject);
            assert_eq!(sensitive_word(&n.message), None, "{file}: {}", n.message);
            if let Some(email) = &n.email_message {
                let first = email.lines().next().unwrap_or_default();
                assert_eq!(sensitive_word(first), None, "{file}: {first}");
            }
        }
        for event in backend.bus_events() {
            let detail = &event.event.detail;
            if detail["route"] != "security" {
                continue;
            }
            // The word `security` stands where the environment is (docs/CONTRACTS.md (d)).
            let plain = detail["text"]["plain"].as_str().unwrap_or_default();
            let second = plain.split(' ').nth(1);
            assert_eq!(second, Some("security"), "{file}: {plain}");
            assert_eq!(detail["security"], true, "{file}");
            for text in [
                &detail["text"]["plain"],
                &detail["text"]["chat"],
                &detail["text"]["html"],
                &detail["alarm"]["name"],
            ] {
                let text = text.as_str().unwrap_or_default();
                assert_eq!(sensitive_word(text), None, "{file}: {text}");
            }
        }
    }
    assert!(
        pages_checked >= 15,
        "only {pages_checked} security pages checked"
    );
}

/// Severity of a finding on each feed's own scale (docs/CONTRACTS.md (b2)): ASFF's label
/// (INFORMATIONAL: info), else its normalized score on GuardDuty's bands; OCSF's
/// `severity_id` 1 info ... 5 critical, 6 fatal: critical.
#[test]
fn finding_severities_follow_each_feeds_scale() {
    let severity = |v: &serde_json::Value| match intake::parse_value(v).unwrap() {
        Intake::Change(event) => event.signal.as_ref().and_then(|s| s.severity),
        other => panic!("{other:?}"),
    };
    let asff: serde_json::Value =
        serde_json::from_slice(&read("security/securityhub-asff-imported.json")).unwrap();
    for (label, expected) in [
        ("CRITICAL", Severity::Critical),
        ("HIGH", Severity::High),
        ("MEDIUM", Severity::Medium),
        ("LOW", Severity::Low),
        ("INFORMATIONAL", Severity::Info),
    ] {
        let mut v = asff.clone();
        v["detail"]["findings"][0]["Severity"] = serde_json::json!({ "Label": label });
        assert_eq!(severity(&v), Some(expected), "{label}");
    }
    let mut v = asff.clone();
    v["detail"]["findings"][0]["Severity"] = serde_json::json!({ "Normalized": 75 });
    assert_eq!(severity(&v), Some(Severity::High), "Normalized 75: 7.5");
    let ocsf: serde_json::Value =
        serde_json::from_slice(&read("security/securityhub-ocsf-imported.json")).unwrap();
    for (id, expected) in [
        (1, Severity::Info),
        (2, Severity::Low),
        (3, Severity::Medium),
        (4, Severity::High),
        (5, Severity::Critical),
        (6, Severity::Critical),
    ] {
        let mut v = ocsf.clone();
        v["detail"]["findings"][0]["severity_id"] = serde_json::json!(id);
        assert_eq!(severity(&v), Some(expected), "severity_id {id}");
    }
}

/// A `Severity` tag on a finding's resource counts only when it is more severe than the
/// source's own severity.
#[tokio::test]
async fn a_severity_tag_counts_only_when_more_severe() {
    let finding: serde_json::Value =
        serde_json::from_slice(&read("security/guardduty-ssh-bruteforce-high.json")).unwrap();
    for (tag, expected) in [
        ("critical", Severity::Critical),
        ("medium", Severity::High),
        ("info", Severity::High),
    ] {
        let mut v = finding.clone();
        v["detail"]["resource"]["instanceDetails"]["tags"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"key": "Severity", "value": tag}));
        let (_, engine) = shipped();
        let report = engine.handle_value(&v).await.unwrap();
        assert_eq!(report.severity, Some(expected), "Severity={tag}");
    }
}

/// AWS Health (docs/CONTRACTS.md (b2)): the older shape without `statusCode` is open, or,
/// already over when delivered, an incident that opened and ended without a page; the
/// pages of one event (same `lastUpdatedTime`) are one incident, the later pages filed as
/// `stale` evidence naming their affected resources; an account notification is low.
#[tokio::test]
async fn aws_health_older_shape_pages_and_categories() {
    let open: serde_json::Value =
        serde_json::from_slice(&read("health/health-ec2-issue-open.json")).unwrap();

    let mut over = open.clone();
    over["id"] = "older-shape-over".into();
    over["detail"].as_object_mut().unwrap().remove("statusCode");
    over["detail"]["endTime"] = "Wed, 22 May 2024 13:30:00 GMT".into();
    let (backend, engine) = shipped();
    let report = engine.handle_value(&over).await.unwrap();
    assert_eq!(report.outcome, Outcome::Resolved);
    assert!(backend.published().is_empty(), "no page");
    let incidents = backend.all_incidents();
    assert_eq!(incidents.len(), 1, "recorded as an incident");
    assert_eq!(incidents[0].status, klaxon::model::IncidentStatus::Resolved);

    let mut older = open.clone();
    older["id"] = "older-shape-open".into();
    older["detail"]
        .as_object_mut()
        .unwrap()
        .remove("statusCode");
    let (backend, engine) = shipped();
    let report = engine.handle_value(&older).await.unwrap();
    assert_eq!(report.outcome, Outcome::Opened);
    assert_eq!(backend.published().len(), 1);

    let mut first = open.clone();
    first["id"] = "health-page-1".into();
    first["detail"]["totalPages"] = "2".into();
    let mut second = first.clone();
    second["id"] = "health-page-2".into();
    second["detail"]["page"] = "2".into();
    second["detail"]["affectedEntities"] =
        serde_json::json!([{"entityValue": "i-0ffffffffffffffff", "status": "IMPAIRED"}]);
    let (backend, engine) = shipped();
    let opened = engine.handle_value(&first).await.unwrap();
    assert_eq!(opened.outcome, Outcome::Opened);
    let filed = engine.handle_value(&second).await.unwrap();
    assert_eq!(filed.outcome, Outcome::Stale);
    assert_eq!(filed.incident_id, opened.incident_id);
    assert_eq!(backend.published().len(), 1);
    let timeline = backend
        .timeline(opened.incident_id.as_deref().unwrap())
        .await
        .unwrap();
    assert!(
        timeline.iter().any(|e| e.outcome == Outcome::Stale
            && e.evidence
                .as_ref()
                .unwrap()
                .reason
                .as_deref()
                .unwrap_or_default()
                .contains("i-0ffffffffffffffff")),
        "{timeline:#?}"
    );

    let mut notice = open.clone();
    notice["id"] = "account-notification".into();
    notice["detail"]["eventTypeCategory"] = "accountNotification".into();
    let (_, engine) = shipped();
    let report = engine.handle_value(&notice).await.unwrap();
    assert_eq!(report.severity, Some(Severity::Low));
}

/// Tags of other sources (docs/CONTRACTS.md (b)): a GuardDuty finding's instance tags, the
/// first resource's tags of a Security Hub finding (ASFF `Resources[0].Tags`, OCSF
/// `resources[0].tags`); AWS Health events and Config changes have none.
#[test]
fn finding_tags_come_from_the_first_resource() {
    let tags = |name: &str| match intake::parse_bytes(&read(name)).unwrap() {
        Intake::Change(event) => {
            let event = *event;
            event.tags
        }
        other => panic!("{name}: {other:?}"),
    };
    let has = |tags: &intake::EventTags, key: &str, value: &str| match tags {
        intake::EventTags::Provided(list) => list.iter().any(|(k, v)| k == key && v == value),
        intake::EventTags::LookUp(_) => false,
    };
    assert!(has(
        &tags("security/guardduty-ssh-bruteforce-high.json"),
        "Team",
        "data-platform"
    ));
    assert!(has(
        &tags("security/securityhub-asff-imported.json"),
        "Owner",
        "platform-team"
    ));
    assert!(has(
        &tags("security/securityhub-ocsf-imported.json"),
        "Environment",
        "production"
    ));
    for none in [
        "health/health-ec2-issue-open.json",
        "security/config-noncompliant.json",
    ] {
        assert_eq!(
            tags(none),
            intake::EventTags::Provided(Vec::new()),
            "{none}"
        );
    }
}
