//! From one EventBridge event of source `aws.autoscaling` to the table's items, whichever way
//! it came (an invocation of the function, or a file read by `asg-trail extract`):
//!
//! * an API call (`detail-type` `AWS API Call via CloudTrail`) is the CloudTrail record in its
//!   `detail`, extracted exactly as a record of a log file ([`extract::extract`]): the same
//!   items, but for `sourceObject`;
//! * any other `detail-type` (a launch or termination, successful or not, a detach, a
//!   lifecycle action, an instance refresh's progress, or one AWS adds later) is the group's
//!   own activity: one item with `origin` = `activity` (the contract is in [`crate::item`]),
//!   filed under `detail.AutoScalingGroupName`, else the group of an ARN in `resources`, else
//!   the account partition (logged).
//!
//! An envelope that cannot be stored (not an object, a field of the wrong type, no `id` or
//! `time`, no `detail` object, a CloudTrail record that would be rejected) is an
//! [`EventError`] naming the event and the reason, never a silent drop. Pure: serde only.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::config::Config;
use crate::extract::{self, Filters, Outcome};
use crate::item::{self, Item, Origin};
use crate::pipeline;

/// The EventBridge `source` of EC2 Auto Scaling's events (API calls and activities alike).
pub const AUTOSCALING_SOURCE: &str = "aws.autoscaling";
/// The `detail-type` of an API call delivered by CloudTrail to EventBridge.
pub const API_CALL_DETAIL_TYPE: &str = "AWS API Call via CloudTrail";
/// What `sourceObject` starts with for an event that invoked the function.
pub const INVOCATION_SOURCE_PREFIX: &str = "eventbridge:";

/// How an event arrived, which decides its items' `sourceObject`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival<'a> {
    /// It invoked the function: `sourceObject` = `eventbridge:<id>`.
    Invocation,
    /// It was read from this file (a path or an `s3://` URI), which is the `sourceObject`.
    File(&'a str),
}

/// Which of the two kinds an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `AWS API Call via CloudTrail`: a CloudTrail record.
    ApiCall,
    /// Any other `detail-type`: the group's own activity.
    Activity,
}

/// One event, understood.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The envelope's `id`.
    pub id: String,
    /// The envelope's `detail-type`.
    pub detail_type: String,
    /// API call or activity.
    pub kind: Kind,
    /// What it gives: [`Outcome::Kept`] with its items, or why nothing is stored
    /// ([`Outcome::Other`], [`Outcome::ApplicationAutoScaling`], [`Outcome::Filtered`]); never
    /// [`Outcome::Rejected`], which is an [`EventError`] instead.
    pub outcome: Outcome,
}

impl Event {
    /// The items to store (none when the outcome keeps nothing).
    #[must_use]
    pub fn items(&self) -> &[Item] {
        match &self.outcome {
            Outcome::Kept(items) => items,
            _ => &[],
        }
    }

    /// The partitions the event is filed under, for the log: its groups, or the account
    /// partition.
    #[must_use]
    pub fn partitions(&self) -> Vec<&str> {
        self.items().iter().map(|i| i.group_name.as_str()).collect()
    }
}

/// An EventBridge event that cannot be stored.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The envelope is not JSON of the expected shape (a field of the wrong type, not an
    /// object).
    #[error("EventBridge event {id}: not an event envelope: {source}")]
    Unreadable {
        /// The event's `id` when it could be read, else what was seen.
        id: String,
        /// The JSON error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// The envelope lacks what an item needs, or its CloudTrail record would be rejected.
    #[error("EventBridge event {id} ({detail_type}): {reason}")]
    Malformed {
        /// The event's `id`, or `(no id)`.
        id: String,
        /// Its `detail-type`, or `(no detail-type)`.
        detail_type: String,
        /// What is wrong.
        reason: String,
    },
    /// The event is not from EC2 Auto Scaling (`source` is not `aws.autoscaling`).
    #[error("EventBridge event {id}: source {source_name:?} is not {AUTOSCALING_SOURCE}")]
    OtherSource {
        /// The event's `id`, or `(no id)`.
        id: String,
        /// Its `source`.
        source_name: String,
    },
}

