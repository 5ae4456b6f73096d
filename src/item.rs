//! The table's item model: one item per (event, Auto Scaling group) pair, and the derivation of
//! its keys. This is the contract that queries, the CLI and the tests rely on.
//!
//! * `groupName` (partition key): the group the event names, or `:account:<accountId>` for
//!   events that name no group and for read-only calls (a colon can never appear in a group
//!   name, so the account partition cannot collide with a real group). A call that changes
//!   something is stored once per group it names; a read-only call (`readOnly` true, kept only
//!   when `EXCLUDE_READ_ONLY` is false) once in all, in the account partition.
//! * `eventKey` (sort key): `<eventTime>#<eventID>`: deterministic, so re-ingesting a log file
//!   overwrites the same items instead of duplicating them.
//! * `groupNames` (a string set): every group the event names, on each of its items, so that one
//!   item tells which other partitions hold the same event. Absent when the event names none
//!   (DynamoDB has no empty sets).
//! * `origin`: `api` for the callers' own Auto Scaling calls, `service` for the EC2 calls Auto
//!   Scaling makes itself (stored only when asked for), `activity` for the group's own events
//!   (Auto Scaling's EventBridge events: launches, terminations, lifecycle actions, instance
//!   refreshes; see [`crate::events`]).
//! * `userName` and `roleName`: who made a call. For an assumed role, `roleName` is the role
//!   (the session issuer) and `userName` the role too, except for IAM Identity Center roles
//!   (`AWSReservedSSO_*`), whose `userName` is the session name: the person, not the
//!   permission set.
//!
//! An activity item (`origin` = `activity`) is one EventBridge event of source
//! `aws.autoscaling`: `groupName` is `detail.AutoScalingGroupName`, else the group in an ARN of
//! `resources`, else the account partition; `eventKey` is `<time>#<id>` of the event,
//! `eventName` its `detail-type`, `eventTime`, `eventID`, `awsRegion` and `accountId` its
//! `time`, `id`, `region` and `account`, and `detail` its `detail` object, whole. It has no
//! `userArn`, `userName`, `roleName`, `readOnly` or `requestParameters`. `sourceObject` is
//! `eventbridge:<id>` when the event invoked the function, else the file it was read from.
//!
//! Attributes the record lacks (or holds as `null`) are absent from the item, never null.
//!
//! DynamoDB's limits are part of the contract: keys of at most [`MAX_PARTITION_KEY_BYTES`] and
//! [`MAX_SORT_KEY_BYTES`] (an event whose keys would be longer cannot be stored and is
//! rejected), values nested at most [`MAX_DEPTH`] levels, non-empty map keys, and items of at
//! most 400 KB. An attribute that cannot be stored is left out and named in
//! [`OMITTED`] (`omitted`, a map: attribute name → `{reason, bytes}`), so a reader sees that
//! something is missing and how big it was; the whole record is still in the log file named by
//! `sourceObject`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Name of the partition key attribute (string).
pub const PARTITION_KEY: &str = "groupName";
/// Name of the sort key attribute (string).
pub const SORT_KEY: &str = "eventKey";
/// Prefix of the partition that holds the events naming no group, followed by the account ID.
pub const ACCOUNT_PARTITION_PREFIX: &str = ":account:";
/// Name of the attribute holding every group an event names (a string set in DynamoDB).
pub const GROUP_NAMES: &str = "groupNames";
/// Name of the attribute that lists the attributes left out because DynamoDB cannot store them.
pub const OMITTED: &str = "omitted";
/// DynamoDB's limit on a partition key value, in bytes of UTF-8.
pub const MAX_PARTITION_KEY_BYTES: usize = 2048;
/// DynamoDB's limit on a sort key value, in bytes of UTF-8.
pub const MAX_SORT_KEY_BYTES: usize = 1024;
/// DynamoDB's limit on nesting: a top-level attribute's value counts as level 1, and no value
/// may sit deeper than level 32.
pub const MAX_DEPTH: usize = 32;
/// DynamoDB's limit on an attribute name (map keys included), in bytes.
pub const MAX_NAME_BYTES: usize = 65_535;

