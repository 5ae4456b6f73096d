//! `asg-trail doctor`: checks a deployed stack's wiring (trail, notification, the SNS trigger's
//! topic, permissions, the trail's KMS key, table, failure and dead-letter queues, alarm topics)
//! through read-only AWS calls and prints a checklist; the exit status is 1 when any line needs
//! a fix.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use asg_trail::doctor::{self, Report, Target};
use asg_trail::error::Chain;
use clap::ValueEnum;

/// Output formats.
#[derive(Clone, Copy, ValueEnum)]
pub enum Output {
    /// One line per check, coloured on a terminal (unless NO_COLOR is set).
    Text,
    /// One JSON object: `{"passed": bool, "checks": [{name, status, detail, fix}]}`.
    Json,
}

/// The command's arguments: a stack, or its parts.
#[derive(clap::Args)]
pub struct Args {
    /// The CloudFormation stack made from template.yaml: its outputs, parameters and resources
    /// name everything to check.
    #[arg(long, required_unless_present_all = ["function", "table", "bucket"],
          conflicts_with_all = ["function", "table", "bucket", "prefix", "queue", "topic",
                                "extra_topic", "dead_letter_queue", "log_file_topic"])]
    stack: Option<String>,
    /// The function's name or ARN (with --table and --bucket).
    #[arg(long, requires_all = ["table", "bucket"])]
    function: Option<String>,
    /// The table's name.
    #[arg(long, requires_all = ["function", "bucket"])]
    table: Option<String>,
    /// The bucket the trail delivers to.
    #[arg(long, requires_all = ["function", "table"])]
    bucket: Option<String>,
    /// The key prefix of the log files (e.g. `AWSLogs/`); empty for the whole bucket.
    #[arg(long, default_value = "")]
    prefix: String,
    /// The failure queue's URL.
    #[arg(long, value_name = "URL")]
    queue: Option<String>,
    /// The alarm topic's ARN.
    #[arg(long, value_name = "ARN")]
    topic: Option<String>,
    /// Another topic the alarms notify (the stack's AlarmTopicArn: a central pager topic).
    #[arg(long, value_name = "ARN")]
    extra_topic: Option<String>,
    /// The real-time rule's dead-letter queue's URL (the stack's
    /// AutoScalingEventsDeadLetterQueueUrl).
    #[arg(long, value_name = "URL")]
    dead_letter_queue: Option<String>,
    /// The topic the function hears of log files through (the SNS trigger's
    /// ExistingBucketTopicArn), read in its own region.
    #[arg(long, value_name = "ARN")]
    log_file_topic: Option<String>,
    /// The newest item must be younger than this.
    #[arg(long, value_name = "HOURS", default_value_t = 24)]
    max_age_hours: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// Runs the command: 0 when no line is red, 1 otherwise (or when the stack cannot be read).
pub async fn run(args: Args) -> ExitCode {
    match report(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("asg-trail: {}", Chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn report(args: Args) -> Result<bool> {
    let clients = asg_trail::aws::load_doctor().await;
    let target = match &args.stack {
        Some(stack) => doctor::resolve_stack(&clients, stack).await?,
        None => Target {
            function: args.function.unwrap_or_default(),
            table: args.table.unwrap_or_default(),
            bucket: args.bucket.unwrap_or_default(),
            prefix: args.prefix,
            queue_url: args.queue,
            topic_arn: args.topic,
            extra_topic_arn: args.extra_topic,
            dead_letter_url: args.dead_letter_queue,
            trigger: None,
            log_topic_arn: args.log_file_topic,
            kms_key_arn: None,
            stack: None,
        },
    };
    let report = doctor::examine(
        &clients,
        &target,
        jiff::Timestamp::now(),
        args.max_age_hours,
    )
    .await;
    print(&report, args.output)?;
    Ok(report.passed())
}

fn print(report: &Report, output: Output) -> Result<()> {
    let stdout = std::io::stdout();
    let text = match output {
        Output::Text => {
            let color = stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none();
            report.text(color)
        }
        Output::Json => {
            let value = serde_json::json!({"passed": report.passed(), "checks": report.checks});
            format!("{value}\n")
        }
    };
    let mut out = stdout.lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write to stdout")
}
