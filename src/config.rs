//! The settings of asg-trail: one type, [`Config`], read by one parser from one set of names,
//! whichever binary or path uses it. The Lambda reads the process environment; the CLI reads
//! the same variables, with its flags (`--table`, `--retention-days`, `--write-concurrency`,
//! the filter flags) taking the place of the variable they name. A variable means the same
//! thing everywhere.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `TABLE_NAME` | (required to write or query) | the DynamoDB table |
//! | `RETENTION_DAYS` | 0 (keep forever) | days after its event an item may expire (TTL `expiresAt`) |
//! | `READ_ONLY_RETENTION_DAYS` | 90 | days a read-only call is kept when `EXCLUDE_READ_ONLY` is false (0 = as `RETENTION_DAYS`; never longer) |
//! | `WRITE_CONCURRENCY` | 4 | BatchWriteItem calls in flight per object |
//! | `WRITE_MAX_ATTEMPTS`, `WRITE_BACKOFF_BASE_MS`, `WRITE_BACKOFF_MAX_MS` | 10, 50, 5000 | write retries ([`RetryPolicy`]) |
//! | `WRITE_MAX_ELAPSED_MS` | 600000 | give up writing one object's items (or one event's) after this long, all its batches together (the Lambda deadline usually comes first) |
//! | `WRITE_ATTEMPT_TIMEOUT_MS` | 10000 | one BatchWriteItem call that takes longer is abandoned and retried |
//! | `DEADLINE_MARGIN_MS` | 3000 | time kept before the Lambda deadline to report a failure |
//! | `MAX_DECOMPRESSED_BYTES` | 2147483648 (2 GiB) | a log file that inflates past this is refused ([`Limits`]) |
//! | `MAX_RECORD_BYTES` | 33554432 (32 MiB) | a single record larger than this is refused |
//! | `INCLUDE_SERVICE_ACTIONS` | false | also store the EC2 calls Auto Scaling makes itself |
//! | `EXCLUDE_READ_ONLY` | true | drop events with `readOnly` true (Describe*): they change nothing, and an auto-discovering cluster-autoscaler makes thousands a day |
//! | `EVENT_NAMES_INCLUDE` | empty (all) | comma-separated event names: keep only these |
//! | `EVENT_NAMES_EXCLUDE` | empty (none) | comma-separated event names: drop these |
//! | `ALERT_TOPIC_ARN` | empty (no alerts) | the SNS topic that alerts on changes by hand go to ([`crate::alert`]) |
//! | `ALERT_RULES` | the default rule | which changes alert: rules separated by `;` ([`crate::alert::rules`]); `off` for none |
//! | `ALERT_STORM_LIMIT` | 10 | alerts sent one by one per minute, over every instance; the rest of the minute's become one digest |
//! | `EVENT_ACCOUNTS` | empty (the function's own account) | accounts whose real-time EventBridge events are stored besides the function's own: 12-digit account IDs and organization IDs (`o-…`), comma-separated ([`EventAccounts`]) |
//!
//! Booleans take `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`, any case); an empty value
//! is the default. [`VARIABLES`] lists every name, for the table of docs/configuration.md and its test.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::alert::{self, RuleError, Rules};
pub use crate::cloudtrail::Limits;
use crate::extract::Filters;

/// Every variable [`Config::from_lookup`] reads.
pub const VARIABLES: &[&str] = &[
    "TABLE_NAME",
    "RETENTION_DAYS",
    "READ_ONLY_RETENTION_DAYS",
    "WRITE_CONCURRENCY",
    "WRITE_MAX_ATTEMPTS",
    "WRITE_BACKOFF_BASE_MS",
    "WRITE_BACKOFF_MAX_MS",
    "WRITE_MAX_ELAPSED_MS",
    "WRITE_ATTEMPT_TIMEOUT_MS",
    "DEADLINE_MARGIN_MS",
    "MAX_DECOMPRESSED_BYTES",
    "MAX_RECORD_BYTES",
    "INCLUDE_SERVICE_ACTIONS",
    "EXCLUDE_READ_ONLY",
    "EVENT_NAMES_INCLUDE",
    "EVENT_NAMES_EXCLUDE",
    "EVENT_ACCOUNTS",
    "ALERT_TOPIC_ARN",
    "ALERT_RULES",
    "ALERT_STORM_LIMIT",
];

