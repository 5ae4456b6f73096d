//! The Lambda function: ingests the CloudTrail log files named by an invocation of any shape
//! it knows (S3 notifications direct or through SQS/SNS, CloudTrail's SNS notifications,
//! EventBridge, S3 Batch Operations; see [`asg_trail::notification::trigger`]), and EC2 Auto
//! Scaling's own EventBridge events ([`asg_trail::events`]), and answers in the form that
//! shape's source expects.
//!
//! Settings come from the environment ([`asg_trail::config`], the same parser the CLI uses);
//! the SDK clients are built once, here, and shared by every invocation.

use asg_trail::config::{self, Config};
use std::sync::Arc;

use asg_trail::dynamodb::DynamoDbWriter;
use asg_trail::handler::{Alerter, Ingestor, Invocation};
use asg_trail::s3::S3Store;
use asg_trail::sns::SnsPublisher;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config =
        Config::from_env().inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    let retry_margin = config.retry.deadline_margin;
    let clients = asg_trail::aws::load().await;
    let alerter = Alerter::new(
        SnsPublisher::new(clients.sns),
        DynamoDbWriter::new(clients.dynamodb.clone()),
        config.table().unwrap_or_default(),
        &config.alerts,
    );
    let mut ingestor = Ingestor::new(
        S3Store::new(clients.s3),
        DynamoDbWriter::new(clients.dynamodb),
        config,
    )
    .inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    if let Some(alerter) = alerter {
        ingestor = ingestor.alerting(Arc::new(alerter));
    }
    // One Embedded Metric Format line per object, for the template's alarms and dashboard.
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
    let ingestor = ingestor.publishing_metrics(function);
    let ingestor = &ingestor;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        // Write retries stop in time for the failure to be reported before the Lambda timeout.
        let deadline = config::usable_deadline(event.context.deadline, retry_margin);
        // The function's own account, whose real-time events it always accepts.
        let invocation = Invocation::new(deadline, &event.context.invoked_function_arn);
        ingestor
            .handle_event(&event.payload, &invocation)
            .await
            .inspect_err(|e| tracing::error!(error_type = e.error_type(), error = %e, "invocation failed"))
            .map_err(|e| Diagnostic {
                error_type: e.error_type().to_owned(),
                error_message: e.to_string(),
            })
    }))
    .await
}
