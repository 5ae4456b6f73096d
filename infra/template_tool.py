#!/usr/bin/env python3
"""Offline tooling around template.yaml and the local stack of asg-trail.

Run with the pinned venv:  infra/.venv/bin/python infra/template_tool.py <command> ...

  key-schema TEMPLATE              print {"table": {AttributeDefinitions, KeySchema[, GSIs]}}
  transform TEMPLATE OUT.json      SAM -> plain CloudFormation, offline (samtranslator)
  modes                            the deployment modes the checks cover (parameter overrides)
  resolve TEMPLATE OUT.json [--mode M] [--param K=V ...] [--all-modes] [--stack-name S]
                                   the template as deployed: transformed, conditions, rules and
                                   parameters resolved (a rule that rejects the values fails);
                                   conditions see AWS::Region us-east-1 (AWS_DEFAULT_REGION).
                                   --stack-name also resolves the pseudo-parameters (stack id,
                                   account 123456789012), so physical names become literals
  check-iam TEMPLATE [--mode M] [--param K=V ...]
                                   assert least-privilege IAM, in every mode by default
  samconfig [--config PATH] [--template T]
                                   `sam build` and `sam deploy` read the same parameter_overrides
                                   from samconfig.toml, naming every parameter, and a valid,
                                   least-privilege deployment
  lint TEMPLATE                    cfn-lint + sam validate --lint + transform, then per mode:
                                   resolve + check-iam; cfn-lint of transformed + resolved;
                                   then the forwarder (infra/forwarder.yaml): cfn-lint and
                                   check-forwarder
  check-forwarder [--template T] [--forwarder F]
                                   the forwarder forwards what the stack's rule matches, to the
                                   stack region's default bus, with a role that may do that only
  sam-build [--arch ARCH]          `sam build` (cargo lambda) into a temporary folder, reading
                                   samconfig.toml as a user's `sam build` does (its Architecture
                                   set to ARCH, default the host's); checks the bootstrap is an
                                   ELF executable of the architecture the function resolves to
                                   under samconfig's deploy overrides
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
FORWARDER = ROOT / "infra" / "forwarder.yaml"
VENV_BIN = Path(sys.executable).parent

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


# --------------------------------------------------------------------------- modes / resolve

# The deployments the checks cover: every condition of the template is taken both ways by at
# least one of them. Values are parameter overrides, as `sam deploy --parameter-overrides`.
EXAMPLE_KMS_KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
EXAMPLE_TOPIC = "arn:aws:sns:eu-west-1:111122223333:org-trail-log-files"
EXAMPLE_TOPIC_SAME_REGION = "arn:aws:sns:us-east-1:111122223333:org-trail-log-files"
EXAMPLE_TOPIC_OPT_IN = "arn:aws:sns:ap-east-1:111122223333:org-trail-log-files"
EXAMPLE_ALARM_TOPIC_ELSEWHERE = "arn:aws:sns:eu-west-1:111122223333:pager"
# What conditions comparing with AWS::Region see (the region the tests and lint run in), and
# the account and stack id that `resolve --stack-name` gives the pseudo-parameters.
CHECK_REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
EXAMPLE_ACCOUNT = "123456789012"
MODES: dict[str, dict[str, str]] = {
    # sam deploy with every default: bucket, trail, S3 notification.
    "turnkey": {},
    # Turnkey with every option on (and no trail of its own).
    "turnkey-options": {
        "CreateTrail": "false",
        "KmsKeyArn": EXAMPLE_KMS_KEY,
        "RetentionDays": "400",
        "LogFileExpirationDays": "2557",
        "ReservedConcurrency": "5",
        "AlarmEmail": "ops@example.com",
        "AlarmTopicArn": "arn:aws:sns:us-east-1:111122223333:pager",
        "IncludeServiceActions": "true",
        "ExcludeReadOnly": "false",
        "ReadOnlyRetentionDays": "30",
        "EventNamesExclude": "PutScalingPolicy,DeletePolicy",
        "RealTimeEvents": "false",
    },
    # An organization trail's bucket, SSE-KMS, through EventBridge, below a prefix.
    "existing-eventbridge": {
        "ExistingBucketName": "org-trail-logs",
        "ExistingBucketPrefix": "AWSLogs/o-abc123def4/",
        # Nothing ever expires: TTL off.
        "ReadOnlyRetentionDays": "0",
        "KmsKeyArn": EXAMPLE_KMS_KEY,
        # A log-archive stack: the organization's accounts forward their real-time events.
        "RealTimeEventOrganization": "o-abc123def4",
    },
    # Turnkey hardened: the trail's own KMS key, a versioned bucket with expiry, a named bucket
    # and table (a stack created before names were derived), no deletion protection.
    "turnkey-hardened": {
        "TrailKmsEncryption": "true",
        "LogBucketVersioning": "true",
        "LogFileExpirationDays": "365",
        "LogBucketName": "asg-trail-logs-111122223333-us-east-1",
        "TableName": "asg-trail-events",
        "TableDeletionProtection": "false",
    },
    # An existing bucket whose notifications go to an SNS topic (in another region).
    "existing-sns": {
        "ExistingBucketName": "org-trail-logs",
        "ExistingBucketTrigger": "SNS",
        "ExistingBucketTopicArn": EXAMPLE_TOPIC,
        # Two other accounts forward their real-time events.
        "RealTimeEventAccounts": "444455556666,777788889999",
    },
    # The topic in the stack's region (the checks resolve in us-east-1): the failure queue is
    # the subscription's dead-letter queue.
    "existing-sns-same-region": {
        "ExistingBucketName": "org-trail-logs",
        "ExistingBucketTrigger": "SNS",
        "ExistingBucketTopicArn": EXAMPLE_TOPIC_SAME_REGION,
    },
    # The topic in an opt-in region: the regional SNS principal.
    "existing-sns-opt-in": {
        "ExistingBucketName": "org-trail-logs",
        "ExistingBucketTrigger": "SNS",
        "ExistingBucketTopicArn": EXAMPLE_TOPIC_OPT_IN,
    },
    # An alarm topic of another region: a first create CloudFormation refuses at once
    # (AlarmTopicRefusal), checked and linted like the others.
    "alarm-topic-elsewhere": {
        "AlarmTopicArn": EXAMPLE_ALARM_TOPIC_ELSEWHERE,
    },
    # Alerts on changes by hand: to a topic the stack makes for an email, or to one given.
    "alerts-email": {
        "AlertEmail": "oncall@example.com",
        "AlertRules": "groups=prod-*; calls=Delete* by=anyone",
    },
    "alerts-topic": {
        "AlertTopicArn": "arn:aws:sns:us-east-1:111122223333:asg-alerts",
        "TableName": "asg-trail-events",
    },
}


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CheckError(f"bad parameter override {pair!r}: expected Name=Value")
        out[name] = value
    return out


def parameter_values(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    params = template.get("Parameters", {})
    unknown = sorted(set(overrides) - set(params))
    if unknown:
        raise CheckError(f"unknown parameter(s) {unknown}")
    values: dict[str, str] = {}
    for name, spec in params.items():
        if name in overrides:
            value = overrides[name]
        elif "Default" in spec:
            value = str(spec["Default"])
        else:
            raise CheckError(f"parameter {name} has no default and no value")
        allowed = spec.get("AllowedValues")
        if allowed is not None and value not in [str(a) for a in allowed]:
            raise CheckError(f"parameter {name}={value!r} is not one of {allowed}")
        pattern = spec.get("AllowedPattern")
        if pattern is not None and not __import__("re").fullmatch(pattern, value):
            raise CheckError(f"parameter {name}={value!r} does not match {pattern}")
        values[name] = value
    return values


class _Resolver:
    """Evaluates a template's conditions and rules for given parameter values, and rewrites the
    template as CloudFormation would deploy it: resources and outputs of false conditions removed,
    Fn::If replaced by its branch, AWS::NoValue dropped, parameters substituted."""

    def __init__(self, template: dict[str, Any], values: dict[str, str],
                 pseudo: dict[str, str] | None = None) -> None:
        """pseudo: values of pseudo-parameters (AWS::StackName, ...) to substitute everywhere;
        without them conditions still see AWS::Region as CHECK_REGION."""
        self.template = template
        self.values = values
        self.pseudo = pseudo or {}
        self.conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            spec = self.template.get("Conditions", {}).get(name)
            if spec is None:
                raise CheckError(f"unknown condition {name}")
            self.conditions[name] = self.truth(spec)
        return self.conditions[name]

    def truth(self, expr: Any) -> bool:
        if isinstance(expr, dict) and len(expr) == 1:
            (fn, args), = expr.items()
            if fn == "Condition":
                return self.condition(args)
            if fn == "Fn::Equals":
                a, b = (self.scalar(x) for x in args)
                return a == b
            if fn == "Fn::Not":
                return not self.truth(args[0])
            if fn == "Fn::And":
                return all(self.truth(x) for x in args)
            if fn == "Fn::Or":
                return any(self.truth(x) for x in args)
        raise CheckError(f"cannot evaluate condition {_show(expr)}")

    def scalar(self, expr: Any) -> str:
        value = _Resolver(self.template, self.values,
                          {"AWS::Region": CHECK_REGION, **self.pseudo}).value(expr)
        if isinstance(value, (dict, list)):
            raise CheckError(f"not a literal after resolution: {_show(expr)}")
        return str(value).lower() if isinstance(value, bool) else str(value)

    def value(self, expr: Any) -> Any:
        """expr with conditions and parameters resolved (pseudo-parameters and resource
        references stay as they are)."""
        if isinstance(expr, list):
            out = [self.value(x) for x in expr]
            return [x for x in out if x is not _NO_VALUE]
        if not isinstance(expr, dict):
            return expr
        if len(expr) == 1:
            (fn, args), = expr.items()
            if fn == "Ref" and args == "AWS::NoValue":
                return _NO_VALUE
            if fn == "Ref" and args in self.values:
                return self.values[args]
            if fn == "Ref" and args in self.pseudo:
                return self.pseudo[args]
            if fn == "Fn::If":
                name, yes, no = args
                return self.value(yes if self.condition(name) else no)
            if fn == "Fn::Sub" and isinstance(args, str):
                text = args
                for name, v in {**self.values, **self.pseudo}.items():
                    text = text.replace("${" + name + "}", v)
                return {"Fn::Sub": text} if "${" in text else text
            if fn == "Fn::Sub" and isinstance(args, list) and len(args) == 2:
                variables = self.value(args[1])
                text = self.value({"Fn::Sub": args[0]})
                if isinstance(text, str) or not isinstance(variables, dict):
                    return text
                literal = {k: v for k, v in variables.items() if isinstance(v, str)}
                rest = {k: v for k, v in variables.items() if k not in literal}
                text = text["Fn::Sub"]
                for name, v in literal.items():
                    text = text.replace("${" + name + "}", v)
                if "${" not in text:
                    return text
                return {"Fn::Sub": [text, rest]} if rest else {"Fn::Sub": text}
            if fn == "Fn::Join":
                sep, parts = args[0], self.value(args[1])
                if isinstance(parts, list) and all(isinstance(p, str) for p in parts):
                    return sep.join(parts)
                return {fn: [sep, parts]}
            if fn == "Fn::Split":
                sep, source = args[0], self.value(args[1])
                if isinstance(source, str):
                    return source.split(sep)
                return {fn: [sep, source]}
            if fn == "Fn::Select":
                index, items = self.value(args[0]), self.value(args[1])
                if isinstance(items, list) and all(isinstance(i, str) for i in items):
                    return items[int(index)]
                return {fn: [index, items]}
        out = {}
        for k, v in expr.items():
            if k == "Condition" and isinstance(v, str):
                continue  # evaluated by the caller
            rv = self.value(v)
            if rv is not _NO_VALUE:
                out[k] = rv
        return out

    def check_rules(self) -> None:
        for name, rule in self.template.get("Rules", {}).items():
            if "RuleCondition" in rule and not self.truth(rule["RuleCondition"]):
                continue
            for assertion in rule.get("Assertions", []):
                if not self.truth(assertion["Assert"]):
                    raise CheckError(f"rule {name}: {assertion.get('AssertDescription', 'assertion fails')}")

    def resolve(self) -> dict[str, Any]:
        self.check_rules()
        out: dict[str, Any] = {}
        for section, body in self.template.items():
            if section in ("Conditions", "Rules", "Parameters", "Metadata"):
                continue
            if section in ("Resources", "Outputs"):
                out[section] = {
                    lid: self.value(spec)
                    for lid, spec in body.items()
                    if "Condition" not in spec or self.condition(spec["Condition"])
                }
            else:
                out[section] = body
        return out


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


_NO_VALUE: Any = _NoValue()


def pseudo_parameters(stack_name: str) -> dict[str, str]:
    """Pseudo-parameters of a stack of that name in CHECK_REGION: its id ends in a UUID, as
    CloudFormation's do (a fixed one per name, so runs compare)."""
    import uuid

    stack_uuid = uuid.uuid5(uuid.NAMESPACE_URL, f"asg-trail-check/{stack_name}")
    return {
        "AWS::StackName": stack_name,
        "AWS::StackId": f"arn:aws:cloudformation:{CHECK_REGION}:{EXAMPLE_ACCOUNT}:stack/{stack_name}/{stack_uuid}",
        "AWS::Region": CHECK_REGION,
        "AWS::AccountId": EXAMPLE_ACCOUNT,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }


def resolve(template: dict[str, Any], overrides: dict[str, str], stack_name: str | None = None) -> dict[str, Any]:
    """The template (SAM or plain) as deployed with these parameter overrides: plain
    CloudFormation without Conditions, Rules or Parameters (and with stack_name, the
    pseudo-parameters too). Raises CheckError when a parameter is invalid or a rule of the
    template rejects the combination."""
    if "Transform" in template:
        template = transform(template)
    pseudo = pseudo_parameters(stack_name) if stack_name else None
    return _Resolver(template, parameter_values(template, overrides), pseudo).resolve()


def mode_overrides(args: argparse.Namespace) -> dict[str, str]:
    overrides: dict[str, str] = {}
    if getattr(args, "mode", None):
        if args.mode not in MODES:
            raise CheckError(f"unknown mode {args.mode!r}; modes: {', '.join(MODES)}")
        overrides.update(MODES[args.mode])
    overrides.update(parse_overrides(getattr(args, "param", None) or []))
    return overrides


def samconfig_overrides(path: Path, command: str = "deploy", env: str = "default") -> dict[str, str]:
    """The parameter_overrides that `sam <command>` reads from a samconfig.toml (its own
    [env.command.parameters], else [env.global.parameters]), parsed by SAM CLI's own parser."""
    import tomllib

    from samcli.cli.types import CfnParameterOverridesType

    with open(path, "rb") as f:
        config = tomllib.load(f).get(env, {})
    raw = config.get(command, {}).get("parameters", {}).get(
        "parameter_overrides", config.get("global", {}).get("parameters", {}).get("parameter_overrides"))
    if raw is None:
        raise CheckError(f"{path}: no parameter_overrides for `sam {command}` "
                         f"([{env}.global.parameters] or [{env}.{command}.parameters])")
    return {k: str(v) for k, v in CfnParameterOverridesType().convert(raw, None, None).items()}


