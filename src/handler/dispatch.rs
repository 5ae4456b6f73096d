//! One invocation, of any shape [`trigger::parse`] knows, answered in the form its source
//! expects, with the policy each source needs: a notification fails whole when an object
//! fails (its source retries it), an SQS batch names only the messages to redeliver, an S3
//! Batch Operations job gets one result per task, and an EC2 Auto Scaling event is stored
//! itself and fails whole (`events`). An object that no longer exists is skipped for
//! notifications and SQS (nothing can bring it back), and is a permanent failure for Batch
//! Operations (its manifest is wrong).

use std::collections::HashMap;
use std::time::Instant;

use serde_json::Value;

use super::response::{
    BatchJobResponse, InvocationSummary, Response, ResultCode, SqsBatchResponse, TaskResult,
    result_code,
};
use super::{Ingestor, Invocation, OnMissing};
use crate::dynamodb::BatchWriter;
use crate::error::InvocationError;
use crate::notification::trigger::{self, Batch, BatchJob, SqsMessage, Trigger};
use crate::notification::{Disposition, ObjectRef};
use crate::s3::ObjectStore;

fn log_test_events(batch: &Batch, message_id: Option<&str>, summary: &mut InvocationSummary) {
    for bucket in &batch.test_events {
        summary.test_events += 1;
        tracing::info!(message_id, shape = %batch.shape, bucket = %bucket, "s3:TestEvent received: the notification reaches the function; nothing to ingest");
    }
}

impl<S: ObjectStore, W: BatchWriter> Ingestor<S, W> {
    /// Logs the skipped objects, counts them, and returns the ones to ingest.
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
                    self.skip(object, *reason);
                }
            }
        }
        objects
    }

    /// Handles an invocation of any shape [`trigger::parse`] knows, answering in the form that
    /// shape's source expects:
    ///
    /// - a notification (S3, SNS, EventBridge, CloudTrail's SNS notification, test events):
    ///   an [`InvocationSummary`], or an error when any object failed (the source retries it);
    /// - an SQS batch: `{"batchItemFailures": [...]}` naming only the messages whose objects
    ///   failed or that could not be understood (`ReportBatchItemFailures`);
    /// - an S3 Batch Operations job: one result per task (`Succeeded`, `TemporaryFailure`,
    ///   `PermanentFailure`);
    /// - an EC2 Auto Scaling event (EventBridge, `aws.autoscaling`): its items written, an
    ///   [`InvocationSummary`], or an error naming the event (EventBridge retries it).
    ///
    /// `invocation` is what the Lambda runtime says besides the payload: when the invocation must
    /// have answered, and the function's own account (whose real-time events are stored).
    ///
    /// # Errors
    /// An [`InvocationError`] for a payload of unknown shape, a malformed one, a failed object
    /// of a notification, or an Auto Scaling event that cannot be stored or written. SQS and Batch Operations report failures in their response instead.
    pub async fn handle_event(
        &self,
        event: &Value,
        invocation: &Invocation,
    ) -> Result<Response, InvocationError> {
        let deadline = invocation.deadline;
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
            Trigger::AutoScalingEvent(envelope) => {
                Box::pin(self.handle_autoscaling_event(&envelope, invocation))
                    .await
                    .map(Response::Summary)
            }
        }
    }

    /// Ingests a notification's objects as a whole: objects are independent, and a failed one
    /// does not stop the others, but fails the invocation.
    async fn handle_batch(
        &self,
        batch: &Batch,
        deadline: Option<Instant>,
    ) -> Result<InvocationSummary, InvocationError> {
        let mut summary = InvocationSummary {
            shape: batch.shape.clone(),
            ..InvocationSummary::default()
        };
        log_test_events(batch, None, &mut summary);
        let objects = self.triage(&batch.dispositions, &mut summary);
        let ingested = self.ingest_all(&objects, deadline, OnMissing::Skip).await;
        let mut failed = Vec::new();
        for result in ingested {
            match result {
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

    /// Ingests each message of an SQS batch; the response names the messages to redeliver.
    /// An object named by several messages is ingested once.
    async fn handle_sqs(
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
            let ok = match &message.content {
                Ok(batch) => {
                    self.ingest_message(message, batch, deadline, &mut done, &mut summary)
                        .await
                }
                Err(error) => {
                    tracing::error!(message_id = %message.message_id, error_type = error.error_type(), error = %error, "SQS message not understood; reported as a batch item failure");
                    false
                }
            };
            if !ok {
                response.add_failure(message.message_id.clone());
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

    /// Ingests the objects of one SQS message (those not already done in this batch); whether
    /// they all succeeded.
    async fn ingest_message(
        &self,
        message: &SqsMessage,
        batch: &Batch,
        deadline: Option<Instant>,
        done: &mut HashMap<ObjectRef, bool>,
        summary: &mut InvocationSummary,
    ) -> bool {
        log_test_events(batch, Some(&message.message_id), summary);
        let mut ok = true;
        for object in self.triage(&batch.dispositions, summary) {
            if let Some(&known) = done.get(&object) {
                ok &= known;
                continue;
            }
            let good = match self.ingest(&object, deadline, OnMissing::Skip).await {
                Ok(s) => {
                    summary.add(&s);
                    true
                }
                Err(_) => false,
            };
            done.insert(object, good);
            ok &= good;
        }
        if !ok {
            tracing::error!(message_id = %message.message_id, shape = %batch.shape, "SQS message has failed objects; reported as a batch item failure");
        }
        ok
    }

    /// Runs the tasks of an S3 Batch Operations job, one result per task.
    async fn handle_batch_job(
        &self,
        job: &BatchJob,
        deadline: Option<Instant>,
    ) -> BatchJobResponse {
        let mut results = Vec::with_capacity(job.tasks.len());
        for task in &job.tasks {
            let (code, text) = match &task.object {
                Err(error) => (ResultCode::PermanentFailure, error.to_string()),
                Ok(Disposition::Skip(object, reason)) => {
                    self.skip(object, *reason);
                    (
                        ResultCode::Succeeded,
                        format!("skipped {object}: {} ({reason})", reason.describe()),
                    )
                }
                // A key that does not exist is a failure here: the manifest is wrong, and
                // retrying will not change that (a PermanentFailure, by `result_code`).
                Ok(Disposition::Ingest(object)) => {
                    match self.ingest(object, deadline, OnMissing::Fail).await {
                        Ok(s) => (
                            ResultCode::Succeeded,
                            format!(
                                "{object}: {} records, {} events, {} items written",
                                s.file.records, s.file.events, s.items_written
                            ),
                        ),
                        Err(error) => (result_code(&error), error.to_string()),
                    }
                }
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
}
