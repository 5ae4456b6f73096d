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

use std::collections::HashMap;

use aws_lambda_events::event::s3::S3Event;
use serde::Serialize;
use serde_json::Value;
use tokio_util::io::SyncIoBridge;

use crate::cloudtrail::{Format, Limits, ParseError};
use crate::config::RetryPolicy;
use crate::dynamodb::{self, BatchWriter, WriteStats};
use crate::error::{IngestError, InvocationError, ReadError, ReadErrorKind};
use crate::extract::{self, FileStats, Filters};
use crate::item;
use crate::notification::trigger::{self, Batch, BatchJob, SqsMessage, Trigger};
use crate::notification::{self, Disposition, NotificationError, ObjectRef, SkipReason};
use crate::s3::ObjectStore;

/// BatchWriteItem calls in flight per object, unless told otherwise: enough to keep a large
/// object from being a serial chain of round trips, few enough not to trip a table's write
/// capacity in one burst.
pub const DEFAULT_WRITE_CONCURRENCY: usize = 4;

/// Items the parser may run ahead of the writer (a few batches' worth).
const ITEM_QUEUE: usize = 256;

/// The ingestion service: an object store, a table writer and the settings, built once.
#[derive(Debug, Clone)]
pub struct Ingestor<S, W> {
    store: S,
    writer: W,
    table: String,
    retry: RetryPolicy,
    filters: Filters,
    retention_days: u32,
    write_concurrency: usize,
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
    /// How the notification arrived, e.g. `SNS > S3`.
    pub shape: String,
    /// `s3:TestEvent`s received (answered with success).
    pub test_events: usize,
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

impl InvocationSummary {
    fn add(&mut self, s: &ObjectSummary) {
        self.objects_ingested += 1;
        self.records += s.file.records;
        self.events += s.file.events;
        self.items_written += s.items_written;
        self.filtered += s.file.filtered;
        self.rejected += s.file.rejected;
    }
}

/// What the function answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Response {
    /// A notification was handled in full.
    Summary(InvocationSummary),
    /// An SQS batch: the messages to redeliver.
    Sqs(SqsBatchResponse),
    /// An S3 Batch Operations job: one result per task.
    BatchJob(BatchJobResponse),
}

/// The partial batch response of an SQS invocation (`ReportBatchItemFailures`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SqsBatchResponse {
    /// The messages that failed; the others are deleted from the queue.
    pub batch_item_failures: Vec<BatchItemFailure>,
}

impl SqsBatchResponse {
    fn failed(&mut self, message_id: &str) {
        self.batch_item_failures.push(BatchItemFailure {
            item_identifier: message_id.to_owned(),
        });
    }
}

/// One failed SQS message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchItemFailure {
    /// Its `messageId`.
    pub item_identifier: String,
}

/// The response to an S3 Batch Operations invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchJobResponse {
    /// The invocation's schema version, echoed.
    pub invocation_schema_version: String,
    /// How S3 should count a task missing from `results`.
    pub treat_missing_keys_as: ResultCode,
    /// The invocation's id, echoed.
    pub invocation_id: String,
    /// One result per task.
    pub results: Vec<TaskResult>,
}

/// The result of one Batch Operations task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskResult {
    /// The task's id, echoed.
    pub task_id: String,
    /// Its outcome.
    pub result_code: ResultCode,
    /// What happened, for the job's completion report.
    pub result_string: String,
}

/// A Batch Operations task outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ResultCode {
    /// Done (or skipped: not a log file).
    Succeeded,
    /// Worth retrying: S3 Batch Operations tries the task again.
    TemporaryFailure,
    /// Retrying cannot help (the object is gone, unreadable, or not a log file).
    PermanentFailure,
}

impl ResultCode {
    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "Succeeded",
            Self::TemporaryFailure => "TemporaryFailure",
            Self::PermanentFailure => "PermanentFailure",
        }
    }
}

