"""Assertions on Klaxon's CloudFormation templates that linters do not make (run by
scripts/infra-check with the cfn-lint virtualenv's Python, offline, on the SAM templates and
on the synthesized CDK template; infra/tests/test_check_templates.py shows that each one
rejects a template broken for its reason):

- no IAM statement grants `*` or `service:*` actions;
- every `Resource: "*"` carries its reason on the same line (YAML templates);
- every asynchronous hop has somewhere to put what it cannot deliver: each EventBridge rule
  target a dead-letter queue and a retry policy, each function invoked asynchronously an
  on-failure destination, each SNS subscription a redrive policy (or a written reason). A
  function reached only through its function URL (no rule, no subscription, no event source
  mapping, no permission but for its URL) is invoked synchronously: the HTTP client gets the
  error, there is no event to keep, so it needs no on-failure destination; an alarm with an
  action must watch its errors instead;
- every function logs to a log group with retention;
- every function but those reached only through their URL is fed by an EventBridge rule,
  whose target is named after the function's binary (so each generated rule reaches the
  handler it was generated for);
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
  `{ $.outcome = "rejected" }` (value 1), and an alarm with an action fires on its sum > 0;
- the responder functions (a template with intake functions has both): `responder` has one
  function URL with AuthType NONE, reserved concurrency, and for `Principal: "*"` both
  permissions a function URL needs since October 2025, `lambda:InvokeFunctionUrl` (with
  `FunctionUrlAuthType` NONE) and `lambda:InvokeFunction` (with `InvokedViaFunctionUrl`
  true), and no permission that lets anyone invoke it but through its URL; `responder-api`
  one function URL with AuthType AWS_IAM, reserved concurrency, no permission for everyone,
  and a managed policy granting both actions on it alone, each with its condition
  (`lambda:FunctionUrlAuthType` AWS_IAM, `lambda:InvokedViaFunctionUrl` true); every intake
  function and `responder-api` (whose resolves page "resolved by a person") have
  `KLAXON_RESPONDER_URL` = the responder's function URL (not required of `responder`: its own
  URL depends on it, a circular dependency CloudFormation refuses);
- each responder role calls only what it needs: its log group, DynamoDB item actions (no
  Scan, no batch, no PartiQL, no table management) on the table only in the responders'
  partitions (`ForAllValues:StringLike dynamodb:LeadingKeys` exactly `ALARM#*`, `EVENT#*`,
  `INCIDENT#*`, `LINK#*`, with the `Null` check) and Query on the `open-incidents` and
  `by-service` indexes by their partition keys (`OPEN`, `SERVICE#*`), sns:Publish on the route
  topics, events:PutEvents limited like the intakes', Klaxon's key; no CloudWatch, no
  tagging;
- no function is deployed with `KLAXON_LOCAL_SIGV4_SECRET` (the local-run signature check of
  the responder API, `respond/local_sigv4.rs`: a deployment has IAM do it).

Exit status 1 with one line per problem.
"""
import json
import re
import sys
from pathlib import Path

from cfnlint.decode import decode

RULES_JSON = Path(__file__).resolve().parents[1] / "rules.json"

ROUTE_TOPICS = {"ProductionTopic", "TestTopic", "SecurityTopic", "OpsTopic"}

# The topics each handler (its binary) may publish to; functions of other binaries are not
# checked.
PAGE_TOPICS = {
    "alarm-intake": ROUTE_TOPICS,
    "health-intake": {"ProductionTopic", "TestTopic", "OpsTopic"},  # no security route
    "security-intake": {"SecurityTopic"},  # pinned to the security route
    # "Resolved by a person" goes to the routes the incident's pages went to: any route.
    "responder": ROUTE_TOPICS,
    "responder-api": ROUTE_TOPICS,
}
INTAKE_HANDLERS = {"alarm-intake", "health-intake", "security-intake"}

# The handlers reached only through their function URL, and its AuthType: the incident page
# that the links in pages open (public: the link token in the URL is the credential) and the
# responders' JSON API (IAM).
RESPONDER_AUTH = {"responder": "NONE", "responder-api": "AWS_IAM"}
URL_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"

# What an intake role may do with its table: the items a transaction writes and reads.
DYNAMODB_ITEM_ACTIONS = {
    "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem", "dynamodb:BatchWriteItem", "dynamodb:Query",
}
NEGATED_ARN_OPERATORS = ("ArnNotEquals", "ArnNotLike", "StringNotEquals", "StringNotLike")

