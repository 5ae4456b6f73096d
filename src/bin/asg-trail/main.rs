//! `asg-trail`, the operators' command line: extract items from log files offline, ingest S3
//! objects through the Lambda's code path, backfill a bucket's history, query the table (by
//! group, event name or principal, never a scan), show a group's configuration changes and its
//! timeline (API calls and activities, with causes and capacity), and
//! check a deployed stack's wiring (`doctor`).
//! Every command reads its settings through [`settings`], the Lambda's own parser.

use std::process::ExitCode;

use asg_trail::error::Chain;
use clap::{Parser, Subcommand};

mod backfill;
mod doctor;
mod extract;
mod ingest;
mod progress;
mod prune;
mod query;
mod settings;
mod timeline;

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
    /// Print the items CloudTrail log files yield, exactly as the Lambda would write them with
    /// the same settings, one JSON object per line (offline; gzip or plain; `-` reads stdin).
    /// Takes delivery files `{"Records":[...]}`, bare arrays, single records, JSON lines,
    /// EventBridge envelopes (API calls, and Auto Scaling's own activities: one per file, JSON
    /// lines, or concatenated as Firehose writes them) and `aws cloudtrail lookup-events` output.
    Extract(extract::Args),
    /// Ingest S3 objects into the table, through the Lambda's code path.
    Ingest(ingest::Args),
    /// Print events, oldest first: a group's timeline (`--group`), or across all groups one
    /// event name (`--event-name`, byEventName index) or one principal (`--user ARN`, byUser
    /// index). Never a table scan.
    Query(query::QueryArgs),
    /// Print a group's capacity and configuration history: each mutating call, what it set
    /// (minSize, maxSize, desiredCapacity, launch template, ...), who, when, and whether it
    /// failed; a section per account and region of that name (--account, --region pick one).
    Changes(query::ChangesArgs),
    /// Print a group's timeline: its API calls (who set what) and its own activities (what
    /// happened and why: an alarm's policy, a user request, a health check, an instance refresh,
    /// a lifecycle hook), oldest first, with the desired and actual capacity after each; as a
    /// table, JSON, CSV, or one self-contained HTML page with a capacity chart. A group is its
    /// name, account and region: each group of the name is told apart (--account, --region
    /// pick one).
    Timeline(timeline::Args),
    /// Ingest the log files already in a bucket (all accounts and regions under the prefix,
    /// days in --since..--until), through the Lambda's code path, with bounded concurrency, a
    /// progress display, and a checkpoint to resume from.
    Backfill(backfill::Args),
    /// Delete the read-only calls (Describe*) an earlier release stored without an expiry:
    /// items with readOnly true and no expiresAt (one Scan of the table; --dry-run counts).
    PruneReadOnly(prune::Args),
    /// Check a deployed stack's wiring, read-only: the trail logs to the bucket, the bucket's
    /// notification reaches the function, the function's role may read the logs and write the
    /// table, the table's keys, indexes and TTL, the newest item, the failure queue, the alarm
    /// topic. Prints a checklist whose red lines name the fix; exits 1 on any red line.
    Doctor(doctor::Args),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    progress::init_logging(matches!(cli.command, Command::Backfill(_)));
    let result = match cli.command {
        Command::Extract(args) => extract::run(&args),
        Command::Ingest(args) => ingest::run(&args).await,
        Command::Query(args) => query::run(args).await,
        Command::Changes(args) => query::changes(args).await,
        Command::Timeline(args) => timeline::run(args).await,
        Command::Backfill(args) => return backfill::run(args).await,
        Command::PruneReadOnly(args) => prune::run(args).await,
        Command::Doctor(args) => return doctor::run(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("asg-trail: {}", Chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}
