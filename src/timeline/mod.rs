//! A group's timeline: its API calls (who set what), its own activities (what happened and
//! why) and Auto Scaling's service actions, merged oldest first from the items as the table
//! stores them (plain JSON, as [`crate::dynamodb::to_json`] gives them), with the cause of each
//! activity read ([`cause`]) and the capacity followed through time ([`capacity`]).
//!
//! A partition (`groupName`) holds every group of that name, and a name is unique only within an
//! account and a region: [`by_group`] splits the rows by [`Group`] (name, `accountId`,
//! `awsRegion`) and builds each group's timeline from its own rows alone, so that no capacity
//! line, no cause and no count mixes two groups.
//!
//! - [`by_group`] makes a [`GroupTimeline`] per group; [`build`] makes one group's [`Timeline`];
//! - [`text`] prints them as a table (a section per group) or CSV, [`to_json`] as one JSON
//!   document;
//! - [`html`] draws them as one self-contained page.
//!
//! Pure: no I/O.

pub mod capacity;
pub mod cause;
pub mod html;
pub mod text;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use capacity::{Capacity, Point};
pub use cause::{Cause, CauseClass};

pub use crate::item::Group;
use crate::item::Origin;
use crate::render::{set_text, what_it_set, who};

/// Where an entry comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A caller's Auto Scaling API call (`origin` `api`).
    Api,
    /// One of the group's own activities (`origin` `activity`: a native Auto Scaling event).
    Activity,
    /// An EC2 call Auto Scaling made itself (`origin` `service`).
    Service,
}

impl Kind {
    /// The serialized name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Activity => "activity",
            Self::Service => "service",
        }
    }
}

/// Whether an entry went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// It did what it was for (or is doing it).
    Ok,
    /// An API call with an `errorCode`; an activity with `StatusCode` `Failed` or `Cancelled`,
    /// or an "Unsuccessful" or "Failed" detail-type.
    Failed,
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// `eventTime`.
    pub time: String,
    /// API call, activity or service action.
    pub kind: Kind,
    /// The API call's name, or the activity's detail-type.
    pub what: String,
    /// Who: the caller of an API call; for an activity, what acted (see [`Cause::actor`]).
    pub who: String,
    /// Ok or failed.
    pub status: Status,
    /// An activity's cause, read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    /// The desired capacity after this entry, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired: Option<i64>,
    /// The in-service instances after this entry, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<i64>,
    /// The instance an activity is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// What it set (an API call), or its description and status message (an activity), in one
    /// line.
    pub details: String,
    /// `eventID`.
    pub event_id: String,
}

/// A group's timeline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Timeline {
    /// Oldest first.
    pub entries: Vec<Entry>,
    /// The capacity through time.
    pub capacity: Capacity,
}

/// One group's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupTimeline {
    /// The group: name, account, region.
    pub group: Group,
    /// Its timeline, from its own rows.
    pub timeline: Timeline,
}

fn text<'a>(row: &'a Value, name: &str) -> Option<&'a str> {
    row.get(name).and_then(Value::as_str)
}

fn detail<'a>(row: &'a Value, name: &str) -> Option<&'a str> {
    row.get("detail")
        .and_then(|d| d.get(name))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The kind of a stored item, by its `origin` (read as the item model writes it).
fn kind(row: &Value) -> Kind {
    let origin = row
        .get("origin")
        .and_then(|o| Origin::deserialize(o).ok())
        .unwrap_or_default();
    match origin {
        Origin::Activity => Kind::Activity,
        Origin::Service => Kind::Service,
        Origin::Api => Kind::Api,
    }
}

/// Whether an item records something that went wrong.
fn status(row: &Value, kind: Kind) -> Status {
    let failed = match kind {
        Kind::Api | Kind::Service => row.get("errorCode").is_some_and(|v| !v.is_null()),
        Kind::Activity => {
            let name = text(row, "eventName").unwrap_or_default();
            matches!(detail(row, "StatusCode"), Some("Failed" | "Cancelled"))
                || name.contains("Unsuccessful")
                || name.ends_with("Failed")
        }
    };
    if failed { Status::Failed } else { Status::Ok }
}

