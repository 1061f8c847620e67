//! Intake of the non-alarm sources: AWS Health, GuardDuty, Security Hub (ASFF and OCSF),
//! AWS Config compliance changes and CloudTrail calls. Each becomes the same thing an alarm
//! becomes: a state change (ALARM opens, OK resolves) on a deduplication key, so one engine
//! and one transition table serve them all (docs/CONTRACTS.md, "Sources").
//!
//! Titles are built from fields that carry no addresses or identities (finding type,
//! resource type, rule name) and redacted besides: they reach SMS and chat. The source's own
//! title and description, which do carry IPs and ids, go to the e-mail body and the record.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{
    arn_partition, invalid, json_type, optional_str, parse_timestamp, partition_for_region,
    AlarmEvent, AlarmKind, AlarmState, EventTags, InvalidEvent, Signal,
};
use crate::ownership::Severity;
use crate::text;

/// Envelope fields every source shares.
pub(super) struct Envelope<'a> {
    pub id: Option<String>,
    pub event_id: String,
    pub source: String,
    pub detail_type: String,
    pub account: Option<String>,
    pub region: Option<String>,
    pub time: Option<DateTime<Utc>>,
    pub resources: Vec<String>,
    pub detail: &'a Map<String, Value>,
}

impl Envelope<'_> {
    fn need<'v>(&self, value: Option<&'v Value>, name: &str) -> Result<&'v str, InvalidEvent> {
        match value {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
            Some(Value::String(_)) => Err(invalid(self.id.clone(), format!("`{name}` is empty"))),
            Some(other) => Err(invalid(
                self.id.clone(),
                format!("`{name}` must be a string, found {}", json_type(other)),
            )),
            None => Err(invalid(self.id.clone(), format!("missing `{name}`"))),
        }
    }

    fn fail(&self, reason: String) -> InvalidEvent {
        invalid(self.id.clone(), reason)
    }

    fn event(&self, kind: AlarmKind, parts: Parts) -> AlarmEvent {
        let security = parts.security;
        let evidence = evidence_json(&parts);
        // Redacted before it is cut, so that no half address survives the cut.
        let clean = |s: &str| {
            let one = text::single_line(s);
            let one = if security {
                text::redact_sensitive(one.trim())
            } else {
                one.trim().to_string()
            };
            text::bounded(&one, 256)
        };
        AlarmEvent {
            event_id: self.event_id.clone(),
            account: self.account.clone(),
            region: self.region.clone(),
            event_time: self.time,
            alarm_name: clean(&parts.title),
            alarm_arn: parts.dedup_key,
            kind,
            description: parts.description,
            state: parts.state,
            state_timestamp: parts.at,
            reason: parts.reason,
            reason_data: Some(evidence),
            previous_state: None,
            previous_state_timestamp: None,
            previous_state_reason: None,
            actions_suppressed_by: None,
            actions_suppressed_reason: None,
            alarm_rule: None,
            metrics: Vec::new(),
            tags: parts.tags,
            source: self.source.clone(),
            signal: Some(Box::new(Signal {
                security,
                severity: parts.severity,
                signal_type: text::bounded(&text::single_line(&parts.signal_type), 256),
                resources: parts
                    .resources
                    .iter()
                    .take(MAX_RESOURCES)
                    .map(|r| text::bounded(&text::single_line(r), 512))
                    .collect(),
                facts: parts
                    .facts
                    .into_iter()
                    .filter(|(_, v)| !v.trim().is_empty())
                    .map(|(k, v)| (k.to_string(), text::bounded(&text::single_line(&v), 1024)))
                    .collect(),
                details: parts.details,
                count: parts.count,
                route: parts.route,
            })),
            feed: parts.feed.map(str::to_string),
            config: None,
            escalation: None,
        }
    }
}

/// The source's facts, details and resources as JSON text: kept verbatim on the timeline
/// entry (`Evidence.reason_data`), where responders find what pages leave out (addresses
/// and ids of security incidents). Bounded: without `details` if they are large.
fn evidence_json(parts: &Parts) -> String {
    let facts: serde_json::Map<String, Value> = parts
        .facts
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| ((*k).to_string(), json!(v)))
        .collect();
    let full = json!({"facts": facts, "resources": parts.resources, "details": parts.details});
    let text = full.to_string();
    if text.len() <= 16 * 1024 {
        return text;
    }
    text::bounded(
        &json!({"facts": facts, "resources": parts.resources.iter().take(20).collect::<Vec<_>>()})
            .to_string(),
        16 * 1024,
    )
}

/// Resources kept per event (Health events can list hundreds of entities).
const MAX_RESOURCES: usize = 50;