def check_samconfig(path: Path, template: dict[str, Any]) -> None:
    """samconfig.toml gives `sam build` and `sam deploy` the same parameters (so one Architecture),
    every parameter of the template, and a valid, least-privilege deployment."""
    build, deploy = samconfig_overrides(path, "build"), samconfig_overrides(path, "deploy")
    if build != deploy:
        differ = sorted(k for k in set(build) | set(deploy) if build.get(k) != deploy.get(k))
        raise CheckError(f"`sam build` and `sam deploy` read different parameter_overrides ({differ}): "
                         "keep them in [default.global.parameters] only (`sam deploy --guided` saves "
                         "its answers under [default.deploy.parameters]: move them)")
    missing = sorted(set(template.get("Parameters", {})) - set(deploy))
    if missing:
        raise CheckError(f"parameters missing from parameter_overrides: {missing}")
    values = parameter_values(template, deploy)
    problems = check_iam(_Resolver(template, values).resolve(), values)
    if problems:
        raise CheckError("; ".join(problems))


def cmd_modes(args: argparse.Namespace) -> int:
    print(json.dumps(MODES, indent=2))
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    template = load_template(args.template)
    if args.all_modes:
        plain = transform(template) if "Transform" in template else template
        out: Any = {mode: resolve(plain, overrides) for mode, overrides in MODES.items()}
    else:
        out = resolve(template, mode_overrides(args), args.stack_name)
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


def _getatt(value: Any) -> tuple[str, str] | None:
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        att = value["Fn::GetAtt"]
        if isinstance(att, str):
            att = att.split(".", 1)
        if isinstance(att, list) and len(att) == 2 and all(isinstance(a, str) for a in att):
            return att[0], att[1]
    return None


def _is_arn_of(value: Any, logical_id: str, suffixes: tuple[str, ...] = ("",)) -> bool:
    """value is the Arn of resource logical_id (GetAtt), optionally followed by a suffix (Sub)."""
    if _getatt(value) == (logical_id, "Arn"):
        return "" in suffixes
    s = _sub_string(value)
    return s is not None and any(s == "${" + logical_id + ".Arn}" + suf for suf in suffixes)


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


# What the function does, and so all it may do: read log files, decrypt them when SSE-KMS, write
# the table, send a failed event to its queue, write its own logs.
FUNCTION_ACTIONS = {
    "s3": {"s3:GetObject"},
    "kms": {"kms:Decrypt"},
    "dynamodb": {"dynamodb:BatchWriteItem", *("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")},
    "sqs": {"sqs:SendMessage"},
    "sns": {"sns:Publish"},
    "logs": {"logs:CreateLogStream", "logs:PutLogEvents"},
}

# The alert markers' calls: granted only on the markers' partitions (dynamodb:LeadingKeys).
MARKER_ACTIONS = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}
MARKER_PARTITIONS = [":alert:*", ":alert-window:*"]


def _is_alert_topic(resource: Any) -> bool:
    """The alert topic: the one the stack makes, or the AlertTopicArn parameter (resolved or not)."""
    if resource in ({"Ref": "AlertTopic"}, {"Ref": "AlertTopicArn"}):
        return True
    return isinstance(resource, str) and resource.startswith("arn:aws") and ":sns:" in resource and "*" not in resource


