//! `asg-trail`, the operators' command line: extract items from log files offline, ingest S3
//! objects through the Lambda's code path, and query a group's timeline.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use asg_trail::cloudtrail::Format;
use asg_trail::config::{self, RetryPolicy};
use asg_trail::dynamodb::{self, DynamoDbWriter, TimeRange};
use asg_trail::extract::{self, FileStats, Filters};
use asg_trail::handler::Ingestor;
use asg_trail::notification::{self, ObjectRef};
use asg_trail::s3::S3Store;
use clap::{Args, Parser, Subcommand, ValueEnum};
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
        /// Objects, as s3://BUCKET/KEY.
        #[arg(required = true)]
        objects: Vec<String>,
        #[command(flatten)]
        filters: FilterArgs,
    },
    /// Print a group's timeline, oldest first.
    Query {
        /// The table.
        #[arg(long, env = "TABLE_NAME")]
        table: String,
        /// The Auto Scaling group (or `:account:<id>` for events that name no group).
        #[arg(long)]
        group: String,
        /// Earliest event time, inclusive (`2024-03-05` or `2024-03-05T12:00:00Z`).
        #[arg(long)]
        since: Option<String>,
        /// Latest event time, inclusive (a date covers the whole day).
        #[arg(long)]
        until: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
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
}

#[tokio::main]
async fn main() -> ExitCode {
    lambda_runtime::tracing::init_default_subscriber_with_writer(io::stderr);
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Extract {
            files,
            stats,
            filters,
        } => extract_files(&files, stats, &filters.filters()),
        Command::Ingest {
            table,
            objects,
            filters,
        } => ingest(table, &objects, filters.filters()).await,
        Command::Query {
            table,
            group,
            since,
            until,
            output,
        } => query(&table, &group, TimeRange { since, until }, output).await,
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
        let input: Box<dyn Read> = if path == "-" {
            Box::new(io::stdin().lock())
        } else {
            Box::new(File::open(path).with_context(|| format!("{path}: cannot open"))?)
        };
        let mut write_error = None;
        let (stats, parsed) = extract::extract_log(input, Format::Any, path, filters, |item| {
            if write_error.is_none() {
                let line = serde_json::to_writer(&mut out, &item)
                    .map_err(io::Error::from)
                    .and_then(|()| out.write_all(b"\n"));
                write_error = line.err();
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

async fn ingest(table: String, uris: &[String], filters: Filters) -> Result<()> {
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
    .with_filters(filters);
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

async fn query(table: &str, group: &str, range: TimeRange, output: Output) -> Result<()> {
    let clients = asg_trail::aws::load().await;
    let items = dynamodb::query_group(&clients.dynamodb, table, group, &range)
        .await
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("cannot query table {table} for group {group}"))?;
    let rows: Vec<Value> = items.iter().map(dynamodb::to_json).collect();
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match output {
        Output::Json => {
            for row in &rows {
                serde_json::to_writer(&mut out, row)?;
                out.write_all(b"\n")?;
            }
        }
        Output::Table => write_table(&mut out, &rows)?,
    }
    out.flush()?;
    if rows.is_empty() {
        eprintln!("asg-trail: no events for group {group} in table {table}");
    }
    Ok(())
}

fn write_table(out: &mut impl Write, rows: &[Value]) -> io::Result<()> {
    let text = |row: &Value, name: &str| {
        row.get(name)
            .and_then(Value::as_str)
            .unwrap_or("-")
            .to_owned()
    };
    let header = ["EVENT TIME", "EVENT", "WHO", "ERROR", "REQUEST"].map(str::to_owned);
    let body: Vec<[String; 5]> = rows
        .iter()
        .map(|row| {
            let who = row
                .get("userName")
                .or_else(|| row.get("userArn"))
                .and_then(Value::as_str)
                .unwrap_or("-")
                .to_owned();
            let request = row
                .get("requestParameters")
                .map_or_else(|| "-".to_owned(), Value::to_string);
            [
                text(row, "eventTime"),
                text(row, "eventName"),
                who,
                text(row, "errorCode"),
                request,
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &body {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&body) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}