/// +1 for a successful launch, -1 for a successful termination or detach, 0 otherwise.
fn step(what: &str, status: Status) -> i64 {
    match (status, what) {
        (Status::Ok, "EC2 Instance Launch Successful") => 1,
        (Status::Ok, "EC2 Instance Terminate Successful" | "EC2 Instance Detach Successful") => -1,
        _ => 0,
    }
}

/// A number of `requestParameters`, whether stored as a number or as text.
fn parameter(row: &Value, name: &str) -> Option<i64> {
    match row.get("requestParameters")?.get(name)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The order of the table: `eventKey` (`<eventTime>#<eventID>`), else `eventTime`.
fn sort_key(row: &Value) -> Option<&str> {
    text(row, "eventKey").or_else(|| text(row, "eventTime"))
}

/// The timeline of each group among `rows` (a partition's items, in any order), the groups in
/// order ([`Group`]: name, account, region), each built by [`build`] from its own rows only.
#[must_use]
pub fn by_group(rows: &[Value]) -> Vec<GroupTimeline> {
    crate::render::by_group(rows, |row| Group::of(row))
        .into_iter()
        .map(|(group, rows)| GroupTimeline {
            group,
            timeline: timeline(rows),
        })
        .collect()
}

/// One group's timeline from its items (any order: they are sorted by `eventKey`). The rows
/// must be of one group: [`by_group`] splits a partition.
#[must_use]
pub fn build(rows: &[Value]) -> Timeline {
    timeline(rows.iter().collect())
}

/// [`build`], on borrowed rows.
fn timeline(mut rows: Vec<&Value>) -> Timeline {
    rows.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
    let mut tracker = capacity::Tracker::default();
    let mut refreshing: Option<String> = None;
    let mut entries = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut entry = entry(row, &rows, refreshing.as_deref());
        if entry.kind == Kind::Activity {
            refreshing = refresh_state(row, &entry, refreshing, &rows);
        }
        let set = if entry.kind == Kind::Api && entry.status == Status::Ok {
            (
                parameter(row, "desiredCapacity"),
                parameter(row, "minSize"),
                parameter(row, "maxSize"),
            )
        } else {
            (None, None, None)
        };
        let (desired, actual) = tracker.apply(&capacity::Effect {
            time: &entry.time,
            set,
            cause: entry.cause.as_ref(),
            step: step(&entry.what, entry.status),
        });
        entry.desired = desired;
        entry.actual = actual;
        entries.push(entry);
    }
    let start = entries.first().map(|e| e.time.clone()).unwrap_or_default();
    Timeline {
        capacity: tracker.finish(&start),
        entries,
    }
}

/// One item as an entry (capacity not yet filled in). `refreshing` is the actor of an instance
/// refresh in progress, which the launches and terminations that only close a capacity gap
/// belong to.
fn entry(row: &Value, rows: &[&Value], refreshing: Option<&str>) -> Entry {
    let kind = kind(row);
    let status = status(row, kind);
    let what = text(row, "eventName").unwrap_or("-").to_owned();
    let time = text(row, "eventTime").unwrap_or("-").to_owned();
    let (who, cause, details) = match kind {
        Kind::Api | Kind::Service => (who(row), None, call_details(row)),
        Kind::Activity => {
            let mut cause = detail(row, "Cause").and_then(cause::parse);
            if let (Some(c), Some(actor)) = (cause.as_mut(), refreshing)
                && matches!(c.class, CauseClass::Capacity | CauseClass::InstanceRefresh)
            {
                c.class = CauseClass::InstanceRefresh;
                c.actor = actor.to_owned();
            }
            let who = actor(row, cause.as_ref(), rows);
            (who, cause, activity_details(row))
        }
    };
    Entry {
        time,
        kind,
        what,
        who,
        status,
        cause,
        desired: None,
        actual: None,
        instance: detail(row, "EC2InstanceId").map(str::to_owned),
        details,
        event_id: text(row, "eventID").unwrap_or("-").to_owned(),
    }
}

/// Who acted for an activity: the cause's actor, with the person behind a user request (the
/// API call made at the moment the cause names), a lifecycle hook's name, or an instance
/// refresh and who started it.
fn actor(row: &Value, cause: Option<&Cause>, rows: &[&Value]) -> String {
    if let Some(hook) = detail(row, "LifecycleHookName") {
        return format!("lifecycle hook {hook}");
    }
    if let Some(id) = detail(row, "InstanceRefreshId") {
        return refresh_actor(id, rows);
    }
    let Some(cause) = cause else {
        return "-".to_owned();
    };
    match (cause.class, cause.at.as_deref()) {
        (CauseClass::UserRequest, Some(at)) => match call_at(at, rows) {
            Some(call) => format!("{} by {}", cause.actor, who(call)),
            None => cause.actor.clone(),
        },
        _ => cause.actor.clone(),
    }
}

