"""Assertions on Klaxon's CloudFormation templates that linters do not make (run by
scripts/infra-check with the cfn-lint virtualenv's Python, offline, on the SAM templates and
on the synthesized CDK template; infra/tests/test_check_templates.py shows that each one
rejects a template broken for its reason):

- no IAM statement grants `*` or `service:*` actions;
- every `Resource: "*"` carries its reason on the same line (YAML templates);
- every asynchronous hop has somewhere to put what it cannot deliver: each EventBridge rule
  target a dead-letter queue and a retry policy, each function invoked asynchronously an
  on-failure destination, each SNS subscription a redrive policy (or a written reason);
- every function logs to a log group with retention;
- every function is fed by an EventBridge rule, whose target is named after the function's
  binary (so each generated rule reaches the handler it was generated for);
- each intake function pages only its own routes' topics (the security intake only the
  security topic: security incidents are pinned to the security route);
- Klaxon's own alarms are named `${AWS::StackName}-...`, and the alarm intake rule excludes
  exactly this stack's alarms (`resources`: anything-but the ARN prefix
  `arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:${AWS::StackName}-`,
  an `Fn::Sub`), not every alarm named `klaxon-*`; a rule named in infra/rules.json has
  exactly its generated pattern;
- every topic's policy denies sns:Publish to every principal (`Principal: "*"`, no
  `NotPrincipal`) except exactly the roles that publish to it (`aws:PrincipalArn`, their
  role ARNs, no wildcard); a topic that lets an AWS service publish keeps services out of
  that Deny (`Bool aws:PrincipalIsAWSService false`), and lets CloudWatch publish only for
  this stack's alarms (`aws:SourceAccount`, and `aws:SourceArn` ArnLike the ARN prefix
  above with `*`); every topic an alarm of the template notifies has that Allow;
- each intake role's `events:PutEvents` is limited to Klaxon's sources
  (`ForAllValues:StringEquals events:source` = infra/rules.json `event_sources`, with a
  `Null` check);
- each intake role reaches DynamoDB only with item actions (no Scan, no BatchGetItem, no
  PartiQL, no table management), on the table only (no index: no handler queries one), and
  only the partitions of its handler (`ForAllValues:StringLike dynamodb:LeadingKeys` =
  infra/rules.json `leading_keys`, with `Null` `dynamodb:LeadingKeys: "false"`, without which
  a request with no key would pass a ForAllValues test);
- a queue that is a rule's dead-letter queue lets exactly the rules that use it send to it
  (`ArnEquals aws:SourceArn`, each rule's ARN, no wildcard); every queue policy statement
  for an AWS service names its sources (`aws:SourceArn`);
- rejections are never silent: each intake function's log group has a metric filter
  `{ $.outcome = "rejected" }` (value 1), and an alarm with an action fires on its sum > 0.

Exit status 1 with one line per problem.
"""
import json
import re
import sys
from pathlib import Path

from cfnlint.decode import decode

RULES_JSON = Path(__file__).resolve().parents[1] / "rules.json"

# The topics each intake handler (its binary) may publish to; functions of other binaries
# are not checked.
PAGE_TOPICS = {
    "alarm-intake": {"ProductionTopic", "TestTopic", "SecurityTopic", "OpsTopic"},
    "health-intake": {"ProductionTopic", "TestTopic", "OpsTopic"},  # no security route
    "security-intake": {"SecurityTopic"},  # pinned to the security route
}

# What an intake role may do with its table: the items a transaction writes and reads.
DYNAMODB_ITEM_ACTIONS = {
    "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem", "dynamodb:BatchWriteItem", "dynamodb:Query",
}
NEGATED_ARN_OPERATORS = ("ArnNotEquals", "ArnNotLike", "StringNotEquals", "StringNotLike")


def statements(doc):
    stmts = doc.get("Statement", []) if isinstance(doc, dict) else []
    return stmts if isinstance(stmts, list) else [stmts]


def as_list(value):
    return value if isinstance(value, list) else [value]


def sub_text(value):
    """The text of a plain string or a !Sub string."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    return None


def base_id(logical_id):
    """A logical id without CDK's hash suffix: `SecurityTopic1A2B3C4D` -> `SecurityTopic`."""
    return re.sub(r"[0-9A-F]{8}$", "", logical_id)


