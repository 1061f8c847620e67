//! Reading a CloudTrail call's request: CloudTrail's lists, the permissions of an ingress
//! call, whether a bucket call makes the bucket public.

use serde_json::{json, Value};

use crate::intake::fields::s;

/// CloudTrail writes lists as `{"items": [...]}` and an empty list as `{}`; some writers use
/// a plain array. Both are read.
pub(in crate::intake) fn items(value: Option<&Value>) -> Vec<&Value> {
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
pub(in crate::intake) fn ingress_rules(request: Option<&Value>) -> Vec<Value> {
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
pub(in crate::intake) const RESTRICTING_CONDITION_KEYS: [&str; 14] = [
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

pub(in crate::intake) fn restricts_callers(condition: Option<&Value>) -> bool {
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
pub(in crate::intake) fn bucket_exposure(request: Option<&Value>) -> Value {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Each permission keeps its own ports and ranges (what an event pattern cannot tie).
    #[test]
    fn ingress_permissions_keep_ports_with_their_ranges() {
        let request = json!({"ipPermissions": {"items": [
            {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
             "ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}},
            {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443,
             "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {}}
        ]}});
        let rules = ingress_rules(Some(&request));
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0]["from_port"], 22);
        assert_eq!(rules[0]["cidrs"], json!(["10.0.0.0/8"]));
        assert_eq!(rules[1]["from_port"], 443);
        assert_eq!(rules[1]["cidrs"], json!(["0.0.0.0/0"]));
        // CloudTrail's empty list is `{}`; a plain array is read too.
        assert!(ingress_rules(Some(&json!({"ipPermissions": {}}))).is_empty());
        assert_eq!(items(Some(&json!([1, 2]))).len(), 2);
    }

    #[test]
    fn a_bucket_is_public_unless_a_condition_pins_the_caller() {
        let policy = |condition: Value| {
            json!({"bucketPolicy": {"Statement": [{"Effect": "Allow", "Principal": "*",
                "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*", "Condition": condition}]}})
        };
        let open = bucket_exposure(Some(&policy(json!({}))));
        assert_eq!(open["public"], true, "{open}");
        let pinned = bucket_exposure(Some(&policy(
            json!({"StringEquals": {"aws:SourceVpc": "vpc-1"}}),
        )));
        assert_eq!(pinned["public"], false, "{pinned}");
        // A condition that does not pin the caller leaves it public.
        let tls = bucket_exposure(Some(&policy(
            json!({"Bool": {"aws:SecureTransport": "true"}}),
        )));
        assert_eq!(tls["public"], true, "{tls}");
        let acl = bucket_exposure(Some(&json!({"x-amz-acl": ["public-read"]})));
        assert_eq!(acl["public"], true, "{acl}");
    }
}
