//! Writing items to the table and reading them back, one job per module:
//!
//! - `write`: the [`BatchWriter`] trait the handler depends on (one BatchWriteItem call of
//!   puts), [`BatchDeleter`] (one of deletes) and their SDK adapter, [`DynamoDbWriter`];
//! - `retry`: [`write_stream`], which batches the items of a queue (at most 25, distinct
//!   keys: the first item with a key is kept, later ones are dropped) and retries each batch
//!   with backoff until it is written or the attempts or the time run out; the first failure
//!   closes the queue. The prune's deletes go through the same loop;
//! - `codec`: an item's DynamoDB attributes and a stored item as JSON ([`to_json`]);
//! - `plan`: what a query reads ([`QuerySpec`]) and the request that reads it, never a scan;
//! - `query`: running it through every page ([`query()`]), with typed errors;
//! - `prune`: deleting the read-only calls an earlier release kept forever
//!   ([`prune_read_only`]), its deletes retried by the same
//!   [`RetryPolicy`](crate::config::RetryPolicy).

mod codec;
mod marker;
mod plan;
mod prune;
mod query;
mod retry;
#[cfg(test)]
pub(crate) mod testing;
mod write;

pub use codec::to_json;
pub use marker::{AlertLedger, Claim, MarkerError, marker_partition, window_partition};
pub use plan::{BY_EVENT_NAME, BY_USER, QuerySpec, QueryTarget, SpecError, TimeRange};
pub use prune::{PruneError, PruneStats, prune_read_only};
pub use query::{QueryError, query};
pub use retry::{WriteStats, write_stream};
pub use write::{BatchDeleter, BatchError, BatchWriter, DynamoDbWriter, MAX_BATCH};
