//! `asg-trail backfill`: list a bucket's log files by CloudTrail's key layout, ingest them
//! through the Lambda's code path and settings with bounded concurrency, show progress,
//! checkpoint each object ingested in full, stop cleanly on Ctrl-C, and end with a summary.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use asg_trail::backfill::{self as engine, Checkpoint, Day, DayRange, Listing};
use asg_trail::config::Config;
use asg_trail::dynamodb::DynamoDbWriter;
use asg_trail::error::IngestError;
use asg_trail::handler::{Ingestor, ObjectSummary};
use asg_trail::notification::{ObjectRef, S3Location, SkipReason};
use asg_trail::s3::S3Store;

use crate::progress::{Counts, HumanDuration, Progress};
use crate::settings::{ItemArgs, Overrides, TableArgs, WriteArgs};

/// What a manifest key escapes: all but unreserved characters and `/`.
const MANIFEST_KEY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells report it.
const INTERRUPTED: u8 = 130;

/// The command's arguments.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    table: TableArgs,
    /// Where the trail delivers: s3://BUCKET[/PREFIX] (above or inside AWSLogs/).
    location: String,
    /// First delivery day (YYYY-MM-DD, UTC), inclusive.
    #[arg(long)]
    since: Option<String>,
    /// Last delivery day (YYYY-MM-DD, UTC), inclusive.
    #[arg(long)]
    until: Option<String>,
    /// Objects (and listings) in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
    /// Records each object ingested in full; a later run with the same file skips them.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Seconds between progress lines when stderr is not a terminal (0: one per object).
    #[arg(long, default_value_t = 10)]
    progress_every: u64,
    /// Print what would be ingested as an S3 Batch Operations CSV manifest (bucket,key with
    /// the key URL-encoded), and stop.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    write: WriteArgs,
    #[command(flatten)]
    items: ItemArgs,
}

fn fail(message: &str) -> ExitCode {
    eprintln!("asg-trail: {message}");
    ExitCode::FAILURE
}

/// Runs a backfill; the exit status says how it went (0: all ingested; 1: some object failed,
/// or it could not start; 130: interrupted).
pub async fn run(args: Args) -> ExitCode {
    match prepare(&args) {
        Ok((config, range, checkpoint)) => execute(&args, config, &range, checkpoint).await,
        Err(e) => fail(&e),
    }
}

/// Everything that can be checked before a call is made.
fn prepare(args: &Args) -> Result<(Config, DayRange, Option<Checkpoint>), String> {
    let mut overrides = Overrides::default();
    args.table.add_to(&mut overrides);
    args.write.add_to(&mut overrides);
    args.items.add_to(&mut overrides);
    let config = overrides.load_with_table().map_err(|e| format!("{e:#}"))?;
    let day = |d: &Option<String>, flag: &str| {
        d.as_deref()
            .map(Day::parse)
            .transpose()
            .map_err(|e| format!("--{flag}: {e}"))
    };
    let range = DayRange {
        since: day(&args.since, "since")?,
        until: day(&args.until, "until")?,
    };
    if let (Some(s), Some(u)) = (range.since, range.until)
        && s > u
    {
        return Err(format!("--since {s} is after --until {u}"));
    }
    let checkpoint = args
        .checkpoint
        .as_deref()
        .map(Checkpoint::open)
        .transpose()
        .map_err(|e| e.to_string())?;
    Ok((config, range, checkpoint))
}

fn describe_days(range: &DayRange) -> String {
    match (range.since, range.until) {
        (None, None) => "every day".to_owned(),
        (s, u) => format!(
            "days {}..{}",
            s.map_or_else(|| "(first)".to_owned(), |d| d.to_string()),
            u.map_or_else(|| "(last)".to_owned(), |d| d.to_string())
        ),
    }
}

