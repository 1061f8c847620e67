"""Assertions on Klaxon's CloudFormation templates that linters do not make (run by
scripts/infra-check with the cfn-lint virtualenv's Python, offline):

- no IAM statement grants `*` or `service:*` actions;
- every `Resource: "*"` carries its reason on the same line;
- every asynchronous hop has somewhere to put what it cannot deliver: each EventBridge rule
  target a dead-letter queue and a retry policy, each function invoked asynchronously an
  on-failure destination, each SNS subscription a redrive policy (or a written reason);
- every function logs to a log group with retention;
- every function is fed by an EventBridge rule, whose target is named after the function's
  binary (so each generated rule reaches the handler it was generated for);
- each intake function pages only its own routes' topics (the security intake only the
  security topic: security incidents are pinned to the security route);
- Klaxon's own alarms are named `klaxon-...` (the alarm intake rule excludes that prefix).

Exit status 1 with one line per problem.
"""
import re
import sys
from pathlib import Path

from cfnlint.decode import decode

problems = []


def problem(path, message):
    problems.append(f"{path}: {message}")


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


def refers_to(value, logical_id):
    text = repr(value)
    return f"'{logical_id}'" in text or f"'{logical_id}." in text


# The topics each intake handler (its binary) may publish to; functions of other binaries
# are not checked.
PAGE_TOPICS = {
    "alarm-intake": {"ProductionTopic", "TestTopic", "SecurityTopic", "OpsTopic"},
    "health-intake": {"ProductionTopic", "TestTopic", "OpsTopic"},  # no security route
    "security-intake": {"SecurityTopic"},  # pinned to the security route
}


def binary(res):
    return res.get("Metadata", {}).get("BuildProperties", {}).get("Binary")


def getatt_target(value):
    """The logical id of `!GetAtt X.Arn` (decoded as {"Fn::GetAtt": [X, "Arn"]})."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        att = value["Fn::GetAtt"]
        return att[0] if isinstance(att, list) else str(att).split(".")[0]
    return None


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


def check(path):
    template, matches = decode(str(path))
    if matches:
        problem(path, f"cannot parse: {matches}")
        return
    resources = template.get("Resources", {})
    raw = Path(path).read_text()

    # 1. IAM actions.
    for name, res in resources.items():
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
                        problem(path, f"{name}: action `{action}` is a wildcard")

    # 2. Resource "*" needs its reason on the line.
    for number, line in enumerate(raw.splitlines(), 1):
        if re.search(r'Resource:\s*"\*"', line) and "#" not in line.split('"*"', 1)[1]:
            problem(path, f"line {number}: `Resource: \"*\"` without a reason comment")

    # 3. Asynchronous hops.
    functions = [n for n, r in resources.items()
                 if r["Type"] in ("AWS::Serverless::Function", "AWS::Lambda::Function")]
    invoke_configs = [r for r in resources.values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"]
    for name, res in resources.items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::Events::Rule":
            for target in props.get("Targets", []):
                if "Arn" not in target.get("DeadLetterConfig", {}):
                    problem(path, f"{name}: target {target.get('Id')} has no dead-letter queue")
                if "RetryPolicy" not in target:
                    problem(path, f"{name}: target {target.get('Id')} has no explicit retry policy")
        if res["Type"] == "AWS::SNS::Subscription":
            ignored = res.get("Metadata", {}).get("cfn-lint", {}).get("config", {}).get("ignore_checks", [])
            if "RedrivePolicy" not in props and "ES7000" not in ignored:
                problem(path, f"{name}: subscription without a redrive policy (or a written reason)")
    for fn in functions:
        configs = [c for c in invoke_configs if refers_to(c["Properties"].get("FunctionName"), fn)]
        if not any(c["Properties"].get("DestinationConfig", {}).get("OnFailure") for c in configs):
            problem(path, f"{fn}: asynchronous invocations have no on-failure destination")
        if not any("MaximumRetryAttempts" in c["Properties"] for c in configs):
            problem(path, f"{fn}: no explicit retry attempts for asynchronous invocations")

    # 4. Logs with retention.
    for fn in functions:
        group = resources[fn]["Properties"].get("LoggingConfig", {}).get("LogGroup")
        target = group.get("Ref") if isinstance(group, dict) else None
        if not target or "RetentionInDays" not in resources.get(target, {}).get("Properties", {}):
            problem(path, f"{fn}: no log group with retention (LoggingConfig.LogGroup)")

    # 5. Every function is fed by a rule; a target is named after the binary it reaches.
    fed = set()
    for name, res in resources.items():
        if res["Type"] != "AWS::Events::Rule":
            continue
        for target in res.get("Properties", {}).get("Targets", []):
            fn = getatt_target(target.get("Arn"))
            if fn not in functions:
                continue
            fed.add(fn)
            expected = binary(resources[fn])
            if expected and target.get("Id") != expected:
                problem(path, f"{name}: target {target.get('Id')} reaches {fn}, the function of {expected}")
    for fn in functions:
        if fn not in fed:
            problem(path, f"{fn}: no EventBridge rule targets it")

    # 6. Each intake function pages only its own routes' topics.
    for fn in functions:
        allowed = PAGE_TOPICS.get(binary(resources[fn]))
        role_id = getatt_target(resources[fn]["Properties"].get("Role"))
        if allowed is None or not role_id:
            continue
        for stmt in role_statements(resources, role_id):
            if stmt.get("Effect") != "Allow" or "sns:Publish" not in as_list(stmt.get("Action", [])):
                continue
            for target in as_list(stmt.get("Resource", [])):
                topic = target.get("Ref") if isinstance(target, dict) else None
                if topic not in allowed:
                    problem(path, f"{fn}: publishes to {topic or target}, outside its routes {sorted(allowed)}")

    # 7. Klaxon's own alarms are named klaxon-*.
    for name, res in resources.items():
        if res["Type"] == "AWS::CloudWatch::Alarm":
            alarm_name = sub_text(res["Properties"].get("AlarmName"))
            if not alarm_name or not alarm_name.startswith("klaxon-"):
                problem(path, f"{name}: Klaxon's own alarms must be named `klaxon-...`")


for template_path in sys.argv[1:]:
    check(template_path)
for p in problems:
    print(p)
if problems:
    sys.exit(1)
print(f"template assertions: {len(sys.argv) - 1} template(s), no problem")
