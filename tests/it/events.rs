//! EC2 Auto Scaling's own EventBridge events through the real `bootstrap` (Runtime API
//! emulator) into DynamoDB Local: every sample of `events/` (one per detail-type, and an API
//! call via CloudTrail), one CloudTrail record sent both ways (as an event, then in a log file,
//! and the reverse), an activity with no group, an unknown detail-type, and a malformed
//! envelope. The expected items are written from the contract in `src/item.rs`, never computed
//! with the library.

use serde_json::{Value, json};

use crate::e2e::{assert_items, describe, gzip, json_lines, notification, run_cli, s3_put_record};
use crate::runtime_api::Lambda;
use crate::stack;

const SAMPLES: [&str; 17] = [
    "autoscaling-launch-successful.json",
    "autoscaling-launch-unsuccessful.json",
    "autoscaling-terminate-successful.json",
    "autoscaling-terminate-unsuccessful.json",
    "autoscaling-detach-successful.json",
    "autoscaling-launch-lifecycle-action.json",
    "autoscaling-terminate-lifecycle-action.json",
    "autoscaling-refresh-started.json",
    "autoscaling-refresh-checkpoint-reached.json",
    "autoscaling-refresh-started-baking.json",
    "autoscaling-refresh-succeeded.json",
    "autoscaling-refresh-failed.json",
    "autoscaling-refresh-cancelled.json",
    "autoscaling-refresh-rollback-started.json",
    "autoscaling-refresh-rollback-succeeded.json",
    "autoscaling-refresh-rollback-failed.json",
    "autoscaling-api-call.json",
];

const API_CALL: &str = "AWS API Call via CloudTrail";

fn sample(name: &str) -> Value {
    let path = stack::repo_root().join("events").join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The item the contract says an activity envelope becomes, filed under `group`.
fn activity_item(envelope: &Value, group: Option<&str>, source: &str) -> Value {
    let (id, time) = (&envelope["id"], &envelope["time"]);
    let mut item = json!({
        "groupName": group.map_or_else(|| format!(":account:{}", envelope["account"].as_str().unwrap_or("unknown")), str::to_owned),
        "eventKey": format!("{}#{}", time.as_str().unwrap_or_default(), id.as_str().unwrap_or_default()),
        "eventTime": time,
        "eventID": id,
        "eventName": envelope["detail-type"],
        "origin": "activity",
        "awsRegion": envelope["region"],
        "accountId": envelope["account"],
        "detail": envelope["detail"],
        "sourceObject": source,
    });
    if let Some(group) = group {
        item["groupNames"] = json!([group]);
    }
    item
}

/// The item of the sample API call (SetDesiredCapacity by an IAM Identity Center user).
fn api_call_item(source: &str) -> Value {
    json!({
        "groupName": "web-asg",
        "groupNames": ["web-asg"],
        "origin": "api",
        "eventKey": "2024-03-05T12:30:05Z#d9f1b3d5-f7a9-4b1d-b3f5-a7c9e1b3d5f7",
        "eventTime": "2024-03-05T12:30:05Z",
        "eventName": "SetDesiredCapacity",
        "eventID": "d9f1b3d5-f7a9-4b1d-b3f5-a7c9e1b3d5f7",
        "eventVersion": "1.09",
        "awsRegion": "us-east-1",
        "requestID": "1c3e5a7c-9e1b-4d3f-a5c7-e9b1d3f5a7c9",
        "sourceIPAddress": "203.0.113.24",
        "userAgent": "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0 exe/x86_64.ubuntu.22 prompt/off command/autoscaling.set-desired-capacity",
        "readOnly": false,
        "accountId": "123456789012",
        "userIdentityType": "AssumedRole",
        "userArn": "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_PlatformOps_0a1b2c3d4e5f6a7b/alice@example.com",
        "principalId": "AROAZ3EXAMPLEPLATFORM:alice@example.com",
        "userName": "alice@example.com",
        "roleName": "AWSReservedSSO_PlatformOps_0a1b2c3d4e5f6a7b",
        "requestParameters": {"autoScalingGroupName": "web-asg", "desiredCapacity": 4, "honorCooldown": false},
        "sourceObject": source,
    })
}

fn logs_of(lambda: &Lambda) -> impl Fn() -> String + '_ {
    move || format!("--- bootstrap output ---\n{}", lambda.logs())
}

