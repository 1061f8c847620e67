"""Each least-privilege assertion of check_templates.py, shown to reject a template broken for
its reason: every mutation below is applied to a copy of the SAM template and of the
synthesized CDK template, and the assertions must report it (the expected words), while the
templates as they are pass. moto evaluates none of these policies, so this is their proof.

    python infra/tests/test_check_templates.py infra/template.yaml infra/cdk/cdk.out/Klaxon.template.json

Run by scripts/infra-check with the cfn-lint virtualenv's Python. Exit status 1 if a
mutation goes unreported.
"""
import copy
import json
import sys
from pathlib import Path

from cfnlint.decode import decode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_templates import base_id, check_template, load_rules  # noqa: E402


def find(resources, base, type_=None):
    found = [rid for rid, r in resources.items()
             if base_id(rid) == base and (type_ is None or r["Type"] == type_)]
    assert len(found) == 1, f"{base}: {found}"
    return resources[found[0]]


def statement(resources, base, sid):
    """A statement by Sid, in a role's inline policy or in a policy resource."""
    res = find(resources, base)
    props = res["Properties"]
    docs = ([p["PolicyDocument"] for p in props.get("Policies", [])]
            if res["Type"] == "AWS::IAM::Role" else [props["PolicyDocument"]])
    for doc in docs:
        for stmt in doc["Statement"]:
            if stmt.get("Sid") == sid:
                return stmt
    raise AssertionError(f"{base}: no statement {sid}")


def without(resources, base, sid):
    doc = find(resources, base)["Properties"]["PolicyDocument"]
    doc["Statement"] = [s for s in doc["Statement"] if s.get("Sid") != sid]


def role_arn(resources, base):
    rid = next(rid for rid in resources if base_id(rid) == base and resources[rid]["Type"] == "AWS::IAM::Role")
    return {"Fn::GetAtt": [rid, "Arn"]}


def rule_arn(resources, name):
    return {"Fn::GetAtt": [name, "Arn"]}


def mutate_alarm_pattern(change):
    def apply(r):
        change(find(r, "AlarmIntakeRule", "AWS::Events::Rule")["Properties"]["EventPattern"])
    return apply


def set_key(d, key, value):
    d[key] = value


def function_id(resources, base):
    return next(rid for rid in resources if base_id(rid) == base
                and resources[rid]["Type"] in ("AWS::Serverless::Function", "AWS::Lambda::Function"))


def url_of(resources, fn_base):
    """The AWS::Lambda::Url of a function (SAM and CDK name it <Function>Url)."""
    return find(resources, f"{fn_base}Url", "AWS::Lambda::Url")


def permission_id(resources, fn_base, action):
    """The logical id of the function's AWS::Lambda::Permission for an action (SAM and CDK name
    them differently)."""
    fn = function_id(resources, fn_base)
    found = [rid for rid, r in resources.items() if r["Type"] == "AWS::Lambda::Permission"
             and r["Properties"].get("Action") == action and fn in repr(r["Properties"].get("FunctionName"))]
    assert len(found) == 1, f"{fn_base} {action}: {found}"
    return found[0]


def add_permission(resources, fn_base, props):
    resources["ExtraPermission"] = {"Type": "AWS::Lambda::Permission", "Properties": {
        "FunctionName": {"Fn::GetAtt": [function_id(resources, fn_base), "Arn"]}, **props}}


def api_policy_statement(resources, sid):
    return statement(resources, "KlaxonResponderApiInvoke", sid)


def function_variables(resources, base):
    return resources[function_id(resources, base)]["Properties"]["Environment"]["Variables"]