/// Why an attribute was left out of an item, and how big it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Omitted {
    /// In words.
    pub reason: String,
    /// The size of the attribute's JSON text, in bytes.
    pub bytes: u64,
}

/// Who made the call an item records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// A caller's own EC2 Auto Scaling API call (eventSource `autoscaling.amazonaws.com`).
    #[default]
    Api,
    /// An EC2 call that Auto Scaling made itself (eventSource `ec2.amazonaws.com`, invoked by
    /// `autoscaling.amazonaws.com`): launches, terminations, fleets.
    Service,
    /// The group's own activity, from an EventBridge event of source `aws.autoscaling` that is
    /// not an API call: a launch or termination (successful or not), a lifecycle action, an
    /// instance refresh's progress.
    Activity,
}

/// One row of the table, as it is written to DynamoDB (and printed by `asg-trail extract`).
/// The default is an empty item of no group, every optional attribute absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// Partition key: group name, or `:account:<accountId>`.
    pub group_name: String,
    /// Sort key: `<eventTime>#<eventID>`.
    pub event_key: String,
    /// Every group the event names, sorted and distinct; empty (and then not serialized) when
    /// it names none. The same on every item of one event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_names: Vec<String>,
    /// `api`, `service` or `activity`.
    pub origin: Origin,
    /// CloudTrail `eventTime` (ISO 8601, one-second precision).
    pub event_time: String,
    /// CloudTrail `eventID`.
    #[serde(rename = "eventID")]
    pub event_id: String,
    /// CloudTrail `eventName` (the API action); an activity's `detail-type`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_name: Option<String>,
    /// CloudTrail `eventVersion`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_version: Option<String>,
    /// CloudTrail `awsRegion`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_region: Option<String>,
    /// CloudTrail `requestID`.
    #[serde(rename = "requestID", skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// CloudTrail `sourceIPAddress`.
    #[serde(rename = "sourceIPAddress", skip_serializing_if = "Option::is_none")]
    pub source_ip_address: Option<String>,
    /// CloudTrail `userAgent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// CloudTrail `errorCode` (present when the call failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// CloudTrail `errorMessage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// CloudTrail `readOnly`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// CloudTrail `sessionCredentialFromConsole` (`"true"` in the record): the call was made
    /// with a console session's credentials. Absent when the record does not say so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_credential_from_console: Option<bool>,
    /// `recipientAccountId`, else `userIdentity.accountId`, else `unknown`.
    pub account_id: String,
    /// `userIdentity.type`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_identity_type: Option<String>,
    /// `userIdentity.arn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_arn: Option<String>,
    /// `userIdentity.principalId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    /// `userIdentity.invokedBy` (an AWS service acting for the caller).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoked_by: Option<String>,
    /// The most useful human name of the caller (see [`crate::extract`]): for an IAM
    /// Identity Center role (`AWSReservedSSO_*`), the session name (the person).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// The role of an assumed-role session (the session issuer's `userName`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_name: Option<String>,
    /// The record's `requestParameters` object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_parameters: Option<Value>,
    /// The record's `responseElements` object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_elements: Option<Value>,
    /// An activity's EventBridge `detail` object, whole (`Cause`, `StatusCode`,
    /// `Description`, `EC2InstanceId`, `ActivityId`, `LifecycleHookName`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
    /// `s3://bucket/key` of the log file (or the file path for `asg-trail extract`), or
    /// `eventbridge:<id>` for an event that invoked the function.
    pub source_object: String,
    /// When DynamoDB may delete the item (TTL attribute, epoch seconds): `eventTime` plus the
    /// retention (`RETENTION_DAYS`); absent when events are kept forever. See [`expires_at`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Attributes of the record left out because DynamoDB cannot store them (see the module
    /// docs); empty, and then not serialized, for every real CloudTrail record.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub omitted: BTreeMap<String, Omitted>,
}