def text(value):
    """A value as one comparable string, alike in SAM and CDK: `${AWS::StackName}` for the
    pseudo parameters, `<Id>` for a reference and `<Id.Attr>` for an attribute (ids without
    CDK's hash); `Fn::Sub` and `Fn::Join` rendered. None for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (fn, arg), = value.items()
        if fn == "Ref":
            return f"${{{arg}}}" if str(arg).startswith("AWS::") else f"<{base_id(arg)}>"
        if fn == "Fn::GetAtt":
            parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
            return f"<{base_id(parts[0])}.{parts[1]}>"
        if fn == "Fn::Sub":
            sub = arg if isinstance(arg, str) else arg[0]

            def one(m):
                ref = m.group(1)
                if ref.startswith("AWS::"):
                    return m.group(0)
                name, _, attr = ref.partition(".")
                return f"<{base_id(name)}.{attr}>" if attr else f"<{base_id(name)}>"
            return re.sub(r"\$\{([^}!]+)\}", one, sub)
        if fn == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
            parts = [text(p) for p in arg[1]]
            return None if None in parts else arg[0].join(parts)
    return None


def refers_to(value, logical_id):
    text_ = repr(value)
    return f"'{logical_id}'" in text_ or f"'{logical_id}." in text_


def binary(res):
    return res.get("Metadata", {}).get("BuildProperties", {}).get("Binary")


def handler_of(res):
    """The intake handler a function runs: its binary (SAM), or the suffix of its name
    `${AWS::StackName}-<handler>` (CDK)."""
    if binary(res):
        return binary(res)
    name = text(res.get("Properties", {}).get("FunctionName")) or ""
    prefix = "${AWS::StackName}-"
    return name[len(prefix):] if name.startswith(prefix) else None


def getatt_target(value):
    """The logical id of `!GetAtt X.Arn` (decoded as {"Fn::GetAtt": [X, "Arn"]})."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        att = value["Fn::GetAtt"]
        return att[0] if isinstance(att, list) else str(att).split(".")[0]
    return None


def ref_target(value):
    return value.get("Ref") if isinstance(value, dict) else None


def role_statements(resources, role_id):
    """The statements of a role's inline policies and of the policies attached to it."""
    role = resources.get(role_id, {})
    docs = [p.get("PolicyDocument", {}) for p in role.get("Properties", {}).get("Policies", [])]
    for res in resources.values():
        if res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            roles = res.get("Properties", {}).get("Roles", [])
            if any(isinstance(r, dict) and r.get("Ref") == role_id for r in roles):
                docs.append(res["Properties"].get("PolicyDocument", {}))
    return [stmt for doc in docs for stmt in statements(doc)]


def load_rules():
    return json.loads(RULES_JSON.read_text())


