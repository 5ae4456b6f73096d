//! Writing items to the table and reading them back.
//!
//! [`BatchWriter`] is the small trait the handler depends on: one BatchWriteItem call.
//! [`write_all`] builds on it: it drops duplicate keys (never two items with the same key in one
//! call), sends batches of at most 25, and retries what DynamoDB leaves in `UnprocessedItems`
//! (and throttled or failed calls) with exponential backoff and full jitter, until every item is
//! written or the attempts or the time run out — then it fails, naming how many items were not
//! written. Throttling slows it down but never makes it give up before the time is up (see
//! [`RetryPolicy`]); the SDK's own retries are off for BatchWriteItem, so this loop is the only
//! one, and it knows the deadline.
//!
//! [`to_attributes`] keeps every item within DynamoDB's 400 KB: the largest attributes are left
//! out, and named in the item's `omitted` map, until it fits. A batch is never refused because
//! of one item.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Instant;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use serde_json::{Map, Number, Value};

use crate::config::RetryPolicy;
use crate::error::WriteError;
use crate::item::{GROUP_NAMES, Item, OMITTED, PARTITION_KEY, SORT_KEY};

/// BatchWriteItem's limit of items per call.
pub const MAX_BATCH: usize = 25;

/// A failed BatchWriteItem call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchError {
    /// Whether trying again may succeed (throttling, server errors, broken connections).
    pub retryable: bool,
    /// Whether DynamoDB asked us to slow down (throttling): retried for as long as time allows,
    /// not counted against the attempts.
    pub throttled: bool,
    /// What went wrong.
    pub message: String,
}

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

/// What [`write_all`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Items written (after dropping duplicate keys).
    pub items: usize,
    /// Duplicate keys dropped (the last item with a key wins, as a later write would).
    pub duplicates: usize,
    /// BatchWriteItem calls made.
    pub calls: u32,
    /// Of which retries.
    pub retries: u32,
}

/// Writes every item, in batches of at most 25 with distinct keys, one batch at a time,
/// retrying unprocessed items and retryable failures with backoff (see [`write_stream`] and
/// [`RetryPolicy`] for when it stops).
///
/// # Errors
/// A [`WriteError`] when a batch still has unwritten items after `policy.max_attempts` failed
/// calls (throttling not counted) or when the time is up (`policy.max_elapsed`, or the deadline
/// less the margin), or at once on an error retrying cannot fix; `unwritten` counts all items
/// not known to be written.
pub async fn write_all<W: BatchWriter>(
    writer: &W,
    table: &str,
    items: Vec<Item>,
    policy: &RetryPolicy,
) -> Result<WriteStats, WriteError> {
    let (tx, rx) = tokio::sync::mpsc::channel(items.len().max(1));
    for item in items {
        // The channel holds them all: this never waits and never fails.
        let _ = tx.try_send(item);
    }
    drop(tx);
    write_stream(writer, table, rx, policy, 1).await
}

/// Writes items as they arrive from `items` (while the file is still being read), in batches
/// of at most 25 with distinct keys, with up to `concurrency` batches in flight. When that many
/// are in flight it stops taking items, so a bounded channel upstream holds the producer back:
/// memory stays flat whatever the file size.
///
/// An item whose key was already taken is dropped (same key, same event: writing it again would
/// only overwrite it). Each batch retries what DynamoDB leaves in `UnprocessedItems`, and
/// throttled or failed calls, with exponential backoff and full jitter. After the first batch
/// that cannot be written, no new batch is sent, but the stream is still read to its end, so
/// the error counts every item that was not written.
///
/// # Errors
/// A [`WriteError`] (the first failure) when any item could not be written.
pub async fn write_stream<W: BatchWriter>(
    writer: &W,
    table: &str,
    mut items: tokio::sync::mpsc::Receiver<Item>,
    policy: &RetryPolicy,
    concurrency: usize,
) -> Result<WriteStats, WriteError> {
    use futures::stream::{FuturesUnordered, StreamExt};

    let concurrency = concurrency.max(1);
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut stats = WriteStats::default();
    let mut batch: Vec<Item> = Vec::with_capacity(MAX_BATCH);
    let stop = StopAt::new(policy);
    let mut in_flight = FuturesUnordered::new();
    let mut failure: Option<BatchFailure> = None;
    let mut unique = 0;
    let record =
        |outcome: BatchOutcome, stats: &mut WriteStats, failure: &mut Option<BatchFailure>| {
            stats.items += outcome.written;
            stats.calls += outcome.calls;
            stats.retries += outcome.calls.saturating_sub(1);
            if let Some(f) = outcome.failure {
                failure.get_or_insert(f);
            }
        };
    loop {
        tokio::select! {
            Some(outcome) = in_flight.next(), if !in_flight.is_empty() => {
                record(outcome, &mut stats, &mut failure);
            }
            next = items.recv(), if in_flight.len() < concurrency => {
                let Some(item) = next else { break };
                if !seen.insert((item.group_name.clone(), item.event_key.clone())) {
                    stats.duplicates += 1;
                    continue;
                }
                unique += 1;
                if failure.is_some() {
                    continue;
                }
                batch.push(item);
                if batch.len() == MAX_BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(MAX_BATCH));
                    in_flight.push(write_batch_retrying(writer, table, full, policy, &stop));
                }
            }
        }
    }
    if !batch.is_empty() && failure.is_none() {
        in_flight.push(write_batch_retrying(writer, table, batch, policy, &stop));
    }
    while let Some(outcome) = in_flight.next().await {
        record(outcome, &mut stats, &mut failure);
    }
    match failure {
        None => Ok(stats),
        Some(f) => Err(WriteError {
            table: table.to_owned(),
            unwritten: unique - stats.items,
            total: unique,
            attempts: f.attempts,
            message: f.message,
        }),
    }
}

/// What one batch came to.
struct BatchOutcome {
    written: usize,
    calls: u32,
    failure: Option<BatchFailure>,
}

struct BatchFailure {
    attempts: u32,
    message: String,
}

/// When retrying must stop, and how to say why: computed once per object.
struct StopAt {
    at: Instant,
    why: &'static str,
}