/// `instance refresh <id> by <who started it>`, or without `by` when its StartInstanceRefresh
/// call is not in the timeline.
fn refresh_actor(id: &str, rows: &[&Value]) -> String {
    let started = rows.iter().find(|row| {
        text(row, "eventName") == Some("StartInstanceRefresh")
            && row
                .get("responseElements")
                .and_then(|r| r.get("instanceRefreshId"))
                .and_then(Value::as_str)
                == Some(id)
    });
    match started {
        Some(call) => format!("instance refresh {id} by {}", who(call)),
        None => format!("instance refresh {id}"),
    }
}

/// The refresh in progress after this activity: set by "Instance Refresh Started", cleared by
/// its end (succeeded, failed, cancelled, rolled back).
fn refresh_state(
    row: &Value,
    entry: &Entry,
    current: Option<String>,
    rows: &[&Value],
) -> Option<String> {
    let Some(id) = detail(row, "InstanceRefreshId") else {
        return current;
    };
    if entry.what.ends_with("Instance Refresh Started") {
        return Some(refresh_actor(id, rows));
    }
    let ended = ["Succeeded", "Failed", "Cancelled"]
        .iter()
        .any(|end| entry.what.ends_with(end));
    if ended { None } else { current }
}

/// The successful mutating API call made at `at` (give or take a second or two), if any.
fn call_at<'a>(at: &str, rows: &[&'a Value]) -> Option<&'a Value> {
    rows.iter().copied().find(|row| {
        kind(row) == Kind::Api
            && status(row, Kind::Api) == Status::Ok
            && crate::render::is_mutating(row)
            && text(row, "eventTime").is_some_and(|t| capacity::same_moment(t, at))
    })
}

/// What an API call set, and why it failed.
fn call_details(row: &Value) -> String {
    let set = row
        .get("requestParameters")
        .and_then(Value::as_object)
        .map_or_else(|| "-".to_owned(), |p| set_text(&what_it_set(p)));
    match (text(row, "errorCode"), text(row, "errorMessage")) {
        (Some(code), Some(message)) => format!("{set} ({code}: {message})"),
        (Some(code), None) => format!("{set} ({code})"),
        _ => set,
    }
}

/// An activity's description and status message, or its other fields (an instance refresh's
/// ID and checkpoint, a lifecycle transition).
fn activity_details(row: &Value) -> String {
    let description = detail(row, "Description");
    let message =
        detail(row, "StatusMessage").filter(|m| !description.is_some_and(|d| d.contains(m)));
    let mut parts: Vec<String> = [description, message]
        .into_iter()
        .flatten()
        .map(str::to_owned)
        .collect();
    if parts.is_empty() {
        for name in [
            "LifecycleTransition",
            "InstanceRefreshId",
            "CheckpointPercentage",
            "CheckpointDelay",
        ] {
            match row.get("detail").and_then(|d| d.get(name)) {
                Some(Value::String(v)) if !v.is_empty() => parts.push(format!("{name}={v}")),
                Some(Value::Number(n)) => parts.push(format!("{name}={n}")),
                _ => {}
            }
        }
    }
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join(" | ")
    }
}

/// The timelines of a partition as one JSON document, the same shape for one group or several:
/// `{"group", "since", "until", "groups": [{"account", "region", "entries", "capacity"}]}`,
/// with the group's name, the time range asked for, and per group its entries and capacity
/// series.
#[must_use]
pub fn to_json(
    group: &str,
    since: Option<&str>,
    until: Option<&str>,
    groups: &[GroupTimeline],
) -> Value {
    let groups: Vec<Value> = groups
        .iter()
        .map(|g| {
            serde_json::json!({
                "account": g.group.account,
                "region": g.group.region,
                "entries": g.timeline.entries,
                "capacity": g.timeline.capacity,
            })
        })
        .collect();
    serde_json::json!({
        "group": group,
        "since": since,
        "until": until,
        "groups": groups,
    })
}

#[cfg(test)]
mod tests;
