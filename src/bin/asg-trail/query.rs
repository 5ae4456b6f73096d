//! `asg-trail query` and `asg-trail changes`: read one partition of the table or of an index
//! (never a scan) and print it as a table, JSON lines or CSV. [`Place`] is the `--account` and
//! `--region` of every command that reads a group (`timeline` too): a group name is unique only
//! within an account and a region.

use std::io::{self, Write};

use anyhow::{Context, Result};
use asg_trail::dynamodb::{self, QuerySpec, QueryTarget, TimeRange};
use asg_trail::render;
use clap::ValueEnum;
use serde_json::Value;

use crate::settings::{Overrides, TableArgs};

/// Output formats.
#[derive(Clone, Copy, ValueEnum)]
pub enum Output {
    /// Aligned columns for people.
    Table,
    /// One JSON object per line, every attribute.
    Json,
    /// Comma-separated values with a header line.
    Csv,
}

/// The time window and presentation shared by both commands.
#[derive(clap::Args)]
pub struct Window {
    /// Earliest event time, inclusive (`2024-03-05` or `2024-03-05T12:00:00Z`).
    #[arg(long)]
    since: Option<String>,
    /// Latest event time, inclusive (a date covers the whole day).
    #[arg(long)]
    until: Option<String>,
    /// Print at most this many (the latest ones with --newest-first).
    #[arg(long)]
    limit: Option<usize>,
    /// Newest first.
    #[arg(long)]
    newest_first: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

/// `--account` and `--region`: which of the groups of a name (or, across groups, which events).
/// Filters on the partition read (server-side, as the plan makes them), never a scan.
#[derive(clap::Args)]
pub struct Place {
    /// Only events of this account (`-`: of none named).
    #[arg(long)]
    account: Option<String>,
    /// Only events of this region (`-`: of none named, as an item without awsRegion shows).
    #[arg(long)]
    region: Option<String>,
}

impl Place {
    /// `spec`, narrowed to this account and region.
    pub fn narrow(self, spec: QuerySpec) -> QuerySpec {
        QuerySpec {
            account: self.account,
            region: self.region,
            ..spec
        }
    }
}

/// `query`'s arguments.
#[derive(clap::Args)]
pub struct QueryArgs {
    #[command(flatten)]
    table: TableArgs,
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
    #[command(flatten)]
    place: Place,
    /// Only failed calls (with an errorCode).
    #[arg(long)]
    errors_only: bool,
    #[command(flatten)]
    window: Window,
}

/// `changes`' arguments.
#[derive(clap::Args)]
pub struct ChangesArgs {
    #[command(flatten)]
    table: TableArgs,
    /// The Auto Scaling group's name.
    #[arg(long)]
    group: String,
    #[command(flatten)]
    place: Place,
    #[command(flatten)]
    window: Window,
}

/// The table the settings name (`--table`, else `TABLE_NAME`).
pub fn table_name(table: &TableArgs) -> Result<String> {
    let mut overrides = Overrides::default();
    table.add_to(&mut overrides);
    let config = overrides.load_with_table()?;
    Ok(config.table()?.to_owned())
}

/// Runs `query`.
pub async fn run(args: QueryArgs) -> Result<()> {
    let table = table_name(&args.table)?;
    let w = args.window;
    let spec =
        QuerySpec::choose(args.group, args.event_name, args.user).map_err(anyhow::Error::msg)?;
    let spec = args.place.narrow(QuerySpec {
        range: TimeRange {
            since: w.since,
            until: w.until,
        },
        errors_only: args.errors_only,
        limit: w.limit,
        newest_first: w.newest_first,
        ..spec
    });
    let rows = read(&table, &spec).await?;
    match w.output {
        Output::Json => print(&json_lines(&rows)?)?,
        Output::Table => print(&render::events_table(&rows))?,
        Output::Csv => print(&render::events_csv(&rows))?,
    }
    if rows.is_empty() {
        eprintln!(
            "asg-trail: no events for {} in table {table}",
            describe_target(&spec)
        );
    }
    Ok(())
}

/// Runs `changes`.
pub async fn changes(args: ChangesArgs) -> Result<()> {
    let table = table_name(&args.table)?;
    let w = args.window;
    let spec = args.place.narrow(QuerySpec {
        range: TimeRange {
            since: w.since,
            until: w.until,
        },
        newest_first: w.newest_first,
        ..QuerySpec::new(QueryTarget::Group(args.group))
    });
    let rows = read(&table, &spec).await?;
    let mut found = render::changes(&rows);
    if let Some(limit) = w.limit {
        found.truncate(limit);
    }
    let groups = render::by_group(found, |c| c.group.clone());
    match w.output {
        Output::Json => print(&json_lines(groups.iter().flat_map(|(_, c)| c))?)?,
        Output::Table => print(&render::changes_table(&groups))?,
        Output::Csv => print(&render::changes_csv(&groups))?,
    }
    if groups.is_empty() {
        eprintln!(
            "asg-trail: no changes to {} in table {table} ({} events read, none mutating)",
            describe_target(&spec),
            rows.len()
        );
    }
    note_groups(&spec, groups.len());
    Ok(())
}

/// Says on stderr that the name `spec` read stands for `count` groups (more than one), each
/// shown apart, and how to pick one.
pub fn note_groups(spec: &QuerySpec, count: usize) {
    if count > 1 {
        eprintln!(
            "asg-trail: {} names {count} groups (accounts and regions), each shown apart; \
             --account and --region pick one",
            describe_target(spec)
        );
    }
}

/// What a query reads, in words, with the account and region asked for.
pub fn describe_target(spec: &QuerySpec) -> String {
    let target = match &spec.target {
        QueryTarget::Group(g) => format!("group {g}"),
        QueryTarget::EventName(e) => format!("event name {e} (index {})", dynamodb::BY_EVENT_NAME),
        QueryTarget::User(u) => format!("user {u} (index {})", dynamodb::BY_USER),
    };
    let place: Vec<String> = [("account", &spec.account), ("region", &spec.region)]
        .into_iter()
        .filter_map(|(what, value)| value.as_ref().map(|v| format!("{what} {v}")))
        .collect();
    if place.is_empty() {
        target
    } else {
        format!("{target} in {}", place.join(", "))
    }
}

/// Reads what `spec` names, every page, as plain JSON items.
pub async fn read(table: &str, spec: &QuerySpec) -> Result<Vec<Value>> {
    let clients = asg_trail::aws::load().await;
    let items = dynamodb::query(&clients.dynamodb, table, spec)
        .await
        .with_context(|| format!("cannot query table {table} for {}", describe_target(spec)))?;
    Ok(items.iter().map(dynamodb::to_json).collect())
}

/// Writes `text` to stdout.
pub fn print(text: &str) -> Result<()> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write to stdout")
}

/// One JSON object per line.
fn json_lines<T: serde::Serialize>(values: impl IntoIterator<Item = T>) -> Result<String> {
    let mut text = String::new();
    for value in values {
        text.push_str(&serde_json::to_string(&value)?);
        text.push('\n');
    }
    Ok(text)
}
