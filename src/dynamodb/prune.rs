//! Removing the read-only calls an earlier release kept forever: the items with `readOnly` true
//! and no `expiresAt`. One Scan of the table, filtered to those items and reading their keys
//! only, then BatchWriteItem deletes of at most 25 keys through the writer's retry loop
//! (`retry`): the same [`RetryPolicy`] (`WRITE_*`), the same handling of `UnprocessedItems` and
//! throttling as the writes of the Lambda. The one migration command of "Upgrading" in
//! docs/deploy.md.

use aws_sdk_dynamodb::types::AttributeValue;

use super::MAX_BATCH;
use super::retry::delete_batch_retrying;
use super::write::DynamoDbWriter;
use crate::aws::describe_error;
use crate::config::RetryPolicy;
use crate::error::BoxError;
use crate::item::{PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE};

/// What a prune found and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneStats {
    /// Items the Scan read (what it cost).
    pub scanned: u64,
    /// Read-only calls without `expiresAt` found.
    pub matched: u64,
    /// Of those, deleted.
    pub deleted: u64,
}

/// Why a prune stopped.
#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    /// A Scan page could not be read.
    #[error("cannot scan table {table}: {message}")]
    Scan {
        /// The table.
        table: String,
        /// DynamoDB's code and message, or the SDK's.
        message: String,
        /// The SDK error.
        #[source]
        source: BoxError,
    },
    /// A batch of deletes failed for good: a call that retrying cannot help, or
    /// `WRITE_MAX_ATTEMPTS` failed calls.
    #[error("cannot delete from table {table}: {message}")]
    Delete {
        /// The table.
        table: String,
        /// DynamoDB's code and message, or the SDK's.
        message: String,
        /// The last failed call ([`BatchError`](super::BatchError), with the SDK error as its
        /// source).
        #[source]
        source: BoxError,
    },
    /// Keys still unprocessed when the retries stopped: the table kept throttling until
    /// `WRITE_MAX_ELAPSED_MS`.
    #[error(
        "{left} deletes on table {table} still unprocessed after {attempts} call(s): {message}; run the command again"
    )]
    Unprocessed {
        /// The table.
        table: String,
        /// Keys left.
        left: usize,
        /// Calls made for the batch.
        attempts: u32,
        /// Why the retries stopped.
        message: String,
    },
}

