#!/usr/bin/env python3
"""Whole-process benchmark of asg-trail's read path, printed as a table and written to
BENCHMARKS.md.

For each size it generates a seeded synthetic CloudTrail log (examples/gen_cloudtrail: mixed
services, about 1% Auto Scaling records), then runs, in the same run and on the same file:

  gzip -dc              stock zlib decoding to /dev/null (the C floor)
  python zlib           Python's zlib decoding to nothing
  gunzip (ours)         flate2 + zlib-rs decoding to a sink: asg-trail's own floor
  asg-trail extract     gunzip + parse + extract, items printed to /dev/null
  python reference      benches/reference.py: gzip + json.load + filter (parse + extract part)

and reports the best wall time of --runs runs, decompressed MB/s and peak RSS (ru_maxrss of
the child). Usage:

  python3 benches/bench.py [--sizes 10M,100M,1G] [--runs 3] [--no-python-above 100M]
"""

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse_size(text):
    units = {"K": 10, "M": 20, "G": 30}
    if text[-1].upper() in units:
        return int(text[:-1]) << units[text[-1].upper()]
    return int(text)


def target_dir():
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    import json
    return Path(json.loads(out)["target_directory"])


def run_measured(cmd, capture=False):
    """Runs cmd under GNU time and returns (seconds, peak RSS MiB, stdout).

    The peak RSS comes from /usr/bin/time (%M): a child forked from this Python process would
    report Python's own resident set as its peak (ru_maxrss counts the time before exec).
    """
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        start = time.perf_counter()
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", report.name, *map(str, cmd)],
            stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"bench: {' '.join(map(str, cmd))} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
        peak_kib = int(report.read().split()[-1])
    return elapsed, peak_kib / 1024, proc.stdout


def best(cmd, runs, capture=False):
    results = [run_measured(cmd, capture) for _ in range(runs)]
    seconds = min(r[0] for r in results)
    rss = max(r[1] for r in results)
    return seconds, rss, results[0][2]


def machine():
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{model}, {os.cpu_count()} vCPU, {platform.system()} {platform.release()}; {rustc}; Python {platform.python_version()}"


PY_ZLIB = (
    "import sys, zlib\n"
    "f = open(sys.argv[1], 'rb'); d = zlib.decompressobj(31); n = 0\n"
    "for chunk in iter(lambda: f.read(1 << 20), b''):\n"
    "    n += len(d.decompress(chunk))\n"
    "print(n)\n"
)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10M,100M,1G")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-python-above", default="200M",
                    help="skip the Python reference above this size (json.load needs ~10x the file in RAM)")
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = ap.parse_args()

    # Two builds: examples pull in the dev-dependencies' features, the shipped binaries must not.
    subprocess.run(["cargo", "build", "--release", "--bin", "asg-trail", "--bin", "bootstrap"],
                   cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--release", "--example", "gen_cloudtrail", "--example", "gunzip"],
                   cwd=ROOT, check=True)
    tdir = target_dir() / "release"
    data = target_dir() / "bench-data"
    data.mkdir(parents=True, exist_ok=True)
    python_cap = parse_size(args.no_python_above)

    rows = []
    for size in args.sizes.split(","):
        path = data / f"synthetic-{size}-seed1.json.gz"
        if not path.exists():
            subprocess.run([tdir / "examples" / "gen_cloudtrail", "--size", size, "--seed", "1",
                            "--out", path], check=True)
        _, _, out = best([tdir / "examples" / "gunzip", path], 1, capture=True)
        raw_bytes = int(out)
        mb = raw_bytes / 1e6
        cases = [
            ("gzip -dc (C zlib)", ["gzip", "-dc", path]),
            ("python zlib", [sys.executable, "-c", PY_ZLIB, path]),
            ("gunzip (flate2/zlib-rs)", [tdir / "examples" / "gunzip", path]),
            ("asg-trail extract", [tdir / "asg-trail", "extract", path]),
        ]
        if raw_bytes <= python_cap:
            cases.append(("python reference", [sys.executable, ROOT / "benches" / "reference.py", path]))
        measured = {}
        for name, cmd in cases:
            seconds, rss, _ = best(cmd, args.runs)
            measured[name] = (seconds, rss)
            print(f"{size:>5} {name:<26} {seconds:8.3f} s {mb / seconds:8.1f} MB/s {rss:8.1f} MiB", flush=True)
        floor = measured["gunzip (flate2/zlib-rs)"][0]
        for name, (seconds, rss) in measured.items():
            rows.append((size, path.stat().st_size, raw_bytes, name, seconds, mb / seconds, rss, seconds / floor))
        ours = measured["asg-trail extract"]
        if "python reference" in measured:
            py = measured["python reference"]
            print(f"{size:>5} python/asg-trail: {py[0] / ours[0]:.1f}x time, {py[1] / ours[1]:.1f}x memory")

    lines = [
        "# Benchmarks",
        "",
        f"Made by `python3 benches/bench.py --sizes {args.sizes} --runs {args.runs}` on {time.strftime('%Y-%m-%d')}.",
        f"Machine: {machine()}.",
        "",
        "Input: seeded synthetic CloudTrail logs (`examples/gen_cloudtrail`, about 1% Auto Scaling records,",
        "gzip level 6). Time is the best of the runs, wall clock, whole process; MB/s is decompressed",
        "bytes per second; RSS is the child's peak resident set; the ratio is to the time of decoding",
        "alone with asg-trail's own gzip backend.",
        "",
        "| size (decompressed) | gz bytes | command | time (s) | MB/s | peak RSS (MiB) | × gunzip |",
        "|---|---|---|---|---|---|---|",
    ]
    for size, gz, raw, name, seconds, rate, rss, ratio in rows:
        lines.append(f"| {size} ({raw:,} B) | {gz:,} | {name} | {seconds:.3f} | {rate:.0f} | {rss:.1f} | {ratio:.2f} |")
    startup = subprocess.run(
        [sys.executable, ROOT / "benches" / "startup.py", "--bootstrap", tdir / "bootstrap"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    print(startup)
    lines += ["", f"Cold start (`benches/startup.py`): {startup}."]
    # Keep the hand-written notes below the marker.
    marker = "<!-- notes: kept by bench.py -->"
    old = Path(args.out).read_text() if Path(args.out).exists() else ""
    notes = old[old.index(marker):] if marker in old else marker + "\n"
    Path(args.out).write_text("\n".join(lines) + "\n\n" + notes)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
