//! Alerts on changes made by hand: which stored items alert ([`rules`]), what the alert says
//! ([`message`]), and the bounds of exactly-once delivery ([`MAX_AGE_SECS`], the marker's
//! expiry, the storm's minute). Pure: the marker and the publisher are adapters
//! (`crate::dynamodb::marker`, `crate::sns`), driven by the handler.
//!
//! One change (one CloudTrail `eventID`) is one alert, however many groups it names: the items
//! of one event that match a rule are grouped into one [`Change`].

pub mod message;
pub mod rules;

pub use message::Message;
pub use rules::{Rule, RuleError, Rules};

use crate::item::{self, Item};

/// A change older than this (by `eventTime`, when it is seen) never alerts: backfill and
/// replays of history stay quiet. One day.
pub const MAX_AGE_SECS: u64 = 86_400;

/// How long a marker outlives [`MAX_AGE_SECS`]: TTL deletes late, never early, so one hour
/// is plenty to keep a marker for as long as its change may still alert.
pub const MARKER_MARGIN_SECS: u64 = 3_600;

/// How long a claim on a change's alert holds before another copy may take it over: longer
/// than a publish with its retries takes, and no longer than Lambda waits before it retries an
/// invocation that died (about a minute), so that the retry of a claimer that died before it
/// confirmed finds the claim free.
pub const CLAIM_LEASE_SECS: u64 = 60;

/// Alerts sent one by one in a minute, over every instance of the function, before the rest
/// of that minute's alerts become one digest; unless `ALERT_STORM_LIMIT` says otherwise.
pub const DEFAULT_STORM_LIMIT: u32 = 10;

/// One change that alerts: the items of one event that matched a rule (one per group).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The items, one per group that matched, in the order they came.
    pub items: Vec<Item>,
}

impl Change {
    /// The event's ID (the marker's key).
    #[must_use]
    pub fn event_id(&self) -> &str {
        self.first().map_or("", |i| i.event_id.as_str())
    }

    /// The event's time.
    #[must_use]
    pub fn event_time(&self) -> &str {
        self.first().map_or("", |i| i.event_time.as_str())
    }

    /// The first item (every item of a change carries the same call).
    #[must_use]
    pub fn first(&self) -> Option<&Item> {
        self.items.first()
    }

    /// The groups it alerts for.
    #[must_use]
    pub fn groups(&self) -> Vec<&str> {
        self.items.iter().map(|i| i.group_name.as_str()).collect()
    }
}

/// The changes that alert among `items` under `rules`, one per event, in the order their first
/// item came.
#[must_use]
pub fn changes(items: impl IntoIterator<Item = Item>, rules: &Rules) -> Vec<Change> {
    let mut changes: Vec<Change> = Vec::new();
    for item in items.into_iter().filter(|i| rules.alerts(i)) {
        match changes.iter_mut().find(|c| c.event_id() == item.event_id) {
            Some(change) => change.items.push(item),
            None => changes.push(Change { items: vec![item] }),
        }
    }
    changes
}

/// Whether a change of `event_time` may still alert at `now` (epoch seconds): it happened
/// at most [`MAX_AGE_SECS`] ago. A time that does not parse is not recent (it cannot be
/// bounded, so it stays quiet rather than alerting on every replay).
#[must_use]
pub fn is_recent(event_time: &str, now: u64) -> bool {
    item::epoch_seconds(event_time).is_some_and(|t| now.saturating_sub(t) <= MAX_AGE_SECS)
}

/// The marker's `expiresAt` for a change of `event_time`: past the last moment it may alert.
#[must_use]
pub fn marker_expiry(event_time: &str, now: u64) -> u64 {
    item::epoch_seconds(event_time).unwrap_or(now) + MAX_AGE_SECS + MARKER_MARGIN_SECS
}

/// The minute of `now` (epoch seconds) that a storm's counter counts in: `YYYY-MM-DDTHH:MM`.
#[must_use]
pub fn minute_of(now: u64) -> String {
    let second = i64::try_from(now).unwrap_or(i64::MAX);
    jiff::Timestamp::from_second(second)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
