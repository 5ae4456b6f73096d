//! The ingestion of a notification's objects, shared by the Lambda and the CLI: fetch, gunzip
//! and parse, extract, write, and one summary log line per object.
//!
//! Every failure reaches the result: an invocation reports success only when every object it
//! was given was read to the end and every item of it was written. The one exception is an
//! object that no longer exists (`NoSuchKey`: deleted between the notification and the read):
//! it is logged and skipped, since no retry can bring it back.
//!
//! The invocation's deadline (the Lambda context's) bounds the write retries, so a failure is
//! reported by the function itself rather than by the Lambda timeout.

use std::time::Instant;

use aws_lambda_events::event::s3::S3Event;
use serde::Serialize;
use tokio_util::io::SyncIoBridge;

use crate::cloudtrail::{Format, Limits};
use crate::config::RetryPolicy;
use crate::dynamodb::{self, BatchWriter, WriteStats};
use crate::error::{IngestError, InvocationError, ReadError, ReadErrorKind};
use crate::extract::{self, FileStats, Filters};
use crate::notification::{self, Disposition, ObjectRef};
use crate::s3::ObjectStore;

/// The ingestion service: an object store, a table writer and the settings, built once.
#[derive(Debug, Clone)]
pub struct Ingestor<S, W> {
    store: S,
    writer: W,
    table: String,
    retry: RetryPolicy,
    filters: Filters,
    limits: Limits,
}

/// What one object gave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectSummary {
    /// What was read and extracted.
    #[serde(flatten)]
    pub file: FileStats,
    /// Items written to the table.
    pub items_written: usize,
    /// BatchWriteItem calls made.
    pub write_calls: u32,
    /// The object no longer exists (`NoSuchKey`): skipped, nothing read.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub gone: bool,
}

/// What an invocation did (the Lambda's response).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvocationSummary {
    /// Objects ingested in full.
    pub objects_ingested: usize,
    /// Objects skipped (not CloudTrail log files, or not created).
    pub objects_skipped: usize,
    /// Records read, over all objects.
    pub records: u64,
    /// EC2 Auto Scaling events kept, over all objects.
    pub events: u64,
    /// Items written, over all objects.
    pub items_written: usize,
    /// Events dropped by the filters, over all objects.
    pub filtered: u64,
    /// Records rejected, over all objects.
    pub rejected: u64,
}

impl<S: ObjectStore, W: BatchWriter> Ingestor<S, W> {
    /// An ingestor writing to `table`.
    pub fn new(store: S, writer: W, table: impl Into<String>, retry: RetryPolicy) -> Self {
        Self {
            store,
            writer,
            table: table.into(),
            retry,
            filters: Filters::default(),
            limits: Limits::default(),
        }
    }

    /// The same ingestor with these reader limits (the default: [`Limits::default`]).
    #[must_use]
    pub fn with_limits(self, limits: Limits) -> Self {
        Self { limits, ..self }
    }

    /// The same ingestor with these filters (the default keeps every EC2 Auto Scaling call and
    /// no service action).
    #[must_use]
    pub fn with_filters(self, filters: Filters) -> Self {
        Self { filters, ..self }
    }

