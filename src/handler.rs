//! The ingestion of a notification's objects, shared by the Lambda and the CLI: fetch, gunzip
//! and parse, extract, write, and one summary log line per object.
//!
//! Every failure reaches the result: an invocation reports success only when every object it
//! was given was read to the end and every item of it was written.

use std::time::Instant;

use aws_lambda_events::event::s3::S3Event;
use serde::Serialize;
use tokio_util::io::SyncIoBridge;

use crate::config::RetryPolicy;
use crate::dynamodb::{self, BatchWriter, WriteStats};
use crate::error::{IngestError, InvocationError};
use crate::extract::{self, FileStats};
use crate::notification::{self, Disposition, ObjectRef};
use crate::s3::ObjectStore;

/// The ingestion service: an object store, a table writer and the settings, built once.
#[derive(Debug, Clone)]
pub struct Ingestor<S, W> {
    store: S,
    writer: W,
    table: String,
    retry: RetryPolicy,
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
        }
    }

    /// Handles an S3 event notification: skips what is not a log file (one log line each) and
    /// ingests the rest. Objects are independent: a failed one does not stop the others, but
    /// fails the invocation.
    ///
    /// # Errors
    /// An [`InvocationError`] when the notification is malformed or any object failed.
    pub async fn handle_s3_event(
        &self,
        event: &S3Event,
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
        let ingested = self.ingest_all(&objects).await;
        let mut failed = Vec::new();
        for result in ingested {
            match result {
                Ok(s) => {
                    summary.objects_ingested += 1;
                    summary.records += s.file.records;
                    summary.events += s.file.events;
                    summary.items_written += s.items_written;
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
    ) -> Vec<Result<ObjectSummary, IngestError>> {
        let mut results = Vec::with_capacity(objects.len());
        for object in objects {
            results.push(self.ingest(object).await);
        }
        results
    }

    /// Ingests one object and logs its summary line (or its failure, with what was done).
    ///
    /// # Errors
    /// An [`IngestError`] naming the object when it cannot be read to the end or its items
    /// cannot all be written. Items read before a parse failure are written first (writes are
    /// idempotent, so the retry that follows converges).
    pub async fn ingest(&self, object: &ObjectRef) -> Result<ObjectSummary, IngestError> {
        let started = Instant::now();
        let mut summary = ObjectSummary::default();
        let result = self.ingest_inner(object, &mut summary).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let f = &summary.file;
        match &result {
            Ok(()) => tracing::info!(
                bucket = %object.bucket,
                key = %object.key,
                bytes = f.bytes,
                records = f.records,
                events = f.events,
                items_written = summary.items_written,
                application_autoscaling = f.application_autoscaling,
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
        let (file, items, parsed) = tokio::task::spawn_blocking(move || {
            let mut items = Vec::new();
            let (stats, parsed) = extract::extract_log(reader, &source, |item| items.push(item));
            (stats, items, parsed)
        })
        .await
        .map_err(|e| IngestError::Internal {
            object: name.clone(),
            message: format!("parser task failed: {e}"),
        })?;
        summary.file = file;
        // Write what was read even when the file broke half-way: it is real, and idempotent.
        let written = dynamodb::write_all(&self.writer, &self.table, items, &self.retry).await;
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
