#!/usr/bin/env python3
"""Offline tooling around template.yaml and the local stack of asg-trail.

Run with the pinned venv:  infra/.venv/bin/python infra/template_tool.py <command> ...

  key-schema TEMPLATE              print {"table": {AttributeDefinitions, KeySchema[, GSIs]}}
  transform TEMPLATE OUT.json      SAM -> plain CloudFormation, offline (samtranslator)
  check-iam OUT.json               assert the function role is least privilege
  lint TEMPLATE                    cfn-lint + sam validate --lint + transform + cfn-lint + check-iam
  create-local --endpoint URL --table T --bucket B [--template TEMPLATE]
                                   create the bucket (S3 server) and the table (DynamoDB server)
                                   with the template's key schema; idempotent
  put-object --endpoint URL --bucket B --key K --file F
  wait-http URL [--timeout S]      poll until URL answers HTTP (any status)

Exit status: 0 on success, 1 on a failed check, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent

# The only managed policy the function role may carry: CloudWatch Logs (logs:CreateLogGroup,
# CreateLogStream, PutLogEvents on "*"), added by SAM to every generated role. AWS defines it;
# its "*" resource is the exception the checks allow.
ALLOWED_MANAGED_POLICIES = {
    "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
}


class CheckError(Exception):
    """A failed check: printed and exit 1."""


# --------------------------------------------------------------------------- YAML


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short-form tags into their long form."""


