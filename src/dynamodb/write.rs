//! The one call the writer makes: the [`BatchWriter`] trait (one BatchWriteItem call of puts),
//! the [`BatchDeleter`] trait (one BatchWriteItem call of deletes, for the prune) and their
//! adapter on the SDK, [`DynamoDbWriter`], which maps the SDK's answer and errors to what the
//! retry loop needs: the positions left unprocessed, or a [`BatchError`] that says whether to
//! retry and keeps the SDK error with its code and request ID.

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemOutput;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};

use super::codec::to_attributes;
pub use crate::error::BatchError;
use crate::item::{Item, PARTITION_KEY, SORT_KEY};

/// BatchWriteItem's limit of items per call.
pub const MAX_BATCH: usize = 25;

/// One BatchWriteItem call.
pub trait BatchWriter: Send + Sync {
    /// Puts `items` (at most [`MAX_BATCH`], distinct keys) into `table`. Returns the positions
    /// in `items` of those DynamoDB did not process.
    fn write_batch(
        &self,
        table: &str,
        items: &[Item],
    ) -> impl Future<Output = Result<Vec<usize>, BatchError>> + Send;
}

/// One BatchWriteItem call of deletes.
pub trait BatchDeleter: Send + Sync {
    /// Deletes the items of `keys` (at most [`MAX_BATCH`], distinct; each the item's
    /// partition and sort key attributes) from `table`. Returns the positions in `keys` of
    /// those DynamoDB did not process.
    fn delete_batch(
        &self,
        table: &str,
        keys: &[HashMap<String, AttributeValue>],
    ) -> impl Future<Output = Result<Vec<usize>, BatchError>> + Send;
}

/// [`BatchWriter`] and [`BatchDeleter`] on Amazon DynamoDB (or DynamoDB Local).
#[derive(Clone, Debug)]
pub struct DynamoDbWriter {
    client: aws_sdk_dynamodb::Client,
}

impl DynamoDbWriter {
    /// Wraps a client built once at start-up.
    #[must_use]
    pub fn new(client: aws_sdk_dynamodb::Client) -> Self {
        Self { client }
    }

