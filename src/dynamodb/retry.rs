//! The write loop: [`write_stream`] takes items from a queue as the file is read, drops
//! duplicate keys, sends batches of at most [`MAX_BATCH`] with up to `concurrency` in flight, and
//! retries each batch (what DynamoDB leaves in `UnprocessedItems`, throttled calls, failed calls)
//! with exponential backoff and full jitter until it is written or the attempts or the time run
//! out. Throttling slows it down but never makes it give up before the time is up (see
//! [`RetryPolicy`]); the SDK's own retries are off for BatchWriteItem, so this loop is the only
//! one, and it knows the deadline. The first batch that cannot be written closes the queue, so
//! the producer can stop reading the file.
//!
//! The same loop carries the prune's deletes ([`delete_batch_retrying`]): one batch of keys,
//! retried with the same policy and the same handling of `UnprocessedItems` and throttling.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc::Receiver;

use super::write::{BatchDeleter, BatchError, BatchWriter, MAX_BATCH};
use crate::config::RetryPolicy;
use crate::error::WriteError;
use crate::item::Item;

/// What [`write_stream`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Items written (after dropping duplicate keys).
    pub items: usize,
    /// Duplicate keys dropped (the first item with a key is kept, later ones are dropped).
    pub duplicates: usize,
    /// BatchWriteItem calls made.
    pub calls: u32,
    /// Of which retries.
    pub retries: u32,
}

/// Writes items as they arrive from `items` (while the file is still being read), in batches
/// of at most 25 with distinct keys, with up to `concurrency` batches in flight. When that many
/// are in flight it stops taking items, so a bounded channel upstream holds the producer back:
/// memory stays flat whatever the file size.
///
/// The first item with a key is kept; a later one with the same key is dropped (same key, same
/// event: writing it again would only overwrite it). Each batch retries what DynamoDB leaves in
/// `UnprocessedItems`, and throttled or failed calls, with exponential backoff and full jitter
/// (see [`RetryPolicy`] for when it stops).
///
/// The first batch that cannot be written closes the queue: no new batch is sent, the
/// producer's next send fails (so it can stop reading the file), and only the items already in
/// the queue are taken, to be counted. Batches already in flight finish.
///
/// # Errors
/// A [`WriteError`] (the first failure) when any item could not be written: `total` counts the
/// distinct items taken from the queue, `unwritten` those of them not known to be written.
pub async fn write_stream<W: BatchWriter>(
    writer: &W,
    table: &str,
    mut items: Receiver<Item>,
    policy: &RetryPolicy,
    concurrency: usize,
) -> Result<WriteStats, WriteError> {
    let concurrency = concurrency.max(1);
    let puts = Puts(writer);
    let stop = StopAt::new(policy);
    let mut taken = Taken::default();
    let mut stats = WriteStats::default();
    let mut batch: Vec<Item> = Vec::with_capacity(MAX_BATCH);
    let mut in_flight = FuturesUnordered::new();
    let mut failure: Option<BatchFailure> = None;
    while failure.is_none() {
        tokio::select! {
            Some(outcome) = in_flight.next(), if !in_flight.is_empty() => {
                stats.record(outcome, &mut failure);
            }
            next = items.recv(), if in_flight.len() < concurrency => {
                let Some(item) = next else { break };
                if !taken.take(&item, &mut stats) {
                    continue;
                }
                batch.push(item);
                if batch.len() == MAX_BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(MAX_BATCH));
                    in_flight.push(write_batch_retrying(&puts, table, full, policy, &stop));
                }
            }
        }
    }
    // Whether the producer was still sending when a batch failed (it has not dropped its end).
    let cut_short = failure.is_some() && !items.is_closed();
    if failure.is_some() {
        items.close();
        while let Some(item) = items.recv().await {
            taken.take(&item, &mut stats);
        }
    } else if !batch.is_empty() {
        in_flight.push(write_batch_retrying(&puts, table, batch, policy, &stop));
    }
    while let Some(outcome) = in_flight.next().await {
        stats.record(outcome, &mut failure);
    }
    match failure {
        None => Ok(stats),
        Some(f) => Err(WriteError {
            table: table.to_owned(),
            unwritten: taken.unique - stats.items,
            total: taken.unique,
            attempts: f.attempts,
            message: if cut_short {
                format!(
                    "{}; the first failure closed the queue: the rest of the file was not read",
                    f.message
                )
            } else {
                f.message
            },
            last_call: f.last_call.map(Box::new),
        }),
    }
}

/// The keys taken from the queue so far.
#[derive(Default)]
struct Taken {
    keys: HashSet<(String, String)>,
    unique: usize,
}

impl Taken {
    /// Notes `item`'s key; false (and a duplicate counted) when it was already taken.
    fn take(&mut self, item: &Item, stats: &mut WriteStats) -> bool {
        if self
            .keys
            .insert((item.group_name.clone(), item.event_key.clone()))
        {
            self.unique += 1;
            true
        } else {
            stats.duplicates += 1;
            false
        }
    }
}

