//! Timelines as text: an aligned table for people, a section per group under a heading that
//! names its account and region; CSV (RFC 4180) for spreadsheets and scripts, every row naming
//! its account and region. Both have one line per entry, with the desired and actual capacity
//! after it.
//!
//! Pure: no I/O.

use super::{Entry, GroupTimeline, Status};
use crate::render::{aligned, grouped_csv, heading};

/// The columns of [`csv`], after [`crate::render::GROUP_COLUMNS`] (`account`, `region`).
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

/// The timelines as aligned tables, one section per group (a blank line between), each under
/// its heading (`web-asg (account 123456789012, region us-east-1): 18 entries`): time, kind,
/// what, who, status, cause, desired, actual, details.
#[must_use]
pub fn table(groups: &[GroupTimeline]) -> String {
    groups
        .iter()
        .map(|g| {
            let entries = &g.timeline.entries;
            format!(
                "{}\n{}",
                heading(&g.group, entries.len(), "entry", "entries"),
                entries_table(entries)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn entries_table(entries: &[Entry]) -> String {
    let body: Vec<Vec<String>> = entries
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

/// The timelines as CSV, one row per entry, the groups one after another: `account`, `region`,
/// then [`CSV_COLUMNS`]; unknown values are empty. The header is there even without entries.
#[must_use]
pub fn csv(groups: &[GroupTimeline]) -> String {
    grouped_csv(
        CSV_COLUMNS,
        groups.iter().flat_map(|g| {
            g.timeline.entries.iter().map(move |e| {
                let cells = vec![
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
                ];
                (&g.group, cells)
            })
        }),
    )
}