# What a responder role may call (no CloudWatch, no tagging, no runbook metrics), and the
# indexes it may query with their partition keys (an index query's leading key).
RESPONDER_ACTIONS = {
    "logs:CreateLogStream", "logs:PutLogEvents", "sns:Publish", "events:PutEvents",
    "kms:Decrypt", "kms:GenerateDataKey",
}
RESPONDER_DYNAMODB_ACTIONS = {
    "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem", "dynamodb:Query",
}
RESPONDER_INDEXES = {"open-incidents", "by-service"}
RESPONDER_INDEX_KEYS = ["OPEN", "SERVICE#*"]
# The partitions of the table a responder reads and writes: incidents, timelines and outbox,
# the trackers of any source (an action is serialised on its incident's tracker), the actions'
# idempotency records (`EVENT#action:<incident>:<action id>`) and links (read by the page;
# written by responder-api, whose resolve pages carry a new link; the page's own carry none).
# Not REJECTED#: only the intakes record rejected events.
RESPONDER_TABLE_KEYS = ["ALARM#*", "EVENT#*", "INCIDENT#*", "LINK#*"]


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


def function_urls(resources, fn):
    """The AWS::Lambda::Url resources of a function."""
    return [rid for rid, r in resources.items() if r["Type"] == "AWS::Lambda::Url"
            and refers_to(r.get("Properties", {}).get("TargetFunctionArn"), fn)]


def permissions_of(resources, fn):
    """The AWS::Lambda::Permission resources on a function: (logical id, properties)."""
    return [(rid, r.get("Properties", {})) for rid, r in resources.items()
            if r["Type"] == "AWS::Lambda::Permission"
            and refers_to(r.get("Properties", {}).get("FunctionName"), fn)]


def is_true(value):
    return value is True or str(value).lower() == "true"


def through_url_only(props):
    """A permission that applies only to requests through the function URL."""
    action = props.get("Action")
    return action == "lambda:InvokeFunctionUrl" or (
        action == "lambda:InvokeFunction" and is_true(props.get("InvokedViaFunctionUrl")))


def synchronous_only(resources, fn):
    """A function reached only through its function URL. Lambda invokes it synchronously for
    the HTTP client, which gets the answer or the error: there is no asynchronous event to
    retry, to put in a dead-letter queue or to send to an on-failure destination. Anything
    else that could invoke it (a rule target, an SNS subscription, an event source mapping,
    SAM Events, a permission not limited to the URL) makes it not so. Principals of the
    account allowed lambda:InvokeFunction by their own IAM policy could still invoke it
    asynchronously; the template grants none."""
    props = resources[fn].get("Properties", {})
    if not function_urls(resources, fn) or props.get("Events") or "FunctionUrlConfig" in props:
        return False
    for res in resources.values():
        rprops = res.get("Properties", {})
        if res["Type"] == "AWS::Events::Rule" and any(
                refers_to(t.get("Arn"), fn) for t in rprops.get("Targets", [])):
            return False
        if res["Type"] == "AWS::SNS::Subscription" and refers_to(rprops.get("Endpoint"), fn):
            return False
        if res["Type"] == "AWS::Lambda::EventSourceMapping" and refers_to(rprops.get("FunctionName"), fn):
            return False
    return all(through_url_only(p) for _, p in permissions_of(resources, fn))