impl WriteStats {
    /// Adds what a batch came to, keeping the first failure.
    fn record(&mut self, outcome: BatchOutcome, failure: &mut Option<BatchFailure>) {
        self.items += outcome.written;
        self.calls += outcome.calls;
        self.retries += outcome.calls.saturating_sub(1);
        if let Some(f) = outcome.failure {
            failure.get_or_insert(f);
        }
    }
}

/// What one batch came to.
pub(super) struct BatchOutcome {
    /// Requests of the batch carried out (items written, keys deleted).
    pub(super) written: usize,
    /// BatchWriteItem calls made.
    pub(super) calls: u32,
    /// Why the rest was given up, if it was.
    pub(super) failure: Option<BatchFailure>,
}

/// Why a batch was given up.
pub(super) struct BatchFailure {
    /// Calls made.
    pub(super) attempts: u32,
    /// The last error, or why the retries stopped.
    pub(super) message: String,
    /// The last failed call, when there was one (not when the time ran out, or when only
    /// `UnprocessedItems` came back).
    pub(super) last_call: Option<BatchError>,
}

/// An item's key attributes, as a delete request carries them.
type Key = HashMap<String, AttributeValue>;

/// One BatchWriteItem call of a batch of requests of one kind: what the retry loop sends, so
/// that puts and deletes share it.
trait Call<T>: Sync {
    /// Sends `batch`; the positions in it of the requests left unprocessed.
    fn send(
        &self,
        table: &str,
        batch: &[T],
    ) -> impl Future<Output = Result<Vec<usize>, BatchError>> + Send;
}

/// Puts of items, through a [`BatchWriter`].
struct Puts<'a, W>(&'a W);

impl<W: BatchWriter> Call<Item> for Puts<'_, W> {
    fn send(
        &self,
        table: &str,
        batch: &[Item],
    ) -> impl Future<Output = Result<Vec<usize>, BatchError>> + Send {
        self.0.write_batch(table, batch)
    }
}

/// Deletes of keys, through a [`BatchDeleter`].
struct Deletes<'a, D>(&'a D);

impl<D: BatchDeleter> Call<Key> for Deletes<'_, D> {
    fn send(
        &self,
        table: &str,
        batch: &[Key],
    ) -> impl Future<Output = Result<Vec<usize>, BatchError>> + Send {
        self.0.delete_batch(table, batch)
    }
}

