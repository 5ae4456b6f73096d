//! `asg-trail doctor`: checks a deployed stack's wiring through read-only AWS calls and reports
//! a checklist, one [`Check`] per line: green (ok), red (a fix is needed, and the line names
//! it), yellow (could not tell, e.g. the check's own call was denied).
//!
//! One job per module:
//!
//! - this module: the checklist model ([`Check`], [`Report`]) and what is checked ([`Target`],
//!   found from a stack's outputs, parameters and resources by [`Target::from_stack`]);
//! - `trail`, `notify`, `policy`, `kms`, `table`, `queues`: each turns the answers of the AWS
//!   APIs of one group of checks into [`Check`]s, with the fix texts; `policy` also holds the
//!   local evaluator of IAM policies (identity policies where `iam:SimulatePrincipalPolicy` is
//!   unavailable, and key policies);
//! - `probe`: the thin SDK calls that gather those answers, and [`examine`], which runs every
//!   check.
//!
//! All but `probe` are pure: neither tokio nor the AWS SDK.

mod kms;
mod notify;
mod policy;
mod probe;
mod queues;
mod table;
mod trail;

use std::fmt::Write as _;

use serde::Serialize;

use crate::error::BoxError;

pub use probe::{StackError, examine, resolve_stack};

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Wired as it should be.
    Ok,
    /// Broken: the check's `fix` says what to do.
    Fix,
    /// Could not tell (the check's own call failed or was denied, or a condition could not be
    /// evaluated).
    Unknown,
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked (`trail`, `notification`, ...).
    pub name: &'static str,
    /// The outcome.
    pub status: Status,
    /// What was found, in a sentence.
    pub detail: String,
    /// What to do, in a sentence: only for [`Status::Fix`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    /// A green line.
    #[must_use]
    pub fn ok(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name,
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    /// A red line and its fix.
    #[must_use]
    pub fn fix(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            name,
            status: Status::Fix,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    /// A yellow line.
    #[must_use]
    pub fn unknown(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name,
            status: Status::Unknown,
            detail: detail.into(),
            fix: None,
        }
    }
}

/// The names of the checks, in the order they are printed.
pub mod names {
    /// The function exists and writes the table.
    pub const FUNCTION: &str = "function";
    /// The trail logs to the bucket and prefix.
    pub const TRAIL: &str = "trail";
    /// The bucket's notification reaches the function.
    pub const NOTIFICATION: &str = "notification";
    /// The topic of the SNS trigger (`ExistingBucketTopicArn`), in its own region.
    pub const LOG_FILE_TOPIC: &str = "log file topic";
    /// The function's role may read the logs and write the table.
    pub const PERMISSIONS: &str = "permissions";
    /// The function's role may decrypt the trail's SSE-KMS log files.
    pub const KMS_KEY: &str = "kms key";
    /// The table's key schema.
    pub const TABLE_KEYS: &str = "table keys";
    /// The table's indexes.
    pub const TABLE_INDEXES: &str = "table indexes";
    /// The table's TTL.
    pub const TABLE_TTL: &str = "table ttl";
    /// The newest item.
    pub const NEWEST_ITEM: &str = "newest item";
    /// The failure queue.
    pub const FAILURE_QUEUE: &str = "failure queue";
    /// The real-time rule's dead-letter queue.
    pub const DEAD_LETTER_QUEUE: &str = "dead-letter queue";
    /// The alarm topic.
    pub const ALARM_TOPIC: &str = "alarm topic";
}

