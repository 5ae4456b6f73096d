//! Every trigger shape through the REAL bootstrap binary (Runtime API emulator) against moto S3
//! and DynamoDB Local: SQS with partial batch failure, SNS and SNS → SQS, CloudTrail's own SNS
//! notification, EventBridge, S3 Batch Operations (schemas 1.0 and 2.0), test events, an
//! unknown shape; AWS Config's files in the trail's bucket (skipped, never failed) and Control
//! Tower's layout. Expected items come from the hand-written contract in `e2e.rs`.

use serde_json::{Value, json};

use crate::e2e::{
    LOG_KEY, LOG_KEY_ENCODED, assert_items, expected_items, fixture_gz, notification, s3_put_record,
};
use crate::runtime_api::Lambda;
use crate::stack;

fn sqs_record(id: &str, body: &str) -> Value {
    json!({
        "messageId": id,
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1709640331512"},
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:asg-trail",
        "awsRegion": "us-east-1"
    })
}

fn sns_envelope(message: &Value) -> Value {
    json!({
        "Type": "Notification",
        "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:asg-trail",
        "Subject": "Amazon S3 Notification",
        "Message": message.to_string(),
        "Timestamp": "2024-03-05T12:05:31.512Z",
        "SignatureVersion": "1"
    })
}

fn sns_event(message: &Value) -> Value {
    json!({"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:asg-trail:1",
        "Sns": sns_envelope(message)
    }]})
}

/// S3's EventBridge event of an object created (the key plain, not encoded).
fn object_created(bucket: &str, key: &str, size: usize) -> Value {
    json!({
        "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created", "source": "aws.s3", "account": "123456789012",
        "time": "2024-03-05T12:05:31Z", "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {"version": "0", "bucket": {"name": bucket},
                   "object": {"key": key, "size": size, "etag": "e", "sequencer": "s"},
                   "request-id": "r", "requester": "cloudtrail.amazonaws.com", "reason": "PutObject"}
    })
}

fn ok(lambda: &Lambda, outcome: Result<Value, Value>) -> Value {
    outcome.unwrap_or_else(|e| {
        panic!(
            "invocation failed: {e}\n--- bootstrap output ---\n{}",
            lambda.logs()
        )
    })
}

#[tokio::test]
async fn sqs_batch_reports_only_the_failed_messages() {
    let bucket = stack::fresh_bucket().await;
    let table = stack::fresh_table().await;
    let gz = fixture_gz();
    stack::put_object(&bucket, LOG_KEY, gz.clone()).await;
    let good = notification(vec![s3_put_record(&bucket, LOG_KEY_ENCODED, gz.len())]);
    let missing = notification(vec![s3_put_record(
        &bucket,
        "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05/gone.json.gz",
        10,
    )]);
    let test_event = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": bucket});
    let event = json!({"Records": [
        sqs_record("m-good", &good.to_string()),
        sqs_record("m-missing", &missing.to_string()),
        sqs_record("m-garbled", "{\"Records\": [trunc"),
        sqs_record("m-sns", &sns_envelope(&good).to_string()),
        sqs_record("m-test", &test_event.to_string()),
    ]});
    let lambda = Lambda::start(&table);
    let response = ok(&lambda, lambda.invoke(event).await);
    assert_eq!(
        response,
        // m-missing names an object that no longer exists: skipped (NoSuchKey), not redelivered.
        json!({"batchItemFailures": [{"itemIdentifier": "m-garbled"}]}),
        "--- bootstrap output ---\n{}",
        lambda.logs()
    );
    let source = format!("s3://{bucket}/{LOG_KEY}");
    assert_items(
        stack::scan_all(&table).await,
        &expected_items(&source),
        &|| lambda.logs(),
    );
    let logs = lambda.logs();
    assert!(
        logs.contains("gone.json.gz") && logs.contains("NoSuchKey"),
        "the skipped object and the reason are logged:\n{logs}"
    );
    assert!(logs.contains("s3:TestEvent received"), "{logs}");
}