/// Whether retrying a failed object may help: missing, forbidden or corrupt objects are
/// permanent; throttling, broken streams and write failures are temporary.
#[must_use]
pub fn result_code(error: &IngestError) -> ResultCode {
    match error {
        IngestError::Read { cause, .. } => match cause.kind {
            ReadErrorKind::NotFound | ReadErrorKind::AccessDenied => ResultCode::PermanentFailure,
            ReadErrorKind::Transient | ReadErrorKind::Other => ResultCode::TemporaryFailure,
        },
        IngestError::Parse { cause, .. } => match cause {
            ParseError::Read { .. } => ResultCode::TemporaryFailure,
            ParseError::Empty
            | ParseError::Format { .. }
            | ParseError::TooLarge { .. }
            | ParseError::RecordTooLarge { .. } => ResultCode::PermanentFailure,
        },
        IngestError::Write { .. } | IngestError::Internal { .. } => ResultCode::TemporaryFailure,
    }
}

fn error_type(error: &NotificationError) -> &'static str {
    match error {
        NotificationError::UnknownShape { .. } => "UnknownEventShape",
        _ => "InvalidNotification",
    }
}

fn log_skip(object: &ObjectRef, reason: SkipReason) {
    tracing::info!(
        bucket = %object.bucket,
        key = %object.key,
        size = object.size,
        skipped = %reason,
        "object skipped"
    );
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
            retention_days: 0,
            write_concurrency: DEFAULT_WRITE_CONCURRENCY,
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

    /// Up to `batches` BatchWriteItem calls in flight per object (default
    /// [`DEFAULT_WRITE_CONCURRENCY`]; at least 1).
    #[must_use]
    pub fn with_write_concurrency(mut self, batches: usize) -> Self {
        self.write_concurrency = batches.max(1);
        self
    }

    /// Items written from now on expire `days` after their event (the table's TTL attribute
    /// `expiresAt`); 0, the default, keeps them forever.
    #[must_use]
    pub fn with_retention_days(mut self, days: u32) -> Self {
        self.retention_days = days;
        self
    }

    /// Handles an invocation of any shape [`trigger::parse`] knows, answering in the form that
    /// shape's source expects:
    ///
    /// - a notification (S3, SNS, EventBridge, CloudTrail's SNS notification, test events):
    ///   an [`InvocationSummary`], or an error when any object failed (the source retries it);
    /// - an SQS batch: `{"batchItemFailures": [...]}` naming only the messages whose objects
    ///   failed or that could not be understood (`ReportBatchItemFailures`);
    /// - an S3 Batch Operations job: one result per task (`Succeeded`, `TemporaryFailure`,
    ///   `PermanentFailure`).
    ///
    /// # Errors
    /// An [`InvocationError`] for a payload of unknown shape, a malformed one, or a failed object
    /// of a notification. SQS and Batch Operations report failures in their response instead.
    pub async fn handle_event(
        &self,
        event: &Value,
        deadline: Option<Instant>,
    ) -> Result<Response, InvocationError> {
        // Boxed: each branch is a deep future, and the three inline would overflow the
        // compiler's layout depth.
        match trigger::parse(event)? {
            Trigger::Objects(batch) => Box::pin(self.handle_batch(&batch, deadline))
                .await
                .map(Response::Summary),
            Trigger::Sqs(messages) => Ok(Response::Sqs(
                Box::pin(self.handle_sqs(&messages, deadline)).await,
            )),
            Trigger::BatchJob(job) => Ok(Response::BatchJob(
                Box::pin(self.handle_batch_job(&job, deadline)).await,
            )),
        }
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
        let batch = Batch {
            shape: "S3".into(),
            dispositions: notification::from_s3_event(event)?,
            test_events: Vec::new(),
        };
        self.handle_batch(&batch, deadline).await
    }

    /// Ingests a batch of objects as a whole.
    ///
    /// # Errors
    /// An [`InvocationError`] naming every object that failed.
    pub async fn handle_batch(
        &self,
        batch: &Batch,
        deadline: Option<Instant>,
    ) -> Result<InvocationSummary, InvocationError> {
        let mut summary = InvocationSummary {
            shape: batch.shape.clone(),
            ..InvocationSummary::default()
        };
        for bucket in &batch.test_events {
            summary.test_events += 1;
            tracing::info!(shape = %batch.shape, bucket = %bucket, "s3:TestEvent received: the notification reaches the function; nothing to ingest");
        }
        let objects = self.triage(&batch.dispositions, &mut summary);
        let ingested = self.ingest_all(&objects, deadline).await;
        let mut failed = Vec::new();
        for result in ingested {
            match result {
                Ok(s) if s.gone => summary.objects_skipped += 1,
                Ok(s) => summary.add(&s),
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

    /// Logs the skipped objects and returns the ones to ingest.
    fn triage(
        &self,
        dispositions: &[Disposition],
        summary: &mut InvocationSummary,
    ) -> Vec<ObjectRef> {
        let mut objects = Vec::with_capacity(dispositions.len());
        for disposition in dispositions {
            match disposition {
                Disposition::Ingest(object) => objects.push(object.clone()),
                Disposition::Skip(object, reason) => {
                    summary.objects_skipped += 1;
                    log_skip(object, *reason);
                }
            }
        }
        objects
    }

    /// Ingests each message of an SQS batch; the response names the messages to redeliver.
    /// An object named by several messages is ingested once.
    pub async fn handle_sqs(
        &self,
        messages: &[SqsMessage],
        deadline: Option<Instant>,
    ) -> SqsBatchResponse {
        let mut done: HashMap<ObjectRef, bool> = HashMap::new();
        let mut response = SqsBatchResponse::default();
        let mut summary = InvocationSummary {
            shape: "SQS".into(),
            ..InvocationSummary::default()
        };
        for message in messages {
            let batch = match &message.content {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::error!(message_id = %message.message_id, error_type = error_type(error), error = %error, "SQS message not understood; reported as a batch item failure");
                    response.failed(&message.message_id);
                    continue;
                }
            };
            for bucket in &batch.test_events {
                summary.test_events += 1;
                tracing::info!(message_id = %message.message_id, shape = %batch.shape, bucket = %bucket, "s3:TestEvent received: the notification reaches the function; nothing to ingest");
            }
            let mut ok = true;
            for object in self.triage(&batch.dispositions, &mut summary) {
                let object_ok = match done.get(&object) {
                    Some(&known) => known,
                    None => {
                        let result = self.ingest(&object, deadline).await;
                        let good = match result {
                            Ok(s) if s.gone => {
                                summary.objects_skipped += 1;
                                true
                            }
                            Ok(s) => {
                                summary.add(&s);
                                true
                            }
                            Err(_) => false,
                        };
                        done.insert(object, good);
                        good
                    }
                };
                ok &= object_ok;
            }
            if !ok {
                tracing::error!(message_id = %message.message_id, shape = %batch.shape, "SQS message has failed objects; reported as a batch item failure");
                response.failed(&message.message_id);
            }
        }
        tracing::info!(
            messages = messages.len(),
            failed_messages = response.batch_item_failures.len(),
            objects_ingested = summary.objects_ingested,
            objects_skipped = summary.objects_skipped,
            events = summary.events,
            items_written = summary.items_written,
            "SQS batch done"
        );
        response
    }

    /// Runs the tasks of an S3 Batch Operations job, one result per task.
    pub async fn handle_batch_job(
        &self,
        job: &BatchJob,
        deadline: Option<Instant>,
    ) -> BatchJobResponse {
        let mut results = Vec::with_capacity(job.tasks.len());
        for task in &job.tasks {
            let (code, text) = match &task.object {
                Err(error) => (ResultCode::PermanentFailure, error.to_string()),
                Ok(Disposition::Skip(object, reason)) => {
                    log_skip(object, *reason);
                    (ResultCode::Succeeded, format!("skipped {object}: {reason}"))
                }
                Ok(Disposition::Ingest(object)) => match self.ingest(object, deadline).await {
                    // The job names a key that does not exist: the manifest is wrong, and
                    // retrying will not change that.
                    Ok(s) if s.gone => (
                        ResultCode::PermanentFailure,
                        format!("{object}: NoSuchKey: the object does not exist"),
                    ),
                    Ok(s) => (
                        ResultCode::Succeeded,
                        format!(
                            "{object}: {} records, {} events, {} items written",
                            s.file.records, s.file.events, s.items_written
                        ),
                    ),
                    Err(error) => (result_code(&error), error.to_string()),
                },
            };
            tracing::info!(job_id = job.job_id.as_deref().unwrap_or("-"), task_id = %task.task_id, result_code = code.as_str(), result = %text, "batch operations task done");
            results.push(TaskResult {
                task_id: task.task_id.clone(),
                result_code: code,
                result_string: text,
            });
        }
        BatchJobResponse {
            invocation_schema_version: job.schema_version.clone(),
            treat_missing_keys_as: ResultCode::PermanentFailure,
            invocation_id: job.invocation_id.clone(),
            results,
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
        // One summary line per object, the same fields whether it succeeded or not.
        macro_rules! object_line {
            ($level:expr, $($outcome:tt)+) => {
                tracing::event!(
                    $level,
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
                    $($outcome)+
                )
            };
        }
        match &result {
            Ok(()) => object_line!(tracing::Level::INFO, "object ingested"),
            Err(error) => object_line!(
                tracing::Level::ERROR,
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
        // Gunzip and parse on a blocking thread, reading the body as it arrives, while the
        // items are written here as they come: a bounded queue between the two holds the parser
        // back when the writes fall behind, so memory stays flat.
        let reader = SyncIoBridge::new(body.reader);
        let source = name.clone();
        let filters = self.filters.clone();
        let retention_days = self.retention_days;
        let limits = self.limits;
        let (items, queue) = tokio::sync::mpsc::channel(ITEM_QUEUE);
        let parser = tokio::task::spawn_blocking(move || {
            extract::extract_log_with(
                reader,
                Format::Delivery,
                &source,
                &filters,
                &limits,
                |mut item| {
                    if retention_days > 0 {
                        item.expires_at = item::expires_at(&item.event_time, retention_days);
                    }
                    // The writer reads the queue to its end, even after a failure: never
                    // closed early.
                    let _ = items.blocking_send(item);
                    std::ops::ControlFlow::Continue(())
                },
            )
        });
        let retry = self.retry.until(deadline);
        // Write what is read even when the file breaks half-way: it is real, and idempotent.
        let work = async {
            let written = dynamodb::write_stream(
                &self.writer,
                &self.table,
                queue,
                &retry,
                self.write_concurrency,
            )
            .await;
            (written, parser.await)
        };
        // A body that stalls must not run into the Lambda timeout either: stop reading when
        // only the margin is left, and say so. (The reading thread ends with its connection.)
        let (written, joined) = if deadline.is_some() {
            let stop = tokio::time::Instant::from_std(retry.stop_time(Instant::now()));
            tokio::time::timeout_at(stop, work)
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
            work.await
        };
        let (file, parsed) = joined.map_err(|e| IngestError::Internal {
            object: name.clone(),
            message: format!("parser task failed: {e}"),
        })?;
        summary.file = file;
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
        parsed.map(drop).map_err(|cause| IngestError::Parse {
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
                shape: "S3".into(),
                test_events: 0,
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

    #[tokio::test]
    async fn retention_sets_expires_at_from_the_event_time() {
        let object = ObjectRef {
            bucket: "trail".into(),
            key: KEY.into(),
            size: None,
        };
        let kept = Ingestor::new(store(&[(KEY, log(3))]), MemTable::default(), "t", retry());
        kept.ingest(&object, None).await.expect("ok");
        assert!(
            kept.writer
                .rows
                .lock()
                .expect("lock")
                .values()
                .all(|i| i.expires_at.is_none()),
            "no retention: no TTL attribute"
        );

        let expiring = Ingestor::new(store(&[(KEY, log(3))]), MemTable::default(), "t", retry())
            .with_retention_days(30);
        expiring.ingest(&object, None).await.expect("ok");
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
        let ingestor = Ingestor::new(store(&[(KEY, log(4))]), MemTable::default(), "t", retry());
        let event = serde_json::json!({"Records": [
            sqs_record("good", &serde_json::to_value(notification(&[(KEY, 10)])).expect("json")),
            sqs_record("gone", &serde_json::to_value(notification(&[(&missing, 10)])).expect("json")),
            {"messageId": "garbled", "body": "{not json", "eventSource": "aws:sqs"},
            sqs_record("again", &serde_json::to_value(notification(&[(KEY, 10)])).expect("json")),
            sqs_record("test", &serde_json::json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "trail"})),
        ]});
        let response = ingestor
            .handle_event(&event, None)
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
        let ingestor = Ingestor::new(store(&[(KEY, log(3))]), MemTable::default(), "t", retry());
        let event = serde_json::json!({"invocationSchemaVersion": "1.0", "invocationId": "inv",
        "job": {"id": "j"}, "tasks": [
            {"taskId": "ok", "s3Key": KEY, "s3BucketArn": "arn:aws:s3:::trail"},
            {"taskId": "gone", "s3Key": "AWSLogs/x.json.gz", "s3BucketArn": "arn:aws:s3:::trail"},
            {"taskId": "digest", "s3Key": "AWSLogs/1/CloudTrail-Digest/d.json.gz", "s3BucketArn": "arn:aws:s3:::trail"},
            {"taskId": "bad", "s3BucketArn": "arn:aws:s3:::trail"},
        ]});
        let response = ingestor
            .handle_event(&event, None)
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
                ("bad", "PermanentFailure")
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
    }

    #[tokio::test]
    async fn failing_writes_are_temporary_failures_for_batch_operations() {
        let table = MemTable {
            fail_after: Some(0),
            ..MemTable::default()
        };
        let ingestor = Ingestor::new(store(&[(KEY, log(3))]), table, "t", retry());
        let event = serde_json::json!({"invocationSchemaVersion": "2.0", "invocationId": "inv",
            "job": {"id": "j", "userArguments": {}}, "tasks": [{"taskId": "t1", "s3Bucket": "trail", "s3Key": KEY}]});
        let v = serde_json::to_value(ingestor.handle_event(&event, None).await.expect("ok"))
            .expect("json");
        assert_eq!(v["invocationSchemaVersion"], "2.0");
        assert_eq!(v["results"][0]["resultCode"], "TemporaryFailure", "{v}");
    }

    #[tokio::test]
    async fn unknown_shapes_and_test_events() {
        let ingestor = Ingestor::new(MemStore::default(), MemTable::default(), "t", retry());
        let err = ingestor
            .handle_event(&serde_json::json!({"hello": "world"}), None)
            .await
            .expect_err("unknown");
        assert_eq!(err.error_type(), "UnknownEventShape");
        assert_eq!(
            err.to_string(),
            "unknown event shape: an object with keys [hello]"
        );
        let ok = ingestor
            .handle_event(&serde_json::json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "trail"}), None)
            .await
            .expect("test events succeed");
        let Response::Summary(summary) = ok else {
            panic!("{ok:?}")
        };
        assert_eq!((summary.test_events, summary.objects_ingested), (1, 0));
    }
}
