//! Backfill: ingesting the log files already in a bucket, through the same [`Ingestor`] as the
//! Lambda, with bounded concurrency.
//!
//! Listing follows CloudTrail's key layout,
//! `[PREFIX/]AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/FILE`: accounts, regions,
//! years, months and days are discovered with delimiter listings, and only the days inside
//! `--since`/`--until` are listed object by object. Digest and Insights folders are never
//! entered. Each level is listed with the same concurrency as the ingestion.
//!
//! A [`Checkpoint`] file records each object ingested in full, one `s3://bucket/key` per line,
//! appended as it completes, so an interrupted run (Ctrl-C, a crash, a lost terminal) resumes
//! where it stopped. See [`Checkpoint::record`] for what survives which crash.
//!
//! One job per module: `days` (the [`Day`] and [`DayRange`] of `--since`/`--until`),
//! `listing` (the walk by the layout, [`list`]), `checkpoint` ([`Checkpoint`]), and here the
//! orchestration ([`ingest`]). [`BackfillError`] is what any of them can fail with.

mod checkpoint;
mod days;
mod error;
mod listing;

use std::sync::atomic::{AtomicBool, Ordering};

use futures::stream::{self, StreamExt};

pub use checkpoint::Checkpoint;
pub use days::{Day, DayRange};
pub use error::BackfillError;
pub use listing::{Listing, list};

use crate::dynamodb::BatchWriter;
use crate::error::IngestError;
use crate::handler::{Ingestor, ObjectSummary, OnMissing};
use crate::notification::ObjectRef;
use crate::s3::ObjectStore;

/// Ingests `objects` with at most `concurrency` at a time, calling `on_done` as each finishes.
/// Once `stop` is set no new object is started; those under way finish. Returns whether it
/// stopped early.
pub async fn ingest<S: ObjectStore, W: BatchWriter>(
    ingestor: &Ingestor<S, W>,
    objects: &[ObjectRef],
    concurrency: usize,
    stop: &AtomicBool,
    mut on_done: impl FnMut(&ObjectRef, Result<ObjectSummary, IngestError>),
) -> bool {
    let mut results = stream::iter(objects)
        .take_while(|_| std::future::ready(!stop.load(Ordering::SeqCst)))
        .map(|object| async move { (object, ingestor.ingest(object, None, OnMissing::Fail).await) })
        .buffer_unordered(concurrency.max(1));
    let mut finished = 0;
    while let Some((object, result)) = results.next().await {
        finished += 1;
        on_done(object, result);
    }
    finished < objects.len()
}
