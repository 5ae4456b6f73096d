//! Errors of an ingestion, each naming the object (`s3://bucket/key`) and the reason, and
//! telling whether trying again may help. Every wrapped error is a `source()`, so the chain
//! reaches the SDK, I/O or JSON error; [`Chain`] is the one line the edges print.
//!
//! The base of the adapters: it imports nothing of theirs. [`BatchError`], one failed
//! BatchWriteItem call, lives here for [`WriteError`] to hold, and `dynamodb` re-exports it.

use std::fmt;

use crate::cloudtrail::ParseError;
use crate::events::EventError;
use crate::notification::NotificationError;

/// How reading an object from the store failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadErrorKind {
    /// The object does not exist (any more).
    NotFound,
    /// The function may not read it (`s3:GetObject` missing, or a KMS key it cannot use).
    AccessDenied,
    /// The store asked us to slow down, or failed on its side; worth a retry.
    Transient,
    /// Anything else.
    Other,
}

/// An error behind another one: an SDK error, kept whole so that its chain of causes can be
/// read.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Reading an object from the store failed.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ReadError {
    /// The kind of failure.
    pub kind: ReadErrorKind,
    /// What the store said, and what to do about it: one line.
    pub message: String,
    /// The store's error code (`NoSuchKey`, `AccessDenied`, ...), when it answered.
    pub code: Option<String>,
    /// The request ID the store gave the call, when it answered.
    pub request_id: Option<String>,
    /// The SDK error, when there is one.
    #[source]
    pub source: Option<BoxError>,
}

impl ReadError {
    /// A failure with no SDK error behind it.
    #[must_use]
    pub fn new(kind: ReadErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            code: None,
            request_id: None,
            source: None,
        }
    }
}

/// A failed BatchWriteItem call.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct BatchError {
    /// Whether trying again may succeed (throttling, server errors, broken connections).
    pub retryable: bool,
    /// Whether DynamoDB asked us to slow down (throttling): retried for as long as time allows,
    /// not counted against the attempts.
    pub throttled: bool,
    /// What went wrong, in one line (`Code: message (request id ...)` when DynamoDB answered).
    pub message: String,
    /// DynamoDB's error code, when it answered.
    pub code: Option<String>,
    /// The request ID DynamoDB gave the call, when it answered.
    pub request_id: Option<String>,
    /// The SDK error, when there is one.
    #[source]
    pub source: Option<BoxError>,
}

impl BatchError {
    /// A failure with no SDK error behind it, neither retryable nor throttled (set those with
    /// struct update syntax: `BatchError { retryable: true, ..BatchError::new(text) }`).
    #[must_use]
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            retryable: false,
            throttled: false,
            message: message.into(),
            code: None,
            request_id: None,
            source: None,
        }
    }
}

/// Writing items to the table failed after all retries (or at once, when retrying cannot help).
#[derive(Debug)]
pub struct WriteError {
    /// The table.
    pub table: String,
    /// Items that were not written.
    pub unwritten: usize,
    /// Items that were to be written (taken from the queue before the writer stopped).
    pub total: usize,
    /// Calls made for the batch that failed.
    pub attempts: u32,
    /// The last error, or why the retries stopped.
    pub message: String,
    /// The last failed call, when there was one (not when the time ran out before a call).
    /// Boxed to keep `Result<_, WriteError>` small; [`source()`](std::error::Error::source)
    /// gives the [`BatchError`] itself, not its box.
    pub last_call: Option<Box<BatchError>>,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} items were not written to table {} after {} attempt(s): {}",
            self.unwritten, self.total, self.table, self.attempts, self.message
        )
    }
}

// By hand: thiserror's `#[source]` on a `Box<BatchError>` would hand out the box, and a walker of
// the chain could not `downcast_ref::<BatchError>()`.
impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.last_call
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl WriteError {
    /// DynamoDB's error code of the last failed call (`ProvisionedThroughputExceededException`,
    /// ...), when DynamoDB answered it.
    #[must_use]
    pub fn code(&self) -> Option<&str> {
        self.last_call.as_ref()?.code.as_deref()
    }

    /// The request ID of the last failed call, when DynamoDB answered it.
    #[must_use]
    pub fn request_id(&self) -> Option<&str> {
        self.last_call.as_ref()?.request_id.as_deref()
    }
}

/// The failure of one object's ingestion.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The object could not be fetched.
    #[error("{object}: cannot read the object: {cause}")]
    Read {
        /// `s3://bucket/key`.
        object: String,
        /// What the store said.
        #[source]
        cause: ReadError,
    },
    /// The object is not a readable CloudTrail log file (corrupt gzip, not JSON, not
    /// `{"Records":[...]}`), or its stream broke. The items read before the failure were
    /// written.
    #[error("{object}: {cause}")]
    Parse {
        /// `s3://bucket/key`.
        object: String,
        /// Why it could not be read.
        #[source]
        cause: ParseError,
    },
    /// Items could not be written.
    #[error("{object}: {cause}")]
    Write {
        /// `s3://bucket/key`.
        object: String,
        /// The write failure.
        #[source]
        cause: WriteError,
    },
    /// The parsing task died (a bug).
    #[error("{object}: internal error: {message}")]
    Internal {
        /// `s3://bucket/key`.
        object: String,
        /// What happened.
        message: String,
        /// The task's error (a panic or a cancellation), when there is one.
        #[source]
        source: Option<BoxError>,
    },
}