    /// Handles an S3 event notification: skips what is not a log file (one log line each) and
    /// ingests the rest. Objects are independent: a failed one does not stop the others, but
    /// fails the invocation. `deadline` is when the invocation must have answered.
    ///
    /// # Errors
    /// An [`InvocationError`] when the notification is malformed or any object failed.
    pub async fn handle_s3_event(
        &self,
        event: &S3Event,
        deadline: Option<Instant>,
    ) -> Result<InvocationSummary, InvocationError> {
        let dispositions = notification::from_s3_event(event)?;
        let mut objects = Vec::with_capacity(dispositions.len());
        let mut summary = InvocationSummary::default();
        for disposition in dispositions {
            match disposition {
                Disposition::Ingest(object) => objects.push(object),
                Disposition::Skip(object, reason) => {
                    summary.objects_skipped += 1;
                    tracing::info!(
                        bucket = %object.bucket,
                        key = %object.key,
                        size = object.size,
                        skipped = %reason,
                        "object skipped"
                    );
                }
            }
        }
        let ingested = self.ingest_all(&objects, deadline).await;
        let mut failed = Vec::new();
        for result in ingested {
            match result {
                Ok(s) if s.gone => summary.objects_skipped += 1,
                Ok(s) => {
                    summary.objects_ingested += 1;
                    summary.records += s.file.records;
                    summary.events += s.file.events;
                    summary.items_written += s.items_written;
                    summary.filtered += s.file.filtered;
                    summary.rejected += s.file.rejected;
                }
                Err(e) => failed.push(e),
            }
        }
        if failed.is_empty() {
            Ok(summary)
        } else {
            Err(InvocationError::Objects {
                failed,
                attempted: objects.len(),
            })
        }
    }

    /// Ingests objects one after the other; one result per object, in order.
    pub async fn ingest_all(
        &self,
        objects: &[ObjectRef],
        deadline: Option<Instant>,
    ) -> Vec<Result<ObjectSummary, IngestError>> {
        let mut results = Vec::with_capacity(objects.len());
        for object in objects {
            results.push(self.ingest(object, deadline).await);
        }
        results
    }

    /// Ingests one object and logs its summary line (or its failure, with what was done).
    ///
    /// # Errors
    /// An [`IngestError`] naming the object when it cannot be read to the end or its items
    /// cannot all be written. Items read before a parse failure are written first (writes are
    /// idempotent, so the retry that follows converges). An object that no longer exists is
    /// not an error: it is logged and skipped (`gone` in the summary).
    pub async fn ingest(
        &self,
        object: &ObjectRef,
        deadline: Option<Instant>,
    ) -> Result<ObjectSummary, IngestError> {
        let started = Instant::now();
        let mut summary = ObjectSummary::default();
        let result = self.ingest_inner(object, deadline, &mut summary).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let f = &summary.file;
        if let Err(IngestError::Read { cause, .. }) = &result
            && cause.kind == ReadErrorKind::NotFound
        {
            tracing::warn!(
                bucket = %object.bucket,
                key = %object.key,
                skipped = "NoSuchKey",
                reason = %cause,
                duration_ms,
                "object skipped: it no longer exists (NoSuchKey), nothing to ingest"
            );
            summary.gone = true;
            return Ok(summary);
        }
        match &result {
            Ok(()) => tracing::info!(
                bucket = %object.bucket,
                key = %object.key,
                bytes = f.bytes,
                records = f.records,
                events = f.events,
                items_written = summary.items_written,
                application_autoscaling = f.application_autoscaling,
                filtered = f.filtered,
                rejected = f.rejected,
                write_calls = summary.write_calls,
                duration_ms,
                "object ingested"
            ),
            Err(error) => tracing::error!(
                bucket = %object.bucket,
                key = %object.key,
                bytes = f.bytes,
                records = f.records,
                events = f.events,
                items_written = summary.items_written,
                application_autoscaling = f.application_autoscaling,
                filtered = f.filtered,
                rejected = f.rejected,
                write_calls = summary.write_calls,
                duration_ms,
                error_type = error.kind(),
                error = %error,
                "object failed"
            ),
        }
        result.map(|()| summary)
    }

