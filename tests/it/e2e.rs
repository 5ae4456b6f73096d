//! End to end over loopback: the real `bootstrap` binary (through the Runtime API emulator) and
//! the real `asg-trail` CLI against moto S3 and DynamoDB Local, with a fresh bucket and table
//! per test. The expected items are written out BY HAND from the item model (the contract),
//! never computed with the library.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};

use crate::runtime_api::Lambda;
use crate::stack;

/// The fixture: a CloudTrail delivery file with 12 records, 8 of them EC2 Auto Scaling (one
/// naming two groups), one ec2 RunInstances made by Auto Scaling, one Application Auto Scaling.
pub(crate) const FIXTURE_GZ: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/e2e-mixed.json.gz"
);

/// Where CloudTrail would deliver it, under a prefix with a space (S3 notifications encode it).
pub(crate) const LOG_KEY: &str = "my logs/AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05/\
                       123456789012_CloudTrail_us-east-1_20240305T1200Z_Ab12Cd34.json.gz";
/// `LOG_KEY` as it appears in an S3 event notification (form-encoded: space → `+`).
pub(crate) const LOG_KEY_ENCODED: &str = "my+logs/AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05/\
                               123456789012_CloudTrail_us-east-1_20240305T1200Z_Ab12Cd34.json.gz";

const DIGEST_KEY: &str = "my logs/AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/03/05/\
                          123456789012_CloudTrail-Digest_us-east-1_mgmt-trail_us-east-1_20240305T125917Z.json.gz";
const DIGEST_KEY_ENCODED: &str = "my+logs/AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/03/05/\
                                  123456789012_CloudTrail-Digest_us-east-1_mgmt-trail_us-east-1_20240305T125917Z.json.gz";

const EMPTY_KEY: &str = "my logs/AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05/\
                         123456789012_CloudTrail_us-east-1_20240305T1205Z_Zz99Yy88.json.gz";
const EMPTY_KEY_ENCODED: &str = "my+logs/AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05/\
                                 123456789012_CloudTrail_us-east-1_20240305T1205Z_Zz99Yy88.json.gz";

const CLI_TIMEOUT: Duration = Duration::from_secs(120);

pub(crate) fn fixture_gz() -> Vec<u8> {
    std::fs::read(FIXTURE_GZ).unwrap_or_else(|e| panic!("read {FIXTURE_GZ}: {e}"))
}

// ------------------------------------------------------------------------------------------
// The expected items, by hand.
// ------------------------------------------------------------------------------------------

pub(crate) const ACCOUNT: &str = "123456789012";