#[tokio::test]
async fn every_sample_event_is_stored_by_the_real_function() {
    let table = stack::fresh_table().await;
    let lambda = Lambda::start(&table);
    let mut want = Vec::new();
    for name in SAMPLES {
        let envelope = sample(name);
        let outcome = lambda.invoke(envelope.clone()).await;
        let summary = outcome.unwrap_or_else(|e| panic!("{name}: {e}\n{}", lambda.logs()));
        assert_eq!(
            (&summary["shape"], &summary["itemsWritten"]),
            (&json!("EventBridge (aws.autoscaling)"), &json!(1)),
            "{name}"
        );
        let id = envelope["id"].as_str().expect("id");
        let source = format!("eventbridge:{id}");
        want.push(if envelope["detail-type"] == API_CALL {
            api_call_item(&source)
        } else {
            activity_item(&envelope, Some("web-asg"), &source)
        });
        let line = lambda
            .wait_for_log_line(|l| l.contains("event ingested") && l.contains(id))
            .await;
        assert!(line.contains("web-asg"), "{name}: {line}");
    }
    assert_items(stack::scan_all(&table).await, &want, &logs_of(&lambda));

    // `asg-trail extract` reads the same envelopes from a Firehose object (concatenated, no
    // separator, gzipped) and prints the same items, but for `sourceObject`.
    let firehose: String = SAMPLES.iter().map(|n| sample(n).to_string()).collect();
    let path = std::env::temp_dir().join(format!("asg-trail-firehose-{}.gz", std::process::id()));
    std::fs::write(&path, gzip(firehose.as_bytes())).expect("write the Firehose object");
    let path_text = path.to_string_lossy().into_owned();
    let args = ["extract", path_text.as_str()];
    let out = run_cli(&args);
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let from_file: Vec<Value> = want
        .iter()
        .map(|item| {
            let mut item = item.clone();
            item["sourceObject"] = json!(path_text);
            item
        })
        .collect();
    assert_items(json_lines(&args, &out), &from_file, &|| {
        describe(&args, &out)
    });
}

/// A CloudTrail record naming two groups (CreateOrUpdateTags), beside the sample's
/// SetDesiredCapacity: both are sent as events and in one log file.
fn tags_record() -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLEDEPLOYBOT1",
            "arn": "arn:aws:iam::123456789012:user/deploy-bot", "accountId": "123456789012",
            "accessKeyId": "AKIAEXAMPLEDEPLOY001", "userName": "deploy-bot"},
        "eventTime": "2024-03-05T12:31:40Z",
        "eventSource": "autoscaling.amazonaws.com",
        "eventName": "CreateOrUpdateTags",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.12",
        "userAgent": "aws-sdk-go-v2/1.25.2",
        "requestParameters": {"tags": [
            {"resourceId": "web-asg", "resourceType": "auto-scaling-group", "key": "owner", "value": "platform", "propagateAtLaunch": true},
            {"resourceId": "api-asg", "resourceType": "auto-scaling-group", "key": "owner", "value": "platform", "propagateAtLaunch": true}
        ]},
        "responseElements": null,
        "requestID": "6a8c0e2a-4c6e-4a8c-8e0a-2c4e6a8c0e2a",
        "eventID": "7b9d1f3b-5d7f-4b9d-9f1b-3d5f7b9d1f3b",
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": "123456789012",
        "eventCategory": "Management"
    })
}

fn api_call_envelope(id: &str, record: &Value) -> Value {
    json!({"version": "0", "id": id, "detail-type": API_CALL, "source": "aws.autoscaling",
           "account": "123456789012", "time": record["eventTime"], "region": "us-east-1",
           "resources": [], "detail": record})
}

/// Every item with `sourceObject` set to `source`.
fn with_source(items: &[Value], source: &str) -> Vec<Value> {
    items
        .iter()
        .map(|i| {
            let mut i = i.clone();
            i["sourceObject"] = json!(source);
            i
        })
        .collect()
}

