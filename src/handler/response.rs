//! What the function answers: the summary of a notification, the partial batch response of an
//! SQS batch, one result per task of an S3 Batch Operations job; and how a failed object is
//! classified for Batch Operations (worth retrying or not).

pub use aws_lambda_events::event::sqs::SqsBatchResponse;
use serde::Serialize;

use crate::cloudtrail::ParseError;
use crate::error::{IngestError, ReadErrorKind};
use crate::extract::FileStats;

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
    /// Attributes left out of the items to fit DynamoDB's limits.
    pub omitted_attributes: u64,
    /// Seconds from the newest event of the object to when it was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingestion_lag: Option<u64>,
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
    /// Real-time events refused: from an account the settings do not accept (never stored).
    #[serde(skip_serializing_if = "is_zero")]
    pub events_refused: u64,
}

/// Whether a count is zero (then left out of the summary).
#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl InvocationSummary {
    /// Counts an object that succeeded: ingested in full, or skipped because it is gone.
    pub(super) fn add(&mut self, s: &ObjectSummary) {
        if s.gone {
            self.objects_skipped += 1;
            return;
        }
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
    /// An SQS batch: the messages to redeliver (`ReportBatchItemFailures`).
    Sqs(SqsBatchResponse),
    /// An S3 Batch Operations job: one result per task.
    BatchJob(BatchJobResponse),
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
