#!/usr/bin/env bash
# The responder end to end: the real alarm-intake, responder and responder-api binaries
# under `cargo lambda watch`, moto behind them (AWS_ENDPOINT_URL, started by scripts/test),
# and Debian's Chromium driven by playwright-core (tests/browser/). The page's link is taken
# from the page that arrived in an SQS queue subscribed to the route's topic; the browser
# opens it (nothing may change on GET), acknowledges through the form, and the record in
# DynamoDB and the lifecycle event in a queue are checked. Screenshots and axe-core reports
# are kept in target/browser-artifacts/. Prints "N passed, N failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
: "${AWS_ENDPOINT_URL:?start moto first (scripts/test does)}"
venv="$root/.venv"
export PATH="$venv/bin:$PATH"
py="$venv/bin/python"
port="${KLAXON_RESPONDER_PORT:-9711}"
prefix="klaxon-responder-$$"
work=$(mktemp -d)
artifacts="$root/target/browser-artifacts"
rm -rf "$artifacts" && mkdir -p "$artifacts"
passed=0
failed=0
check() { # name, command...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}

"$py" scripts/local_aws.py setup --endpoint "$AWS_ENDPOINT_URL" --prefix "$prefix" --fixtures >"$work/resources.json" || exit 1
"$py" scripts/local_aws.py env --endpoint "$AWS_ENDPOINT_URL" --prefix "$prefix" | sed 's/^export //' >"$work/env"
base="http://127.0.0.1:$port/lambda-url/responder/"
echo "KLAXON_RESPONDER_URL=$base" >>"$work/env"
# cargo lambda watch has no IAM: the API checks the CLI's SigV4 signature itself, with the
# local secret key (respond/local_sigv4.rs); a request without a valid one is refused.
echo "KLAXON_LOCAL_SIGV4_SECRET=$AWS_SECRET_ACCESS_KEY" >>"$work/env"

cargo lambda watch -A 127.0.0.1 -P "$port" --env-file "$work/env" >"$work/watch.log" 2>&1 &
watch_pid=$!
cleanup() { kill "$watch_pid" 2>/dev/null; wait "$watch_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 1 300); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.5
done
# The first request to each function builds it: wait for that here, not in the browser.
curl -s -m 600 -o /dev/null "${base}i/INC-x/0" || true
curl -s -m 600 -o /dev/null "http://127.0.0.1:$port/lambda-url/responder-api/incidents" || true

opened=$(cargo lambda invoke alarm-intake -A 127.0.0.1 -P "$port" --data-file events/alarm-metric-prod-alarm.json 2>>"$work/invoke.err")
check "the alarm opens an incident" grep -q '"outcome":"opened"' <<<"$opened"

# The page as SNS delivered it to a queue subscribed to the production topic.
"$py" - "$work/resources.json" >"$work/page.json" <<'PY'
import json, sys, time, boto3
r = json.load(open(sys.argv[1]))
kw = dict(endpoint_url=r["endpoint"], region_name=r["region"], aws_access_key_id="test", aws_secret_access_key="test")
sqs = boto3.client("sqs", **kw)
for _ in range(20):
    m = sqs.receive_message(QueueUrl=r["fixtures"]["queues"]["production"], MaxNumberOfMessages=1, WaitTimeSeconds=1).get("Messages", [])
    if m:
        message = json.loads(m[0]["Body"])["Message"]
        lines = message.split("\n")
        print(json.dumps({"sms": lines[0], "link": lines[1], "message": message}))
        break
PY
link=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["link"])' "$work/page.json" 2>/dev/null)
sms=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["sms"])' "$work/page.json" 2>/dev/null)
check "the delivered page's second line is the link" grep -q "^${base}i/INC-[0-9]*-[0-9a-f]*/[0-9a-f]\{48\}$" <<<"$link"
check "the first (SMS) line stays within 140 bytes" test "$(printf %s "$sms" | wc -c)" -le 140
incident=$(sed -E 's#.*/i/([^/]+)/.*#\1#' <<<"$link")
token=${link##*/}

snapshot() { # file: every item of the table, sorted (what a GET must not change)
  "$py" - "$work/resources.json" "$1" <<'PY'
import json, sys, boto3
r = json.load(open(sys.argv[1]))
kw = dict(endpoint_url=r["endpoint"], region_name=r["region"], aws_access_key_id="test", aws_secret_access_key="test")
items = boto3.client("dynamodb", **kw).scan(TableName=r["table"], ConsistentRead=True)["Items"]
json.dump(sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"])), open(sys.argv[2], "w"), sort_keys=True)
PY
}
snapshot "$work/before-get.json"
(cd tests/browser && node responder.mjs view "$link" "$artifacts") | tee "$work/view.txt"
check "the browser's view checks pass" bash -c "! grep -q '^FAIL' '$work/view.txt' && grep -q '^ok' '$work/view.txt'"
snapshot "$work/after-get.json"
check "GET changed nothing in DynamoDB" cmp -s "$work/before-get.json" "$work/after-get.json"

(cd tests/browser && node responder.mjs acknowledge "$link" "$artifacts") | tee "$work/ack.txt"
check "the browser acknowledged through the form" bash -c "! grep -q '^FAIL' '$work/ack.txt' && grep -q '^ok' '$work/ack.txt'"

"$py" - "$work/resources.json" "$incident" >"$work/after.txt" <<'PY'
import json, sys, boto3
r, incident = json.load(open(sys.argv[1])), sys.argv[2]
kw = dict(endpoint_url=r["endpoint"], region_name=r["region"], aws_access_key_id="test", aws_secret_access_key="test")
ddb = boto3.client("dynamodb", **kw)
item = ddb.get_item(TableName=r["table"], Key={"pk": {"S": f"INCIDENT#{incident}"}, "sk": {"S": "INCIDENT"}}, ConsistentRead=True)["Item"]
ack = item.get("acknowledged", {}).get("M", {})
print("ack_by", ack.get("by", {}).get("S"))
print("ack_channel", ack.get("channel", {}).get("S"))
rows = ddb.query(TableName=r["table"], KeyConditionExpression="pk = :p AND begins_with(sk, :t)",
                 ExpressionAttributeValues={":p": {"S": f"INCIDENT#{incident}"}, ":t": {"S": "TIMELINE#"}})["Items"]
actions = [i for i in rows if i.get("kind", {}).get("S") == "action"]
print("actions", len(actions))
if actions:
    actor = actions[0]["actor"]["M"]
    print("actor_kind", actor["kind"]["S"], "channel", actor["channel"]["S"], "ip", actor.get("source_ip", {}).get("S"))
links = ddb.scan(TableName=r["table"], FilterExpression="begins_with(pk, :l)", ExpressionAttributeValues={":l": {"S": "LINK#"}})["Items"]
print("links", len(links))
sqs = boto3.client("sqs", **kw)
types = []
for _ in range(10):
    m = sqs.receive_message(QueueUrl=r["fixtures"]["queues"]["lifecycle"], MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    if not m:
        break
    for x in m:
        event = json.loads(x["Body"])
        types.append(event["detail-type"])
        if event["detail-type"] == "Incident Acknowledged":
            print("lifecycle_actor_kind", event["detail"]["actor_kind"], "channel", event["detail"]["channel"], "action", event["detail"]["action"])
print("lifecycle", ",".join(types))
PY
cat "$work/after.txt"
check "DynamoDB: acknowledged by the name as given" grep -qx 'ack_by Ana <b>Browser</b> (name as given)' "$work/after.txt"
check "DynamoDB: acknowledged through the link" grep -qx 'ack_channel link' "$work/after.txt"
check "DynamoDB: one action entry on the timeline, by a link holder, with the address" grep -qx 'actor_kind link channel link ip 127.0.0.1' "$work/after.txt"
check "the lifecycle queue got Incident Acknowledged (actor kind link)" grep -qx 'lifecycle_actor_kind link channel link action acknowledge' "$work/after.txt"
check "DynamoDB keeps the token's hash only" bash -c "\"$py\" -c \"import sys; sys.exit(sys.argv[1] in open(sys.argv[2]).read())\" '$token' '$work/after-get.json'"

# Refusals, over HTTP as a browser or a script would send them.
status() { curl -s -o "$work/body" -w '%{http_code}' "$@"; }
flipped=$(sed 's/^./f/' <<<"$token"); [ "$flipped" = "$token" ] && flipped=$(sed 's/^./e/' <<<"$token")
check "a tampered token is refused (404, the plain page)" bash -c "[ \"\$(curl -s -o '$work/t' -w '%{http_code}' '${base}i/$incident/$flipped')\" = 404 ] && grep -q 'This link does not work' '$work/t'"
check "a token on another incident's path is refused" test "$(status "${base}i/INC-20990101-0000000000/$token")" = 404
check "a form POST without the form's content type is refused" test "$(status -X POST -H 'content-type: text/plain' --data 'action=resolve' "$link")" = 400
check "the API refuses a request without an IAM identity (403)" bash -c "[ \"\$(curl -s -o '$work/a' -w '%{http_code}' 'http://127.0.0.1:$port/lambda-url/responder-api/incidents')\" = 403 ] && grep -q AWS_IAM '$work/a'"

check "the API refuses a badly signed request (403)" test "$(status -H 'authorization: AWS4-HMAC-SHA256 Credential=test/20261201/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=00' -H "x-amz-date: $(date -u +%Y%m%dT%H%M%SZ)" "http://127.0.0.1:$port/lambda-url/responder-api/incidents")" = 403

# The CLI against the responder API, signed with SigV4 like against AWS.
api="http://127.0.0.1:$port/lambda-url/responder-api"
klaxon() { cargo run -q --bin klaxon -- "$@"; }
listed=$(klaxon incident list --url "$api" --json 2>&1)
check "klaxon incident list (API) shows the incident" grep -q "\"incident_id\":\"$incident\"" <<<"$listed"
noted=$(klaxon incident note "$incident" "rolled back deploy 1842" --url "$api" --json 2>&1)
check "klaxon incident note (API) adds a note" grep -q '"outcome":"noted_by_person"' <<<"$noted"
resolved=$(KLAXON_API_URL="$api" klaxon incident resolve "$incident" --note "error rate normal" --action-id cli-r-1 --json 2>&1)
check "klaxon incident resolve (KLAXON_API_URL) resolves it" grep -q '"outcome":"resolved_by_person"' <<<"$resolved"
again=$(klaxon incident resolve "$incident" --action-id cli-r-1 --url "$api" --json 2>&1)
check "the same action id again answers the first result" grep -q '"outcome":"resolved_by_person"' <<<"$again"
klaxon incident ack INC-20990101-0000000000 --url "$api" >"$work/unknown.txt" 2>&1; code=$?
check "an action on an unknown incident (API) is refused: exit 1, the reason printed" bash -c "[ $code = 1 ] && grep -q 'unknown incident' '$work/unknown.txt'"
klaxon incident show INC-20990101-0000000000 --url "$api" >"$work/unknown.txt" 2>&1; code=$?
check "reading an unknown incident (API): exit 2 with the API's answer" bash -c "[ $code = 2 ] && grep -q 'HTTP 404' '$work/unknown.txt'"
shown=$(klaxon incident show "$incident" --url "$api" --json 2>&1)
check "klaxon incident show (API): the actions with actor and channel" "$py" -c '
import json, sys
shown = json.loads(sys.argv[1])
actions = [e for e in shown["timeline"] if e["kind"] == "action"]
mine = [e for e in actions if e["actor"] == "local:" + sys.argv[2] and e["channel"] == "api"]
sys.exit(not (len(actions) == 3 and len(mine) == 2))' "$shown" "$AWS_ACCESS_KEY_ID"
"$py" - "$work/resources.json" "$incident" >"$work/cli.txt" <<'PY'
import json, sys, boto3
r, incident = json.load(open(sys.argv[1])), sys.argv[2]
kw = dict(endpoint_url=r["endpoint"], region_name=r["region"], aws_access_key_id="test", aws_secret_access_key="test")
item = boto3.client("dynamodb", **kw).get_item(TableName=r["table"], Key={"pk": {"S": f"INCIDENT#{incident}"}, "sk": {"S": "INCIDENT"}}, ConsistentRead=True)["Item"]
print("status", item["status"]["S"], item.get("resolution", {}).get("S"))
sqs = boto3.client("sqs", **kw)
pages = []
for _ in range(5):
    m = sqs.receive_message(QueueUrl=r["fixtures"]["queues"]["production"], MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    if not m:
        break
    pages += [json.loads(x["Body"])["Message"].split("\n")[0] for x in m]
print("resolved_pages", sum(1 for p in pages if p.startswith("RESOLVED")))
PY
cat "$work/cli.txt"
check "DynamoDB: resolved by a person" grep -qx 'status resolved resolved_by_person' "$work/cli.txt"

# --stack NAME: the API's URL from the stack's ResponderApiUrl output (a stack in moto's
# CloudFormation with just that output).
"$py" - "$work/resources.json" "$prefix-stack" "$api" <<'PY'
import json, sys, boto3
r, name, url = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
kw = dict(endpoint_url=r["endpoint"], region_name=r["region"], aws_access_key_id="test", aws_secret_access_key="test")
template = {"Resources": {"Placeholder": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {"ResponderApiUrl": {"Value": url}}}
boto3.client("cloudformation", **kw).create_stack(StackName=name, TemplateBody=json.dumps(template))
PY
by_stack=$(klaxon incident show "$incident" --stack "$prefix-stack" --json 2>&1)
check "klaxon incident show --stack finds the API through the stack's output" grep -q '"status":"resolved"' <<<"$by_stack"
no_output=$(klaxon incident list --stack no-such-stack 2>&1); code=$?
check "an unknown stack is named in the error" bash -c "[ $code = 2 ] && grep -q 'no-such-stack' <<<'$no_output'"
check "the routes paged got one 'resolved by a person' page" grep -qx 'resolved_pages 1' "$work/cli.txt"

check "no log line carries the link's token" bash -c "! grep -q '$token' '$work/watch.log'"

if [ "$failed" -gt 0 ]; then
  echo "--- invoke stderr"; tail -20 "$work/invoke.err"
  echo "--- watch log"; tail -60 "$work/watch.log"
fi
echo "screenshots and axe reports: $artifacts"
echo "responder: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