    async fn ingest_inner(
        &self,
        object: &ObjectRef,
        deadline: Option<Instant>,
        summary: &mut ObjectSummary,
    ) -> Result<(), IngestError> {
        let name = object.to_string();
        let body = self
            .store
            .open(object)
            .await
            .map_err(|cause| IngestError::Read {
                object: name.clone(),
                cause,
            })?;
        // Gunzip and parse on a blocking thread, reading the body as it arrives.
        let reader = SyncIoBridge::new(body.reader);
        let source = name.clone();
        let filters = self.filters.clone();
        let limits = self.limits;
        let parse = tokio::task::spawn_blocking(move || {
            let mut items = Vec::new();
            let (stats, parsed) = extract::extract_log_with(
                reader,
                Format::Delivery,
                &source,
                &filters,
                &limits,
                |item| items.push(item),
            );
            (stats, items, parsed)
        });
        let retry = self.retry.until(deadline);
        // A body that stalls must not run into the Lambda timeout either: stop reading when
        // only the margin is left, and say so. (The reading thread ends with its connection.)
        let joined = if deadline.is_some() {
            let stop = tokio::time::Instant::from_std(retry.stop_time(Instant::now()));
            tokio::time::timeout_at(stop, parse)
                .await
                .map_err(|_| IngestError::Read {
                    object: name.clone(),
                    cause: ReadError {
                        kind: ReadErrorKind::Transient,
                        message: "still reading when the invocation's deadline was near \
                                  (DEADLINE_MARGIN_MS is kept to report this): the object \
                                  arrives too slowly"
                            .into(),
                    },
                })?
        } else {
            parse.await
        };
        let (file, items, parsed) = joined.map_err(|e| IngestError::Internal {
            object: name.clone(),
            message: format!("parser task failed: {e}"),
        })?;
        summary.file = file;
        // Write what was read even when the file broke half-way: it is real, and idempotent.
        let written = dynamodb::write_all(&self.writer, &self.table, items, &retry).await;
        match written {
            Ok(WriteStats { items, calls, .. }) => {
                summary.items_written = items;
                summary.write_calls = calls;
            }
            Err(cause) => {
                summary.items_written = cause.total - cause.unwritten;
                return Err(IngestError::Write {
                    object: name,
                    cause,
                });
            }
        }
        parsed.map_err(|cause| IngestError::Parse {
            object: name,
            cause,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamodb::BatchError;
    use crate::error::{ReadError, ReadErrorKind};
    use crate::item::Item;
    use crate::s3::ObjectBody;
    use std::collections::{BTreeMap, HashMap};
    use std::sync::Mutex;
    use std::time::Duration;

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
                .ok_or(ReadError {
                    kind: ReadErrorKind::NotFound,
                    message: "NoSuchKey".into(),
                })?;
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
        async fn write_batch(
            &self,
            _table: &str,
            items: &[Item],
        ) -> Result<Vec<usize>, BatchError> {
            let mut calls = self.calls.lock().expect("lock");
            *calls += 1;
            if self.fail_after.is_some_and(|n| *calls > n) {
                if self.hard_error {
                    return Err(BatchError {
                        retryable: false,
                        throttled: false,
                        message: "AccessDeniedException".into(),
                    });
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

    fn notification(keys: &[(&str, i64)]) -> S3Event {
        let records: Vec<_> = keys.iter().map(|(key, size)| serde_json::json!({
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2024-03-05T12:05:00.000Z", "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AWS:X"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {}, "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
            "bucket": {"name": "trail", "arn": "arn:aws:s3:::trail"},
            "object": {"key": key, "size": size, "eTag": "e", "sequencer": "s"}}
        })).collect();
        serde_json::from_value(serde_json::json!({ "Records": records })).expect("event")
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
        let ingestor = Ingestor::new(store(&[(KEY, log(60))]), MemTable::default(), "t", retry());
        let summary = ingestor
            .handle_s3_event(
                &notification(&[(KEY, 10), ("AWSLogs/1/CloudTrail-Digest/x.json.gz", 10)]),
                None,
            )
            .await
            .expect("succeeds");
        assert_eq!(
            summary,
            InvocationSummary {
                objects_ingested: 1,
                objects_skipped: 1,
                records: 61,
                events: 60,
                items_written: 60,
                filtered: 0,
                rejected: 0
            }
        );
        let rows = ingestor.writer.rows.lock().expect("lock");
        assert_eq!(rows.len(), 60);
        assert!(
            rows.values()
                .all(|i| i.source_object == format!("s3://trail/{KEY}"))
        );
    }

    #[tokio::test]
    async fn filtered_events_are_counted_and_not_written() {
        let filters = Filters {
            event_names_exclude: Filters::event_names("SetDesiredCapacity"),
            ..Filters::default()
        };
        let ingestor = Ingestor::new(store(&[(KEY, log(7))]), MemTable::default(), "t", retry())
            .with_filters(filters);
        let summary = ingestor
            .handle_s3_event(&notification(&[(KEY, 10)]), None)
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
        let plain = Ingestor::new(store(&[(KEY, log(7))]), MemTable::default(), "t", retry());
        let summary = plain
            .handle_s3_event(&notification(&[(KEY, 10)]), None)
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
        let ingestor = Ingestor::new(store(&[(KEY, log(60))]), table, "events", retry());
        let object = ObjectRef {
            bucket: "trail".into(),
            key: KEY.into(),
            size: None,
        };
        let err = ingestor.ingest(&object, None).await.expect_err("must fail");
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
            .handle_s3_event(&notification(&[(KEY, 10)]), None)
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
        let ingestor = Ingestor::new(store(&[(KEY, log(3))]), table, "t", retry());
        let err = ingestor
            .handle_s3_event(&notification(&[(KEY, 10)]), None)
            .await
            .expect_err("fails");
        assert!(err.to_string().contains("AccessDeniedException"), "{err}");
        assert_eq!(*ingestor.writer.calls.lock().expect("lock"), 1);
    }

    #[tokio::test]
    async fn one_failed_object_fails_the_invocation_but_not_the_others() {
        let other = KEY.replace("Ab12Cd34", "Zz99Yy88");
        let ingestor = Ingestor::new(
            store(&[(KEY, b"not json".to_vec()), (&other, log(2))]),
            MemTable::default(),
            "t",
            retry(),
        );
        let err = ingestor
            .handle_s3_event(&notification(&[(KEY, 10), (&other, 10)]), None)
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
        let ingestor = Ingestor::new(
            store(&[(&other, log(2))]),
            MemTable::default(),
            "t",
            retry(),
        );
        let summary = ingestor
            .handle_s3_event(&notification(&[(KEY, 10), (&other, 10)]), None)
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
        let gone = ingestor.ingest(&object, None).await.expect("skipped");
        assert!(gone.gone);
        assert_eq!(gone.items_written, 0);
    }

    #[tokio::test]
    async fn the_deadline_bounds_the_write_retries() {
        // Every call leaves its items unprocessed (throttling): only the deadline stops it.
        let table = MemTable {
            fail_after: Some(0),
            ..MemTable::default()
        };
        let ingestor = Ingestor::new(store(&[(KEY, log(3))]), table, "t", retry());
        let started = Instant::now();
        let deadline = started + Duration::from_millis(3200);
        let err = ingestor
            .handle_s3_event(&notification(&[(KEY, 10)]), Some(deadline))
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
        let ingestor = Ingestor::new(store(&[(KEY, gz)]), MemTable::default(), "t", retry());
        let err = ingestor
            .handle_s3_event(&notification(&[(KEY, 10)]), None)
            .await
            .expect_err("truncated");
        assert_eq!(err.error_type(), "InvalidLogFile");
        assert!(err.to_string().contains(KEY), "{err}");
        let written = ingestor.writer.rows.lock().expect("lock").len();
        assert!(written > 0 && written < 2000, "{written}");
    }

    #[tokio::test]
    async fn redelivery_overwrites_instead_of_duplicating() {
        let ingestor = Ingestor::new(store(&[(KEY, log(30))]), MemTable::default(), "t", retry());
        for _ in 0..2 {
            ingestor
                .handle_s3_event(&notification(&[(KEY, 10)]), None)
                .await
                .expect("ok");
        }
        assert_eq!(ingestor.writer.rows.lock().expect("lock").len(), 30);
    }
}
