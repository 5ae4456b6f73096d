#!/usr/bin/env bash
# The fuzz targets of fuzz/ (docs/developing.md, "Fuzzing"), in two steps:
#
#   1. build every target on the stable toolchain (`cargo build --locked`): they compile against
#      the core as a crate, so a change to the core that breaks them fails here, at every run;
#   2. when a nightly toolchain is already installed (`rustup toolchain list`), build them with
#      libFuzzer's coverage instrumentation (the flags cargo-fuzz passes, without a sanitizer)
#      and run each for FUZZ_SECONDS (default 20) from a corpus seeded with tests/fixtures.
#      Nothing is downloaded: without a nightly toolchain, step 2 says so and is skipped.
#
# A crash fails the script and leaves the input under $FUZZ_DIR/artifacts/<target>/.
#
# Env: FUZZ_SECONDS (default 20; 0 skips the runs), CARGO_TARGET_DIR (the stable build's;
#      the instrumented build uses <it>-fuzz-nightly).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ="$ROOT/fuzz"
SECONDS_EACH="${FUZZ_SECONDS:-20}"
BASE_TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"

log() { printf 'fuzz: %s\n' "$*" >&2; }

targets=()
for f in "$FUZZ"/fuzz_targets/*.rs; do
    targets+=("$(basename "$f" .rs)")
done

log "stable build of ${targets[*]}"
CARGO_TARGET_DIR="$BASE_TARGET/fuzz-stable" cargo build --locked --manifest-path "$FUZZ/Cargo.toml" --bins

if [[ "$SECONDS_EACH" == 0 ]]; then
    log "FUZZ_SECONDS=0: no runs"
    exit 0
fi
if ! command -v rustup >/dev/null || ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    log "no nightly toolchain installed: the targets are built, not run (nothing is downloaded)"
    exit 0
fi

NIGHTLY_TARGET="$BASE_TARGET/fuzz-nightly"
FUZZ_DIR="${FUZZ_DIR:-$NIGHTLY_TARGET/runs}"
HOST="$(rustup run nightly rustc -vV | sed -n 's/^host: //p')"
log "instrumented build ($(rustup run nightly rustc --version), $HOST)"
# An explicit --target keeps RUSTFLAGS off the build scripts and proc macros, as cargo-fuzz does.
RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks" \
    CARGO_TARGET_DIR="$NIGHTLY_TARGET" \
    cargo +nightly build --locked --release --target "$HOST" --manifest-path "$FUZZ/Cargo.toml" --bins

for target in "${targets[@]}"; do
    corpus="$FUZZ_DIR/corpus/$target"
    artifacts="$FUZZ_DIR/artifacts/$target/"
    mkdir -p "$corpus" "$artifacts"
    # Seeds: the fixtures a log file can look like, valid and hostile.
    cp -n "$ROOT"/tests/fixtures/e2e-mixed.json* "$ROOT"/tests/fixtures/bad/*.gz "$corpus/" 2>/dev/null || true
    log "$target for ${SECONDS_EACH}s (corpus $corpus)"
    "$NIGHTLY_TARGET/$HOST/release/$target" "$corpus" -dict="$FUZZ/cloudtrail.dict" \
        -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -artifact_prefix="$artifacts" \
        -print_final_stats=1 2>&1 | tail -n 12
    status=${PIPESTATUS[0]}
    if [[ $status -ne 0 ]]; then
        log "FAILED: $target (exit $status); the input is under $artifacts"
        exit 1
    fi
done
log "ok"
