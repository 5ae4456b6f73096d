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
//! [`EventError`] naming the event and the reason, never a silent drop. Which kind an envelope is
//! comes from the one test of [`crate::eventbridge`]; applying the settings to the items (their
//! retention and size) is the pipeline's job ([`crate::pipeline::invocation_event`]). Pure: no
//! tokio, no SDK.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use serde_json::Value;

use crate::eventbridge;
pub use crate::eventbridge::{API_CALL_DETAIL_TYPE, AUTOSCALING_SOURCE, Kind};
use crate::extract::{self, Filters, Outcome};
use crate::item::{self, Item, Origin};

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

/// One event, understood.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The envelope's `id`.
    pub id: String,
    /// The envelope's `detail-type`.
    pub detail_type: String,
    /// The envelope's `account`: the account the event happened in (`unknown` when absent).
    pub account: String,
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
    // Any JSON: the one test of [`eventbridge::kind`] reads them; a value of the wrong type is
    // then refused by name ([`EventError::Unreadable`]).
    #[serde(rename = "detail-type", default)]
    detail_type: Option<Value>,
    #[serde(default)]
    source: Option<Value>,
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

/// Reads one event and builds its items, not yet finished: the pipeline applies the settings
/// ([`crate::pipeline::finish`]) on every path.
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
    let wrong_type = |field: &str, value: &Value| EventError::Unreadable {
        id: id.unwrap_or("(no id)").to_owned(),
        source: serde::de::Error::custom(format_args!("{field} is not a string: {value}")),
    };
    if let Some(v) = envelope.source.as_ref().filter(|v| !v.is_string()) {
        return Err(wrong_type("source", v));
    }
    let kind = eventbridge::kind(envelope.source.as_ref(), envelope.detail_type.as_ref());
    if let Some(v) = envelope.detail_type.as_ref().filter(|v| !v.is_string()) {
        return Err(wrong_type("detail-type", v));
    }
    let detail_type = envelope
        .detail_type
        .as_ref()
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let malformed = |reason: String| EventError::Malformed {
        id: id.unwrap_or("(no id)").to_owned(),
        detail_type: detail_type.unwrap_or("(no detail-type)").to_owned(),
        reason,
    };
    let source = envelope.source.as_ref().and_then(Value::as_str);
    if source != Some(AUTOSCALING_SOURCE) {
        return Err(EventError::OtherSource {
            id: id.unwrap_or("(no id)").to_owned(),
            source_name: source.unwrap_or("(none)").to_owned(),
        });
    }
    let (Some(kind), Some(id), Some(detail_type)) = (kind, id, detail_type) else {
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
    let outcome = match kind {
        Kind::ApiCall => extract::extract(detail, source_object, filters),
        Kind::Activity => activity(&envelope, (id, detail_type), detail, source_object, filters)
            .map_err(malformed)?,
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
        account: envelope
            .account
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown")
            .to_owned(),
        kind,
        outcome,
    })
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
