#!/usr/bin/env python3
"""The Lambda's duration at each memory size, simulated with a CPU quota.

Lambda gives a function CPU in proportion to its memory (1,769 MB = one vCPU). This runs the
release `asg-trail extract` (the function's parse path: gunzip, scan, extract, items as JSON)
on a typical log file inside a cgroup (v1 `cpu.cfs_quota_us`, or v2 `cpu.max`) holding it to
memory/1769 of one core, for 128, 256, 512 and 1024 MB, and prints p50/p99 wall time. An empty
log file is timed the same way and its p50 subtracted: process start-up is not part of a warm
invocation. The writes (one BatchWriteItem per 25 items) wait on the network, which a CPU quota
does not slow; they are not in these figures.

    cargo build --release --bin asg-trail --example gen_cloudtrail
    ./target/release/examples/gen_cloudtrail --size 800K --out /tmp/typical.json.gz
    sudo python3 benches/memory.py /tmp/typical.json.gz   # needs a writable cgroup (root)

Results and the machine are in BENCHMARKS.md ("Memory size").
"""

import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "asg-trail")
ONE_VCPU_MB = 1769
PERIOD_US = 10_000
SIZES_MB = [128, 256, 512, 1024]
RUNS = int(os.environ.get("RUNS", "40"))


def cgroup(name: str) -> tuple[str, callable]:
    """Creates a cgroup and returns (procs file, quota setter)."""
    v1 = "/sys/fs/cgroup/cpu"
    if os.path.isdir(v1):
        path = os.path.join(v1, name)
        os.makedirs(path, exist_ok=True)

        def set_quota(us: int) -> None:
            with open(os.path.join(path, "cpu.cfs_period_us"), "w") as f:
                f.write(str(PERIOD_US))
            with open(os.path.join(path, "cpu.cfs_quota_us"), "w") as f:
                f.write(str(us))

        return os.path.join(path, "cgroup.procs"), set_quota
    path = os.path.join("/sys/fs/cgroup", name)
    os.makedirs(path, exist_ok=True)

    def set_max(us: int) -> None:
        with open(os.path.join(path, "cpu.max"), "w") as f:
            f.write(f"{us} {PERIOD_US}")

    return os.path.join(path, "cgroup.procs"), set_max


def timed(procs: str, log: str) -> float:
    def enter() -> None:
        with open(procs, "w") as f:
            f.write(str(os.getpid()))

    start = time.perf_counter()
    subprocess.run(
        [BINARY, "extract", log],
        stdout=subprocess.DEVNULL,
        check=True,
        preexec_fn=enter,
        env={**os.environ, "RUST_LOG": "error"},
    )
    return time.perf_counter() - start


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def main() -> None:
    log = sys.argv[1]
    with tempfile.NamedTemporaryFile(suffix=".json.gz", delete=False) as f:
        f.write(gzip.compress(b'{"Records":[]}'))
        empty = f.name
    procs, set_quota = cgroup("asg-trail-memory-bench")
    print(f"# {log}: {os.path.getsize(log)} bytes; {RUNS} runs per size; ms of wall time")
    print("| memory | vCPU share | p50 | p99 | start-up p50 | p50 less start-up |")
    print("|---|---|---|---|---|---|")
    for mb in SIZES_MB:
        set_quota(max(1000, PERIOD_US * mb // ONE_VCPU_MB))
        runs = [timed(procs, log) * 1000 for _ in range(RUNS)]
        starts = [timed(procs, empty) * 1000 for _ in range(RUNS)]
        p50, start = statistics.median(runs), statistics.median(starts)
        print(
            f"| {mb} MB | {mb / ONE_VCPU_MB:.3f} | {p50:.1f} | {p99(runs):.1f} | "
            f"{start:.1f} | {p50 - start:.1f} |"
        )
    os.unlink(empty)


if __name__ == "__main__":
    main()