/// The items the fixture must produce, with `sourceObject` = `source`.
pub(crate) fn expected_items(source: &str) -> Vec<Value> {
    let mut items = vec![
        // UpdateAutoScalingGroup: AssumedRole through CloudFormation; userName from the
        // session issuer; same second as SetDesiredCapacity, distinct eventID.
        json!({
            "groupName": "web-asg",
            "groupNames": ["web-asg"],
            "origin": "api",
            "eventKey": "2024-03-05T11:58:07Z#550e67bd-7529-4355-a650-c84d5ac66fc1",
            "eventTime": "2024-03-05T11:58:07Z",
            "eventName": "UpdateAutoScalingGroup",
            "eventID": "550e67bd-7529-4355-a650-c84d5ac66fc1",
            "eventVersion": "1.08",
            "awsRegion": "us-east-1",
            "requestID": "27933e7b-6f81-4417-ae0d-37a7d060589f",
            "sourceIPAddress": "cloudformation.amazonaws.com",
            "userAgent": "cloudformation.amazonaws.com",
            "readOnly": false,
            "accountId": ACCOUNT,
            "userIdentityType": "AssumedRole",
            "userArn": "arn:aws:sts::123456789012:assumed-role/ops-admin/alice@example.com",
            "principalId": "AROAUHNFPQM253JKRZCRS:alice@example.com",
            "invokedBy": "cloudformation.amazonaws.com",
            "userName": "ops-admin",
            "roleName": "ops-admin",
            "requestParameters": {
                "mixedInstancesPolicy": {
                    "instancesDistribution": {
                        "spotInstancePools": 2,
                        "onDemandPercentageAboveBaseCapacity": 0,
                        "onDemandBaseCapacity": 1,
                        "spotAllocationStrategy": "lowest-price"
                    },
                    "launchTemplate": {
                        "launchTemplateSpecification": {
                            "launchTemplateId": "lt-097cdbb748360216c",
                            "version": "7"
                        },
                        "overrides": [
                            {"instanceType": "t3a.small"},
                            {"instanceType": "t3.small"}
                        ]
                    }
                },
                "vPCZoneIdentifier": "subnet-0a2f1fe14c3bf603a,subnet-0c1174f87ac8ed0d6",
                "maxSize": 6,
                "minSize": 2,
                "desiredCapacity": 2,
                "autoScalingGroupName": "web-asg",
                "newInstancesProtectedFromScaleIn": false,
                "maxInstanceLifetime": 0
            },
            "sourceObject": source,
        }),
        // SetDesiredCapacity: IAM user, same second as the update.
        json!({
            "groupName": "web-asg",
            "groupNames": ["web-asg"],
            "origin": "api",
            "eventKey": "2024-03-05T11:58:07Z#e41b7c2a-58d3-4f0a-9b6e-0c1d2e3f4a5b",
            "eventTime": "2024-03-05T11:58:07Z",
            "eventName": "SetDesiredCapacity",
            "eventID": "e41b7c2a-58d3-4f0a-9b6e-0c1d2e3f4a5b",
            "eventVersion": "1.09",
            "awsRegion": "us-east-1",
            "requestID": "5b0e3e4d-9c6a-4f7e-8d21-7a3c2b1f0e99",
            "sourceIPAddress": "203.0.113.17",
            "userAgent": "aws-cli/2.15.21 Python/3.11.6 Linux/6.2.0-1018-aws exe/x86_64.ubuntu.22 prompt/off command/autoscaling.set-desired-capacity",
            "readOnly": false,
            "accountId": ACCOUNT,
            "userIdentityType": "IAMUser",
            "userArn": "arn:aws:iam::123456789012:user/deploy-bot",
            "principalId": "AIDAQRSTUVWXYZ2345678",
            "userName": "deploy-bot",
            "requestParameters": {
                "autoScalingGroupName": "web-asg",
                "desiredCapacity": 3,
                "honorCooldown": false
            },
            "sourceObject": source,
        }),
        // SuspendProcesses: earlier, later in the file.
        json!({
            "groupName": "web-asg",
            "groupNames": ["web-asg"],
            "origin": "api",
            "eventKey": "2024-03-05T11:52:40Z#7d0e2f14-2b6a-4c39-8e51-9a0b1c2d3e4f",
            "eventTime": "2024-03-05T11:52:40Z",
            "eventName": "SuspendProcesses",
            "eventID": "7d0e2f14-2b6a-4c39-8e51-9a0b1c2d3e4f",
            "eventVersion": "1.08",
            "awsRegion": "us-east-1",
            "requestID": "c0ffee00-1234-4abc-9def-0123456789ab",
            "sourceIPAddress": "203.0.113.5",
            "userAgent": "AWS Internal",
            "readOnly": false,
            // The record's "true" (a console session), kept as a boolean.
            "sessionCredentialFromConsole": true,
            "accountId": ACCOUNT,
            "userIdentityType": "AssumedRole",
            "userArn": "arn:aws:sts::123456789012:assumed-role/ops-admin/alice@example.com",
            "principalId": "AROAUHNFPQM253JKRZCRS:alice@example.com",
            "userName": "ops-admin",
            "roleName": "ops-admin",
            "requestParameters": {
                "autoScalingGroupName": "web-asg",
                "scalingProcesses": ["AZRebalance", "ReplaceUnhealthy"]
            },
            "sourceObject": source,
        }),
        // StartInstanceRefresh naming the group by ARN → api-asg; failed call (errorCode and
        // errorMessage); no sessionIssuer, so userName is the role session name of the ARN.
        json!({
            "groupName": "api-asg",
            "groupNames": ["api-asg"],
            "origin": "api",
            "eventKey": "2024-03-05T11:59:41Z#0b9f3c4e-7d21-4e8a-b6f5-3c2d1e0f9a8b",
            "eventTime": "2024-03-05T11:59:41Z",
            "eventName": "StartInstanceRefresh",
            "eventID": "0b9f3c4e-7d21-4e8a-b6f5-3c2d1e0f9a8b",
            "eventVersion": "1.10",
            "awsRegion": "us-east-1",
            "requestID": "a1d2c3b4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
            "sourceIPAddress": "198.51.100.77",
            "userAgent": "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.0 md/GOOS#linux md/GOARCH#amd64 api/autoscaling#1.40.1",
            "errorCode": "InstanceRefreshInProgress",
            "errorMessage": "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.",
            "readOnly": false,
            "accountId": ACCOUNT,
            "userIdentityType": "AssumedRole",
            "userArn": "arn:aws:sts::123456789012:assumed-role/GitHubActionsDeploy/gha-run-8123456789",
            "principalId": "AROAGHACTIONSDEPLOY01:gha-run-8123456789",
            "userName": "gha-run-8123456789",
            "roleName": "GitHubActionsDeploy",
            "requestParameters": {
                "autoScalingGroupName": "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:5e1c1f7e-1111-2222-3333-444455556666:autoScalingGroupName/api-asg",
                "strategy": "Rolling",
                "preferences": {
                    "minHealthyPercentage": 90,
                    "instanceWarmup": 120,
                    "skipMatching": true
                }
            },
            "sourceObject": source,
        }),
        // PutScalingPolicy naming api-asg by plain name (same partition as the ARN form);
        // the only item with responseElements (a map holding a list of maps); a float.
        json!({
            "groupName": "api-asg",
            "groupNames": ["api-asg"],
            "origin": "api",
            "eventKey": "2024-03-05T11:59:58Z#d2c4e6f8-0a1b-4c3d-9e5f-7a8b9c0d1e2f",
            "eventTime": "2024-03-05T11:59:58Z",
            "eventName": "PutScalingPolicy",
            "eventID": "d2c4e6f8-0a1b-4c3d-9e5f-7a8b9c0d1e2f",
            "eventVersion": "1.09",
            "awsRegion": "us-east-1",
            "requestID": "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b",
            "sourceIPAddress": "203.0.113.17",
            "userAgent": "aws-cli/2.15.21 Python/3.11.6 Linux/6.2.0-1018-aws exe/x86_64.ubuntu.22 prompt/off command/autoscaling.put-scaling-policy",
            "readOnly": false,
            "accountId": ACCOUNT,
            "userIdentityType": "IAMUser",
            "userArn": "arn:aws:iam::123456789012:user/deploy-bot",
            "principalId": "AIDAQRSTUVWXYZ2345678",
            "userName": "deploy-bot",
            "requestParameters": {
                "autoScalingGroupName": "api-asg",
                "policyName": "cpu50",
                "policyType": "TargetTrackingScaling",
                "targetTrackingConfiguration": {
                    "predefinedMetricSpecification": {
                        "predefinedMetricType": "ASGAverageCPUUtilization"
                    },
                    "targetValue": 50.0,
                    "disableScaleIn": false
                },
                "enabled": true
            },
            "responseElements": {
                "policyARN": "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:7f3e2d1c-aaaa-bbbb-cccc-0123456789ab:autoScalingGroupName/api-asg:policyName/cpu50",
                "alarms": [
                    {
                        "alarmName": "TargetTracking-api-asg-AlarmHigh-1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
                        "alarmARN": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:TargetTracking-api-asg-AlarmHigh-1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"
                    },
                    {
                        "alarmName": "TargetTracking-api-asg-AlarmLow-6d5c4b3a-2f1e-0d9c-8b7a-6f5e4d3c2b1a",
                        "alarmARN": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:TargetTracking-api-asg-AlarmLow-6d5c4b3a-2f1e-0d9c-8b7a-6f5e4d3c2b1a"
                    }
                ]
            },
            "sourceObject": source,
        }),
        // CreateLaunchConfiguration names no group → the account partition. No
        // recipientAccountId (accountId from userIdentity), no readOnly, Root (no userName).
        json!({
            "groupName": ":account:123456789012",
            "origin": "api",
            "eventKey": "2024-03-05T11:55:49Z#3fcfb182-98f8-4744-bd45-b38835ab61cb",
            "eventTime": "2024-03-05T11:55:49Z",
            "eventName": "CreateLaunchConfiguration",
            "eventID": "3fcfb182-98f8-4744-bd45-b38835ab61cb",
            "eventVersion": "1.05",
            "awsRegion": "us-east-1",
            "requestID": "0737e2ea-fb2d-11e3-bfd8-99133058e7bb",
            "sourceIPAddress": "192.0.2.10",
            "userAgent": "Coral/Jakarta",
            "accountId": ACCOUNT,
            "userIdentityType": "Root",
            "userArn": "arn:aws:iam::123456789012:root",
            "principalId": "123456789012",
            "requestParameters": {
                "ebsOptimized": false,
                "instanceMonitoring": {"enabled": false},
                "instanceType": "t2.micro",
                "keyName": "EC2-key-pair-virginia",
                "blockDeviceMappings": [{
                    "deviceName": "/dev/xvda",
                    "ebs": {
                        "deleteOnTermination": true,
                        "volumeSize": 8,
                        "snapshotId": "snap-01676e0a2c3c7de9e",
                        "volumeType": "gp2"
                    }
                }],
                "launchConfigurationName": "launch_configuration_1",
                "imageId": "ami-6cd6f714d79675a5",
                "securityGroups": ["sg-00c429965fd921483"]
            },
            "sourceObject": source,
        }),
    ];
    // CreateOrUpdateTags tagging web-asg (twice) and api-asg: one item in each group, the
    // same event, both naming both groups.
    for group in ["api-asg", "web-asg"] {
        items.push(json!({
            "groupName": group,
            "groupNames": ["api-asg", "web-asg"],
            "origin": "api",
            "eventKey": "2024-03-05T11:57:30Z#a4b5c6d7-e8f9-4a0b-9c1d-2e3f4a5b6c7d",
            "eventTime": "2024-03-05T11:57:30Z",
            "eventName": "CreateOrUpdateTags",
            "eventID": "a4b5c6d7-e8f9-4a0b-9c1d-2e3f4a5b6c7d",
            "eventVersion": "1.08",
            "awsRegion": "us-east-1",
            "requestID": "3d5e7f91-2b4c-4d6e-8f0a-1b2c3d4e5f60",
            "sourceIPAddress": "203.0.113.17",
            "userAgent": "aws-cli/2.15.21 Python/3.11.6 Linux/6.2.0-1018-aws exe/x86_64.ubuntu.22 prompt/off command/autoscaling.create-or-update-tags",
            "readOnly": false,
            "accountId": ACCOUNT,
            "userIdentityType": "IAMUser",
            "userArn": "arn:aws:iam::123456789012:user/deploy-bot",
            "principalId": "AIDAQRSTUVWXYZ2345678",
            "userName": "deploy-bot",
            "requestParameters": {
                "tags": [
                    {"propagateAtLaunch": true, "key": "cost-center", "value": "cc-1234",
                     "resourceType": "auto-scaling-group", "resourceId": "web-asg"},
                    {"propagateAtLaunch": true, "key": "cost-center", "value": "cc-1234",
                     "resourceType": "auto-scaling-group", "resourceId": "api-asg"},
                    {"propagateAtLaunch": false, "key": "owner", "value": "platform",
                     "resourceType": "auto-scaling-group", "resourceId": "web-asg"}
                ]
            },
            "sourceObject": source,
        }));
    }
    // TerminateInstanceInAutoScalingGroup names only an instance: the group comes from the
    // response's activity.
    items.push(json!({
        "groupName": "web-asg",
        "groupNames": ["web-asg"],
        "origin": "api",
        "eventKey": "2024-03-05T11:59:02Z#b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e",
        "eventTime": "2024-03-05T11:59:02Z",
        "eventName": "TerminateInstanceInAutoScalingGroup",
        "eventID": "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e",
        "eventVersion": "1.09",
        "awsRegion": "us-east-1",
        "requestID": "7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2f10",
        "sourceIPAddress": "203.0.113.17",
        "userAgent": "aws-cli/2.15.21 Python/3.11.6 Linux/6.2.0-1018-aws exe/x86_64.ubuntu.22 prompt/off command/autoscaling.terminate-instance-in-auto-scaling-group",
        "readOnly": false,
        "accountId": ACCOUNT,
        "userIdentityType": "IAMUser",
        "userArn": "arn:aws:iam::123456789012:user/deploy-bot",
        "principalId": "AIDAQRSTUVWXYZ2345678",
        "userName": "deploy-bot",
        "requestParameters": {
            "instanceId": "i-0a1b2c3d4e5f60718",
            "shouldDecrementDesiredCapacity": false
        },
        "responseElements": {
            "activity": {
                "activityId": "5e8b9c0d-1a2b-4c3d-8e4f-5a6b7c8d9e0f",
                "autoScalingGroupName": "web-asg",
                "description": "Terminating EC2 instance: i-0a1b2c3d4e5f60718",
                "cause": "At 2024-03-05T11:59:02Z instance i-0a1b2c3d4e5f60718 was taken out of service in response to a user request.",
                "startTime": "Mar 5, 2024, 11:59:02 AM",
                "statusCode": "InProgress",
                "progress": 0,
                "details": "{\"Subnet ID\":\"subnet-0c1174f87ac8ed0d6\",\"Availability Zone\":\"us-east-1b\"}"
            }
        },
        "sourceObject": source,
    }));
    sort_items(&mut items);
    items
}

