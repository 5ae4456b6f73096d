//! `asg-trail backfill`: list a bucket's log files by CloudTrail's key layout, ingest them
//! through the Lambda's code path with bounded concurrency, show progress, checkpoint each
//! object ingested in full, stop cleanly on Ctrl-C, and end with a summary.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use asg_trail::backfill::{self as engine, Checkpoint, Day, DayRange};
use asg_trail::config::RetryPolicy;
use asg_trail::dynamodb::DynamoDbWriter;
use asg_trail::handler::Ingestor;
use asg_trail::notification::{ObjectRef, S3Location};
use asg_trail::s3::S3Store;

use crate::progress::{Counts, HumanDuration, Progress};

/// What a manifest key escapes: all but unreserved characters and `/`.
const MANIFEST_KEY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells report it.
const INTERRUPTED: u8 = 130;

/// What to backfill, from the command line.
pub struct Options {
    pub table: String,
    pub location: String,
    pub since: Option<String>,
    pub until: Option<String>,
    pub concurrency: usize,
    pub checkpoint: Option<PathBuf>,
    pub progress_every: Duration,
    pub dry_run: bool,
    /// The same filters as `ingest` and the Lambda (flags or their environment variables).
    pub filters: asg_trail::extract::Filters,
}

fn fail(message: &str) -> ExitCode {
    eprintln!("asg-trail: {message}");
    ExitCode::FAILURE
}