#[tokio::test]
async fn eventbridge_sns_and_cloudtrail_notifications_use_plain_keys() {
    let bucket = stack::fresh_bucket().await;
    let table = stack::fresh_table().await;
    let gz = fixture_gz();
    // A '+' and a space in the key: EventBridge and CloudTrail's SNS message do not encode it.
    let key = "eb+logs x/AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05/\
               123456789012_CloudTrail_us-east-1_20240305T1200Z_Ab12Cd34.json.gz";
    stack::put_object(&bucket, key, gz.clone()).await;
    let lambda = Lambda::start(&table);
    let source = format!("s3://{bucket}/{key}");

    let response = ok(
        &lambda,
        lambda.invoke(object_created(&bucket, key, gz.len())).await,
    );
    assert_eq!(response["shape"], "EventBridge", "{response}");
    assert_eq!(response["objectsIngested"], 1, "{response}");
    assert_items(
        stack::scan_all(&table).await,
        &expected_items(&source),
        &|| lambda.logs(),
    );

    let cloudtrail = sns_event(&json!({"s3Bucket": bucket, "s3ObjectKey": [key]}));
    let response = ok(&lambda, lambda.invoke(cloudtrail).await);
    assert_eq!(response["shape"], "SNS > CloudTrail", "{response}");
    assert_eq!(response["objectsIngested"], 1, "{response}");

    // SNS-wrapped S3 notification: here the key IS encoded ('+' → %2B, space → '+').
    let encoded = key.replace('+', "%2B").replace(' ', "+");
    let s3 = notification(vec![s3_put_record(&bucket, &encoded, gz.len())]);
    let response = ok(&lambda, lambda.invoke(sns_event(&s3)).await);
    assert_eq!(response["shape"], "SNS > S3", "{response}");
    assert_eq!(response["objectsIngested"], 1, "{response}");
    assert_items(
        stack::scan_all(&table).await,
        &expected_items(&source),
        &|| lambda.logs(),
    );
}

#[tokio::test]
async fn batch_operations_jobs_answer_per_task() {
    let bucket = stack::fresh_bucket().await;
    let table = stack::fresh_table().await;
    let gz = fixture_gz();
    stack::put_object(&bucket, LOG_KEY, gz.clone()).await;
    let lambda = Lambda::start(&table);

    let v1 = json!({
        "invocationSchemaVersion": "1.0",
        "invocationId": "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo",
        "job": {"id": "f3cc4f60-61f6-4a2b-8a21-d07600c373ce"},
        "tasks": [{"taskId": "dGFza2lkZ29lc2hlcmUK", "s3Key": LOG_KEY_ENCODED,
                   "s3VersionId": null, "s3BucketArn": format!("arn:aws:s3:::{bucket}")}]
    });
    let response = ok(&lambda, lambda.invoke(v1).await);
    assert_eq!(
        response,
        json!({
            "invocationSchemaVersion": "1.0",
            "treatMissingKeysAs": "PermanentFailure",
            "invocationId": "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo",
            "results": [{"taskId": "dGFza2lkZ29lc2hlcmUK", "resultCode": "Succeeded",
                         "resultString": format!(
                             "s3://{bucket}/{LOG_KEY}: 12 records, 8 events, {} items written",
                             expected_items("").len()
                         )}]
        })
    );
    assert_items(
        stack::scan_all(&table).await,
        &expected_items(&format!("s3://{bucket}/{LOG_KEY}")),
        &|| lambda.logs(),
    );

    let v2 = json!({
        "invocationSchemaVersion": "2.0",
        "invocationId": "Jr3s8KZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo",
        "job": {"id": "ff8b1c4e-5a43-4e2b-9d6c-2f0a7c1b3e5d", "userArguments": {"k": "v"}},
        "tasks": [
            {"taskId": "t-ok", "s3Bucket": bucket, "s3Key": LOG_KEY_ENCODED, "s3VersionId": null},
            {"taskId": "t-gone", "s3Bucket": bucket, "s3Key": "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05/gone.json.gz", "s3VersionId": null},
            {"taskId": "t-digest", "s3Bucket": bucket, "s3Key": "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/03/05/d.json.gz", "s3VersionId": null}
        ]
    });
    let response = ok(&lambda, lambda.invoke(v2).await);
    assert_eq!(response["invocationSchemaVersion"], "2.0");
    let codes: Vec<(String, String)> = response["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["taskId"].as_str().unwrap_or_default().to_owned(),
                r["resultCode"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        codes,
        [
            pair("t-ok", "Succeeded"),
            pair("t-gone", "PermanentFailure"),
            pair("t-digest", "Succeeded")
        ],
        "{response}"
    );
    let gone = response["results"][1]["resultString"]
        .as_str()
        .unwrap_or_default();
    assert!(gone.contains("NoSuchKey"), "{response}");
}

#[tokio::test]
async fn unknown_shapes_fail_with_a_named_error_and_test_events_succeed() {
    let table = stack::fresh_table().await;
    let lambda = Lambda::start(&table);
    let outcome = lambda
        .invoke(json!({"Records": [{"eventSource": "aws:kinesis", "kinesis": {"data": "eA=="}}]}))
        .await;
    let Err(body) = outcome else {
        panic!("an unknown shape must fail: {outcome:?}")
    };
    assert_eq!(body["errorType"], "UnknownEventShape", "{body}");
    assert_eq!(
        body["errorMessage"],
        "unknown event shape: message with Records from eventSource \"aws:kinesis\"",
        "{body}"
    );
    let response = ok(
        &lambda,
        lambda
            .invoke(json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2024-03-05T12:00:00.000Z",
                           "Bucket": "asg-trail-demo", "RequestId": "r", "HostId": "h"}))
            .await,
    );
    assert_eq!(response["testEvents"], 1, "{response}");
    assert!(stack::scan_all(&table).await.is_empty());
    // The binary is still serving after a failed invocation (no panic, no exit).
    let response = ok(
        &lambda,
        lambda
            .invoke(json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}))
            .await,
    );
    assert_eq!(response["shape"], "S3 test event");
}

