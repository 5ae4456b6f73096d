//! From a log file's bytes, or an EventBridge event, to the items the table receives. The only
//! module that knows both the reader ([`crate::cloudtrail`]) and the extractors
//! ([`crate::extract`] for records, [`crate::events`] for envelopes): it drives a whole file
//! record by record, tells each record from an Auto Scaling envelope by the one test of
//! [`crate::eventbridge`], counts what became of each ([`FileStats`]), and applies the settings
//! ([`Config`]: filters, reader limits, retention, the 400 KB fit) to every item.
//!
//! Every path goes through here — the Lambda, `asg-trail ingest`, `backfill` and the offline
//! `extract` — so `extract` prints exactly what the Lambda would write with the same settings.
//! Pure: no tokio, no SDK.

use std::cell::Cell;
use std::io::Read;
use std::ops::ControlFlow;

use serde_json::value::RawValue;

use crate::cloudtrail::{self, Finish, Format, Limits, ParseError};
use crate::config::Config;
use crate::eventbridge::{self, Head};
use crate::events::{self, Arrival, Event, EventError};
pub use crate::extract::FileStats;
use crate::extract::{self, EventVersion, Filters, Outcome};
use crate::item::{self, Item};
use crate::size;

/// What a log file gave, besides its items.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Records read, events kept, dropped, rejected.
    pub file: FileStats,
    /// The latest `eventTime` among the items handed out.
    pub newest_event_time: Option<String>,
    /// Attributes left out of the items handed out (see [`Item::omitted`]).
    pub omitted_attributes: u64,
}

/// Reads one log file and hands each item it yields, as it will be stored, to `on_item`, in
/// file order, until the file ends or `on_item` says stop (then nothing more is read, and the
/// result says [`Finish::Stopped`]).
///
/// The statistics are returned even when the file fails half-way, together with the error:
/// the items handed out before the failure are real and may be kept.
pub fn log_items<R: Read + Send>(
    input: R,
    format: Format,
    source_object: &str,
    config: &Config,
    mut on_item: impl FnMut(Item) -> ControlFlow<()>,
) -> (LogStats, Result<Finish, ParseError>) {
    let mut newest: Option<String> = None;
    let mut omitted = 0;
    let (file, parsed) = extracted_items(
        input,
        format,
        source_object,
        &config.filters,
        &config.limits,
        |mut item| {
            finish(&mut item, config);
            if newest
                .as_deref()
                .is_none_or(|n| item.event_time.as_str() > n)
            {
                newest = Some(item.event_time.clone());
            }
            omitted += item.omitted.len() as u64;
            on_item(item)
        },
    );
    let stats = LogStats {
        file,
        newest_event_time: newest,
        omitted_attributes: omitted,
    };
    (stats, parsed)
}

