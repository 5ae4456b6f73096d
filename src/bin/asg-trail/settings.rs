//! The settings flags of the CLI. Each one stands for the variable of the same meaning
//! ([`asg_trail::config`]): a flag given replaces its variable, a flag left out leaves the
//! variable (or its default) in force, and one parser, [`Config::from_lookup`], reads the result
//! for every command, as the Lambda reads its environment.

use anyhow::{Result, anyhow};
use asg_trail::config::{Config, ConfigError};
use clap::Args;

/// The flags that stand for a variable, for error messages.
const FLAGS: &[(&str, &str)] = &[
    ("TABLE_NAME", "--table"),
    ("RETENTION_DAYS", "--retention-days"),
    ("READ_ONLY_RETENTION_DAYS", "--read-only-retention-days"),
    ("WRITE_CONCURRENCY", "--write-concurrency"),
    ("INCLUDE_SERVICE_ACTIONS", "--include-service-actions"),
    (
        "EXCLUDE_READ_ONLY",
        "--exclude-read-only / --keep-read-only",
    ),
    ("EVENT_NAMES_INCLUDE", "--event-names-include"),
    ("EVENT_NAMES_EXCLUDE", "--event-names-exclude"),
];

/// Variable values given by flags.
#[derive(Debug, Default)]
pub struct Overrides(Vec<(&'static str, String)>);

impl Overrides {
    fn set(&mut self, name: &'static str, value: Option<&String>) {
        if let Some(value) = value {
            self.0.push((name, value.clone()));
        }
    }

    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }

    /// The settings: these values where given, the environment elsewhere.
    ///
    /// # Errors
    /// The variable (and the flag that stands for it) that is malformed.
    pub fn load(&self) -> Result<Config> {
        Config::from_lookup(|name| self.get(name).or_else(|| std::env::var(name).ok()))
            .map_err(|e| self.explain(&e))
    }

    /// The settings of a command that writes or queries: a table is required.
    ///
    /// # Errors
    /// As [`Overrides::load`], or no table.
    pub fn load_with_table(&self) -> Result<Config> {
        let config = self.load()?;
        config.table().map_err(|e| self.explain(&e))?;
        Ok(config)
    }

    fn explain(&self, error: &ConfigError) -> anyhow::Error {
        let name = match error {
            ConfigError::Missing(name)
            | ConfigError::Invalid { name, .. }
            | ConfigError::Rule { name, .. } => *name,
        };
        let flag = FLAGS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f);
        match (error, flag) {
            (ConfigError::Missing(_), Some(flag)) => anyhow!("give {flag}, or set {name}"),
            (_, Some(flag)) if self.get(name).is_some() => anyhow!("{flag}: {error}"),
            _ => anyhow!("{error}"),
        }
    }
}

/// `--table`.
#[derive(Args, Debug)]
pub struct TableArgs {
    /// The DynamoDB table [default: $TABLE_NAME].
    #[arg(long)]
    table: Option<String>,
}

impl TableArgs {
    /// Adds the flag's value, if given.
    pub fn add_to(&self, o: &mut Overrides) {
        o.set("TABLE_NAME", self.table.as_ref());
    }
}

/// The flags that shape the items: retention and filters, as the Lambda's variables.
#[derive(Args, Debug)]
pub struct ItemArgs {
    /// Days after its event an item may expire (TTL `expiresAt`); 0 keeps it forever. Use the
    /// stack's RetentionDays so that replayed items expire like the others [default:
    /// $RETENTION_DAYS, else 0].
    #[arg(long, value_name = "DAYS")]
    retention_days: Option<String>,
    /// Also keep the EC2 calls Auto Scaling makes itself (RunInstances, TerminateInstances,
    /// CreateFleet, ...), with origin=service [default: $INCLUDE_SERVICE_ACTIONS, else false].
    #[arg(long)]
    include_service_actions: bool,
    /// Days a read-only call is kept when they are kept (--keep-read-only); 0 = as
    /// --retention-days [default: $READ_ONLY_RETENTION_DAYS, else 90].
    #[arg(long, value_name = "DAYS")]
    read_only_retention_days: Option<String>,
    /// Drop read-only events (Describe*, Get*) [default: $EXCLUDE_READ_ONLY, else true].
    #[arg(long, conflicts_with = "keep_read_only")]
    exclude_read_only: bool,
    /// Keep read-only events (EXCLUDE_READ_ONLY=false): each is stored once, in the account
    /// partition, for --read-only-retention-days.
    #[arg(long)]
    keep_read_only: bool,
    /// Keep only these event names, comma-separated [default: $EVENT_NAMES_INCLUDE, else all].
    #[arg(long, value_name = "A,B")]
    event_names_include: Option<String>,
    /// Drop these event names, comma-separated [default: $EVENT_NAMES_EXCLUDE, else none].
    #[arg(long, value_name = "A,B")]
    event_names_exclude: Option<String>,
}

impl ItemArgs {
    /// Adds the values of the flags given.
    pub fn add_to(&self, o: &mut Overrides) {
        let (yes, no) = ("true".to_owned(), "false".to_owned());
        o.set("RETENTION_DAYS", self.retention_days.as_ref());
        o.set(
            "READ_ONLY_RETENTION_DAYS",
            self.read_only_retention_days.as_ref(),
        );
        o.set(
            "INCLUDE_SERVICE_ACTIONS",
            self.include_service_actions.then_some(&yes),
        );
        o.set("EXCLUDE_READ_ONLY", self.exclude_read_only.then_some(&yes));
        o.set("EXCLUDE_READ_ONLY", self.keep_read_only.then_some(&no));
        o.set("EVENT_NAMES_INCLUDE", self.event_names_include.as_ref());
        o.set("EVENT_NAMES_EXCLUDE", self.event_names_exclude.as_ref());
    }
}

/// The flags of the writer.
#[derive(Args, Debug)]
pub struct WriteArgs {
    /// BatchWriteItem calls in flight per object [default: $WRITE_CONCURRENCY, else 4].
    #[arg(long, value_name = "N")]
    write_concurrency: Option<String>,
}

impl WriteArgs {
    /// Adds the flag's value, if given.
    pub fn add_to(&self, o: &mut Overrides) {
        o.set("WRITE_CONCURRENCY", self.write_concurrency.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_replaces_its_variable_and_errors_name_the_flag() {
        let mut o = Overrides::default();
        o.set("RETENTION_DAYS", Some(&"30".to_owned()));
        o.set("WRITE_CONCURRENCY", Some(&"0".to_owned()));
        let err = o.load().expect_err("0 is not a concurrency");
        assert!(
            err.to_string()
                .starts_with("--write-concurrency: WRITE_CONCURRENCY=\"0\""),
            "{err}"
        );
        let mut o = Overrides::default();
        o.set("RETENTION_DAYS", Some(&"30".to_owned()));
        let config = o.load().expect("valid");
        assert_eq!(config.retention_days, 30);
    }

    #[test]
    fn every_flag_stands_for_a_variable_the_parser_reads() {
        for (name, _) in FLAGS {
            assert!(asg_trail::config::VARIABLES.contains(name), "{name}");
        }
    }
}
