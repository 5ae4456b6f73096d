//! Removing the read-only calls an earlier release kept forever: the items with `readOnly` true
//! and no `expiresAt`. One Scan of the table, filtered to those items and reading their keys
//! only, then BatchWriteItem deletes of at most 25 keys, the unprocessed ones retried with
//! backoff. The one migration command of "Upgrading" in docs/deploy.md.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};

use super::MAX_BATCH;
use crate::aws::describe_error;
use crate::config::RetryPolicy;
use crate::error::BoxError;
use crate::item::{PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE};

/// Attempts of one batch of deletes whose keys come back unprocessed.
const MAX_ATTEMPTS: u32 = 12;

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
    /// A BatchWriteItem of deletes failed.
    #[error("cannot delete from table {table}: {message}")]
    Delete {
        /// The table.
        table: String,
        /// DynamoDB's code and message, or the SDK's.
        message: String,
        /// The SDK error.
        #[source]
        source: BoxError,
    },
    /// Keys still unprocessed after every attempt (the table is throttling).
    #[error(
        "{left} deletes on table {table} still unprocessed after {MAX_ATTEMPTS} attempts; run the command again"
    )]
    Unprocessed {
        /// The table.
        table: String,
        /// Keys left.
        left: usize,
    },
}

type Key = HashMap<String, AttributeValue>;

/// Deletes (or, with `dry_run`, only counts) every read-only call without `expiresAt`,
/// calling `progress` after each Scan page.
///
/// # Errors
/// A [`PruneError`] naming the table and what failed; what was deleted before stays deleted,
/// and running the command again goes on from there.
pub async fn prune_read_only(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
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
                delete_batch(client, table, chunk.to_vec()).await?;
                stats.deleted += chunk.len() as u64;
            }
        }
        progress(&stats);
    }
    Ok(stats)
}

/// Deletes `keys` (at most 25), retrying the unprocessed ones with backoff.
async fn delete_batch(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    mut keys: Vec<Key>,
) -> Result<(), PruneError> {
    let backoff = RetryPolicy::default();
    for attempt in 0..MAX_ATTEMPTS {
        if keys.is_empty() {
            return Ok(());
        }
        if attempt > 0 {
            tokio::time::sleep(backoff.delay(attempt)).await;
        }
        let requests: Vec<WriteRequest> = keys
            .iter()
            .map(|key| {
                let delete = DeleteRequest::builder().set_key(Some(key.clone())).build();
                delete.map(|d| WriteRequest::builder().delete_request(d).build())
            })
            .collect::<Result<_, _>>()
            .map_err(|e| PruneError::Delete {
                table: table.to_owned(),
                message: e.to_string(),
                source: Box::new(e),
            })?;
        let output = client
            .batch_write_item()
            .request_items(table, requests)
            .send()
            .await
            .map_err(|e| PruneError::Delete {
                table: table.to_owned(),
                message: describe_error(&e),
                source: Box::new(e),
            })?;
        keys = output
            .unprocessed_items()
            .and_then(|m| m.get(table))
            .map(|left| {
                left.iter()
                    .filter_map(|w| w.delete_request())
                    .map(|d| d.key().clone())
                    .collect()
            })
            .unwrap_or_default();
    }
    if keys.is_empty() {
        Ok(())
    } else {
        Err(PruneError::Unprocessed {
            table: table.to_owned(),
            left: keys.len(),
        })
    }
}
