//! The handler's tests: in-memory fakes of the store and the table, driven through
//! [`Ingestor::handle_event`] as the Lambda drives it.

use super::*;
use crate::config::RetryPolicy;
use crate::dynamodb::BatchError;
use crate::dynamodb::BatchWriter;
use crate::error::{IngestError, InvocationError};
use crate::error::{ReadError, ReadErrorKind};
use crate::extract::Filters;
use crate::item::Item;
use crate::notification::ObjectRef;
use crate::s3::ObjectBody;
use crate::s3::ObjectStore;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

/// The account of the function these tests invoke (and of the sample events).
const OWN_ACCOUNT: &str = "123456789012";

const KEY: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05/123456789012_CloudTrail_us-east-1_20240305T1200Z_Ab12Cd34.json.gz";

/// Objects in memory; a missing one answers NotFound.
#[derive(Default)]
struct MemStore(HashMap<(String, String), Vec<u8>>);

impl ObjectStore for MemStore {
    async fn open(&self, object: &ObjectRef) -> Result<ObjectBody, ReadError> {
        let bytes = self
            .0
            .get(&(object.bucket.clone(), object.key.clone()))
            .cloned()
            .ok_or(ReadError::new(ReadErrorKind::NotFound, "NoSuchKey"))?;
        Ok(ObjectBody {
            length: Some(bytes.len() as u64),
            reader: Box::pin(std::io::Cursor::new(bytes)),
        })
    }
}

/// A table in memory that can refuse writes: `fail_after` successful calls, then every
/// call leaves all its items unprocessed.
#[derive(Default)]
struct MemTable {
    rows: Mutex<BTreeMap<(String, String), Item>>,
    calls: Mutex<u32>,
    fail_after: Option<u32>,
    hard_error: bool,
}

impl BatchWriter for MemTable {
    async fn write_batch(&self, _table: &str, items: &[Item]) -> Result<Vec<usize>, BatchError> {
        let mut calls = self.calls.lock().expect("lock");
        *calls += 1;
        if self.fail_after.is_some_and(|n| *calls > n) {
            if self.hard_error {
                return Err(BatchError::new("AccessDeniedException"));
            }
            return Ok((0..items.len()).collect());
        }
        let mut rows = self.rows.lock().expect("lock");
        for item in items {
            rows.insert(
                (item.group_name.clone(), item.event_key.clone()),
                item.clone(),
            );
        }
        Ok(Vec::new())
    }
}

fn new_ingestor<W: BatchWriter>(store: MemStore, writer: W, table: &str) -> Ingestor<MemStore, W> {
    let config = Config {
        table_name: Some(table.to_owned()),
        retry: retry(),
        ..Config::default()
    };
    Ingestor::new(store, writer, config).expect("a table is named")
}

impl<S: ObjectStore, W: BatchWriter> Ingestor<S, W> {
    /// Handles a notification as the Lambda does; its summary.
    async fn notify(
        &self,
        event: &serde_json::Value,
        deadline: Option<Instant>,
    ) -> Result<InvocationSummary, InvocationError> {
        let invocation = Invocation {
            deadline,
            own_account: Some(OWN_ACCOUNT.to_owned()),
        };
        match self.handle_event(event, &invocation).await? {
            Response::Summary(summary) => Ok(summary),
            other => panic!("a notification's answer is a summary: {other:?}"),
        }
    }
}

impl<W: BatchWriter> Ingestor<MemStore, W> {
    /// The same ingestor with other settings.
    fn with(mut self, change: impl FnOnce(&mut Config)) -> Self {
        change(&mut self.config);
        self
    }
}

fn retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
        max_elapsed: Duration::from_millis(300),
        ..RetryPolicy::default()
    }
}

/// A log with `n` Auto Scaling events on group `g`, plus one record of another service.
fn log(n: usize) -> Vec<u8> {
    let mut records =
        vec![serde_json::json!({"eventSource": "s3.amazonaws.com", "eventName": "GetObject"})];
    records.extend((0..n).map(|i| {
        serde_json::json!({
            "eventSource": "autoscaling.amazonaws.com", "eventName": "SetDesiredCapacity",
            "eventTime": "2024-03-05T12:00:00Z", "eventID": format!("e{i}"),
            "recipientAccountId": "123456789012",
            "requestParameters": {"autoScalingGroupName": "g", "desiredCapacity": i}
        })
    }));
    let text = serde_json::json!({ "Records": records }).to_string();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, text.as_bytes()).expect("gzip");
    gz.finish().expect("gzip")
}