/// BatchWriteItem calls in flight per object, unless `WRITE_CONCURRENCY` says otherwise: enough
/// to keep a large object from being a serial chain of round trips, few enough not to trip a
/// table's write capacity in one burst.
pub const DEFAULT_WRITE_CONCURRENCY: usize = 4;

/// Days a read-only call is kept when `READ_ONLY_RETENTION_DAYS` is not set: the 90 days
/// CloudTrail's own event history (LookupEvents) keeps. Read-only calls change nothing; kept
/// forever they would be most of the table's bill (see docs/cost.md).
pub const DEFAULT_READ_ONLY_RETENTION_DAYS: u32 = 90;

/// The settings of every binary and every path (see the module docs for the variables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The DynamoDB table (`TABLE_NAME`); needed to write or query, not to extract offline
    /// (see [`Config::table`]).
    pub table_name: Option<String>,
    /// Retries of throttled or partly processed writes.
    pub retry: RetryPolicy,
    /// What to store besides the EC2 Auto Scaling calls, and what to drop.
    pub filters: Filters,
    /// Days an event is kept before DynamoDB's TTL may delete it (`RETENTION_DAYS`, default 0 =
    /// keep forever); written as the item's `expiresAt`.
    pub retention_days: u32,
    /// Days a read-only call is kept, when they are kept at all (`READ_ONLY_RETENTION_DAYS`,
    /// default [`DEFAULT_READ_ONLY_RETENTION_DAYS`]; 0 = as `retention_days`). See
    /// [`Config::retention_for`].
    pub read_only_retention_days: u32,
    /// BatchWriteItem calls in flight per object (`WRITE_CONCURRENCY`, default
    /// [`DEFAULT_WRITE_CONCURRENCY`]).
    pub write_concurrency: usize,
    /// Size limits of the log file reader.
    pub limits: Limits,
    /// Whose real-time events are stored (`EVENT_ACCOUNTS`).
    pub event_accounts: EventAccounts,
    /// Alerts on changes by hand (`ALERT_TOPIC_ARN`, `ALERT_RULES`, `ALERT_STORM_LIMIT`).
    pub alerts: AlertSettings,
}

/// Where alerts go and which changes alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSettings {
    /// The SNS topic (`ALERT_TOPIC_ARN`); `None`: no alerts.
    pub topic_arn: Option<String>,
    /// The rules (`ALERT_RULES`).
    pub rules: Rules,
    /// Alerts sent one by one per minute (`ALERT_STORM_LIMIT`).
    pub storm_limit: u32,
}

impl Default for AlertSettings {
    /// No topic, the default rule, the default storm limit.
    fn default() -> Self {
        Self {
            topic_arn: None,
            rules: Rules::default(),
            storm_limit: alert::DEFAULT_STORM_LIMIT,
        }
    }
}

impl AlertSettings {
    /// Whether alerts are on: a topic and at least one rule.
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.topic_arn.is_some() && !self.rules.is_off()
    }
}

impl Default for Config {
    /// Every default, and no table.
    fn default() -> Self {
        Self {
            table_name: None,
            retry: RetryPolicy::default(),
            filters: Filters::default(),
            retention_days: 0,
            read_only_retention_days: DEFAULT_READ_ONLY_RETENTION_DAYS,
            write_concurrency: DEFAULT_WRITE_CONCURRENCY,
            limits: Limits::default(),
            event_accounts: EventAccounts::default(),
            alerts: AlertSettings::default(),
        }
    }
}