# (what is broken, mutation, words the assertions must report)
MUTATIONS = [
    # The local-run signature check of the responder API is never deployed.
    ("responder-api deployed with the local signature check's secret",
     lambda r: function_variables(r, "ResponderApiFunction").update({"KLAXON_LOCAL_SIGV4_SECRET": "test"}),
     "KLAXON_LOCAL_SIGV4_SECRET is for local runs"),
    # The alarm rule: this stack's own alarms only.
    ("alarm rule exclusion widened back to every `klaxon-*` alarm",
     mutate_alarm_pattern(lambda p: set_key(p, "resources", [{"anything-but": {"wildcard": "arn:aws:cloudwatch:*:*:alarm:klaxon-*"}}])),
     "must exclude only this stack's own alarms"),
    ("alarm rule exclusion removed",
     mutate_alarm_pattern(lambda p: p.pop("resources")),
     "must exclude only this stack's own alarms"),
    ("alarm rule exclusion without the account and Region",
     mutate_alarm_pattern(lambda p: set_key(p, "resources", [{"anything-but": {"prefix": {"Fn::Sub": "arn:${AWS::Partition}:cloudwatch:"}}}])),
     "must exclude only this stack's own alarms"),
    ("own alarm named klaxon-<stack>- (not excluded by the rule: Klaxon would page for itself)",
     lambda r: set_key(find(r, "IntakeDeadLetterAlarm")["Properties"], "AlarmName",
                       {"Fn::Sub": "klaxon-${AWS::StackName}-intake-dead-letters"}),
     "must be named"),
    # Topic policies: Deny for everyone but the publishing roles.
    ("production topic: Deny removed",
     lambda r: without(r, "ProductionTopicPolicy", "OnlyKlaxonPublishes"),
     "no Deny of sns:Publish"),
    ("security topic: Deny without condition (would deny Klaxon too, and excepts no one)",
     lambda r: statement(r, "SecurityTopicPolicy", "OnlyKlaxonPublishes").pop("Condition"),
     "has no aws:PrincipalArn exception"),
    ("test topic: Deny excepts every role of every account",
     lambda r: set_key(statement(r, "TestTopicPolicy", "OnlyKlaxonPublishes"), "Condition",
                       {"StringNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}}),
     "must except exactly the roles"),
    ("security topic: Deny also excepts the health role, which has no security route",
     lambda r: statement(r, "SecurityTopicPolicy", "OnlyKlaxonPublishes")["Condition"]["ArnNotEquals"]["aws:PrincipalArn"].append(role_arn(r, "HealthIntakeRole")),
     "must except exactly the roles"),
    ("production topic: Deny with NotPrincipal instead of aws:PrincipalArn",
     lambda r: (lambda s: (s.pop("Principal"), s.pop("Condition"),
                           set_key(s, "NotPrincipal", {"AWS": [role_arn(r, "AlarmIntakeRole"), role_arn(r, "HealthIntakeRole")]})))(
         statement(r, "ProductionTopicPolicy", "OnlyKlaxonPublishes")),
     "NotPrincipal"),
    ("production topic: Deny narrowed by another condition",
     lambda r: set_key(statement(r, "ProductionTopicPolicy", "OnlyKlaxonPublishes")["Condition"], "StringEquals",
                       {"aws:SourceVpc": "vpc-1"}),
     "has other conditions"),
    # The ops topic: CloudWatch for this stack's alarms only.
    ("ops topic: CloudWatch Allow without aws:SourceArn",
     lambda r: statement(r, "OpsTopicPolicy", "KlaxonHealthAlarmsPublish")["Condition"].pop("ArnLike"),
     "CloudWatch may publish only for this stack's alarms"),
    ("ops topic: CloudWatch Allow for every alarm of the account",
     lambda r: set_key(statement(r, "OpsTopicPolicy", "KlaxonHealthAlarmsPublish")["Condition"], "ArnLike",
                       {"aws:SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"}}),
     "CloudWatch may publish only for this stack's alarms"),
    ("ops topic: CloudWatch Allow without aws:SourceAccount",
     lambda r: statement(r, "OpsTopicPolicy", "KlaxonHealthAlarmsPublish")["Condition"].pop("StringEquals"),
     "lacks aws:SourceAccount"),
    ("ops topic: Deny catches CloudWatch too (alarms could not publish)",
     lambda r: statement(r, "OpsTopicPolicy", "OnlyKlaxonPublishes")["Condition"].pop("Bool"),
     "does not leave AWS services out"),
    ("ops topic: CloudWatch Allow removed (alarms could not publish)",
     lambda r: without(r, "OpsTopicPolicy", "KlaxonHealthAlarmsPublish"),
     "no Allow for CloudWatch"),
    # events:PutEvents by source.
    ("alarm role: events:PutEvents without its events:source condition",
     lambda r: statement(r, "AlarmIntakeRole", "LifecycleAndRunbookEvents").pop("Condition"),
     "events:PutEvents must be limited to Klaxon's sources"),
    ("security role: events:PutEvents may put aws.* events",
     lambda r: statement(r, "SecurityIntakeRole", "LifecycleAndRunbookEvents")["Condition"]["ForAllValues:StringEquals"]["events:source"].append("aws.guardduty"),
     "events:PutEvents must be limited to Klaxon's sources"),
    ("health role: events:PutEvents without the Null check",
     lambda r: statement(r, "HealthIntakeRole", "LifecycleAndRunbookEvents")["Condition"].pop("Null"),
     "Null check events:source"),
    # DynamoDB by partition.
    ("alarm role: dynamodb:Scan added",
     lambda r: statement(r, "AlarmIntakeRole", "IncidentRecords")["Action"].append("dynamodb:Scan"),
     "DynamoDB actions beyond the items"),
    ("security role: dynamodb:LeadingKeys condition removed",
     lambda r: statement(r, "SecurityIntakeRole", "IncidentRecords")["Condition"].pop("ForAllValues:StringLike"),
     "DynamoDB must be limited to security-intake's partitions"),
    ("alarm role: Null check on dynamodb:LeadingKeys removed",
     lambda r: statement(r, "AlarmIntakeRole", "IncidentRecords")["Condition"].pop("Null"),
     "Null check dynamodb:LeadingKeys"),
    ("health role: every tracker (ALARM#*), security incidents' included",
     lambda r: set_key(statement(r, "HealthIntakeRole", "IncidentRecords")["Condition"]["ForAllValues:StringLike"],
                       "dynamodb:LeadingKeys", ["ALARM#*", "EVENT#*", "INCIDENT#*", "LINK#*", "REJECTED#*"]),
     "DynamoDB must be limited to health-intake's partitions"),
    ("alarm role: ForAnyValue instead of ForAllValues",
     lambda r: (lambda c: set_key(c, "ForAnyValue:StringLike", c.pop("ForAllValues:StringLike")))(
         statement(r, "AlarmIntakeRole", "IncidentRecords")["Condition"]),
     "DynamoDB must be limited to alarm-intake's partitions"),
    ("alarm role: the indexes back in the resources",
     lambda r: (lambda s: set_key(s, "Resource", [s["Resource"], {"Fn::Sub": "${IncidentTable.Arn}/index/*"}]))(
         statement(r, "AlarmIntakeRole", "IncidentRecords")),
     "the table only, no index"),
    # The intake dead-letter queue: the intake rules only.
    ("intake dead-letter queue: policy without aws:SourceArn",
     lambda r: statement(r, "IntakeDeadLetterQueuePolicy", "IntakeRulesDeadLetter")["Condition"].pop("ArnEquals"),
     "without an aws:SourceArn condition"),
    ("intake dead-letter queue: every rule of the account (ArnLike rule/*)",
     lambda r: (lambda c: (c.pop("ArnEquals"), set_key(c, "ArnLike", {"aws:SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/*"}})))(
         statement(r, "IntakeDeadLetterQueuePolicy", "IntakeRulesDeadLetter")["Condition"]),
     "EventBridge may send for exactly these rules"),
    ("intake dead-letter queue: a rule that uses it left out",
     lambda r: statement(r, "IntakeDeadLetterQueuePolicy", "IntakeRulesDeadLetter")["Condition"]["ArnEquals"]["aws:SourceArn"].pop(),
     "EventBridge may send for exactly these rules"),
    ("intake dead-letter queue: policy removed",
     lambda r: r.pop(next(rid for rid in r if base_id(rid) == "IntakeDeadLetterQueuePolicy")),
     "no policy lets EventBridge send to it"),
    ("security intake: rejection metric filter removed",
     lambda r: r.pop(next(rid for rid in r if base_id(rid) == "SecurityIntakeRejectedFilter")),
     "rejections are not counted"),
    ("alarm intake: rejection filter counts something else",
     lambda r: set_key(find(r, "AlarmIntakeRejectedFilter")["Properties"], "FilterPattern",
                       '{ $.outcome = "ignored" }'),
     "rejections are not counted"),
    ("health intake: rejection alarm removed",
     lambda r: r.pop(next(rid for rid in r if base_id(rid) == "HealthIntakeRejectedAlarm")),
     "no alarm (Sum > 0, with an action) watches"),
    ("alarm intake: rejection alarm without an action",
     lambda r: find(r, "AlarmIntakeRejectedAlarm")["Properties"].pop("AlarmActions"),
     "no alarm (Sum > 0, with an action) watches"),
    # The responders: the URL's auth, both permissions since October 2025, concurrency.
    ("responder: its URL made AWS_IAM (a page's reader has no AWS identity)",
     lambda r: set_key(url_of(r, "ResponderFunction")["Properties"], "AuthType", "AWS_IAM"),
     "the responder function URL must have AuthType NONE"),
    ("responder-api: its URL made public",
     lambda r: set_key(url_of(r, "ResponderApiFunction")["Properties"], "AuthType", "NONE"),
     "the responder-api function URL must have AuthType AWS_IAM"),
    ("responder: its URL removed",
     lambda r: r.pop(next(rid for rid in r if base_id(rid) == "ResponderFunctionUrl")),
     "must have exactly one function URL"),
    ("responder: lambda:InvokeFunction permission removed (needed since October 2025)",
     lambda r: r.pop(permission_id(r, "ResponderFunction", "lambda:InvokeFunction")),
     "also needs lambda:InvokeFunction"),
    ("responder: lambda:InvokeFunctionUrl permission removed",
     lambda r: r.pop(permission_id(r, "ResponderFunction", "lambda:InvokeFunctionUrl")),
     "needs lambda:InvokeFunctionUrl"),
    ("responder: InvokeFunctionUrl for another auth type",
     lambda r: set_key(r[permission_id(r, "ResponderFunction", "lambda:InvokeFunctionUrl")]["Properties"],
                       "FunctionUrlAuthType", "AWS_IAM"),
     "needs lambda:InvokeFunctionUrl"),
    ("responder: lambda:InvokeFunction for everyone, not only via the URL",
     lambda r: r[permission_id(r, "ResponderFunction", "lambda:InvokeFunction")]["Properties"].pop("InvokedViaFunctionUrl"),
     "without going through the function URL"),
    ("responder-api: a permission for everyone",
     lambda r: add_permission(r, "ResponderApiFunction", {"Action": "lambda:InvokeFunctionUrl", "Principal": "*",
                                                          "FunctionUrlAuthType": "AWS_IAM"}),
     "no permission for everyone"),
    ("responder: reserved concurrency removed (a flood would take the intakes' concurrency)",
     lambda r: r[function_id(r, "ResponderFunction")]["Properties"].pop("ReservedConcurrentExecutions"),
     "needs reserved concurrency"),
    ("responder-api: reserved concurrency removed",
     lambda r: r[function_id(r, "ResponderApiFunction")]["Properties"].pop("ReservedConcurrentExecutions"),
     "needs reserved concurrency"),
    ("responder-api: the managed policy without lambda:InvokeFunction",
     lambda r: without(r, "KlaxonResponderApiInvoke", "ResponderApiThroughItsUrlOnly"),
     "no managed policy grants responders both"),
    ("responder-api: the managed policy's InvokeFunction not limited to the URL",
     lambda r: api_policy_statement(r, "ResponderApiThroughItsUrlOnly").pop("Condition"),
     "no managed policy grants responders both"),
    ("responder-api: the managed policy's InvokeFunctionUrl on every function",
     lambda r: set_key(api_policy_statement(r, "ResponderApiUrl"), "Resource",
                       {"Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:*"}),
     "no managed policy grants responders both"),
    ("responder-api removed",
     lambda r: r.pop(function_id(r, "ResponderApiFunction")),
     "no responder-api function"),
    ("alarm intake: pages without the responder URL",
     lambda r: function_variables(r, "AlarmIntakeFunction").pop("KLAXON_RESPONDER_URL"),
     "KLAXON_RESPONDER_URL must be the responder's function URL"),
    ("security intake: KLAXON_RESPONDER_URL the API's URL",
     lambda r: set_key(function_variables(r, "SecurityIntakeFunction"), "KLAXON_RESPONDER_URL",
                       {"Fn::GetAtt": [next(rid for rid in r if base_id(rid) == "ResponderApiFunctionUrl"), "FunctionUrl"]}),
     "KLAXON_RESPONDER_URL must be the responder's function URL"),
    # A person's resolve pages "resolved by a person": with the page's URL, a new link.
    ("responder-api: resolve pages without the responder URL",
     lambda r: function_variables(r, "ResponderApiFunction").pop("KLAXON_RESPONDER_URL"),
     "KLAXON_RESPONDER_URL must be the responder's function URL"),
    ("responder-api: KLAXON_RESPONDER_URL its own (the API's) URL",
     lambda r: set_key(function_variables(r, "ResponderApiFunction"), "KLAXON_RESPONDER_URL",
                       {"Fn::GetAtt": [next(rid for rid in r if base_id(rid) == "ResponderApiFunctionUrl"), "FunctionUrl"]}),
     "KLAXON_RESPONDER_URL must be the responder's function URL"),
    # Synchronous only while nothing else may invoke it; then its errors are alarmed.
    ("responder: EventBridge may invoke it too (asynchronous: needs an on-failure destination)",
     lambda r: add_permission(r, "ResponderFunction", {"Action": "lambda:InvokeFunction",
                                                       "Principal": "events.amazonaws.com"}),
     "asynchronous invocations have no on-failure destination"),
    ("responder: errors alarm removed",
     lambda r: r.pop(next(rid for rid in r if base_id(rid) == "ResponderErrorsAlarm")),
     "no alarm with an action watches its Errors"),
    ("responder-api: errors alarm without an action",
     lambda r: find(r, "ResponderApiErrorsAlarm")["Properties"].pop("AlarmActions"),
     "no alarm with an action watches its Errors"),
    # The responder roles: only what they need.
    ("responder role: dynamodb:Scan added",
     lambda r: statement(r, "ResponderRole", "IncidentRecords")["Action"].append("dynamodb:Scan"),
     "actions beyond what a responder needs"),
    ("responder-api role: CloudWatch reads added",
     lambda r: statement(r, "ResponderApiRole", "IncidentRecords")["Action"].append("cloudwatch:GetMetricData"),
     "actions beyond what a responder needs"),
    ("responder role: every index",
     lambda r: set_key(statement(r, "ResponderRole", "IncidentIndexes"), "Resource",
                       {"Fn::Sub": "${IncidentTable.Arn}/index/*"}),
     "the table, or the indexes"),
    ("responder role: the table statement's conditions removed (every partition)",
     lambda r: statement(r, "ResponderRole", "IncidentRecords").pop("Condition"),
     "DynamoDB on the table must be limited to the responders' partitions"),
    ("responder-api role: the table statement's LeadingKeys removed",
     lambda r: statement(r, "ResponderApiRole", "IncidentRecords")["Condition"].pop("ForAllValues:StringLike"),
     "DynamoDB on the table must be limited to the responders' partitions"),
    ("responder-api role: Null check on the table's dynamodb:LeadingKeys removed",
     lambda r: statement(r, "ResponderApiRole", "IncidentRecords")["Condition"].pop("Null"),
     "DynamoDB on the table needs the Null check"),
    ("responder role: rejections' partitions too (REJECTED#*)",
     lambda r: statement(r, "ResponderRole", "IncidentRecords")["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"].append("REJECTED#*"),
     "DynamoDB on the table must be limited to the responders' partitions"),
    ("responder-api role: every partition (`*`)",
     lambda r: set_key(statement(r, "ResponderApiRole", "IncidentRecords")["Condition"]["ForAllValues:StringLike"],
                       "dynamodb:LeadingKeys", ["*"]),
     "DynamoDB on the table must be limited to the responders' partitions"),
    ("responder role: ForAnyValue instead of ForAllValues on the table",
     lambda r: (lambda c: set_key(c, "ForAnyValue:StringLike", c.pop("ForAllValues:StringLike")))(
         statement(r, "ResponderRole", "IncidentRecords")["Condition"]),
     "DynamoDB on the table must be limited to the responders' partitions"),
    ("responder-api role: index query without its partition keys",
     lambda r: statement(r, "ResponderApiRole", "IncidentIndexes").pop("Condition"),
     "must be limited to its partition keys"),
    ("responder role: an item write on an index statement",
     lambda r: set_key(statement(r, "ResponderRole", "IncidentIndexes"), "Action", ["dynamodb:Query", "dynamodb:PutItem"]),
     "only dynamodb:Query"),
    ("responder role: events:PutEvents without events:source",
     lambda r: statement(r, "ResponderRole", "LifecycleAndRunbookEvents").pop("Condition"),
     "events:PutEvents must be limited to Klaxon's sources"),
    ("production topic: Deny does not except the responder role (its pages would be denied)",
     lambda r: statement(r, "ProductionTopicPolicy", "OnlyKlaxonPublishes")["Condition"]["ArnNotEquals"]["aws:PrincipalArn"].remove(role_arn(r, "ResponderRole")),
     "must except exactly the roles"),
]


def plain(template):
    return json.loads(json.dumps(template))


def main(paths):
    rules = load_rules()
    failures = []
    for path in paths:
        template, matches = decode(path)
        assert not matches, matches
        template = plain(template)
        clean = check_template(path, template, rules=rules)
        if clean:
            failures.append(f"{path}: not clean before any mutation: {clean}")
            continue
        for what, mutate, expected in MUTATIONS:
            broken = copy.deepcopy(template)
            mutate(broken["Resources"])
            problems = check_template(path, broken, rules=rules)
            if not any(expected in p for p in problems):
                failures.append(f"{path}: broken ({what}) but no '{expected}' reported: {problems}")
    for f in failures:
        print(f)
    if failures:
        sys.exit(1)
    print(f"least-privilege assertions: {len(MUTATIONS)} broken variants of each of {len(paths)} "
          "template(s), each rejected for its reason")


if __name__ == "__main__":
    main(sys.argv[1:])
