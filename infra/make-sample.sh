#!/usr/bin/env bash
# Regenerates the derived sample files in events/ from events/cloudtrail-sample.json:
#   events/cloudtrail-sample.json.gz   gzip -9n (no name, no timestamp: byte-for-byte reproducible)
#   events/s3-put.json                 S3 ObjectCreated:Put for the CloudTrail key (size/eTag of the .gz)
#   events/s3-put-encoded-key.json     same object under a key that needs URL-decoding
#   events/s3-put-digest.json          a CloudTrail-Digest key (the function must skip it)
# The notification shape is the one `sam local generate-event s3 put` prints.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/events"

gzip -9n <cloudtrail-sample.json >cloudtrail-sample.json.gz

python3 - <<'PY'
import copy, hashlib, json, os

BUCKET = "asg-trail-demo"
KEY = ("AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05/"
       "123456789012_CloudTrail_us-east-1_20240305T1200Z_Ab12Cd34.json.gz")
# As S3 writes keys in notifications: URL-encoded, space as '+'.
# Decoded: "my logs/run:2024-03-05+retry/" + KEY
ENCODED_KEY = "my+logs/run%3A2024-03-05%2Bretry/" + KEY
DIGEST_KEY = ("AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/03/05/"
              "123456789012_CloudTrail-Digest_us-east-1_asg-trail_us-east-1_20240305T130000Z.json.gz")

gz = open("cloudtrail-sample.json.gz", "rb").read()

def event(key, size, etag, sequencer, time):
    return {"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": time,
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AROAEXAMPLECTDELIVERY:regional-delivery-session"},
        "requestParameters": {"sourceIPAddress": "10.32.145.17"},
        "responseElements": {
            "x-amz-request-id": "J4E5K2M8N1P7Q3R9",
            "x-amz-id-2": "EXAMPLEz8Fh2Yq1vC6pWnR0sT4uX7aB3dE9gJ5kL2mN8oP1qS6tU0vW4xY7zA3bC5dE=",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "asg-trail-LogFileCreated",
            "bucket": {
                "name": BUCKET,
                "ownerIdentity": {"principalId": "A3EXAMPLEOWNERID"},
                "arn": f"arn:aws:s3:::{BUCKET}",
            },
            "object": {"key": key, "size": size, "eTag": etag, "sequencer": sequencer},
        },
    }]}

def write(name, doc):
    with open(name, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")

md5 = hashlib.md5(gz).hexdigest()
write("s3-put.json", event(KEY, len(gz), md5, "0065E708A3C1F2B4D5", "2024-03-05T12:05:31.214Z"))
write("s3-put-encoded-key.json", event(ENCODED_KEY, len(gz), md5, "0065E708A3C1F2B4D6", "2024-03-05T12:05:31.377Z"))
write("s3-put-digest.json", event(DIGEST_KEY, 1423, "7c1e9d3a5b2f4e6a8c0d1b3f5a7e9c2d", "0065E714B6D2A3C5E7", "2024-03-05T13:01:12.905Z"))
PY
echo "regenerated: events/cloudtrail-sample.json.gz events/s3-put.json events/s3-put-encoded-key.json events/s3-put-digest.json"