impl StopAt {
    fn new(policy: &RetryPolicy) -> Self {
        let started = Instant::now();
        let at = policy.stop_time(started);
        let why = if policy.deadline.is_some() && at < started + policy.max_elapsed {
            "the invocation's deadline is near (DEADLINE_MARGIN_MS is kept to report this)"
        } else {
            "the time limit WRITE_MAX_ELAPSED_MS is reached"
        };
        Self { at, why }
    }
}

/// One batch, retried until written, out of time, out of attempts, or failed for good.
/// Throttling (including `UnprocessedItems`) is retried until the stop time and never counts
/// against `policy.max_attempts`; other retryable failures (5xx, resets, calls with no answer
/// within `policy.attempt_timeout`) do.
async fn write_batch_retrying<W: BatchWriter>(
    writer: &W,
    table: &str,
    batch: Vec<Item>,
    policy: &RetryPolicy,
    stop: &StopAt,
) -> BatchOutcome {
    let size = batch.len();
    let mut pending = batch;
    let (mut attempt, mut failures, mut throttles) = (0, 0, 0);
    let fail = |pending: &[Item], attempt: u32, message: String| BatchOutcome {
        written: size - pending.len(),
        calls: attempt,
        failure: Some(BatchFailure {
            attempts: attempt,
            message,
        }),
    };
    loop {
        let left = stop.at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return fail(
                &pending,
                attempt,
                format!("no time left to write: {}", stop.why),
            );
        }
        attempt += 1;
        let timeout = policy.attempt_timeout.min(left);
        let outcome = match tokio::time::timeout(timeout, writer.write_batch(table, &pending)).await
        {
            Ok(outcome) => outcome,
            Err(_) => Err(BatchError {
                retryable: true,
                throttled: false,
                message: format!(
                    "no answer within {} ms: call abandoned (writes are idempotent)",
                    timeout.as_millis()
                ),
            }),
        };
        let message = match outcome {
            Ok(unprocessed) if unprocessed.is_empty() => {
                return BatchOutcome {
                    written: size,
                    calls: attempt,
                    failure: None,
                };
            }
            Ok(unprocessed) => {
                let n = unprocessed.len();
                pending = unprocessed
                    .into_iter()
                    .filter_map(|i| pending.get(i).cloned())
                    .collect();
                throttles += 1;
                format!("{n} item(s) left in UnprocessedItems")
            }
            Err(e) if e.retryable && e.throttled => {
                throttles += 1;
                e.message
            }
            Err(e) if e.retryable => {
                failures += 1;
                e.message
            }
            Err(e) => return fail(&pending, attempt, e.message),
        };
        if failures >= policy.max_attempts {
            return fail(
                &pending,
                attempt,
                format!(
                    "giving up after {failures} failed call(s) ({throttles} throttled besides): {message}"
                ),
            );
        }
        let delay = policy.delay(attempt);
        if Instant::now() + delay >= stop.at {
            return fail(
                &pending,
                attempt,
                format!(
                    "stopped retrying: {}, after {throttles} throttled and {failures} failed call(s): {message}",
                    stop.why
                ),
            );
        }
        tracing::debug!(table, attempt, throttles, failures, pending = pending.len(), %message, "retrying batch");
        tokio::time::sleep(delay).await;
    }
}

/// [`BatchWriter`] on Amazon DynamoDB (or DynamoDB Local).
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
}

impl BatchWriter for DynamoDbWriter {
    async fn write_batch(&self, table: &str, items: &[Item]) -> Result<Vec<usize>, BatchError> {
        let mut requests = Vec::with_capacity(items.len());
        for item in items {
            let put = PutRequest::builder()
                .set_item(Some(to_attributes(item)))
                .build()
                .map_err(|e| BatchError {
                    retryable: false,
                    throttled: false,
                    message: e.to_string(),
                })?;
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        // `write_all` retries, with the deadline in view; the SDK's retries (and their sleeps
        // of up to 20 s) would only hide time from it.
        let output = self
            .client
            .batch_write_item()
            .request_items(table, requests)
            .customize()
            .config_override(
                aws_sdk_dynamodb::config::Builder::default()
                    .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(|e| batch_error(&e))?;
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

fn batch_error<E, R>(err: &SdkError<E, R>) -> BatchError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = err.as_service_error().and_then(ProvideErrorMetadata::code);
    let throttled = matches!(
        code,
        Some(
            "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "LimitExceededException"
        )
    );
    let retryable = throttled
        || match code {
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
        message: crate::aws::describe_error(err),
    }
}

/// DynamoDB's limit on the size of an item.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
/// What [`to_attributes`] aims at: the limit less a little room, since the estimate of
/// [`attribute_size`] is only meant to err on the large side.
const ITEM_BUDGET: usize = MAX_ITEM_BYTES - 1024;

/// The DynamoDB form of an item: the same attributes as its JSON form (what `asg-trail
/// extract` prints), strings as S, booleans as BOOL, objects as M, arrays as L, except
/// `groupNames`, a string set (SS; the item has it only when it is not empty).
///
/// An item over DynamoDB's 400 KB loses its largest attributes (never its keys) until it
/// fits; each one is named in the `omitted` map with the size of its JSON text (a warning is
/// logged), so the event is stored and a reader knows what is missing.
#[must_use]
pub fn to_attributes(item: &Item) -> HashMap<String, AttributeValue> {
    match serde_json::to_value(item) {
        Ok(Value::Object(mut map)) => {
            fit(&mut map, item);
            map.into_iter()
                .map(|(k, v)| {
                    let value = if k == GROUP_NAMES {
                        AttributeValue::Ss(
                            v.as_array()
                                .map(|names| {
                                    names
                                        .iter()
                                        .filter_map(Value::as_str)
                                        .map(str::to_owned)
                                        .collect()
                                })
                                .unwrap_or_default(),
                        )
                    } else {
                        to_attribute(v)
                    };
                    (k, value)
                })
                .collect()
        }
        // An Item always serializes to an object; keep the keys at least.
        _ => HashMap::from([
            (
                PARTITION_KEY.to_owned(),
                AttributeValue::S(item.group_name.clone()),
            ),
            (
                SORT_KEY.to_owned(),
                AttributeValue::S(item.event_key.clone()),
            ),
        ]),
    }
}

/// Leaves out the largest attributes of `map` (never the keys) until it fits in DynamoDB's
/// item size, noting each in the `omitted` map.
fn fit(map: &mut Map<String, Value>, item: &Item) {
    let size = |map: &Map<String, Value>| -> usize {
        map.iter()
            .map(|(name, value)| name.len() + attribute_size(value))
            .sum()
    };
    let mut total = size(map);
    if total <= ITEM_BUDGET {
        return;
    }
    let original = total;
    let mut candidates: Vec<(String, usize)> = map
        .iter()
        .filter(|(name, _)| ![PARTITION_KEY, SORT_KEY, OMITTED].contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), name.len() + attribute_size(value)))
        .collect();
    candidates.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut left_out = Vec::new();
    for (name, _) in candidates {
        if total <= ITEM_BUDGET {
            break;
        }
        let Some(value) = map.remove(&name) else {
            continue;
        };
        let bytes = serde_json::to_string(&value).map_or(0, |text| text.len() as u64);
        let omitted = map
            .entry(OMITTED)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(omitted) = omitted {
            omitted.insert(
                name.clone(),
                serde_json::json!({
                    "reason": "the item would be over DynamoDB's 400 KB limit",
                    "bytes": bytes,
                }),
            );
        }
        left_out.push(name);
        total = size(map);
    }
    tracing::warn!(
        group_name = %item.group_name,
        event_key = %item.event_key,
        event_name = item.event_name.as_deref(),
        source_object = %item.source_object,
        estimated_bytes = original,
        omitted = ?left_out,
        "item over DynamoDB's 400 KB limit: stored without its largest attributes"
    );
}

/// The size DynamoDB counts for a value, estimated on the large side: strings and binary by
/// their UTF-8 length, numbers by their text plus one, maps and lists 3 bytes plus one per
/// element plus their elements (and map keys), booleans and nulls 1.
#[must_use]
pub fn attribute_size(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) => 1,
        Value::Number(n) => n.to_string().len() + 1,
        Value::String(s) => s.len(),
        Value::Array(items) => 3 + items.iter().map(|v| 1 + attribute_size(v)).sum::<usize>(),
        Value::Object(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + attribute_size(v))
                .sum::<usize>()
        }
    }
}

