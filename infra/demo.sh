#!/usr/bin/env bash
# Runs the main job end to end on this machine, with no AWS account:
#
#   1. infra/setup.sh                     pinned tools (venv, DynamoDB Local)
#   2. infra/stack.sh start               S3 (moto) on :4566, DynamoDB Local on :8000,
#                                         bucket asg-trail-demo, table asg-trail-events
#   3. upload events/cloudtrail-sample.json.gz to the key named in events/s3-put.json
#   4. cargo build --bins
#   5. cargo lambda watch (the bootstrap binary under a local Lambda Runtime API, :9000)
#   6. cargo lambda invoke bootstrap --data-file events/s3-put.json
#   7. target/debug/asg-trail query --table asg-trail-events --group web-asg --output table
#
# Everything it started is stopped on exit (the stack only if this script started it).
# Ports: ASG_TRAIL_S3_PORT (4566), ASG_TRAIL_DDB_PORT (8000), ASG_TRAIL_LAMBDA_PORT (9000).
# ASG_TRAIL_DEMO_EVENT picks another notification (default events/s3-put.json).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
INFRA="$ROOT/infra"
cd "$ROOT"

S3_PORT="${ASG_TRAIL_S3_PORT:-4566}"
DDB_PORT="${ASG_TRAIL_DDB_PORT:-8000}"
LAMBDA_PORT="${ASG_TRAIL_LAMBDA_PORT:-9000}"
EVENT="${ASG_TRAIL_DEMO_EVENT:-events/s3-put.json}"
BUCKET=asg-trail-demo
TABLE=asg-trail-events
GROUP=web-asg
WATCH_TIMEOUT="${ASG_TRAIL_WATCH_TIMEOUT:-600}"
RUN="$INFRA/.run"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf '\ndemo: FAILED: %s\n' "$*" >&2; exit 1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

WATCH_PID=""
STARTED_STACK=0
cleanup() {
    local rc=$?
    set +e
    if [[ -n "$WATCH_PID" ]] && kill -0 "$WATCH_PID" 2>/dev/null; then
        # cargo lambda watch runs in its own process group (setsid): stop it with its children.
        kill -TERM -- "-$WATCH_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$WATCH_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$WATCH_PID" 2>/dev/null
        echo "demo: stopped cargo lambda watch (pid $WATCH_PID)" >&2
    fi
    if ((STARTED_STACK)); then
        "$INFRA/stack.sh" stop
    else
        echo "demo: the local stack was already running before the demo: left running" >&2
    fi
    if ((rc != 0)); then
        echo "demo: FAILED (exit $rc); logs in $RUN/ (watch.log, s3.log, ddb.log)" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "setup (pinned tools)"
"$INFRA/setup.sh"
export PATH="$INFRA/.venv/bin:$PATH" # cargo-lambda, zig (cargo-zigbuild)
PY="$INFRA/.venv/bin/python"

step "local stack: S3 :$S3_PORT, DynamoDB Local :$DDB_PORT"
if ! "$INFRA/stack.sh" status >/dev/null; then
    STARTED_STACK=1
fi
ASG_TRAIL_BUCKET=$BUCKET ASG_TRAIL_TABLE=$TABLE "$INFRA/stack.sh" start

# The SDK settings shared by the function, the CLI and boto3.
export AWS_ENDPOINT_URL_S3="http://127.0.0.1:$S3_PORT"
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DDB_PORT"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export TABLE_NAME=$TABLE
unset AWS_ENDPOINT_URL AWS_PROFILE AWS_SESSION_TOKEN

step "bucket $BUCKET and table $TABLE (key schema from template.yaml)"
"$PY" "$INFRA/template_tool.py" create-local --s3-endpoint "$AWS_ENDPOINT_URL_S3" \
    --ddb-endpoint "$AWS_ENDPOINT_URL_DYNAMODB" --bucket "$BUCKET" --table "$TABLE"

step "upload events/cloudtrail-sample.json.gz to the keys the sample notifications name"
# The key in a notification is URL-encoded (space as '+'): upload under the decoded key.
for ev in events/s3-put.json events/s3-put-encoded-key.json; do
    key="$("$PY" -c 'import json, sys, urllib.parse
r = json.load(open(sys.argv[1]))["Records"][0]["s3"]
print(urllib.parse.unquote_plus(r["object"]["key"]))' "$ev")"
    "$PY" "$INFRA/template_tool.py" put-object --s3-endpoint "$AWS_ENDPOINT_URL_S3" \
        --bucket "$BUCKET" --key "$key" --file events/cloudtrail-sample.json.gz
done

step "cargo build --bins"
cargo build --bins

step "cargo lambda watch on 127.0.0.1:$LAMBDA_PORT"
if port_open "$LAMBDA_PORT"; then
    die "port $LAMBDA_PORT is in use: stop that process or set ASG_TRAIL_LAMBDA_PORT"
fi
mkdir -p "$RUN"
env_vars="TABLE_NAME=$TABLE,AWS_ENDPOINT_URL_S3=$AWS_ENDPOINT_URL_S3,AWS_ENDPOINT_URL_DYNAMODB=$AWS_ENDPOINT_URL_DYNAMODB"
env_vars+=",AWS_ACCESS_KEY_ID=test,AWS_SECRET_ACCESS_KEY=test,AWS_REGION=us-east-1,AWS_EC2_METADATA_DISABLED=true"
# --ignore-changes: no rebuild/restart if sources change while the demo runs.
setsid cargo lambda watch -A 127.0.0.1 -P "$LAMBDA_PORT" --ignore-changes \
    --env-vars "$env_vars" >"$RUN/watch.log" 2>&1 &
WATCH_PID=$!
deadline=$((SECONDS + 120))
until port_open "$LAMBDA_PORT"; do
    kill -0 "$WATCH_PID" 2>/dev/null || { tail -n 40 "$RUN/watch.log" >&2; die "cargo lambda watch exited"; }
    ((SECONDS < deadline)) || { tail -n 40 "$RUN/watch.log" >&2; die "cargo lambda watch not listening on $LAMBDA_PORT after 120 s"; }
    sleep 0.2
done
echo "cargo lambda watch ready (pid $WATCH_PID, log $RUN/watch.log)" >&2

step "cargo lambda invoke bootstrap --data-file $EVENT"
# The first invoke starts the (already built) binary; invoke returns when the function does,
# and exits non-zero if the function returned an error.
if ! timeout "$WATCH_TIMEOUT" cargo lambda invoke -A 127.0.0.1 -P "$LAMBDA_PORT" bootstrap --data-file "$EVENT"; then
    echo "--- function log ($RUN/watch.log) ---" >&2
    tail -n 60 "$RUN/watch.log" >&2
    die "the invoke failed"
fi
echo >&2
echo "--- function log (last lines) ---" >&2
tail -n 15 "$RUN/watch.log" >&2

step "target/debug/asg-trail query --table $TABLE --group $GROUP --output table"
target_dir="$(cargo metadata --format-version 1 --no-deps | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
"$target_dir/debug/asg-trail" query --table "$TABLE" --group "$GROUP" --output table

step "target/debug/asg-trail timeline --table $TABLE --group $GROUP"
"$target_dir/debug/asg-trail" timeline --table "$TABLE" --group "$GROUP"

step "demo: ok"