def _sub_parts(value: Any) -> tuple[str, dict[str, Any]] | None:
    """(text, variables) of a literal string or of {"Fn::Sub": str | [str, {variables}]}."""
    if isinstance(value, str):
        return value, {}
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        sub = value["Fn::Sub"]
        if isinstance(sub, str):
            return sub, {}
        if isinstance(sub, list) and len(sub) in (1, 2) and isinstance(sub[0], str):
            variables = sub[1] if len(sub) == 2 else {}
            if isinstance(variables, dict):
                return sub[0], variables
    return None


def expected_log_objects(template: dict[str, Any], values: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """The one S3 object ARN pattern the function may read, as _sub_parts: the turnkey bucket's
    AWSLogs/ (where its bucket policy lets CloudTrail write; the same expression as the
    bucket's name), or the existing bucket below its prefix."""
    if values.get("ExistingBucketName"):
        return (f"arn:${{AWS::Partition}}:s3:::{values['ExistingBucketName']}/"
                f"{values.get('ExistingBucketPrefix', '')}*", {})
    bucket_id, bucket = the_one(template, "AWS::S3::Bucket")
    name = _sub_parts(bucket.get("Properties", {}).get("BucketName"))
    if name is None:
        raise CheckError(f"{bucket_id}: BucketName must be a literal or a !Sub")
    return f"arn:${{AWS::Partition}}:s3:::{name[0]}/AWSLogs/*", name[1]


TABLE_ARN_PREFIX = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/"


def table_arn_forms(table: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The table's ARN (and its indexes') built from its TableName, as _sub_parts: how the role
    names a table it must not reference (the table is created last)."""
    name = _sub_parts(table.get("Properties", {}).get("TableName"))
    if name is None:
        return []
    return [(TABLE_ARN_PREFIX + name[0] + suffix, name[1]) for suffix in ("", "/index/*")]


def check_iam(template: dict[str, Any], values: dict[str, str]) -> list[str]:
    """Violations of least privilege in a resolved template (see resolve); empty = as intended.

    values are the parameter values the template was resolved with (they say which bucket,
    prefix and KMS key the function may use)."""
    problems: list[str] = []
    res = template.get("Resources", {})
    if "Conditions" in template or any("Fn::If" in json.dumps(r) for r in res.values()):
        return ["the template still has conditions: check a resolved template (resolve)"]

    functions = resources_of_type(template, "AWS::Lambda::Function")
    if len(functions) != 1:
        return [f"expected exactly one AWS::Lambda::Function, found {sorted(functions)}"]
    fn_id, fn = next(iter(functions.items()))
    fn_props = fn.get("Properties", {})
    role_att = _getatt(fn_props.get("Role"))
    if role_att is None or role_att[1] != "Arn":
        return [f"{fn_id}: Role is not a GetAtt of a role in this template: {_show(fn_props.get('Role'))}"]
    role_id = role_att[0]
    role = res.get(role_id)
    if not role or role.get("Type") != "AWS::IAM::Role":
        return [f"{fn_id}: role {role_id} is not an AWS::IAM::Role of this template"]
    other_roles = sorted(set(resources_of_type(template, "AWS::IAM::Role")) - {role_id})
    if other_roles:
        problems.append(f"roles other than the function's: {other_roles}")
    role_props = role.get("Properties", {})

    try:
        allowed_objects = expected_log_objects(template, values)
    except CheckError as e:
        return [str(e)]
    table_id, table = the_one(template, "AWS::DynamoDB::Table")
    table_arns = table_arn_forms(table)
    # KMS keys of the log files: the KmsKeyArn parameter, and the stack's own trail key.
    kms_keys: list[Any] = [values["KmsKeyArn"]] if values.get("KmsKeyArn") else []
    kms_keys += [{"Fn::GetAtt": [k, "Arn"]} for k in resources_of_type(template, "AWS::KMS::Key")]
    log_group = fn_props.get("LoggingConfig", {}).get("LogGroup")
    log_group_id = log_group.get("Ref") if isinstance(log_group, dict) else None
    if log_group_id not in resources_of_type(template, "AWS::Logs::LogGroup"):
        problems.append(f"{fn_id}: LoggingConfig.LogGroup is not a log group of this template: {_show(log_group)}")
    invoke_configs = resources_of_type(template, "AWS::Lambda::EventInvokeConfig")
    failure_queues = set()
    for cfg in invoke_configs.values():
        dest = cfg.get("Properties", {}).get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        att = _getatt(dest)
        if att and att[1] == "Arn":
            failure_queues.add(att[0])

    # Trust policy: only Lambda assumes the role.
    for st in _as_list(role_props.get("AssumeRolePolicyDocument", {}).get("Statement", [])):
        principal = st.get("Principal", {})
        if st.get("Effect") == "Allow" and principal not in (
            {"Service": ["lambda.amazonaws.com"]}, {"Service": "lambda.amazonaws.com"}
        ):
            problems.append(f"{role_id}: trust policy allows {_show(principal)}, expected lambda.amazonaws.com only")

    # No managed policy: AWSLambdaBasicExecutionRole, which SAM adds to the roles it generates,
    # allows logs:* actions on "*"; the role grants its own log group instead.
    for arn in role_props.get("ManagedPolicyArns", []):
        problems.append(f"{role_id}: managed policy {_show(arn)} (grant the exact actions inline instead)")

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

    granted: set[str] = set()
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
        if services - set(FUNCTION_ACTIONS):
            problems.append(f"{label}: actions of unexpected services {sorted(services - set(FUNCTION_ACTIONS))}")
            continue
        if len(services) != 1:
            problems.append(f"{label}: one statement must grant one service, got {sorted(services)}")
            continue
        service = next(iter(services))
        for action in actions:
            if isinstance(action, str) and action not in FUNCTION_ACTIONS[service]:
                problems.append(f"{label}: action {action} is more than the function needs "
                                f"({sorted(FUNCTION_ACTIONS[service])})")
        granted.update(a for a in actions if isinstance(a, str))
        for resource in resources:
            if service == "s3" and _sub_parts(resource) != allowed_objects:
                problems.append(f"{label}: S3 resource {_show(resource)} is not the log files "
                                f"({_show(allowed_objects)})")
            elif service == "kms" and resource not in kms_keys:
                problems.append(f"{label}: KMS resource {_show(resource)} is not the KmsKeyArn parameter "
                                f"or the trail's key ({_show(kms_keys) if kms_keys else 'none: no KMS grant expected'})")
            elif service == "dynamodb" and not (_is_arn_of(resource, table_id, ("", "/index/*"))
                                                or _sub_parts(resource) in table_arns):
                problems.append(f"{label}: DynamoDB resource {_show(resource)} is not table {table_id} "
                                "(or its indexes)")
            elif service == "sqs" and not any(_is_arn_of(resource, q) for q in failure_queues):
                problems.append(f"{label}: SQS resource {_show(resource)} is not the on-failure queue "
                                f"{sorted(failure_queues)}")
            elif service == "sns" and not _is_alert_topic(resource):
                problems.append(f"{label}: SNS resource {_show(resource)} is not the alert topic")
            elif service == "logs" and not (log_group_id and _is_arn_of(resource, log_group_id)):
                problems.append(f"{label}: Logs resource {_show(resource)} is not the function's log group "
                                f"{log_group_id}")
        if service == "dynamodb" and MARKER_ACTIONS & set(actions):
            keys = st.get("Condition", {}).get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
            if keys != MARKER_PARTITIONS:
                problems.append(f"{label}: {sorted(MARKER_ACTIONS & set(actions))} must be limited to the "
                                f"alert markers' partitions (dynamodb:LeadingKeys {MARKER_PARTITIONS}), got {_show(keys)}")
        if service == "kms":
            via = st.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService")
            if _sub_string(via) != "s3.${AWS::Region}.amazonaws.com":
                problems.append(f"{label}: kms:Decrypt must be limited to S3 (kms:ViaService), got {_show(via)}")

    required = {"s3:GetObject", "dynamodb:BatchWriteItem", "logs:CreateLogStream", "logs:PutLogEvents"}
    if failure_queues:
        required.add("sqs:SendMessage")
    if kms_keys:
        required.add("kms:Decrypt")
    for action in sorted(required - granted):
        problems.append(f"{role_id}: {action} is not granted (the function needs it)")

    # Who may invoke the function: each permission names its source.
    for pid, perm in resources_of_type(template, "AWS::Lambda::Permission").items():
        props = perm.get("Properties", {})
        if props.get("Action") != "lambda:InvokeFunction":
            problems.append(f"{pid}: action {_show(props.get('Action'))} (only lambda:InvokeFunction)")
        if not props.get("SourceArn"):
            problems.append(f"{pid}: no SourceArn: any {props.get('Principal')} resource could invoke the function")
        if props.get("Principal") == "s3.amazonaws.com" and not props.get("SourceAccount"):
            problems.append(f"{pid}: S3 permission without SourceAccount (bucket ARNs name no account)")
        if isinstance(props.get("Principal"), str) and not props["Principal"].endswith(".amazonaws.com"):
            problems.append(f"{pid}: principal {props['Principal']} is not an AWS service")
        if props.get("Principal") == "events.amazonaws.com":
            rule = _getatt(props.get("SourceArn"))
            if not (rule and rule[1] == "Arn" and rule[0] in rules_to_function(template, fn_id)):
                problems.append(f"{pid}: SourceArn {_show(props.get('SourceArn'))} is not a rule of this "
                                f"template targeting the function ({sorted(rules_to_function(template, fn_id))})")
    problems += check_rules_and_queues(template, fn_id)
    problems += check_log_bucket_policy(template)
    return problems


# Only CloudTrail may write a log file into the stack's bucket (the function stores what a file
# says, userIdentity included): the actions that put an object's bytes there.
LOG_FILE_WRITES = {"s3:PutObject", "s3:ReplicateObject"}
CLOUDTRAIL = "cloudtrail.amazonaws.com"


def _why_not_the_forgery_deny(st: dict[str, Any], bucket_id: str) -> str | None:
    """None if st denies LOG_FILE_WRITES below AWSLogs/ of bucket_id to every principal but the
    CloudTrail service principal; else what is missing."""
    if st.get("Effect") != "Deny":
        return "not a Deny"
    if "NotPrincipal" in st or st.get("Principal") not in ("*", {"AWS": "*"}):
        return f"principal {_show(st.get('Principal', st.get('NotPrincipal')))} is not every principal (\"*\")"
    if "NotAction" in st or "NotResource" in st:
        return "NotAction/NotResource"
    actions = set(_as_list(st.get("Action", [])))
    if actions != LOG_FILE_WRITES:
        return f"actions {sorted(actions)} are not exactly {sorted(LOG_FILE_WRITES)}"
    resources = _as_list(st.get("Resource", []))
    if not resources or not all(_is_arn_of(r, bucket_id, ("/AWSLogs/*", "/*")) for r in resources):
        return f"resources {_show(resources)} do not all cover ${{{bucket_id}.Arn}}/AWSLogs/*"
    # A missing key (every caller but a service principal) must count as "not CloudTrail": both
    # negated operators do; any other key or value exempts more than CloudTrail.
    condition = st.get("Condition")
    if condition not in [{op: {"aws:PrincipalServiceName": v}}
                         for op in ("StringNotEqualsIfExists", "StringNotEquals")
                         for v in (CLOUDTRAIL, [CLOUDTRAIL])]:
        return (f"condition {_show(condition)} is not StringNotEqualsIfExists aws:PrincipalServiceName = "
                f"{CLOUDTRAIL} (anything else exempts more than CloudTrail)")
    return None


def check_log_bucket_policy(template: dict[str, Any]) -> list[str]:
    """Each bucket the stack creates (turnkey) has a policy denying LOG_FILE_WRITES below AWSLogs/
    to every principal but CloudTrail: no one else of the account can forge a log file."""
    problems: list[str] = []
    policies = resources_of_type(template, "AWS::S3::BucketPolicy")
    for bucket_id in sorted(resources_of_type(template, "AWS::S3::Bucket")):
        statements = [(pid, st) for pid, p in policies.items()
                      if p.get("Properties", {}).get("Bucket") == {"Ref": bucket_id}
                      for st in _as_list(p["Properties"].get("PolicyDocument", {}).get("Statement", []))]
        reasons = [(f"{pid}/{st.get('Sid', '?')}", _why_not_the_forgery_deny(st, bucket_id), st)
                   for pid, st in statements]
        if any(why is None for _, why, _ in reasons):
            continue
        # The statements that look like the deny, and why each is not it.
        near = "; ".join(f"{label}: {why}" for label, why, st in reasons
                         if st.get("Effect") == "Deny" and set(_as_list(st.get("Action", []))) & LOG_FILE_WRITES)
        problems.append(f"{bucket_id}: no bucket policy statement denies {sorted(LOG_FILE_WRITES)} on "
                        f"${{{bucket_id}.Arn}}/AWSLogs/* to every principal but {CLOUDTRAIL}: anyone of the "
                        f"account with s3:PutObject could forge a log file" + (f" ({near})" if near else ""))
    return problems


def rules_to_function(template: dict[str, Any], fn_id: str) -> set[str]:
    """The EventBridge rules of the template with the function as a target."""
    return {rid for rid, rule in resources_of_type(template, "AWS::Events::Rule").items()
            if any(_is_arn_of(t.get("Arn"), fn_id) for t in rule.get("Properties", {}).get("Targets", []))}


def check_rules_and_queues(template: dict[str, Any], fn_id: str) -> list[str]:
    """Each rule invoking the function has a retry policy, a dead-letter queue that lets exactly
    that rule send, and a permission naming it; every queue policy names its sender."""
    problems: list[str] = []
    res = template.get("Resources", {})
    permitted = {(_getatt(p.get("Properties", {}).get("SourceArn")) or ("", ""))[0]
                 for p in resources_of_type(template, "AWS::Lambda::Permission").values()}
    # (queue, principal service, sender) for every statement of every queue policy.
    senders: set[tuple[str, str, str]] = set()
    for qpid, qp in resources_of_type(template, "AWS::SQS::QueuePolicy").items():
        props = qp.get("Properties", {})
        queues = [q.get("Ref") for q in _as_list(props.get("Queues", [])) if isinstance(q, dict)]
        for st in _as_list(props.get("PolicyDocument", {}).get("Statement", [])):
            label = f"{qpid}/{st.get('Sid', '?')}"
            service = st.get("Principal", {}).get("Service") if isinstance(st.get("Principal"), dict) else None
            if st.get("Effect") != "Allow":
                continue
            if not isinstance(service, str) or _as_list(st.get("Action")) != ["sqs:SendMessage"]:
                problems.append(f"{label}: only an AWS service may be allowed sqs:SendMessage, got "
                                f"{_show(st.get('Principal'))} {_show(st.get('Action'))}")
                continue
            source = st.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn")
            if source is None:
                problems.append(f"{label}: {service} may send from any resource (no aws:SourceArn condition)")
                continue
            sender = _getatt(source)
            for queue in queues:
                senders.add((queue, service, sender[0] if sender else json.dumps(source)))
    for rid in sorted(rules_to_function(template, fn_id)):
        for target in res[rid].get("Properties", {}).get("Targets", []):
            if not _is_arn_of(target.get("Arn"), fn_id):
                continue
            if not target.get("RetryPolicy"):
                problems.append(f"{rid}: target {target.get('Id')} has no RetryPolicy")
            dlq = _getatt(target.get("DeadLetterConfig", {}).get("Arn"))
            if not dlq or dlq[1] != "Arn" or res.get(dlq[0], {}).get("Type") != "AWS::SQS::Queue":
                problems.append(f"{rid}: target {target.get('Id')} has no dead-letter queue of this template")
            elif (dlq[0], "events.amazonaws.com", rid) not in senders:
                problems.append(f"{rid}: its dead-letter queue {dlq[0]} does not let the rule send "
                                "(a queue policy for events.amazonaws.com with aws:SourceArn = the rule)")
        if rid not in permitted:
            problems.append(f"{rid}: no lambda:InvokeFunction permission names the rule")
    return problems


FORWARD_BUS = "arn:${AWS::Partition}:events:${StackRegion}:${BusAccount}:event-bus/default"
# The bus's account: StackAccount (a log-archive stack's), else this account.
FORWARD_BUS_ACCOUNT = {"Fn::If": ["HasStackAccount", {"Ref": "StackAccount"}, {"Ref": "AWS::AccountId"}]}
FORWARD_PATTERN = {"source": ["aws.autoscaling"], "account": [{"Ref": "AWS::AccountId"}]}


def _forward_bus(value: Any) -> str | None:
    """The template string of {"Fn::Sub": [str, {"BusAccount": FORWARD_BUS_ACCOUNT}]}."""
    sub = value.get("Fn::Sub") if isinstance(value, dict) else None
    if isinstance(sub, list) and len(sub) == 2 and sub[1] == {"BusAccount": FORWARD_BUS_ACCOUNT}:
        return sub[0]
    return None


def check_forwarder(forwarder: dict[str, Any], stack_template: dict[str, Any]) -> list[str]:
    """Violations in the forwarder template (infra/forwarder.yaml): one rule matching the stack's
    real-time events of this account only, whose one target is the stack region's default bus
    (of the stack's account), put there by a role that only EventBridge of this account assumes
    and that may only events:PutEvents on that bus."""
    problems: list[str] = []
    roles = resources_of_type(forwarder, "AWS::IAM::Role")
    rules = resources_of_type(forwarder, "AWS::Events::Rule")
    if len(roles) != 1 or len(rules) != 1:
        return [f"expected one role and one rule, found roles {sorted(roles)} and rules {sorted(rules)}"]
    (role_id, role), (rule_id, rule) = next(iter(roles.items())), next(iter(rules.items()))
    role_props = role.get("Properties", {})
    for st in _as_list(role_props.get("AssumeRolePolicyDocument", {}).get("Statement", [])):
        if st.get("Principal") not in ({"Service": "events.amazonaws.com"}, {"Service": ["events.amazonaws.com"]}):
            problems.append(f"{role_id}: trust policy allows {_show(st.get('Principal'))}, expected events.amazonaws.com")
        if st.get("Condition", {}).get("StringEquals", {}).get("aws:SourceAccount") != {"Ref": "AWS::AccountId"}:
            problems.append(f"{role_id}: the trust policy is not limited to this account (aws:SourceAccount)")
    if role_props.get("ManagedPolicyArns"):
        problems.append(f"{role_id}: managed policies {_show(role_props['ManagedPolicyArns'])}")
    for pol in role_props.get("Policies", []):
        for st in _as_list(pol.get("PolicyDocument", {}).get("Statement", [])):
            if _as_list(st.get("Action")) != ["events:PutEvents"] or \
                    [_forward_bus(r) for r in _as_list(st.get("Resource"))] != [FORWARD_BUS]:
                problems.append(f"{role_id}: {_show(st)} is more than events:PutEvents on {FORWARD_BUS}")
    props = rule.get("Properties", {})
    stack_rules = resources_of_type(stack_template, "AWS::Events::Rule")
    stack_pattern = stack_rules.get("AutoScalingEventsRule", {}).get("Properties", {}).get("EventPattern", {})
    if props.get("EventPattern") != FORWARD_PATTERN or stack_pattern.get("source") != FORWARD_PATTERN["source"]:
        problems.append(f"{rule_id}: pattern {_show(props.get('EventPattern'))} is not the stack rule's source "
                        f"{_show(stack_pattern.get('source'))} for this account only ({_show(FORWARD_PATTERN)})")
    targets = props.get("Targets", [])
    if len(targets) != 1 or _forward_bus(targets[0].get("Arn")) != FORWARD_BUS \
            or _getatt(targets[0].get("RoleArn")) != (role_id, "Arn"):
        problems.append(f"{rule_id}: targets {_show(targets)} are not the stack region's default bus "
                        f"({FORWARD_BUS}) through {role_id}")
        return problems
    problems += _forwarder_dead_letters(forwarder, rule_id, targets[0])
    return problems


def _forwarder_dead_letters(forwarder: dict[str, Any], rule_id: str, target: dict[str, Any]) -> list[str]:
    """The forward rule's target retries and then keeps what it could not deliver in a queue of
    the template that only that rule may send to."""
    problems: list[str] = []
    if not target.get("RetryPolicy"):
        problems.append(f"{rule_id}: its target has no RetryPolicy")
    queue = _getatt(target.get("DeadLetterConfig", {}).get("Arn"))
    queues = resources_of_type(forwarder, "AWS::SQS::Queue")
    if not queue or queue[0] not in queues:
        return problems + [f"{rule_id}: its target has no dead-letter queue of the template"]
    policies = [p for p in resources_of_type(forwarder, "AWS::SQS::QueuePolicy").values()
                if {"Ref": queue[0]} in p.get("Properties", {}).get("Queues", [])]
    statements = [st for p in policies
                  for st in _as_list(p["Properties"].get("PolicyDocument", {}).get("Statement", []))]
    allowed = [st for st in statements
               if st.get("Principal") == {"Service": "events.amazonaws.com"}
               and _getatt(st.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn")) == (rule_id, "Arn")]
    if not allowed or len(allowed) != len(statements):
        problems.append(f"{queue[0]}: its policy must let only {rule_id} send ({_show(statements)})")
    return problems


def cmd_check_forwarder(args: argparse.Namespace) -> int:
    problems = check_forwarder(load_template(args.forwarder), load_template(args.template))
    for p in problems:
        print(f"  - {p}", file=sys.stderr)
    print(f"check-forwarder [{args.forwarder}]: {'FAILED' if problems else 'ok'}",
          file=sys.stderr if problems else sys.stdout)
    return 1 if problems else 0


def check_iam_mode(template: dict[str, Any], overrides: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Resolves a SAM (or plain) template with overrides and checks its IAM."""
    plain = transform(template) if "Transform" in template else template
    values = parameter_values(plain, overrides)
    return (resolved := _Resolver(plain, values).resolve()), check_iam(resolved, values)


def cmd_check_iam(args: argparse.Namespace) -> int:
    template = load_template(args.template)
    modes = [args.mode] if args.mode or args.param else list(MODES)
    failed = False
    for mode in modes:
        overrides = mode_overrides(argparse.Namespace(mode=mode, param=args.param))
        _, problems = check_iam_mode(template, overrides)
        name = mode or " ".join(args.param)
        if problems:
            failed = True
            print(f"check-iam [{name}]: FAILED", file=sys.stderr)
            for p in problems:
                print(f"  - {p}", file=sys.stderr)
        else:
            print(f"check-iam [{name}]: ok")
    return 1 if failed else 0


def cmd_samconfig(args: argparse.Namespace) -> int:
    template = load_template(args.template)
    check_samconfig(Path(args.config), transform(template) if "Transform" in template else template)
    print(f"samconfig: {args.config}: ok")
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
            # Every mode, as CloudFormation would deploy it: conditions, rules and parameters
            # resolved. cfn-lint on these catches what only one combination shows (e.g. the
            # bucket -> notification -> function -> role -> bucket cycle, E3004, in turnkey).
            resolved_files = []
            for mode, overrides in MODES.items():
                print(f"==> resolve + check-iam [{mode}] {' '.join(f'{k}={v}' for k, v in overrides.items())}",
                      flush=True)
                try:
                    values = parameter_values(transformed, overrides)
                    resolved = _Resolver(transformed, values).resolve()
                except CheckError as e:
                    print(f"    FAILED: {e}")
                    failed.append(f"resolve [{mode}]")
                    continue
                path = Path(tmp) / f"resolved-{mode}.json"
                path.write_text(json.dumps(resolved, indent=2), encoding="utf-8")
                resolved_files.append(str(path))
                problems = check_iam(resolved, values)
                for p in problems:
                    print(f"    - {p}")
                print("    ok" if not problems else "    FAILED")
                if problems:
                    failed.append(f"check-iam [{mode}]")
            # samconfig.toml's deploy defaults, read the way `sam deploy` reads them: every
            # parameter given, none unknown, a valid and least-privilege deployment.
            samconfig = template_path.parent / "samconfig.toml"
            if samconfig.is_file():
                print(f"==> samconfig (deploy parameter_overrides of {samconfig.name}, the same for build)",
                      flush=True)
                try:
                    check_samconfig(samconfig, transformed)
                    print("    ok")
                except CheckError as e:
                    print(f"    FAILED: {e}")
                    failed.append("samconfig")
            if not _run_step("cfn-lint (transformed, and each mode resolved)",
                             [str(VENV_BIN / "cfn-lint"), str(out), *resolved_files], cwd):
                failed.append("cfn-lint on the transformed template")

    # The forwarder other regions deploy: linted like the stack, and its one grant checked.
    if not _run_step("cfn-lint (forwarder)", [str(VENV_BIN / "cfn-lint"), str(FORWARDER)], cwd):
        failed.append("cfn-lint on the forwarder")
    print(f"==> check-forwarder ({FORWARDER.relative_to(ROOT)})", flush=True)
    problems = check_forwarder(load_template(FORWARDER), load_template(template_path))
    for p in problems:
        print(f"    - {p}")
    print("    ok" if not problems else "    FAILED")
    if problems:
        failed.append("check-forwarder")

    if failed:
        print(f"lint: FAILED: {', '.join(failed)}", flush=True)
        return 1
    print("lint: all checks passed")
    return 0


# --------------------------------------------------------------------------- sam-build

ELF_MACHINES = {"x86_64": 62, "arm64": 183}


def host_architecture() -> str:
    machine = os.uname().machine
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def check_bootstrap(path: Path, arch: str) -> str:
    """Raises CheckError unless path is an executable 64-bit little-endian ELF program for arch."""
    if not path.is_file():
        raise CheckError(f"{path} was not produced")
    if not os.access(path, os.X_OK):
        raise CheckError(f"{path} is not executable")
    with open(path, "rb") as f:
        header = f.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        raise CheckError(f"{path} is not an ELF file")
    if header[4] != 2 or header[5] != 1:
        raise CheckError(f"{path} is not a 64-bit little-endian ELF file")
    e_type = int.from_bytes(header[16:18], "little")
    e_machine = int.from_bytes(header[18:20], "little")
    if e_type not in (2, 3):  # ET_EXEC, ET_DYN (PIE)
        raise CheckError(f"{path} is not an executable (ELF type {e_type})")
    if e_machine != ELF_MACHINES[arch]:
        raise CheckError(f"{path} is for ELF machine {e_machine}, expected {ELF_MACHINES[arch]} ({arch})")
    return f"{path.name}: ELF {arch} executable, {path.stat().st_size / 1e6:.1f} MB"


def samconfig_with_architecture(path: Path, arch: str) -> str:
    """samconfig.toml's text with every `Architecture=...` override set to arch (the build can
    only target what this machine has: CI builds the host's)."""
    import re

    text = path.read_text(encoding="utf-8")
    new, count = re.subn(r'"Architecture=\\"[^"\\]*\\""', f'"Architecture=\\\\"{arch}\\\\""', text)
    if count == 0:
        raise CheckError(f"{path}: no Architecture override in parameter_overrides")
    return new


def cmd_sam_build(args: argparse.Namespace) -> int:
    arch = args.arch or host_architecture()
    if arch not in ELF_MACHINES:
        raise CheckError(f"unsupported architecture {arch!r}")
    template_path = Path(args.template).resolve()
    with tempfile.TemporaryDirectory(prefix="asg-trail-sam-build-") as tmp:
        build_dir = Path(tmp) / "build"
        # samconfig.toml as committed, but for this machine's architecture: `sam build` reads it
        # itself (no --parameter-overrides here), as a user's `sam build` does, and the function's
        # architecture comes from the deploy overrides of the same file. If the two disagree (the
        # overrides only in [default.deploy.parameters]), the bootstrap check below fails.
        config = Path(tmp) / "samconfig.toml"
        config.write_text(samconfig_with_architecture(template_path.parent / "samconfig.toml", arch),
                          encoding="utf-8")
        deployed = resolve(load_template(template_path), samconfig_overrides(config, "deploy"))
        function_archs = deployed["Resources"]["Function"]["Properties"].get("Architectures", ["x86_64"])
        if function_archs != [arch]:
            raise CheckError(f"the function deploys as {function_archs}, expected [{arch!r}]")
        # --no-cached with a throw-away cache dir: SAM's own cache would skip the build this
        # step exists to run; cargo's target directory (CARGO_TARGET_DIR) keeps it incremental.
        argv = [str(VENV_BIN / "sam"), "build", "--template-file", str(template_path),
                "--config-file", str(config), "--config-env", "default",
                "--build-dir", str(build_dir), "--cache-dir", str(Path(tmp) / "cache"), "--no-cached"]
        if not _run_step(f"sam build ({arch}, parameters from samconfig.toml)", argv, template_path.parent):
            return 1
        print("    " + check_bootstrap(build_dir / "Function" / "bootstrap", arch))
        print(f"    the function deploys as {function_archs[0]}: the same architecture")
        built = load_template(build_dir / "template.yaml")
        code = built["Resources"]["Function"]["Properties"].get("CodeUri")
        if code != "Function":
            raise CheckError(f"built template's CodeUri is {code!r}, expected the build folder 'Function'")
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

    p = sub.add_parser("modes", help="print the deployment modes the checks cover (parameter overrides)")
    p.set_defaults(func=cmd_modes)

    p = sub.add_parser("resolve", help="the template as deployed in a mode / with overrides (plain JSON)")
    p.add_argument("template")
    p.add_argument("out")
    p.add_argument("--mode", help="one of `modes`")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="parameter override (repeatable)")
    p.add_argument("--all-modes", action="store_true", help="write {mode: resolved template} for every mode")
    p.add_argument("--stack-name", help="also resolve the pseudo-parameters, for a stack of this name")
    p.set_defaults(func=cmd_resolve)

    p = sub.add_parser("check-iam", help="assert least-privilege IAM (every mode unless --mode/--param)")
    p.add_argument("template", help="SAM or transformed template")
    p.add_argument("--mode", help="one of `modes`")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="parameter override (repeatable)")
    p.set_defaults(func=cmd_check_iam)

    p = sub.add_parser("samconfig", help="build and deploy read the same, complete parameter_overrides")
    p.add_argument("--config", default=str(ROOT / "samconfig.toml"))
    p.add_argument("--template", default=str(ROOT / "template.yaml"))
    p.set_defaults(func=cmd_samconfig)

    p = sub.add_parser("check-forwarder", help="the forwarder forwards the stack's events, least privilege")
    p.add_argument("--forwarder", default=str(FORWARDER))
    p.add_argument("--template", default=str(ROOT / "template.yaml"))
    p.set_defaults(func=cmd_check_forwarder)

    p = sub.add_parser("lint", help="all template checks, offline")
    p.add_argument("template")
    p.set_defaults(func=cmd_lint)

    p = sub.add_parser("sam-build", help="sam build into a temporary folder and check the bootstrap")
    p.add_argument("--template", default=str(ROOT / "template.yaml"))
    p.add_argument("--arch", choices=sorted(ELF_MACHINES), help="default: the host's architecture")
    p.set_defaults(func=cmd_sam_build)

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
