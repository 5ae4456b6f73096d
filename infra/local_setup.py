#!/usr/bin/env python3
"""Creates the demo bucket and table on the local stack (infra/stack.sh start calls this).

    infra/.venv/bin/python infra/local_setup.py [--bucket B] [--table T]

Defaults come from the environment that infra/stack.sh sets:
ASG_TRAIL_S3_PORT (4566), ASG_TRAIL_DDB_PORT (8000), ASG_TRAIL_BUCKET (asg-trail-demo),
ASG_TRAIL_TABLE (asg-trail-events). The table gets exactly the key schema of template.yaml.
Idempotent: an existing bucket or table (with the same key schema) is fine.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import template_tool  # noqa: E402


def main() -> int:
    s3_port = os.environ.get("ASG_TRAIL_S3_PORT", "4566")
    ddb_port = os.environ.get("ASG_TRAIL_DDB_PORT", "8000")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bucket", default=os.environ.get("ASG_TRAIL_BUCKET", "asg-trail-demo"))
    parser.add_argument("--table", default=os.environ.get("ASG_TRAIL_TABLE", "asg-trail-events"))
    parser.add_argument("--s3-endpoint", default=f"http://127.0.0.1:{s3_port}")
    parser.add_argument("--ddb-endpoint", default=f"http://127.0.0.1:{ddb_port}")
    parser.add_argument("--template", default=str(template_tool.ROOT / "template.yaml"))
    args = parser.parse_args()
    return template_tool.main([
        "create-local",
        "--s3-endpoint", args.s3_endpoint,
        "--ddb-endpoint", args.ddb_endpoint,
        "--bucket", args.bucket,
        "--table", args.table,
        "--template", args.template,
    ])


if __name__ == "__main__":
    sys.exit(main())
