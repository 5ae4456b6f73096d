//! One object, end to end: open the body, gunzip and parse it on a blocking thread while its
//! items are written here as they come (a bounded queue between the two holds the parser back
//! when the writes fall behind, so memory stays flat), then one summary line.
//!
//! Either side can stop the other: the first write failure closes the queue, so the parser
//! stops at its next item, and the reading is cut off; and near the invocation's deadline the
//! body is cut off, so a stalled or slow object is reported by the function itself rather than
//! by the Lambda timeout. Nothing reads on after the invocation has answered.

use std::future::Future;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::io::SyncIoBridge;
use tokio_util::sync::CancellationToken;

use super::cut::Cuttable;
use super::response::ObjectSummary;
use super::{Ingestor, OnMissing};
use crate::cloudtrail::{Finish, Format, ParseError};
use crate::config::{RetryPolicy, unix_time_ms};
use crate::dynamodb::{self, BatchWriter, WriteStats};
use crate::error::{IngestError, ReadError, ReadErrorKind, WriteError};
use crate::item::{self, Item};
use crate::metrics::{ObjectMetrics, Outcome};
use crate::notification::ObjectRef;
use crate::pipeline::{self, LogStats};
use crate::s3::ObjectStore;

/// Items the parser may run ahead of the writer (a few batches' worth).
const ITEM_QUEUE: usize = 256;

/// What the parsing thread gives back.
type Parsed = (LogStats, Result<Finish, ParseError>);

/// What the parsing thread gives back, and the items it kept aside that may alert.
type ParsedAndCandidates = (Parsed, Vec<Item>);

impl<S: ObjectStore, W: BatchWriter> Ingestor<S, W> {
    /// Ingests objects one after the other; one result per object, in order.
    pub async fn ingest_all(
        &self,
        objects: &[ObjectRef],
        deadline: Option<Instant>,
        on_missing: OnMissing,
    ) -> Vec<Result<ObjectSummary, IngestError>> {
        let mut results = Vec::with_capacity(objects.len());
        for object in objects {
            results.push(self.ingest(object, deadline, on_missing).await);
        }
        results
    }

    /// Ingests one object and logs its summary line (or its failure, with what was done).
    ///
    /// # Errors
    /// An [`IngestError`] naming the object when it cannot be read to the end or its items
    /// cannot all be written. Items read before a parse failure are written first (writes are
    /// idempotent, so the retry that follows converges). An object that no longer exists is an
    /// error with [`OnMissing::Fail`]; with [`OnMissing::Skip`] it is logged and skipped (`gone`
    /// in the summary).
    pub async fn ingest(
        &self,
        object: &ObjectRef,
        deadline: Option<Instant>,
        on_missing: OnMissing,
    ) -> Result<ObjectSummary, IngestError> {
        let started = Instant::now();
        let mut summary = ObjectSummary::default();
        let result = self.read_and_write(object, deadline, &mut summary).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if on_missing == OnMissing::Skip
            && let Err(IngestError::Read { cause, .. }) = &result
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
            self.publish(&metrics(&summary, Outcome::Skipped));
            return Ok(summary);
        }
        log_summary(object, &summary, duration_ms, result.as_ref().err());
        let outcome = if result.is_ok() {
            Outcome::Ingested
        } else {
            Outcome::Failed
        };
        self.publish(&metrics(&summary, outcome));
        result.map(|()| summary)
    }

    async fn read_and_write(
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
        let cut = CancellationToken::new();
        let (items, queue) = mpsc::channel(ITEM_QUEUE);
        let parser = self.spawn_parser(Cuttable::new(body.reader, &cut), name.clone(), items);
        let retry = self.config.retry.until(deadline);
        let writing = dynamodb::write_stream(
            &self.writer,
            &self.table,
            queue,
            &retry,
            self.config.write_concurrency,
        );
        let (written, was_cut) = match deadline {
            Some(_) => write_until(writing, cut_time(&retry), &cut).await,
            None => (writing.await, false),
        };
        if written.is_err() {
            // Nothing more will be written: stop reading the object.
            cut.cancel();
        }
        let (parsed, candidates) = parser.await.map_err(|e| IngestError::Internal {
            object: name.clone(),
            message: format!("parser task failed: {e}"),
            source: Some(Box::new(e)),
        })?;
        self.alert(candidates, super::Path::LogFile).await;
        outcome(name, parsed, written, was_cut, summary)
    }

    /// Gunzips and parses `body` on a blocking thread, sending each item to `items` until the
    /// file ends, it breaks, or the queue is closed (the writer failed).
    fn spawn_parser<R>(
        &self,
        body: R,
        source: String,
        items: mpsc::Sender<Item>,
    ) -> JoinHandle<ParsedAndCandidates>
    where
        R: tokio::io::AsyncRead + Unpin + Send + 'static,
    {
        let config = self.config.clone();
        let alerts = self.alerts.clone();
        let reader = SyncIoBridge::new(body);
        tokio::task::spawn_blocking(move || {
            let mut candidates = Vec::new();
            let parsed = pipeline::log_items(reader, Format::Delivery, &source, &config, |item| {
                if alerts.as_ref().is_some_and(|a| a.rules().alerts(&item)) {
                    candidates.push(item.clone());
                }
                match items.blocking_send(item) {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(_) => ControlFlow::Break(()),
                }
            });
            (parsed, candidates)
        })
    }
}