/// AWS Config's history file (`tests/fixtures/aws-config-history.json`, gzipped), as Config
/// delivers it into the bucket of an organization trail.
const CONFIG_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/aws-config-history.json.gz"
);

/// Where Config delivers it: its own folder beside `CloudTrail/`, days not zero-padded.
const CONFIG_KEY: &str = "AWSLogs/123456789012/Config/us-east-1/2024/3/5/ConfigHistory/\
    123456789012_Config_us-east-1_ConfigHistory_AWS::AutoScaling::AutoScalingGroup_20240305T142331Z_20240305T142331Z_1.json.gz";

/// The bug: such a file failed the invocation (`InvalidLogFile`, no `Records`), was retried
/// and ended in the failure queue. It is skipped unread, counted, and the invocation succeeds.
#[tokio::test]
async fn aws_config_files_are_skipped_and_counted_by_s3_notification_and_eventbridge() {
    let bucket = stack::fresh_bucket().await;
    let table = stack::fresh_table().await;
    let config = std::fs::read(CONFIG_FIXTURE).expect("the AWS Config fixture");
    stack::put_object(&bucket, CONFIG_KEY, config.clone()).await;
    let lambda = Lambda::start(&table);
    // In a notification the key is URL-encoded (`:` → `%3A`): decoded before the rule.
    let encoded = CONFIG_KEY.replace(':', "%3A");
    let s3 = notification(vec![s3_put_record(&bucket, &encoded, config.len())]);
    let eventbridge = object_created(&bucket, CONFIG_KEY, config.len());
    for (shape, event) in [("S3", s3), ("EventBridge", eventbridge)] {
        let response = ok(&lambda, lambda.invoke(event).await);
        assert_eq!(
            (
                &response["shape"],
                &response["objectsSkipped"],
                &response["objectsIngested"]
            ),
            (&json!(shape), &json!(1), &json!(0)),
            "{response}\n--- bootstrap output ---\n{}",
            lambda.logs()
        );
    }
    assert!(stack::scan_all(&table).await.is_empty());
    // One ObjectsSkipped metric each, and the summary line names the object and the reason.
    let skipped = |l: &str| l.contains("\"_aws\"") && l.contains("\"ObjectsSkipped\":1");
    lambda
        .wait_for_log_line(|_| lambda.logs().lines().filter(|l| skipped(l)).count() == 2)
        .await;
    let logs = lambda.logs();
    let line = logs
        .lines()
        .find(|l| l.contains("object skipped") && l.contains("ConfigHistory"))
        .unwrap_or_else(|| panic!("no summary line of the skip:\n{logs}"));
    assert!(
        line.contains("config_file") && line.contains("an AWS Config file"),
        "{line}"
    );
    assert!(!logs.contains("object failed"), "{logs}");

    // Beside a log file in one notification: the log file is stored, Config's left alone.
    let gz = fixture_gz();
    stack::put_object(&bucket, LOG_KEY, gz.clone()).await;
    let both = notification(vec![
        s3_put_record(&bucket, &encoded, config.len()),
        s3_put_record(&bucket, LOG_KEY_ENCODED, gz.len()),
    ]);
    let response = ok(&lambda, lambda.invoke(both).await);
    assert_eq!(
        (&response["objectsSkipped"], &response["objectsIngested"]),
        (&json!(1), &json!(1)),
        "{response}"
    );
    assert_items(
        stack::scan_all(&table).await,
        &expected_items(&format!("s3://{bucket}/{LOG_KEY}")),
        &|| lambda.logs(),
    );
}

/// Control Tower's organization trail delivers below a folder named for the organization:
/// `o-ORG/AWSLogs/o-ORG/ACCOUNT/CloudTrail/...`. Stored as any log file, by every trigger.
#[tokio::test]
async fn a_control_tower_organization_file_is_stored_as_before() {
    let bucket = stack::fresh_bucket().await;
    let table = stack::fresh_table().await;
    let key = "o-abc123def4/AWSLogs/o-abc123def4/123456789012/CloudTrail/us-east-1/2024/03/05/\
               123456789012_CloudTrail_us-east-1_20240305T1200Z_Ab12Cd34.json.gz";
    let gz = fixture_gz();
    stack::put_object(&bucket, key, gz.clone()).await;
    let lambda = Lambda::start(&table);
    let source = format!("s3://{bucket}/{key}");
    for event in [
        notification(vec![s3_put_record(&bucket, key, gz.len())]),
        object_created(&bucket, key, gz.len()),
    ] {
        let response = ok(&lambda, lambda.invoke(event).await);
        assert_eq!(response["objectsIngested"], 1, "{response}");
        assert_items(
            stack::scan_all(&table).await,
            &expected_items(&source),
            &|| lambda.logs(),
        );
    }
}