fn notification(keys: &[(&str, i64)]) -> serde_json::Value {
    let records: Vec<_> = keys.iter().map(|(key, size)| serde_json::json!({
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2024-03-05T12:05:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:X"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {}, "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
        "bucket": {"name": "trail", "arn": "arn:aws:s3:::trail"},
        "object": {"key": key, "size": size, "eTag": "e", "sequencer": "s"}}
    })).collect();
    serde_json::json!({ "Records": records })
}

fn store(objects: &[(&str, Vec<u8>)]) -> MemStore {
    MemStore(
        objects
            .iter()
            .map(|(k, v)| (("trail".to_owned(), (*k).to_owned()), v.clone()))
            .collect(),
    )
}

#[tokio::test]
async fn every_event_is_written_and_counted() {
    let ingestor = new_ingestor(store(&[(KEY, log(60))]), MemTable::default(), "t");
    let summary = ingestor
        .notify(
            &notification(&[
                (KEY, 10),
                ("AWSLogs/123456789012/CloudTrail-Digest/x.json.gz", 10),
            ]),
            None,
        )
        .await
        .expect("succeeds");
    assert_eq!(
        summary,
        InvocationSummary {
            shape: "S3".into(),
            test_events: 0,
            objects_ingested: 1,
            objects_skipped: 1,
            records: 61,
            events: 60,
            items_written: 60,
            filtered: 0,
            rejected: 0,
            events_refused: 0,
        }
    );
    let rows = ingestor.writer.rows.lock().expect("lock");
    assert_eq!(rows.len(), 60);
    assert!(
        rows.values()
            .all(|i| i.source_object == format!("s3://trail/{KEY}"))
    );
}

/// What made the failure queue fill: AWS Config's files in an organization trail's bucket.
#[tokio::test]
async fn aws_config_files_are_skipped_unread_and_counted_and_the_invocation_succeeds() {
    const HISTORY: &str = "AWSLogs/123456789012/Config/us-east-1/2024/3/5/ConfigHistory/\
        123456789012_Config_us-east-1_ConfigHistory_AWS::AutoScaling::AutoScalingGroup_20240305T120000Z_20240305T180000Z_1.json.gz";
    const CHECK: &str = "AWSLogs/123456789012/Config/ConfigWritabilityCheckFile";
    // Were they read, they would fail the invocation: no `Records`.
    let config = br#"{"fileVersion":"1.0","configurationItems":[]}"#.to_vec();
    let ingestor = new_ingestor(
        store(&[(KEY, log(2)), (HISTORY, config.clone()), (CHECK, config)]),
        MemTable::default(),
        "t",
    );
    for (keys, ingested) in [
        (vec![(HISTORY, 10), (CHECK, 10)], 0),
        (vec![(HISTORY, 10), (KEY, 10), (CHECK, 10)], 1),
    ] {
        let summary = ingestor
            .notify(&notification(&keys), None)
            .await
            .expect("skips are never failures");
        assert_eq!(
            (summary.objects_ingested, summary.objects_skipped),
            (ingested, 2),
            "{keys:?}"
        );
    }
    assert_eq!(ingestor.writer.rows.lock().expect("lock").len(), 2);
}

#[tokio::test]
async fn filtered_events_are_counted_and_not_written() {
    let filters = Filters {
        event_names_exclude: Filters::event_names("SetDesiredCapacity"),
        ..Filters::default()
    };
    let ingestor = new_ingestor(store(&[(KEY, log(7))]), MemTable::default(), "t")
        .with(|c| c.filters = filters);
    let summary = ingestor
        .notify(&notification(&[(KEY, 10)]), None)
        .await
        .expect("succeeds");
    assert_eq!(
        (
            summary.records,
            summary.events,
            summary.filtered,
            summary.items_written
        ),
        (8, 0, 7, 0)
    );
    assert!(ingestor.writer.rows.lock().expect("lock").is_empty());
    // The same file without the filter: every event is written.
    let plain = new_ingestor(store(&[(KEY, log(7))]), MemTable::default(), "t");
    let summary = plain
        .notify(&notification(&[(KEY, 10)]), None)
        .await
        .expect("succeeds");
    assert_eq!((summary.filtered, summary.items_written), (0, 7));
}

