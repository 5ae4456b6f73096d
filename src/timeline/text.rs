//! A timeline as text: an aligned table for people, CSV (RFC 4180) for spreadsheets and scripts.
//! Both have one line per entry, with the desired and actual capacity after it.
//!
//! Pure: no I/O.

use super::{Entry, Status, Timeline};
use crate::render::{aligned, csv_text};

/// The columns of [`csv`].
pub const CSV_COLUMNS: &[&str] = &[
    "time",
    "kind",
    "what",
    "who",
    "status",
    "cause",
    "desired",
    "actual",
    "instance",
    "details",
    "causeText",
    "eventId",
];

fn number(n: Option<i64>, none: &str) -> String {
    n.map_or_else(|| none.to_owned(), |n| n.to_string())
}

fn status(entry: &Entry) -> &'static str {
    match entry.status {
        Status::Ok => "ok",
        Status::Failed => "FAILED",
    }
}

fn cause_class(entry: &Entry, none: &str) -> String {
    entry
        .cause
        .as_ref()
        .map_or_else(|| none.to_owned(), |c| c.class.as_str().to_owned())
}

/// The timeline as an aligned table: time, kind, what, who, status, cause, desired, actual,
/// details.
#[must_use]
pub fn table(timeline: &Timeline) -> String {
    let body: Vec<Vec<String>> = timeline
        .entries
        .iter()
        .map(|e| {
            vec![
                e.time.clone(),
                e.kind.as_str().to_owned(),
                e.what.clone(),
                e.who.clone(),
                status(e).to_owned(),
                cause_class(e, "-"),
                number(e.desired, "-"),
                number(e.actual, "-"),
                e.details.clone(),
            ]
        })
        .collect();
    aligned(
        &[
            "TIME", "KIND", "WHAT", "WHO", "STATUS", "CAUSE", "DESIRED", "ACTUAL", "DETAILS",
        ],
        &body,
    )
}

/// The timeline as CSV, one row per entry ([`CSV_COLUMNS`]); unknown values are empty.
#[must_use]
pub fn csv(timeline: &Timeline) -> String {
    csv_text(
        CSV_COLUMNS,
        timeline.entries.iter().map(|e| {
            vec![
                e.time.clone(),
                e.kind.as_str().to_owned(),
                e.what.clone(),
                e.who.clone(),
                status(e).to_lowercase(),
                cause_class(e, ""),
                number(e.desired, ""),
                number(e.actual, ""),
                e.instance.clone().unwrap_or_default(),
                e.details.clone(),
                e.cause.as_ref().map(|c| c.text.clone()).unwrap_or_default(),
                e.event_id.clone(),
            ]
        }),
    )
}