/// What a source parser fills in; [`Envelope::event`] turns it into an event.
struct Parts {
    dedup_key: String,
    title: String,
    signal_type: String,
    state: AlarmState,
    at: DateTime<Utc>,
    severity: Option<Severity>,
    security: bool,
    description: Option<String>,
    reason: Option<String>,
    resources: Vec<String>,
    facts: Vec<(&'static str, String)>,
    details: Value,
    count: Option<u64>,
    tags: EventTags,
    /// Findings: the feed that delivered it (see `AlarmEvent::feed`).
    feed: Option<&'static str>,
    route: Option<crate::ownership::Route>,
}

fn s(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

/// The value at `path` under `detail` (no copy of the detail is made).
fn at<'a>(detail: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    rest.iter()
        .try_fold(detail.get(*first)?, |v, key| v.get(key))
}

/// A time from any of the candidates, first that parses. AWS Health writes RFC 1123
/// (`Wed, 22 May 2024 13:05:00 GMT`), the others ISO 8601.
fn first_time(candidates: &[Option<&Value>]) -> Option<DateTime<Utc>> {
    candidates.iter().flatten().find_map(|v| match v {
        Value::String(raw) => parse_timestamp(raw).or_else(|| {
            DateTime::parse_from_rfc2822(raw.trim())
                .ok()
                .map(|t| t.with_timezone(&Utc))
        }),
        // OCSF epoch milliseconds.
        Value::Number(n) => n.as_i64().and_then(DateTime::<Utc>::from_timestamp_millis),
        _ => None,
    })
}

fn require_time(
    env: &Envelope<'_>,
    what: &str,
    candidates: &[Option<&Value>],
) -> Result<DateTime<Utc>, InvalidEvent> {
    first_time(candidates).ok_or_else(|| {
        env.fail(format!(
            "no usable time: {what} is missing or not a time (ISO 8601, RFC 1123 or epoch milliseconds)"
        ))
    })
}

// ---------------------------------------------------------------------------------------
// AWS Health

pub(super) fn health(env: &Envelope<'_>) -> Result<AlarmEvent, InvalidEvent> {
    let d = env.detail;
    let event_arn = env.need(d.get("eventArn"), "detail.eventArn")?;
    // Ordered by when Health last changed the event; without `lastUpdatedTime`, by when
    // EventBridge got it. `startTime` of a scheduled change lies in the future (the engine
    // refuses state times ahead of its clock), and `endTime` is absent until the event
    // closes: both only as a last resort, neither required.
    let updated = first_time(&[d.get("lastUpdatedTime")])
        .or(env.time)
        .or_else(|| first_time(&[d.get("endTime"), d.get("startTime")]))
        .ok_or_else(|| {
            env.fail(
                "no usable time: `detail.lastUpdatedTime`, `time`, `detail.endTime` and `detail.startTime` are all missing or not times".into(),
            )
        })?;
    let end_time = first_time(&[d.get("endTime")]);
    let older_shape = d.get("statusCode").is_none();
    let status = match d.get("statusCode") {
        Some(_) => env
            .need(d.get("statusCode"), "detail.statusCode")?
            .to_string(),
        // The older shape has no `statusCode`: the event is over when its end lies at or
        // before the event's own time (never the wall clock: a replay must not change).
        None => match (end_time, env.time.or(Some(updated))) {
            (Some(end), Some(now)) if end <= now => "closed".to_string(),
            _ => "open".to_string(),
        },
    };
    // Such an event is the only one AWS sends for its problem: when it is already over,
    // it is recorded as an incident that opened and ended, not dropped.
    let ended_on_arrival = older_shape && status == "closed";
    let state = match status.as_str() {
        "open" | "upcoming" => AlarmState::Alarm,
        "closed" => AlarmState::Ok,
        other => {
            return Err(env.fail(format!(
                "`detail.statusCode` is `{}`; expected open, upcoming or closed",
                text::for_log(other)
            )))
        }
    };
    let type_code = env.need(d.get("eventTypeCode"), "detail.eventTypeCode")?;
    let service = s(d.get("service"));
    let category = s(d.get("eventTypeCategory"));
    let scope = s(d.get("eventScopeCode"));
    let event_region = s(d.get("eventRegion"));
    // Credential exposure (`RISK`) and abuse reports (`ABUSE`, with their own detail-type)
    // are about the account's security: SecOps's, on the security route.
    // The deployed rules send exactly these to security-intake (`infra::handler_for`).
    let security = env.detail_type == super::HEALTH_ABUSE_EVENT
        || super::HEALTH_SECURITY_SERVICES.contains(&service.as_str());
    let public = scope == "PUBLIC" && !security;
    let entities: Vec<(String, String)> = d
        .get("affectedEntities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            Some((
                e.get("entityValue")?.as_str()?.to_string(),
                s(e.get("status")),
            ))
        })
        .collect();
    let resources: Vec<String> = if entities.is_empty() {
        env.resources.clone()
    } else {
        entities.iter().map(|(v, _)| v.clone()).collect()
    };
    let affected_account = optional_str(d.get("affectedAccount")).or_else(|| env.account.clone());
    let description = d
        .get("eventDescription")
        .and_then(Value::as_array)
        .and_then(|list| {
            list.iter()
                .find(|x| x.get("language").and_then(Value::as_str) == Some("en_US"))
                .or_else(|| list.first())
        })
        .and_then(|x| optional_str(x.get("latestDescription")));
    let affected = entities
        .iter()
        .take(20)
        .map(|(v, st)| {
            if st.is_empty() {
                v.clone()
            } else {
                format!("{v} ({st})")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let page = match (s(d.get("page")).as_str(), s(d.get("totalPages")).as_str()) {
        ("" | "1", "" | "1") => String::new(),
        (p, t) => format!(" (page {p} of {t})"),
    };
    let service_issue = matches!(category.as_str(), "issue" | "investigation");
    let severity = match (security, public, category.as_str()) {
        // Exposed or compromised credentials: someone else may hold the keys now.
        (true, _, _) if service == "RISK" => Severity::Critical,
        (true, _, _) => Severity::High,
        // A public event is about a Region's service, not this account's resources: worth
        // the ops route's attention when it is an outage in a Region Klaxon watches (the
        // engine lowers it to low otherwise, see `Engine::watch_health_region`).
        (false, true, _) if service_issue => Severity::Medium,
        (false, true, _) => Severity::Low,
        (false, false, "issue" | "investigation") => Severity::High,
        (false, false, "scheduledChange") => Severity::Medium,
        _ => Severity::Low,
    };
    let dedup_key = if public {
        // Public events are the same for every account: one incident per event ARN. Not
        // per `communicationId`: its counter changes with each update of the event, so the
        // closing update would find nothing open to resolve.
        format!("{event_arn}#public")
    } else {
        // Organisation-wide events share one ARN across accounts.
        format!("{event_arn}#{}", affected_account.as_deref().unwrap_or("-"))
    };
    Ok(env.event(
        AlarmKind::AwsHealth,
        Parts {
            dedup_key,
            title: format!("AWS Health: {service} {type_code}"),
            signal_type: type_code.to_string(),
            state,
            at: updated,
            severity: Some(severity),
            security,
            description,
            reason: Some(format!(
                "AWS Health {status}{page}: {}",
                if affected.is_empty() {
                    "no affected resources listed".to_string()
                } else {
                    format!("affected {affected}")
                }
            )),
            facts: vec![
                ("Event type", type_code.to_string()),
                ("Category", category.clone()),
                ("Service", service.clone()),
                ("Status", status.clone()),
                ("Scope", scope.clone()),
                ("Region", event_region.clone()),
                ("Start", s(d.get("startTime"))),
                ("End", s(d.get("endTime"))),
                ("Affected", affected),
                ("Event ARN", event_arn.to_string()),
            ],
            resources,
            details: json!({
                "status": status,
                "category": at(d, &["eventTypeCategory"]),
                "service": at(d, &["service"]),
                "scope": scope,
                "event_region": event_region,
                // Whether the event deserves a page at all: a public event only when it
                // is a service issue in a watched Region (the engine decides the Region).
                "page": !public || service_issue,
                "ended_on_arrival": ended_on_arrival,
            }),
            count: None,
            tags: EventTags::Provided(Vec::new()),
            feed: None,
            route: public.then_some(crate::ownership::Route::Ops),
        },
    ))
}

// ---------------------------------------------------------------------------------------
// GuardDuty

/// GuardDuty's documented bands: 1.0–3.9 low, 4.0–6.9 medium, 7.0–8.9 high, 9.0–10.0
/// critical (attack sequences).
pub fn guardduty_severity(score: f64) -> Severity {
    match score {
        s if s >= 9.0 => Severity::Critical,
        s if s >= 7.0 => Severity::High,
        s if s >= 4.0 => Severity::Medium,
        s if s >= 1.0 => Severity::Low,
        _ => Severity::Info,
    }
}

pub(super) fn guardduty(env: &Envelope<'_>) -> Result<AlarmEvent, InvalidEvent> {
    let d = env.detail;
    let id = env.need(d.get("id"), "detail.id")?;
    let finding_type = env.need(d.get("type"), "detail.type")?;
    let score = match d.get("severity") {
        Some(Value::Number(n)) => n.as_f64().unwrap_or_default(),
        Some(other) => {
            return Err(env.fail(format!(
                "`detail.severity` must be a number, found {}",
                json_type(other)
            )))
        }
        None => return Err(env.fail("missing `detail.severity`".into())),
    };
    let updated = require_time(
        env,
        "`detail.updatedAt` and `detail.createdAt`",
        &[d.get("updatedAt"), d.get("createdAt")],
    )?;
    let account = optional_str(d.get("accountId")).or_else(|| env.account.clone());
    let region = optional_str(d.get("region")).or_else(|| env.region.clone());
    // An empty `arn` is no identity: fall back to the finding id, like a missing one.
    let arn = optional_str(d.get("arn")).filter(|a| !a.trim().is_empty());
    let dedup_key = finding_key(&arn.unwrap_or_else(|| {
        format!(
            "arn:{}:guardduty:{}:{}:finding/{id}",
            partition_for_region(region.as_deref().unwrap_or_default()),
            region.as_deref().unwrap_or("-"),
            account.as_deref().unwrap_or("-")
        )
    }));
    // Security Hub's copies write it as the string "true"; some tools do too.
    let archived = match at(d, &["service", "archived"]) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(v)) => v.trim().eq_ignore_ascii_case("true"),
        _ => false,
    };
    let resource_type = s(at(d, &["resource", "resourceType"]));
    let instance = at(d, &["resource", "instanceDetails"]);
    let mut resources = Vec::new();
    if let Some(i) = instance
        .and_then(|i| i.get("instanceId"))
        .and_then(Value::as_str)
    {
        resources.push(i.to_string());
    }
    for bucket in at(d, &["resource", "s3BucketDetails"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(arn) = bucket.get("arn").and_then(Value::as_str) {
            resources.push(arn.to_string());
        }
    }
    if let Some(user) = at(d, &["resource", "accessKeyDetails", "userName"]).and_then(Value::as_str)
    {
        resources.push(format!("user {user}"));
    }
    let tags = tag_list(instance.and_then(|i| i.get("tags")), "key", "value");
    let action = at(d, &["service", "action"]);
    let remote_ip = action
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|a| a.values())
        .find_map(|v| {
            v.pointer("/remoteIpDetails/ipAddressV4")
                .and_then(Value::as_str)
        })
        .unwrap_or_default()
        .to_string();
    let count = at(d, &["service", "count"]).and_then(Value::as_u64);
    let source_title = optional_str(d.get("title"));
    Ok(env.event(
        AlarmKind::Finding,
        Parts {
            dedup_key,
            title: finding_title("GuardDuty", finding_type, &resource_type),
            signal_type: finding_type.to_string(),
            state: closed_or_open(archived),
            at: updated,
            severity: Some(guardduty_severity(score)),
            security: true,
            description: optional_str(d.get("description")),
            reason: source_title.clone(),
            facts: vec![
                ("Finding type", finding_type.to_string()),
                (
                    "Severity",
                    format!("{score} ({})", guardduty_severity(score).as_str()),
                ),
                ("Title", source_title.unwrap_or_default()),
                ("Resource type", resource_type),
                ("Resources", resources.join(", ")),
                ("Remote IP", remote_ip),
                ("Count", count.map(|c| c.to_string()).unwrap_or_default()),
                ("First seen", s(at(d, &["service", "eventFirstSeen"]))),
                ("Last seen", s(at(d, &["service", "eventLastSeen"]))),
                ("Archived", archived.to_string()),
                ("Account", account.unwrap_or_default()),
                ("Region", region.unwrap_or_default()),
                ("Finding id", id.to_string()),
            ],
            resources,
            details: json!({
                "archived": archived,
                "resource_type": at(d, &["resource", "resourceType"]),
                "severity_score": score,
                "action_type": at(d, &["service", "action", "actionType"]),
            }),
            count,
            tags: EventTags::Provided(tags),
            feed: Some(FEED_GUARDDUTY),
            route: None,
        },
    ))
}