/// Exponential backoff with full jitter for BatchWriteItem calls, and when to stop.
///
/// Two kinds of failed calls are told apart:
/// * throttling (`ProvisionedThroughputExceededException`, `ThrottlingException`,
///   `RequestLimitExceeded`, items left in `UnprocessedItems`) means "slower", not "broken": it
///   is retried with backoff for as long as time allows, and never counts against
///   `max_attempts`;
/// * other retryable failures (HTTP 5xx, broken connections, timed-out calls) count: a batch
///   that fails `max_attempts` times in a row of those is given up.
///
/// Time bounds both: a batch is given up when the next wait would end past the stop time, the
/// earlier of `max_elapsed` after the write started and the invocation's deadline (the Lambda
/// context's) minus `deadline_margin`, so the function still has time to report the failure
/// itself instead of being cut off by the Lambda timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Calls per batch that may fail with a non-throttling error, first one included
    /// (`WRITE_MAX_ATTEMPTS`, default 10).
    pub max_attempts: u32,
    /// Backoff base (`WRITE_BACKOFF_BASE_MS`, default 50 ms): attempt n waits a random time in
    /// `[0, min(max_delay, base * 2^n))`.
    pub base_delay: Duration,
    /// Backoff ceiling (`WRITE_BACKOFF_MAX_MS`, default 5 s).
    pub max_delay: Duration,
    /// Longest time spent writing one object's items (`WRITE_MAX_ELAPSED_MS`, default 10 min;
    /// what bounds the CLI, which has no deadline).
    pub max_elapsed: Duration,
    /// Longest time one call may take before it is abandoned and retried (its outcome unknown,
    /// which is harmless: writes are idempotent) (`WRITE_ATTEMPT_TIMEOUT_MS`, default 10 s).
    pub attempt_timeout: Duration,
    /// Time kept before the deadline to report a failure (`DEADLINE_MARGIN_MS`, default 3 s).
    pub deadline_margin: Duration,
    /// When the invocation must have answered (the Lambda context's deadline), if any. Set per
    /// invocation with [`RetryPolicy::until`].
    pub deadline: Option<Instant>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(5),
            max_elapsed: Duration::from_secs(600),
            attempt_timeout: Duration::from_secs(10),
            deadline_margin: Duration::from_secs(3),
            deadline: None,
        }
    }
}

impl RetryPolicy {
    /// The upper bound of the wait before retry number `retry` (1-based).
    #[must_use]
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// A random wait in `[0, ceiling(retry)]` ("full jitter").
    #[must_use]
    pub fn delay(&self, retry: u32) -> Duration {
        let ceiling = self.ceiling(retry);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(fastrand::u64(0..=millis))
    }

    /// The same policy for an invocation that must answer by `deadline` (`None`: no deadline).
    #[must_use]
    pub fn until(self, deadline: Option<Instant>) -> Self {
        Self { deadline, ..self }
    }

    /// When a write that starts at `started` must stop retrying: `max_elapsed` after it, or the
    /// deadline less the margin, whichever comes first.
    #[must_use]
    pub fn stop_time(&self, started: Instant) -> Instant {
        let by_elapsed = started + self.max_elapsed;
        match self.deadline {
            Some(deadline) => {
                let by_deadline = deadline
                    .checked_sub(self.deadline_margin)
                    .unwrap_or(started)
                    .max(started);
                by_elapsed.min(by_deadline)
            }
            None => by_elapsed,
        }
    }
}