/// One JSON value as a DynamoDB attribute value.
#[must_use]
pub fn to_attribute(value: Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(b),
        Value::Number(n) => number_attribute(&n),
        Value::String(s) => AttributeValue::S(s),
        Value::Array(a) => AttributeValue::L(a.into_iter().map(to_attribute).collect()),
        Value::Object(m) => {
            AttributeValue::M(m.into_iter().map(|(k, v)| (k, to_attribute(v))).collect())
        }
    }
}

/// DynamoDB numbers hold 38 significant digits between 1e-130 and 1e126; a JSON number outside
/// that is kept as its text (S) rather than failing the whole batch.
fn number_attribute(n: &Number) -> AttributeValue {
    let text = n.to_string();
    let fits = n.is_i64()
        || n.is_u64()
        || n.as_f64()
            .is_some_and(|f| f == 0.0 || (1e-130..1e125).contains(&f.abs()));
    if fits {
        AttributeValue::N(text)
    } else {
        AttributeValue::S(text)
    }
}

/// A DynamoDB item as plain JSON (the inverse of [`to_attributes`]; sets become sorted arrays,
/// since DynamoDB returns their members in any order).
#[must_use]
pub fn to_json(item: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), attribute_to_json(v)))
            .collect::<Map<String, Value>>(),
    )
}

fn attribute_to_json(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => serde_json::from_str::<Number>(n)
            .map_or_else(|_| Value::String(n.clone()), Value::Number),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::M(m) => to_json(m),
        AttributeValue::L(l) => Value::Array(l.iter().map(attribute_to_json).collect()),
        AttributeValue::Ss(ss) => {
            let mut sorted = ss.clone();
            sorted.sort();
            Value::Array(sorted.into_iter().map(Value::String).collect())
        }
        AttributeValue::Ns(ns) => Value::Array(
            ns.iter()
                .map(|n| attribute_to_json(&AttributeValue::N(n.clone())))
                .collect(),
        ),
        _ => Value::Null,
    }
}

/// A time range of a group's timeline. Bounds compare with `eventTime` as text, so a date
/// (`2024-03-05`) or a full timestamp both work, and `until` is inclusive of everything that
/// starts with it (`--until 2024-03-05` covers that whole day).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// Earliest event time (inclusive).
    pub since: Option<String>,
    /// Latest event time (inclusive, as a prefix).
    pub until: Option<String>,
}

/// Reads a group's items, oldest first, through every page of the query.
///
/// # Errors
/// The SDK error, with its full context, when a page cannot be read.
pub async fn query_group(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    group: &str,
    range: &TimeRange,
) -> Result<Vec<HashMap<String, AttributeValue>>, String> {
    let spec = QuerySpec {
        range: range.clone(),
        ..QuerySpec::new(QueryTarget::Group(group.to_owned()))
    };
    query(client, table, &spec).await
}

/// The index of the table keyed by `eventName` (then `eventKey`).
pub const BY_EVENT_NAME: &str = "byEventName";
/// The index of the table keyed by `userArn` (then `eventKey`).
pub const BY_USER: &str = "byUser";

/// The partition a query reads: always one key of the table or of one of its indexes, never a
/// scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryTarget {
    /// A group's partition of the table (`groupName`).
    Group(String),
    /// Every group's events of one name, through [`BY_EVENT_NAME`].
    EventName(String),
    /// Every event of one principal (`userArn`), through [`BY_USER`].
    User(String),
}