async fn execute(
    args: &Args,
    config: Config,
    range: &DayRange,
    mut checkpoint: Option<Checkpoint>,
) -> ExitCode {
    let location: S3Location = match args.location.parse() {
        Ok(v) => v,
        Err(e) => return fail(&e.to_string()),
    };
    let clients = asg_trail::aws::load().await;
    let concurrency = usize::from(args.concurrency);
    let days = describe_days(range);
    eprintln!(
        "asg-trail: listing {} ({days}) with {concurrency} listing(s) in flight",
        args.location
    );
    let listed_at = Instant::now();
    let listing = match engine::list(&clients.s3, &location, range, concurrency, |_| {}).await {
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
    if args.dry_run {
        print!("{}", manifest(&todo));
        return ExitCode::SUCCESS;
    }
    let table = config.table_name.clone().unwrap_or_default();
    let ingestor = match Ingestor::new(
        S3Store::new(clients.s3),
        DynamoDbWriter::new(clients.dynamodb),
        config,
    ) {
        Ok(i) => i,
        Err(e) => return fail(&e.to_string()),
    };
    let every = Duration::from_secs(args.progress_every);
    let run = Run::new(&todo, total_bytes, every, checkpoint.as_mut());
    let tally = run.go(&ingestor, concurrency).await;
    let report = Report {
        args,
        table: &table,
        days: &days,
        listing: &listing,
        resumed: done.len(),
        checkpoint: checkpoint.as_ref(),
        todo: todo.len(),
    };
    report.finish(&tally)
}

/// An S3 Batch Operations CSV manifest: bucket,key with the key URL-encoded.
fn manifest(objects: &[ObjectRef]) -> String {
    let mut text = String::new();
    for obj in objects {
        let key = percent_encoding::utf8_percent_encode(&obj.key, MANIFEST_KEY);
        let _ = writeln!(text, "{},{key}", obj.bucket);
    }
    text
}

/// What the ingestion of the listed objects came to.
struct Tally {
    counts: Counts,
    records: u64,
    items: usize,
    failures: Vec<String>,
    checkpoint_error: Option<String>,
    /// `Some(true)` when stopped before the end, `None` when aborted by a second Ctrl-C.
    stopped: Option<bool>,
    elapsed: Duration,
}

/// The ingestion of the listed objects, with progress, checkpoint and Ctrl-C.
struct Run<'a> {
    todo: &'a [ObjectRef],
    progress: Progress,
    checkpoint: Option<&'a mut Checkpoint>,
}

impl<'a> Run<'a> {
    fn new(
        todo: &'a [ObjectRef],
        total_bytes: u64,
        every: Duration,
        checkpoint: Option<&'a mut Checkpoint>,
    ) -> Self {
        Self {
            todo,
            progress: Progress::new(todo.len() as u64, total_bytes, every),
            checkpoint,
        }
    }

    async fn go(
        mut self,
        ingestor: &Ingestor<S3Store, DynamoDbWriter>,
        concurrency: usize,
    ) -> Tally {
        let (stop, abort) = ctrl_c();
        let started = Instant::now();
        let mut tally = Tally {
            counts: Counts::default(),
            records: 0,
            items: 0,
            failures: Vec::new(),
            checkpoint_error: None,
            stopped: None,
            elapsed: Duration::ZERO,
        };
        let todo = self.todo;
        let on_done = |obj: &ObjectRef, result: Result<ObjectSummary, IngestError>| {
            self.done(&mut tally, obj, result, &stop);
        };
        let outcome = tokio::select! {
            stopped = engine::ingest(ingestor, todo, concurrency, &stop, on_done) => Some(stopped),
            () = abort.notified() => None,
        };
        self.progress.finish();
        tally.stopped = outcome;
        tally.elapsed = started.elapsed();
        tally
    }

    fn done(
        &mut self,
        tally: &mut Tally,
        obj: &ObjectRef,
        result: Result<ObjectSummary, IngestError>,
        stop: &AtomicBool,
    ) {
        tally.counts.objects += 1;
        tally.counts.bytes += obj.size.unwrap_or(0);
        match result {
            Ok(s) => {
                tally.counts.events += s.file.events;
                tally.records += s.file.records;
                tally.items += s.items_written;
                if let Some(c) = self.checkpoint.as_deref_mut()
                    && let Err(e) = c.record(obj)
                {
                    tally.checkpoint_error.get_or_insert(e.to_string());
                    stop.store(true, Ordering::SeqCst);
                }
            }
            Err(e) => {
                tally.counts.failed += 1;
                tally.failures.push(e.to_string());
            }
        }
        self.progress.update(tally.counts);
    }
}