#[tokio::test]
async fn a_write_failure_fails_the_invocation_and_reports_only_what_was_written() {
    let table = MemTable {
        fail_after: Some(1),
        ..MemTable::default()
    };
    let ingestor = new_ingestor(store(&[(KEY, log(60))]), table, "events");
    let object = ObjectRef {
        bucket: "trail".into(),
        key: KEY.into(),
        size: None,
    };
    let err = ingestor
        .ingest(&object, None, OnMissing::Skip)
        .await
        .expect_err("must fail");
    let IngestError::Write {
        cause,
        object: name,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(name, &format!("s3://trail/{KEY}"));
    assert_eq!((cause.total, cause.unwritten), (60, 35));
    assert_eq!(
        ingestor.writer.rows.lock().expect("lock").len(),
        25,
        "only the first batch landed"
    );
    let inv = ingestor
        .notify(&notification(&[(KEY, 10)]), None)
        .await
        .expect_err("fails");
    assert_eq!(inv.error_type(), "WriteFailed");
    assert!(inv.to_string().contains("table events"), "{inv}");
}

#[tokio::test]
async fn a_non_retryable_write_error_fails_at_once() {
    let table = MemTable {
        fail_after: Some(0),
        hard_error: true,
        ..MemTable::default()
    };
    let ingestor = new_ingestor(store(&[(KEY, log(3))]), table, "t");
    let err = ingestor
        .notify(&notification(&[(KEY, 10)]), None)
        .await
        .expect_err("fails");
    assert!(err.to_string().contains("AccessDeniedException"), "{err}");
    assert_eq!(*ingestor.writer.calls.lock().expect("lock"), 1);
}

#[tokio::test]
async fn one_failed_object_fails_the_invocation_but_not_the_others() {
    let other = KEY.replace("Ab12Cd34", "Zz99Yy88");
    let ingestor = new_ingestor(
        store(&[(KEY, b"not json".to_vec()), (&other, log(2))]),
        MemTable::default(),
        "t",
    );
    let err = ingestor
        .notify(&notification(&[(KEY, 10), (&other, 10)]), None)
        .await
        .expect_err("one object is not a log file");
    assert!(
        err.to_string()
            .starts_with("1 of 2 object(s) failed: s3://trail/"),
        "{err}"
    );
    assert_eq!(err.error_type(), "InvalidLogFile");
    assert_eq!(
        ingestor.writer.rows.lock().expect("lock").len(),
        2,
        "the other object was ingested"
    );
}

#[tokio::test]
async fn an_object_deleted_before_it_is_read_is_skipped_not_failed() {
    let other = KEY.replace("Ab12Cd34", "Zz99Yy88");
    let ingestor = new_ingestor(store(&[(&other, log(2))]), MemTable::default(), "t");
    let summary = ingestor
        .notify(&notification(&[(KEY, 10), (&other, 10)]), None)
        .await
        .expect("a missing object is no failure");
    assert_eq!(
        (
            summary.objects_ingested,
            summary.objects_skipped,
            summary.items_written
        ),
        (1, 1, 2)
    );
    let object = ObjectRef {
        bucket: "trail".into(),
        key: KEY.into(),
        size: None,
    };
    let gone = ingestor
        .ingest(&object, None, OnMissing::Skip)
        .await
        .expect("skipped");
    assert!(gone.gone);
    assert_eq!(gone.items_written, 0);
    // The CLI (and Batch Operations) ask to fail instead: a mistyped replay is no success.
    let err = ingestor
        .ingest(&object, None, OnMissing::Fail)
        .await
        .expect_err("a missing object fails when asked to");
    assert_eq!(err.kind(), "ObjectNotFound");
    assert!(err.to_string().contains(KEY), "{err}");
}

#[tokio::test]
async fn the_deadline_bounds_the_write_retries() {
    // Every call leaves its items unprocessed (throttling): only the deadline stops it.
    let table = MemTable {
        fail_after: Some(0),
        ..MemTable::default()
    };
    let ingestor = new_ingestor(store(&[(KEY, log(3))]), table, "t");
    let started = Instant::now();
    let deadline = started + Duration::from_millis(3200);
    let err = ingestor
        .notify(&notification(&[(KEY, 10)]), Some(deadline))
        .await
        .expect_err("cannot write");
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(290),
        "stops 3 s (the default margin) before the deadline: {took:?}"
    );
    assert!(err.to_string().contains("deadline"), "{err}");
    assert!(
        *ingestor.writer.calls.lock().expect("lock") > 3,
        "throttling is not counted"
    );
}