/// What to read: a target partition, a time range on `eventKey`, and filters on the other
/// attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuerySpec {
    /// The partition to read.
    pub target: QueryTarget,
    /// Event time bounds (on the sort key `eventKey`, so they cost nothing).
    pub range: TimeRange,
    /// Only events of this name.
    pub event_name: Option<String>,
    /// Only events of this principal ARN (`userArn`).
    pub user_arn: Option<String>,
    /// Only events of this principal name: `userName` (the IAM user, or the role of an assumed
    /// role) or the last segment of `userArn` (an assumed role's session name).
    pub user_name: Option<String>,
    /// Only events of this account (`accountId`).
    pub account: Option<String>,
    /// Only events of this region (`awsRegion`).
    pub region: Option<String>,
    /// Only failed calls (with an `errorCode`).
    pub errors_only: bool,
    /// At most this many items (after filtering).
    pub limit: Option<usize>,
    /// Newest first instead of oldest first.
    pub newest_first: bool,
}

impl QuerySpec {
    /// A query of the whole of `target`, oldest first, unfiltered.
    #[must_use]
    pub fn new(target: QueryTarget) -> Self {
        Self {
            target,
            range: TimeRange::default(),
            event_name: None,
            user_arn: None,
            user_name: None,
            account: None,
            region: None,
            errors_only: false,
            limit: None,
            newest_first: false,
        }
    }

    /// Chooses the partition to read from what the user gave, and turns the rest into filters:
    ///
    /// 1. `group` → the group's partition of the table; everything else filters it;
    /// 2. else `user` as an ARN → [`BY_USER`];
    /// 3. else `event_name` → [`BY_EVENT_NAME`] (a user *name* then filters it);
    /// 4. else an error: a user name alone has no index (`userArn` is the index key) and a scan
    ///    is never made.
    ///
    /// # Errors
    /// A message saying what to add when no partition can be chosen.
    pub fn choose(
        group: Option<String>,
        event_name: Option<String>,
        user: Option<String>,
    ) -> Result<Self, String> {
        let (user_arn, user_name) = match user {
            Some(u) if is_arn(&u) => (Some(u), None),
            Some(u) => (None, Some(u)),
            None => (None, None),
        };
        let (target, event_name, user_arn) = match (group, event_name, user_arn) {
            (Some(g), e, u) => (QueryTarget::Group(g), e, u),
            (None, e, Some(u)) => (QueryTarget::User(u), e, None),
            (None, Some(e), None) => (QueryTarget::EventName(e), None, None),
            (None, None, None) => {
                return Err(match user_name {
                    Some(name) => format!(
                        "--user {name:?} is a name, not an ARN: the byUser index is keyed by the full \
                         userArn (e.g. arn:aws:iam::123456789012:user/{name} or \
                         arn:aws:sts::123456789012:assumed-role/ROLE/SESSION). Give the ARN, or add \
                         --group or --event-name to filter by name within them (never a table scan)"
                    ),
                    None => "say what to read: --group NAME, --event-name NAME or --user ARN \
                             (a table scan is never made)"
                        .to_owned(),
                });
            }
        };
        Ok(Self {
            event_name,
            user_arn,
            user_name,
            ..Self::new(target)
        })
    }
}

/// Whether a `--user` value is an ARN (queried through the index) rather than a name.
#[must_use]
pub fn is_arn(user: &str) -> bool {
    user.starts_with("arn:")
}

/// A DynamoDB Query request, before it is sent.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryPlan {
    /// The index, or `None` for the table.
    pub index: Option<&'static str>,
    /// `KeyConditionExpression`.
    pub key_condition: String,
    /// `FilterExpression`, if any.
    pub filter: Option<String>,
    /// `ExpressionAttributeNames`.
    pub names: Vec<(String, String)>,
    /// `ExpressionAttributeValues`.
    pub values: Vec<(String, AttributeValue)>,
    /// Strongly consistent (tables only: indexes do not offer it).
    pub consistent: bool,
    /// `ScanIndexForward`.
    pub forward: bool,
}

/// The request for a [`QuerySpec`].
#[must_use]
pub fn plan(spec: &QuerySpec) -> QueryPlan {
    let (index, hash, value) = match &spec.target {
        QueryTarget::Group(g) => (None, PARTITION_KEY, g),
        QueryTarget::EventName(e) => (Some(BY_EVENT_NAME), "eventName", e),
        QueryTarget::User(u) => (Some(BY_USER), "userArn", u),
    };
    let mut names = vec![("#p".to_owned(), hash.to_owned())];
    let mut values = vec![(":p".to_owned(), AttributeValue::S(value.clone()))];
    let mut key_condition = "#p = :p".to_owned();
    // '~' sorts after every character of an event key's time and separator, so `until~`
    // is past every key that starts with `until`.
    let until = |u: &str| AttributeValue::S(format!("{u}~"));
    let bounds = match (spec.range.since.as_deref(), spec.range.until.as_deref()) {
        (Some(s), Some(u)) => Some((
            " AND #k BETWEEN :lo AND :hi",
            vec![(":lo", AttributeValue::S(s.to_owned())), (":hi", until(u))],
        )),
        (Some(s), None) => Some((
            " AND #k >= :lo",
            vec![(":lo", AttributeValue::S(s.to_owned()))],
        )),
        (None, Some(u)) => Some((" AND #k <= :hi", vec![(":hi", until(u))])),
        (None, None) => None,
    };
    if let Some((clause, bound_values)) = bounds {
        key_condition.push_str(clause);
        names.push(("#k".to_owned(), SORT_KEY.to_owned()));
        values.extend(bound_values.into_iter().map(|(n, v)| (n.to_owned(), v)));
    }
    let mut filters = Vec::new();
    let mut equal = |attribute: &str, value: Option<&String>, tag: &str| {
        if let Some(v) = value {
            names.push((format!("#{tag}"), attribute.to_owned()));
            values.push((format!(":{tag}"), AttributeValue::S(v.clone())));
            filters.push(format!("#{tag} = :{tag}"));
        }
    };
    equal("eventName", spec.event_name.as_ref(), "en");
    equal("userArn", spec.user_arn.as_ref(), "ua");
    equal("accountId", spec.account.as_ref(), "ac");
    equal("awsRegion", spec.region.as_ref(), "rg");
    if let Some(name) = &spec.user_name {
        // Narrowed server-side, made exact client-side (see `matches_user_name`).
        names.push(("#un".to_owned(), "userName".to_owned()));
        names.push(("#ua2".to_owned(), "userArn".to_owned()));
        values.push((":un".to_owned(), AttributeValue::S(name.clone())));
        values.push((":us".to_owned(), AttributeValue::S(format!("/{name}"))));
        filters.push("(#un = :un OR contains(#ua2, :us))".to_owned());
    }
    if spec.errors_only {
        names.push(("#ec".to_owned(), "errorCode".to_owned()));
        filters.push("attribute_exists(#ec)".to_owned());
    }
    QueryPlan {
        index,
        key_condition,
        filter: (!filters.is_empty()).then(|| filters.join(" AND ")),
        names,
        values,
        consistent: index.is_none(),
        forward: !spec.newest_first,
    }
}