    /// The client, for the other calls on the same table (the alert markers).
    pub(crate) fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    /// One BatchWriteItem call, the SDK's retries off: the retry loop retries, with the
    /// deadline in view; the SDK's retries (and their sleeps of up to 20 s) would only hide
    /// time from it.
    async fn send(
        &self,
        table: &str,
        requests: Vec<WriteRequest>,
    ) -> Result<BatchWriteItemOutput, BatchError> {
        self.client
            .batch_write_item()
            .request_items(table, requests)
            .customize()
            .config_override(
                aws_sdk_dynamodb::config::Builder::default()
                    .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(batch_error)
    }
}

impl BatchWriter for DynamoDbWriter {
    async fn write_batch(&self, table: &str, items: &[Item]) -> Result<Vec<usize>, BatchError> {
        let mut requests = Vec::with_capacity(items.len());
        for item in items {
            let put = PutRequest::builder()
                .set_item(Some(to_attributes(item)))
                .build()
                .map_err(unbuildable)?;
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        let output = self.send(table, requests).await?;
        let unprocessed = output
            .unprocessed_items()
            .and_then(|m| m.get(table))
            .map(Vec::as_slice)
            .unwrap_or_default();
        if unprocessed.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<(Option<&str>, Option<&str>)> = unprocessed
            .iter()
            .filter_map(|w| w.put_request())
            .map(|p| {
                let s = |name: &str| {
                    p.item()
                        .get(name)
                        .and_then(|v| v.as_s().ok())
                        .map(String::as_str)
                };
                (s(PARTITION_KEY), s(SORT_KEY))
            })
            .collect();
        Ok(items
            .iter()
            .enumerate()
            .filter(|(_, item)| {
                keys.contains(&(
                    Some(item.group_name.as_str()),
                    Some(item.event_key.as_str()),
                ))
            })
            .map(|(i, _)| i)
            .collect())
    }
}

impl BatchDeleter for DynamoDbWriter {
    async fn delete_batch(
        &self,
        table: &str,
        keys: &[HashMap<String, AttributeValue>],
    ) -> Result<Vec<usize>, BatchError> {
        let mut requests = Vec::with_capacity(keys.len());
        for key in keys {
            let delete = DeleteRequest::builder()
                .set_key(Some(key.clone()))
                .build()
                .map_err(unbuildable)?;
            requests.push(WriteRequest::builder().delete_request(delete).build());
        }
        let output = self.send(table, requests).await?;
        let unprocessed: Vec<&HashMap<String, AttributeValue>> = output
            .unprocessed_items()
            .and_then(|m| m.get(table))
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|w| w.delete_request())
            .map(DeleteRequest::key)
            .collect();
        Ok(keys
            .iter()
            .enumerate()
            .filter(|(_, key)| unprocessed.contains(key))
            .map(|(i, _)| i)
            .collect())
    }
}

/// A request the SDK's builder refuses (a required field missing): never retried.
fn unbuildable(e: aws_sdk_dynamodb::error::BuildError) -> BatchError {
    let message = e.to_string();
    BatchError {
        source: Some(Box::new(e)),
        ..BatchError::new(message)
    }
}

/// Classifies a BatchWriteItem failure: throttling, server errors and calls with no answer are
/// retried; the SDK error is kept with its code and request ID.
fn batch_error<E, R>(err: SdkError<E, R>) -> BatchError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = crate::aws::error_code(&err);
    let throttled = matches!(
        code.as_deref(),
        Some(
            "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "LimitExceededException"
        )
    );
    let retryable = throttled
        || match code.as_deref() {
            Some(
                "InternalServerError"
                | "InternalFailure"
                | "ServiceUnavailable"
                | "ServiceUnavailableException",
            ) => true,
            Some(_) => false,
            None => !matches!(err, SdkError::ConstructionFailure(_)),
        };
    BatchError {
        retryable,
        throttled,
        message: crate::aws::describe_error(&err),
        request_id: crate::aws::request_id(&err),
        code,
        source: Some(Box::new(err)),
    }
}