/// The item Auto Scaling's own RunInstances of the fixture becomes with
/// `INCLUDE_SERVICE_ACTIONS` (the group from its `aws:autoscaling:groupName` tag).
fn expected_service_item(source: &str) -> Value {
    json!({
        "groupName": "web-asg",
        "groupNames": ["web-asg"],
        "origin": "service",
        "eventKey": "2024-03-05T11:58:12Z#8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d",
        "eventTime": "2024-03-05T11:58:12Z",
        "eventName": "RunInstances",
        "eventID": "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d",
        "eventVersion": "1.08",
        "awsRegion": "us-east-1",
        "requestID": "6c2f9e1a-4b3d-4c5e-8f7a-9b0c1d2e3f40",
        "sourceIPAddress": "autoscaling.amazonaws.com",
        "userAgent": "autoscaling.amazonaws.com",
        "readOnly": false,
        "accountId": ACCOUNT,
        "userIdentityType": "Root",
        "userArn": "arn:aws:iam::123456789012:root",
        "principalId": "123456789012",
        "invokedBy": "autoscaling.amazonaws.com",
        "requestParameters": {
            "instancesSet": {"items": [{"minCount": 1, "maxCount": 1}]},
            "instanceType": "t3a.small",
            "availabilityZone": "us-east-1b",
            "subnetId": "subnet-0c1174f87ac8ed0d6",
            "disableApiTermination": false,
            "clientToken": "fleet-3c9a8b7e-1d2f-4e5a-9b8c-7d6e5f4a3b2c-0",
            "launchTemplate": {"launchTemplateId": "lt-097cdbb748360216c", "version": "7"},
            "tagSpecificationSet": {"items": [{"resourceType": "instance", "tags": [{"key": "aws:autoscaling:groupName", "value": "web-asg"}]}]}
        },
        "responseElements": {
            "reservationId": "r-0d3c7b1a2e4f5a6b7",
            "ownerId": "123456789012",
            "groupSet": {},
            "instancesSet": {"items": [{"instanceId": "i-0a1b2c3d4e5f60718", "instanceState": {"code": 0, "name": "pending"}, "instanceType": "t3a.small", "launchTime": 1_709_639_892_000_u64}]}
        },
        "sourceObject": source,
    })
}