#[tokio::test]
async fn a_truncated_file_keeps_what_it_read_and_fails() {
    let mut gz = log(2000);
    gz.truncate(gz.len() * 2 / 3);
    let ingestor = new_ingestor(store(&[(KEY, gz)]), MemTable::default(), "t");
    let err = ingestor
        .notify(&notification(&[(KEY, 10)]), None)
        .await
        .expect_err("truncated");
    assert_eq!(err.error_type(), "InvalidLogFile");
    assert!(err.to_string().contains(KEY), "{err}");
    let written = ingestor.writer.rows.lock().expect("lock").len();
    assert!(written > 0 && written < 2000, "{written}");
}

#[tokio::test]
async fn redelivery_overwrites_instead_of_duplicating() {
    let ingestor = new_ingestor(store(&[(KEY, log(30))]), MemTable::default(), "t");
    for _ in 0..2 {
        ingestor
            .notify(&notification(&[(KEY, 10)]), None)
            .await
            .expect("ok");
    }
    assert_eq!(ingestor.writer.rows.lock().expect("lock").len(), 30);
}

#[tokio::test]
async fn retention_sets_expires_at_from_the_event_time() {
    let object = ObjectRef {
        bucket: "trail".into(),
        key: KEY.into(),
        size: None,
    };
    let kept = new_ingestor(store(&[(KEY, log(3))]), MemTable::default(), "t");
    kept.ingest(&object, None, OnMissing::Skip)
        .await
        .expect("ok");
    assert!(
        kept.writer
            .rows
            .lock()
            .expect("lock")
            .values()
            .all(|i| i.expires_at.is_none()),
        "no retention: no TTL attribute"
    );

    let expiring = new_ingestor(store(&[(KEY, log(3))]), MemTable::default(), "t")
        .with(|c| c.retention_days = 30);
    expiring
        .ingest(&object, None, OnMissing::Skip)
        .await
        .expect("ok");
    let rows = expiring.writer.rows.lock().expect("lock");
    assert_eq!(rows.len(), 3);
    // The log's events happen at 2024-03-05T12:00:00Z = 1709640000.
    for item in rows.values() {
        assert_eq!(
            item.expires_at,
            Some(1_709_640_000 + 30 * 86_400),
            "{item:?}"
        );
    }
}

fn sqs_record(id: &str, body: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({"messageId": id, "receiptHandle": "r", "body": body.to_string(),
                       "eventSource": "aws:sqs", "awsRegion": "us-east-1"})
}

#[tokio::test]
async fn sqs_reports_only_the_messages_whose_objects_failed() {
    let missing = KEY.replace("Ab12Cd34", "Missing0");
    let ingestor = new_ingestor(store(&[(KEY, log(4))]), MemTable::default(), "t");
    let event = serde_json::json!({"Records": [
        sqs_record("good", &serde_json::to_value(notification(&[(KEY, 10)])).expect("json")),
        sqs_record("gone", &serde_json::to_value(notification(&[(&missing, 10)])).expect("json")),
        {"messageId": "garbled", "body": "{not json", "eventSource": "aws:sqs"},
        sqs_record("again", &serde_json::to_value(notification(&[(KEY, 10)])).expect("json")),
        sqs_record("test", &serde_json::json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "trail"})),
    ]});
    let response = ingestor
        .handle_event(&event, &Invocation::default())
        .await
        .expect("an SQS batch never fails whole");
    assert_eq!(
        serde_json::to_value(&response).expect("json"),
        // The object of "gone" no longer exists: skipped (NoSuchKey), not a failure.
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": "garbled"}]})
    );
    assert_eq!(ingestor.writer.rows.lock().expect("lock").len(), 4);
    assert_eq!(
        *ingestor.writer.calls.lock().expect("lock"),
        1,
        "the object named twice was ingested once"
    );
}

