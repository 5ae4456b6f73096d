//! The ingestion of an invocation's objects, shared by the Lambda and the CLI: which objects a
//! trigger names and how its source wants the answer (`dispatch`), and each object end to end
//! — fetch, gunzip and parse, extract, write, one summary log line (`ingest`); and an
//! invocation that is an EC2 Auto Scaling event itself, written the same way (`events`).
//!
//! Every failure reaches the result: an invocation reports success only when every object it
//! was given was read to the end and every item of it was written. The one exception is an
//! object that no longer exists where the caller says to skip it ([`OnMissing`]).

mod alerts;
mod cut;
mod dispatch;
mod events;
mod ingest;
mod response;

pub use alerts::{AlertStats, Alerter, Notify, Path};
pub use response::{
    BatchJobResponse, InvocationSummary, ObjectSummary, Response, ResultCode, SqsBatchResponse,
    TaskResult, result_code,
};

use std::io::Write;
use std::time::Instant;

use crate::config::{Config, ConfigError, unix_time_ms};
use crate::metrics::{ObjectMetrics, Outcome};
use crate::notification::{ObjectRef, SkipReason};

/// What the Lambda runtime says of an invocation besides its payload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invocation {
    /// When the invocation must have answered (the Lambda context's deadline, less the margin
    /// kept to report a failure); `None` for no deadline.
    pub deadline: Option<Instant>,
    /// The function's own account, read from the ARN it was invoked by; `None` when unknown
    /// (then only the accounts the settings name are accepted for real-time events).
    pub own_account: Option<String>,
}

impl Invocation {
    /// An invocation of the function `function_arn` (`arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`)
    /// that must answer by `deadline`.
    #[must_use]
    pub fn new(deadline: Option<Instant>, function_arn: &str) -> Self {
        Self {
            deadline,
            own_account: account_of_arn(function_arn).map(str::to_owned),
        }
    }
}

/// The account field of an ARN (the fifth), when it is 12 digits.
fn account_of_arn(arn: &str) -> Option<&str> {
    arn.split(':')
        .nth(4)
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
}

/// What to do with an object that does not exist (`NoSuchKey`), per caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnMissing {
    /// Log it and go on: an S3 or SQS notification of an object deleted since (no retry can
    /// bring it back).
    Skip,
    /// Fail the object: S3 Batch Operations (the manifest is wrong) and the CLI (a mistyped
    /// replay must not look done).
    Fail,
}

/// The ingestion service: an object store, a table writer and the settings, built once.
#[derive(Debug, Clone)]
pub struct Ingestor<S, W> {
    store: S,
    writer: W,
    table: String,
    config: Config,
    /// The function whose metrics are published (the Lambda's name), if any.
    metrics_for: Option<String>,
    /// Alerts on changes by hand, when they are on.
    alerts: Option<std::sync::Arc<dyn Notify>>,
}

impl<S, W> Ingestor<S, W> {
    /// An ingestor with these settings, the same for every binary and path.
    ///
    /// # Errors
    /// [`ConfigError::Missing`] when the settings name no table.
    pub fn new(store: S, writer: W, config: Config) -> Result<Self, ConfigError> {
        let table = config.table()?.to_owned();
        Ok(Self {
            store,
            writer,
            table,
            config,
            metrics_for: None,
            alerts: None,
        })
    }

    /// The same ingestor, alerting on the changes it writes through `alerts` (see
    /// [`Alerter`]).
    #[must_use]
    pub fn alerting(self, alerts: std::sync::Arc<dyn Notify>) -> Self {
        Self {
            alerts: Some(alerts),
            ..self
        }
    }

    /// Whether `item` may alert (what the log-file path keeps aside while reading).
    fn may_alert(&self, item: &crate::item::Item) -> bool {
        self.alerts.as_ref().is_some_and(|a| a.rules().alerts(item))
    }

    /// Alerts on the changes among `items` (never fails: see [`Alerter`]), and counts them.
    async fn alert(&self, items: Vec<crate::item::Item>, path: Path) -> AlertStats {
        let Some(alerts) = &self.alerts else {
            return AlertStats::default();
        };
        if items.is_empty() {
            return AlertStats::default();
        }
        let stats = alerts.notify(items, path).await;
        self.publish(&ObjectMetrics {
            alerts_sent: stats.sent + stats.digests,
            alerts_failed: stats.failed,
            ..ObjectMetrics::default()
        });
        stats
    }

    /// The same ingestor, publishing one Embedded Metric Format line per object on stdout
    /// under the dimension `FunctionName` = `function` (see [`crate::metrics`]). For the
    /// Lambda only: the CLI's stdout is data.
    #[must_use]
    pub fn publishing_metrics(self, function: impl Into<String>) -> Self {
        Self {
            metrics_for: Some(function.into()),
            ..self
        }
    }

    /// Leaves an object alone that is not a log file to read, for `reason`: one summary line
    /// (`object skipped`: the bucket, the key, the reason's name and words) and one
    /// `ObjectsSkipped` metric. Never an error: the object is not read, nothing retries it.
    pub fn skip(&self, object: &ObjectRef, reason: SkipReason) {
        log_skip(object, reason);
        self.publish(&ObjectMetrics {
            outcome: Some(Outcome::Skipped),
            ..ObjectMetrics::default()
        });
    }

    /// Publishes one object's metrics, if asked to.
    fn publish(&self, metrics: &ObjectMetrics) {
        if let Some(function) = &self.metrics_for
            && let Some(line) = metrics.emf(function, unix_time_ms())
        {
            // A metric that cannot be written is not worth failing the object (nor panicking,
            // as `println!` would on a closed stdout).
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
    }
}

/// The summary line of an object left alone, the same on every path (each trigger, `asg-trail
/// ingest`, backfill's listing): its bucket and key, `skipped` (the reason's stable name) and
/// `reason` (its words).
pub fn log_skip(object: &ObjectRef, reason: SkipReason) {
    tracing::info!(
        bucket = %object.bucket,
        key = %object.key,
        size = object.size,
        skipped = %reason,
        reason = reason.describe(),
        "object skipped"
    );
}

#[cfg(test)]
mod tests;
