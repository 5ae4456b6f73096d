//! Why a backfill cannot go on: one error type for its dates, its listing and its checkpoint,
//! a leaf the other parts of the module import.

use std::path::PathBuf;

use crate::notification::SkipReason;
use crate::s3::ListError;

/// Why a backfill cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    /// A `--since`/`--until` text that is not a date.
    #[error("{text:?} is not a date (YYYY-MM-DD)")]
    BadDate {
        /// The text.
        text: String,
        /// jiff's reason, when the text has the date's layout but names no date.
        #[source]
        source: Option<jiff::Error>,
    },
    /// A prefix whose `AWSLogs` folder is not named `AWSLogs` exactly (`AWSLogsX/`).
    #[error("{prefix}: expected AWSLogs/ where {segment:?} is")]
    NotAwsLogs {
        /// The prefix asked for.
        prefix: String,
        /// What stands where `AWSLogs` should.
        segment: String,
    },
    /// A prefix that leaves CloudTrail's key layout.
    #[error(
        "{prefix}: {segment:?} does not fit CloudTrail's key layout AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/: {}",
        reason.describe()
    )]
    OffLayout {
        /// The prefix asked for.
        prefix: String,
        /// Its first segment that does not fit.
        segment: String,
        /// Why no log file is below it, by the rule of [`crate::notification::logfile`].
        reason: SkipReason,
    },
    /// A listing failed.
    #[error(transparent)]
    List(Box<ListError>),
    /// The checkpoint file cannot be read.
    #[error("cannot read checkpoint {}: {source}", path.display())]
    CheckpointRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The checkpoint file cannot be written.
    #[error("cannot write checkpoint {}: {source}", path.display())]
    CheckpointWrite {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl From<ListError> for BackfillError {
    fn from(e: ListError) -> Self {
        Self::List(Box::new(e))
    }
}
