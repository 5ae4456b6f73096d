//! `asg-trail timeline`: a group's API calls and activities, oldest first, with the cause of
//! each activity and the capacity through time, as a table, JSON, CSV or one HTML page. It reads
//! the group's partition exactly as `query --group` does (`--account` and `--region` too), and
//! tells each group of that name (account, region) apart: a section, a row's columns, an entry
//! of `groups`, a chart each.

use std::path::PathBuf;

use anyhow::{Context, Result};
use asg_trail::dynamodb::{QuerySpec, QueryTarget, TimeRange};
use asg_trail::timeline::{self, html, text};
use clap::ValueEnum;

use crate::query::{Place, describe_target, note_groups, print, read, table_name};
use crate::settings::TableArgs;

/// Output formats.
#[derive(Clone, Copy, ValueEnum)]
pub enum Output {
    /// Aligned columns for people.
    Table,
    /// One JSON document: the group's name, the range, and per account and region its entries
    /// and capacity series.
    Json,
    /// Comma-separated values with a header line, one row per entry.
    Csv,
    /// One self-contained HTML page: the capacity as a step chart, every entry as a marker.
    Html,
}

/// `timeline`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    table: TableArgs,
    /// The Auto Scaling group's name.
    #[arg(long)]
    group: String,
    #[command(flatten)]
    place: Place,
    /// Earliest event time, inclusive (`2024-03-05` or `2024-03-05T12:00:00Z`).
    #[arg(long)]
    since: Option<String>,
    /// Latest event time, inclusive (a date covers the whole day).
    #[arg(long)]
    until: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Write to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Runs `timeline`.
pub async fn run(args: Args) -> Result<()> {
    let table = table_name(&args.table)?;
    let spec = args.place.narrow(QuerySpec {
        range: TimeRange {
            since: args.since.clone(),
            until: args.until.clone(),
        },
        ..QuerySpec::new(QueryTarget::Group(args.group.clone()))
    });
    let rows = read(&table, &spec).await?;
    let built = timeline::by_group(&rows);
    let (since, until) = (args.since.as_deref(), args.until.as_deref());
    let rendered = match args.output {
        Output::Table => text::table(&built),
        Output::Csv => text::csv(&built),
        Output::Json => {
            let mut json = serde_json::to_string_pretty(&timeline::to_json(
                &args.group,
                since,
                until,
                &built,
            ))?;
            json.push('\n');
            json
        }
        Output::Html => html::page(
            html::Scope {
                group: &args.group,
                since,
                until,
            },
            &built,
        ),
    };
    match &args.out {
        Some(path) => std::fs::write(path, rendered)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print(&rendered)?,
    }
    if rows.is_empty() {
        eprintln!(
            "asg-trail: no events for {} in table {table}",
            describe_target(&spec)
        );
    }
    note_groups(&spec, built.len());
    Ok(())
}
