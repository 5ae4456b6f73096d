//! The table checks: the key schema the code writes (`groupName` HASH S, `eventKey` RANGE S),
//! the two indexes the CLI queries, ACTIVE; TTL on `expiresAt` enabled exactly when the
//! function's `RETENTION_DAYS` or `READ_ONLY_RETENTION_DAYS` is above 0; and the newest item's age.
//!
//! The newest item is found without a scan: one `Query` with `Limit 1`, newest first, on the
//! `byEventName` index for each of a few event names that an account with Auto Scaling groups
//! sees often ([`PROBED_EVENT_NAMES`]). That reads at most a handful of items whatever the
//! table's size; an account where none of them happened lately is told so, with the age limit
//! to raise.

use jiff::Timestamp;

use super::{Check, names};
use crate::dynamodb::{BY_EVENT_NAME, BY_USER};
use crate::item::{PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE};

/// The event names whose newest item stands for the table's newest: the groups' most common
/// activities (real-time path), the common changes, and the read-only call consoles and tools
/// make all the time (stored only when read-only calls are kept).
pub const PROBED_EVENT_NAMES: &[&str] = &[
    "EC2 Instance Launch Successful",
    "EC2 Instance Terminate Successful",
    "UpdateAutoScalingGroup",
    "SetDesiredCapacity",
    "TerminateInstanceInAutoScalingGroup",
    "CreateAutoScalingGroup",
    "DeleteAutoScalingGroup",
    "DescribeAutoScalingGroups",
];

/// What DescribeTable says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableFacts {
    /// `(attribute, HASH|RANGE)`, in order.
    pub key_schema: Vec<(String, String)>,
    /// `(attribute, S|N|B)`.
    pub attributes: Vec<(String, String)>,
    /// `(index, status)` of the global secondary indexes.
    pub indexes: Vec<(String, String)>,
}

/// What DescribeTimeToLive says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TtlFacts {
    /// `ENABLED`, `DISABLED`, `ENABLING`, `DISABLING`.
    pub status: String,
    /// The attribute, when set.
    pub attribute: Option<String>,
}

/// The key schema line.
#[must_use]
pub fn check_keys(table: &str, facts: &TableFacts) -> Check {
    let type_of = |name: &str| {
        facts
            .attributes
            .iter()
            .find(|(n, _)| n == name)
            .map_or("?", |(_, t)| t.as_str())
    };
    let found: Vec<String> = facts
        .key_schema
        .iter()
        .map(|(n, k)| format!("{n} ({k}, {})", type_of(n)))
        .collect();
    let expected = [
        format!("{PARTITION_KEY} (HASH, S)"),
        format!("{SORT_KEY} (RANGE, S)"),
    ];
    if found == expected {
        return Check::ok(
            names::TABLE_KEYS,
            format!("table {table} is keyed by {}", found.join(", ")),
        );
    }
    Check::fix(
        names::TABLE_KEYS,
        format!(
            "table {table} is keyed by {}, not {}",
            found.join(", "),
            expected.join(", ")
        ),
        "a key schema cannot change: create the table from the template (a new name) and point \
         the function's TABLE_NAME at it",
    )
}

/// The indexes line.
#[must_use]
pub fn check_indexes(table: &str, facts: &TableFacts) -> Check {
    let mut problems = Vec::new();
    for name in [BY_EVENT_NAME, BY_USER] {
        match facts.indexes.iter().find(|(n, _)| n == name) {
            None => problems.push(format!("{name} is missing")),
            Some((_, status)) if status != "ACTIVE" => {
                problems.push(format!("{name} is {status}"));
            }
            Some(_) => {}
        }
    }
    if problems.is_empty() {
        return Check::ok(
            names::TABLE_INDEXES,
            format!("table {table}: {BY_EVENT_NAME} and {BY_USER} are ACTIVE"),
        );
    }
    let creating = problems.iter().all(|p| p.ends_with("is CREATING"));
    Check::fix(
        names::TABLE_INDEXES,
        format!("table {table}: {}", problems.join(", ")),
        if creating {
            "wait until the index is ACTIVE (a new index backfills; `aws dynamodb describe-table` \
             shows its progress)"
                .to_owned()
        } else {
            format!(
                "add the missing index as the template defines it (update the stack, or \
                 `aws dynamodb update-table --table-name {table} --global-secondary-index-updates ...`)"
            )
        },
    )
}

/// The TTL line, given the function's `(RETENTION_DAYS, READ_ONLY_RETENTION_DAYS)`: TTL must be
/// on when either is above 0 (as the template sets it), off when both are 0.
#[must_use]
pub fn check_ttl(
    table: &str,
    ttl: &TtlFacts,
    (retention_days, read_only_days): (u32, u32),
) -> Check {
    let enabled = matches!(ttl.status.as_str(), "ENABLED" | "ENABLING");
    let on_attribute = ttl.attribute.as_deref() == Some(TTL_ATTRIBUTE);
    let want = retention_days > 0 || read_only_days > 0;
    let settings =
        format!("RETENTION_DAYS={retention_days}, READ_ONLY_RETENTION_DAYS={read_only_days}");
    let state = format!(
        "TTL is {} on {}",
        ttl.status,
        ttl.attribute.as_deref().unwrap_or("no attribute")
    );
    if want && !(enabled && on_attribute) {
        return Check::fix(
            names::TABLE_TTL,
            format!("table {table}: {state}, but {settings}"),
            format!(
                "aws dynamodb update-time-to-live --table-name {table} \
                 --time-to-live-specification Enabled=true,AttributeName={TTL_ATTRIBUTE}"
            ),
        );
    }
    if !want && enabled && on_attribute {
        return Check::fix(
            names::TABLE_TTL,
            format!("table {table}: {state}, but {settings} (keep forever)"),
            format!(
                "aws dynamodb update-time-to-live --table-name {table} \
                 --time-to-live-specification Enabled=false,AttributeName={TTL_ATTRIBUTE}, or \
                 set RetentionDays or ReadOnlyRetentionDays"
            ),
        );
    }
    Check::ok(
        names::TABLE_TTL,
        format!("table {table}: {state}, as {settings} wants"),
    )
}

