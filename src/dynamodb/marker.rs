//! The alert markers: what makes an alert go out once per change, and the storm's counter,
//! in the table itself, behind the [`AlertLedger`] trait.
//!
//! * A change's marker: `groupName` = `:alert:<eventID>`, `eventKey` = `sent`, `expiresAt` a
//!   little past the last moment the change may alert ([`crate::alert::marker_expiry`]). A
//!   colon never starts a group name, so no query, timeline or index ever meets one (it has
//!   neither `eventName` nor `userArn`, the indexes' keys, nor `readOnly`, the prune's filter).
//!   It is written FIRST, as a claim (`state` = `claimed`, `claim` = the claimer's token,
//!   `leaseUntil` = now + [`crate::alert::CLAIM_LEASE_SECS`]) by a conditional PutItem that
//!   succeeds only where no marker is, or where a claim's lease has run out; the claimer
//!   publishes, then confirms (`state` = `sent`, the lease removed), or, when the publish
//!   failed, releases the claim (its lease set to 0, so that the next copy claims it at once).
//!   Two copies at the same moment: one claim succeeds, the other copy stays quiet. A claimer
//!   that dies before it confirms leaves a claim that another copy (or the retry of the dead
//!   invocation) takes over once its lease has run out: a second alert at worst, never none.
//! * A minute's counter: `groupName` = `:alert-window:<YYYY-MM-DDTHH:MM>`, `eventKey` =
//!   `window`, `sent` incremented by a conditional update while below the storm limit, the
//!   same for every instance of the function.

use std::collections::HashMap;
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

/// A claim on a change's alert: who claims it, when, until when, and when its marker expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The claimer's token (unique to one attempt of one instance).
    pub token: String,
    /// Now, in epoch seconds.
    pub now: u64,
    /// The claim's lease runs out at this epoch second.
    pub lease_until: u64,
    /// The marker's `expiresAt` (TTL).
    pub expires_at: u64,
}

/// The markers' calls.
pub trait AlertLedger: Send + Sync {
    /// Whether the change's alert is taken at `now`: sent, or claimed under a lease that still
    /// runs (a strongly consistent read; a cheap way out before [`AlertLedger::claim`]).
    fn is_taken(
        &self,
        table: &str,
        event_id: &str,
        now: u64,
    ) -> impl Future<Output = Result<bool, MarkerError>> + Send;

    /// Claims the change's alert unless it is taken; whether this call claimed it.
    fn claim(
        &self,
        table: &str,
        event_id: &str,
        claim: &Claim,
    ) -> impl Future<Output = Result<bool, MarkerError>> + Send;

    /// Marks a claimed alert sent; whether the claim was still this token's.
    fn confirm(
        &self,
        table: &str,
        event_id: &str,
        token: &str,
    ) -> impl Future<Output = Result<bool, MarkerError>> + Send;

    /// Ends this token's claim at once (its publish failed): the next copy may claim it.
    fn release(
        &self,
        table: &str,
        event_id: &str,
        token: &str,
    ) -> impl Future<Output = Result<(), MarkerError>> + Send;

    /// Counts one alert in `minute` if fewer than `limit` were counted; whether it was.
    fn take_slot(
        &self,
        table: &str,
        minute: &str,
        limit: u32,
        expires_at: u64,
    ) -> impl Future<Output = Result<bool, MarkerError>> + Send;
}

/// The marker's `state` while claimed, and once sent.
const CLAIMED: &str = "claimed";
const SENT: &str = "sent";

fn key(partition: &str, sort: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (PARTITION_KEY.into(), AttributeValue::S(partition.into())),
        (SORT_KEY.into(), AttributeValue::S(sort.into())),
    ])
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

/// Whether a marker read at `now` is taken: any marker but a claim whose lease ran out.
fn taken(item: &HashMap<String, AttributeValue>, now: u64) -> bool {
    let claimed = item.get("state").and_then(|v| v.as_s().ok()) == Some(&CLAIMED.to_owned());
    let lease = item
        .get("leaseUntil")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    !claimed || lease >= now
}

