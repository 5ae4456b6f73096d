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

use std::collections::HashMap;
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

/// Writes every item, in batches of at most 25 with distinct keys, retrying unprocessed items
/// and retryable failures with backoff (see [`RetryPolicy`] for when it stops).
///
/// # Errors
/// A [`WriteError`] when a batch still has unwritten items after `policy.max_attempts` failed
/// calls (throttling not counted) or when the time is up (`policy.max_elapsed`, or the deadline
/// less the margin), or at once on an error retrying cannot fix. Batches before it were
/// written; `unwritten` counts all items not known to be written.
pub async fn write_all<W: BatchWriter>(
    writer: &W,
    table: &str,
    items: Vec<Item>,
    policy: &RetryPolicy,
) -> Result<WriteStats, WriteError> {
    let (items, duplicates) = dedupe(items);
    let total = items.len();
    let mut stats = WriteStats {
        duplicates,
        ..WriteStats::default()
    };
    let started = Instant::now();
    let stop = policy.stop_time(started);
    let out_of_time = if policy.deadline.is_some() && stop < started + policy.max_elapsed {
        "the invocation's deadline is near (DEADLINE_MARGIN_MS is kept to report this)"
    } else {
        "the time limit WRITE_MAX_ELAPSED_MS is reached"
    };
    for (index, chunk) in items.chunks(MAX_BATCH).enumerate() {
        let mut pending: Vec<Item> = chunk.to_vec();
        let (mut attempt, mut failures, mut throttles) = (0, 0, 0);
        let fail = |pending: &[Item], attempts: u32, message: String| WriteError {
            table: table.to_owned(),
            unwritten: total - index * MAX_BATCH - (chunk.len() - pending.len()),
            total,
            attempts,
            message,
        };
        loop {
            let left = stop.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(fail(
                    &pending,
                    attempt,
                    format!("no time left to write: {out_of_time}"),
                ));
            }
            attempt += 1;
            stats.calls += 1;
            let timeout = policy.attempt_timeout.min(left);
            let outcome =
                match tokio::time::timeout(timeout, writer.write_batch(table, &pending)).await {
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
                Ok(unprocessed) if unprocessed.is_empty() => break,
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
                Err(e) => return Err(fail(&pending, attempt, e.message)),
            };
            if failures >= policy.max_attempts {
                return Err(fail(
                    &pending,
                    attempt,
                    format!(
                        "giving up after {failures} failed call(s) ({throttles} throttled besides): {message}"
                    ),
                ));
            }
            let delay = policy.delay(attempt);
            if Instant::now() + delay >= stop {
                return Err(fail(
                    &pending,
                    attempt,
                    format!(
                        "stopped retrying: {out_of_time}, after {throttles} throttled and {failures} failed call(s): {message}"
                    ),
                ));
            }
            stats.retries += 1;
            tracing::debug!(table, attempt, throttles, failures, pending = pending.len(), %message, "retrying batch");
            tokio::time::sleep(delay).await;
        }
    }
    stats.items = total;
    Ok(stats)
}

/// Keeps the last item of each key, in first-seen order of the keys.
fn dedupe(items: Vec<Item>) -> (Vec<Item>, usize) {
    let mut position: HashMap<(String, String), usize> = HashMap::with_capacity(items.len());
    let mut out: Vec<Item> = Vec::with_capacity(items.len());
    let mut duplicates = 0;
    for item in items {
        let key = (item.group_name.clone(), item.event_key.clone());
        if let Some(&at) = position.get(&key) {
            out[at] = item;
            duplicates += 1;
        } else {
            position.insert(key, out.len());
            out.push(item);
        }
    }
    (out, duplicates)
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
    let mut condition = "#g = :g".to_owned();
    let mut request = client
        .query()
        .table_name(table)
        .expression_attribute_names("#g", PARTITION_KEY)
        .expression_attribute_values(":g", AttributeValue::S(group.to_owned()))
        .scan_index_forward(true)
        .consistent_read(true);
    let bounds = (range.since.as_deref(), range.until.as_deref());
    // '~' sorts after every character of an event key's time and separator, so `until~`
    // is past every key that starts with `until`.
    let until = |u: &str| AttributeValue::S(format!("{u}~"));
    let key_condition = match bounds {
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
    if let Some((clause, values)) = key_condition {
        condition.push_str(clause);
        request = request.expression_attribute_names("#k", SORT_KEY);
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
    }
    let mut pages = request
        .key_condition_expression(condition)
        .into_paginator()
        .items()
        .send();
    let mut items = Vec::new();
    while let Some(item) = pages.next().await {
        items.push(item.map_err(|e| crate::aws::describe_error(&e))?);
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
