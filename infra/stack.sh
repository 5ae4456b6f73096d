#!/usr/bin/env bash
# Local AWS wire-protocol servers for the demo and for humans (the Rust tests start their own).
#
#   infra/stack.sh start    S3 (moto_server) on 127.0.0.1:$ASG_TRAIL_S3_PORT (4566) and
#                           DynamoDB Local on port $ASG_TRAIL_DDB_PORT (8000), then creates the
#                           bucket $ASG_TRAIL_BUCKET (asg-trail-demo) and the table
#                           $ASG_TRAIL_TABLE (asg-trail-events) via infra/local_setup.py
#   infra/stack.sh stop     stops both, by the PIDs in infra/.run/
#   infra/stack.sh status   exit 0 if both run
#
# After start, `source infra/.run/env` sets AWS_ENDPOINT_URL_S3/_DYNAMODB, dummy credentials
# and the region for the SDK, the CLI and `cargo lambda watch`.
#
# DynamoDB Local has no option to choose its listen address: it listens on ALL addresses of the
# machine (port $ASG_TRAIL_DDB_PORT). It runs -inMemory (nothing on disk), -disableTelemetry,
# and -sharedDb (one database whatever the access key/region, so any dummy credentials see the
# same tables).
set -euo pipefail

INFRA="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUN="$INFRA/.run"
PY="$INFRA/.venv/bin/python"
S3_PORT="${ASG_TRAIL_S3_PORT:-4566}"
DDB_PORT="${ASG_TRAIL_DDB_PORT:-8000}"
START_TIMEOUT="${ASG_TRAIL_START_TIMEOUT:-60}"
export ASG_TRAIL_S3_PORT="$S3_PORT" ASG_TRAIL_DDB_PORT="$DDB_PORT"

log() { printf 'stack: %s\n' "$*" >&2; }
die() { printf 'stack: ERROR: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

running() { # name -> 0 if its pid file names a live process
    local f="$RUN/$1.pid"
    [[ -f "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

wait_ready() { # name port url
    local name=$1 port=$2 url=$3 pid deadline
    pid="$(cat "$RUN/$name.pid")"
    deadline=$((SECONDS + START_TIMEOUT))
    until port_open "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$RUN/$name.log" >&2 || true
            rm -f "$RUN/$name.pid"
            die "$name (pid $pid) exited before listening on port $port; log: $RUN/$name.log"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 30 "$RUN/$name.log" >&2 || true
            die "$name (pid $pid) not listening on port $port after ${START_TIMEOUT}s; log: $RUN/$name.log"
        fi
        sleep 0.2
    done
    # The port is open: one HTTP round trip proves the server answers.
    "$PY" "$INFRA/template_tool.py" wait-http "$url" --timeout "$START_TIMEOUT" \
        || die "$name listens on $port but does not answer HTTP at $url"
    log "$name ready on port $port (pid $pid)"
}

start_one() { # name port url dir cmd...
    local name=$1 port=$2 url=$3 dir=$4
    shift 4
    if running "$name"; then
        log "$name already running (pid $(cat "$RUN/$name.pid"))"
        return
    fi
    if port_open "$port"; then
        die "port $port is already in use by another process: stop it, or choose other ports with ASG_TRAIL_S3_PORT / ASG_TRAIL_DDB_PORT"
    fi
    (cd "$dir" && exec "$@") >"$RUN/$name.log" 2>&1 &
    echo $! >"$RUN/$name.pid"
    STARTED+=("$name")
    wait_ready "$name" "$port" "$url"
}

stop_one() { # name
    local name=$1 pid deadline
    if ! running "$name"; then
        rm -f "$RUN/$name.pid"
        log "$name not running"
        return
    fi
    pid="$(cat "$RUN/$name.pid")"
    kill "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            log "$name (pid $pid) ignored SIGTERM for 10 s: SIGKILL"
            kill -9 "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    rm -f "$RUN/$name.pid"
    log "$name stopped (pid $pid)"
}

STARTED=()
stop_started_on_failure() {
    local rc=$? name
    if ((rc != 0)); then
        for name in "${STARTED[@]}"; do stop_one "$name"; done
    fi
    exit "$rc"
}

cmd_start() {
    # A failed start leaves nothing that it started running.
    trap stop_started_on_failure EXIT
    [[ -x "$PY" && -x "$INFRA/.venv/bin/moto_server" && -f "$INFRA/.tools/dynamodb-local/DynamoDBLocal.jar" ]] \
        || "$INFRA/setup.sh"
    command -v java >/dev/null || die "java not found (infra/setup.sh installs openjdk-17-jre-headless)"
    mkdir -p "$RUN"
    start_one s3 "$S3_PORT" "http://127.0.0.1:$S3_PORT/moto-api/" "$RUN" \
        "$INFRA/.venv/bin/moto_server" -H 127.0.0.1 -p "$S3_PORT"
    start_one ddb "$DDB_PORT" "http://127.0.0.1:$DDB_PORT/" "$INFRA/.tools/dynamodb-local/" \
        java -Xmx512m -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar \
        -inMemory -disableTelemetry -sharedDb -port "$DDB_PORT"
    cat >"$RUN/env" <<EOF
# source me: SDK settings for the local stack (written by infra/stack.sh start)
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$S3_PORT
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$DDB_PORT
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
EOF
    AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
        "$PY" "$INFRA/local_setup.py" || die "creating the bucket/table failed"
    log "up: S3 http://127.0.0.1:$S3_PORT  DynamoDB http://127.0.0.1:$DDB_PORT  (source $RUN/env)"
}

cmd_stop() {
    stop_one ddb
    stop_one s3
    rm -f "$RUN/env"
}

cmd_status() {
    local rc=0 name port
    for name in s3 ddb; do
        port=$S3_PORT
        [[ $name == ddb ]] && port=$DDB_PORT
        if running "$name"; then
            echo "$name: running (pid $(cat "$RUN/$name.pid"), port $port)"
        else
            echo "$name: stopped"
            rc=3
        fi
    done
    return $rc
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
restart) cmd_stop && cmd_start ;;
*)
    echo "usage: $0 start|stop|status|restart" >&2
    exit 2
    ;;
esac