/// Whether an item's principal is `name`: its `userName`, or the last segment of its
/// `userArn` (`.../alice@example.com` for an assumed role's session).
#[must_use]
pub fn matches_user_name(item: &HashMap<String, AttributeValue>, name: &str) -> bool {
    let text = |a: &str| item.get(a).and_then(|v| v.as_s().ok()).map(String::as_str);
    text("userName") == Some(name)
        || text("userArn").and_then(|arn| arn.rsplit('/').next()) == Some(name)
}

/// Runs a query through every page (or until `limit` items passed the filters).
///
/// # Errors
/// The SDK error, with its full context, when a page cannot be read (a missing index says
/// so: the table predates the indexes, or is not the template's).
pub async fn query(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    spec: &QuerySpec,
) -> Result<Vec<HashMap<String, AttributeValue>>, String> {
    let plan = plan(spec);
    let mut request = client
        .query()
        .table_name(table)
        .set_index_name(plan.index.map(str::to_owned))
        .key_condition_expression(&plan.key_condition)
        .set_filter_expression(plan.filter.clone())
        .scan_index_forward(plan.forward)
        .consistent_read(plan.consistent);
    for (name, attribute) in &plan.names {
        request = request.expression_attribute_names(name, attribute);
    }
    for (name, value) in &plan.values {
        request = request.expression_attribute_values(name, value.clone());
    }
    let mut pages = request.into_paginator().items().send();
    let mut items = Vec::new();
    while let Some(item) = pages.next().await {
        let item = item.map_err(|e| {
            let text = crate::aws::describe_error(&e);
            match plan.index {
                Some(index) if text.contains("index") => format!(
                    "{text} (the table has no {index} index: deploy the current template.yaml)"
                ),
                _ => text,
            }
        })?;
        if spec
            .user_name
            .as_deref()
            .is_some_and(|name| !matches_user_name(&item, name))
        {
            continue;
        }
        items.push(item);
        if spec.limit.is_some_and(|limit| items.len() >= limit) {
            break;
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Mutex;
    use std::time::Duration;

    fn item(group: &str, id: &str) -> Item {
        Item {
            group_name: group.into(),
            event_key: format!("2024-03-05T12:00:00Z#{id}"),
            group_names: vec![group.into()],
            origin: crate::item::Origin::Api,
            event_time: "2024-03-05T12:00:00Z".into(),
            event_id: id.into(),
            event_name: Some("UpdateAutoScalingGroup".into()),
            event_version: None,
            aws_region: None,
            request_id: None,
            source_ip_address: None,
            user_agent: None,
            error_code: None,
            error_message: None,
            read_only: Some(false),
            account_id: "1".into(),
            user_identity_type: None,
            user_arn: None,
            principal_id: None,
            invoked_by: None,
            user_name: None,
            request_parameters: Some(
                json!({"autoScalingGroupName": group, "maxSize": 3, "f": 0.5, "n": null, "l": [true]}),
            ),
            response_elements: None,
            source_object: "s3://b/k".into(),
            expires_at: None,
            omitted: std::collections::BTreeMap::new(),
        }
    }

    /// A fake table: records every call; scripted answers per call, then success.
    #[derive(Default)]
    struct Fake {
        calls: Mutex<Vec<Vec<String>>>,
        script: Mutex<Vec<Result<Vec<usize>, BatchError>>>,
    }

    impl BatchWriter for Fake {
        async fn write_batch(
            &self,
            _table: &str,
            items: &[Item],
        ) -> Result<Vec<usize>, BatchError> {
            assert!(items.len() <= MAX_BATCH, "batch of {}", items.len());
            let mut keys: Vec<String> = items.iter().map(|i| format!("{:?}", i.key())).collect();
            self.calls.lock().expect("lock").push(keys.clone());
            keys.sort();
            keys.dedup();
            assert_eq!(keys.len(), items.len(), "duplicate keys in one call");
            let mut script = self.script.lock().expect("lock");
            if script.is_empty() {
                Ok(Vec::new())
            } else {
                script.remove(0)
            }
        }
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: std::time::Duration::from_millis(1),
            max_delay: std::time::Duration::from_millis(2),
            ..RetryPolicy::default()
        }
    }

    fn throttled() -> BatchError {
        BatchError {
            retryable: true,
            throttled: true,
            message: "ProvisionedThroughputExceededException".into(),
        }
    }

    #[tokio::test]
    async fn batches_of_25_with_distinct_keys() {
        let fake = Fake::default();
        let mut items: Vec<Item> = (0..60).map(|i| item("g", &i.to_string())).collect();
        items.push(item("g", "7"));
        items.push(item("h", "7"));
        let stats = write_all(&fake, "t", items, &fast())
            .await
            .expect("written");
        assert_eq!(
            stats,
            WriteStats {
                items: 61,
                duplicates: 1,
                calls: 3,
                retries: 0
            }
        );
        let calls = fake.calls.lock().expect("lock");
        assert_eq!(calls.iter().map(Vec::len).collect::<Vec<_>>(), [25, 25, 11]);
    }

    /// A table that takes its time, and notes how many calls overlap.
    #[derive(Default)]
    struct Slow {
        now: std::sync::atomic::AtomicUsize,
        most: std::sync::atomic::AtomicUsize,
        calls: std::sync::atomic::AtomicUsize,
        fail_from_call: Option<usize>,
    }

    impl BatchWriter for Slow {
        async fn write_batch(
            &self,
            _table: &str,
            items: &[Item],
        ) -> Result<Vec<usize>, BatchError> {
            use std::sync::atomic::Ordering::SeqCst;
            let call = self.calls.fetch_add(1, SeqCst) + 1;
            let now = self.now.fetch_add(1, SeqCst) + 1;
            self.most.fetch_max(now, SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            self.now.fetch_sub(1, SeqCst);
            if self.fail_from_call.is_some_and(|n| call >= n) {
                return Err(BatchError {
                    retryable: false,
                    throttled: false,
                    message: "ValidationException".into(),
                });
            }
            assert!(items.len() <= MAX_BATCH);
            Ok(Vec::new())
        }
    }

    #[tokio::test]
    async fn a_stream_is_written_with_bounded_concurrency_and_holds_the_producer_back() {
        use std::sync::atomic::Ordering::SeqCst;
        let table = Slow::default();
        let (tx, rx) = tokio::sync::mpsc::channel(10);
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = sent.clone();
        let producer = tokio::spawn(async move {
            for i in 0..1000 {
                tx.send(item("g", &i.to_string()))
                    .await
                    .expect("writer reads to the end");
                counter.fetch_add(1, SeqCst);
            }
        });
        // While the first batches are in flight, the producer cannot run far ahead.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        let ahead = sent.load(SeqCst);
        let stats = write_stream(&table, "t", rx, &fast(), 3)
            .await
            .expect("written");
        producer.await.expect("producer");
        assert_eq!(stats.items, 1000);
        assert_eq!(
            stats.calls, 40,
            "ceil(1000 / 25) calls when nothing is throttled"
        );
        assert_eq!(
            table.most.load(SeqCst),
            3,
            "at most 3 batches in flight, and 3 used"
        );
        assert!(
            ahead <= 10 + 3 * 25 + 25,
            "the producer ran {ahead} items ahead"
        );
    }

    #[tokio::test]
    async fn after_a_failed_batch_the_stream_is_drained_and_counted() {
        let table = Slow {
            fail_from_call: Some(2),
            ..Slow::default()
        };
        let (tx, rx) = tokio::sync::mpsc::channel(5);
        let producer = tokio::spawn(async move {
            for i in 0..200 {
                tx.send(item("g", &i.to_string()))
                    .await
                    .expect("never closed early");
            }
        });
        let err = write_stream(&table, "t", rx, &fast(), 1)
            .await
            .expect_err("fails");
        producer
            .await
            .expect("the producer finished: the writer kept reading");
        assert_eq!((err.total, err.unwritten), (200, 175));
        assert_eq!(
            table.calls.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "no batch after the failure"
        );
    }

    #[tokio::test]
    async fn unprocessed_items_are_retried_until_written() {
        let fake = Fake::default();
        fake.script
            .lock()
            .expect("lock")
            .extend([Ok(vec![1, 3]), Err(throttled()), Ok(vec![0])]);
        let items: Vec<Item> = (0..5).map(|i| item("g", &i.to_string())).collect();
        let stats = write_all(&fake, "t", items, &fast())
            .await
            .expect("written");
        assert_eq!((stats.calls, stats.retries, stats.items), (4, 3, 5));
        let calls = fake.calls.lock().expect("lock");
        assert_eq!(
            calls[1], calls[2],
            "the throttled call is repeated as it was"
        );
        assert_eq!(calls[1].len(), 2);
        assert!(
            calls[1][0].ends_with("#1\")") && calls[1][1].ends_with("#3\")"),
            "{calls:?}"
        );
        assert_eq!(calls[3], [calls[1][0].clone()]);
    }

    fn server_error() -> BatchError {
        BatchError {
            retryable: true,
            throttled: false,
            message: "InternalServerError: oops".into(),
        }
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts_of_hard_failures_and_says_how_many_were_lost() {
        let fake = Fake::default();
        fake.script.lock().expect("lock").extend([
            Ok(vec![0, 1]),
            Err(server_error()),
            Err(throttled()),
            Err(server_error()),
            Err(server_error()),
            Err(server_error()),
            Ok(vec![]),
        ]);
        let items: Vec<Item> = (0..30).map(|i| item("g", &i.to_string())).collect();
        let err = write_all(&fake, "t", items, &fast())
            .await
            .expect_err("must fail");
        // 4 hard failures (the limit), the throttled calls not counted: 6 calls.
        assert_eq!((err.unwritten, err.total, err.attempts), (7, 30, 6));
        assert!(
            err.to_string()
                .contains("giving up after 4 failed call(s) (2 throttled besides)"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn throttling_slows_the_writer_down_but_does_not_make_it_give_up() {
        let fake = Fake::default();
        fake.script.lock().expect("lock").extend((0..30).map(|i| {
            if i % 2 == 0 {
                Err(throttled())
            } else {
                Ok(vec![0])
            }
        }));
        let items: Vec<Item> = (0..3).map(|i| item("g", &i.to_string())).collect();
        let stats = write_all(&fake, "t", items, &fast())
            .await
            .expect("written in the end");
        assert_eq!((stats.items, stats.calls), (3, 31), "{stats:?}");
    }

    #[tokio::test]
    async fn endless_throttling_stops_before_the_deadline_less_the_margin() {
        let fake = Fake::default();
        fake.script
            .lock()
            .expect("lock")
            .extend((0..100_000).map(|_| Err(throttled())));
        let policy = RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(2),
            max_delay: Duration::from_millis(20),
            deadline_margin: Duration::from_millis(300),
            ..RetryPolicy::default()
        };
        let started = Instant::now();
        let deadline = started + Duration::from_millis(800);
        let items: Vec<Item> = (0..30).map(|i| item("g", &i.to_string())).collect();
        let err = write_all(&fake, "t", items, &policy.until(Some(deadline)))
            .await
            .expect_err("must fail");
        let took = started.elapsed();
        assert!(
            took <= Duration::from_millis(560) && took >= Duration::from_millis(400),
            "stops by the deadline (800 ms) less the margin (300 ms): {took:?}"
        );
        assert!(err.attempts > 2, "throttling is not counted: {err:?}");
        assert_eq!(err.unwritten, 30);
        assert!(
            err.message.contains("the invocation's deadline is near"),
            "{err}"
        );
        // Without a deadline, WRITE_MAX_ELAPSED_MS bounds it.
        let policy = RetryPolicy {
            max_elapsed: Duration::from_millis(200),
            ..policy
        };
        let err = write_all(&fake, "t", vec![item("g", "x")], &policy)
            .await
            .expect_err("must fail");
        assert!(err.message.contains("WRITE_MAX_ELAPSED_MS"), "{err}");
    }

    /// A writer whose first call never answers.
    struct Hangs(Mutex<u32>);

    impl BatchWriter for Hangs {
        async fn write_batch(&self, _: &str, _: &[Item]) -> Result<Vec<usize>, BatchError> {
            let first = {
                let mut calls = self.0.lock().expect("lock");
                *calls += 1;
                *calls == 1
            };
            if first {
                std::future::pending::<()>().await;
            }
            Ok(Vec::new())
        }
    }

    #[tokio::test]
    async fn a_call_that_hangs_is_abandoned_and_retried() {
        let policy = RetryPolicy {
            attempt_timeout: Duration::from_millis(100),
            ..fast()
        };
        let writer = Hangs(Mutex::new(0));
        let stats = write_all(&writer, "t", vec![item("g", "1")], &policy)
            .await
            .expect("the retry succeeds");
        assert_eq!((stats.calls, stats.retries), (2, 1));
    }

    #[tokio::test]
    async fn no_time_left_means_no_call() {
        let fake = Fake::default();
        let policy = fast().until(Some(Instant::now()));
        let err = write_all(&fake, "t", vec![item("g", "1")], &policy)
            .await
            .expect_err("no time");
        assert_eq!((err.attempts, err.unwritten), (0, 1));
        assert!(fake.calls.lock().expect("lock").is_empty());
    }

    #[test]
    fn an_item_over_400_kb_loses_its_largest_attributes_not_its_keys() {
        let mut big = item("g", "1");
        big.request_parameters =
            Some(json!({"autoScalingGroupName": "g", "blob": "x".repeat(500_000)}));
        big.response_elements = Some(json!({"small": [1, 2, 3]}));
        let attrs = to_attributes(&big);
        assert!(!attrs.contains_key("requestParameters"));
        assert!(
            attrs.contains_key("responseElements"),
            "only what is needed"
        );
        assert_eq!(attrs["groupName"], AttributeValue::S("g".into()));
        let omitted = to_json(&attrs)["omitted"].clone();
        assert_eq!(
            omitted,
            json!({"requestParameters": {
                "reason": "the item would be over DynamoDB's 400 KB limit",
                "bytes": serde_json::to_string(&big.request_parameters).expect("json").len()
            }})
        );
        let size: usize = to_json(&attrs)
            .as_object()
            .expect("object")
            .iter()
            .map(|(k, v)| k.len() + attribute_size(v))
            .sum();
        assert!(size <= MAX_ITEM_BYTES, "{size}");
        // Two big maps, each under the limit, together over it: the larger one goes.
        let mut two = item("g", "2");
        two.request_parameters = Some(json!({"a": "x".repeat(250_000)}));
        two.response_elements = Some(json!({"b": "y".repeat(260_000)}));
        let attrs = to_attributes(&two);
        assert!(attrs.contains_key("requestParameters"));
        assert!(!attrs.contains_key("responseElements"));
        // An item that fits is left alone.
        assert!(!to_attributes(&item("g", "3")).contains_key("omitted"));
    }

    #[test]
    fn attribute_sizes_err_on_the_large_side() {
        assert_eq!(attribute_size(&json!("abc")), 3);
        assert_eq!(attribute_size(&json!("é")), 2);
        assert_eq!(attribute_size(&json!(true)), 1);
        assert_eq!(attribute_size(&json!(12345)), 6);
        assert_eq!(attribute_size(&json!({"ab": "c"})), 3 + 1 + 2 + 1);
        assert_eq!(attribute_size(&json!([1, "x"])), 3 + (1 + 2) + (1 + 1));
    }

    #[tokio::test]
    async fn non_retryable_errors_fail_at_once() {
        let fake = Fake::default();
        fake.script.lock().expect("lock").push(Err(BatchError {
            retryable: false,
            throttled: false,
            message: "ResourceNotFoundException: table t".into(),
        }));
        let items: Vec<Item> = (0..3).map(|i| item("g", &i.to_string())).collect();
        let err = write_all(&fake, "t", items, &fast())
            .await
            .expect_err("must fail");
        assert_eq!((err.unwritten, err.attempts), (3, 1));
        assert_eq!(fake.calls.lock().expect("lock").len(), 1);
    }

    #[test]
    fn attributes_round_trip_through_plain_json() {
        let it = item("web", "1");
        let attrs = to_attributes(&it);
        assert_eq!(attrs["groupName"], AttributeValue::S("web".into()));
        assert_eq!(attrs["readOnly"], AttributeValue::Bool(false));
        assert!(!attrs.contains_key("errorCode"), "absent, never NULL");
        let AttributeValue::M(params) = &attrs["requestParameters"] else {
            panic!("map")
        };
        assert_eq!(params["maxSize"], AttributeValue::N("3".into()));
        assert_eq!(params["n"], AttributeValue::Null(true));
        assert_eq!(to_json(&attrs), serde_json::to_value(&it).expect("json"));
    }

    #[test]
    fn group_names_are_a_string_set_and_absent_when_empty() {
        let mut it = item("web", "1");
        it.group_names = vec!["api".into(), "web".into()];
        let attrs = to_attributes(&it);
        assert_eq!(
            attrs["groupNames"],
            AttributeValue::Ss(vec!["api".into(), "web".into()])
        );
        assert_eq!(attrs["origin"], AttributeValue::S("api".into()));
        // DynamoDB hands sets back in any order; the JSON form is sorted.
        let mut back = attrs.clone();
        back.insert(
            "groupNames".into(),
            AttributeValue::Ss(vec!["web".into(), "api".into()]),
        );
        assert_eq!(to_json(&back), serde_json::to_value(&it).expect("json"));
        it.group_names.clear();
        assert!(
            !to_attributes(&it).contains_key("groupNames"),
            "no empty set"
        );
    }

    #[test]
    fn numbers_dynamodb_cannot_hold_are_kept_as_text() {
        assert_eq!(
            to_attribute(json!(1e300)),
            AttributeValue::S("1e+300".into())
        );
        assert_eq!(to_attribute(json!(-12)), AttributeValue::N("-12".into()));
        assert_eq!(to_attribute(json!(0.0)), AttributeValue::N("0.0".into()));
    }

    #[test]
    fn expires_at_is_written_as_a_number() {
        let mut it = item("g", "1");
        assert!(!to_attributes(&it).contains_key("expiresAt"));
        it.expires_at = Some(1_712_232_000);
        assert_eq!(
            to_attributes(&it).get("expiresAt"),
            Some(&AttributeValue::N("1712232000".into()))
        );
    }

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.to_owned())
    }

    #[test]
    fn the_partition_is_chosen_never_a_scan() {
        let q = |g: Option<&str>, e: Option<&str>, u: Option<&str>| {
            QuerySpec::choose(g.map(Into::into), e.map(Into::into), u.map(Into::into))
        };
        let arn = "arn:aws:iam::1:user/bob";
        let spec = q(Some("web"), Some("SetDesiredCapacity"), Some("bob")).expect("ok");
        assert_eq!(spec.target, QueryTarget::Group("web".into()));
        assert_eq!(spec.event_name.as_deref(), Some("SetDesiredCapacity"));
        assert_eq!(spec.user_name.as_deref(), Some("bob"));
        let spec = q(None, Some("SetDesiredCapacity"), Some(arn)).expect("ok");
        assert_eq!(spec.target, QueryTarget::User(arn.into()));
        assert_eq!(spec.event_name.as_deref(), Some("SetDesiredCapacity"));
        assert_eq!(spec.user_arn, None);
        let spec = q(None, Some("SetDesiredCapacity"), Some("bob")).expect("ok");
        assert_eq!(
            spec.target,
            QueryTarget::EventName("SetDesiredCapacity".into())
        );
        assert_eq!(
            (spec.event_name, spec.user_name.as_deref()),
            (None, Some("bob"))
        );
        let e = q(None, None, Some("bob")).expect_err("a name has no index");
        assert!(e.contains("not an ARN"), "{e}");
        assert!(q(None, None, None).expect_err("nothing").contains("never"));
    }

    #[test]
    fn plans_use_the_key_for_time_and_filters_for_the_rest() {
        let mut spec = QuerySpec::new(QueryTarget::EventName("UpdateAutoScalingGroup".into()));
        spec.range = TimeRange {
            since: Some("2024-03-01".into()),
            until: Some("2024-03-05".into()),
        };
        spec.account = Some("123".into());
        spec.errors_only = true;
        spec.user_name = Some("alice".into());
        spec.newest_first = true;
        let p = plan(&spec);
        assert_eq!(p.index, Some(BY_EVENT_NAME));
        assert_eq!(p.key_condition, "#p = :p AND #k BETWEEN :lo AND :hi");
        assert_eq!(
            p.filter.as_deref(),
            Some("#ac = :ac AND (#un = :un OR contains(#ua2, :us)) AND attribute_exists(#ec)")
        );
        assert!(!p.consistent && !p.forward);
        assert!(p.names.contains(&("#p".into(), "eventName".into())));
        assert!(p.values.contains(&(":hi".into(), s("2024-03-05~"))));
        assert!(p.values.contains(&(":us".into(), s("/alice"))));
        let p = plan(&QuerySpec::new(QueryTarget::Group("web".into())));
        assert_eq!(
            (p.index, p.key_condition.as_str(), p.filter),
            (None, "#p = :p", None)
        );
        assert!(p.consistent && p.forward);
        let p = plan(&QuerySpec::new(QueryTarget::User(
            "arn:aws:iam::1:user/b".into(),
        )));
        assert_eq!(p.index, Some(BY_USER));
    }

    #[test]
    fn user_names_match_exactly() {
        let item = |name: Option<&str>, arn: &str| {
            let mut m = HashMap::from([("userArn".to_owned(), s(arn))]);
            if let Some(n) = name {
                m.insert("userName".into(), s(n));
            }
            m
        };
        let role = item(
            Some("ops-admin"),
            "arn:aws:sts::1:assumed-role/ops-admin/alice@example.com",
        );
        assert!(matches_user_name(&role, "ops-admin"));
        assert!(matches_user_name(&role, "alice@example.com"));
        assert!(!matches_user_name(&role, "alice"));
        assert!(!matches_user_name(&role, "ops"));
        assert!(matches_user_name(
            &item(None, "arn:aws:iam::1:user/bob"),
            "bob"
        ));
    }

    mod sdk {
        //! The DynamoDB adapter against the SDK's own mock layer: what the real client returns,
        //! mapped as the writer expects.
        use super::*;
        use aws_sdk_dynamodb::Client;
        use aws_sdk_dynamodb::config::http::HttpResponse;
        use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemOutput;
        // The DynamoDB crate does not re-export the body type; it is the same smithy type.
        use aws_sdk_s3::primitives::SdkBody;
        use aws_smithy_mocks::{RuleMode, mock, mock_client};

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

        /// A DynamoDB error response as the service sends it.
        fn ddb_error(status: u16, code: &str, message: &str) -> HttpResponse {
            let mut response = HttpResponse::new(
                status.try_into().expect("status"),
                SdkBody::from(format!(
                    r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"{message}"}}"#
                )),
            );
            response
                .headers_mut()
                .insert("content-type", "application/x-amz-json-1.0");
            response
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
    }
}