impl EventError {
    /// The outcome of such an event in a file: rejected, counted and logged with its
    /// `detail-type`, and the rest of the file read on.
    #[must_use]
    pub fn into_rejection(self) -> extract::Rejection {
        let event_name = match &self {
            Self::Malformed { detail_type, .. } => Some(detail_type.clone()),
            Self::Unreadable { .. } | Self::OtherSource { .. } => None,
        };
        extract::Rejection {
            reason: self.to_string(),
            event_name,
            request_id: None,
        }
    }
}

/// The fields of an envelope that the items use; unknown fields are ignored.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(rename = "detail-type", borrow, default)]
    detail_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    source: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    account: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    time: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    region: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    resources: Vec<Cow<'a, str>>,
    #[serde(borrow, default)]
    detail: Option<&'a RawValue>,
}

/// Only the group name of an activity's `detail`.
#[derive(Deserialize, Default)]
struct GroupInDetail<'a> {
    #[serde(rename = "AutoScalingGroupName", borrow, default)]
    group: Option<Cow<'a, str>>,
}

/// Whether an envelope is an activity (source `aws.autoscaling`, a `detail-type` other than
/// an API call's), on a cheap read of those two fields; false for anything else, a CloudTrail
/// record included.
#[must_use]
pub fn is_activity(raw: &RawValue) -> bool {
    #[derive(Deserialize)]
    struct Probe<'a> {
        #[serde(borrow, default)]
        source: Option<Cow<'a, str>>,
        #[serde(rename = "detail-type", borrow, default)]
        detail_type: Option<Cow<'a, str>>,
    }
    serde_json::from_str::<Probe<'_>>(raw.get()).is_ok_and(|p| {
        p.source.as_deref() == Some(AUTOSCALING_SOURCE)
            && p.detail_type.is_some_and(|t| t != API_CALL_DETAIL_TYPE)
    })
}

/// Whether a value's raw text can be an Auto Scaling activity's envelope: it names
/// `aws.autoscaling`, or holds a `\u` escape (which may spell it), as
/// [`extract::might_be_autoscaling`] reasons for records.
#[must_use]
pub fn might_be_activity(bytes: &[u8]) -> bool {
    memchr::memmem::find(bytes, AUTOSCALING_SOURCE.as_bytes()).is_some()
        || memchr::memmem::find(bytes, b"\\u").is_some()
}

/// The outcome of an event read from a file: as [`read`], an event that cannot be stored
/// being [rejected](Outcome::Rejected) (counted and logged, and the file read on).
#[must_use]
pub fn file_outcome(raw: &RawValue, source_object: &str, filters: &Filters) -> Outcome {
    match read(raw, Arrival::File(source_object), filters) {
        Ok(event) => event.outcome,
        Err(e) => Outcome::Rejected(e.into_rejection()),
    }
}

/// Reads one event and builds its items, not yet [finished](pipeline::finish) (the log-file
/// path finishes every item itself).
///
/// # Errors
/// An [`EventError`] naming the event and the reason when it cannot be stored.
pub fn read(raw: &RawValue, arrival: Arrival<'_>, filters: &Filters) -> Result<Event, EventError> {
    let envelope: Envelope<'_> =
        serde_json::from_str(raw.get()).map_err(|source| EventError::Unreadable {
            id: id_of(raw),
            source,
        })?;
    let id = envelope.id.as_deref().filter(|s| !s.is_empty());
    let detail_type = envelope.detail_type.as_deref().filter(|s| !s.is_empty());
    let malformed = |reason: String| EventError::Malformed {
        id: id.unwrap_or("(no id)").to_owned(),
        detail_type: detail_type.unwrap_or("(no detail-type)").to_owned(),
        reason,
    };
    if envelope.source.as_deref() != Some(AUTOSCALING_SOURCE) {
        return Err(EventError::OtherSource {
            id: id.unwrap_or("(no id)").to_owned(),
            source_name: envelope.source.as_deref().unwrap_or("(none)").to_owned(),
        });
    }
    let (Some(id), Some(detail_type)) = (id, detail_type) else {
        return Err(malformed("no id or no detail-type".into()));
    };
    let detail = envelope
        .detail
        .filter(|d| d.get().starts_with('{'))
        .ok_or_else(|| malformed("no detail object".into()))?;
    let invocation_source;
    let source_object = match arrival {
        Arrival::File(path) => path,
        Arrival::Invocation => {
            invocation_source = format!("{INVOCATION_SOURCE_PREFIX}{id}");
            &invocation_source
        }
    };
    let (kind, outcome) = if detail_type == API_CALL_DETAIL_TYPE {
        (
            Kind::ApiCall,
            extract::extract(detail, source_object, filters),
        )
    } else {
        let outcome = activity(&envelope, (id, detail_type), detail, source_object, filters)
            .map_err(malformed)?;
        (Kind::Activity, outcome)
    };
    if let Outcome::Rejected(rejection) = outcome {
        return Err(malformed(format!(
            "its CloudTrail record is rejected: {}",
            rejection.reason
        )));
    }
    Ok(Event {
        id: id.to_owned(),
        detail_type: detail_type.to_owned(),
        kind,
        outcome,
    })
}