/// When to cut off a body still being read: just after the writes must have stopped (the
/// deadline less the margin), so that a write failure at that time is reported as one, and
/// well before the deadline itself.
fn cut_time(retry: &RetryPolicy) -> Instant {
    let grace = (retry.deadline_margin / 8).min(Duration::from_millis(500));
    retry.stop_time(Instant::now()) + grace
}

/// Runs the writes; at `at`, cuts the body off (the writes then end with what was read).
/// Whether the body had to be cut.
async fn write_until<F: Future>(
    writing: F,
    at: Instant,
    cut: &CancellationToken,
) -> (F::Output, bool) {
    tokio::pin!(writing);
    tokio::select! {
        written = &mut writing => (written, false),
        () = tokio::time::sleep_until(at.into()) => {
            cut.cancel();
            (writing.await, true)
        }
    }
}

/// The object's result: the first cause among a body cut off at the deadline, a write
/// failure, and a file that could not be read to its end.
fn outcome(
    object: String,
    (stats, parsed): Parsed,
    written: Result<WriteStats, WriteError>,
    was_cut: bool,
    summary: &mut ObjectSummary,
) -> Result<(), IngestError> {
    summary.file = stats.file;
    summary.omitted_attributes = stats.omitted_attributes;
    summary.ingestion_lag = stats.newest_event_time.as_deref().and_then(lag);
    match &written {
        Ok(stats) => {
            summary.items_written = stats.items;
            summary.write_calls = stats.calls;
        }
        Err(cause) => summary.items_written = cause.total - cause.unwritten,
    }
    if was_cut {
        return Err(IngestError::Read {
            object,
            cause: ReadError::new(
                ReadErrorKind::Transient,
                "still reading when the invocation's deadline was near \
                 (DEADLINE_MARGIN_MS is kept to report this): the object arrives too slowly",
            ),
        });
    }
    if let Err(cause) = written {
        return Err(IngestError::Write { object, cause });
    }
    match parsed {
        Ok(Finish::End) => Ok(()),
        // The parser stops early only when the writer closed the queue, which it does only on a
        // failure (reported above). Should that ever not hold, the file was not read to its
        // end, and that must not pass as a success.
        Ok(Finish::Stopped) => Err(IngestError::Internal {
            object,
            message: "the parser stopped before the end of the file, with no write failure".into(),
            source: None,
        }),
        Err(cause) => Err(IngestError::Parse { object, cause }),
    }
}

/// Seconds from `event_time` to now (0 for a time in the future).
fn lag(event_time: &str) -> Option<u64> {
    let then = item::epoch_seconds(event_time)?;
    Some((unix_time_ms() / 1000).saturating_sub(then))
}

/// One object's metrics.
fn metrics(summary: &ObjectSummary, outcome: Outcome) -> ObjectMetrics {
    ObjectMetrics {
        outcome: Some(outcome),
        events: summary.file.events,
        items_written: summary.items_written as u64,
        rejected: summary.file.rejected,
        filtered: summary.file.filtered,
        omitted_attributes: summary.omitted_attributes,
        ingestion_lag: summary.ingestion_lag,
        ..ObjectMetrics::default()
    }
}

/// One summary line per object, the same fields whether it succeeded or not.
fn log_summary(
    object: &ObjectRef,
    summary: &ObjectSummary,
    duration_ms: u64,
    error: Option<&IngestError>,
) {
    let f = &summary.file;
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
                omitted_attributes = summary.omitted_attributes,
                ingestion_lag_s = summary.ingestion_lag,
                duration_ms,
                $($outcome)+
            )
        };
    }
    match error {
        None => object_line!(tracing::Level::INFO, "object ingested"),
        Some(error) => object_line!(
            tracing::Level::ERROR,
            error_type = error.kind(),
            aws_error_code = error.aws_error_code(),
            aws_request_id = error.request_id(),
            error = %error,
            "object failed"
        ),
    }
}