/// A flag the first Ctrl-C sets (finish the objects under way), and a signal the second one
/// sends (quit at once).
fn ctrl_c() -> (Arc<AtomicBool>, Arc<tokio::sync::Notify>) {
    let stop = Arc::new(AtomicBool::new(false));
    let abort = Arc::new(tokio::sync::Notify::new());
    let (s, a) = (stop.clone(), abort.clone());
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            s.store(true, Ordering::SeqCst);
            eprintln!(
                "\nasg-trail: interrupted: finishing the objects under way (Ctrl-C again to quit at once)"
            );
            if tokio::signal::ctrl_c().await.is_ok() {
                a.notify_one();
            }
        }
    });
    (stop, abort)
}

/// The closing summary and exit status.
struct Report<'a> {
    args: &'a Args,
    table: &'a str,
    days: &'a str,
    listing: &'a Listing,
    resumed: usize,
    checkpoint: Option<&'a Checkpoint>,
    todo: usize,
}

impl Report<'_> {
    fn finish(&self, t: &Tally) -> ExitCode {
        let not_started = self.todo as u64 - t.counts.objects;
        let interrupted = t.stopped != Some(false) && t.checkpoint_error.is_none();
        print!("{}", self.text(t, interrupted, not_started));
        if let Some(e) = &t.checkpoint_error {
            return fail(&format!(
                "{e}; stopped ({not_started} object(s) not ingested)"
            ));
        }
        if !t.failures.is_empty() {
            return fail(&format!(
                "{} of {} object(s) failed (listed above; they are not in the checkpoint, so a rerun retries them)",
                t.failures.len(),
                self.todo
            ));
        }
        if interrupted {
            return ExitCode::from(INTERRUPTED);
        }
        ExitCode::SUCCESS
    }

    fn text(&self, t: &Tally, interrupted: bool, not_started: u64) -> String {
        let (a, l) = (self.args, self.listing);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "backfill of {} ({}) into table {}",
            a.location, self.days, self.table
        );
        let _ = writeln!(
            s,
            "  listed    {} log files in {} day folder(s), {} list calls",
            l.objects.len(),
            l.days,
            l.calls,
        );
        let _ = writeln!(
            s,
            "  skipped   {} object(s) that are not log files{}; {} folder(s) not entered{} (RUST_LOG=info names each)",
            l.skipped.len(),
            by_reason(l.skipped.iter().map(|(_, r)| *r)),
            l.skipped_folders.len(),
            by_reason(l.skipped_folders.iter().map(|(_, r)| *r)),
        );
        if let Some(c) = self.checkpoint {
            let _ = writeln!(
                s,
                "  resumed   {} already ingested by earlier runs (checkpoint {})",
                self.resumed,
                c.path().display()
            );
        }
        let ok = t.counts.objects - t.counts.failed;
        let _ = writeln!(
            s,
            "  ingested  {ok} of {} objects: {} records, {} events, {} items written",
            self.todo, t.records, t.counts.events, t.items
        );
        let _ = writeln!(
            s,
            "  took      {} ({:.1} MB, {:.2} MB/s, concurrency {})",
            HumanDuration(t.elapsed),
            mb(t.counts.bytes),
            mb(t.counts.bytes) / t.elapsed.as_secs_f64().max(0.001),
            a.concurrency
        );
        if !t.failures.is_empty() {
            let _ = writeln!(s, "  FAILED    {} object(s):", t.failures.len());
            for f in &t.failures {
                let _ = writeln!(s, "    {f}");
            }
        }
        if interrupted {
            let _ = writeln!(
                s,
                "  STOPPED   by Ctrl-C: {not_started} object(s) not ingested; {}",
                match &a.checkpoint {
                    Some(path) => format!(
                        "run the same command again (--checkpoint {}) to resume",
                        path.display()
                    ),
                    None => "give --checkpoint FILE next time to resume instead of starting over"
                        .to_owned(),
                }
            );
        }
        s
    }
}

/// ` (2 empty_object, 1 not_a_log_file)`: counts by reason, or nothing when there are none.
fn by_reason(reasons: impl Iterator<Item = SkipReason>) -> String {
    let mut counts = std::collections::BTreeMap::new();
    for reason in reasons {
        *counts.entry(reason.as_str()).or_insert(0_usize) += 1;
    }
    if counts.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
    format!(" ({})", parts.join(", "))
}

#[allow(
    clippy::cast_precision_loss,
    reason = "a figure for people: exact below 2^52 bytes"
)]
fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}