def check_template(name, template, raw="", rules=None):
    """The problems of one decoded template, one line each."""
    rules = rules or load_rules()
    problems = []

    def problem(message):
        problems.append(f"{name}: {message}")

    resources = template.get("Resources", {})
    functions = [n for n, r in resources.items()
                 if r["Type"] in ("AWS::Serverless::Function", "AWS::Lambda::Function")]
    intake_functions = [fn for fn in functions if handler_of(resources[fn]) in PAGE_TOPICS]

    # 1. IAM actions.
    for rid, res in resources.items():
        docs = []
        props = res.get("Properties", {})
        if res["Type"] == "AWS::IAM::Role":
            docs += [p["PolicyDocument"] for p in props.get("Policies", [])]
            docs.append(props.get("AssumeRolePolicyDocument", {}))
        elif res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            docs.append(props.get("PolicyDocument", {}))
        elif res["Type"] in ("AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy"):
            docs.append(props.get("PolicyDocument", {}))
        elif res["Type"] == "AWS::KMS::Key":
            docs.append(props.get("KeyPolicy", {}))
        for doc in docs:
            for stmt in statements(doc):
                for action in as_list(stmt.get("Action", [])):
                    if not isinstance(action, str):
                        continue
                    if action == "*" or action.endswith(":*"):
                        problem(f"{rid}: action `{action}` is a wildcard")

    # 2. Resource "*" needs its reason on the line (YAML; JSON has no comments).
    for number, line in enumerate(raw.splitlines(), 1):
        if re.search(r'Resource:\s*"\*"', line) and "#" not in line.split('"*"', 1)[1]:
            problem(f"line {number}: `Resource: \"*\"` without a reason comment")

    # 3. Asynchronous hops.
    invoke_configs = [r for r in resources.values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"]
    for rid, res in resources.items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::Events::Rule":
            for target in props.get("Targets", []):
                if "Arn" not in target.get("DeadLetterConfig", {}):
                    problem(f"{rid}: target {target.get('Id')} has no dead-letter queue")
                if "RetryPolicy" not in target:
                    problem(f"{rid}: target {target.get('Id')} has no explicit retry policy")
        if res["Type"] == "AWS::SNS::Subscription":
            ignored = res.get("Metadata", {}).get("cfn-lint", {}).get("config", {}).get("ignore_checks", [])
            if "RedrivePolicy" not in props and "ES7000" not in ignored:
                problem(f"{rid}: subscription without a redrive policy (or a written reason)")
    for fn in functions:
        configs = [c for c in invoke_configs if refers_to(c["Properties"].get("FunctionName"), fn)]
        if not any(c["Properties"].get("DestinationConfig", {}).get("OnFailure") for c in configs):
            problem(f"{fn}: asynchronous invocations have no on-failure destination")
        if not any("MaximumRetryAttempts" in c["Properties"] for c in configs):
            problem(f"{fn}: no explicit retry attempts for asynchronous invocations")

    # 4. Logs with retention.
    for fn in functions:
        group = resources[fn]["Properties"].get("LoggingConfig", {}).get("LogGroup")
        target = group.get("Ref") if isinstance(group, dict) else None
        if not target or "RetentionInDays" not in resources.get(target, {}).get("Properties", {}):
            problem(f"{fn}: no log group with retention (LoggingConfig.LogGroup)")

    # 5. Every function is fed by a rule; a target is named after the handler it reaches.
    fed = set()
    rules_of_handler = {}
    for rid, res in resources.items():
        if res["Type"] != "AWS::Events::Rule":
            continue
        for target in res.get("Properties", {}).get("Targets", []):
            fn = getatt_target(target.get("Arn"))
            if fn not in functions:
                continue
            fed.add(fn)
            expected = handler_of(resources[fn])
            rules_of_handler.setdefault(expected, []).append(rid)
            if expected and target.get("Id") != expected:
                problem(f"{rid}: target {target.get('Id')} reaches {fn}, the function of {expected}")
    for fn in functions:
        if fn not in fed:
            problem(f"{fn}: no EventBridge rule targets it")

    # 6. Each intake function pages only its own routes' topics.
    for fn in intake_functions:
        allowed = PAGE_TOPICS[handler_of(resources[fn])]
        role_id = getatt_target(resources[fn]["Properties"].get("Role"))
        if not role_id:
            continue
        for stmt in role_statements(resources, role_id):
            if stmt.get("Effect") != "Allow" or "sns:Publish" not in as_list(stmt.get("Action", [])):
                continue
            for target in as_list(stmt.get("Resource", [])):
                topic = ref_target(target)
                if topic is None or base_id(topic) not in allowed:
                    problem(f"{fn}: publishes to {topic or target}, outside its routes {sorted(allowed)}")

    # 7. Klaxon's own alarms are named `${AWS::StackName}-...`.
    name_prefix = rules["self_alarm_name_prefix"]
    for rid, res in resources.items():
        if res["Type"] == "AWS::CloudWatch::Alarm":
            alarm_name = text(res["Properties"].get("AlarmName"))
            if not alarm_name or not alarm_name.startswith(name_prefix):
                problem(f"{rid}: Klaxon's own alarms must be named `{name_prefix}...` "
                        f"(the alarm rule excludes this stack's alarms by that prefix), not {alarm_name!r}")

    # 8. The alarm rule excludes this stack's own alarms only; generated rules as generated.
    arn_prefix = rules["self_alarm_arn_prefix"]
    exclusion = [{"anything-but": {"prefix": {"Fn::Sub": arn_prefix}}}]
    generated = {r["name"]: r["event_pattern"] for r in rules["rules"]}
    for rid in rules_of_handler.get("alarm-intake", []):
        pattern = json.loads(json.dumps(resources[rid]["Properties"].get("EventPattern", {})))
        if pattern.get("resources") != exclusion:
            problem(f"{rid}: the alarm rule must exclude only this stack's own alarms "
                    f"(`resources`: {json.dumps(exclusion)}), not {json.dumps(pattern.get('resources'))}")
    for rid, res in resources.items():
        if res["Type"] == "AWS::Events::Rule" and rid in generated:
            pattern = json.loads(json.dumps(res["Properties"].get("EventPattern", {})))
            if pattern != generated[rid]:
                problem(f"{rid}: its event pattern differs from infra/rules.json (run `klaxon infra rules`)")

    # 9. Topic policies: who may publish.
    own_alarms = {"Fn::Sub": arn_prefix + "*"}
    publishers = {}  # topic -> the roles whose IAM allows sns:Publish on it
    for rid, res in resources.items():
        if res["Type"] != "AWS::IAM::Role":
            continue
        for stmt in role_statements(resources, rid):
            if stmt.get("Effect") == "Allow" and "sns:Publish" in as_list(stmt.get("Action", [])):
                for target in as_list(stmt.get("Resource", [])):
                    if ref_target(target):
                        publishers.setdefault(ref_target(target), set()).add(rid)
    notified = set()  # topics the template's alarms publish to
    for res in resources.values():
        if res["Type"] == "AWS::CloudWatch::Alarm":
            for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
                actions = res["Properties"].get(key, [])
                notified.update(t for t in re.findall(r"'Ref': '([A-Za-z0-9]+)'", repr(actions)))
    for topic, res in resources.items():
        if res["Type"] != "AWS::SNS::Topic":
            continue
        stmts = [stmt for pol in resources.values() if pol["Type"] == "AWS::SNS::TopicPolicy"
                 and any(ref_target(t) == topic for t in pol["Properties"].get("Topics", []))
                 for stmt in statements(pol["Properties"].get("PolicyDocument", {}))]
        for stmt in stmts:
            if "NotPrincipal" in stmt:
                problem(f"{topic}: a topic policy statement uses NotPrincipal; deny with "
                        "`Principal: \"*\"` and an `aws:PrincipalArn` condition instead")
        service_allows = [s for s in stmts if s.get("Effect") == "Allow"
                          and isinstance(s.get("Principal"), dict) and "Service" in s["Principal"]]
        for stmt in service_allows:
            cond = json.loads(json.dumps(stmt.get("Condition", {})))
            if cond.get("StringEquals", {}).get("aws:SourceAccount") != {"Ref": "AWS::AccountId"}:
                problem(f"{topic}: the Allow for {stmt['Principal']['Service']} lacks aws:SourceAccount")
            if "cloudwatch.amazonaws.com" in as_list(stmt["Principal"]["Service"]):
                if cond.get("ArnLike", {}).get("aws:SourceArn") != own_alarms:
                    problem(f"{topic}: CloudWatch may publish only for this stack's alarms: "
                            f"ArnLike aws:SourceArn {json.dumps(own_alarms)}, not "
                            f"{json.dumps(cond.get('ArnLike', cond.get('ArnEquals')))}")
        cloudwatch_allowed = any("cloudwatch.amazonaws.com" in as_list(s["Principal"]["Service"])
                                 for s in service_allows)
        if topic in notified and not cloudwatch_allowed:
            problem(f"{topic}: alarms publish to it, but its policy has no Allow for CloudWatch")
        expected_roles = sorted(publishers.get(topic, set()))
        denies = [s for s in stmts if s.get("Effect") == "Deny"
                  and "sns:Publish" in as_list(s.get("Action", [])) and s.get("Principal") in ("*", {"AWS": "*"})]
        if not denies:
            problem(f"{topic}: no Deny of sns:Publish for every principal but Klaxon's publishing roles "
                    f"({expected_roles}): in the account any role allowed sns:Publish could page")
            continue
        deny = denies[0]
        cond = json.loads(json.dumps(deny.get("Condition", {})))
        exceptions = [(op, values["aws:PrincipalArn"]) for op, values in cond.items()
                      if op in NEGATED_ARN_OPERATORS and "aws:PrincipalArn" in values]
        roles = sorted(getatt_target(v) or repr(v) for _, v in exceptions for v in as_list(v))
        if expected_roles and not exceptions:
            problem(f"{topic}: its Deny of sns:Publish has no aws:PrincipalArn exception for "
                    f"the roles that publish to it ({expected_roles})")
        elif roles != expected_roles:
            problem(f"{topic}: its Deny of sns:Publish must except exactly the roles that publish "
                    f"to it, by ARN ({expected_roles}), not {roles}")
        service_exempt = cond.get("Bool", {}).get("aws:PrincipalIsAWSService") == "false"
        if service_allows and not service_exempt:
            problem(f"{topic}: an AWS service may publish to it, but its Deny does not leave AWS "
                    "services out (`Bool aws:PrincipalIsAWSService false`)")
        if service_exempt and not service_allows:
            problem(f"{topic}: its Deny leaves AWS services out, but no service may publish to it")
        others = {op: keys for op, keys in cond.items()
                  if not (op in NEGATED_ARN_OPERATORS and list(keys) == ["aws:PrincipalArn"])
                  and not (op == "Bool" and list(keys) == ["aws:PrincipalIsAWSService"])}
        if others:
            problem(f"{topic}: its Deny of sns:Publish has other conditions, which narrow it: {others}")

    # 10. and 11. The intake roles: events:PutEvents by source, DynamoDB by partition.
    sources = sorted(rules["event_sources"])
    for fn in intake_functions:
        handler = handler_of(resources[fn])
        role_id = getatt_target(resources[fn]["Properties"].get("Role"))
        if not role_id:
            continue
        keys = sorted(rules["leading_keys"].get(handler, []))
        for stmt in role_statements(resources, role_id):
            actions = [a for a in as_list(stmt.get("Action", [])) if isinstance(a, str)]
            cond = json.loads(json.dumps(stmt.get("Condition", {})))
            if stmt.get("Effect") != "Allow":
                continue
            if "events:PutEvents" in actions:
                got = cond.get("ForAllValues:StringEquals", {}).get("events:source")
                if sorted(as_list(got or [])) != sources:
                    problem(f"{role_id}: events:PutEvents must be limited to Klaxon's sources "
                            f"(ForAllValues:StringEquals events:source {sources}), not {got}")
                if cond.get("Null", {}).get("events:source") != "false":
                    problem(f"{role_id}: events:PutEvents needs the Null check events:source \"false\"")
            ddb = [a for a in actions if a.startswith("dynamodb:")]
            if not ddb:
                continue
            extra = sorted(set(ddb) - DYNAMODB_ITEM_ACTIONS)
            if extra:
                problem(f"{role_id}: DynamoDB actions beyond the items its handler writes: {extra} "
                        "(no Scan, no BatchGetItem, no PartiQL, no table management)")
            for target in as_list(stmt.get("Resource", [])):
                if "/index/" in (text(target) or "") or getatt_target(target) is None:
                    problem(f"{role_id}: DynamoDB on {text(target) or target}: the table only, no index "
                            "(no handler queries one; an index query would need its own LeadingKeys)")
            got = cond.get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
            if sorted(as_list(got or [])) != keys:
                problem(f"{role_id}: DynamoDB must be limited to {handler}'s partitions "
                        f"(ForAllValues:StringLike dynamodb:LeadingKeys {keys}), not {got}")
            if cond.get("Null", {}).get("dynamodb:LeadingKeys") != "false":
                problem(f"{role_id}: DynamoDB needs the Null check dynamodb:LeadingKeys \"false\" "
                        "(a ForAllValues test passes a request without the key)")
            others = sorted(set(cond) - {"ForAllValues:StringLike", "Null"})
            if others:
                problem(f"{role_id}: unexpected conditions on its DynamoDB statement: {others}")

    # 12. Queue policies: AWS services by source; a rule's dead-letter queue, its rules only.
    dlq_rules = {}  # queue -> the rules whose targets use it as dead-letter queue
    for rid, res in resources.items():
        if res["Type"] == "AWS::Events::Rule":
            for target in res.get("Properties", {}).get("Targets", []):
                queue = getatt_target(target.get("DeadLetterConfig", {}).get("Arn"))
                if queue:
                    dlq_rules.setdefault(queue, set()).add(rid)
    queue_statements = {}
    for rid, res in resources.items():
        if res["Type"] != "AWS::SQS::QueuePolicy":
            continue
        for q in res["Properties"].get("Queues", []):
            queue_statements.setdefault(ref_target(q), []).extend(
                statements(res["Properties"].get("PolicyDocument", {})))
    for queue, stmts in queue_statements.items():
        for stmt in stmts:
            principal = stmt.get("Principal")
            if stmt.get("Effect") == "Allow" and isinstance(principal, dict) and "Service" in principal:
                cond = json.loads(json.dumps(stmt.get("Condition", {})))
                if not any("aws:SourceArn" in cond.get(op, {}) for op in ("ArnEquals", "ArnLike")):
                    problem(f"{queue}: {principal['Service']} may send without an aws:SourceArn condition")
    for queue, users in dlq_rules.items():
        allows = [s for s in queue_statements.get(queue, []) if s.get("Effect") == "Allow"
                  and "events.amazonaws.com" in as_list((s.get("Principal") or {}).get("Service", []))]
        if not allows:
            problem(f"{queue}: dead-letter queue of {sorted(users)}, but no policy lets EventBridge send to it")
        for stmt in allows:
            cond = json.loads(json.dumps(stmt.get("Condition", {})))
            arns = cond.get("ArnEquals", {}).get("aws:SourceArn")
            got = sorted(getatt_target(a) or repr(a) for a in as_list(arns or []))
            if "ArnLike" in cond or got != sorted(users):
                problem(f"{queue}: dead-letter queue of {sorted(users)}: EventBridge may send for "
                        f"exactly these rules (ArnEquals aws:SourceArn of each), not "
                        f"{json.dumps(cond.get('ArnLike') or arns)}")

    # 13. Rejections are never silent: each intake function's log group counts its
    # `outcome = "rejected"` lines, and an alarm watches that count.
    for fn in intake_functions:
        group = resources[fn]["Properties"].get("LoggingConfig", {}).get("LogGroup")
        target = group.get("Ref") if isinstance(group, dict) else None
        metrics = [
            (text(t.get("MetricNamespace")), t.get("MetricName"))
            for r in resources.values()
            if r["Type"] == "AWS::Logs::MetricFilter"
            and ref_target(r["Properties"].get("LogGroupName")) == target
            and re.fullmatch(r'\{\s*\$\.outcome\s*=\s*"rejected"\s*\}',
                             r["Properties"].get("FilterPattern", ""))
            for t in r["Properties"].get("MetricTransformations", [])
            if str(t.get("MetricValue")) == "1"
        ]
        if not metrics:
            problem(f"{fn}: rejections are not counted: no metric filter "
                    f'{{ $.outcome = "rejected" }} on its log group')
            continue
        watched = any(
            (text(a["Properties"].get("Namespace")),
             a["Properties"].get("MetricName")) in metrics
            and a["Properties"].get("Statistic") == "Sum"
            and a["Properties"].get("ComparisonOperator") == "GreaterThanThreshold"
            and float(a["Properties"].get("Threshold", -1)) == 0
            and a["Properties"].get("AlarmActions")
            for a in resources.values() if a["Type"] == "AWS::CloudWatch::Alarm")
        if not watched:
            problem(f"{fn}: rejections are counted but no alarm (Sum > 0, with an action) "
                    f"watches {metrics[0][1]}")
    return problems


def check(path):
    template, matches = decode(str(path))
    if matches:
        return [f"{path}: cannot parse: {matches}"]
    return check_template(str(path), template, Path(path).read_text() if str(path).endswith((".yaml", ".yml")) else "")


def main(paths):
    problems = [p for path in paths for p in check(path)]
    for p in problems:
        print(p)
    if problems:
        sys.exit(1)
    print(f"template assertions: {len(paths)} template(s), no problem")


if __name__ == "__main__":
    main(sys.argv[1:])