pub(crate) fn key_of(item: &Value) -> (String, String) {
    (
        item["groupName"]
            .as_str()
            .unwrap_or("<no groupName>")
            .to_owned(),
        item["eventKey"]
            .as_str()
            .unwrap_or("<no eventKey>")
            .to_owned(),
    )
}

pub(crate) fn sort_items(items: &mut [Value]) {
    items.sort_by_key(key_of);
}

/// Numbers compared by value: DynamoDB may store `50.0` as `50`, and serde_json's `50.0` (f64)
/// is not equal to `50` (u64). Integral values become integers, others stay floats. The
/// `groupNames` set is compared sorted (DynamoDB returns a set's members in any order).
pub(crate) fn normalize_numbers(v: &Value) -> Value {
    if let Some(names) = v.get("groupNames").and_then(Value::as_array) {
        let mut sorted = names.clone();
        sorted.sort_by_key(ToString::to_string);
        let mut v = v.clone();
        v["groupNames"] = Value::Array(sorted);
        return normalize_value(&v);
    }
    normalize_value(v)
}

fn normalize_value(v: &Value) -> Value {
    match v {
        Value::Number(n) => match n.as_f64() {
            #[allow(clippy::cast_possible_truncation)]
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => json!(f as i64),
            _ => v.clone(),
        },
        Value::Array(a) => Value::Array(a.iter().map(normalize_value).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), normalize_value(v)))
                .collect(),
        ),
        _ => v.clone(),
    }
}

/// Asserts `actual` holds exactly `expected` (any order): same key set, then every attribute.
pub(crate) fn assert_items(actual: Vec<Value>, expected: &[Value], context: &dyn Fn() -> String) {
    let mut actual: Vec<Value> = actual.into_iter().map(|v| normalize_numbers(&v)).collect();
    let mut expected: Vec<Value> = expected.iter().map(normalize_numbers).collect();
    sort_items(&mut expected);
    let expected = &expected[..];
    sort_items(&mut actual);
    let got_keys: Vec<_> = actual.iter().map(key_of).collect();
    let want_keys: Vec<_> = expected.iter().map(key_of).collect();
    assert_eq!(
        got_keys,
        want_keys,
        "item keys (groupName, eventKey) differ: got {} items, want {}\n{}",
        actual.len(),
        expected.len(),
        context()
    );
    for (got, want) in actual.iter().zip(expected) {
        if got != want {
            let (g, w) = (got.as_object(), want.as_object());
            let mut diffs = Vec::new();
            if let (Some(g), Some(w)) = (g, w) {
                let names: std::collections::BTreeSet<&String> = g.keys().chain(w.keys()).collect();
                for n in names {
                    match (g.get(n), w.get(n)) {
                        (Some(a), Some(b)) if a == b => {}
                        (a, b) => diffs.push(format!(
                            "  {n}: got {} / want {}",
                            a.map_or("<absent>".to_owned(), Value::to_string),
                            b.map_or("<absent>".to_owned(), Value::to_string)
                        )),
                    }
                }
            }
            panic!(
                "item {:?} differs from the contract:\n{}\n--- got ---\n{:#}\n--- want ---\n{:#}\n{}",
                key_of(want),
                diffs.join("\n"),
                got,
                want,
                context()
            );
        }
    }
}

// ------------------------------------------------------------------------------------------
// Notifications, CLI runner, seeding.
// ------------------------------------------------------------------------------------------

/// One record of an S3 `ObjectCreated:Put` notification, as S3 sends it (key form-encoded).
pub(crate) fn s3_put_record(bucket: &str, encoded_key: &str, size: usize) -> Value {
    json!({
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2024-03-05T12:04:37.215Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AROAJ3LYKM4LIW5HXA3PI:regionalDeliverySession"},
        "requestParameters": {"sourceIPAddress": "10.0.171.34"},
        "responseElements": {
            "x-amz-request-id": "C3D13FE58DE4C810",
            "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "asg-trail-ingest",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": format!("arn:aws:s3:::{bucket}")
            },
            "object": {
                "key": encoded_key,
                "size": size,
                "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                "sequencer": "0065E70A8D3F1B2C44"
            }
        }
    })
}

pub(crate) fn notification(records: Vec<Value>) -> Value {
    json!({ "Records": Value::Array(records) })
}

/// Runs the `asg-trail` CLI with the local-stack env; panics on timeout.
pub(crate) fn run_cli(args: &[&str]) -> Output {
    run_cli_with_env(args, &[])
}

/// [`run_cli`] with extra env vars.
pub(crate) fn run_cli_with_env(args: &[&str], extra_env: &[(&str, &str)]) -> Output {
    let bin = env!("CARGO_BIN_EXE_asg-trail");
    let mut cmd = Command::new(bin);
    for k in stack::env_to_clear() {
        cmd.env_remove(k);
    }
    let mut child = cmd
        .args(args)
        .envs(stack::env_for_binaries())
        .envs(extra_env.iter().copied())
        .env("NO_COLOR", "1")
        .current_dir(stack::repo_root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for the CLI") {
            break s;
        }
        if started.elapsed() > CLI_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`asg-trail {}` did not finish within {CLI_TIMEOUT:?}; stderr:\n{}",
                args.join(" "),
                String::from_utf8_lossy(&err.join().unwrap_or_default())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

pub(crate) fn describe(args: &[&str], out: &Output) -> String {
    format!(
        "`asg-trail {}` exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Parses one JSON object per non-empty stdout line.
pub(crate) fn json_lines(args: &[&str], out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| {
                panic!(
                    "stdout line is not JSON ({e}): {l}\n{}",
                    describe(args, out)
                )
            });
            assert!(
                v.is_object(),
                "stdout line is not a JSON object: {l}\n{}",
                describe(args, out)
            );
            v
        })
        .collect()
}