impl Item {
    /// The item's primary key, `(groupName, eventKey)`.
    #[must_use]
    pub fn key(&self) -> (&str, &str) {
        (&self.group_name, &self.event_key)
    }
}

/// Why the item's keys cannot be stored in DynamoDB (too long), `None` when they can.
#[must_use]
pub fn key_problem(group_name: &str, event_key: &str) -> Option<String> {
    if group_name.len() > MAX_PARTITION_KEY_BYTES {
        Some(format!(
            "its partition key ({PARTITION_KEY}) would be {} bytes, over DynamoDB's {MAX_PARTITION_KEY_BYTES}",
            group_name.len()
        ))
    } else if event_key.len() > MAX_SORT_KEY_BYTES {
        Some(format!(
            "its sort key ({SORT_KEY}, eventTime#eventID) would be {} bytes, over DynamoDB's {MAX_SORT_KEY_BYTES}",
            event_key.len()
        ))
    } else {
        None
    }
}

/// Why DynamoDB cannot store `value` as a map or list (nested deeper than [`MAX_DEPTH`] when
/// it sits at level `level`, or a map key that is empty or longer than [`MAX_NAME_BYTES`]),
/// `None` when it can. Never recurses deeper than the limit.
#[must_use]
pub fn storage_problem(value: &Value, level: usize) -> Option<&'static str> {
    if level > MAX_DEPTH {
        return Some("nested deeper than DynamoDB's 32 levels");
    }
    match value {
        Value::Array(items) => items.iter().find_map(|v| storage_problem(v, level + 1)),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.is_empty() {
                Some("a map key is empty, which DynamoDB cannot store")
            } else if k.len() > MAX_NAME_BYTES {
                Some("a map key is longer than DynamoDB's 64 KB")
            } else {
                storage_problem(v, level + 1)
            }
        }),
        _ => None,
    }
}

/// The nesting depth of a JSON text as DynamoDB would count it (a scalar is 1, `[[1]]` is 3;
/// an empty container counts as if it held a scalar, one more than it needs), counted without
/// recursion, so any depth is safe to measure. `text` must be valid JSON.
#[must_use]
pub fn json_depth(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    // A container holding a scalar is one level deeper than its brackets.
    if deepest == 0 { 1 } else { deepest + 1 }
}

/// The sort key of an event: `<eventTime>#<eventID>`.
#[must_use]
pub fn event_key(event_time: &str, event_id: &str) -> String {
    format!("{event_time}#{event_id}")
}

/// The partition for events that name no group: `:account:<accountId>`.
#[must_use]
pub fn account_partition(account_id: &str) -> String {
    format!("{ACCOUNT_PARTITION_PREFIX}{account_id}")
}

/// Name of the TTL attribute (number, epoch seconds); the table's `TimeToLiveSpecification`.
pub const TTL_ATTRIBUTE: &str = "expiresAt";

const SECONDS_PER_DAY: u64 = 86_400;

/// The TTL of an event kept `retention_days` days: its `eventTime` plus that many days, in
/// epoch seconds. `None` when `retention_days` is 0 (keep forever) or when the time is not
/// CloudTrail's UTC format (such an item is kept rather than expired at a guessed time).
#[must_use]
pub fn expires_at(event_time: &str, retention_days: u32) -> Option<u64> {
    if retention_days == 0 {
        return None;
    }
    epoch_seconds(event_time)?.checked_add(u64::from(retention_days) * SECONDS_PER_DAY)
}