/// Reads one log file (gzip or plain; `format` says which JSON shapes are accepted) within the
/// reader's `limits` and hands every item it yields, extracted under `filters` but not yet
/// [finished](finish), to `on_item`, in file order. Rejected records are logged (with their
/// `eventName` and `requestID`) and counted, and the rest of the file is still read.
///
/// When `on_item` returns [`ControlFlow::Break`], reading stops at once (the rest of the file is
/// neither read nor decompressed, the items of the same event not yet handed out are dropped)
/// and the result is `Ok(`[`Finish::Stopped`]`)`.
///
/// The statistics are returned even when the file fails half-way, together with the error:
/// the items handed out before the failure are real and may be kept.
pub fn extracted_items<R: Read + Send>(
    input: R,
    format: Format,
    source_object: &str,
    filters: &Filters,
    limits: &Limits,
    mut on_item: impl FnMut(Item) -> ControlFlow<()>,
) -> (FileStats, Result<Finish, ParseError>) {
    let mut stats = FileStats::default();
    let mut newest: Option<EventVersion> = None;
    let records = Cell::new(0);
    // Only the shapes people keep on disk hold EventBridge envelopes whole.
    let envelopes = format == Format::Any;
    let result = cloudtrail::read_selected(
        input,
        format,
        limits,
        |bytes| {
            records.set(records.get() + 1);
            extract::might_be_autoscaling(bytes)
                || (envelopes && eventbridge::might_be_envelope(bytes))
        },
        |bytes| {
            stats.records = records.get();
            let outcome = match serde_json::from_slice::<&RawValue>(bytes) {
                Ok(raw) if envelopes && Head::of(raw).kind().is_some() => {
                    envelope_outcome(raw, source_object, filters)
                }
                Ok(raw) => extract::extract(raw, source_object, filters),
                Err(e) => Outcome::invalid_json(&e),
            };
            if let Outcome::Kept(items) = &outcome
                && let Some(first) = items.first()
            {
                note_version(first, source_object, &mut newest);
            }
            stats.count(&outcome, source_object);
            match outcome {
                Outcome::Kept(items) => items.into_iter().try_for_each(&mut on_item),
                _ => ControlFlow::Continue(()),
            }
        },
    );
    stats.records = records.get();
    let result = result.map(|parsed| {
        stats.bytes = parsed.bytes;
        parsed.finish
    });
    (stats, result)
}

/// The outcome of an Auto Scaling envelope read from a file (the reader hands an activity's
/// envelope over whole): as [`events::read`], an envelope that cannot be stored being
/// [rejected](Outcome::Rejected), counted and logged, and the rest of the file read on.
fn envelope_outcome(raw: &RawValue, source_object: &str, filters: &Filters) -> Outcome {
    match events::read(raw, Arrival::File(source_object), filters) {
        Ok(event) => event.outcome,
        Err(e) => Outcome::Rejected(e.into_rejection()),
    }
}

/// What becomes of an EventBridge event that invoked the function.
#[derive(Debug)]
pub enum Admission {
    /// From an accepted account: its items, as the table stores them.
    Admitted(Event),
    /// From an account the settings do not accept ([`crate::config::EventAccounts`]): nothing
    /// of it is stored.
    Refused(Event),
}

/// Reads one EventBridge event that invoked the function of account `own_account` (the
/// account in the function's ARN; `None` when unknown) and builds its items as the table stores
/// them ([`finish`] applied to each), with `sourceObject` = `eventbridge:<id>`; or refuses it
/// when its account is not one `config` accepts.
///
/// # Errors
/// An [`EventError`] naming the event and the reason when it cannot be stored.
pub fn invocation_event(
    raw: &RawValue,
    config: &Config,
    own_account: Option<&str>,
) -> Result<Admission, EventError> {
    let mut event = events::read(raw, Arrival::Invocation, &config.filters)?;
    if !config.event_accounts.admits(own_account, &event.account) {
        return Ok(Admission::Refused(event));
    }
    if let Outcome::Kept(items) = &mut event.outcome {
        for item in items {
            finish(item, config);
        }
    }
    Ok(Admission::Admitted(event))
}

/// Makes an extracted item what the table stores under `config`: stamps its retention
/// (`expiresAt`, [`Config::retention_for`]) and keeps it within DynamoDB's 400 KB
/// ([`size::fit`]). Every path that builds items calls it, the log-file path and the event
/// paths alike, so the same event gives the same item whichever way it came, and
/// `asg-trail extract` prints what the table receives.
pub fn finish(item: &mut Item, config: &Config) {
    let days = config.retention_for(item.read_only == Some(true));
    if days > 0 {
        item.expires_at = item::expires_at(&item.event_time, days);
    }
    size::fit(item);
}