/// Wall-clock time in milliseconds since the Unix epoch (0 on a clock set before it).
#[must_use]
pub fn unix_time_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The [`Instant`] of a wall-clock deadline given in milliseconds since the Unix epoch (the
/// Lambda context's `deadline`); a deadline already past is now.
#[must_use]
fn instant_at_epoch_ms(deadline_ms: u64) -> Instant {
    let now = Instant::now();
    let now_ms = unix_time_ms();
    now + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

/// The invocation's deadline as an [`Instant`], when it is one to plan by: a deadline that is
/// already past, or nearer than `margin`, is not one a real invocation gets (local emulators
/// send such values) and would stop every write at once; it is ignored with a warning, and the
/// retry budget falls back to `WRITE_MAX_ELAPSED_MS`.
#[must_use]
pub fn usable_deadline(deadline_ms: u64, margin: Duration) -> Option<Instant> {
    let now_ms = unix_time_ms();
    let margin_ms = u64::try_from(margin.as_millis()).unwrap_or(u64::MAX);
    if deadline_ms > now_ms.saturating_add(margin_ms) {
        Some(instant_at_epoch_ms(deadline_ms))
    } else {
        tracing::warn!(
            deadline_ms,
            now_ms,
            "the invocation's deadline is past or nearer than DEADLINE_MARGIN_MS: ignored; writes stop after WRITE_MAX_ELAPSED_MS instead"
        );
        None
    }
}

/// A setting that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set (or empty).
    #[error("{0} is required but not set")]
    Missing(&'static str),
    /// A variable holds a value that does not parse.
    #[error("{name}={value:?} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// A rule of a rules variable does not parse.
    #[error("{name}: {source}")]
    Rule {
        /// The variable.
        name: &'static str,
        /// Which rule, and why.
        #[source]
        source: RuleError,
    },
}

impl Config {
    /// Reads the configuration from the process environment.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the variable that is missing or invalid.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the variable that is missing or invalid.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(lookup);
        Ok(Self {
            table_name: vars.get("TABLE_NAME"),
            retry: vars.retry()?,
            filters: Filters {
                include_service_actions: vars.flag("INCLUDE_SERVICE_ACTIONS")?,
                exclude_read_only: vars.flag_or("EXCLUDE_READ_ONLY", true)?,
                event_names_include: vars.names("EVENT_NAMES_INCLUDE"),
                event_names_exclude: vars.names("EVENT_NAMES_EXCLUDE"),
            },
            retention_days: vars.days("RETENTION_DAYS", 0)?,
            read_only_retention_days: vars
                .days("READ_ONLY_RETENTION_DAYS", DEFAULT_READ_ONLY_RETENTION_DAYS)?,
            write_concurrency: usize::try_from(
                vars.number("WRITE_CONCURRENCY", DEFAULT_WRITE_CONCURRENCY as u64)?,
            )
            .unwrap_or(usize::MAX),
            limits: Limits {
                max_decompressed_bytes: vars.number(
                    "MAX_DECOMPRESSED_BYTES",
                    Limits::default().max_decompressed_bytes,
                )?,
                max_record_bytes: vars
                    .number("MAX_RECORD_BYTES", Limits::default().max_record_bytes)?,
            },
            event_accounts: vars.get("EVENT_ACCOUNTS").map_or_else(
                || Ok(EventAccounts::default()),
                |value| EventAccounts::parse(&value),
            )?,
            alerts: vars.alerts()?,
        })
    }

    /// Days an event is kept (0 = forever): `retention_days`, except that a read-only call is
    /// kept `read_only_retention_days` when that is shorter (or when `retention_days` is 0).
    #[must_use]
    pub fn retention_for(&self, read_only: bool) -> u32 {
        match (
            read_only,
            self.retention_days,
            self.read_only_retention_days,
        ) {
            (true, 0, days) => days,
            (true, all, 0) => all,
            (true, all, reads) => all.min(reads),
            (false, all, _) => all,
        }
    }

    /// The table, for the paths that write or query.
    ///
    /// # Errors
    /// [`ConfigError::Missing`] when `TABLE_NAME` (or `--table`) was not given.
    pub fn table(&self) -> Result<&str, ConfigError> {
        self.table_name
            .as_deref()
            .ok_or(ConfigError::Missing("TABLE_NAME"))
    }
}

/// The accounts whose EC2 Auto Scaling events the function stores when EventBridge delivers them
/// (`EVENT_ACCOUNTS`). The function's own account (the one in the ARN every invocation carries)
/// is always accepted; these are the others. Log files are not concerned: they are trusted by
/// where they are (a bucket only CloudTrail may write to), so an organization bucket's files
/// from every member account are stored.
///
/// An organization ID accepts any account: EventBridge events do not say which organization
/// their account is in, so the bus decides. The stack gives the default bus a policy that
/// admits only that organization's accounts (`aws:PrincipalOrgID`), and the function stores
/// what that bus delivers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventAccounts {
    /// 12-digit account IDs.
    pub accounts: std::collections::BTreeSet<String>,
    /// Organization IDs (`o-` and 10 to 32 lowercase letters or digits).
    pub organizations: std::collections::BTreeSet<String>,
}

