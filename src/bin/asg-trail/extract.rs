//! `asg-trail extract`: the items log files yield, printed as JSON lines, through the same
//! pipeline and settings as the Lambda. Stops reading as soon as stdout is closed
//! (`extract big.json.gz | head -1`).

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::ops::ControlFlow;

use anyhow::{Context, Result};
use asg_trail::cloudtrail::Format;
use asg_trail::extract::FileStats;
use asg_trail::pipeline;

use crate::settings::{ItemArgs, Overrides};

/// The command's arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Log files.
    #[arg(required = true)]
    files: Vec<String>,
    /// After the items, print a summary to stderr: records, events, items, how many events
    /// were attributed to a group, filtered, rejected.
    #[arg(long)]
    stats: bool,
    #[command(flatten)]
    items: ItemArgs,
}

/// Runs the command.
pub fn run(args: &Args) -> Result<()> {
    let mut overrides = Overrides::default();
    args.items.add_to(&mut overrides);
    let config = overrides.load()?;
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut total = FileStats::default();
    for path in &args.files {
        let input: Box<dyn Read + Send> = if path == "-" {
            Box::new(io::stdin())
        } else {
            Box::new(File::open(path).with_context(|| format!("{path}: cannot open"))?)
        };
        let mut write_error = None;
        let (stats, parsed) = pipeline::log_items(input, Format::Any, path, &config, |item| {
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
            if e.kind() == io::ErrorKind::BrokenPipe {
                // The reader has all it wanted (`| head`): stop quietly.
                return Ok(());
            }
            return Err(e).context("cannot write to stdout");
        }
        out.flush().context("cannot write to stdout")?;
        let stats = stats.file;
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
    if args.stats {
        eprint!("{}", stats_text(args.files.len(), &total));
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