#[cfg(test)]
mod tests {
    //! The DynamoDB adapter against the SDK's own mock layer: what the real client returns,
    //! mapped as the writer expects.
    use super::*;
    use crate::config::RetryPolicy;
    use crate::dynamodb::testing::{REQUEST_ID, ddb_error, fast, item, write_all};
    use crate::error::IngestError;
    use aws_sdk_dynamodb::Client;
    use aws_sdk_dynamodb::config::http::HttpResponse;
    use aws_sdk_dynamodb::operation::batch_write_item::{
        BatchWriteItemError, BatchWriteItemOutput,
    };
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use std::time::Duration;
    #[tokio::test]
    async fn unprocessed_items_map_back_to_their_positions() {
        let rule = mock!(Client::batch_write_item).then_compute_output(|input| {
            let requests = input
                .request_items()
                .and_then(|m| m.get("events"))
                .cloned()
                .unwrap_or_default();
            // Leave the second and the fourth request unprocessed.
            let unprocessed = vec![requests[1].clone(), requests[3].clone()];
            BatchWriteItemOutput::builder()
                .unprocessed_items("events", unprocessed)
                .build()
        });
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]);
        let writer = DynamoDbWriter::new(client);
        let items: Vec<Item> = (0..5).map(|i| item("g", &i.to_string())).collect();
        let left = writer
            .write_batch("events", &items)
            .await
            .expect("call succeeds");
        assert_eq!(left, [1, 3]);
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn write_all_retries_what_the_real_client_leaves_unprocessed() {
        let rule = mock!(Client::batch_write_item)
            .sequence()
            .output(|| {
                let key = to_attributes(&item("g", "2"));
                let put = PutRequest::builder()
                    .set_item(Some(key))
                    .build()
                    .expect("put");
                BatchWriteItemOutput::builder()
                    .unprocessed_items(
                        "events",
                        vec![WriteRequest::builder().put_request(put).build()],
                    )
                    .build()
            })
            .output(|| BatchWriteItemOutput::builder().build())
            .build();
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&rule]);
        let items: Vec<Item> = (0..4).map(|i| item("g", &i.to_string())).collect();
        let stats = write_all(&DynamoDbWriter::new(client), "events", items, &fast())
            .await
            .expect("written");
        assert_eq!((stats.items, stats.calls, stats.retries), (4, 2, 1));
        assert_eq!(rule.num_calls(), 2);
    }

    async fn call_answered_with(response: fn() -> HttpResponse) -> BatchError {
        let rule = mock!(Client::batch_write_item).then_http_response(response);
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]);
        DynamoDbWriter::new(client)
            .write_batch("events", &[item("g", "1")])
            .await
            .expect_err("the call fails")
    }

    #[tokio::test]
    async fn throttling_and_server_errors_are_retryable() {
        let err = call_answered_with(|| {
            ddb_error(400, "ProvisionedThroughputExceededException", "slow down")
        })
        .await;
        assert!(err.retryable, "{err:?}");
        assert!(
            err.message
                .starts_with("ProvisionedThroughputExceededException: slow down"),
            "{}",
            err.message
        );
        let err = call_answered_with(|| ddb_error(400, "ThrottlingException", "rate")).await;
        assert!(err.retryable, "{err:?}");
        let err = call_answered_with(|| ddb_error(500, "InternalServerError", "oops")).await;
        assert!(err.retryable, "{err:?}");
    }

    #[tokio::test]
    async fn a_missing_table_or_a_denied_call_is_not_retryable() {
        let err = call_answered_with(|| {
            ddb_error(
                400,
                "ResourceNotFoundException",
                "Requested resource not found",
            )
        })
        .await;
        assert!(!err.retryable, "{err:?}");
        assert!(
            err.message
                .starts_with("ResourceNotFoundException: Requested resource not found"),
            "{}",
            err.message
        );
        let err = call_answered_with(|| ddb_error(400, "AccessDeniedException", "no")).await;
        assert!(!err.retryable, "{err:?}");
    }

    #[tokio::test]
    async fn a_throttled_call_keeps_its_code_request_id_and_sdk_error() {
        let err = call_answered_with(|| {
            ddb_error(
                400,
                "ThrottlingException",
                "Rate of requests exceeds the allowed throughput.",
            )
        })
        .await;
        assert!(err.retryable && err.throttled, "{err:?}");
        assert_eq!(err.code.as_deref(), Some("ThrottlingException"));
        assert_eq!(err.request_id.as_deref(), Some(REQUEST_ID));
        assert_eq!(
            err.to_string(),
            format!(
                "ThrottlingException: Rate of requests exceeds the allowed throughput. (request id {REQUEST_ID})"
            )
        );
        let source = std::error::Error::source(&err).expect("the SDK error is the source");
        assert!(
            source
                .downcast_ref::<SdkError<BatchWriteItemError, HttpResponse>>()
                .is_some(),
            "{source:?}"
        );
    }

    #[tokio::test]
    async fn a_write_given_up_reports_the_last_calls_code_and_request_id() {
        let rule = mock!(Client::batch_write_item)
            .then_http_response(|| ddb_error(400, "ThrottlingException", "rate"));
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]);
        let policy = RetryPolicy {
            max_elapsed: Duration::from_millis(50),
            ..fast()
        };
        let err = write_all(
            &DynamoDbWriter::new(client),
            "events",
            vec![item("g", "1")],
            &policy,
        )
        .await
        .expect_err("throttled until the time is up");
        assert!(rule.num_calls() > 1, "throttling is retried");
        assert_eq!(err.code(), Some("ThrottlingException"));
        assert_eq!(err.request_id(), Some(REQUEST_ID));
        assert!(std::error::Error::source(&err).is_some());
        let failed = IngestError::Write {
            object: "s3://b/k".into(),
            cause: err,
        };
        assert_eq!(failed.aws_error_code(), Some("ThrottlingException"));
        assert_eq!(failed.request_id(), Some(REQUEST_ID));
        assert_eq!(failed.kind(), "WriteFailed");
    }
}