#[tokio::test]
async fn one_record_sent_both_ways_gives_one_set_of_items_in_either_order() {
    const KEY: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05/123456789012_CloudTrail_us-east-1_20240305T1235Z_Bb12Cc34.json.gz";
    let call = sample("autoscaling-api-call.json");
    let tags = api_call_envelope("c1d3e5f7-a9b1-4c3d-8e5f-7a9b1c3d5e7f", &tags_record());
    let log = gzip(
        json!({"Records": [call["detail"], tags["detail"]]})
            .to_string()
            .as_bytes(),
    );
    let bucket = stack::fresh_bucket().await;
    stack::put_object(&bucket, KEY, log.clone()).await;
    let file_event = notification(vec![s3_put_record(&bucket, KEY, log.len())]);
    let file_source = format!("s3://{bucket}/{KEY}");

    for events_first in [true, false] {
        let table = stack::fresh_table().await;
        let lambda = Lambda::start(&table);
        let mut snapshots = Vec::new();
        let steps: [&[&Value]; 2] = if events_first {
            [&[&call, &tags], &[&file_event]]
        } else {
            [&[&file_event], &[&call, &tags]]
        };
        for step in steps {
            for payload in step {
                let outcome = lambda.invoke((*payload).clone()).await;
                assert!(outcome.is_ok(), "{outcome:?}\n{}", lambda.logs());
            }
            snapshots.push(stack::scan_all(&table).await);
        }
        // The events' items and the file's are the same items (3: SetDesiredCapacity, and
        // CreateOrUpdateTags once per group), identical apart from sourceObject.
        let (by_events, by_file) = if events_first {
            (&snapshots[0], &snapshots[1])
        } else {
            (&snapshots[1], &snapshots[0])
        };
        assert_eq!(by_file.len(), 3, "{by_file:#?}");
        let events_sources: std::collections::BTreeSet<&str> = by_events
            .iter()
            .filter_map(|i| i["sourceObject"].as_str())
            .collect();
        assert_eq!(
            events_sources,
            [
                "eventbridge:c1d3e5f7-a9b1-4c3d-8e5f-7a9b1c3d5e7f",
                "eventbridge:e0f2a4c6-e8a0-c2e4-a6c8-e0a2c4e6a8c0"
            ]
            .into_iter()
            .collect(),
            "events first: {events_first}"
        );
        assert_items(
            with_source(by_events, "x"),
            &with_source(by_file, "x"),
            &logs_of(&lambda),
        );
        // Whichever came last wrote the items over: still one set, no duplicate.
        assert_eq!(snapshots[1].len(), 3, "events first: {events_first}");
        assert!(
            snapshots[1].iter().all(|i| {
                let came_by_file = i["sourceObject"] == json!(file_source);
                came_by_file == events_first
            }),
            "events first: {events_first}: {:#?}",
            snapshots[1]
        );
    }
}

#[tokio::test]
async fn another_accounts_event_is_refused_logged_and_counted_unless_accepted() {
    // The function runs in 123456789012 (its ARN, runtime_api::FUNCTION_ARN).
    let table = stack::fresh_table().await;
    let lambda = Lambda::start(&table);
    let mut foreign = sample("autoscaling-launch-successful.json");
    foreign["account"] = json!("999999999999");
    let summary = lambda
        .invoke(foreign.clone())
        .await
        .unwrap_or_else(|e| panic!("a refusal is no failure: {e}\n{}", lambda.logs()));
    assert_eq!(
        (&summary["eventsRefused"], &summary["itemsWritten"]),
        (&json!(1), &json!(0)),
        "{summary}"
    );
    let line = lambda
        .wait_for_log_line(|l| l.contains("event refused"))
        .await;
    assert!(
        line.contains("999999999999") && line.contains("123456789012 (own account)"),
        "names the event's account and what is accepted: {line}"
    );
    let metric = lambda
        .wait_for_log_line(|l| l.contains("\"EventsRefused\""))
        .await;
    assert!(metric.contains("\"EventsRefused\":1"), "{metric}");
    // The own account's event is stored beside it: only the foreign one is kept out.
    let own = sample("autoscaling-launch-successful.json");
    let stored = lambda.invoke(own.clone()).await.expect("stored");
    assert_eq!(stored["itemsWritten"], 1, "{stored}");
    let rows = stack::scan_all(&table).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["accountId"], "123456789012");

    // Accepted by EVENT_ACCOUNTS: stored.
    let table = stack::fresh_table().await;
    let lambda = Lambda::start_with_env(&table, &[("EVENT_ACCOUNTS", "999999999999")]);
    let summary = lambda.invoke(foreign).await.expect("accepted");
    assert_eq!(summary["itemsWritten"], 1, "{summary}\n{}", lambda.logs());
    let rows = stack::scan_all(&table).await;
    assert_eq!(rows[0]["accountId"], "999999999999");
}