def _cfn_tag(loader: CfnLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {"Fn::" + tag_suffix: value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if str(path).endswith(".json"):
        return json.loads(text)
    doc = yaml.load(text, Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(doc, dict) or "Resources" not in doc:
        raise CheckError(f"{path}: not a CloudFormation template (no Resources)")
    return doc


def resources_of_type(template: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template.get("Resources", {}).items() if v.get("Type") == rtype}


def the_one(template: dict[str, Any], rtype: str) -> tuple[str, dict[str, Any]]:
    found = resources_of_type(template, rtype)
    if len(found) != 1:
        raise CheckError(f"expected exactly one {rtype} in the template, found {sorted(found)}")
    return next(iter(found.items()))


# --------------------------------------------------------------------------- key-schema


def key_schema(template: dict[str, Any]) -> dict[str, Any]:
    _, table = the_one(template, "AWS::DynamoDB::Table")
    props = table.get("Properties", {})
    out: dict[str, Any] = {
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
    }
    if props.get("GlobalSecondaryIndexes"):
        out["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    return {"table": out}


def cmd_key_schema(args: argparse.Namespace) -> int:
    print(json.dumps(key_schema(load_template(args.template)), indent=2))
    return 0


# --------------------------------------------------------------------------- transform


class _NoManagedPolicies:
    """Offline stand-in for samtranslator's ManagedPolicyLoader (which calls IAM)."""

    def load(self) -> dict[str, str]:
        return {}


def transform(template: dict[str, Any]) -> dict[str, Any]:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from samtranslator.translator.transform import transform as sam_transform

    template = copy.deepcopy(template)
    # As `sam validate` does: a local CodeUri/ContentUri becomes an S3 URI, which the
    # translator requires.
    for res in template.get("Resources", {}).values():
        props = res.get("Properties") or {}
        rtype = res.get("Type")
        if rtype == "AWS::Serverless::Function" and "ImageUri" not in props:
            uri = props.get("CodeUri")
            if not (isinstance(uri, str) and uri.startswith("s3://")) and not isinstance(uri, dict):
                props["CodeUri"] = "s3://bucket/value"
        elif rtype == "AWS::Serverless::LayerVersion":
            uri = props.get("ContentUri")
            if not (isinstance(uri, str) and uri.startswith("s3://")) and not isinstance(uri, dict):
                props["ContentUri"] = "s3://bucket/value"
        elif rtype == "AWS::Serverless::Api" and isinstance(props.get("DefinitionUri"), str):
            props["DefinitionUri"] = "s3://bucket/value"
    return sam_transform(template, {}, _NoManagedPolicies())


def cmd_transform(args: argparse.Namespace) -> int:
    out = transform(load_template(args.template))
    Path(args.out).write_text(json.dumps(out, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- check-iam


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _sub_string(value: Any) -> str | None:
    """The string of a plain string or of {"Fn::Sub": str} / {"Fn::Sub": [str, {}]}."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        sub = value["Fn::Sub"]
        if isinstance(sub, str):
            return sub
        if isinstance(sub, list) and sub and isinstance(sub[0], str) and not (sub[1:] and sub[1]):
            return sub[0]
    return None


def _is_arn_of(value: Any, logical_id: str, suffixes: tuple[str, ...] = ("",)) -> bool:
    """value is the Arn of resource logical_id (GetAtt), optionally followed by a suffix (Sub)."""
    if value == {"Fn::GetAtt": [logical_id, "Arn"]} or value == {"Fn::GetAtt": f"{logical_id}.Arn"}:
        return "" in suffixes
    s = _sub_string(value)
    return s is not None and any(s == "${" + logical_id + ".Arn}" + suf for suf in suffixes)


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def check_iam(template: dict[str, Any]) -> list[str]:
    """Returns the list of violations (empty = least privilege as intended)."""
    problems: list[str] = []
    res = template.get("Resources", {})

    functions = resources_of_type(template, "AWS::Lambda::Function")
    if len(functions) != 1:
        return [f"expected exactly one AWS::Lambda::Function, found {sorted(functions)}"]
    fn_id, fn = next(iter(functions.items()))
    role_ref = fn["Properties"].get("Role")
    if not (isinstance(role_ref, dict) and "Fn::GetAtt" in role_ref):
        return [f"{fn_id}: Role is not a GetAtt of a role in this template: {_show(role_ref)}"]
    getatt = role_ref["Fn::GetAtt"]
    role_id = getatt[0] if isinstance(getatt, list) else getatt.split(".")[0]
    role = res.get(role_id)
    if not role or role.get("Type") != "AWS::IAM::Role":
        return [f"{fn_id}: role {role_id} is not an AWS::IAM::Role of this template"]
    role_props = role.get("Properties", {})

    bucket_id, bucket = the_one(template, "AWS::S3::Bucket")
    bucket_name = _sub_string(bucket.get("Properties", {}).get("BucketName"))
    if bucket_name is None:
        return [f"{bucket_id}: BucketName must be a literal or a !Sub string, got "
                f"{_show(bucket.get('Properties', {}).get('BucketName'))}"]
    table_id, _ = the_one(template, "AWS::DynamoDB::Table")
    queues = set(resources_of_type(template, "AWS::SQS::Queue"))
    allowed_object_arns = {f"arn:${{AWS::Partition}}:s3:::{bucket_name}/*", f"arn:aws:s3:::{bucket_name}/*"}

    # Trust policy: only Lambda assumes the role.
    for st in _as_list(role_props.get("AssumeRolePolicyDocument", {}).get("Statement", [])):
        principal = st.get("Principal", {})
        if st.get("Effect") == "Allow" and principal != {"Service": ["lambda.amazonaws.com"]} and principal != {
            "Service": "lambda.amazonaws.com"
        }:
            problems.append(f"{role_id}: trust policy allows {_show(principal)}, expected lambda.amazonaws.com only")

    for arn in role_props.get("ManagedPolicyArns", []):
        if _sub_string(arn) not in ALLOWED_MANAGED_POLICIES:
            problems.append(f"{role_id}: managed policy {_show(arn)} is not allowed "
                            "(only AWSLambdaBasicExecutionRole)")
    if role_props.get("PermissionsBoundary"):
        pass  # a boundary only narrows

    # Inline policies of the role, plus any AWS::IAM::Policy attached to it.
    statements: list[tuple[str, dict[str, Any]]] = []
    for pol in role_props.get("Policies", []):
        for st in _as_list(pol.get("PolicyDocument", {}).get("Statement", [])):
            statements.append((f"{role_id}/{pol.get('PolicyName')}", st))
    for pid, pres in res.items():
        if pres.get("Type") in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
            props = pres.get("Properties", {})
            roles = _as_list(props.get("Roles", [])) + _as_list(props.get("RoleName", []))
            if {"Ref": role_id} in roles:
                for st in _as_list(props.get("PolicyDocument", {}).get("Statement", [])):
                    statements.append((pid, st))

    granted_get_object = granted_write = False
    for where, st in statements:
        if st.get("Effect") != "Allow":
            continue
        label = f"{where}{'/' + st['Sid'] if st.get('Sid') else ''}"
        if "NotAction" in st or "NotResource" in st:
            problems.append(f"{label}: NotAction/NotResource is not allowed")
            continue
        actions = _as_list(st.get("Action", []))
        resources = _as_list(st.get("Resource", []))
        for action in actions:
            if not isinstance(action, str) or "*" in action:
                problems.append(f"{label}: wildcard or non-literal action {_show(action)}")
        for resource in resources:
            if resource == "*" or _sub_string(resource) == "*":
                problems.append(f"{label}: resource \"*\" for {actions}")
        services = {a.split(":", 1)[0] for a in actions if isinstance(a, str)}
        if services - {"s3", "dynamodb", "sqs"}:
            problems.append(f"{label}: actions of unexpected services {sorted(services - {'s3', 'dynamodb', 'sqs'})}")
        if len(services) > 1:
            problems.append(f"{label}: one statement mixes services {sorted(services)}")
            continue
        if services == {"s3"}:
            for action in actions:
                if action != "s3:GetObject":
                    problems.append(f"{label}: S3 action {action} (only s3:GetObject is needed)")
            for resource in resources:
                if _sub_string(resource) not in allowed_object_arns:
                    problems.append(f"{label}: S3 resource {_show(resource)} is not the log bucket's objects "
                                    f"(expected arn:${{AWS::Partition}}:s3:::{bucket_name}/*)")
            granted_get_object = granted_get_object or "s3:GetObject" in actions
        elif services == {"dynamodb"}:
            for resource in resources:
                if not _is_arn_of(resource, table_id, ("", "/index/*")):
                    problems.append(f"{label}: DynamoDB resource {_show(resource)} is not table {table_id} "
                                    "(or its indexes)")
            granted_write = granted_write or "dynamodb:BatchWriteItem" in actions
        elif services == {"sqs"}:
            for action in actions:
                if action != "sqs:SendMessage":
                    problems.append(f"{label}: SQS action {action} (only sqs:SendMessage for the failure queue)")
            for resource in resources:
                if not any(_is_arn_of(resource, q) for q in queues):
                    problems.append(f"{label}: SQS resource {_show(resource)} is not a queue of this template")

    if not granted_get_object:
        problems.append(f"{role_id}: no s3:GetObject grant on arn:${{AWS::Partition}}:s3:::{bucket_name}/*")
    if not granted_write:
        problems.append(f"{role_id}: no dynamodb:BatchWriteItem grant on table {table_id}")
    return problems


def cmd_check_iam(args: argparse.Namespace) -> int:
    template = load_template(args.transformed)
    if "Transform" in template or resources_of_type(template, "AWS::Serverless::Function"):
        raise CheckError(f"{args.transformed}: still a SAM template; run `transform` first")
    problems = check_iam(template)
    if problems:
        print("check-iam: FAILED", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    print("check-iam: ok (s3:GetObject on the log bucket's objects, DynamoDB on the table only)")
    return 0


# --------------------------------------------------------------------------- lint


def _offline_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SAM_CLI_TELEMETRY="0",
        AWS_DEFAULT_REGION=env.get("AWS_DEFAULT_REGION", "us-east-1"),
        AWS_ACCESS_KEY_ID=env.get("AWS_ACCESS_KEY_ID", "test"),
        AWS_SECRET_ACCESS_KEY=env.get("AWS_SECRET_ACCESS_KEY", "test"),
        AWS_EC2_METADATA_DISABLED="true",
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


def _run_step(name: str, argv: list[str], cwd: Path) -> bool:
    print(f"==> {name}: {' '.join(argv)}", flush=True)
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=cwd, env=_offline_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, check=False)
    output = proc.stdout.strip()
    if output:
        print("    " + output.replace("\n", "\n    "))
    status = "ok" if proc.returncode == 0 else f"FAILED (exit {proc.returncode})"
    print(f"    {status} in {time.monotonic() - start:.1f} s", flush=True)
    return proc.returncode == 0


def cmd_lint(args: argparse.Namespace) -> int:
    template_path = Path(args.template).resolve()
    cwd = template_path.parent
    failed: list[str] = []

    if not _run_step("cfn-lint (SAM source)", [str(VENV_BIN / "cfn-lint"), str(template_path)], cwd):
        failed.append("cfn-lint on the SAM template")
    if not _run_step("sam validate --lint",
                     [str(VENV_BIN / "sam"), "validate", "--lint", "--template-file", str(template_path)], cwd):
        failed.append("sam validate --lint")

    with tempfile.TemporaryDirectory(prefix="asg-trail-lint-") as tmp:
        out = Path(tmp) / "transformed.json"
        print("==> transform (samtranslator, offline)", flush=True)
        try:
            transformed = transform(load_template(template_path))
            out.write_text(json.dumps(transformed, indent=2), encoding="utf-8")
            print("    ok")
        except Exception as e:  # noqa: BLE001 - report any translator error as a failed step
            print(f"    FAILED: {e}")
            failed.append("transform")
            transformed = None
        if transformed is not None:
            # The transformed template shows what the SAM source hides, e.g. the
            # bucket -> notification -> function -> role -> bucket cycle (E3004).
            if not _run_step("cfn-lint (transformed)", [str(VENV_BIN / "cfn-lint"), str(out)], cwd):
                failed.append("cfn-lint on the transformed template")
            print("==> check-iam (transformed)", flush=True)
            problems = check_iam(transformed)
            for p in problems:
                print(f"    - {p}")
            print("    ok" if not problems else "    FAILED")
            if problems:
                failed.append("check-iam")

    if failed:
        print(f"lint: FAILED: {', '.join(failed)}", flush=True)
        return 1
    print("lint: all checks passed")
    return 0


# --------------------------------------------------------------------------- local stack


def _boto_session() -> Any:
    import boto3

    return boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
    )


def _s3(endpoint: str) -> Any:
    from botocore.config import Config

    return _boto_session().client("s3", endpoint_url=endpoint,
                                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}))


def create_bucket(endpoint: str, bucket: str) -> None:
    s3 = _s3(endpoint)
    try:
        region = s3.meta.region_name
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        print(f"created bucket {bucket} at {endpoint}")
    except s3.exceptions.BucketAlreadyOwnedByYou:
        print(f"bucket {bucket} already exists at {endpoint}")


def create_table(endpoint: str, table: str, schema: dict[str, Any]) -> None:
    ddb = _boto_session().client("dynamodb", endpoint_url=endpoint)
    params: dict[str, Any] = {
        "TableName": table,
        "AttributeDefinitions": schema["AttributeDefinitions"],
        "KeySchema": schema["KeySchema"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if schema.get("GlobalSecondaryIndexes"):
        params["GlobalSecondaryIndexes"] = [
            {k: v for k, v in gsi.items() if k in ("IndexName", "KeySchema", "Projection")}
            for gsi in schema["GlobalSecondaryIndexes"]
        ]
    try:
        ddb.create_table(**params)
        print(f"created table {table} at {endpoint}")
    except ddb.exceptions.ResourceInUseException:
        existing = ddb.describe_table(TableName=table)["Table"]
        want = sorted((k["AttributeName"], k["KeyType"]) for k in schema["KeySchema"])
        have = sorted((k["AttributeName"], k["KeyType"]) for k in existing["KeySchema"])
        if want != have:
            raise CheckError(f"table {table} exists at {endpoint} with key schema {have}, template says {want}")
        print(f"table {table} already exists at {endpoint}")
    ddb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})


def cmd_create_local(args: argparse.Namespace) -> int:
    s3_endpoint = args.s3_endpoint or args.endpoint
    ddb_endpoint = args.ddb_endpoint or args.endpoint
    if not args.bucket and not args.table:
        raise SystemExit("create-local: give --bucket and/or --table")
    if args.bucket:
        if not s3_endpoint:
            raise SystemExit("create-local: --bucket needs --endpoint or --s3-endpoint")
        create_bucket(s3_endpoint, args.bucket)
    if args.table:
        if not ddb_endpoint:
            raise SystemExit("create-local: --table needs --endpoint or --ddb-endpoint")
        create_table(ddb_endpoint, args.table, key_schema(load_template(args.template))["table"])
    return 0


def cmd_put_object(args: argparse.Namespace) -> int:
    s3 = _s3(args.s3_endpoint or args.endpoint)
    with open(args.file, "rb") as body:
        s3.put_object(Bucket=args.bucket, Key=args.key, Body=body)
    print(f"put s3://{args.bucket}/{args.key} ({Path(args.file).stat().st_size} bytes)")
    return 0


def cmd_wait_http(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout
    last: str = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(args.url, timeout=2):
                return 0
        except urllib.error.HTTPError:
            return 0  # any HTTP answer means the server is up
        except (urllib.error.URLError, OSError) as e:
            last = str(e)
        time.sleep(args.interval)
    raise CheckError(f"{args.url} did not answer within {args.timeout:g} s (last error: {last})")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("key-schema", help="print the table's key schema as JSON")
    p.add_argument("template")
    p.set_defaults(func=cmd_key_schema)

    p = sub.add_parser("transform", help="SAM -> CloudFormation JSON, offline")
    p.add_argument("template")
    p.add_argument("out")
    p.set_defaults(func=cmd_transform)

    p = sub.add_parser("check-iam", help="assert least-privilege IAM on a transformed template")
    p.add_argument("transformed")
    p.set_defaults(func=cmd_check_iam)

    p = sub.add_parser("lint", help="all template checks, offline")
    p.add_argument("template")
    p.set_defaults(func=cmd_lint)

    p = sub.add_parser("create-local", help="create the bucket and the table on local servers")
    p.add_argument("--endpoint", help="endpoint for both S3 and DynamoDB")
    p.add_argument("--s3-endpoint")
    p.add_argument("--ddb-endpoint")
    p.add_argument("--table")
    p.add_argument("--bucket")
    p.add_argument("--template", default=str(ROOT / "template.yaml"))
    p.set_defaults(func=cmd_create_local)

    p = sub.add_parser("put-object", help="upload a file to the local S3 server")
    p.add_argument("--endpoint")
    p.add_argument("--s3-endpoint")
    p.add_argument("--bucket", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--file", required=True)
    p.set_defaults(func=cmd_put_object)

    p = sub.add_parser("wait-http", help="poll until a URL answers")
    p.add_argument("url")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--interval", type=float, default=0.2)
    p.set_defaults(func=cmd_wait_http)

    args = parser.parse_args(argv)
    if args.command == "put-object" and not (args.endpoint or args.s3_endpoint):
        parser.error("put-object needs --endpoint or --s3-endpoint")
    try:
        return args.func(args)
    except CheckError as e:
        print(f"{args.command}: ERROR: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # botocore errors: one clear line instead of a traceback
        if type(e).__module__.startswith("botocore"):
            print(f"{args.command}: ERROR: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
