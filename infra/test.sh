#!/usr/bin/env bash
# All the checks and tests of asg-trail (what CI runs: .ci/run calls this).
#
#   1. infra/setup.sh          pinned tools at the paths the tests expect (fast when installed)
#   2. template checks         cfn-lint, sam validate --lint, transformed cfn-lint, IAM asserts
#   3. cargo fmt --check, cargo clippy -D warnings, cargo test (unit + integration); the pure
#      core alone (no features: no tokio, no SDK) and the Lambda alone (feature `lambda`) build
#      and pass clippy, the core's unit tests pass without the SDK
#   4. infra/fuzz.sh: the fuzz targets build on stable; each runs for FUZZ_SECONDS (default 20)
#      where a nightly toolchain is already installed (never downloaded)
#   5. sam build for the host architecture (cargo lambda, release): the bootstrap SAM deploys;
#      about 8 min on 2 cores from a cold target directory, seconds when warm (CI keeps
#      CARGO_TARGET_DIR outside the clone). No toolchain download: never arm64 here.
#
# The integration tests start their own S3 (moto) and DynamoDB Local servers on loopback
# from infra/.venv and infra/.tools; nothing here needs network access beyond setup.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step() { printf '\n==> %s\n' "$*" >&2; }
timed() { # name cmd...
    local name=$1 start=$SECONDS
    shift
    step "$name"
    "$@" || { printf 'test.sh: FAILED: %s (exit %s)\n' "$name" "$?" >&2; return 1; }
    printf '    %s: ok in %d s\n' "$name" "$((SECONDS - start))" >&2
}

timed "infra/setup.sh" infra/setup.sh

# cargo-lambda and cargo-zigbuild (which finds zig through `python3 -m ziglang`) live in the venv.
export PATH="$ROOT/infra/.venv/bin:$PATH"
export SAM_CLI_TELEMETRY=0 AWS_EC2_METADATA_DISABLED=true

timed "template checks" infra/.venv/bin/python infra/template_tool.py lint template.yaml
timed "cargo fmt --all -- --check" cargo fmt --all -- --check
timed "cargo clippy --all-targets --locked -- -D warnings" cargo clippy --all-targets --locked -- -D warnings
timed "cargo test --locked --all-targets" cargo test --locked --all-targets
timed "the pure core alone: cargo clippy + test --no-default-features --lib" \
    bash -c 'cargo clippy --locked --no-default-features --lib -- -D warnings && cargo test --locked --no-default-features --lib -q'
timed "the Lambda alone: cargo clippy --no-default-features --features lambda --lib --bins" \
    cargo clippy --locked --no-default-features --features lambda --lib --bins -- -D warnings
timed "fuzz targets (infra/fuzz.sh)" infra/fuzz.sh
timed "sam build (host architecture) + bootstrap check" infra/.venv/bin/python infra/template_tool.py sam-build

step "all checks passed"