// ---------------------------------------------------------------------------------------
// Security Hub

/// A finding's resources: their ids, the first one's type, and the first one itself.
fn finding_resources<'a>(
    list: Option<&'a Value>,
    id_key: &str,
    type_key: &str,
) -> (Vec<String>, String, Option<&'a Value>) {
    let list = list
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let ids = list
        .iter()
        .filter_map(|r| r.get(id_key).and_then(Value::as_str).map(str::to_string))
        .collect();
    let first = list.first();
    (
        ids,
        first.map(|r| s(r.get(type_key))).unwrap_or_default(),
        first,
    )
}

/// Finding ids are free-form in Security Hub (BatchImportFindings): the prefix keeps one
/// from landing on an alarm's or a CloudTrail key.
fn finding_key(id: &str) -> String {
    format!("finding:{id}")
}

/// The feeds a finding can arrive through; each orders its own copies (`AlarmEvent::feed`).
pub const FEED_GUARDDUTY: &str = "aws.guardduty";
pub const FEED_ASFF: &str = "securityhub:asff";
pub const FEED_OCSF: &str = "securityhub:ocsf";

/// GuardDuty's own product in Security Hub, in any partition and Region:
/// `arn:<partition>:securityhub:<region>::product/aws/guardduty` (`productv2` in OCSF).
fn is_guardduty_product(product: &str) -> bool {
    let parts: Vec<&str> = product.splitn(6, ':').collect();
    matches!(
        parts.as_slice(),
        ["arn", partition, "securityhub", _, "", "product/aws/guardduty" | "productv2/aws/guardduty"]
            if partition.starts_with("aws")
    )
}