/// Reads one event that invoked the function and builds its items as the table stores them
/// ([`pipeline::finish`] applied to each), with `sourceObject` = `eventbridge:<id>`.
///
/// # Errors
/// As [`read`].
pub fn invocation_items(raw: &RawValue, config: &Config) -> Result<Event, EventError> {
    let mut event = read(raw, Arrival::Invocation, &config.filters)?;
    if let Outcome::Kept(items) = &mut event.outcome {
        for item in items {
            pipeline::finish(item, config);
        }
    }
    Ok(event)
}

/// The one item of an activity (the contract in [`crate::item`]), or why it cannot be
/// stored. `key` is the envelope's `(id, detail-type)`.
fn activity(
    envelope: &Envelope<'_>,
    (id, detail_type): (&str, &str),
    detail: &RawValue,
    source_object: &str,
    filters: &Filters,
) -> Result<Outcome, String> {
    if let Some(reason) = filters.drops(Some(detail_type), None) {
        return Ok(Outcome::Filtered(reason));
    }
    let time = envelope
        .time
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or("no time")?;
    let account_id = envelope
        .account
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or("unknown");
    let group = serde_json::from_str::<GroupInDetail<'_>>(detail.get())
        .map_err(|e| format!("detail.AutoScalingGroupName is not a name: {e}"))?
        .group
        .and_then(|g| item::group_name_from(&g).map(str::to_owned))
        .or_else(|| {
            envelope
                .resources
                .iter()
                .find_map(|arn| item::group_name_in_arn(arn).map(str::to_owned))
        });
    let event_key = item::event_key(time, id);
    let group_name = match &group {
        Some(g) => g.clone(),
        None => {
            tracing::warn!(
                event_id = id,
                detail_type,
                account = account_id,
                "Auto Scaling event names no group: stored in the account partition"
            );
            item::account_partition(account_id)
        }
    };
    if let Some(problem) = item::key_problem(&group_name, &event_key) {
        return Err(format!("the event cannot be keyed: {problem}"));
    }
    let mut omitted = BTreeMap::new();
    let detail = extract::materialize(detail, "detail", &mut omitted);
    Ok(Outcome::Kept(vec![Item {
        group_name,
        event_key,
        group_names: group.into_iter().collect(),
        origin: Origin::Activity,
        event_time: time.to_owned(),
        event_id: id.to_owned(),
        event_name: Some(detail_type.to_owned()),
        aws_region: envelope.region.as_deref().map(str::to_owned),
        account_id: account_id.to_owned(),
        detail,
        source_object: source_object.to_owned(),
        omitted,
        ..Item::default()
    }]))
}

/// The `id` of an envelope that does not deserialize as a whole, when it can be read; else a
/// few words of what was seen.
fn id_of(raw: &RawValue) -> String {
    #[derive(Deserialize)]
    struct Id {
        #[serde(default)]
        id: Option<serde_json::Value>,
    }
    match serde_json::from_str::<Id>(raw.get()) {
        Ok(Id {
            id: Some(serde_json::Value::String(id)),
        }) if !id.is_empty() => id,
        Ok(_) => "(no id)".to_owned(),
        Err(_) => {
            let text = raw.get();
            let cut = text.char_indices().nth(40).map_or(text.len(), |(at, _)| at);
            format!("(not an object: {}...)", &text[..cut])
        }
    }
}

#[cfg(test)]
mod tests;