#[tokio::test]
async fn batch_operations_answer_one_result_per_task() {
    let ingestor = new_ingestor(store(&[(KEY, log(3))]), MemTable::default(), "t");
    let gone = KEY.replace("Ab12Cd34", "Missing0");
    let event = serde_json::json!({"invocationSchemaVersion": "1.0", "invocationId": "inv",
    "job": {"id": "j"}, "tasks": [
        {"taskId": "ok", "s3Key": KEY, "s3BucketArn": "arn:aws:s3:::trail"},
        {"taskId": "gone", "s3Key": gone, "s3BucketArn": "arn:aws:s3:::trail"},
        {"taskId": "digest", "s3Key": "AWSLogs/123456789012/CloudTrail-Digest/d.json.gz", "s3BucketArn": "arn:aws:s3:::trail"},
        {"taskId": "bad", "s3BucketArn": "arn:aws:s3:::trail"},
        {"taskId": "config", "s3Key": "AWSLogs/123456789012/Config/ConfigWritabilityCheckFile", "s3BucketArn": "arn:aws:s3:::trail"},
    ]});
    let response = ingestor
        .handle_event(&event, &Invocation::default())
        .await
        .expect("a job never fails whole");
    let v = serde_json::to_value(&response).expect("json");
    assert_eq!(v["invocationSchemaVersion"], "1.0");
    assert_eq!(v["invocationId"], "inv");
    assert_eq!(v["treatMissingKeysAs"], "PermanentFailure");
    let codes: Vec<(&str, &str)> = v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["taskId"].as_str().expect("id"),
                r["resultCode"].as_str().expect("code"),
            )
        })
        .collect();
    assert_eq!(
        codes,
        [
            ("ok", "Succeeded"),
            ("gone", "PermanentFailure"),
            ("digest", "Succeeded"),
            ("bad", "PermanentFailure"),
            ("config", "Succeeded")
        ]
    );
    assert_eq!(
        v["results"][0]["resultString"],
        format!("s3://trail/{KEY}: 4 records, 3 events, 3 items written")
    );
    assert!(
        v["results"][1]["resultString"]
            .as_str()
            .expect("s")
            .contains("NoSuchKey"),
        "{v}"
    );
    assert!(
        v["results"][2]["resultString"]
            .as_str()
            .expect("s")
            .contains("digest_file"),
        "{v}"
    );
    assert_eq!(
        v["results"][4]["resultString"],
        "skipped s3://trail/AWSLogs/123456789012/Config/ConfigWritabilityCheckFile: an AWS Config \
         file (configuration history, snapshot or writability check) (config_file)"
    );
}

#[tokio::test]
async fn failing_writes_are_temporary_failures_for_batch_operations() {
    let table = MemTable {
        fail_after: Some(0),
        ..MemTable::default()
    };
    let ingestor = new_ingestor(store(&[(KEY, log(3))]), table, "t");
    let event = serde_json::json!({"invocationSchemaVersion": "2.0", "invocationId": "inv",
        "job": {"id": "j", "userArguments": {}}, "tasks": [{"taskId": "t1", "s3Bucket": "trail", "s3Key": KEY}]});
    let v = serde_json::to_value(
        ingestor
            .handle_event(&event, &Invocation::default())
            .await
            .expect("ok"),
    )
    .expect("json");
    assert_eq!(v["invocationSchemaVersion"], "2.0");
    assert_eq!(v["results"][0]["resultCode"], "TemporaryFailure", "{v}");
}

#[tokio::test]
async fn unknown_shapes_and_test_events() {
    let ingestor = new_ingestor(MemStore::default(), MemTable::default(), "t");
    let err = ingestor
        .handle_event(
            &serde_json::json!({"hello": "world"}),
            &Invocation::default(),
        )
        .await
        .expect_err("unknown");
    assert_eq!(err.error_type(), "UnknownEventShape");
    assert_eq!(
        err.to_string(),
        "unknown event shape: an object with keys [hello]"
    );
    let ok = ingestor
        .handle_event(&serde_json::json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "trail"}), &Invocation::default())
        .await
        .expect("test events succeed");
    let Response::Summary(summary) = ok else {
        panic!("{ok:?}")
    };
    assert_eq!((summary.test_events, summary.objects_ingested), (1, 0));
}

/// A store whose bodies never send a byte (the connection stays open).
#[derive(Default)]
struct Stalls(Mutex<Vec<tokio::io::DuplexStream>>);

impl ObjectStore for Stalls {
    async fn open(&self, _object: &ObjectRef) -> Result<ObjectBody, ReadError> {
        let (writer, reader) = tokio::io::duplex(64);
        self.0.lock().expect("lock").push(writer);
        Ok(ObjectBody {
            length: None,
            reader: Box::pin(reader),
        })
    }
}