/// Deletes `keys` (at most [`MAX_BATCH`], distinct) from `table` as one batch, retried as
/// [`write_stream`] retries a batch of puts: what DynamoDB leaves in `UnprocessedItems` and
/// throttled calls until the stop time (`policy.max_elapsed` from now, or the deadline less
/// the margin), other retryable failures up to `policy.max_attempts` calls.
pub(super) async fn delete_batch_retrying<D: BatchDeleter>(
    deleter: &D,
    table: &str,
    keys: Vec<Key>,
    policy: &RetryPolicy,
) -> BatchOutcome {
    let stop = StopAt::new(policy);
    write_batch_retrying(&Deletes(deleter), table, keys, policy, &stop).await
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

/// What a call's answer means for its batch.
enum Verdict {
    /// Every item is written.
    Written,
    /// Worth another call. Throttling (including `UnprocessedItems`) is not counted against
    /// the attempts; other retryable failures are. `error` is the failed call's, if it failed.
    Retry {
        throttled: bool,
        message: String,
        error: Option<BatchError>,
    },
    /// Retrying cannot help.
    Fatal(BatchError),
}

/// Reads a call's answer; on `UnprocessedItems`, narrows `pending` to the requests left.
fn classify<T: Clone>(answer: Result<Vec<usize>, BatchError>, pending: &mut Vec<T>) -> Verdict {
    match answer {
        Ok(unprocessed) if unprocessed.is_empty() => Verdict::Written,
        Ok(unprocessed) => {
            let message = format!("{} item(s) left in UnprocessedItems", unprocessed.len());
            let left = unprocessed
                .into_iter()
                .filter_map(|i| pending.get(i).cloned())
                .collect();
            *pending = left;
            Verdict::Retry {
                throttled: true,
                message,
                error: None,
            }
        }
        Err(e) if e.retryable => Verdict::Retry {
            throttled: e.throttled,
            message: e.message.clone(),
            error: Some(e),
        },
        Err(e) => Verdict::Fatal(e),
    }
}

/// One BatchWriteItem call, abandoned (as a retryable failure) when it does not answer within
/// `timeout`.
async fn call<T, C: Call<T>>(
    writer: &C,
    table: &str,
    items: &[T],
    timeout: Duration,
) -> Result<Vec<usize>, BatchError> {
    tokio::time::timeout(timeout, writer.send(table, items))
        .await
        .unwrap_or_else(|_| {
            Err(BatchError {
                retryable: true,
                ..BatchError::new(format!(
                    "no answer within {} ms: call abandoned (writes are idempotent)",
                    timeout.as_millis()
                ))
            })
        })
}

/// One batch, retried until written, out of time, out of attempts, or failed for good.
/// Throttling (including `UnprocessedItems`) is retried until the stop time and never counts
/// against `policy.max_attempts`; other retryable failures (5xx, resets, calls with no answer
/// within `policy.attempt_timeout`) do.
async fn write_batch_retrying<T: Clone, C: Call<T>>(
    writer: &C,
    table: &str,
    batch: Vec<T>,
    policy: &RetryPolicy,
    stop: &StopAt,
) -> BatchOutcome {
    let size = batch.len();
    let mut pending = batch;
    let (mut attempt, mut failures, mut throttles) = (0, 0, 0);
    let mut last_call = None;
    let fail = |pending: &[T], attempt, message, last_call| BatchOutcome {
        written: size - pending.len(),
        calls: attempt,
        failure: Some(BatchFailure {
            attempts: attempt,
            message,
            last_call,
        }),
    };
    loop {
        let left = stop.at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let message = format!("no time left to write: {}", stop.why);
            return fail(&pending, attempt, message, last_call);
        }
        attempt += 1;
        let answer = call(writer, table, &pending, policy.attempt_timeout.min(left)).await;
        let message = match classify(answer, &mut pending) {
            Verdict::Written => {
                return BatchOutcome {
                    written: size,
                    calls: attempt,
                    failure: None,
                };
            }
            Verdict::Fatal(e) => return fail(&pending, attempt, e.message.clone(), Some(e)),
            Verdict::Retry {
                throttled,
                message,
                error,
            } => {
                if throttled {
                    throttles += 1;
                } else {
                    failures += 1;
                }
                last_call = error;
                message
            }
        };
        if failures >= policy.max_attempts {
            let message = format!(
                "giving up after {failures} failed call(s) ({throttles} throttled besides): {message}"
            );
            return fail(&pending, attempt, message, last_call);
        }
        let delay = policy.delay(attempt);
        if Instant::now() + delay >= stop.at {
            let message = format!(
                "stopped retrying: {}, after {throttles} throttled and {failures} failed call(s): {message}",
                stop.why
            );
            return fail(&pending, attempt, message, last_call);
        }
        tracing::debug!(table, attempt, throttles, failures, pending = pending.len(), %message, "retrying batch");
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamodb::testing::{fast, item, write_all};
    use std::sync::Mutex;

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

    fn throttled() -> BatchError {
        BatchError {
            retryable: true,
            throttled: true,
            ..BatchError::new("ProvisionedThroughputExceededException")
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
                return Err(BatchError::new("ValidationException"));
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
    async fn the_first_failure_closes_the_queue_and_counts_what_was_buffered() {
        use std::sync::atomic::Ordering::SeqCst;
        let table = Slow {
            fail_from_call: Some(2),
            ..Slow::default()
        };
        let (tx, rx) = tokio::sync::mpsc::channel(5);
        let producer = tokio::spawn(async move {
            let mut sent = 0;
            for i in 0..200 {
                if tx.send(item("g", &i.to_string())).await.is_err() {
                    break;
                }
                sent += 1;
            }
            sent
        });
        let err = write_stream(&table, "t", rx, &fast(), 1)
            .await
            .expect_err("fails");
        let sent = producer.await.expect("producer");
        // One batch at a time: 25 written, 25 in the failed call, and the 5 the queue held
        // while it was in flight; the producer's next send failed.
        assert_eq!(sent, 55, "the producer stopped soon after the failure");
        assert_eq!((err.total, err.unwritten), (55, 30));
        assert_eq!(table.calls.load(SeqCst), 2, "no batch after the failure");
        assert!(
            err.message.ends_with("the rest of the file was not read"),
            "{err}"
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
            ..BatchError::new("InternalServerError: oops")
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

    #[tokio::test]
    async fn non_retryable_errors_fail_at_once() {
        let fake = Fake::default();
        fake.script
            .lock()
            .expect("lock")
            .push(Err(BatchError::new("ResourceNotFoundException: table t")));
        let items: Vec<Item> = (0..3).map(|i| item("g", &i.to_string())).collect();
        let err = write_all(&fake, "t", items, &fast())
            .await
            .expect_err("must fail");
        assert_eq!((err.unwritten, err.attempts), (3, 1));
        assert_eq!(fake.calls.lock().expect("lock").len(), 1);
        assert_eq!(err.message, "ResourceNotFoundException: table t");
        let last = err.last_call.expect("the failed call is the source");
        assert_eq!(last.message, "ResourceNotFoundException: table t");
    }
}
