//! `asg-trail prune-read-only`: delete the read-only calls an earlier release kept forever
//! (docs/deploy.md, "Upgrading").

use anyhow::{Context, Result};
use asg_trail::dynamodb::{PruneStats, prune_read_only};

use crate::settings::{Overrides, TableArgs};

/// `prune-read-only`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    table: TableArgs,
    /// Only count them.
    #[arg(long)]
    dry_run: bool,
}

fn line(stats: &PruneStats, dry_run: bool) -> String {
    let done = if dry_run {
        "would delete".to_owned()
    } else {
        format!("deleted {} of", stats.deleted)
    };
    format!(
        "{} items scanned; {done} {} read-only calls without expiresAt",
        stats.scanned, stats.matched
    )
}

/// Runs `prune-read-only`, its deletes retried by the `WRITE_*` settings, as the Lambda's writes.
pub async fn run(args: Args) -> Result<()> {
    let mut overrides = Overrides::default();
    args.table.add_to(&mut overrides);
    let config = overrides.load_with_table()?;
    let table = config.table()?.to_owned();
    let clients = asg_trail::aws::load().await;
    let stats = prune_read_only(
        &clients.dynamodb,
        &table,
        &config.retry,
        args.dry_run,
        |s| {
            eprintln!("asg-trail: {}", line(s, args.dry_run));
        },
    )
    .await
    .with_context(|| format!("pruning table {table}"))?;
    println!("{}", line(&stats, args.dry_run));
    Ok(())
}
