"""What a user would otherwise write: the idiomatic Python Lambda for the same job.

    gzip + json.load + filter + boto3's batch writer, with the same item model as asg-trail
    (partition groupName, sort key eventTime#eventID, account partition for events naming no
    group, Application Auto Scaling left out).

`lambda_handler` is the whole function. `python3 benches/reference.py FILE` runs only its
parse + extract part on a local file (what benches/bench.py measures against asg-trail) and
prints the number of items.
"""

import gzip
import json
import sys
import urllib.parse
from decimal import Decimal

AUTOSCALING = "autoscaling.amazonaws.com"


def group_of(record):
    params = record.get("requestParameters") or {}
    name = params.get("autoScalingGroupName")
    if name and ":autoScalingGroupName/" in name:
        name = name.split(":autoScalingGroupName/", 1)[1]
    return name or None


def is_ec2_autoscaling(record):
    if record.get("eventSource") != AUTOSCALING:
        return False
    extra = record.get("additionalEventData") or {}
    params = record.get("requestParameters") or {}
    return extra.get("service") != "application-autoscaling" and "serviceNamespace" not in params


def to_item(record, source):
    identity = record.get("userIdentity") or {}
    account = record.get("recipientAccountId") or identity.get("accountId") or "unknown"
    group = group_of(record) or f":account:{account}"
    issuer = ((identity.get("sessionContext") or {}).get("sessionIssuer") or {})
    item = {
        "groupName": group,
        "eventKey": f"{record['eventTime']}#{record['eventID']}",
        "eventTime": record["eventTime"],
        "eventID": record["eventID"],
        "eventName": record.get("eventName"),
        "eventVersion": record.get("eventVersion"),
        "awsRegion": record.get("awsRegion"),
        "requestID": record.get("requestID"),
        "sourceIPAddress": record.get("sourceIPAddress"),
        "userAgent": record.get("userAgent"),
        "errorCode": record.get("errorCode"),
        "errorMessage": record.get("errorMessage"),
        "readOnly": record.get("readOnly"),
        "accountId": account,
        "userIdentityType": identity.get("type"),
        "userArn": identity.get("arn"),
        "principalId": identity.get("principalId"),
        "invokedBy": identity.get("invokedBy"),
        "userName": identity.get("userName") or issuer.get("userName"),
        "requestParameters": record.get("requestParameters"),
        "responseElements": record.get("responseElements"),
        "sourceObject": source,
    }
    return {k: v for k, v in item.items() if v is not None}


def extract(fileobj, source):
    # boto3 wants Decimal, not float, for DynamoDB numbers.
    data = json.load(fileobj, parse_float=Decimal)
    return [to_item(r, source) for r in data["Records"] if is_ec2_autoscaling(r)]


def lambda_handler(event, context):
    import boto3  # imported here so the benchmark of the parse part does not pay for it

    s3 = boto3.client("s3")
    table = boto3.resource("dynamodb").Table(__import__("os").environ["TABLE_NAME"])
    written = 0
    for rec in event["Records"]:
        bucket = rec["s3"]["bucket"]["name"]
        key = urllib.parse.unquote_plus(rec["s3"]["object"]["key"])
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        with gzip.GzipFile(fileobj=body) as f:
            items = extract(f, f"s3://{bucket}/{key}")
        with table.batch_writer(overwrite_by_pkeys=["groupName", "eventKey"]) as writer:
            for item in items:
                writer.put_item(Item=item)
        written += len(items)
    return {"itemsWritten": written}


if __name__ == "__main__":
    path = sys.argv[1]
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        print(len(extract(f, path)))