impl EventAccounts {
    /// Reads a comma- (or space-) separated list of account and organization IDs.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the first entry that is neither.
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        let mut accepted = Self::default();
        for entry in value.split([',', ' ']).filter(|e| !e.is_empty()) {
            if is_account_id(entry) {
                accepted.accounts.insert(entry.to_owned());
            } else if is_organization_id(entry) {
                accepted.organizations.insert(entry.to_owned());
            } else {
                return Err(ConfigError::Invalid {
                    name: "EVENT_ACCOUNTS",
                    value: entry.to_owned(),
                    reason: "expected 12-digit account IDs or organization IDs (o-...), comma-separated",
                });
            }
        }
        Ok(accepted)
    }

    /// Whether an event of `account` is stored, for a function of account `own` (`None` when
    /// the caller has no function ARN: then only the listed accounts, or any under an
    /// organization, are).
    #[must_use]
    pub fn admits(&self, own: Option<&str>, account: &str) -> bool {
        own == Some(account)
            || self.accounts.contains(account)
            || (!self.organizations.is_empty() && is_account_id(account))
    }

    /// In words, for a refusal's log line: `123456789012 (own)`, then the others.
    #[must_use]
    pub fn describe(&self, own: Option<&str>) -> String {
        let own = own.map(|a| format!("{a} (own account)"));
        own.into_iter()
            .chain(self.accounts.iter().cloned())
            .chain(
                self.organizations
                    .iter()
                    .map(|o| format!("any account of {o}")),
            )
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Twelve ASCII digits.
fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `o-` and 10 to 32 lowercase letters or digits, as AWS Organizations makes them.
fn is_organization_id(s: &str) -> bool {
    s.strip_prefix("o-").is_some_and(|rest| {
        (10..=32).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// The variables, read through a lookup; a blank value is an unset one.
struct Vars<F>(F);

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    fn invalid(name: &'static str, value: String, reason: &'static str) -> ConfigError {
        ConfigError::Invalid {
            name,
            value,
            reason,
        }
    }

    /// A positive integer.
    fn number(&self, name: &'static str, default: u64) -> Result<u64, ConfigError> {
        let Some(value) = self.get(name) else {
            return Ok(default);
        };
        match value.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(Self::invalid(name, value, "expected a positive integer")),
        }
    }

    /// A positive number of milliseconds.
    fn millis(&self, name: &'static str, default: Duration) -> Result<Duration, ConfigError> {
        let default = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
        self.number(name, default).map(Duration::from_millis)
    }

    fn flag(&self, name: &'static str) -> Result<bool, ConfigError> {
        self.flag_or(name, false)
    }

    fn flag_or(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(value) => parse_bool(&value)
                .ok_or_else(|| Self::invalid(name, value, "expected true or false")),
        }
    }

    fn names(&self, name: &'static str) -> std::collections::BTreeSet<String> {
        self.get(name)
            .map(|v| Filters::event_names(&v))
            .unwrap_or_default()
    }

    fn days(&self, name: &'static str, default: u32) -> Result<u32, ConfigError> {
        let Some(value) = self.get(name) else {
            return Ok(default);
        };
        value.trim().parse::<u32>().map_err(|_| {
            Self::invalid(
                name,
                value,
                "expected a whole number of days (0 = keep forever)",
            )
        })
    }

    fn alerts(&self) -> Result<AlertSettings, ConfigError> {
        let rules =
            Rules::parse(&self.get("ALERT_RULES").unwrap_or_default()).map_err(|source| {
                ConfigError::Rule {
                    name: "ALERT_RULES",
                    source,
                }
            })?;
        let limit = self.number("ALERT_STORM_LIMIT", u64::from(alert::DEFAULT_STORM_LIMIT))?;
        Ok(AlertSettings {
            topic_arn: self.get("ALERT_TOPIC_ARN"),
            rules,
            storm_limit: u32::try_from(limit).unwrap_or(u32::MAX),
        })
    }

    fn retry(&self) -> Result<RetryPolicy, ConfigError> {
        let defaults = RetryPolicy::default();
        let attempts = self.number("WRITE_MAX_ATTEMPTS", u64::from(defaults.max_attempts))?;
        Ok(RetryPolicy {
            max_attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            base_delay: self.millis("WRITE_BACKOFF_BASE_MS", defaults.base_delay)?,
            max_delay: self.millis("WRITE_BACKOFF_MAX_MS", defaults.max_delay)?,
            max_elapsed: self.millis("WRITE_MAX_ELAPSED_MS", defaults.max_elapsed)?,
            attempt_timeout: self.millis("WRITE_ATTEMPT_TIMEOUT_MS", defaults.attempt_timeout)?,
            deadline_margin: self.millis("DEADLINE_MARGIN_MS", defaults.deadline_margin)?,
            deadline: None,
        })
    }
}

/// A boolean setting: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` (any case, trimmed).
/// `None` for anything else. (An empty value never reaches here: it is the default.)
#[must_use]
fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn table_name_is_required_to_write_or_query() {
        let none = from(&[]).expect("extracting offline needs no table");
        assert_eq!(none, Config::default());
        assert_eq!(none.table(), Err(ConfigError::Missing("TABLE_NAME")));
        assert_eq!(
            from(&[("TABLE_NAME", " ")]).expect("blank = unset").table(),
            Err(ConfigError::Missing("TABLE_NAME"))
        );
        let c = from(&[("TABLE_NAME", "events")]).expect("valid");
        assert_eq!(c.table(), Ok("events"));
        assert_eq!(c.retry, RetryPolicy::default());
        assert_eq!(c.filters, Filters::default());
        assert_eq!(c.limits.max_decompressed_bytes, 2 * 1024 * 1024 * 1024);
        assert_eq!(c.retention_days, 0, "events are kept forever by default");
    }

    #[test]
    fn every_variable_is_read_and_listed_in_the_readme() {
        let asked = std::cell::RefCell::new(Vec::new());
        Config::from_lookup(|name| {
            asked.borrow_mut().push(name.to_owned());
            None
        })
        .expect("the defaults");
        let mut asked = asked.into_inner();
        asked.sort();
        let mut listed: Vec<String> = VARIABLES.iter().map(|v| (*v).to_owned()).collect();
        listed.sort();
        assert_eq!(asked, listed, "VARIABLES is what the parser reads");
        let readme = include_str!("../docs/configuration.md");
        let table = &readme[readme.find("## Configuration").expect("section")..];
        for name in VARIABLES {
            assert!(
                table.contains(&format!("| `{name}` |")),
                "docs/configuration.md's table lacks {name}"
            );
        }
    }

    #[test]
    fn read_only_calls_are_kept_the_shorter_retention() {
        let c = |all: &str, reads: &str| {
            from(&[("RETENTION_DAYS", all), ("READ_ONLY_RETENTION_DAYS", reads)]).expect("valid")
        };
        assert_eq!(Config::default().read_only_retention_days, 90);
        // (RETENTION_DAYS, READ_ONLY_RETENTION_DAYS) → (a change, a read-only call).
        for (all, reads, want) in [
            ("0", "", (0, 90)),
            ("0", "0", (0, 0)),
            ("365", "90", (365, 90)),
            ("30", "90", (30, 30)),
            ("30", "0", (30, 30)),
        ] {
            let c = c(all, reads);
            assert_eq!(
                (c.retention_for(false), c.retention_for(true)),
                want,
                "{all} {reads}"
            );
        }
        let bad = from(&[("READ_ONLY_RETENTION_DAYS", "90d")]).expect_err("not a number");
        assert!(matches!(
            bad,
            ConfigError::Invalid {
                name: "READ_ONLY_RETENTION_DAYS",
                ..
            }
        ));
    }

    #[test]
    fn retention_days_is_a_whole_number_of_days() {
        let days = |v: &str| from(&[("TABLE_NAME", "t"), ("RETENTION_DAYS", v)]);
        assert_eq!(days("0").expect("valid").retention_days, 0);
        assert_eq!(days("").expect("empty = unset").retention_days, 0);
        assert_eq!(days(" 365 ").expect("valid").retention_days, 365);
        for bad in ["-1", "30d", "1.5", "99999999999"] {
            let err = days(bad).expect_err(bad);
            assert!(
                matches!(
                    err,
                    ConfigError::Invalid {
                        name: "RETENTION_DAYS",
                        ..
                    }
                ),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn filters_are_read_from_their_variables() {
        let c = from(&[
            ("TABLE_NAME", "t"),
            ("INCLUDE_SERVICE_ACTIONS", "true"),
            ("EXCLUDE_READ_ONLY", "Yes"),
            (
                "EVENT_NAMES_INCLUDE",
                " SetDesiredCapacity, UpdateAutoScalingGroup ,,",
            ),
            ("EVENT_NAMES_EXCLUDE", "DescribeAutoScalingGroups"),
        ])
        .expect("valid");
        assert!(c.filters.include_service_actions);
        assert!(c.filters.exclude_read_only);
        assert_eq!(
            c.filters.event_names_include.iter().collect::<Vec<_>>(),
            ["SetDesiredCapacity", "UpdateAutoScalingGroup"]
        );
        assert_eq!(
            c.filters.event_names_exclude.iter().collect::<Vec<_>>(),
            ["DescribeAutoScalingGroups"]
        );
        let blank = from(&[
            ("TABLE_NAME", "t"),
            ("INCLUDE_SERVICE_ACTIONS", ""),
            ("EXCLUDE_READ_ONLY", " "),
            ("EVENT_NAMES_INCLUDE", " "),
            ("EVENT_NAMES_EXCLUDE", ""),
        ])
        .expect("valid");
        assert_eq!(blank.filters, Filters::default());
        assert!(
            blank.filters.exclude_read_only,
            "read-only calls are left out by default"
        );
        let kept = from(&[("TABLE_NAME", "t"), ("EXCLUDE_READ_ONLY", "false")]).expect("valid");
        assert!(!kept.filters.exclude_read_only);
    }

    #[test]
    fn a_malformed_boolean_names_its_variable() {
        for name in ["INCLUDE_SERVICE_ACTIONS", "EXCLUDE_READ_ONLY"] {
            let err = from(&[("TABLE_NAME", "t"), (name, "maybe")]).expect_err("invalid");
            assert_eq!(
                err,
                ConfigError::Invalid {
                    name,
                    value: "maybe".into(),
                    reason: "expected true or false"
                }
            );
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn booleans() {
        for (text, want) in [
            ("true", Some(true)),
            ("TRUE", Some(true)),
            (" 1 ", Some(true)),
            ("on", Some(true)),
            ("no", Some(false)),
            ("0", Some(false)),
            ("", None),
            ("Off", Some(false)),
            ("tru", None),
            ("2", None),
        ] {
            assert_eq!(parse_bool(text), want, "{text:?}");
        }
        // An empty value (a template parameter left blank) is the default, not false.
        let blank = from(&[("EXCLUDE_READ_ONLY", " "), ("INCLUDE_SERVICE_ACTIONS", "")])
            .expect("blank values are defaults");
        assert_eq!(blank.filters, Filters::default());
    }

    #[test]
    fn deadlines_too_near_to_plan_by_are_ignored() {
        let now_ms = u64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("clock")
                .as_millis(),
        )
        .expect("ms");
        let margin = Duration::from_secs(3);
        assert!(usable_deadline(0, margin).is_none());
        assert!(usable_deadline(now_ms + 1_000, margin).is_none());
        let later = usable_deadline(now_ms + 60_000, margin).expect("usable");
        let left = later.saturating_duration_since(Instant::now());
        assert!(
            left > Duration::from_secs(55) && left <= Duration::from_secs(60),
            "{left:?}"
        );
    }

    #[test]
    fn retry_settings_are_validated() {
        let c = from(&[("TABLE_NAME", "t"), ("WRITE_MAX_ATTEMPTS", "3")]).expect("valid");
        assert_eq!(c.retry.max_attempts, 3);
        assert_eq!(c.write_concurrency, 4, "the default");
        let c = from(&[("TABLE_NAME", "t"), ("WRITE_CONCURRENCY", "16")]).expect("valid");
        assert_eq!(c.write_concurrency, 16);
        assert!(from(&[("TABLE_NAME", "t"), ("WRITE_CONCURRENCY", "0")]).is_err());
        let err = from(&[("TABLE_NAME", "t"), ("WRITE_MAX_ATTEMPTS", "zero")]).expect_err("bad");
        assert!(err.to_string().contains("WRITE_MAX_ATTEMPTS"), "{err}");
        assert!(from(&[("TABLE_NAME", "t"), ("WRITE_BACKOFF_BASE_MS", "0")]).is_err());
        let c = from(&[
            ("TABLE_NAME", "t"),
            ("WRITE_MAX_ELAPSED_MS", "2000"),
            ("WRITE_ATTEMPT_TIMEOUT_MS", "300"),
            ("DEADLINE_MARGIN_MS", "1500"),
            ("MAX_DECOMPRESSED_BYTES", "1048576"),
            ("MAX_RECORD_BYTES", "4096"),
        ])
        .expect("valid");
        assert_eq!(c.retry.max_elapsed, Duration::from_secs(2));
        assert_eq!(c.retry.attempt_timeout, Duration::from_millis(300));
        assert_eq!(c.retry.deadline_margin, Duration::from_millis(1500));
        assert_eq!(
            c.limits,
            Limits {
                max_decompressed_bytes: 1_048_576,
                max_record_bytes: 4096
            }
        );
        let err = from(&[("TABLE_NAME", "t"), ("MAX_DECOMPRESSED_BYTES", "2G")]).expect_err("bad");
        assert!(err.to_string().contains("MAX_DECOMPRESSED_BYTES"), "{err}");
    }

    #[test]
    fn the_stop_time_leaves_the_margin_before_the_deadline() {
        let p = RetryPolicy::default();
        let start = Instant::now();
        assert_eq!(p.stop_time(start), start + Duration::from_secs(600));
        let deadline = start + Duration::from_secs(60);
        assert_eq!(
            p.until(Some(deadline)).stop_time(start),
            start + Duration::from_secs(57)
        );
        // A deadline closer than the margin: stop at once.
        let close = start + Duration::from_secs(1);
        assert_eq!(p.until(Some(close)).stop_time(start), start);
        let later = instant_at_epoch_ms(
            u64::try_from(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .expect("clock")
                    .as_millis(),
            )
            .expect("ms")
                + 30_000,
        );
        let left = later.saturating_duration_since(Instant::now());
        assert!(
            left > Duration::from_secs(29) && left <= Duration::from_secs(30),
            "{left:?}"
        );
        assert!(instant_at_epoch_ms(0) <= Instant::now());
    }

    #[test]
    fn backoff_grows_exponentially_up_to_the_cap_with_full_jitter() {
        let p = RetryPolicy::default();
        assert_eq!(p.ceiling(1), Duration::from_millis(100));
        assert_eq!(p.ceiling(3), Duration::from_millis(400));
        assert_eq!(p.ceiling(10), Duration::from_secs(5));
        assert_eq!(p.ceiling(200), Duration::from_secs(5));
        let delays: Vec<Duration> = (0..200).map(|_| p.delay(4)).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(800)));
        assert!(
            delays.iter().any(|d| *d != delays[0]),
            "jitter varies the delay"
        );
    }

    #[test]
    fn event_accounts_are_the_own_account_by_default_and_the_listed_ones_besides() {
        let own = Some("123456789012");
        let default = from(&[]).expect("default").event_accounts;
        assert!(default.admits(own, "123456789012"));
        assert!(!default.admits(own, "999999999999"));
        assert!(
            !default.admits(None, "123456789012"),
            "no ARN, no own account"
        );

        let listed = from(&[("EVENT_ACCOUNTS", " 111111111111, 222222222222 ")])
            .expect("list")
            .event_accounts;
        for account in ["123456789012", "111111111111", "222222222222"] {
            assert!(listed.admits(own, account), "{account}");
        }
        assert!(!listed.admits(own, "999999999999"));
        assert_eq!(
            listed.describe(own),
            "123456789012 (own account), 111111111111, 222222222222"
        );

        let org = from(&[("EVENT_ACCOUNTS", "o-abcdef1234,,333333333333")])
            .expect("org")
            .event_accounts;
        assert!(org.admits(own, "999999999999"), "the bus admits the org");
        assert!(!org.admits(own, "not-an-account"));
        assert!(org.describe(own).ends_with("any account of o-abcdef1234"));
    }

    #[test]
    fn alerts_are_off_without_a_topic_and_a_bad_rule_stops_start_up_naming_it() {
        let config = from(&[]).expect("the defaults");
        assert!(!config.alerts.enabled());
        assert_eq!(config.alerts.rules, Rules::default());
        assert_eq!(config.alerts.storm_limit, 10);
        let on = from(&[
            (
                "ALERT_TOPIC_ARN",
                "arn:aws:sns:us-east-1:123456789012:alerts",
            ),
            ("ALERT_RULES", "groups=prod-*"),
            ("ALERT_STORM_LIMIT", "3"),
        ])
        .expect("parses");
        assert!(on.alerts.enabled());
        assert_eq!(on.alerts.rules.0[0].groups, ["prod-*"]);
        assert_eq!(on.alerts.storm_limit, 3);
        let off = from(&[("ALERT_TOPIC_ARN", "arn:x"), ("ALERT_RULES", "off")]).expect("parses");
        assert!(!off.alerts.enabled());
        let e = from(&[("ALERT_RULES", "groups=web-*; by=robots")]).expect_err("malformed");
        let text = e.to_string();
        assert!(
            text.starts_with("ALERT_RULES: rule 2 (\"by=robots\")"),
            "{text}"
        );
        assert!(from(&[("ALERT_STORM_LIMIT", "many")]).is_err());
    }

    #[test]
    fn a_bad_event_account_stops_start_up_naming_the_entry() {
        for bad in [
            "12345678901",
            "1234567890123",
            "o-ABCDEF1234",
            "o-short",
            "arn:aws:iam::123456789012:root",
        ] {
            let err = from(&[("EVENT_ACCOUNTS", &format!("111111111111,{bad}"))])
                .expect_err(bad)
                .to_string();
            assert!(err.contains("EVENT_ACCOUNTS") && err.contains(bad), "{err}");
        }
    }
}