/// Deletes (or, with `dry_run`, only counts) every read-only call without `expiresAt`,
/// calling `progress` after each Scan page. Each batch of deletes is retried by `policy`, as a
/// batch of writes is (its time limit, `max_elapsed`, counts per batch).
///
/// # Errors
/// A [`PruneError`] naming the table and what failed; what was deleted before stays deleted,
/// and running the command again goes on from there.
pub async fn prune_read_only(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    policy: &RetryPolicy,
    dry_run: bool,
    mut progress: impl FnMut(&PruneStats),
) -> Result<PruneStats, PruneError> {
    let mut pages = client
        .scan()
        .table_name(table)
        .filter_expression("#ro = :yes AND attribute_not_exists(#ttl)")
        .projection_expression("#pk, #sk")
        .expression_attribute_names("#ro", "readOnly")
        .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
        .expression_attribute_names("#pk", PARTITION_KEY)
        .expression_attribute_names("#sk", SORT_KEY)
        .expression_attribute_values(":yes", AttributeValue::Bool(true))
        .into_paginator()
        .send();
    let deleter = DynamoDbWriter::new(client.clone());
    let mut stats = PruneStats::default();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| PruneError::Scan {
            table: table.to_owned(),
            message: describe_error(&e),
            source: Box::new(e),
        })?;
        stats.scanned += u64::try_from(page.scanned_count()).unwrap_or(0);
        let keys = page.items().to_vec();
        stats.matched += keys.len() as u64;
        if !dry_run {
            for chunk in keys.chunks(MAX_BATCH) {
                let outcome = delete_batch_retrying(&deleter, table, chunk.to_vec(), policy).await;
                stats.deleted += outcome.written as u64;
                if let Some(f) = outcome.failure {
                    return Err(match f.last_call {
                        Some(call) => PruneError::Delete {
                            table: table.to_owned(),
                            message: f.message,
                            source: Box::new(call),
                        },
                        None => PruneError::Unprocessed {
                            table: table.to_owned(),
                            left: chunk.len() - outcome.written,
                            attempts: f.attempts,
                            message: f.message,
                        },
                    });
                }
            }
        }
        progress(&stats);
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    //! The prune against the SDK's own mock layer: its deletes go through the writer's retry
    //! loop, with the policy it is given.
    use super::*;
    use crate::dynamodb::BatchError;
    use crate::dynamodb::testing::{ddb_error, fast};
    use aws_sdk_dynamodb::Client;
    use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemOutput;
    use aws_sdk_dynamodb::operation::scan::ScanOutput;
    use aws_sdk_dynamodb::types::WriteRequest;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    fn key(id: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (
                PARTITION_KEY.to_owned(),
                AttributeValue::S("web-asg".into()),
            ),
            (
                SORT_KEY.to_owned(),
                AttributeValue::S(format!("2024-03-05T12:00:00Z#{id}")),
            ),
        ])
    }

    /// One Scan page: 5 items read, 3 of them read-only calls kept forever.
    fn scan() -> aws_smithy_mocks::Rule {
        mock!(Client::scan).then_output(|| {
            ScanOutput::builder()
                .scanned_count(5)
                .count(3)
                .set_items(Some(vec![key("1"), key("2"), key("3")]))
                .build()
        })
    }

    /// The delete requests of a BatchWriteItem call on table `t`.
    fn requests(
        input: &aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemInput,
    ) -> Vec<WriteRequest> {
        input
            .request_items()
            .and_then(|m| m.get("t"))
            .cloned()
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn deletes_left_unprocessed_are_retried_until_deleted() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let deletes = mock!(Client::batch_write_item).then_compute_output(move |input| {
            let requests = requests(input);
            assert!(requests.iter().all(|r| r.delete_request().is_some()));
            let mut seen = seen.lock().expect("lock");
            seen.push(requests.len());
            let output = BatchWriteItemOutput::builder();
            if seen.len() == 1 {
                output.unprocessed_items("t", vec![requests[1].clone()])
            } else {
                let left = requests[0].delete_request().map(|d| d.key().clone());
                assert_eq!(left, Some(key("2")), "the one left is sent again");
                output
            }
            .build()
        });
        let scan = scan();
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&scan, &deletes]);
        let dry = prune_read_only(&client, "t", &fast(), true, |_| {})
            .await
            .expect("counted");
        assert_eq!((dry.matched, dry.deleted, deletes.num_calls()), (3, 0, 0));
        let stats = prune_read_only(&client, "t", &fast(), false, |_| {})
            .await
            .expect("deleted");
        assert_eq!(
            stats,
            PruneStats {
                scanned: 5,
                matched: 3,
                deleted: 3
            }
        );
        assert_eq!(*sizes.lock().expect("lock"), [3, 1]);
    }

    #[tokio::test]
    async fn a_prune_gives_up_after_the_configured_attempts() {
        for max_attempts in [1, 3] {
            let deletes = mock!(Client::batch_write_item)
                .then_http_response(|| ddb_error(500, "InternalServerError", "oops"));
            let scan = scan();
            let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&scan, &deletes]);
            let policy = RetryPolicy {
                max_attempts,
                ..fast()
            };
            let err = prune_read_only(&client, "t", &policy, false, |_| {})
                .await
                .expect_err("gives up");
            assert_eq!(deletes.num_calls(), max_attempts as usize, "{err}");
            let PruneError::Delete { message, .. } = &err else {
                panic!("{err:?}");
            };
            assert!(
                message.starts_with(&format!("giving up after {max_attempts} failed call(s)")),
                "{message}"
            );
            let source = std::error::Error::source(&err).expect("the last call is the source");
            let call = source.downcast_ref::<BatchError>().expect("a BatchError");
            assert_eq!(call.code.as_deref(), Some("InternalServerError"));
        }
    }

    #[tokio::test]
    async fn keys_left_unprocessed_for_good_stop_at_the_configured_time_limit() {
        let deletes = mock!(Client::batch_write_item).then_compute_output(|input| {
            BatchWriteItemOutput::builder()
                .unprocessed_items("t", requests(input))
                .build()
        });
        let scan = scan();
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&scan, &deletes]);
        let policy = RetryPolicy {
            max_attempts: 2,
            max_elapsed: Duration::from_millis(100),
            ..fast()
        };
        let started = Instant::now();
        let err = prune_read_only(&client, "t", &policy, false, |_| {})
            .await
            .expect_err("gives up");
        assert!(started.elapsed() < Duration::from_secs(5), "{err}");
        let PruneError::Unprocessed {
            left,
            attempts,
            message,
            ..
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(*left, 3);
        assert!(
            *attempts > 2,
            "UnprocessedItems is throttling: not counted against max_attempts ({err})"
        );
        assert_eq!(deletes.num_calls(), *attempts as usize);
        assert!(message.contains("WRITE_MAX_ELAPSED_MS"), "{err}");
    }
}