/// A Security Hub finding's key. Only GuardDuty's own product shares the GuardDuty
/// finding's key (its `Id` is GuardDuty's finding ARN), so the GuardDuty event and its
/// Security Hub copies are one incident; any other product's finding is keyed by its
/// product as well, so that it can neither resolve nor mute a GuardDuty incident by
/// reusing its id.
fn product_finding_key(product: &str, scope: &str, id: &str) -> String {
    if is_guardduty_product(product) {
        finding_key(id)
    } else if scope.is_empty() {
        finding_key(&format!("{product}/{id}"))
    } else {
        finding_key(&format!("{product}/{scope}/{id}"))
    }
}

/// `<product> <finding type or control> on <resource type>`: no addresses or ids.
fn finding_title(product: &str, what: &str, resource_type: &str) -> String {
    if resource_type.is_empty() {
        format!("{product} {what}")
    } else {
        format!("{product} {what} on {resource_type}")
    }
}

/// A finding that its source closed (archived, resolved, suppressed) resolves the incident.
fn closed_or_open(closed: bool) -> AlarmState {
    if closed {
        AlarmState::Ok
    } else {
        AlarmState::Alarm
    }
}

/// Tags written as a list of `{key, value}`-like objects (GuardDuty, OCSF).
fn tag_list(list: Option<&Value>, key: &str, value: &str) -> Vec<(String, String)> {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some((
                t.get(key)?.as_str()?.to_string(),
                t.get(value)?.as_str()?.to_string(),
            ))
        })
        .collect()
}

/// "Each event sends a single finding" (Security Hub's event format): anything else is not
/// an event we understand, and is rejected rather than half-handled.
fn single_finding<'a>(env: &Envelope<'a>) -> Result<&'a Value, InvalidEvent> {
    match env.detail.get("findings") {
        Some(Value::Array(list)) if list.len() == 1 && list[0].is_object() => Ok(&list[0]),
        Some(Value::Array(list)) if list.len() == 1 => Err(env.fail(format!(
            "`detail.findings[0]` must be an object, found {}",
            json_type(&list[0])
        ))),
        Some(Value::Array(list)) => Err(env.fail(format!(
            "`detail.findings` holds {} findings; Security Hub sends exactly one per event",
            list.len()
        ))),
        Some(other) => Err(env.fail(format!(
            "`detail.findings` must be an array, found {}",
            json_type(other)
        ))),
        None => Err(env.fail("missing `detail.findings`".into())),
    }
}

fn asff_severity(f: &Value) -> Option<Severity> {
    match f.pointer("/Severity/Label").and_then(Value::as_str) {
        Some("CRITICAL") => Some(Severity::Critical),
        Some("HIGH") => Some(Severity::High),
        Some("MEDIUM") => Some(Severity::Medium),
        Some("LOW") => Some(Severity::Low),
        Some("INFORMATIONAL") => Some(Severity::Info),
        _ => f
            .pointer("/Severity/Normalized")
            .and_then(Value::as_f64)
            .map(|n| guardduty_severity(n / 10.0)),
    }
}

pub(super) fn securityhub_asff(env: &Envelope<'_>) -> Result<AlarmEvent, InvalidEvent> {
    asff_finding(env, single_finding(env)?, 0)
}

/// Most findings an escalation is read for: a custom action sends the findings an analyst
/// selected (AWS now sends one per event; older events carried several).
const MAX_ESCALATED_FINDINGS: usize = 100;

/// "Security Hub Findings - Custom Action": an analyst's escalation of the findings it
/// carries. Each finding is read like an imported one and marked as escalated; its
/// idempotency key is the event id with the finding's product and id, so a retry of the
/// event applies each finding once.
pub(super) fn securityhub_custom_action(
    env: &Envelope<'_>,
) -> Result<Vec<AlarmEvent>, InvalidEvent> {
    let action = env.need(env.detail.get("actionName"), "detail.actionName")?;
    let findings = match env.detail.get("findings") {
        Some(Value::Array(list)) if !list.is_empty() => list,
        Some(Value::Array(_)) => return Err(env.fail("`detail.findings` is empty".into())),
        Some(other) => {
            return Err(env.fail(format!(
                "`detail.findings` must be an array, found {}",
                json_type(other)
            )))
        }
        None => return Err(env.fail("missing `detail.findings`".into())),
    };
    if findings.len() > MAX_ESCALATED_FINDINGS {
        return Err(env.fail(format!(
            "`detail.findings` holds {} findings; at most {MAX_ESCALATED_FINDINGS} are read from one custom action",
            findings.len()
        )));
    }
    let action = text::bounded(&text::single_line(action), 64);
    findings
        .iter()
        .enumerate()
        .map(|(n, f)| {
            if !f.is_object() {
                return Err(env.fail(format!(
                    "`detail.findings[{n}]` must be an object, found {}",
                    json_type(f)
                )));
            }
            let mut event = asff_finding(env, f, n)?;
            let key = Sha256::digest(
                format!("{}\u{0}{}", s(f.get("ProductArn")), s(f.get("Id"))).as_bytes(),
            );
            event.event_id = format!("{}#finding-{}", env.event_id, hex::encode(&key[..8]));
            event.escalation = Some(Box::new(super::Escalation {
                action: action.clone(),
                envelope_id: env.event_id.clone(),
                position: n,
                count: findings.len(),
            }));
            Ok(event)
        })
        .collect()
}