/// Plain JSON → DynamoDB attribute value (the inverse of `stack::attr_to_json`, for seeding).
fn json_to_attr(v: &Value) -> AttributeValue {
    match v {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(a) => AttributeValue::L(a.iter().map(json_to_attr).collect()),
        Value::Object(o) => AttributeValue::M(
            o.iter()
                .map(|(k, v)| (k.clone(), json_to_attr(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

pub(crate) async fn seed(table: &str, items: &[Value]) {
    let client = stack::dynamodb().await;
    for item in items {
        let AttributeValue::M(mut m) = json_to_attr(item) else {
            panic!("seed item is not an object: {item}")
        };
        // As the contract says: groupNames is a string set, not a list.
        if let Some(names) = item.get("groupNames").and_then(Value::as_array) {
            let names = names
                .iter()
                .map(|n| n.as_str().expect("group names are strings").to_owned())
                .collect();
            m.insert("groupNames".to_owned(), AttributeValue::Ss(names));
        }
        client
            .put_item()
            .table_name(table)
            .set_item(Some(m))
            .send()
            .await
            .unwrap_or_else(|e| panic!("seed {table}: {e:?}"));
    }
}

// ------------------------------------------------------------------------------------------
// The Lambda (real bootstrap binary through the Runtime API emulator).
// ------------------------------------------------------------------------------------------

#[tokio::test]
async fn lambda_ingests_a_cloudtrail_file_and_a_redelivery_changes_nothing() {
    let bucket = stack::fresh_bucket().await;
    let table = stack::fresh_table().await;
    let gz = fixture_gz();
    stack::put_object(&bucket, LOG_KEY, gz.clone()).await;
    let event = notification(vec![s3_put_record(&bucket, LOG_KEY_ENCODED, gz.len())]);

    let lambda = Lambda::start(&table);
    let started = Instant::now();
    let first = lambda.invoke(event.clone()).await;
    let took = started.elapsed();
    assert!(
        first.is_ok(),
        "first invocation failed: {first:?}\n--- bootstrap output ---\n{}",
        lambda.logs()
    );
    eprintln!("[it] first invocation (cold) took {took:.1?}; response {first:?}");

    let scan1_raw = stack::scan_raw(&table).await;
    let scan1 = stack::scan_all(&table).await;
    let source = format!("s3://{bucket}/{LOG_KEY}");
    assert_items(scan1.clone(), &expected_items(&source), &|| {
        format!("--- bootstrap output ---\n{}", lambda.logs())
    });

    // Redelivery of the same notification: deterministic keys, so the table is unchanged.
    let second = lambda.invoke(event).await;
    assert!(
        second.is_ok(),
        "second invocation failed: {second:?}\n--- bootstrap output ---\n{}",
        lambda.logs()
    );
    let posted: Vec<String> = lambda
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("POST"))
        .collect();
    assert!(
        posted.len() == 2 && posted.iter().all(|r| r.ends_with("/response")),
        "want exactly one /response per invocation, got {posted:?}"
    );
    let scan2_raw = stack::scan_raw(&table).await;
    let scan2 = stack::scan_all(&table).await;
    assert_eq!(scan2, scan1, "the table changed after a redelivery");
    let by_key = |s: &[HashMap<String, AttributeValue>]| {
        s.iter()
            .map(|i| (key_of(&stack::item_to_json(i)), i.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(
        by_key(&scan2_raw),
        by_key(&scan1_raw),
        "the raw DynamoDB items changed after a redelivery"
    );
}

#[tokio::test]
async fn lambda_publishes_one_metrics_record_per_object() {
    let bucket = stack::fresh_bucket().await;
    let table = stack::fresh_table().await;
    let gz = fixture_gz();
    stack::put_object(&bucket, LOG_KEY, gz.clone()).await;
    let event = notification(vec![
        s3_put_record(&bucket, LOG_KEY_ENCODED, gz.len()),
        s3_put_record(&bucket, DIGEST_KEY_ENCODED, 10),
    ]);
    let lambda = Lambda::start(&table);
    let outcome = lambda.invoke(event).await;
    assert!(outcome.is_ok(), "{outcome:?}\n{}", lambda.logs());
    // The binary's output is captured as it comes: wait until both records are in.
    for outcome in ["\"ObjectsIngested\":1", "\"ObjectsSkipped\":1"] {
        lambda
            .wait_for_log_line(|l| l.contains("\"_aws\"") && l.contains(outcome))
            .await;
    }
    let records: Vec<Value> = lambda
        .logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect();
    assert_eq!(records.len(), 2, "one per object:\n{}", lambda.logs());
    let ingested = &records
        .iter()
        .find(|r| r["ObjectsIngested"] == 1)
        .expect("ingested");
    let skipped = &records
        .iter()
        .find(|r| r["ObjectsSkipped"] == 1)
        .expect("skipped");
    let spec = &ingested["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(spec["Namespace"], "AsgTrail");
    assert_eq!(ingested["FunctionName"], "asg-trail-it");
    let items = stack::scan_all(&table).await.len() as u64;
    assert_eq!(ingested["ItemsWritten"].as_u64(), Some(items));
    assert!(ingested["Events"].as_u64().is_some_and(|n| n > 0));
    // The fixture's events are from the past: the lag is their age.
    assert!(
        ingested["IngestionLag"]
            .as_u64()
            .is_some_and(|s| s > 86_400)
    );
    // A count of zero is not published (a metric costs per hour it gets data).
    assert!(skipped.get("ItemsWritten").is_none(), "{skipped}");
}

#[tokio::test]
async fn lambda_invocation_fails_when_the_table_does_not_exist() {
    let bucket = stack::fresh_bucket().await;
    let gz = fixture_gz();
    stack::put_object(&bucket, LOG_KEY, gz.clone()).await;
    let event = notification(vec![s3_put_record(&bucket, LOG_KEY_ENCODED, gz.len())]);

    let missing = stack::unused_table_name();
    let lambda = Lambda::start(&missing);
    let outcome = lambda.invoke(event).await;
    let Err(body) = outcome else {
        panic!(
            "the invocation must FAIL when table {missing} does not exist, but it returned OK: \
             {outcome:?}\n--- bootstrap output ---\n{}",
            lambda.logs()
        );
    };
    for field in ["errorType", "errorMessage"] {
        assert!(
            body.get(field)
                .is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty())),
            "the error body lacks a non-empty {field}: {body}"
        );
    }
    eprintln!("[it] missing-table error body: {body}");
}

#[tokio::test]
async fn lambda_skips_digest_files_and_empty_objects() {
    let bucket = stack::fresh_bucket().await;
    let table = stack::fresh_table().await;
    let gz = fixture_gz();
    // A real CloudTrail file under a digest key: if it were not skipped, items would appear.
    stack::put_object(&bucket, DIGEST_KEY, gz.clone()).await;
    stack::put_object(&bucket, EMPTY_KEY, Vec::new()).await;

    let lambda = Lambda::start(&table);
    for (what, event) in [
        (
            "digest",
            notification(vec![s3_put_record(&bucket, DIGEST_KEY_ENCODED, gz.len())]),
        ),
        (
            "zero-byte",
            notification(vec![s3_put_record(&bucket, EMPTY_KEY_ENCODED, 0)]),
        ),
        (
            "digest + zero-byte",
            notification(vec![
                s3_put_record(&bucket, DIGEST_KEY_ENCODED, gz.len()),
                s3_put_record(&bucket, EMPTY_KEY_ENCODED, 0),
            ]),
        ),
    ] {
        let outcome = lambda.invoke(event).await;
        assert!(
            outcome.is_ok(),
            "the {what} notification must succeed (skipped), got {outcome:?}\n--- bootstrap output ---\n{}",
            lambda.logs()
        );
        let items = stack::scan_all(&table).await;
        assert!(
            items.is_empty(),
            "the {what} notification wrote {} item(s), want none: {items:#?}\n--- bootstrap output ---\n{}",
            items.len(),
            lambda.logs()
        );
    }
    // Positive control: the same binary and table do ingest a real log file, so the empty
    // table above means "skipped", not "the binary writes nothing at all".
    stack::put_object(&bucket, LOG_KEY, gz.clone()).await;
    let outcome = lambda
        .invoke(notification(vec![s3_put_record(
            &bucket,
            LOG_KEY_ENCODED,
            gz.len(),
        )]))
        .await;
    assert!(
        outcome.is_ok(),
        "control invocation failed: {outcome:?}\n--- bootstrap output ---\n{}",
        lambda.logs()
    );
    let source = format!("s3://{bucket}/{LOG_KEY}");
    assert_items(
        stack::scan_all(&table).await,
        &expected_items(&source),
        &|| format!("--- bootstrap output ---\n{}", lambda.logs()),
    );
}

// ------------------------------------------------------------------------------------------
// The CLI.
// ------------------------------------------------------------------------------------------

#[tokio::test]
async fn cli_ingest_writes_the_same_items_as_the_lambda() {
    let bucket = stack::fresh_bucket().await;
    let table = stack::fresh_table().await;
    stack::put_object(&bucket, LOG_KEY, fixture_gz()).await;
    let url = format!("s3://{bucket}/{LOG_KEY}");
    let args = ["ingest", "--table", &table, &url];
    let out = run_cli(&args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let items = stack::scan_all(&table).await;
    assert_items(items, &expected_items(&url), &|| describe(&args, &out));
}

#[tokio::test]
async fn cli_ingest_of_a_missing_object_fails_naming_it() {
    let bucket = stack::fresh_bucket().await;
    let table = stack::fresh_table().await;
    let url = format!("s3://{bucket}/{LOG_KEY}");
    let args = ["ingest", "--table", &table, &url];
    let out = run_cli(&args);
    assert!(!out.status.success(), "{}", describe(&args, &out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&url) && stderr.contains("NoSuchKey"),
        "{}",
        describe(&args, &out)
    );
}

#[tokio::test]
async fn cli_paths_stamp_the_retention_and_honour_the_settings_like_the_lambda() {
    let bucket = stack::fresh_bucket().await;
    stack::put_object(&bucket, LOG_KEY, fixture_gz()).await;
    let url = format!("s3://{bucket}/{LOG_KEY}");
    let expires = |items: &[Value]| -> Vec<Option<u64>> {
        items.iter().map(|i| i["expiresAt"].as_u64()).collect()
    };
    // extract: the items the Lambda would write with RETENTION_DAYS=30.
    let args = ["extract", FIXTURE_GZ];
    let out = run_cli_with_env(&args, &[("RETENTION_DAYS", "30")]);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let extracted = json_lines(&args, &out);
    assert!(!extracted.is_empty());
    assert!(
        expires(&extracted).iter().all(Option::is_some),
        "{extracted:?}"
    );
    // ingest and backfill: the same expiry, by variable or by flag.
    for args in [
        vec!["ingest", &url],
        vec![
            "backfill",
            "--progress-every",
            "0",
            "--retention-days",
            "30",
        ],
    ] {
        let table = stack::fresh_table().await;
        let mut args: Vec<&str> = args.clone();
        let location = format!("s3://{bucket}/my logs/");
        if args[0] == "backfill" {
            args.push(&location);
        }
        args.extend(["--table", &table]);
        let out = run_cli_with_env(&args, &[("RETENTION_DAYS", "30")]);
        assert!(out.status.success(), "{}", describe(&args, &out));
        let mut stored = stack::scan_all(&table).await;
        stored.sort_by_key(|i| i["eventKey"].to_string() + &i["groupName"].to_string());
        let mut want = extracted.clone();
        want.sort_by_key(|i| i["eventKey"].to_string() + &i["groupName"].to_string());
        assert_eq!(
            expires(&stored),
            expires(&want),
            "{}",
            describe(&args, &out)
        );
    }
    // A malformed setting stops the CLI before any call, naming the variable.
    let args = ["ingest", "--table", "t", &url];
    let out = run_cli_with_env(&args, &[("WRITE_MAX_ATTEMPTS", "zero")]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("WRITE_MAX_ATTEMPTS"),
        "{}",
        describe(&args, &out)
    );
}

#[tokio::test]
async fn cli_query_prints_a_groups_items_oldest_first() {
    let table = stack::fresh_table().await;
    let source =
        "s3://acme-cloudtrail-logs/AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05/x.json.gz";
    // Seeded directly, so this test does not depend on ingestion.
    let all = expected_items(source);
    seed(&table, &all).await;
    let args = [
        "query", "--table", &table, "--group", "web-asg", "--output", "json",
    ];
    let out = run_cli(&args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let got = json_lines(&args, &out);
    let got_keys: Vec<_> = got.iter().map(key_of).collect();
    // Oldest first; the two events of 11:58:07 are ordered by eventKey (then eventID).
    let want_keys: Vec<(String, String)> = [
        "2024-03-05T11:52:40Z#7d0e2f14-2b6a-4c39-8e51-9a0b1c2d3e4f",
        "2024-03-05T11:57:30Z#a4b5c6d7-e8f9-4a0b-9c1d-2e3f4a5b6c7d",
        "2024-03-05T11:58:07Z#550e67bd-7529-4355-a650-c84d5ac66fc1",
        "2024-03-05T11:58:07Z#e41b7c2a-58d3-4f0a-9b6e-0c1d2e3f4a5b",
        "2024-03-05T11:59:02Z#b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e",
    ]
    .iter()
    .map(|k| ("web-asg".to_owned(), (*k).to_owned()))
    .collect();
    assert_eq!(got_keys, want_keys, "{}", describe(&args, &out));
    let want: Vec<Value> = want_keys
        .iter()
        .map(|k| {
            all.iter()
                .find(|i| &key_of(i) == k)
                .cloned()
                .expect("expected item")
        })
        .collect();
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(
            normalize_numbers(g),
            normalize_numbers(w),
            "query output line differs from the stored item\n{}",
            describe(&args, &out)
        );
    }
}

#[test]
fn cli_extract_prints_the_items_of_a_local_file() {
    let args = ["extract", FIXTURE_GZ];
    let out = run_cli(&args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let got = json_lines(&args, &out);
    assert_items(got, &expected_items(FIXTURE_GZ), &|| describe(&args, &out));
}

/// `label: value` lines of `extract --stats` (stderr), by label.
fn stats_lines(out: &Output) -> BTreeMap<String, String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

#[test]
fn cli_extract_includes_service_actions_by_flag_or_env() {
    let mut want = expected_items(FIXTURE_GZ);
    want.push(expected_service_item(FIXTURE_GZ));
    sort_items(&mut want);
    let args = ["extract", "--include-service-actions", FIXTURE_GZ];
    let out = run_cli(&args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    assert_items(json_lines(&args, &out), &want, &|| describe(&args, &out));

    let args = ["extract", FIXTURE_GZ];
    let out = run_cli_with_env(&args, &[("INCLUDE_SERVICE_ACTIONS", "true")]);
    assert!(out.status.success(), "{}", describe(&args, &out));
    assert_items(json_lines(&args, &out), &want, &|| describe(&args, &out));

    let out = run_cli_with_env(&args, &[("INCLUDE_SERVICE_ACTIONS", "maybe")]);
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("INCLUDE_SERVICE_ACTIONS"),
        "a malformed boolean must fail and name its variable\n{}",
        describe(&args, &out)
    );
}

#[test]
fn cli_extract_filters_and_counts_what_it_dropped() {
    let args = [
        "extract",
        "--stats",
        "--event-names-exclude",
        "SetDesiredCapacity, CreateOrUpdateTags",
        FIXTURE_GZ,
    ];
    let out = run_cli(&args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let want: Vec<Value> = expected_items(FIXTURE_GZ)
        .into_iter()
        .filter(|i| {
            !matches!(
                i["eventName"].as_str(),
                Some("SetDesiredCapacity" | "CreateOrUpdateTags")
            )
        })
        .collect();
    assert_eq!(want.len(), 6);
    assert_items(json_lines(&args, &out), &want, &|| describe(&args, &out));
    let stats = stats_lines(&out);
    for (label, value) in [
        ("records scanned", "12"),
        ("Auto Scaling events", "6"),
        ("items", "6"),
        ("events attributed to a group", "5 (83.3%)"),
        ("events in the account partition", "1"),
        ("filtered", "2"),
        ("rejected", "0"),
    ] {
        assert_eq!(
            stats.get(label).map(String::as_str),
            Some(value),
            "{label}\n{}",
            describe(&args, &out)
        );
    }

    // The same through the environment, with an include list.
    let args = ["extract", FIXTURE_GZ];
    let out = run_cli_with_env(&args, &[("EVENT_NAMES_INCLUDE", "PutScalingPolicy")]);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let got = json_lines(&args, &out);
    assert_eq!(got.len(), 1, "{}", describe(&args, &out));
    assert_eq!(got[0]["eventName"], "PutScalingPolicy");
}

#[test]
fn cli_extract_takes_every_shape_of_the_real_corpus() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/corpus");
    let files = [
        "stackstate-aws_topology/create_autoscaling_group.json",
        "stackstate-aws_topology/create_or_update_tags.json",
        "stackstate-aws_topology/get_object_xxx.gz",
        "traildiscover/CreateAutoScalingGroup.json.cloudtrail",
        "awsdocs-extracted/monitoring-eventbridge__52ccb9fb72.json",
        "awsdocs-extracted/view-insights-events-cli__6b483e4519.json",
        "cloud-custodian/event-cloud-trail-run-instances.json",
        "218007301253_CloudTrail_us-east-1_20230710T1230Z_9SJSsrxJ0ChF5VFb.json",
    ];
    let paths: Vec<String> = files.iter().map(|f| format!("{dir}/{f}")).collect();
    // --keep-read-only: the corpus's DescribeAutoScalingGroups counts too.
    let mut args = vec!["extract", "--stats", "--keep-read-only"];
    args.extend(paths.iter().map(String::as_str));
    let out = run_cli(&args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let got: Vec<(String, String)> = json_lines(&args, &out)
        .iter()
        .map(|i| {
            (
                i["eventName"].as_str().unwrap_or_default().to_owned(),
                i["groupName"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let stack = "elvin-stackstate-tests-main-account-main-region-EcsAutoScalingGroup-1D45HJNDMXR65";
    let want = [
        ("CreateAutoScalingGroup", stack),
        ("CreateOrUpdateTags", stack),
        ("CreateAutoScalingGroup", "TrailDiscoverASG"),
        ("DescribeAutoScalingGroups", ":account:123837392027"),
    ]
    .map(|(e, g)| (e.to_owned(), g.to_owned()));
    assert_eq!(got, want, "{}", describe(&args, &out));
    let stats = stats_lines(&out);
    assert_eq!(stats.get("files").map(String::as_str), Some("8"));
    assert_eq!(stats.get("records scanned").map(String::as_str), Some("93"));
    assert_eq!(
        stats
            .get("events attributed to a group")
            .map(String::as_str),
        Some("3 (75.0%)"),
        "{}",
        describe(&args, &out)
    );
}

#[tokio::test]
async fn lambda_stores_service_actions_when_the_variable_says_so() {
    let bucket = stack::fresh_bucket().await;
    let table = stack::fresh_table().await;
    let gz = fixture_gz();
    stack::put_object(&bucket, LOG_KEY, gz.clone()).await;
    let lambda = Lambda::start_with_env(&table, &[("INCLUDE_SERVICE_ACTIONS", "true")]);
    let outcome = lambda
        .invoke(notification(vec![s3_put_record(
            &bucket,
            LOG_KEY_ENCODED,
            gz.len(),
        )]))
        .await;
    assert!(
        outcome.is_ok(),
        "invocation failed: {outcome:?}\n--- bootstrap output ---\n{}",
        lambda.logs()
    );
    let source = format!("s3://{bucket}/{LOG_KEY}");
    let mut want = expected_items(&source);
    want.push(expected_service_item(&source));
    sort_items(&mut want);
    assert_items(stack::scan_all(&table).await, &want, &|| {
        format!("--- bootstrap output ---\n{}", lambda.logs())
    });
}

// ------------------------------------------------------------------------------------------
// Volume: more than one BatchWriteItem, repeated records, multi-member gzip.
// ------------------------------------------------------------------------------------------

pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip")
}

/// Generated SetDesiredCapacity call number `i` and the item the contract says it becomes.
pub(crate) fn generated(i: usize, source: &str) -> (Value, Value) {
    let group = format!("batch-asg-{}", i % 3);
    let time = format!("2024-03-05T12:{:02}:{:02}Z", i / 60, i % 60);
    let id = format!("00000000-0000-4000-8000-{i:012}");
    let request_id = format!("11111111-0000-4000-8000-{i:012}");
    let record = json!({
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAQRSTUVWXYZ2345678",
            "arn": "arn:aws:iam::123456789012:user/deploy-bot",
            "accountId": "123456789012",
            "accessKeyId": "AKIAQRSTUVWXEXAMPLE1",
            "userName": "deploy-bot"
        },
        "eventTime": time,
        "eventSource": "autoscaling.amazonaws.com",
        "eventName": "SetDesiredCapacity",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.17",
        "userAgent": "aws-cli/2.15.21",
        "requestParameters": {"autoScalingGroupName": group, "desiredCapacity": i},
        "responseElements": null,
        "requestID": request_id,
        "eventID": id,
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": "123456789012",
        "eventCategory": "Management"
    });
    let item = json!({
        "groupName": group,
        "groupNames": [group],
        "origin": "api",
        "eventKey": format!("{time}#{id}"),
        "eventTime": time,
        "eventName": "SetDesiredCapacity",
        "eventID": id,
        "eventVersion": "1.09",
        "awsRegion": "us-east-1",
        "requestID": request_id,
        "sourceIPAddress": "203.0.113.17",
        "userAgent": "aws-cli/2.15.21",
        "readOnly": false,
        "accountId": ACCOUNT,
        "userIdentityType": "IAMUser",
        "userArn": "arn:aws:iam::123456789012:user/deploy-bot",
        "principalId": "AIDAQRSTUVWXYZ2345678",
        "userName": "deploy-bot",
        "requestParameters": {"autoScalingGroupName": group, "desiredCapacity": i},
        "sourceObject": source,
    });
    (record, item)
}

#[tokio::test]
async fn lambda_writes_many_items_and_repeated_records_once() {
    const N: usize = 130;
    let bucket = stack::fresh_bucket().await;
    let table = stack::fresh_table().await;
    let key = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05/\
               123456789012_CloudTrail_us-east-1_20240305T1215Z_Vol0000001.json.gz";
    let source = format!("s3://{bucket}/{key}");
    let mut records = Vec::new();
    let mut expected = Vec::new();
    for i in 0..N {
        let (record, item) = generated(i, &source);
        // CloudTrail may deliver a record twice; the repeat lands in the same batch of 25.
        if i % 7 == 0 {
            records.push(record.clone());
        }
        records.push(record);
        expected.push(item);
    }
    sort_items(&mut expected);
    let gz = gzip(json!({ "Records": records }).to_string().as_bytes());
    stack::put_object(&bucket, key, gz.clone()).await;

    let lambda = Lambda::start(&table);
    let outcome = lambda
        .invoke(notification(vec![s3_put_record(&bucket, key, gz.len())]))
        .await;
    assert!(
        outcome.is_ok(),
        "invocation failed: {outcome:?}\n--- bootstrap output ---\n{}",
        lambda.logs()
    );
    assert_items(stack::scan_all(&table).await, &expected, &|| {
        format!("--- bootstrap output ---\n{}", lambda.logs())
    });
}

#[tokio::test]
async fn lambda_reads_a_multi_member_gzip_file() {
    let bucket = stack::fresh_bucket().await;
    let table = stack::fresh_table().await;
    let plain = std::fs::read(FIXTURE_GZ.trim_end_matches(".gz")).expect("read the plain fixture");
    // Two gzip members whose decompressed concatenation is the file (split mid-record).
    let (a, b) = plain.split_at(plain.len() / 2);
    let mut gz = gzip(a);
    gz.extend(gzip(b));
    stack::put_object(&bucket, LOG_KEY, gz.clone()).await;

    let lambda = Lambda::start(&table);
    let outcome = lambda
        .invoke(notification(vec![s3_put_record(
            &bucket,
            LOG_KEY_ENCODED,
            gz.len(),
        )]))
        .await;
    assert!(
        outcome.is_ok(),
        "invocation failed: {outcome:?}\n--- bootstrap output ---\n{}",
        lambda.logs()
    );
    let source = format!("s3://{bucket}/{LOG_KEY}");
    assert_items(
        stack::scan_all(&table).await,
        &expected_items(&source),
        &|| format!("--- bootstrap output ---\n{}", lambda.logs()),
    );
}