/// The checklist.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Every check, in order.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether no line is red.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.status != Status::Fix)
    }

    /// The checklist for people: one line per check (`[ ok ]`, `[FIX ]`, `[ ?? ]`), the fix
    /// indented under a red line; ANSI colours when `color`.
    #[must_use]
    pub fn text(&self, color: bool) -> String {
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let mut out = String::new();
        for c in &self.checks {
            let (tag, code) = match c.status {
                Status::Ok => ("[ ok ]", "32"),
                Status::Fix => ("[FIX ]", "31"),
                Status::Unknown => ("[ ?? ]", "33"),
            };
            let tag = if color {
                format!("\x1b[{code}m{tag}\x1b[0m")
            } else {
                tag.to_owned()
            };
            let _ = writeln!(out, "{tag} {:<width$}  {}", c.name, c.detail);
            if let Some(fix) = &c.fix {
                let _ = writeln!(out, "       {:<width$}  fix: {fix}", "");
            }
        }
        let red = self
            .checks
            .iter()
            .filter(|c| c.status == Status::Fix)
            .count();
        let yellow = self
            .checks
            .iter()
            .filter(|c| c.status == Status::Unknown)
            .count();
        let _ = writeln!(
            out,
            "{} checks: {} to fix, {} could not tell",
            self.checks.len(),
            red,
            yellow
        );
        out
    }
}

/// What the doctor looks at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Target {
    /// The function's name or ARN.
    pub function: String,
    /// The table's name.
    pub table: String,
    /// The bucket the trail delivers to.
    pub bucket: String,
    /// The key prefix of the log files in the bucket (`AWSLogs/`, `myprefix/AWSLogs/o-abc/`,
    /// or empty for the whole bucket).
    pub prefix: String,
    /// The failure queue's URL, if known.
    pub queue_url: Option<String>,
    /// The alarm topic's ARN, if known.
    pub topic_arn: Option<String>,
    /// The other topic the alarms notify (the stack's `AlarmTopicArn` parameter: a central
    /// pager topic), if any.
    pub extra_topic_arn: Option<String>,
    /// The real-time rule's dead-letter queue's URL, if real-time events are on.
    pub dead_letter_url: Option<String>,
    /// How the function hears of an existing bucket's log files (the stack's
    /// `ExistingBucketTrigger`); `None` for a bucket the stack made, or when not known.
    pub trigger: Option<Trigger>,
    /// The topic of the SNS trigger (`ExistingBucketTopicArn`), if any.
    pub log_topic_arn: Option<String>,
    /// The stack's `KmsKeyArn` parameter (empty when unset), if there is a stack.
    pub kms_key_arn: Option<String>,
    /// The stack all this was read from, if any: then a missing alarm topic is a fault (the
    /// alarms notify nobody) rather than a check left out.
    pub stack: Option<String>,
}

/// How the function hears of an existing bucket's log files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A rule on the bucket's "Object Created" events on the stack account's default bus.
    EventBridge,
    /// A subscription to a topic the bucket (or the trail) publishes to.
    Sns,
}

/// The key prefix of the log files when the stack created the bucket and trail.
pub const TURNKEY_PREFIX: &str = "AWSLogs/";

/// A stack names no resource of a kind the doctor needs.
#[derive(Debug, thiserror::Error)]
#[error("stack {stack} names no {what} (neither an output {output} nor a resource {resource})")]
pub struct MissingInStack {
    /// The stack.
    pub stack: String,
    /// What is missing (`function`, `table`, `bucket`).
    pub what: &'static str,
    /// The output looked for.
    pub output: &'static str,
    /// The logical ID looked for.
    pub resource: &'static str,
}

/// A call of the doctor failed, or answered without what the check needs: that check turns
/// yellow (or red) and says why, with this error's message.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ProbeError {
    /// The API call (`DescribeTable`, `ListSubscriptionsByTopic`, ...).
    pub call: &'static str,
    /// What the service said (`Code: message (request id ...)`), or what the answer lacked.
    pub message: String,
    /// The SDK error (or the policy document's JSON error), when there is one.
    #[source]
    pub source: Option<BoxError>,
}

impl ProbeError {
    /// A failure with no error behind it.
    #[must_use]
    pub fn new(call: &'static str, message: impl Into<String>) -> Self {
        Self {
            call,
            message: message.into(),
            source: None,
        }
    }
}

/// What a stack's description says: its outputs, parameters and resources (logical ID →
/// physical ID), as pairs.
#[derive(Debug, Clone, Default)]
pub struct StackFacts {
    /// The stack's name.
    pub name: String,
    /// Output key → value.
    pub outputs: Vec<(String, String)>,
    /// Parameter key → value.
    pub parameters: Vec<(String, String)>,
    /// Logical ID → physical ID.
    pub resources: Vec<(String, String)>,
}