#[tokio::test]
async fn a_malformed_event_accounts_setting_stops_the_function_naming_it() {
    let table = stack::fresh_table().await;
    // The binary stops before it asks for an invocation.
    let lambda = Lambda::start_with_env(&table, &[("EVENT_ACCOUNTS", "111111111111,o-BAD")]);
    let line = lambda
        .wait_for_log_line(|l| l.contains("bad configuration"))
        .await;
    assert!(
        line.contains("EVENT_ACCOUNTS") && line.contains("o-BAD"),
        "{line}"
    );
}

#[tokio::test]
async fn an_activity_naming_no_group_is_stored_in_the_account_partition_and_logged() {
    let table = stack::fresh_table().await;
    let lambda = Lambda::start(&table);
    let mut envelope = sample("autoscaling-terminate-unsuccessful.json");
    envelope["detail"]
        .as_object_mut()
        .expect("object")
        .remove("AutoScalingGroupName");
    envelope["resources"] =
        json!(["arn:aws:ec2:us-east-1:123456789012:instance/i-07b9d1f3a5c7e9b1d"]);
    let outcome = lambda.invoke(envelope.clone()).await;
    assert!(outcome.is_ok(), "{outcome:?}\n{}", lambda.logs());
    let source = format!("eventbridge:{}", envelope["id"].as_str().expect("id"));
    assert_items(
        stack::scan_all(&table).await,
        &[activity_item(&envelope, None, &source)],
        &logs_of(&lambda),
    );
    let line = lambda
        .wait_for_log_line(|l| l.contains("names no group"))
        .await;
    assert!(
        line.contains("5f6a7b8c-9d0e-4f1a-b2c3-d4e5f6a7b8c9"),
        "{line}"
    );
}

#[tokio::test]
async fn an_unknown_detail_type_is_stored_too() {
    let table = stack::fresh_table().await;
    let lambda = Lambda::start(&table);
    let mut envelope = sample("autoscaling-refresh-started.json");
    envelope["id"] = json!("aa0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d");
    envelope["detail-type"] = json!("EC2 Auto Scaling Warm Pool Resized");
    envelope["detail"] = json!({"AutoScalingGroupName": "web-asg", "MinSize": 2, "MaxGroupPreparedCapacity": 6,
                                "PoolState": "Stopped", "Reasons": ["a user request"]});
    let outcome = lambda.invoke(envelope.clone()).await;
    assert!(outcome.is_ok(), "{outcome:?}\n{}", lambda.logs());
    assert_items(
        stack::scan_all(&table).await,
        &[activity_item(
            &envelope,
            Some("web-asg"),
            "eventbridge:aa0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d",
        )],
        &logs_of(&lambda),
    );
}

#[tokio::test]
async fn a_malformed_envelope_fails_by_name_and_nothing_else_is_lost() {
    let table = stack::fresh_table().await;
    let lambda = Lambda::start(&table);
    let before = sample("autoscaling-launch-successful.json");
    let after = sample("autoscaling-terminate-successful.json");
    let mut broken = sample("autoscaling-launch-unsuccessful.json");
    broken["detail"] = json!("not an object");
    let outcome = lambda.invoke(before.clone()).await;
    assert!(outcome.is_ok(), "{outcome:?}\n{}", lambda.logs());
    let err = lambda
        .invoke(broken)
        .await
        .expect_err("a malformed envelope fails the invocation");
    assert_eq!(err["errorType"], "InvalidEvent", "{err}");
    assert_eq!(
        err["errorMessage"],
        "EventBridge event 0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a (EC2 Instance Launch Unsuccessful): no detail object",
    );
    let outcome = lambda.invoke(after.clone()).await;
    assert!(outcome.is_ok(), "{outcome:?}\n{}", lambda.logs());
    let source = |e: &Value| format!("eventbridge:{}", e["id"].as_str().expect("id"));
    assert_items(
        stack::scan_all(&table).await,
        &[
            activity_item(&before, Some("web-asg"), &source(&before)),
            activity_item(&after, Some("web-asg"), &source(&after)),
        ],
        &logs_of(&lambda),
    );
    // Not an object at all: named by what was seen.
    let err = lambda
        .invoke(json!({"source": "aws.autoscaling", "detail-type": 42, "id": "x-1"}))
        .await
        .expect_err("fails");
    assert_eq!(err["errorType"], "InvalidEvent", "{err}");
    assert!(
        err["errorMessage"]
            .as_str()
            .is_some_and(|m| m.starts_with("EventBridge event x-1: not an event envelope")),
        "{err}"
    );
}