def alarms_on(resources, fn, metric_name):
    """The alarms with an action whose metric (or one of its metric-math inputs) is
    `metric_name` of the function (dimension FunctionName)."""
    def about(metric):
        return metric.get("MetricName") == metric_name and any(
            d.get("Name") == "FunctionName" and ref_target(d.get("Value")) == fn
            for d in metric.get("Dimensions", []))
    found = []
    for rid, res in resources.items():
        if res["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = res.get("Properties", {})
        metrics = [props] + [m.get("MetricStat", {}).get("Metric", {}) for m in props.get("Metrics", [])]
        if props.get("AlarmActions") and any(about(m) for m in metrics):
            found.append(rid)
    return found


def check_template(name, template, raw="", rules=None):
    """The problems of one decoded template, one line each."""
    rules = rules or load_rules()
    problems = []

    def problem(message):
        problems.append(f"{name}: {message}")

    resources = template.get("Resources", {})
    functions = [n for n, r in resources.items()
                 if r["Type"] in ("AWS::Serverless::Function", "AWS::Lambda::Function")]
    intake_functions = [fn for fn in functions if handler_of(resources[fn]) in INTAKE_HANDLERS]
    paging_functions = [fn for fn in functions if handler_of(resources[fn]) in PAGE_TOPICS]
    responder_functions = [fn for fn in functions if handler_of(resources[fn]) in RESPONDER_AUTH]
    # Reached only through their function URL, hence synchronous (see synchronous_only).
    synchronous = {fn for fn in functions if synchronous_only(resources, fn)}

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
        if fn in synchronous:
            # Invoked only synchronously, through its URL: the HTTP client gets the error and
            # nothing waits to be retried. No failure is silent all the same: an alarm with an
            # action watches its errors.
            if not alarms_on(resources, fn, "Errors"):
                problem(f"{fn}: reached only through its function URL (synchronous: no on-failure "
                        "destination applies), but no alarm with an action watches its Errors")
            continue
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
        if fn not in fed and fn not in synchronous:  # a responder is reached through its URL
            problem(f"{fn}: no EventBridge rule targets it")

    # 6. Each function pages only its own routes' topics.
    for fn in paging_functions:
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

    # 10. and 11. The intake roles: events:PutEvents by source, DynamoDB by partition (the
    # responder roles' events:PutEvents too; their DynamoDB in 15).
    sources = sorted(rules["event_sources"])
    for fn in intake_functions + responder_functions:
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
            if not ddb or handler not in INTAKE_HANDLERS:
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

    # 14. The responder functions: their URL, its auth, the permissions a function URL needs
    # since October 2025 (both lambda:InvokeFunctionUrl and lambda:InvokeFunction), reserved
    # concurrency; the pages of the intakes and of responder-api (a person's resolve pages
    # "resolved by a person") link to the incident page. Not responder's: its URL depends on
    # the function, so the function cannot be given it (a circular dependency); its resolves
    # page without a new link, and the links already sent keep working.
    by_handler = {}
    for fn in responder_functions:
        by_handler.setdefault(handler_of(resources[fn]), []).append(fn)
    if intake_functions:
        for handler in RESPONDER_AUTH:
            if handler not in by_handler:
                problem(f"no {handler} function: the pages' links (KLAXON_RESPONDER_URL) and the "
                        "klaxon CLI (stack output ResponderApiUrl) need the responder functions")
    for fn in responder_functions:
        handler = handler_of(resources[fn])
        auth = RESPONDER_AUTH[handler]
        props = resources[fn]["Properties"]
        if "FunctionUrlConfig" in props:
            problem(f"{fn}: declare its URL as an AWS::Lambda::Url with explicit permissions, not "
                    "FunctionUrlConfig, so that the template shows (and these checks see) them")
        urls = function_urls(resources, fn)
        if len(urls) != 1:
            problem(f"{fn}: {handler} must have exactly one function URL, not {len(urls)}")
        for url in urls:
            got = resources[url]["Properties"].get("AuthType")
            if got != auth:
                problem(f"{fn}: the {handler} function URL must have AuthType {auth}, not {got}")
        if "ReservedConcurrentExecutions" not in props:
            problem(f"{fn}: {handler} needs reserved concurrency, so that a flood on its URL "
                    "cannot take the concurrency of the intake functions")
        perms = permissions_of(resources, fn)
        public = [(pid, p) for pid, p in perms if p.get("Principal") in ("*", {"AWS": "*"})]
        for pid, p in public:
            if not through_url_only(p):
                problem(f"{fn}: {pid} lets everyone call {p.get('Action')} without going through "
                        "the function URL (lambda:InvokeFunction needs InvokedViaFunctionUrl true)")
            if auth == "AWS_IAM":
                problem(f"{fn}: {handler}'s URL is IAM-authenticated: no permission for everyone ({pid})")
        if auth == "NONE":
            if not any(p.get("Action") == "lambda:InvokeFunctionUrl" and p.get("FunctionUrlAuthType") == "NONE"
                       for _, p in public):
                problem(f"{fn}: its NONE function URL needs lambda:InvokeFunctionUrl for Principal \"*\" "
                        f"with FunctionUrlAuthType NONE ({URL_DOC})")
            if not any(p.get("Action") == "lambda:InvokeFunction" and is_true(p.get("InvokedViaFunctionUrl"))
                       for _, p in public):
                problem(f"{fn}: since October 2025 its NONE function URL also needs lambda:InvokeFunction "
                        f"for Principal \"*\" with InvokedViaFunctionUrl true ({URL_DOC})")
        if auth == "AWS_IAM":
            granted = set()
            for res in resources.values():
                if res["Type"] != "AWS::IAM::ManagedPolicy":
                    continue
                for stmt in statements(res["Properties"].get("PolicyDocument", {})):
                    targets = as_list(stmt.get("Resource", []))
                    if stmt.get("Effect") != "Allow" or [getatt_target(t) for t in targets] != [fn]:
                        continue
                    cond = json.loads(json.dumps(stmt.get("Condition", {})))
                    for action in as_list(stmt.get("Action", [])):
                        if (action == "lambda:InvokeFunctionUrl" and cond == {
                                "StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}}):
                            granted.add(action)
                        if (action == "lambda:InvokeFunction" and list(cond) == ["Bool"]
                                and list(cond["Bool"]) == ["lambda:InvokedViaFunctionUrl"]
                                and is_true(cond["Bool"]["lambda:InvokedViaFunctionUrl"])):
                            granted.add(action)
            if granted != {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}:
                problem(f"{fn}: no managed policy grants responders both lambda:InvokeFunctionUrl "
                        "(StringEquals lambda:FunctionUrlAuthType AWS_IAM) and lambda:InvokeFunction "
                        f"(Bool lambda:InvokedViaFunctionUrl true) on it alone ({URL_DOC}); "
                        f"granted: {sorted(granted)}")
    page_urls = {url for fn in by_handler.get("responder", []) for url in function_urls(resources, fn)}
    for fn in intake_functions + by_handler.get("responder-api", []) if page_urls else []:
        value = resources[fn]["Properties"].get("Environment", {}).get("Variables", {}).get("KLAXON_RESPONDER_URL")
        att = value.get("Fn::GetAtt") if isinstance(value, dict) else None
        parts = att if isinstance(att, list) else str(att).split(".", 1) if att else []
        if len(parts) != 2 or parts[0] not in page_urls or parts[1] != "FunctionUrl":
            problem(f"{fn}: KLAXON_RESPONDER_URL must be the responder's function URL "
                    f"(Fn::GetAtt <its AWS::Lambda::Url>.FunctionUrl), so that pages carry links; not {value}")

    # 16. The local-run signature check is never deployed.
    for fn, res in resources.items():
        if res.get("Type") in ("AWS::Lambda::Function", "AWS::Serverless::Function"):
            variables = res.get("Properties", {}).get("Environment", {}).get("Variables", {})
            if "KLAXON_LOCAL_SIGV4_SECRET" in variables:
                problem(f"{fn}: KLAXON_LOCAL_SIGV4_SECRET is for local runs under cargo lambda "
                        "watch only; a deployed function URL with AWS_IAM has Lambda verify callers")

    # 15. The responder roles: only what they need.
    for fn in responder_functions:
        role_id = getatt_target(resources[fn]["Properties"].get("Role"))
        if not role_id:
            continue
        for stmt in role_statements(resources, role_id):
            if stmt.get("Effect") != "Allow":
                continue
            actions = [a for a in as_list(stmt.get("Action", [])) if isinstance(a, str)]
            extra = sorted(a for a in actions if a not in RESPONDER_ACTIONS | RESPONDER_DYNAMODB_ACTIONS)
            if extra:
                problem(f"{role_id}: actions beyond what a responder needs: {extra}")
            ddb = [a for a in actions if a.startswith("dynamodb:")]
            if not ddb:
                continue
            cond = json.loads(json.dumps(stmt.get("Condition", {})))
            others = sorted(set(cond) - {"ForAllValues:StringLike", "Null"})
            if others:
                problem(f"{role_id}: unexpected conditions on its DynamoDB statement: {others}")
            got = cond.get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
            for target in as_list(stmt.get("Resource", [])):
                where = text(target) or ""  # not `name`: problem() prefixes the template's name
                if where == "<IncidentTable.Arn>":
                    # The table itself: the responders' partitions only.
                    if sorted(as_list(got or [])) != RESPONDER_TABLE_KEYS:
                        problem(f"{role_id}: DynamoDB on the table must be limited to the responders' "
                                f"partitions (ForAllValues:StringLike dynamodb:LeadingKeys "
                                f"{RESPONDER_TABLE_KEYS}), not {got}")
                    if cond.get("Null", {}).get("dynamodb:LeadingKeys") != "false":
                        problem(f"{role_id}: DynamoDB on the table needs the Null check "
                                "dynamodb:LeadingKeys \"false\" (a ForAllValues test passes a request "
                                "without the key)")
                    continue
                index = where.split("/index/", 1)[1] if where.startswith("<IncidentTable.Arn>/index/") else None
                if index not in RESPONDER_INDEXES:
                    problem(f"{role_id}: DynamoDB on {where or target}: the table, or the indexes "
                            f"{sorted(RESPONDER_INDEXES)} by name")
                    continue
                if set(ddb) != {"dynamodb:Query"}:
                    problem(f"{role_id}: on the index {index} only dynamodb:Query, not {ddb}")
                if sorted(as_list(got or [])) != sorted(RESPONDER_INDEX_KEYS) \
                        or cond.get("Null", {}).get("dynamodb:LeadingKeys") != "false":
                    problem(f"{role_id}: a query of the index {index} must be limited to its partition "
                            f"keys (ForAllValues:StringLike dynamodb:LeadingKeys {RESPONDER_INDEX_KEYS}, "
                            "with the Null check)")
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