/// Runs a backfill; the exit status says how it went (0: all ingested; 1: some object failed,
/// or it could not start; 130: interrupted).
pub async fn run(o: Options) -> ExitCode {
    let location = match o.location.parse::<S3Location>() {
        Ok(v) => v,
        Err(e) => return fail(&e.to_string()),
    };
    let day = |d: &Option<String>, flag: &str| {
        d.as_deref()
            .map(Day::parse)
            .transpose()
            .map_err(|e| format!("--{flag}: {e}"))
    };
    let range = match (day(&o.since, "since"), day(&o.until, "until")) {
        (Ok(since), Ok(until)) => DayRange { since, until },
        (Err(e), _) | (_, Err(e)) => return fail(&e),
    };
    if let (Some(s), Some(u)) = (range.since, range.until)
        && s > u
    {
        return fail(&format!("--since {s} is after --until {u}"));
    }
    let mut checkpoint = match o.checkpoint.as_deref().map(Checkpoint::open).transpose() {
        Ok(c) => c,
        Err(e) => return fail(&e.to_string()),
    };
    let clients = asg_trail::aws::load().await;
    let days = match (range.since, range.until) {
        (None, None) => "every day".to_owned(),
        (s, u) => format!(
            "days {}..{}",
            s.map_or_else(|| "(first)".to_owned(), |d| d.to_string()),
            u.map_or_else(|| "(last)".to_owned(), |d| d.to_string())
        ),
    };
    eprintln!(
        "asg-trail: listing {} ({days}) with {} listing(s) in flight",
        o.location, o.concurrency
    );
    let listed_at = Instant::now();
    let listing = engine::list(&clients.s3, &location, &range, o.concurrency, |_| {}).await;
    let listing = match listing {
        Ok(l) => l,
        Err(e) => return fail(&e.to_string()),
    };
    let (done, todo): (Vec<ObjectRef>, Vec<ObjectRef>) = listing
        .objects
        .iter()
        .cloned()
        .partition(|obj| checkpoint.as_ref().is_some_and(|c| c.is_done(obj)));
    let total_bytes: u64 = todo.iter().filter_map(|obj| obj.size).sum();
    eprintln!(
        "asg-trail: {} log files in {} day folder(s) ({} list calls, {}); {} already done, {} to ingest ({:.1} MB)",
        listing.objects.len(),
        listing.days,
        listing.calls,
        HumanDuration(listed_at.elapsed()),
        done.len(),
        todo.len(),
        mb(total_bytes)
    );
    if o.dry_run {
        // An S3 Batch Operations CSV manifest: bucket,key with the key URL-encoded.
        let mut text = String::new();
        for obj in &todo {
            let key = percent_encoding::utf8_percent_encode(&obj.key, MANIFEST_KEY);
            let _ = writeln!(text, "{},{key}", obj.bucket);
        }
        print!("{text}");
        return ExitCode::SUCCESS;
    }

    let ingestor = Ingestor::new(
        S3Store::new(clients.s3),
        DynamoDbWriter::new(clients.dynamodb),
        o.table.clone(),
        RetryPolicy::default(),
    )
    .with_filters(o.filters.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let abort = Arc::new(tokio::sync::Notify::new());
    {
        let (stop, abort) = (stop.clone(), abort.clone());
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, Ordering::SeqCst);
                eprintln!(
                    "\nasg-trail: interrupted: finishing the objects under way (Ctrl-C again to quit at once)"
                );
                if tokio::signal::ctrl_c().await.is_ok() {
                    abort.notify_one();
                }
            }
        });
    }

    let started = Instant::now();
    let mut progress = Progress::new(todo.len() as u64, total_bytes, o.progress_every);
    let mut counts = Counts::default();
    let mut records = 0u64;
    let mut items = 0usize;
    let mut failures: Vec<String> = Vec::new();
    let mut checkpoint_error: Option<String> = None;
    let outcome = {
        let on_done = |obj: &ObjectRef,
                       result: Result<
            asg_trail::handler::ObjectSummary,
            asg_trail::error::IngestError,
        >| {
            counts.objects += 1;
            counts.bytes += obj.size.unwrap_or(0);
            match result {
                Ok(s) => {
                    counts.events += s.file.events;
                    records += s.file.records;
                    items += s.items_written;
                    if let Some(c) = checkpoint.as_mut()
                        && let Err(e) = c.record(obj)
                    {
                        checkpoint_error.get_or_insert(e.to_string());
                        stop.store(true, Ordering::SeqCst);
                    }
                }
                Err(e) => {
                    counts.failed += 1;
                    failures.push(e.to_string());
                }
            }
            progress.update(counts);
        };
        tokio::select! {
            stopped = engine::ingest(&ingestor, &todo, o.concurrency, &stop, on_done) => Some(stopped),
            () = abort.notified() => None,
        }
    };
    progress.finish();
    let elapsed = started.elapsed();

    let mut s = String::new();
    let _ = writeln!(
        s,
        "backfill of {} ({days}) into table {}",
        o.location, o.table
    );
    let _ = writeln!(
        s,
        "  listed    {} log files in {} day folder(s), {} list calls; {} other object(s) skipped (digest, Insights, empty, not a log file)",
        listing.objects.len(),
        listing.days,
        listing.calls,
        listing.skipped.len()
    );
    if let Some(c) = &checkpoint {
        let _ = writeln!(
            s,
            "  resumed   {} already ingested by earlier runs (checkpoint {})",
            done.len(),
            c.path().display()
        );
    }
    let ok = counts.objects - counts.failed;
    let _ = writeln!(
        s,
        "  ingested  {ok} of {} objects: {records} records, {} events, {items} items written",
        todo.len(),
        counts.events
    );
    let _ = writeln!(
        s,
        "  took      {} ({:.1} MB, {:.2} MB/s, concurrency {})",
        HumanDuration(elapsed),
        mb(counts.bytes),
        mb(counts.bytes) / elapsed.as_secs_f64().max(0.001),
        o.concurrency
    );
    if !failures.is_empty() {
        let _ = writeln!(s, "  FAILED    {} object(s):", failures.len());
        for f in &failures {
            let _ = writeln!(s, "    {f}");
        }
    }
    let not_started = todo.len() as u64 - counts.objects;
    let interrupted = outcome != Some(false) && checkpoint_error.is_none();
    if interrupted {
        let _ = writeln!(
            s,
            "  STOPPED   by Ctrl-C: {not_started} object(s) not ingested; {}",
            match &o.checkpoint {
                Some(path) => format!(
                    "run the same command again (--checkpoint {}) to resume",
                    path.display()
                ),
                None =>
                    "give --checkpoint FILE next time to resume instead of starting over".to_owned(),
            }
        );
    }
    print!("{s}");
    if let Some(e) = checkpoint_error {
        return fail(&format!(
            "{e}; stopped ({not_started} object(s) not ingested)"
        ));
    }
    if !failures.is_empty() {
        return fail(&format!(
            "{} of {} object(s) failed (listed above; they are not in the checkpoint, so a rerun retries them)",
            failures.len(),
            todo.len()
        ));
    }
    if interrupted {
        return ExitCode::from(INTERRUPTED);
    }
    ExitCode::SUCCESS
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}
