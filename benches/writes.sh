#!/usr/bin/env bash
# Write throughput against DynamoDB Local (the local stack): one synthetic log with many Auto
# Scaling events, ingested with 1, 4 and 8 BatchWriteItem calls in flight; prints items written,
# calls made (ceil(items/25) when nothing is throttled), time and items/s.
#
#   benches/writes.sh [SIZE]        (decompressed size of the log, default 8M)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SIZE="${1:-8M}"
BUCKET=asg-trail-bench
TABLE=asg-trail-bench
KEY="AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05/123456789012_CloudTrail_us-east-1_20240305T1200Z_bench.json.gz"

infra/setup.sh
started=0
if ! infra/stack.sh status >/dev/null 2>&1; then started=1; fi
trap '((started)) && infra/stack.sh stop >/dev/null 2>&1 || true' EXIT
ASG_TRAIL_BUCKET=$BUCKET ASG_TRAIL_TABLE=$TABLE infra/stack.sh start >/dev/null
export AWS_ENDPOINT_URL_S3="http://127.0.0.1:${ASG_TRAIL_S3_PORT:-4566}"
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:${ASG_TRAIL_DDB_PORT:-8000}"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_ENDPOINT_URL AWS_PROFILE TABLE_NAME WRITE_CONCURRENCY

cargo build --release --quiet --bin asg-trail
cargo build --release --quiet --example gen_cloudtrail
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
log="$target_dir/bench-data/writes-$SIZE.json.gz"
mkdir -p "$(dirname "$log")"
[[ -f "$log" ]] || "$target_dir/release/examples/gen_cloudtrail" --size "$SIZE" --share 0.5 --seed 2 --out "$log"
infra/.venv/bin/python infra/template_tool.py put-object --s3-endpoint "$AWS_ENDPOINT_URL_S3" \
    --bucket "$BUCKET" --key "$KEY" --file "$log" >/dev/null

# Warm the JVM once, then measure.
"$target_dir/release/asg-trail" ingest --table "$TABLE" "s3://$BUCKET/$KEY" 2>/dev/null
printf '%-12s %8s %8s %10s %10s\n' concurrency items calls "time (s)" "items/s"
for c in 1 4 8; do
    line="$(NO_COLOR=1 "$target_dir/release/asg-trail" ingest --write-concurrency "$c" --table "$TABLE" "s3://$BUCKET/$KEY" 2>&1 | grep 'object ingested')"
    items="$(sed -E 's/.*items_written=([0-9]+).*/\1/' <<<"$line")"
    calls="$(sed -E 's/.*write_calls=([0-9]+).*/\1/' <<<"$line")"
    ms="$(sed -E 's/.*duration_ms=([0-9]+).*/\1/' <<<"$line")"
    python3 -c "import sys; c,i,k,ms=sys.argv[1:]; print(f'{c:<12} {i:>8} {k:>8} {int(ms)/1000:>10.2f} {int(i)*1000/max(int(ms),1):>10.0f}')" "$c" "$items" "$calls" "$ms"
done
