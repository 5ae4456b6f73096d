#!/usr/bin/env python3
"""Cold start of the Lambda binary: the time from exec of `bootstrap` to its first
`GET /2018-06-01/runtime/invocation/next` on a local Runtime API, over several runs, and the
binary's size. The SDK clients are built before that first poll, so this is the whole init.

    python3 benches/startup.py [--runs 20] [--bootstrap target/release/bootstrap]
"""

import argparse
import os
import socket
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one_run(binary):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": "asg-trail",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_GROUP_NAME": "bench",
        "TABLE_NAME": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    start = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server.settimeout(10)
    conn, _ = server.accept()
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    elapsed = time.perf_counter() - start
    proc.kill()
    proc.wait()
    conn.close()
    server.close()
    line = data.split(b"\r\n", 1)[0].decode()
    if "/runtime/invocation/next" not in line:
        raise SystemExit(f"unexpected first request: {line!r}")
    return elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--bootstrap", default=None)
    args = ap.parse_args()
    binary = args.bootstrap
    if binary is None:
        subprocess.run(["cargo", "build", "--release", "--bin", "bootstrap"], cwd=ROOT, check=True)
        meta = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"],
                              cwd=ROOT, check=True, capture_output=True, text=True).stdout
        import json
        binary = str(Path(json.loads(meta)["target_directory"]) / "release" / "bootstrap")
    one_run(binary)  # warm the page cache
    times = sorted(one_run(binary) * 1000 for _ in range(args.runs))
    size = Path(binary).stat().st_size
    print(f"bootstrap: {size / 1e6:.2f} MB; exec to first /next poll over {args.runs} runs: "
          f"median {statistics.median(times):.1f} ms, min {times[0]:.1f} ms, max {times[-1]:.1f} ms")


if __name__ == "__main__":
    main()
