//! The alert markers: what makes an alert go out once per change, and the storm's counter,
//! in the table itself, behind the [`AlertLedger`] trait.
//!
//! * A change's marker: `groupName` = `:alert:<eventID>`, `eventKey` = `sent`, `expiresAt` a
//!   little past the last moment the change may alert ([`crate::alert::marker_expiry`]). A
//!   colon never starts a group name, so no query, timeline or index ever meets one (it has
//!   neither `eventName` nor `userArn`, the indexes' keys, nor `readOnly`, the prune's filter).
//! * A minute's counter: `groupName` = `:alert-window:<YYYY-MM-DDTHH:MM>`, `eventKey` =
//!   `window`, `sent` incremented by a conditional update while below the storm limit, the
//!   same for every instance of the function.

use std::future::Future;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;

use super::DynamoDbWriter;
use crate::item::{PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE};

/// The marker's partition of a change.
#[must_use]
pub fn marker_partition(event_id: &str) -> String {
    format!(":alert:{event_id}")
}

/// The counter's partition of a minute.
#[must_use]
pub fn window_partition(minute: &str) -> String {
    format!(":alert-window:{minute}")
}

/// A marker call that failed.
#[derive(Debug, thiserror::Error)]
#[error("alert marker {key} in {table}: {message}")]
pub struct MarkerError {
    /// The table.
    pub table: String,
    /// The marker's partition.
    pub key: String,
    /// What failed.
    pub message: String,
    /// The SDK's error.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// The markers' three calls.
pub trait AlertLedger: Send + Sync {
    /// Whether the change's marker exists (a strongly consistent read).
    fn was_sent(
        &self,
        table: &str,
        event_id: &str,
    ) -> impl Future<Output = Result<bool, MarkerError>> + Send;

    /// Writes the change's marker unless it exists; whether this call wrote it.
    fn mark_sent(
        &self,
        table: &str,
        event_id: &str,
        expires_at: u64,
    ) -> impl Future<Output = Result<bool, MarkerError>> + Send;

    /// Counts one alert in `minute` if fewer than `limit` were counted; whether it was.
    fn take_slot(
        &self,
        table: &str,
        minute: &str,
        limit: u32,
        expires_at: u64,
    ) -> impl Future<Output = Result<bool, MarkerError>> + Send;
}

fn key(partition: &str, sort: &str) -> [(String, AttributeValue); 2] {
    [
        (PARTITION_KEY.into(), AttributeValue::S(partition.into())),
        (SORT_KEY.into(), AttributeValue::S(sort.into())),
    ]
}

fn failed<E, R>(table: &str, key: &str, err: SdkError<E, R>) -> MarkerError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    MarkerError {
        table: table.into(),
        key: key.into(),
        message: crate::aws::describe_error(&err),
        source: Some(Box::new(err)),
    }
}

fn is_condition_failed<E, R>(err: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    crate::aws::error_code(err).as_deref() == Some("ConditionalCheckFailedException")
}

impl AlertLedger for DynamoDbWriter {
    async fn was_sent(&self, table: &str, event_id: &str) -> Result<bool, MarkerError> {
        let pk = marker_partition(event_id);
        let [k1, k2] = key(&pk, "sent");
        let out = self
            .client()
            .get_item()
            .table_name(table)
            .key(k1.0, k1.1)
            .key(k2.0, k2.1)
            .consistent_read(true)
            .projection_expression("#pk")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .send()
            .await
            .map_err(|e| failed(table, &pk, e))?;
        Ok(out.item().is_some())
    }

    async fn mark_sent(
        &self,
        table: &str,
        event_id: &str,
        expires_at: u64,
    ) -> Result<bool, MarkerError> {
        let pk = marker_partition(event_id);
        let [k1, k2] = key(&pk, "sent");
        let put = self
            .client()
            .put_item()
            .table_name(table)
            .item(k1.0, k1.1)
            .item(k2.0, k2.1)
            .item(TTL_ATTRIBUTE, AttributeValue::N(expires_at.to_string()))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(failed(table, &pk, e)),
        }
    }

    async fn take_slot(
        &self,
        table: &str,
        minute: &str,
        limit: u32,
        expires_at: u64,
    ) -> Result<bool, MarkerError> {
        let pk = window_partition(minute);
        let [k1, k2] = key(&pk, "window");
        let update = self
            .client()
            .update_item()
            .table_name(table)
            .key(k1.0, k1.1)
            .key(k2.0, k2.1)
            .update_expression("ADD #sent :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(#sent) OR #sent < :limit")
            .expression_attribute_names("#sent", "sent")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
            .expression_attribute_values(":ttl", AttributeValue::N(expires_at.to_string()))
            .send()
            .await;
        match update {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(failed(table, &pk, e)),
        }
    }
}