#[tokio::test]
async fn a_stalled_body_is_cut_off_before_the_deadline() {
    let config = Config {
        table_name: Some("t".into()),
        retry: RetryPolicy {
            deadline_margin: Duration::from_millis(800),
            max_elapsed: Duration::from_secs(60),
            ..retry()
        },
        ..Config::default()
    };
    let ingestor = Ingestor::new(Stalls::default(), MemTable::default(), config).expect("table");
    let started = Instant::now();
    let deadline = started + Duration::from_millis(2000);
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        ingestor.notify(&notification(&[(KEY, 10)]), Some(deadline)),
    )
    .await
    .expect("answers before the deadline, not never")
    .expect_err("the body never ends");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1200) && took < Duration::from_millis(2000),
        "cut off after the deadline less the margin, answered before the deadline: {took:?}"
    );
    assert_eq!(err.error_type(), "ObjectReadFailed");
    assert!(
        err.to_string()
            .contains("still reading when the invocation's deadline was near"),
        "{err}"
    );
}

fn sample_event(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("a sample is JSON")
}

#[tokio::test]
async fn an_auto_scaling_activity_is_written_as_its_item() {
    let ingestor =
        new_ingestor(MemStore::default(), MemTable::default(), "t").with(|c| c.retention_days = 30);
    let event = sample_event(include_str!(
        "../../events/autoscaling-launch-unsuccessful.json"
    ));
    let summary = ingestor.notify(&event, None).await.expect("stored");
    assert_eq!(
        summary,
        InvocationSummary {
            shape: "EventBridge (aws.autoscaling)".into(),
            events: 1,
            items_written: 1,
            ..InvocationSummary::default()
        }
    );
    let rows = ingestor.writer.rows.lock().expect("lock");
    let item = rows.values().next().expect("one row");
    assert_eq!(
        item.key(),
        (
            "web-asg",
            "2024-03-05T12:01:12Z#0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a"
        )
    );
    assert_eq!(item.origin, crate::item::Origin::Activity);
    assert_eq!(
        item.source_object,
        "eventbridge:0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a"
    );
    assert_eq!(item.detail.as_ref(), Some(&event["detail"]));
    assert_eq!(item.expires_at, Some(1_709_640_072 + 30 * 86_400));
}

#[tokio::test]
async fn an_api_call_event_and_its_log_file_write_the_same_items() {
    let event = sample_event(include_str!("../../events/autoscaling-api-call.json"));
    let record = event["detail"].clone();
    let file = {
        let text = serde_json::json!({ "Records": [record] }).to_string();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, text.as_bytes()).expect("gzip");
        gz.finish().expect("gzip")
    };
    let ingestor = new_ingestor(store(&[(KEY, file)]), MemTable::default(), "t");
    ingestor.notify(&event, None).await.expect("stored");
    let by_event = ingestor.writer.rows.lock().expect("lock").clone();
    ingestor
        .notify(&notification(&[(KEY, 10)]), None)
        .await
        .expect("stored");
    let by_file = ingestor.writer.rows.lock().expect("lock").clone();
    assert_eq!(by_event.len(), 1);
    assert_eq!(
        by_file.keys().collect::<Vec<_>>(),
        by_event.keys().collect::<Vec<_>>(),
        "the log file overwrites the event's item: no duplicate"
    );
    let (mut from_event, from_file) = (
        by_event.values().next().expect("one").clone(),
        by_file.values().next().expect("one").clone(),
    );
    assert_eq!(
        from_event.source_object,
        "eventbridge:e0f2a4c6-e8a0-c2e4-a6c8-e0a2c4e6a8c0"
    );
    from_event.source_object = from_file.source_object.clone();
    assert_eq!(from_event, from_file);
}

#[tokio::test]
async fn an_event_of_an_account_not_accepted_is_refused_and_not_stored() {
    let mut event = sample_event(include_str!(
        "../../events/autoscaling-launch-successful.json"
    ));
    event["account"] = serde_json::json!("999999999999");
    let ingestor = new_ingestor(MemStore::default(), MemTable::default(), "t");
    let summary = ingestor
        .notify(&event, None)
        .await
        .expect("a refusal succeeds");
    assert_eq!(
        summary,
        InvocationSummary {
            shape: "EventBridge (aws.autoscaling)".into(),
            events_refused: 1,
            ..InvocationSummary::default()
        }
    );
    assert!(ingestor.writer.rows.lock().expect("lock").is_empty());
    assert_eq!(*ingestor.writer.calls.lock().expect("lock"), 0);

    // Without a function ARN, even the samples' own account is not known to be ours.
    let own = sample_event(include_str!(
        "../../events/autoscaling-launch-successful.json"
    ));
    let answer = ingestor
        .handle_event(&own, &Invocation::default())
        .await
        .expect("refused");
    assert!(matches!(answer, Response::Summary(s) if s.events_refused == 1));

    // Listed: stored.
    let listed = ingestor.with(|c| {
        c.event_accounts = crate::config::EventAccounts::parse("999999999999").expect("list");
    });
    let summary = listed.notify(&event, None).await.expect("stored");
    assert_eq!((summary.events_refused, summary.items_written), (0, 1));
}