fn lookup<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, v)| k == key && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

impl Target {
    /// The target of a stack made from this repository's template: outputs first, then the
    /// resources' physical IDs. The prefix is the `ExistingBucketPrefix` parameter with an
    /// existing bucket, [`TURNKEY_PREFIX`] otherwise.
    ///
    /// # Errors
    /// The stack names no function, table or bucket.
    pub fn from_stack(stack: &StackFacts) -> Result<Self, MissingInStack> {
        let find = |what, output, resource| {
            lookup(&stack.outputs, output)
                .or_else(|| lookup(&stack.resources, resource))
                .map(str::to_owned)
                .ok_or_else(|| MissingInStack {
                    stack: stack.name.clone(),
                    what,
                    output,
                    resource,
                })
        };
        let parameter = |key| lookup(&stack.parameters, key).map(str::to_owned);
        let existing = parameter("ExistingBucketName").is_some();
        let prefix = if existing {
            parameter("ExistingBucketPrefix").unwrap_or_default()
        } else {
            TURNKEY_PREFIX.to_owned()
        };
        let trigger = match parameter("ExistingBucketTrigger").as_deref() {
            _ if !existing => None,
            Some("SNS") => Some(Trigger::Sns),
            // The template's default.
            _ => Some(Trigger::EventBridge),
        };
        Ok(Self {
            function: find("function", "FunctionName", "Function")?,
            table: find("table", "TableName", "Table")?,
            bucket: find("bucket", "BucketName", "LogBucket")?,
            prefix,
            queue_url: find("failure queue", "FailedEventsQueueUrl", "FailedEventsQueue").ok(),
            topic_arn: find("alarm topic", "AlarmTopicArn", "AlarmTopic").ok(),
            extra_topic_arn: parameter("AlarmTopicArn"),
            dead_letter_url: find(
                "dead-letter queue",
                "AutoScalingEventsDeadLetterQueueUrl",
                "AutoScalingEventsDeadLetterQueue",
            )
            .ok(),
            log_topic_arn: parameter("ExistingBucketTopicArn")
                .filter(|_| trigger == Some(Trigger::Sns)),
            trigger,
            kms_key_arn: Some(parameter("KmsKeyArn").unwrap_or_default()),
            stack: Some(stack.name.clone()),
        })
    }
}