/// Epoch seconds of a CloudTrail `eventTime`: `YYYY-MM-DDTHH:MM:SSZ`, optionally with
/// fractional seconds (dropped). `None` for anything else, a date that does not exist
/// (`2024-02-31`), or a time before 1970.
#[must_use]
pub fn epoch_seconds(time: &str) -> Option<u64> {
    // The layout is checked here, the values by jiff (which also reads forms CloudTrail never
    // writes: a space for the `T`, an offset, no seconds).
    let (civil, zone) = (time.get(..19)?, time.get(19..)?);
    let layout = civil.bytes().enumerate().all(|(i, b)| match i {
        4 | 7 => b == b'-',
        10 => b == b'T',
        13 | 16 => b == b':',
        _ => b.is_ascii_digit(),
    });
    let fraction = |f: &str| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit());
    let utc = zone == "Z"
        || zone
            .strip_prefix('.')
            .and_then(|z| z.strip_suffix('Z'))
            .is_some_and(fraction);
    if !(layout && utc) {
        return None;
    }
    let civil: jiff::civil::DateTime = civil.parse().ok()?;
    let instant = jiff::tz::Offset::UTC.to_timestamp(civil).ok()?;
    u64::try_from(instant.as_second()).ok()
}

/// The group name an `autoScalingGroupName` value stands for: the value itself, or the
/// `<name>` part of a group ARN
/// (`arn:aws:autoscaling:<region>:<account>:autoScalingGroup:<uuid>:autoScalingGroupName/<name>`)
/// or of a scaling policy ARN (`...:scalingPolicy:<uuid>:autoScalingGroupName/<name>:policyName/<p>`).
/// A group name never holds a colon, so the name ends at the next one.
/// Returns `None` for an empty value.
#[must_use]
pub fn group_name_from(value: &str) -> Option<&str> {
    let name = if value.starts_with("arn:") {
        value
            .split_once(GROUP_IN_ARN)
            .map_or(value, |(_, rest)| rest.split(':').next().unwrap_or(rest))
    } else {
        value
    };
    (!name.is_empty()).then_some(name)
}

/// The group named inside an ARN (a scaling policy's, a group's), `None` for any other value:
/// a plain policy name names no group.
#[must_use]
pub fn group_name_in_arn(value: &str) -> Option<&str> {
    if value.starts_with("arn:") && value.contains(GROUP_IN_ARN) {
        group_name_from(value)
    } else {
        None
    }
}

/// Name of the attribute holding the item's account (`accountId`).
pub const ACCOUNT_ID: &str = "accountId";
/// Name of the attribute holding the item's region (`awsRegion`).
pub const REGION: &str = "awsRegion";

/// How readers show an account or a region that an item does not name (an item without
/// `awsRegion`, say): such items are a group of their own, never merged into a named one.
pub const UNKNOWN: &str = "-";

/// An Auto Scaling group. A group name is unique only within an account and a region, so one
/// partition (`groupName`) can hold the items of several groups of one name; `accountId` and
/// `awsRegion`, on every item, tell them apart. The table's keys stay as they are: readers split
/// a partition by this (docs/queries.md, "Groups of one name").
///
/// Ordered by name, then account, then region.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Group {
    /// `groupName` (for the account partition, `:account:<accountId>`).
    #[serde(rename = "group")]
    pub name: String,
    /// `accountId`, or [`UNKNOWN`].
    pub account: String,
    /// `awsRegion`, or [`UNKNOWN`].
    pub region: String,
}

impl Group {
    /// The group a stored item is about, read from the item as plain JSON (as the table holds
    /// it): its `groupName`, `accountId` and `awsRegion`, each [`UNKNOWN`] when absent or empty.
    #[must_use]
    pub fn of(item: &Value) -> Self {
        let text = |name: &str| {
            item.get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or(UNKNOWN)
                .to_owned()
        };
        Self {
            name: text(PARTITION_KEY),
            account: text(ACCOUNT_ID),
            region: text(REGION),
        }
    }
}

impl std::fmt::Display for Group {
    /// `web-asg (account 123456789012, region us-east-1)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (account {}, region {})",
            self.name, self.account, self.region
        )
    }
}