#[test]
fn the_own_account_is_read_from_the_function_arn() {
    let at = |arn: &str| Invocation::new(None, arn).own_account;
    assert_eq!(
        at("arn:aws:lambda:eu-west-1:123456789012:function:asg-trail-ingest").as_deref(),
        Some("123456789012")
    );
    assert_eq!(
        at("arn:aws-cn:lambda:cn-north-1:210987654321:function:f:live").as_deref(),
        Some("210987654321")
    );
    assert_eq!(at(""), None);
    assert_eq!(at("arn:aws:lambda:eu-west-1:12345:function:f"), None);
}

#[tokio::test]
async fn a_malformed_auto_scaling_event_fails_by_name_and_writes_nothing() {
    let ingestor = new_ingestor(MemStore::default(), MemTable::default(), "t");
    let mut event = sample_event(include_str!(
        "../../events/autoscaling-terminate-successful.json"
    ));
    event.as_object_mut().expect("object").remove("time");
    let err = ingestor.notify(&event, None).await.expect_err("malformed");
    assert_eq!(err.error_type(), "InvalidEvent");
    assert_eq!(
        err.to_string(),
        "EventBridge event 4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8 (EC2 Instance Terminate Successful): no time"
    );
    assert!(ingestor.writer.rows.lock().expect("lock").is_empty());
    assert_eq!(*ingestor.writer.calls.lock().expect("lock"), 0);
}

#[tokio::test]
async fn an_auto_scaling_event_that_cannot_be_written_fails_the_invocation() {
    let table = MemTable {
        fail_after: Some(0),
        ..MemTable::default()
    };
    let ingestor = new_ingestor(MemStore::default(), table, "events");
    let event = sample_event(include_str!("../../events/autoscaling-refresh-failed.json"));
    let err = ingestor.notify(&event, None).await.expect_err("fails");
    assert_eq!(err.error_type(), "WriteFailed");
    let text = err.to_string();
    assert!(
        text.starts_with("EventBridge event 50a1b2c3-d4e5-4f60-8192-a3b4c5d6e7f4: 1 of 1 items were not written to table events"),
        "{text}"
    );
    assert!(
        *ingestor.writer.calls.lock().expect("lock") > 1,
        "retried as a log file's items are"
    );
}

#[tokio::test]
async fn a_filtered_auto_scaling_event_succeeds_and_writes_nothing() {
    let ingestor = new_ingestor(MemStore::default(), MemTable::default(), "t").with(|c| {
        c.filters.event_names_include = Filters::event_names("SetDesiredCapacity");
    });
    let event = sample_event(include_str!(
        "../../events/autoscaling-refresh-started.json"
    ));
    let summary = ingestor.notify(&event, None).await.expect("not an error");
    assert_eq!(
        (summary.events, summary.filtered, summary.items_written),
        (0, 1, 0)
    );
    assert_eq!(*ingestor.writer.calls.lock().expect("lock"), 0);
}

/// An error and its causes, from itself down, as `source()` walks them.
fn causes<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Vec<&'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(err), |e| e.source()).collect()
}

/// The SDK's BatchWriteItem error, when it is in the chain.
fn sdk_error<'a>(
    causes: &[&'a (dyn std::error::Error + 'static)],
) -> Option<&'a BatchWriteSdkError> {
    causes
        .iter()
        .find_map(|e| e.downcast_ref::<BatchWriteSdkError>())
}

type BatchWriteSdkError = aws_sdk_dynamodb::error::SdkError<
    aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemError,
    aws_sdk_dynamodb::config::http::HttpResponse,
>;

/// The real DynamoDB adapter on the SDK's mock layer, every call denied (not retryable).
fn denying_table() -> (crate::dynamodb::DynamoDbWriter, aws_smithy_mocks::Rule) {
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    let rule = mock!(aws_sdk_dynamodb::Client::batch_write_item).then_http_response(|| {
        crate::dynamodb::testing::ddb_error(400, "AccessDeniedException", "not authorized")
    });
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]);
    (crate::dynamodb::DynamoDbWriter::new(client), rule)
}

