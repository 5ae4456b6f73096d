//! `asg-trail ingest`: S3 objects into the table through the Lambda's code path and settings.
//! An object that does not exist is an error here (a mistyped replay must not look done),
//! where a notification would skip it; an object that is not a log file by the one rule
//! (`notification::logfile`) is skipped and logged as the Lambda skips it.

use anyhow::{Result, bail};
use asg_trail::dynamodb::DynamoDbWriter;
use asg_trail::handler::{Ingestor, OnMissing};
use asg_trail::notification::{Disposition, ObjectRef};
use asg_trail::s3::S3Store;

use crate::settings::{ItemArgs, Overrides, TableArgs, WriteArgs};

/// The command's arguments.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    table: TableArgs,
    /// Objects, as s3://BUCKET/KEY.
    #[arg(required = true)]
    objects: Vec<String>,
    #[command(flatten)]
    write: WriteArgs,
    #[command(flatten)]
    items: ItemArgs,
}

/// Runs the command.
pub async fn run(args: &Args) -> Result<()> {
    let mut overrides = Overrides::default();
    args.table.add_to(&mut overrides);
    args.write.add_to(&mut overrides);
    args.items.add_to(&mut overrides);
    let config = overrides.load_with_table()?;
    let objects = args
        .objects
        .iter()
        .map(|u| u.parse::<ObjectRef>())
        .collect::<Result<Vec<_>, _>>()?;
    let clients = asg_trail::aws::load().await;
    let ingestor = Ingestor::new(
        S3Store::new(clients.s3),
        DynamoDbWriter::new(clients.dynamodb),
        config,
    )?;
    let mut wanted = Vec::with_capacity(objects.len());
    for object in objects {
        match Disposition::new(object, true) {
            Disposition::Skip(object, reason) => ingestor.skip(&object, reason),
            Disposition::Ingest(object) => wanted.push(object),
        }
    }
    let results = ingestor.ingest_all(&wanted, None, OnMissing::Fail).await;
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
