//! Errors of an ingestion, each naming the object (`s3://bucket/key`) and the reason, and
//! telling whether trying again may help.

use std::fmt;

use crate::cloudtrail::ParseError;
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

/// Reading an object from the store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ReadError {
    /// The kind of failure.
    pub kind: ReadErrorKind,
    /// What the store said.
    pub message: String,
}

/// Writing items to the table failed after all retries (or at once, when retrying cannot help).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{unwritten} of {total} items were not written to table {table} after {attempts} attempt(s): {message}"
)]
pub struct WriteError {
    /// The table.
    pub table: String,
    /// Items that were not written.
    pub unwritten: usize,
    /// Items that were to be written.
    pub total: usize,
    /// Calls made for the batch that failed.
    pub attempts: u32,
    /// The last error, or why the retries stopped.
    pub message: String,
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
        cause: ParseError,
    },
    /// Items could not be written.
    #[error("{object}: {cause}")]
    Write {
        /// `s3://bucket/key`.
        object: String,
        /// The write failure.
        cause: WriteError,
    },
    /// The parsing task died (a bug).
    #[error("{object}: internal error: {message}")]
    Internal {
        /// `s3://bucket/key`.
        object: String,
        /// What happened.
        message: String,
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
            Self::Objects { failed, .. } => match failed.as_slice() {
                [one] => one.kind(),
                _ => "MultipleFailures",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_object_and_reason() {
        let e = IngestError::Read {
            object: "s3://b/k.json.gz".into(),
            cause: ReadError {
                kind: ReadErrorKind::AccessDenied,
                message: "AccessDenied: s3:GetObject".into(),
            },
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
}