#[tokio::test]
async fn a_denied_write_keeps_the_sdk_error_under_the_objects_message() {
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    let (writer, rule) = denying_table();
    let ingestor = new_ingestor(store(&[(KEY, log(3))]), writer, "t");
    let err = ingestor
        .notify(&notification(&[(KEY, 10)]), None)
        .await
        .expect_err("denied");
    assert_eq!(rule.num_calls(), 1, "a denied call is not retried");
    let InvocationError::Objects { failed, .. } = &err else {
        panic!("an object failed: {err:?}")
    };
    let [failed] = failed.as_slice() else {
        panic!("one object failed: {failed:?}")
    };
    let object = format!("s3://trail/{KEY}");
    let top = failed.to_string();
    assert!(
        top.starts_with(&format!(
            "{object}: 3 of 3 items were not written to table t after 1 attempt(s): AccessDeniedException: not authorized"
        )),
        "{top}"
    );
    assert!(err.to_string().contains(&top), "{err}");

    let causes = causes(failed);
    assert!(causes[1].is::<crate::error::WriteError>(), "{causes:?}");
    assert!(causes[2].is::<BatchError>(), "{causes:?}");
    let sdk = sdk_error(&causes).expect("the SDK error is in the chain");
    assert_eq!(sdk.code(), Some("AccessDeniedException"));
    assert_eq!(failed.aws_error_code(), Some("AccessDeniedException"));

    // The message already sums up the SDK error: the line the CLI prints is the message.
    assert_eq!(crate::error::Chain(failed).to_string(), top);
}

#[tokio::test]
async fn a_denied_write_of_an_auto_scaling_event_keeps_the_sdk_error_under_the_events_message() {
    let (writer, _rule) = denying_table();
    let ingestor = new_ingestor(MemStore::default(), writer, "events");
    let event = sample_event(include_str!("../../events/autoscaling-refresh-failed.json"));
    let err = ingestor.notify(&event, None).await.expect_err("denied");
    assert!(
        err.to_string().starts_with(
            "EventBridge event 50a1b2c3-d4e5-4f60-8192-a3b4c5d6e7f4: 1 of 1 items were not written to table events"
        ),
        "{err}"
    );
    let causes = causes(&err);
    assert!(causes[1].is::<crate::error::WriteError>(), "{causes:?}");
    assert!(sdk_error(&causes).is_some(), "{causes:?}");
}

#[tokio::test]
async fn an_unreadable_log_file_keeps_the_io_or_json_error_under_the_objects_message() {
    let mut truncated = log(2000);
    truncated.truncate(truncated.len() * 2 / 3);
    let not_json = b"this is not JSON".to_vec();
    let other = KEY.replace("Ab12Cd34", "Zz99Yy88");
    let ingestor = new_ingestor(
        store(&[(KEY, truncated), (&other, not_json)]),
        MemTable::default(),
        "t",
    );
    for (key, gzip) in [(KEY, true), (other.as_str(), false)] {
        let err = ingestor
            .notify(&notification(&[(key, 10)]), None)
            .await
            .expect_err("unreadable");
        let InvocationError::Objects { failed, .. } = &err else {
            panic!("an object failed: {err:?}")
        };
        let [failed @ IngestError::Parse { cause, .. }] = failed.as_slice() else {
            panic!("one object failed to parse: {failed:?}")
        };
        let top = failed.to_string();
        assert!(top.starts_with(&format!("s3://trail/{key}: ")), "{top}");
        let causes = causes(failed);
        assert!(
            causes[1].is::<crate::cloudtrail::ParseError>(),
            "{causes:?}"
        );
        match cause {
            crate::cloudtrail::ParseError::Read { .. } => {
                assert!(gzip, "{cause}");
                assert!(causes[2].is::<std::io::Error>(), "{causes:?}");
            }
            crate::cloudtrail::ParseError::Format { .. } => {
                assert!(!gzip, "{cause}");
                assert!(causes[2].is::<serde_json::Error>(), "{causes:?}");
            }
            other => panic!("a read or format failure: {other:?}"),
        }
        // Each cause is already in the message: the CLI's line is the message itself.
        assert_eq!(crate::error::Chain(failed).to_string(), top);
    }
}