impl IngestError {
    /// A short, stable name of the failure class, for logs and Lambda's `errorType`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Read { cause, .. } => match cause.kind {
                ReadErrorKind::NotFound => "ObjectNotFound",
                ReadErrorKind::AccessDenied => "ObjectAccessDenied",
                ReadErrorKind::Transient | ReadErrorKind::Other => "ObjectReadFailed",
            },
            Self::Parse { .. } => "InvalidLogFile",
            Self::Write { .. } => "WriteFailed",
            Self::Internal { .. } => "InternalError",
        }
    }

    /// The service's error code behind the failure (S3's `AccessDenied`, DynamoDB's
    /// `ProvisionedThroughputExceededException`, ...), when a service answered: for logs.
    #[must_use]
    pub fn aws_error_code(&self) -> Option<&str> {
        match self {
            Self::Read { cause, .. } => cause.code.as_deref(),
            Self::Write { cause, .. } => cause.code(),
            Self::Parse { .. } | Self::Internal { .. } => None,
        }
    }

    /// The request ID of the failed call, when a service answered: what AWS support asks for.
    #[must_use]
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Read { cause, .. } => cause.request_id.as_deref(),
            Self::Write { cause, .. } => cause.request_id(),
            Self::Parse { .. } | Self::Internal { .. } => None,
        }
    }
}

/// The failure of an invocation: the notification could not be understood, or one or more of
/// its objects failed. The objects that did not fail were ingested in full.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    /// The event is not a notification we understand.
    #[error("{0}")]
    Notification(#[from] NotificationError),
    /// Some objects failed.
    #[error("{}", Failures(.failed, *.attempted))]
    Objects {
        /// The failures, one per failed object.
        failed: Vec<IngestError>,
        /// Number of objects the invocation tried to ingest.
        attempted: usize,
    },
    /// An EC2 Auto Scaling event (the invocation itself) cannot be stored.
    #[error("{0}")]
    Event(#[from] EventError),
    /// An EC2 Auto Scaling event's items could not all be written.
    #[error("EventBridge event {id}: {cause}")]
    EventWrite {
        /// The event's `id`.
        id: String,
        /// The write failure.
        #[source]
        cause: WriteError,
    },
}

struct Failures<'a>(&'a [IngestError], usize);

impl fmt::Display for Failures<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of {} object(s) failed", self.0.len(), self.1)?;
        for (i, e) in self.0.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl InvocationError {
    /// Lambda's `errorType`: the failure class when there is one, `MultipleFailures` otherwise.
    #[must_use]
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Notification(e) => e.error_type(),
            Self::Event(_) => "InvalidEvent",
            Self::EventWrite { .. } => "WriteFailed",
            Self::Objects { failed, .. } => match failed.as_slice() {
                [one] => one.kind(),
                _ => "MultipleFailures",
            },
        }
    }
}

/// An error and its causes on one line, `error: cause: its cause`, as the edges print it (the
/// CLI's last word). Our messages already say their cause (`{object}: {cause}`, and an adapter's
/// `Code: message (request id ...)` sums up the SDK error) and keep it as
/// [`source()`](std::error::Error::source) too, for the code that walks the chain: the line
/// stops at the first cause it already holds, which, said, has said its own causes. Nothing is
/// said twice, and a cause a message leaves out (an `anyhow` context's) is still printed.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = self.0.to_string();
        let mut cause = self.0.source();
        while let Some(e) = cause {
            let text = e.to_string();
            if line.contains(&text) {
                break;
            }
            line.push_str(": ");
            line.push_str(&text);
            cause = e.source();
        }
        f.write_str(&line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_object_and_reason() {
        let e = IngestError::Read {
            object: "s3://b/k.json.gz".into(),
            cause: ReadError::new(ReadErrorKind::AccessDenied, "AccessDenied: s3:GetObject"),
        };
        assert_eq!(
            e.to_string(),
            "s3://b/k.json.gz: cannot read the object: AccessDenied: s3:GetObject"
        );
        let w = IngestError::Write {
            object: "s3://b/k".into(),
            cause: WriteError {
                table: "t".into(),
                unwritten: 3,
                total: 30,
                attempts: 8,
                message: "throttled".into(),
                last_call: None,
            },
        };
        let inv = InvocationError::Objects {
            failed: vec![e, w],
            attempted: 3,
        };
        assert_eq!(
            inv.to_string(),
            "2 of 3 object(s) failed: s3://b/k.json.gz: cannot read the object: AccessDenied: s3:GetObject; \
             s3://b/k: 3 of 30 items were not written to table t after 8 attempt(s): throttled"
        );
        assert_eq!(inv.error_type(), "MultipleFailures");
    }

    /// A context that does not say its cause, as `anyhow`'s `.context(...)` does not.
    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Context(&'static str, #[source] IngestError);

    #[test]
    fn the_chain_says_each_cause_once() {
        let io = std::io::Error::other("connection reset");
        let failed = IngestError::Parse {
            object: "s3://b/k".into(),
            cause: ParseError::Read {
                gzip: true,
                cause: io,
            },
        };
        let text = "s3://b/k: read failed (gzip): connection reset";
        assert_eq!(failed.to_string(), text);
        let causes: Vec<String> =
            std::iter::successors(Some(&failed as &(dyn std::error::Error + 'static)), |e| {
                e.source()
            })
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            causes,
            [
                text,
                "read failed (gzip): connection reset",
                "connection reset"
            ]
        );
        assert_eq!(Chain(&failed).to_string(), text);
        let context = Context("ingesting 1 object", failed);
        assert_eq!(
            Chain(&context).to_string(),
            format!("ingesting 1 object: {text}")
        );
    }
}
