//! `asg-trail`, the operators' command line: extract items from log files offline, ingest S3
//! objects through the Lambda's code path, backfill a bucket's history, query the table (by
//! group, event name or principal, never a scan) and show a group's configuration changes.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::ops::ControlFlow;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use asg_trail::cloudtrail::Format;
use asg_trail::config::{self, RetryPolicy};
use asg_trail::dynamodb::{self, DynamoDbWriter, QuerySpec, QueryTarget, TimeRange};
use asg_trail::extract::{self, FileStats, Filters};
use asg_trail::handler::Ingestor;
use asg_trail::notification::{self, ObjectRef};
use asg_trail::render;
use asg_trail::s3::S3Store;
use clap::{Args, Parser, Subcommand, ValueEnum};

#[path = "asg-trail/backfill.rs"]
mod backfill;
#[path = "asg-trail/progress.rs"]
mod progress;
use serde_json::Value;

#[derive(Parser)]
#[command(
    version,
    about = "EC2 Auto Scaling events from CloudTrail, by group and time"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the items CloudTrail log files yield, exactly as they would be written, one JSON
    /// object per line (offline; gzip or plain; `-` reads stdin). Takes delivery files
    /// `{"Records":[...]}`, bare arrays, single records, JSON lines, EventBridge envelopes and
    /// `aws cloudtrail lookup-events` output.
    Extract {
        /// Log files.
        #[arg(required = true)]
        files: Vec<String>,
        /// After the items, print a summary to stderr: records, events, items, how many events
        /// were attributed to a group, filtered, rejected.
        #[arg(long)]
        stats: bool,
        #[command(flatten)]
        filters: FilterArgs,
    },
    /// Ingest S3 objects into the table, through the Lambda's code path.
    Ingest {
        /// The table.
        #[arg(long, env = "TABLE_NAME")]
        table: String,
        /// Days before the items may expire (TTL `expiresAt`); 0 keeps them forever. Use the
        /// stack's RetentionDays so that replayed items expire like the others.
        #[arg(long, env = "RETENTION_DAYS", default_value_t = 0)]
        retention_days: u32,
        /// BatchWriteItem calls in flight per object.
        #[arg(long, env = "WRITE_CONCURRENCY", default_value_t = 4,
              value_parser = clap::value_parser!(u16).range(1..))]
        write_concurrency: u16,
        /// Objects, as s3://BUCKET/KEY.
        #[arg(required = true)]
        objects: Vec<String>,
        #[command(flatten)]
        filters: FilterArgs,
    },
    /// Print events, oldest first: a group's timeline (`--group`), or across all groups one
    /// event name (`--event-name`, byEventName index) or one principal (`--user ARN`, byUser
    /// index). Never a table scan.
    Query {
        /// The table.
        #[arg(long, env = "TABLE_NAME")]
        table: String,
        /// The Auto Scaling group (or `:account:<id>` for events that name no group).
        #[arg(long)]
        group: Option<String>,
        /// Only this API call (e.g. UpdateAutoScalingGroup); without --group, across all groups.
        #[arg(long)]
        event_name: Option<String>,
        /// Only this principal: an ARN (without --group, through the byUser index) or a name
        /// (the IAM user, the role of an assumed role, or its session name; needs --group or
        /// --event-name).
        #[arg(long)]
        user: Option<String>,
        /// Only events of this account.
        #[arg(long)]
        account: Option<String>,
        /// Only events of this region.
        #[arg(long)]
        region: Option<String>,
        /// Only failed calls (with an errorCode).
        #[arg(long)]
        errors_only: bool,
        /// Earliest event time, inclusive (`2024-03-05` or `2024-03-05T12:00:00Z`).
        #[arg(long)]
        since: Option<String>,
        /// Latest event time, inclusive (a date covers the whole day).
        #[arg(long)]
        until: Option<String>,
        /// Print at most this many events.
        #[arg(long)]
        limit: Option<usize>,
        /// Newest first (with --limit: the latest N).
        #[arg(long)]
        newest_first: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Print a group's capacity and configuration history: each mutating call, what it set
    /// (minSize, maxSize, desiredCapacity, launch template, ...), who, when, and whether it
    /// failed.
    Changes {
        /// The table.
        #[arg(long, env = "TABLE_NAME")]
        table: String,
        /// The Auto Scaling group.
        #[arg(long)]
        group: String,
        /// Earliest event time, inclusive.
        #[arg(long)]
        since: Option<String>,
        /// Latest event time, inclusive (a date covers the whole day).
        #[arg(long)]
        until: Option<String>,
        /// Print at most this many changes (the latest ones with --newest-first).
        #[arg(long)]
        limit: Option<usize>,
        /// Newest first.
        #[arg(long)]
        newest_first: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Ingest the log files already in a bucket (all accounts and regions under the prefix,
    /// days in --since..--until), through the Lambda's code path, with bounded concurrency, a
    /// progress display, and a checkpoint to resume from.
    Backfill {
        /// The table.
        #[arg(long, env = "TABLE_NAME")]
        table: String,
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
        checkpoint: Option<std::path::PathBuf>,
        /// Seconds between progress lines when stderr is not a terminal (0: one per object).
        #[arg(long, default_value_t = 10)]
        progress_every: u64,
        /// Print what would be ingested as an S3 Batch Operations CSV manifest (bucket,key with
        /// the key URL-encoded), and stop.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        filters: FilterArgs,
    },
}

/// The Lambda's filters, as flags (each defaults to its environment variable).
#[derive(Args)]
struct FilterArgs {
    /// Also keep the EC2 calls Auto Scaling makes itself (RunInstances, TerminateInstances,
    /// CreateFleet, ...), with origin=service.
    #[arg(long, env = "INCLUDE_SERVICE_ACTIONS", value_parser = flag("INCLUDE_SERVICE_ACTIONS"))]
    include_service_actions: bool,
    /// Drop read-only events (Describe*, Get*).
    #[arg(long, env = "EXCLUDE_READ_ONLY", value_parser = flag("EXCLUDE_READ_ONLY"))]
    exclude_read_only: bool,
    /// Keep only these event names (comma-separated).
    #[arg(long, env = "EVENT_NAMES_INCLUDE", value_name = "A,B")]
    event_names_include: Option<String>,
    /// Drop these event names (comma-separated).
    #[arg(long, env = "EVENT_NAMES_EXCLUDE", value_name = "A,B")]
    event_names_exclude: Option<String>,
}

impl FilterArgs {
    fn filters(&self) -> Filters {
        let names = |v: &Option<String>| v.as_deref().map(Filters::event_names).unwrap_or_default();
        Filters {
            include_service_actions: self.include_service_actions,
            exclude_read_only: self.exclude_read_only,
            event_names_include: names(&self.event_names_include),
            event_names_exclude: names(&self.event_names_exclude),
        }
    }
}

/// A boolean flag's value from its environment variable `name`, read as the Lambda reads it.
fn flag(name: &'static str) -> impl Fn(&str) -> Result<bool, String> + Clone {
    move |value| {
        config::parse_bool(value)
            .ok_or_else(|| format!("expected true or false (the flag, or ${name})"))
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    /// Aligned columns for people.
    Table,
    /// One JSON object per line, every attribute.
    Json,
    /// Comma-separated values with a header line.
    Csv,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    progress::init_logging(matches!(cli.command, Command::Backfill { .. }));
    let result = match cli.command {
        Command::Extract {
            files,
            stats,
            filters,
        } => extract_files(&files, stats, &filters.filters()),
        Command::Ingest {
            table,
            retention_days,
            write_concurrency,
            objects,
            filters,
        } => {
            ingest(
                table,
                retention_days,
                usize::from(write_concurrency),
                &objects,
                filters.filters(),
            )
            .await
        }
        Command::Query {
            table,
            group,
            event_name,
            user,
            account,
            region,
            errors_only,
            since,
            until,
            limit,
            newest_first,
            output,
        } => match QuerySpec::choose(group, event_name, user) {
            Ok(spec) => {
                let spec = QuerySpec {
                    range: TimeRange { since, until },
                    account,
                    region,
                    errors_only,
                    limit,
                    newest_first,
                    ..spec
                };
                query(&table, &spec, output).await
            }
            Err(e) => Err(anyhow::Error::msg(e)),
        },
        Command::Changes {
            table,
            group,
            since,
            until,
            limit,
            newest_first,
            output,
        } => {
            let spec = QuerySpec {
                range: TimeRange { since, until },
                newest_first,
                ..QuerySpec::new(QueryTarget::Group(group))
            };
            changes(&table, &spec, limit, output).await
        }
        Command::Backfill {
            table,
            location,
            since,
            until,
            concurrency,
            checkpoint,
            progress_every,
            dry_run,
            filters,
        } => {
            let options = backfill::Options {
                table,
                location,
                since,
                until,
                concurrency: usize::from(concurrency),
                checkpoint,
                progress_every: std::time::Duration::from_secs(progress_every),
                dry_run,
                filters: filters.filters(),
            };
            return backfill::run(options).await;
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("asg-trail: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn extract_files(files: &[String], print_stats: bool, filters: &Filters) -> Result<()> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut total = FileStats::default();
    for path in files {
        let input: Box<dyn Read + Send> = if path == "-" {
            Box::new(io::stdin())
        } else {
            Box::new(File::open(path).with_context(|| format!("{path}: cannot open"))?)
        };
        let mut write_error = None;
        let (stats, parsed) = extract::extract_log(input, Format::Any, path, filters, |item| {
            let line = serde_json::to_writer(&mut out, &item)
                .map_err(io::Error::from)
                .and_then(|()| out.write_all(b"\n"));
            match line {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    write_error = Some(e);
                    ControlFlow::Break(())
                }
            }
        });
        if let Some(e) = write_error {
            return Err(e).context("cannot write to stdout");
        }
        out.flush().context("cannot write to stdout")?;
        total.add(&stats);
        parsed.with_context(|| path.clone())?;
        tracing::info!(
            file = %path,
            records = stats.records,
            events = stats.events,
            items = stats.items,
            application_autoscaling = stats.application_autoscaling,
            filtered = stats.filtered,
            rejected = stats.rejected,
            "file extracted"
        );
    }
    if print_stats {
        eprint!("{}", stats_text(files.len(), &total));
    }
    Ok(())
}

/// The `extract --stats` summary.
fn stats_text(files: usize, s: &FileStats) -> String {
    let mut text = format!(
        "files:                           {files}\n\
         records scanned:                 {}\n\
         Auto Scaling events:             {}\n\
         items:                           {}\n\
         events attributed to a group:    {} ({:.1}%)\n\
         events in the account partition: {}\n\
         filtered:                        {}\n\
         rejected:                        {}\n",
        s.records,
        s.events,
        s.items,
        s.events_in_groups,
        s.percent_in_groups(),
        s.events_in_account,
        s.filtered,
        s.rejected,
    );
    if s.service_events > 0 {
        text.push_str(&format!(
            "Auto Scaling's own EC2 calls:    {} (origin=service)\n",
            s.service_events
        ));
    }
    if s.application_autoscaling > 0 {
        text.push_str(&format!(
            "Application Auto Scaling (left out): {}\n",
            s.application_autoscaling
        ));
    }
    text
}

fn parse_s3_uri(uri: &str) -> Result<ObjectRef> {
    let rest = uri
        .strip_prefix("s3://")
        .with_context(|| format!("{uri}: expected s3://BUCKET/KEY"))?;
    match rest.split_once('/') {
        Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => Ok(ObjectRef {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            size: None,
        }),
        _ => bail!("{uri}: expected s3://BUCKET/KEY"),
    }
}

async fn ingest(
    table: String,
    retention_days: u32,
    write_concurrency: usize,
    uris: &[String],
    filters: Filters,
) -> Result<()> {
    let objects = uris
        .iter()
        .map(|u| parse_s3_uri(u))
        .collect::<Result<Vec<_>>>()?;
    let mut wanted = Vec::with_capacity(objects.len());
    for object in objects {
        match notification::skip_reason(&object.key, object.size) {
            Some(reason) => {
                tracing::info!(bucket = %object.bucket, key = %object.key, skipped = %reason, "object skipped")
            }
            None => wanted.push(object),
        }
    }
    let clients = asg_trail::aws::load().await;
    let ingestor = Ingestor::new(
        S3Store::new(clients.s3),
        DynamoDbWriter::new(clients.dynamodb),
        table,
        RetryPolicy::default(),
    )
    .with_filters(filters)
    .with_retention_days(retention_days)
    .with_write_concurrency(write_concurrency);
    let results = ingestor.ingest_all(&wanted, None).await;
    let failed: Vec<String> = results
        .into_iter()
        .filter_map(|r| r.err().map(|e| e.to_string()))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        bail!(
            "{} of {} object(s) failed:\n  {}",
            failed.len(),
            wanted.len(),
            failed.join("\n  ")
        )
    }
}

fn describe_target(spec: &QuerySpec) -> String {
    match &spec.target {
        QueryTarget::Group(g) => format!("group {g}"),
        QueryTarget::EventName(e) => format!("event name {e} (index {})", dynamodb::BY_EVENT_NAME),
        QueryTarget::User(u) => format!("user {u} (index {})", dynamodb::BY_USER),
    }
}

async fn read(table: &str, spec: &QuerySpec) -> Result<Vec<Value>> {
    let clients = asg_trail::aws::load().await;
    let items = dynamodb::query(&clients.dynamodb, table, spec)
        .await
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("cannot query table {table} for {}", describe_target(spec)))?;
    Ok(items.iter().map(dynamodb::to_json).collect())
}

fn print(text: &str) -> Result<()> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write to stdout")
}

/// One JSON object per line.
fn json_lines<T: serde::Serialize>(values: &[T]) -> Result<String> {
    let mut text = String::new();
    for value in values {
        text.push_str(&serde_json::to_string(value)?);
        text.push('\n');
    }
    Ok(text)
}

async fn query(table: &str, spec: &QuerySpec, output: Output) -> Result<()> {
    let rows = read(table, spec).await?;
    match output {
        Output::Json => print(&json_lines(&rows)?)?,
        Output::Table => print(&render::events_table(&rows))?,
        Output::Csv => print(&render::events_csv(&rows))?,
    }
    if rows.is_empty() {
        eprintln!(
            "asg-trail: no events for {} in table {table}",
            describe_target(spec)
        );
    }
    Ok(())
}

async fn changes(
    table: &str,
    spec: &QuerySpec,
    limit: Option<usize>,
    output: Output,
) -> Result<()> {
    let rows = read(table, spec).await?;
    let mut found = render::changes(&rows);
    if let Some(limit) = limit {
        found.truncate(limit);
    }
    match output {
        Output::Json => print(&json_lines(&found)?)?,
        Output::Table => print(&render::changes_table(&found))?,
        Output::Csv => print(&render::changes_csv(&found))?,
    }
    if found.is_empty() {
        eprintln!(
            "asg-trail: no changes to {} in table {table} ({} events read, none mutating)",
            describe_target(spec),
            rows.len()
        );
    }
    Ok(())
}
