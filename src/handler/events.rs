//! An invocation that is an EC2 Auto Scaling event itself (EventBridge, `source`
//! `aws.autoscaling`): its items are built by [`crate::events`] (an API call exactly as the
//! log file's record, an activity as one item) and written through the same writer as a log
//! file's, with its retries and deadline; one summary line per event. A malformed event, or
//! items that cannot all be written, fail the invocation with an error naming the event:
//! EventBridge retries it, then its dead-letter queue keeps it.

use std::time::Instant;

use serde_json::Value;
use tokio::sync::mpsc;

use super::response::InvocationSummary;
use super::{Ingestor, Invocation};
use crate::dynamodb::{self, BatchWriter, WriteStats};
use crate::error::{InvocationError, WriteError};
use crate::events::{self, Event, EventError};
use crate::extract::Outcome;
use crate::metrics::ObjectMetrics;
use crate::pipeline::{self, Admission};
use crate::s3::ObjectStore;

/// How an Auto Scaling event arrives, in the invocation's summary.
const SHAPE: &str = "EventBridge (aws.autoscaling)";

impl<S: ObjectStore, W: BatchWriter> Ingestor<S, W> {
    /// Stores one EC2 Auto Scaling event (`envelope`, the invocation's payload), or refuses it
    /// when it comes from an account the settings do not accept (logged, counted, not stored;
    /// the invocation succeeds: a retry would refuse it again).
    ///
    /// # Errors
    /// [`InvocationError::Event`] when the event cannot be stored (malformed),
    /// [`InvocationError::EventWrite`] when its items could not all be written before the
    /// invocation's deadline (less the margin) or the retries ran out.
    pub(super) async fn handle_autoscaling_event(
        &self,
        envelope: &Value,
        invocation: &Invocation,
    ) -> Result<InvocationSummary, InvocationError> {
        let started = Instant::now();
        let own = invocation.own_account.as_deref();
        let admission = serde_json::value::to_raw_value(envelope)
            .map_err(|source| EventError::Unreadable {
                id: "(not serializable)".into(),
                source,
            })
            .and_then(|raw| pipeline::invocation_event(&raw, &self.config, own))
            .inspect_err(|e| {
                tracing::error!(error_type = "InvalidEvent", error = %e, "event failed: it cannot be stored");
            })?;
        let event = match admission {
            Admission::Admitted(event) => event,
            Admission::Refused(event) => return Ok(self.refuse(&event, own)),
        };
        let written = self.write_items(event.items(), invocation.deadline).await;
        // Stored or not, a change by hand alerts (a write that failed is retried, and the
        // marker keeps the retry quiet).
        let candidates = event
            .items()
            .iter()
            .filter(|i| self.may_alert(i))
            .cloned()
            .collect();
        self.alert(candidates, super::Path::RealTime).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let items_written = match &written {
            Ok(stats) => stats.items,
            Err(cause) => cause.total - cause.unwritten,
        };
        log_summary(&event, items_written, duration_ms, written.as_ref().err());
        self.publish(&ObjectMetrics {
            // Not an object: the objects' counts (and the heartbeat on them) stay the log
            // files'. The events and items are counted.
            outcome: None,
            events: u64::from(!event.items().is_empty()),
            items_written: items_written as u64,
            filtered: u64::from(matches!(event.outcome, Outcome::Filtered(_))),
            ..ObjectMetrics::default()
        });
        written.map_err(|cause| InvocationError::EventWrite {
            id: event.id.clone(),
            cause,
        })?;
        Ok(InvocationSummary {
            shape: SHAPE.into(),
            events: u64::from(!event.items().is_empty()),
            items_written,
            filtered: u64::from(matches!(event.outcome, Outcome::Filtered(_))),
            ..InvocationSummary::default()
        })
    }

    /// Refuses an event of an account the settings do not accept: one warning naming the
    /// account and what is accepted, the `EventsRefused` metric, nothing stored.
    fn refuse(&self, event: &Event, own: Option<&str>) -> InvocationSummary {
        tracing::warn!(
            event_id = %event.id,
            detail_type = %event.detail_type,
            account = %event.account,
            accepted = %self.config.event_accounts.describe(own),
            "event refused: its account is not one this function accepts (EVENT_ACCOUNTS); not stored"
        );
        self.publish(&ObjectMetrics {
            refused_events: 1,
            ..ObjectMetrics::default()
        });
        InvocationSummary {
            shape: SHAPE.into(),
            events_refused: 1,
            ..InvocationSummary::default()
        }
    }

    /// Writes `items` with the writer, retries and deadline of a log file's items.
    async fn write_items(
        &self,
        items: &[crate::item::Item],
        deadline: Option<Instant>,
    ) -> Result<WriteStats, WriteError> {
        if items.is_empty() {
            return Ok(WriteStats::default());
        }
        let (sender, queue) = mpsc::channel(items.len());
        for item in items {
            // The channel holds them all, and its receiver is alive: this cannot fail.
            let _ = sender.try_send(item.clone());
        }
        drop(sender);
        let retry = self.config.retry.until(deadline);
        dynamodb::write_stream(
            &self.writer,
            &self.table,
            queue,
            &retry,
            self.config.write_concurrency,
        )
        .await
    }
}

/// What became of an event that keeps nothing, in words; `None` when it keeps items.
fn nothing_kept(outcome: &Outcome) -> Option<&'static str> {
    match outcome {
        Outcome::Kept(_) => None,
        Outcome::Other => Some("not an EC2 Auto Scaling call"),
        Outcome::ApplicationAutoScaling => Some("an Application Auto Scaling call"),
        Outcome::Filtered(reason) => Some(reason),
        Outcome::Rejected(_) => Some("rejected"),
    }
}

/// One summary line per event, the same fields whether it was written or not.
fn log_summary(event: &Event, items_written: usize, duration_ms: u64, error: Option<&WriteError>) {
    let groups = event.partitions().join(",");
    let kind = match event.kind {
        events::Kind::ApiCall => "api call",
        events::Kind::Activity => "activity",
    };
    let not_stored = nothing_kept(&event.outcome);
    macro_rules! event_line {
        ($level:expr, $($outcome:tt)+) => {
            tracing::event!(
                $level,
                event_id = %event.id,
                detail_type = %event.detail_type,
                kind,
                groups = %groups,
                items = event.items().len(),
                items_written,
                not_stored,
                duration_ms,
                $($outcome)+
            )
        };
    }
    match error {
        None => event_line!(tracing::Level::INFO, "event ingested"),
        Some(error) => event_line!(
            tracing::Level::ERROR,
            error_type = "WriteFailed",
            aws_error_code = error.code(),
            aws_request_id = error.request_id(),
            error = %error,
            "event failed"
        ),
    }
}