/// One ASFF finding (`detail.findings[n]`).
fn asff_finding(env: &Envelope<'_>, f: &Value, n: usize) -> Result<AlarmEvent, InvalidEvent> {
    let field = |name: &str| format!("detail.findings[{n}].{name}");
    let id = env.need(f.get("Id"), &field("Id"))?;
    let product_arn = env.need(f.get("ProductArn"), &field("ProductArn"))?;
    let title = env.need(f.get("Title"), &field("Title"))?;
    let severity = asff_severity(f).ok_or_else(|| {
        env.fail(format!(
            "`{}` has neither a known `Label` nor `Normalized`",
            field("Severity")
        ))
    })?;
    let updated = require_time(
        env,
        &format!("`{}`", field("UpdatedAt")),
        &[
            f.get("UpdatedAt"),
            f.get("LastObservedAt"),
            f.get("CreatedAt"),
        ],
    )?;
    let workflow = s(f.pointer("/Workflow/Status"));
    let record_state = s(f.get("RecordState"));
    let compliance = s(f.pointer("/Compliance/Status"));
    let closed = matches!(workflow.as_str(), "RESOLVED" | "SUPPRESSED")
        || record_state == "ARCHIVED"
        || compliance == "PASSED";
    let (resources, resource_type, first) = finding_resources(f.get("Resources"), "Id", "Type");
    // ASFF tags are an object of names to values.
    let tags = first
        .and_then(|r| r.get("Tags"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let product = optional_str(f.get("ProductName")).unwrap_or_else(|| "Security Hub".into());
    let generator = s(f.get("GeneratorId"));
    let control = optional_str(f.pointer("/Compliance/SecurityControlId"))
        .or_else(|| {
            (!generator.contains("arn:") && !generator.is_empty()).then(|| generator.clone())
        })
        .or_else(|| {
            f.pointer("/Types/0")
                .and_then(Value::as_str)
                .map(|t| t.rsplit('/').next().unwrap_or(t).to_string())
        })
        .unwrap_or_else(|| "finding".into());
    Ok(env.event(
        AlarmKind::Finding,
        Parts {
            // GuardDuty findings imported into Security Hub keep GuardDuty's finding ARN as
            // their `Id`: the same key as the GuardDuty event, so one incident for both.
            dedup_key: product_finding_key(product_arn, "", id),
            title: finding_title(&product, &control, &resource_type),
            signal_type: control.clone(),
            state: closed_or_open(closed),
            at: updated,
            severity: Some(severity),
            security: true,
            description: optional_str(f.get("Description")),
            reason: Some(title.to_string()),
            facts: vec![
                ("Title", title.to_string()),
                ("Product", product),
                ("Control", control),
                ("Severity", severity.as_str().to_string()),
                ("Resources", resources.join(", ")),
                ("Workflow", workflow.clone()),
                ("Record state", record_state.clone()),
                ("Compliance", compliance.clone()),
                (
                    "Remediation",
                    s(f.pointer("/Remediation/Recommendation/Url")),
                ),
                ("Account", s(f.get("AwsAccountId"))),
                ("Region", s(f.get("Region"))),
                ("Finding id", id.to_string()),
            ],
            resources,
            details: json!({
                "format": "asff",
                "workflow": workflow,
                "record_state": record_state,
                "compliance": compliance,
                "resource_type": resource_type,
            }),
            count: None,
            tags: EventTags::Provided(tags),
            feed: Some(FEED_ASFF),
            route: None,
        },
    ))
}

pub(super) fn securityhub_ocsf(env: &Envelope<'_>) -> Result<AlarmEvent, InvalidEvent> {
    let f = single_finding(env)?;
    let uid = env.need(
        f.pointer("/finding_info/uid"),
        "detail.findings[0].finding_info.uid",
    )?;
    // OCSF identifies a finding by product, account and the provider's id together
    // (Security Hub's OcsfFindingIdentifier).
    let product_uid = env.need(
        f.pointer("/metadata/product/uid"),
        "detail.findings[0].metadata.product.uid",
    )?;
    let account_uid = s(f.pointer("/cloud/account/uid"));
    // OCSF severity_id: 1 informational … 5 critical, 6 fatal.
    let severity = match f.get("severity_id").and_then(Value::as_u64) {
        Some(5 | 6) => Severity::Critical,
        Some(4) => Severity::High,
        Some(3) => Severity::Medium,
        Some(2) => Severity::Low,
        Some(1) => Severity::Info,
        _ => f
            .get("severity")
            .and_then(Value::as_str)
            .and_then(|label| match label {
                "Fatal" => Some(Severity::Critical),
                "Informational" => Some(Severity::Info),
                other => Severity::parse(other),
            })
            .ok_or_else(|| {
                env.fail("`detail.findings[0].severity_id` is missing or not 1–6".into())
            })?,
    };
    let updated = require_time(
        env,
        "`detail.findings[0].finding_info.modified_time_dt` and `time_dt`",
        &[
            f.pointer("/finding_info/modified_time_dt"),
            f.pointer("/finding_info/modified_time"),
            f.get("time_dt"),
            f.get("time"),
        ],
    )?;
    // OCSF status_id: 1 new, 2 in progress, 3 suppressed, 4 resolved, 5 archived; an
    // activity `Close` also ends it.
    let status_id = f.get("status_id").and_then(Value::as_u64);
    let closed = matches!(status_id, Some(3..=5))
        || f.get("activity_name").and_then(Value::as_str) == Some("Close");
    let (resources, resource_type, first) = finding_resources(f.get("resources"), "uid", "type");
    let tags = tag_list(first.and_then(|r| r.get("tags")), "name", "value");
    let product =
        optional_str(f.pointer("/metadata/product/name")).unwrap_or_else(|| "Security Hub".into());
    let finding_type = optional_str(f.pointer("/finding_info/types/0"))
        .or_else(|| optional_str(f.get("type_name")))
        .unwrap_or_else(|| "finding".into());
    let title = s(f.pointer("/finding_info/title"));
    Ok(env.event(
        AlarmKind::Finding,
        Parts {
            dedup_key: product_finding_key(product_uid, &account_uid, uid),
            title: finding_title(&product, &finding_type, &resource_type),
            signal_type: finding_type.clone(),
            state: closed_or_open(closed),
            at: updated,
            severity: Some(severity),
            security: true,
            description: optional_str(f.pointer("/finding_info/desc")),
            reason: (!title.is_empty()).then(|| title.clone()),
            facts: vec![
                ("Title", title),
                ("Product", product),
                ("Finding type", finding_type),
                ("Severity", s(f.get("severity"))),
                ("Status", s(f.get("status"))),
                ("Resources", resources.join(", ")),
                ("Account", s(f.pointer("/cloud/account/uid"))),
                ("Region", s(f.pointer("/cloud/region"))),
                ("Finding id", uid.to_string()),
            ],
            resources,
            details: json!({
                "format": "ocsf",
                "status_id": status_id,
                "class_uid": f.get("class_uid"),
                "resource_type": resource_type,
            }),
            count: None,
            tags: EventTags::Provided(tags),
            feed: Some(FEED_OCSF),
            route: None,
        },
    ))
}

// ---------------------------------------------------------------------------------------
// AWS Config

pub(super) fn config_compliance(env: &Envelope<'_>) -> Result<AlarmEvent, InvalidEvent> {
    let d = env.detail;
    let rule = env.need(d.get("configRuleName"), "detail.configRuleName")?;
    let qualifier = at(
        d,
        &[
            "newEvaluationResult",
            "evaluationResultIdentifier",
            "evaluationResultQualifier",
        ],
    );
    let resource_id = env.need(
        d.get("resourceId")
            .or_else(|| qualifier.and_then(|q| q.get("resourceId"))),
        "detail.resourceId",
    )?;
    let resource_type = env.need(
        d.get("resourceType")
            .or_else(|| qualifier.and_then(|q| q.get("resourceType"))),
        "detail.resourceType",
    )?;
    let compliance = env.need(
        at(d, &["newEvaluationResult", "complianceType"]),
        "detail.newEvaluationResult.complianceType",
    )?;
    let state = match compliance {
        "NON_COMPLIANT" => AlarmState::Alarm,
        // NOT_APPLICABLE: the resource left the rule's scope (often: deleted).
        "COMPLIANT" | "NOT_APPLICABLE" => AlarmState::Ok,
        "INSUFFICIENT_DATA" => AlarmState::InsufficientData,
        other => {
            return Err(env.fail(format!(
                "`detail.newEvaluationResult.complianceType` is `{}`; expected NON_COMPLIANT, COMPLIANT, NOT_APPLICABLE or INSUFFICIENT_DATA",
                text::for_log(other)
            )))
        }
    };
    let recorded = require_time(
        env,
        "`detail.newEvaluationResult.resultRecordedTime`",
        &[
            at(d, &["newEvaluationResult", "resultRecordedTime"]),
            at(
                d,
                &[
                    "newEvaluationResult",
                    "evaluationResultIdentifier",
                    "orderingTimestamp",
                ],
            ),
            d.get("notificationCreationTime"),
        ],
    )
    .or_else(|e| env.time.ok_or(e))?;
    let account = optional_str(d.get("awsAccountId")).or_else(|| env.account.clone());
    let region = optional_str(d.get("awsRegion")).or_else(|| env.region.clone());
    let previously = s(at(d, &["oldEvaluationResult", "complianceType"]));
    Ok(env.event(
        AlarmKind::ConfigCompliance,
        Parts {
            // Resource + rule: one incident per rule and resource, whatever the evaluation.
            dedup_key: format!(
                "config:{}:{}:{rule}:{resource_type}:{resource_id}",
                account.as_deref().unwrap_or("-"),
                region.as_deref().unwrap_or("-"),
            ),
            title: format!("Config rule {rule}: {resource_type} non-compliant"),
            signal_type: rule.to_string(),
            state,
            at: recorded,
            severity: Some(Severity::Medium),
            // Security-relevant or not by the rule's name: the `config-security` runbook
            // (security: true) lists the rules that are; others go to ops.
            security: false,
            description: None,
            reason: Some(if previously.is_empty() {
                compliance.to_string()
            } else {
                format!("{compliance} (was {previously})")
            }),
            facts: vec![
                ("Rule", rule.to_string()),
                ("Resource type", resource_type.to_string()),
                ("Resource", resource_id.to_string()),
                ("Compliance", compliance.to_string()),
                ("Previously", previously.clone()),
                ("Rule ARN", s(d.get("configRuleARN"))),
                ("Account", account.unwrap_or_default()),
                ("Region", region.unwrap_or_default()),
            ],
            resources: vec![resource_id.to_string()],
            details: json!({
                "compliance": compliance,
                "resource_type": resource_type,
                "rule": rule,
            }),
            count: None,
            tags: EventTags::Provided(Vec::new()),
            feed: None,
            route: None,
        },
    ))
}

// ---------------------------------------------------------------------------------------
// CloudTrail (API calls and console sign-ins delivered by EventBridge)

pub(super) fn cloudtrail(env: &Envelope<'_>) -> Result<AlarmEvent, InvalidEvent> {
    let d = env.detail;
    let name = env.need(d.get("eventName"), "detail.eventName")?;
    let event_source = s(d.get("eventSource"));
    let called_at = require_time(env, "`detail.eventTime`", &[d.get("eventTime")])?;
    let account = optional_str(d.get("recipientAccountId"))
        .or_else(|| optional_str(at(d, &["userIdentity", "accountId"])))
        .or_else(|| env.account.clone());
    let region = optional_str(d.get("awsRegion")).or_else(|| env.region.clone());
    let (account_s, region_s) = (
        account.clone().unwrap_or_else(|| "-".into()),
        region.clone().unwrap_or_else(|| "-".into()),
    );
    let user_type = s(at(d, &["userIdentity", "type"]));
    let caller = s(at(d, &["userIdentity", "arn"]));
    // The caller's ARN says the partition; the region does when there is no caller ARN.
    let partition = arn_partition(&caller)
        .unwrap_or_else(|| partition_for_region(&region_s))
        .to_string();
    let request = d.get("requestParameters").filter(|v| v.is_object());
    let login_result = s(at(d, &["responseElements", "ConsoleLogin"]));
    // A failed sign-in is its own kind of incident: never described as a sign-in, and
    // never the incident a later successful sign-in would be folded into.
    let failed_sign_in = name == "ConsoleLogin" && login_result == "Failure";
    let param = |key: &str| request.and_then(|r| r.get(key)).and_then(Value::as_str);

    let mut details = Map::new();
    details.insert("event_name".into(), json!(name));
    details.insert("event_source".into(), json!(event_source));
    details.insert("user_type".into(), json!(user_type));
    details.insert(
        "error_code".into(),
        d.get("errorCode").cloned().unwrap_or(Value::Null),
    );
    let mut tags = EventTags::Provided(Vec::new());
    let (resource, resource_label) = match name {
        "AuthorizeSecurityGroupIngress" | "ModifySecurityGroupRules" => {
            // Default-VPC groups can be named by `groupName` alone; the response then
            // still carries the id.
            let group = param("groupId")
                .map(str::to_string)
                .or_else(|| first_rule_group(d))
                .or_else(|| {
                    d.get("responseElements")
                        .and_then(|r| r.pointer("/securityGroupRuleSet/items/0/groupId"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .or_else(|| param("groupName").map(str::to_string))
                .ok_or_else(|| {
                    env.fail(
                        "`detail.requestParameters.groupId` is missing (and no `groupName`, nor a group id in the response)"
                            .into(),
                    )
                })?;
            details.insert("ingress".into(), Value::Array(ingress_rules(request)));
            let arn = format!("arn:{partition}:ec2:{region_s}:{account_s}:security-group/{group}");
            // The invariant cares whether the group is production's: its tags say so.
            tags = EventTags::LookUp(arn.clone());
            (arn, group)
        }
        "PutBucketPolicy"
        | "PutBucketAcl"
        | "DeleteBucketPublicAccessBlock"
        | "PutBucketPublicAccessBlock" => {
            let bucket = param("bucketName").ok_or_else(|| {
                env.fail("`detail.requestParameters.bucketName` is missing".into())
            })?;
            details.insert("bucket".into(), bucket_exposure(request));
            (format!("arn:{partition}:s3:::{bucket}"), bucket.to_string())
        }
        "StopLogging" | "StartLogging" | "DeleteTrail" | "UpdateTrail" => {
            let trail = param("name")
                .ok_or_else(|| env.fail("`detail.requestParameters.name` is missing".into()))?;
            // `name` is the trail's name or its ARN. These calls are accepted only in the
            // trail's home Region (InvalidHomeRegionException elsewhere), so the call's
            // Region completes a bare name into the same ARN.
            let arn = if trail.starts_with("arn:") {
                trail.to_string()
            } else {
                format!("arn:{partition}:cloudtrail:{region_s}:{account_s}:trail/{trail}")
            };
            let short = arn.rsplit('/').next().unwrap_or(trail).to_string();
            (arn, short)
        }
        "CreateAccessKey" => {
            let for_user = s(at(d, &["responseElements", "accessKey", "userName"]));
            let for_user = if !for_user.is_empty() {
                for_user
            } else {
                param("userName").map(str::to_string).unwrap_or_default()
            };
            details.insert(
                "for_root".into(),
                json!(user_type == "Root" && for_user.is_empty()),
            );
            if user_type == "Root" && for_user.is_empty() {
                (
                    format!("arn:{partition}:iam::{account_s}:root"),
                    "root".to_string(),
                )
            } else {
                let user = if for_user.is_empty() {
                    "caller".to_string()
                } else {
                    for_user
                };
                (
                    format!("arn:{partition}:iam::{account_s}:user/{user}"),
                    format!("user {user}"),
                )
            }
        }
        "ConsoleLogin" => {
            details.insert("login_result".into(), json!(login_result));
            details.insert(
                "mfa_used".into(),
                json!(s(at(d, &["additionalEventData", "MFAUsed"])) == "Yes"),
            );
            let who = if user_type == "Root" {
                "root".to_string()
            } else {
                s(at(d, &["userIdentity", "userName"]))
            };
            let arn = if caller.is_empty() {
                format!("arn:{partition}:iam::{account_s}:{who}")
            } else {
                caller.clone()
            };
            (arn, format!("by {who}"))
        }
        _ => {
            let arn = d
                .get("resources")
                .and_then(Value::as_array)
                .and_then(|l| l.first())
                .and_then(|r| r.get("ARN"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| caller.clone());
            (arn, String::new())
        }
    };
    details.insert("resource".into(), json!(resource));
    let request_text = request
        .map(|r| text::bounded(&r.to_string(), 1024))
        .unwrap_or_default();
    let key_created = s(at(d, &["responseElements", "accessKey", "accessKeyId"]));
    Ok(env.event(
        AlarmKind::CloudTrail,
        Parts {
            dedup_key: cloudtrail_key(&account_s, name, failed_sign_in, &resource, called_at),
            title: match name {
                "AuthorizeSecurityGroupIngress" | "ModifySecurityGroupRules" => {
                    format!("ingress opened on {resource_label}")
                }
                "PutBucketPolicy" => format!("bucket policy set on {resource_label}"),
                "PutBucketAcl" => format!("bucket ACL set on {resource_label}"),
                "DeleteBucketPublicAccessBlock" => {
                    format!("public access block removed from {resource_label}")
                }
                "StopLogging" => format!("logging stopped on trail {resource_label}"),
                "StartLogging" => format!("logging started on trail {resource_label}"),
                "DeleteTrail" => format!("trail {resource_label} deleted"),
                "CreateAccessKey" => format!("access key created for {resource_label}"),
                "ConsoleLogin" if user_type == "Root" && failed_sign_in => {
                    "Root console sign-in failed".to_string()
                }
                "ConsoleLogin" if user_type == "Root" => {
                    "Root user signed in to the console".to_string()
                }
                "ConsoleLogin" if failed_sign_in => {
                    format!("console sign-in failed {resource_label}")
                }
                "ConsoleLogin" => format!("console sign-in {resource_label}"),
                _ if resource_label.is_empty() => format!("CloudTrail {name}"),
                _ => format!("CloudTrail {name} on {resource_label}"),
            },
            signal_type: if failed_sign_in {
                "ConsoleLoginFailure".to_string()
            } else {
                name.to_string()
            },
            // Restarting a trail's logging ends "logging stopped" for that trail.
            state: if name == "StartLogging" {
                AlarmState::Ok
            } else {
                AlarmState::Alarm
            },
            at: called_at,
            severity: None,
            security: true,
            description: None,
            reason: Some(format!(
                "{name} by {} from {}",
                if caller.is_empty() {
                    user_type.clone()
                } else {
                    caller.clone()
                },
                s(d.get("sourceIPAddress"))
            )),
            facts: vec![
                ("Call", format!("{event_source} {name}")),
                ("Caller", caller),
                ("Caller type", user_type),
                ("Source IP", s(d.get("sourceIPAddress"))),
                ("User agent", s(d.get("userAgent"))),
                ("Resource", resource.clone()),
                ("Request", request_text),
                ("Access key created", key_created),
                ("Error", s(d.get("errorCode"))),
                ("Account", account.unwrap_or_default()),
                ("Region", region.unwrap_or_default()),
                ("CloudTrail event id", s(d.get("eventID"))),
            ],
            resources: vec![resource],
            details: Value::Object(details),
            count: None,
            tags,
            feed: None,
            route: None,
        },
    ))
}

/// The incident key of a CloudTrail call.
///
/// - StopLogging / StartLogging: the trail (its ARN), no day: StartLogging of that trail
///   resolves the incident, and a later StopLogging opens a new one.
/// - A failed console sign-in: its own key (per account, principal and UTC day), apart
///   from successful sign-ins, so that failures can neither describe nor mask a real one.
/// - Any other call: call + resource, per UTC day. Repeats group into one incident (one
///   page), and since such a call never reports "fixed", a new day pages again rather than
///   updating an incident nobody resolved.
fn cloudtrail_key(
    account: &str,
    name: &str,
    failed_sign_in: bool,
    resource: &str,
    called_at: DateTime<Utc>,
) -> String {
    let day = called_at.format("%Y-%m-%d");
    match name {
        "StopLogging" | "StartLogging" => format!("cloudtrail:{account}:logging:{resource}"),
        "ConsoleLogin" if failed_sign_in => {
            format!("cloudtrail:{account}:ConsoleLoginFailure:{resource}:{day}")
        }
        _ => format!("cloudtrail:{account}:{name}:{resource}:{day}"),
    }
}

/// `ModifySecurityGroupRules` names the group inside the rule list.
fn first_rule_group(d: &Map<String, Value>) -> Option<String> {
    d.get("requestParameters")?
        .pointer("/ModifySecurityGroupRulesRequest/GroupId")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// CloudTrail writes lists as `{"items": [...]}` and an empty list as `{}`; some writers use
/// a plain array. Both are read.
fn items(value: Option<&Value>) -> Vec<&Value> {
    match value {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(Value::Object(o)) => o
            .get("items")
            .and_then(Value::as_array)
            .map(|l| l.iter().collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The permissions an ingress call grants, one object per permission, each with its own
/// ports and ranges: which port goes with which range is exactly what an event pattern
/// cannot tell (it matches each array field on its own).
fn ingress_rules(request: Option<&Value>) -> Vec<Value> {
    let Some(request) = request else {
        return Vec::new();
    };
    let rule = |protocol: Option<&Value>,
                from: Option<&Value>,
                to: Option<&Value>,
                cidrs: Vec<Value>| {
        json!({
            "protocol": protocol.map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)),
            "from_port": from.and_then(Value::as_i64),
            "to_port": to.and_then(Value::as_i64),
            "cidrs": cidrs,
        })
    };
    let mut rules: Vec<Value> = items(request.get("ipPermissions"))
        .into_iter()
        .map(|p| {
            let mut cidrs: Vec<Value> = items(p.get("ipRanges"))
                .into_iter()
                .filter_map(|r| r.get("cidrIp").cloned())
                .collect();
            cidrs.extend(
                items(p.get("ipv6Ranges"))
                    .into_iter()
                    .filter_map(|r| r.get("cidrIpv6").cloned()),
            );
            rule(
                p.get("ipProtocol"),
                p.get("fromPort"),
                p.get("toPort"),
                cidrs,
            )
        })
        .collect();
    // The older single-rule form: `cidrIp`, `ipProtocol`, `fromPort`, `toPort` at the top.
    if let Some(cidr) = request.get("cidrIp") {
        rules.push(rule(
            request.get("ipProtocol"),
            request.get("fromPort"),
            request.get("toPort"),
            vec![cidr.clone()],
        ));
    }
    // ModifySecurityGroupRules: `SecurityGroupRule` (one or a list) under the request,
    // each with `SecurityGroupRule.{IpProtocol, FromPort, ToPort, CidrIpv4, CidrIpv6}`.
    let modified = request.pointer("/ModifySecurityGroupRulesRequest/SecurityGroupRule");
    let modified: Vec<&Value> = match modified {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    };
    for m in modified {
        let r = m.get("SecurityGroupRule").unwrap_or(m);
        let cidrs: Vec<Value> = ["CidrIpv4", "CidrIpv6"]
            .iter()
            .filter_map(|k| r.get(*k).cloned())
            .collect();
        rules.push(rule(
            r.get("IpProtocol"),
            r.get("FromPort"),
            r.get("ToPort"),
            cidrs,
        ));
    }
    rules
}

/// S3 counts a policy as not public only when a condition pins the caller to fixed
/// values of these keys (a source IP, VPC, account, organisation, ARN...); any other
/// condition (`aws:SecureTransport`, `aws:Referer`) leaves it public.
const RESTRICTING_CONDITION_KEYS: [&str; 14] = [
    "aws:sourceip",
    "aws:sourcearn",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceaccount",
    "aws:sourceowner",
    "aws:sourceorgid",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:userid",
    "s3:dataaccesspointarn",
    "s3:dataaccesspointaccount",
];

fn restricts_callers(condition: Option<&Value>) -> bool {
    condition
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|operators| operators.values())
        .filter_map(Value::as_object)
        .flat_map(|keys| keys.keys())
        .any(|key| RESTRICTING_CONDITION_KEYS.contains(&key.to_ascii_lowercase().as_str()))
}

/// Whether a bucket call makes the bucket public: a policy statement that allows everyone
/// (`"Principal": "*"`, `{"AWS": "*"}` or `NotPrincipal`) unless a condition pins the caller
/// (see [`RESTRICTING_CONDITION_KEYS`]), an ACL grant to the AllUsers / AuthenticatedUsers
/// groups, or a public canned ACL. Removing a public access block is not flagged here.
fn bucket_exposure(request: Option<&Value>) -> Value {
    let Some(request) = request else {
        return json!({"public": false, "why": []});
    };
    let mut why: Vec<String> = Vec::new();
    let policy = match request.get("bucketPolicy") {
        Some(Value::String(raw)) => serde_json::from_str::<Value>(raw).ok(),
        Some(v @ Value::Object(_)) => Some(v.clone()),
        _ => None,
    };
    if let Some(policy) = policy {
        let statements = match policy.get("Statement") {
            Some(Value::Array(l)) => l.clone(),
            Some(v @ Value::Object(_)) => vec![v.clone()],
            _ => Vec::new(),
        };
        for st in statements {
            let allows = st.get("Effect").and_then(Value::as_str) == Some("Allow");
            let everyone = match st.get("Principal") {
                Some(Value::String(p)) => p == "*",
                Some(Value::Object(p)) => p.get("AWS").is_some_and(|a| match a {
                    Value::String(s) => s == "*",
                    Value::Array(l) => l.iter().any(|x| x.as_str() == Some("*")),
                    _ => false,
                }),
                _ => false,
            };
            // `NotPrincipal` with Allow grants everyone but the ones named.
            let everyone = everyone || st.get("NotPrincipal").is_some();
            if allows && everyone && !restricts_callers(st.get("Condition")) {
                why.push(format!(
                    "policy statement {} allows everyone",
                    st.get("Sid").and_then(Value::as_str).unwrap_or("(no Sid)")
                ));
            }
        }
    }
    let grants = match request.pointer("/AccessControlPolicy/AccessControlList/Grant") {
        Some(Value::Array(l)) => l.clone(),
        Some(v @ Value::Object(_)) => vec![v.clone()],
        _ => Vec::new(),
    };
    for g in grants {
        if let Some(uri) = g.pointer("/Grantee/URI").and_then(Value::as_str) {
            if uri.ends_with("/global/AllUsers") || uri.ends_with("/global/AuthenticatedUsers") {
                why.push(format!(
                    "ACL grants {} to {}",
                    s(g.get("Permission")),
                    uri.rsplit('/').next().unwrap_or(uri)
                ));
            }
        }
    }
    // Canned ACLs arrive as the `x-amz-acl` header parameter.
    if let Some(canned) = request.get("x-amz-acl").and_then(|v| match v {
        Value::Array(l) => l.first().and_then(Value::as_str),
        Value::String(s) => Some(s.as_str()),
        _ => None,
    }) {
        if matches!(
            canned,
            "public-read" | "public-read-write" | "authenticated-read"
        ) {
            why.push(format!("canned ACL {canned}"));
        }
    }
    json!({"public": !why.is_empty(), "why": why})
}