/// What precedes the group name in Auto Scaling ARNs.
const GROUP_IN_ARN: &str = ":autoScalingGroupName/";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_key_is_time_then_id() {
        assert_eq!(
            event_key("2024-03-05T12:00:01Z", "ab-12"),
            "2024-03-05T12:00:01Z#ab-12"
        );
    }

    #[test]
    fn account_partition_cannot_be_a_group_name() {
        let p = account_partition("123456789012");
        assert_eq!(p, ":account:123456789012");
        assert!(p.contains(':'));
    }

    #[test]
    fn group_names_and_arns() {
        let cases = [
            ("web-asg", Some("web-asg")),
            (
                "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:5e1c1f7e-1111-2222-3333-444455556666:autoScalingGroupName/api-asg",
                Some("api-asg"),
            ),
            (
                "arn:aws-cn:autoscaling:cn-north-1:123456789012:autoScalingGroup:uuid:autoScalingGroupName/with/slash",
                Some("with/slash"),
            ),
            (
                "arn:aws:autoscaling:us-east-1:1:autoScalingGroup:uuid:autoScalingGroupName/",
                None,
            ),
            ("", None),
            // A name is taken as it is, even when it merely looks like a path.
            ("team/web", Some("team/web")),
            // A scaling policy ARN names its group too.
            (
                "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:7f3e2d1c-aaaa-bbbb-cccc-0123456789ab:autoScalingGroupName/api-asg:policyName/cpu50",
                Some("api-asg"),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(group_name_from(input), want, "input {input:?}");
        }
    }

    #[test]
    fn a_group_is_its_name_account_and_region_unknown_ones_apart() {
        let item = serde_json::json!({"groupName": "web-asg", "accountId": "111111111111",
                                      "awsRegion": "us-east-1", "eventName": "X"});
        let g = Group::of(&item);
        assert_eq!(
            (g.name.as_str(), g.account.as_str(), g.region.as_str()),
            ("web-asg", "111111111111", "us-east-1")
        );
        assert_eq!(
            g.to_string(),
            "web-asg (account 111111111111, region us-east-1)"
        );
        let bare = Group::of(&serde_json::json!({"groupName": "web-asg", "awsRegion": ""}));
        assert_eq!(
            (bare.account.as_str(), bare.region.as_str()),
            (UNKNOWN, UNKNOWN)
        );
        assert_ne!(bare, g);
        let eu = Group::of(
            &serde_json::json!({"groupName": "web-asg", "accountId": "111111111111",
                                               "awsRegion": "eu-west-1"}),
        );
        assert!(eu < g, "by name, then account, then region");
        assert_eq!(
            serde_json::to_value(&g).expect("json"),
            serde_json::json!({"group": "web-asg", "account": "111111111111", "region": "us-east-1"})
        );
    }

    #[test]
    fn only_arns_name_a_group_in_a_policy_name() {
        let cases = [
            ("cpu50", None),
            (
                "arn:aws:autoscaling:us-east-1:1:scalingPolicy:uuid:autoScalingGroupName/web:policyName/cpu50",
                Some("web"),
            ),
            ("arn:aws:sns:us-east-1:1:topic", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(group_name_in_arn(input), want, "input {input:?}");
        }
    }

    #[test]
    fn origin_and_group_names_serialize_as_the_contract_says() {
        let mut item = bare_item();
        item.group_names = vec!["a".into(), "b".into()];
        item.origin = Origin::Service;
        let json = serde_json::to_value(&item).expect("serializes");
        assert_eq!(json["groupNames"], serde_json::json!(["a", "b"]));
        assert_eq!(json["origin"], "service");
        assert_eq!(
            serde_json::to_value(Origin::default()).expect("serializes"),
            "api"
        );
        item.origin = Origin::Activity;
        item.role_name = Some("Admin".into());
        item.detail = Some(serde_json::json!({"Cause": "c", "StatusCode": "Successful"}));
        let json = serde_json::to_value(&item).expect("serializes");
        assert_eq!(json["origin"], "activity");
        assert_eq!(json["roleName"], "Admin");
        assert_eq!(json["detail"]["StatusCode"], "Successful");
    }

    fn bare_item() -> Item {
        Item {
            group_name: "g".into(),
            event_key: "t#i".into(),
            event_time: "t".into(),
            event_id: "i".into(),
            read_only: Some(false),
            account_id: "unknown".into(),
            source_object: "s3://b/k".into(),
            ..Item::default()
        }
    }

    #[test]
    fn absent_attributes_are_not_serialized() {
        let json = serde_json::to_value(bare_item()).expect("serializes");
        let mut keys: Vec<&str> = json
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "accountId",
                "eventID",
                "eventKey",
                "eventTime",
                "groupName",
                "origin",
                "readOnly",
                "sourceObject"
            ]
        );
    }

    #[test]
    fn event_times_to_epoch_seconds() {
        let cases = [
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2024-03-05T12:00:01Z", Some(1_709_640_001)),
            ("2024-02-29T23:59:59Z", Some(1_709_251_199)),
            ("2000-03-01T00:00:00Z", Some(951_868_800)),
            ("2024-03-05T12:00:01.250Z", Some(1_709_640_001)),
            ("2024-03-05T12:00:01", None),
            ("2024-03-05T12:00:01+01:00", None),
            ("2024-03-05 12:00:01Z", None),
            ("2024-13-05T12:00:01Z", None),
            ("1969-12-31T23:59:59Z", None),
            ("2024-03-05T12:00:01.Z", None),
            ("2024-03-05T12:00:01.123456789012Z", Some(1_709_640_001)),
            ("2024-03-05t12:00:01Z", None),
            ("2024-03-05T12:00:01z", None),
            ("2024-03-05T12:00Z", None),
            ("2024-03-05T24:00:00Z", None),
            ("2024-03-05T12:60:00Z", None),
            // Dates that do not exist.
            ("2024-02-31T12:00:00Z", None),
            ("2023-02-29T12:00:00Z", None),
            ("2100-02-29T12:00:00Z", None),
            ("2024-04-31T12:00:00Z", None),
            ("2024-00-10T12:00:00Z", None),
            ("2024-01-00T12:00:00Z", None),
            ("2024-01-32T12:00:00Z", None),
            ("2000-02-29T00:00:00Z", Some(951_782_400)),
            // A leap second is read as the second before it (jiff's rule).
            ("2016-12-31T23:59:60Z", Some(1_483_228_799)),
            ("", None),
            ("t", None),
        ];
        for (time, want) in cases {
            assert_eq!(epoch_seconds(time), want, "{time:?}");
        }
    }

    #[test]
    fn expiry_is_event_time_plus_the_retention() {
        assert_eq!(
            expires_at("2024-03-05T12:00:01Z", 0),
            None,
            "0 keeps forever"
        );
        assert_eq!(
            expires_at("2024-03-05T12:00:01Z", 1),
            Some(1_709_640_001 + 86_400)
        );
        assert_eq!(
            expires_at("2024-03-05T12:00:01Z", 365),
            Some(1_709_640_001 + 365 * 86_400)
        );
        assert_eq!(expires_at("not a time", 30), None);
        assert!(expires_at("2024-03-05T12:00:01Z", u32::MAX).is_some());
    }

    #[test]
    fn expiry_is_serialized_as_a_number_named_expires_at() {
        let mut item = Item {
            expires_at: Some(1_709_640_001),
            ..bare_item()
        };
        let json = serde_json::to_value(&item).expect("serializes");
        assert_eq!(json[TTL_ATTRIBUTE], serde_json::json!(1_709_640_001));
        item.expires_at = None;
        let json = serde_json::to_value(&item).expect("serializes");
        assert!(json.get(TTL_ATTRIBUTE).is_none());
    }
}
