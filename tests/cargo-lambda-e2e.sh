#!/usr/bin/env bash
# Drives the real alarm-intake and security-intake binaries through `cargo lambda watch` /
# `cargo lambda invoke`
# against moto server (AWS_ENDPOINT_URL, started by scripts/test). Prints "N passed, N failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
: "${AWS_ENDPOINT_URL:?start moto first (scripts/test does)}"
venv="$root/.venv"
export PATH="$venv/bin:$PATH"
port="${KLAXON_WATCH_PORT:-9710}"
prefix="klaxon-e2e-$$"
work=$(mktemp -d)
passed=0
failed=0
check() { # name, command...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}

"$venv/bin/python" scripts/local_aws.py setup --endpoint "$AWS_ENDPOINT_URL" --prefix "$prefix" --fixtures >"$work/resources.json" || exit 1
"$venv/bin/python" scripts/local_aws.py env --endpoint "$AWS_ENDPOINT_URL" --prefix "$prefix" | sed 's/^export //' >"$work/env"

cargo lambda watch -P "$port" --env-file "$work/env" >"$work/watch.log" 2>&1 &
watch_pid=$!
cleanup() { kill "$watch_pid" 2>/dev/null; wait "$watch_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 1 300); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.5
done

invoke() { cargo lambda invoke "${2:-alarm-intake}" -P "$port" --data-file "$1" 2>>"$work/invoke.err"; }
first=$(invoke events/alarm-metric-prod-alarm.json)
second=$(invoke events/alarm-metric-prod-alarm.json)
rejected=$(invoke events/invalid/missing-state-value.json)
ok=$(invoke events/alarm-metric-prod-ok.json)
finding=$(invoke events/security/guardduty-ssh-bruteforce-high.json security-intake)
finding_again=$(invoke events/security/guardduty-ssh-bruteforce-high.json security-intake)

check "first delivery opens an incident" grep -q '"outcome":"opened"' <<<"$first"
check "second delivery is a duplicate" grep -q '"outcome":"duplicate"' <<<"$second"
check "invalid event is rejected (and acknowledged)" grep -q '"outcome":"rejected"' <<<"$rejected"
check "OK resolves" grep -q '"outcome":"resolved"' <<<"$ok"
check "security-intake opens a security incident" grep -q '"outcome":"opened"' <<<"$finding"
check "security-intake: the same finding again is a duplicate" grep -q '"outcome":"duplicate"' <<<"$finding_again"

# What reached AWS: two pages (opened, resolved) on the production topic, none on test,
# one on security (the finding), two incidents in DynamoDB.
"$venv/bin/python" - "$work/resources.json" >"$work/aws.txt" <<'PY'
import json, sys, boto3
r = json.load(open(sys.argv[1]))
kw = dict(endpoint_url=r["endpoint"], region_name=r["region"], aws_access_key_id="test", aws_secret_access_key="test")
sqs = boto3.client("sqs", **kw)
def count(q):
    n = 0
    while True:
        m = sqs.receive_message(QueueUrl=r["fixtures"]["queues"][q], MaxNumberOfMessages=10).get("Messages", [])
        if not m:
            return n
        n += len(m)
        for x in m:
            sqs.delete_message(QueueUrl=r["fixtures"]["queues"][q], ReceiptHandle=x["ReceiptHandle"])
items = boto3.client("dynamodb", **kw).scan(TableName=r["table"])["Items"]
print("production", count("production"))
print("test", count("test"))
print("security", count("security"))
print("incidents", sum(1 for i in items if i["sk"]["S"] == "INCIDENT"))
print("rejections", sum(1 for i in items if i["entity"]["S"] == "rejection"))
PY
check "two pages on the production topic" grep -qx 'production 2' "$work/aws.txt"
check "nothing on the test topic" grep -qx 'test 0' "$work/aws.txt"
check "one page on the security topic" grep -qx 'security 1' "$work/aws.txt"
check "two incidents in DynamoDB (alarm, finding)" grep -qx 'incidents 2' "$work/aws.txt"
check "one rejection record" grep -qx 'rejections 1' "$work/aws.txt"

if [ "$failed" -gt 0 ]; then
  echo "--- responses"; printf '%s\n' "$first" "$second" "$rejected" "$ok" "$finding" "$finding_again"
  echo "--- aws"; cat "$work/aws.txt"
  echo "--- invoke stderr"; tail -20 "$work/invoke.err"
  echo "--- watch log"; tail -40 "$work/watch.log"
fi
echo "cargo-lambda: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