/// The newest item line: `newest` is the newest `eventKey` found (`<eventTime>#<eventID>`).
#[must_use]
pub fn check_newest(newest: Option<&str>, now: Timestamp, max_age_hours: u64) -> Check {
    let probed = format!(
        "the newest of {} on index {BY_EVENT_NAME}",
        PROBED_EVENT_NAMES.join(", ")
    );
    let Some(key) = newest else {
        return Check::fix(
            names::NEWEST_ITEM,
            format!("no item found ({probed})"),
            "if Auto Scaling groups were used since the deploy, the function writes nothing: \
             read its log group, and `asg-trail backfill` the past",
        );
    };
    let time = key.split('#').next().unwrap_or(key);
    let Ok(at) = time.parse::<Timestamp>() else {
        return Check::unknown(
            names::NEWEST_ITEM,
            format!("newest item's eventKey {key:?} holds no time"),
        );
    };
    let hours = now.duration_since(at).as_secs().max(0).unsigned_abs() / 3600;
    if hours >= max_age_hours {
        return Check::fix(
            names::NEWEST_ITEM,
            format!("newest item is from {time}, {hours} h ago ({probed})"),
            format!(
                "if Auto Scaling was used in the last {max_age_hours} h, ingestion stopped: read \
                 the function's log group and the failure queue; for a quiet account raise \
                 --max-age-hours"
            ),
        );
    }
    Check::ok(
        names::NEWEST_ITEM,
        format!("newest item is from {time} ({hours} h ago)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::{Status, pairs};

    fn good() -> TableFacts {
        TableFacts {
            key_schema: pairs(&[("groupName", "HASH"), ("eventKey", "RANGE")]),
            attributes: pairs(&[("groupName", "S"), ("eventKey", "S"), ("eventName", "S")]),
            indexes: pairs(&[("byUser", "ACTIVE"), ("byEventName", "ACTIVE")]),
        }
    }

    #[test]
    fn the_template_schema_and_indexes_pass() {
        assert_eq!(check_keys("t", &good()).status, Status::Ok);
        assert_eq!(check_indexes("t", &good()).status, Status::Ok);
    }

    #[test]
    fn a_wrong_key_or_a_missing_or_building_index_is_red() {
        let mut wrong = good();
        wrong.attributes[1].1 = "N".into();
        let c = check_keys("t", &wrong);
        assert_eq!(c.status, Status::Fix);
        assert!(c.detail.contains("eventKey (RANGE, N)"), "{c:?}");

        let mut missing = good();
        missing.indexes.remove(0);
        let c = check_indexes("t", &missing);
        assert_eq!(c.detail, "table t: byUser is missing");
        assert!(c.fix.as_deref().is_some_and(|f| f.contains("update-table")));

        let mut building = good();
        building.indexes[0].1 = "CREATING".into();
        let c = check_indexes("t", &building);
        assert!(c.fix.as_deref().is_some_and(|f| f.starts_with("wait")));
    }

    #[test]
    fn ttl_follows_the_retention() {
        let ttl = |status: &str, attribute: Option<&str>| TtlFacts {
            status: status.into(),
            attribute: attribute.map(str::to_owned),
        };
        let on = ttl("ENABLED", Some("expiresAt"));
        let off = ttl("DISABLED", None);
        assert_eq!(check_ttl("t", &on, (30, 90)).status, Status::Ok);
        assert_eq!(check_ttl("t", &off, (0, 0)).status, Status::Ok);
        let c = check_ttl("t", &off, (30, 0));
        assert_eq!(c.status, Status::Fix);
        assert!(c.fix.as_deref().is_some_and(|f| f.contains("Enabled=true")));
        assert_eq!(check_ttl("t", &on, (0, 0)).status, Status::Fix);
        // The read-only retention alone wants TTL on (as the template has it).
        assert_eq!(check_ttl("t", &off, (0, 90)).status, Status::Fix);
        assert_eq!(check_ttl("t", &on, (0, 90)).status, Status::Ok);
        assert_eq!(
            check_ttl("t", &ttl("ENABLED", Some("ttl")), (30, 90)).status,
            Status::Fix
        );
    }

    #[test]
    fn the_newest_item_is_judged_by_its_age() {
        let now: Timestamp = "2024-03-05T12:00:00Z".parse().expect("time");
        let c = check_newest(Some("2024-03-05T10:00:00Z#abc"), now, 24);
        assert_eq!(c.status, Status::Ok);
        assert_eq!(
            c.detail,
            "newest item is from 2024-03-05T10:00:00Z (2 h ago)"
        );
        let c = check_newest(Some("2024-03-01T10:00:00Z#abc"), now, 24);
        assert_eq!(c.status, Status::Fix);
        assert!(c.detail.contains("98 h ago"), "{c:?}");
        assert_eq!(check_newest(None, now, 24).status, Status::Fix);
        assert_eq!(check_newest(Some("junk"), now, 24).status, Status::Unknown);
    }
}