impl AlertLedger for DynamoDbWriter {
    async fn is_taken(&self, table: &str, event_id: &str, now: u64) -> Result<bool, MarkerError> {
        let pk = marker_partition(event_id);
        let key = key(&pk, SENT);
        let out = self
            .client()
            .get_item()
            .table_name(table)
            .set_key(Some(key))
            .consistent_read(true)
            .projection_expression("#state, #lease")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#lease", "leaseUntil")
            .send()
            .await
            .map_err(|e| failed(table, &pk, e))?;
        Ok(out.item().is_some_and(|item| taken(item, now)))
    }

    async fn claim(&self, table: &str, event_id: &str, claim: &Claim) -> Result<bool, MarkerError> {
        let pk = marker_partition(event_id);
        let key = key(&pk, SENT);
        let n = |v: u64| AttributeValue::N(v.to_string());
        let put = self
            .client()
            .put_item()
            .table_name(table)
            .set_item(Some(key))
            .item("state", AttributeValue::S(CLAIMED.into()))
            .item("claim", AttributeValue::S(claim.token.clone()))
            .item("leaseUntil", n(claim.lease_until))
            .item(TTL_ATTRIBUTE, n(claim.expires_at))
            .condition_expression(
                "attribute_not_exists(#pk) OR (#state = :claimed AND #lease < :now)",
            )
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#lease", "leaseUntil")
            .expression_attribute_values(":claimed", AttributeValue::S(CLAIMED.into()))
            .expression_attribute_values(":now", n(claim.now))
            .send()
            .await;
        conditional(put.map(drop), table, &pk)
    }

    async fn confirm(&self, table: &str, event_id: &str, token: &str) -> Result<bool, MarkerError> {
        let sent = (":sent", AttributeValue::S(SENT.into()));
        self.update_claim(
            table,
            event_id,
            token,
            "SET #state = :sent REMOVE #lease",
            sent,
        )
        .await
    }

    async fn release(&self, table: &str, event_id: &str, token: &str) -> Result<(), MarkerError> {
        let zero = (":zero", AttributeValue::N("0".into()));
        self.update_claim(table, event_id, token, "SET #lease = :zero", zero)
            .await
            .map(drop)
    }

    async fn take_slot(
        &self,
        table: &str,
        minute: &str,
        limit: u32,
        expires_at: u64,
    ) -> Result<bool, MarkerError> {
        let pk = window_partition(minute);
        let key = key(&pk, "window");
        let update = self
            .client()
            .update_item()
            .table_name(table)
            .set_key(Some(key))
            .update_expression("ADD #sent :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(#sent) OR #sent < :limit")
            .expression_attribute_names("#sent", "sent")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
            .expression_attribute_values(":ttl", AttributeValue::N(expires_at.to_string()))
            .send()
            .await;
        conditional(update.map(drop), table, &pk)
    }
}

impl DynamoDbWriter {
    /// One update of `token`'s claim (`#state` and `#lease` bound, and `value`); whether the
    /// claim was still the token's.
    async fn update_claim(
        &self,
        table: &str,
        event_id: &str,
        token: &str,
        expression: &str,
        value: (&str, AttributeValue),
    ) -> Result<bool, MarkerError> {
        let pk = marker_partition(event_id);
        let key = key(&pk, SENT);
        let update = self
            .client()
            .update_item()
            .table_name(table)
            .set_key(Some(key))
            .update_expression(expression)
            .condition_expression("#claim = :token AND #state = :claimed")
            .expression_attribute_names("#claim", "claim")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#lease", "leaseUntil")
            .expression_attribute_values(":token", AttributeValue::S(token.into()))
            .expression_attribute_values(":claimed", AttributeValue::S(CLAIMED.into()))
            .expression_attribute_values(value.0, value.1);
        conditional(update.send().await.map(drop), table, &pk)
    }
}

/// A conditional call's outcome: whether its condition held.
fn conditional<E, R>(
    outcome: Result<(), SdkError<E, R>>,
    table: &str,
    key: &str,
) -> Result<bool, MarkerError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match outcome {
        Ok(()) => Ok(true),
        Err(e) if is_condition_failed(&e) => Ok(false),
        Err(e) => Err(failed(table, key, e)),
    }
}