/// Whether one key prefix lies within the other (either way): a trail that delivers below
/// `AWSLogs/` serves a function reading `AWSLogs/o-abc/`, and the other way round.
#[must_use]
pub fn prefixes_meet(a: &str, b: &str) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Owned pairs, for the tests.
#[cfg(test)]
fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turnkey_stack_names_everything_through_outputs_and_resources() {
        let stack = StackFacts {
            name: "prod".into(),
            outputs: pairs(&[
                ("FunctionName", "prod-Function-1"),
                ("TableName", "prod-events"),
                ("BucketName", "prod-logs"),
                ("FailedEventsQueueUrl", "https://sqs/q"),
            ]),
            parameters: pairs(&[("ExistingBucketName", ""), ("ExistingBucketPrefix", "")]),
            resources: pairs(&[("AlarmTopic", "arn:aws:sns:us-east-1:1:t")]),
        };
        let t = Target::from_stack(&stack).expect("complete");
        assert_eq!(t.function, "prod-Function-1");
        assert_eq!(t.prefix, TURNKEY_PREFIX);
        assert_eq!(t.queue_url.as_deref(), Some("https://sqs/q"));
        assert_eq!(t.topic_arn.as_deref(), Some("arn:aws:sns:us-east-1:1:t"));
    }

    #[test]
    fn an_existing_bucket_stack_uses_its_prefix_and_a_missing_table_is_named() {
        let mut stack = StackFacts {
            name: "s".into(),
            outputs: pairs(&[("FunctionName", "f"), ("BucketName", "b")]),
            parameters: pairs(&[
                ("ExistingBucketName", "b"),
                ("ExistingBucketPrefix", "x/AWSLogs/"),
            ]),
            resources: vec![],
        };
        let err = Target::from_stack(&stack).expect_err("no table");
        assert_eq!(err.what, "table");
        assert!(err.to_string().contains("output TableName"), "{err}");
        stack.resources = pairs(&[("Table", "t")]);
        let t = Target::from_stack(&stack).expect("complete");
        assert_eq!((t.table.as_str(), t.prefix.as_str()), ("t", "x/AWSLogs/"));
        assert_eq!(t.topic_arn, None);
    }

    #[test]
    fn an_organization_stack_names_its_trigger_topics_key_and_dead_letter_queue() {
        let stack = StackFacts {
            name: "org".into(),
            outputs: pairs(&[
                ("FunctionName", "f"),
                ("TableName", "t"),
                ("BucketName", "central-logs"),
                ("AutoScalingEventsDeadLetterQueueUrl", "https://sqs/dlq"),
            ]),
            parameters: pairs(&[
                ("ExistingBucketName", "central-logs"),
                ("ExistingBucketTrigger", "SNS"),
                ("ExistingBucketTopicArn", "arn:aws:sns:eu-west-1:2:logs"),
                ("AlarmTopicArn", "arn:aws:sns:us-east-1:3:pager"),
                ("KmsKeyArn", ""),
            ]),
            resources: vec![],
        };
        let t = Target::from_stack(&stack).expect("complete");
        assert_eq!(t.trigger, Some(Trigger::Sns));
        assert_eq!(
            t.log_topic_arn.as_deref(),
            Some("arn:aws:sns:eu-west-1:2:logs")
        );
        assert_eq!(
            t.extra_topic_arn.as_deref(),
            Some("arn:aws:sns:us-east-1:3:pager")
        );
        assert_eq!(t.dead_letter_url.as_deref(), Some("https://sqs/dlq"));
        assert_eq!(t.kms_key_arn.as_deref(), Some(""));

        let mut eventbridge = stack.clone();
        eventbridge.parameters = pairs(&[
            ("ExistingBucketName", "central-logs"),
            ("ExistingBucketTrigger", "EventBridge"),
            ("ExistingBucketTopicArn", "arn:aws:sns:eu-west-1:2:stale"),
        ]);
        let t = Target::from_stack(&eventbridge).expect("complete");
        assert_eq!(
            (t.trigger, t.log_topic_arn),
            (Some(Trigger::EventBridge), None)
        );
        eventbridge.parameters = vec![];
        assert_eq!(
            Target::from_stack(&eventbridge).expect("turnkey").trigger,
            None
        );
    }

    #[test]
    fn a_report_fails_on_red_only_and_prints_the_fix_under_its_line() {
        let mut report = Report {
            checks: vec![
                Check::ok("trail", "logging"),
                Check::unknown("alarm topic", "denied"),
            ],
        };
        assert!(report.passed());
        report
            .checks
            .push(Check::fix("failure queue", "3 messages", "replay them"));
        assert!(!report.passed());
        let text = report.text(false);
        assert!(
            text.contains("[FIX ] failure queue  3 messages\n"),
            "{text}"
        );
        assert!(text.contains("fix: replay them\n"), "{text}");
        assert!(text.contains("[ ?? ] alarm topic"), "{text}");
        assert!(
            text.ends_with("3 checks: 1 to fix, 1 could not tell\n"),
            "{text}"
        );
        assert!(report.text(true).contains("\x1b[31m[FIX ]\x1b[0m"));
    }

    #[test]
    fn prefixes_meet_either_way() {
        assert!(prefixes_meet("AWSLogs/", "AWSLogs/o-1/"));
        assert!(prefixes_meet("AWSLogs/o-1/", "AWSLogs/"));
        assert!(prefixes_meet("", "AWSLogs/"));
        assert!(!prefixes_meet("a/AWSLogs/", "AWSLogs/"));
    }
}