/// Warns once per file (per newer version) when a kept event has an `eventVersion` newer than
/// the code knows, or one that does not parse: it is stored all the same.
fn note_version(item: &Item, source_object: &str, newest: &mut Option<EventVersion>) {
    let Some(text) = item.event_version.as_deref() else {
        return;
    };
    match text.parse::<EventVersion>() {
        Ok(v) if v > EventVersion::NEWEST_KNOWN && newest.is_none_or(|n| v > n) => {
            *newest = Some(v);
            tracing::warn!(
                source_object,
                event_version = %v,
                newest_known = %EventVersion::NEWEST_KNOWN,
                event_name = item.event_name.as_deref(),
                "eventVersion newer than this code knows: stored as it is"
            );
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(source_object, event_id = %item.event_id, error = %e, "stored as it is");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, time: &str) -> serde_json::Value {
        serde_json::json!({
            "eventSource": "autoscaling.amazonaws.com", "eventName": "SetDesiredCapacity",
            "eventTime": time, "eventID": id, "readOnly": false,
            "recipientAccountId": "123456789012",
            "requestParameters": {"autoScalingGroupName": "g", "desiredCapacity": 2}
        })
    }

    fn items(config: &Config) -> Vec<Item> {
        let log = serde_json::json!({"Records": [record("a", "2024-03-05T12:00:07Z"), record("b", "2024-03-05T12:00:00Z")]}).to_string();
        let mut out = Vec::new();
        let (stats, parsed) =
            log_items(log.as_bytes(), Format::Delivery, "s3://b/k", config, |i| {
                out.push(i);
                ControlFlow::Continue(())
            });
        assert_eq!(parsed.expect("a valid log"), Finish::End);
        assert_eq!(stats.file.items, 2);
        assert_eq!(
            stats.newest_event_time.as_deref(),
            Some("2024-03-05T12:00:07Z")
        );
        out
    }

    #[test]
    fn the_retention_is_stamped_on_every_item() {
        assert!(
            items(&Config::default())
                .iter()
                .all(|i| i.expires_at.is_none())
        );
        let config = Config {
            retention_days: 30,
            ..Config::default()
        };
        // 2024-03-05T12:00:00Z = 1709640000.
        let stamped: Vec<Option<u64>> = items(&config).iter().map(|i| i.expires_at).collect();
        let day = 30 * 86_400;
        assert_eq!(
            stamped,
            [Some(1_709_640_007 + day), Some(1_709_640_000 + day)]
        );
    }

    #[test]
    fn a_kept_read_only_call_expires_after_the_read_only_retention() {
        let mut describe = record("r", "2024-03-05T12:00:00Z");
        describe["eventName"] = serde_json::json!("DescribeAutoScalingGroups");
        describe["readOnly"] = serde_json::json!(true);
        let log = serde_json::json!({"Records": [describe, record("w", "2024-03-05T12:00:00Z")]})
            .to_string();
        let mut config = Config::default();
        config.filters.exclude_read_only = false;
        let mut out = Vec::new();
        let (_, parsed) = log_items(log.as_bytes(), Format::Delivery, "f", &config, |i| {
            out.push((i.event_id.clone(), i.expires_at));
            ControlFlow::Continue(())
        });
        parsed.expect("a valid log");
        // 2024-03-05T12:00:00Z = 1709640000; the change is kept forever (RETENTION_DAYS 0).
        assert_eq!(
            out,
            [
                ("r".to_owned(), Some(1_709_640_000 + 90 * 86_400)),
                ("w".to_owned(), None)
            ]
        );
    }

    #[test]
    fn an_item_over_400_kb_is_trimmed_before_anyone_sees_it() {
        let mut big = record("big", "2024-03-05T12:00:00Z");
        big["requestParameters"]["blob"] = serde_json::json!("x".repeat(500_000));
        let log = serde_json::json!({"Records": [big]}).to_string();
        let mut out = Vec::new();
        let (stats, parsed) = log_items(
            log.as_bytes(),
            Format::Delivery,
            "f",
            &Config::default(),
            |i| {
                out.push(i);
                ControlFlow::Continue(())
            },
        );
        parsed.expect("a valid log");
        assert_eq!(stats.omitted_attributes, 1);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].request_parameters, None);
        assert!(out[0].omitted.contains_key("requestParameters"));
    }
}
