//! Presenting items read back from the table (plain JSON objects, as
//! [`crate::dynamodb::to_json`] makes them): aligned tables for people, CSV for spreadsheets, and
//! the capacity/configuration history of a group ([`changes`]): for each mutating call, what it
//! set, who made it, when, and whether it failed.
//!
//! A partition holds every group of one name, whatever its account and region: [`by_group`]
//! splits what is shown into one section per [`Group`] (the item model says what a group is),
//! and every rendering names each section's account and region ([`heading`], [`GROUP_COLUMNS`]).
//!
//! Pure: no I/O.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::item::Group;

/// Request parameters shown first in a change, in this order; the rest follow alphabetically.
const FIRST: &[&str] = &[
    "minSize",
    "maxSize",
    "desiredCapacity",
    "launchTemplate",
    "launchConfigurationName",
    "mixedInstancesPolicy",
];

/// Path segments left out of a change's parameter names: their parent already says it
/// (`mixedInstancesPolicy.launchTemplate.launchTemplateSpecification` reads as
/// `mixedInstancesPolicy.launchTemplate`).
const TRANSPARENT: &[&str] = &["launchTemplateSpecification", "instancesDistribution"];

fn text<'a>(row: &'a Value, name: &str) -> Option<&'a str> {
    row.get(name).and_then(Value::as_str)
}

/// Who made a call: `userName` (else `userArn`), with the service that made it on their
/// behalf (`invokedBy`) if any.
#[must_use]
pub fn who(row: &Value) -> String {
    let principal = text(row, "userName")
        .or_else(|| text(row, "userArn"))
        .or_else(|| text(row, "principalId"))
        .unwrap_or("-");
    match text(row, "invokedBy") {
        Some(by) => format!("{principal} via {by}"),
        None => principal.to_owned(),
    }
}

/// `things` split by their group, the groups in order (name, account, region), each keeping
/// the order `things` came in.
#[must_use]
pub fn by_group<T>(
    things: impl IntoIterator<Item = T>,
    group: impl Fn(&T) -> Group,
) -> Vec<(Group, Vec<T>)> {
    let mut groups: BTreeMap<Group, Vec<T>> = BTreeMap::new();
    for thing in things {
        groups.entry(group(&thing)).or_default().push(thing);
    }
    groups.into_iter().collect()
}

/// The heading of a group's section: `web-asg (account 123456789012, region us-east-1): 3
/// changes` (`one` or `many` as `count` says).
#[must_use]
pub fn heading(group: &Group, count: usize, one: &str, many: &str) -> String {
    let noun = if count == 1 { one } else { many };
    format!("{group}: {count} {noun}")
}

/// The columns that name a row's group in CSV, before the others on every row (the name is
/// the one asked for), so that the schema is the same for one group or several.
pub const GROUP_COLUMNS: &[&str] = &["account", "region"];

/// CSV of rows that each belong to a group: [`GROUP_COLUMNS`], then `columns`.
pub(crate) fn grouped_csv<'a>(
    columns: &[&str],
    rows: impl IntoIterator<Item = (&'a Group, Vec<String>)>,
) -> String {
    let header: Vec<&str> = GROUP_COLUMNS.iter().chain(columns).copied().collect();
    csv_text(
        &header,
        rows.into_iter().map(|(group, cells)| {
            [group.account.clone(), group.region.clone()]
                .into_iter()
                .chain(cells)
                .collect()
        }),
    )
}

/// Lays out rows of cells in aligned columns under a header; the last column is not padded.
#[must_use]
pub fn aligned(header: &[&str], body: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in body {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(body) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Events as an aligned table: time, group, account, region, event, who, error, request
/// parameters.
#[must_use]
pub fn events_table(rows: &[Value]) -> String {
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let cell = |name: &str| text(row, name).unwrap_or("-").to_owned();
            let group = Group::of(row);
            vec![
                cell("eventTime"),
                group.name,
                group.account,
                group.region,
                cell("eventName"),
                who(row),
                cell("errorCode"),
                row.get("requestParameters")
                    .map_or_else(|| "-".to_owned(), Value::to_string),
            ]
        })
        .collect();
    aligned(
        &[
            "EVENT TIME",
            "GROUP",
            "ACCOUNT",
            "REGION",
            "EVENT",
            "WHO",
            "ERROR",
            "REQUEST",
        ],
        &body,
    )
}

/// The columns of [`events_csv`].
pub const CSV_COLUMNS: &[&str] = &[
    "eventTime",
    "groupName",
    "eventName",
    "accountId",
    "awsRegion",
    "userName",
    "userArn",
    "errorCode",
    "errorMessage",
    "sourceIPAddress",
    "eventID",
    "requestParameters",
];

/// Events as CSV (RFC 4180), one row per event, objects as compact JSON.
#[must_use]
pub fn events_csv(rows: &[Value]) -> String {
    csv_text(
        CSV_COLUMNS,
        rows.iter().map(|row| {
            CSV_COLUMNS
                .iter()
                .map(|c| match row.get(*c) {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                })
                .collect()
        }),
    )
}

/// A header line and one line per row, as RFC 4180 says: `\r\n` after each line, a field
/// quoted only when it holds a comma, a quote or a line break, quotes doubled. Every row must
/// have as many fields as the header.
pub(crate) fn csv_text(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(Vec::new());
    // Writing to memory fails only on rows of unequal lengths, which the callers never build.
    let written = writer.write_record(header).and_then(|()| {
        rows.into_iter()
            .try_for_each(|row| writer.write_record(row))
    });
    written.expect("CSV rows as long as their header");
    let bytes = writer.into_inner().expect("a Vec takes every byte");
    String::from_utf8(bytes).expect("CSV of UTF-8 fields is UTF-8")
}

/// Whether an event changed something: not flagged `readOnly`, and not a `Describe*`,
/// `Get*` or `List*` call.
#[must_use]
pub fn is_mutating(row: &Value) -> bool {
    let name = text(row, "eventName").unwrap_or_default();
    row.get("readOnly").and_then(Value::as_bool) != Some(true)
        && !["Describe", "Get", "List"]
            .iter()
            .any(|p| name.starts_with(p))
}

/// One mutating call of a group's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// The group it changed (serialized as `group`, `account`, `region`).
    #[serde(flatten)]
    pub group: Group,
    /// When.
    pub event_time: String,
    /// The call (`UpdateAutoScalingGroup`, `SetDesiredCapacity`, ...).
    pub event_name: String,
    /// Who (see [`who`]).
    pub who: String,
    /// The principal's ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_arn: Option<String>,
    /// The error code when the call failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The error message when the call failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// What it set, as `(parameter, value)` in display order.
    pub set: Vec<(String, String)>,
}

/// The mutating calls among `rows`, in their order, each with what it set. A group's own
/// activities (launches, terminations: `origin` `activity`) are what happened to it, not calls
/// that changed it: the timeline shows them.
#[must_use]
pub fn changes(rows: &[Value]) -> Vec<Change> {
    rows.iter()
        .filter(|row| is_mutating(row) && text(row, "origin") != Some("activity"))
        .map(|row| Change {
            group: Group::of(row),
            event_time: text(row, "eventTime").unwrap_or("-").to_owned(),
            event_name: text(row, "eventName").unwrap_or("-").to_owned(),
            who: who(row),
            user_arn: text(row, "userArn").map(str::to_owned),
            error_code: text(row, "errorCode").map(str::to_owned),
            error_message: text(row, "errorMessage").map(str::to_owned),
            set: row
                .get("requestParameters")
                .and_then(Value::as_object)
                .map(what_it_set)
                .unwrap_or_default(),
        })
        .collect()
}

/// The parameters of a call as `(name, value)`: the group's name left out, capacity and launch
/// template first, nested objects flattened to dotted names, a launch template shown as
/// `id-or-name:version`, lists of scalars joined with commas.
#[must_use]
pub fn what_it_set(params: &Map<String, Value>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut keys: Vec<&String> = params
        .keys()
        .filter(|k| *k != "autoScalingGroupName")
        .collect();
    let rank = |k: &str| FIRST.iter().position(|f| *f == k).unwrap_or(FIRST.len());
    keys.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    for key in keys {
        flatten(key, &params[key.as_str()], &mut out);
    }
    out
}

fn flatten(path: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            if let Some(template) = launch_template(map) {
                out.push((path.to_owned(), template));
                return;
            }
            // Sorted: items read back from DynamoDB come in no particular order.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            for (k, v) in entries {
                let child = if TRANSPARENT.contains(&k.as_str()) {
                    path.to_owned()
                } else {
                    format!("{path}.{k}")
                };
                flatten(&child, v, out);
            }
        }
        Value::Array(items) => out.push((path.to_owned(), list(items))),
        Value::String(s) => out.push((path.to_owned(), s.clone())),
        Value::Null => out.push((path.to_owned(), "null".into())),
        other => out.push((path.to_owned(), other.to_string())),
    }
}

/// `lt-0123:7`, `my-template:$Latest`, or `None` if `map` is not a launch template reference.
fn launch_template(map: &Map<String, Value>) -> Option<String> {
    let id = map
        .get("launchTemplateId")
        .or_else(|| map.get("launchTemplateName"))
        .and_then(Value::as_str)?;
    let extra = map.keys().any(|k| {
        !matches!(
            k.as_str(),
            "launchTemplateId" | "launchTemplateName" | "version"
        )
    });
    if extra {
        return None;
    }
    Some(match map.get("version") {
        Some(Value::String(v)) => format!("{id}:{v}"),
        Some(v @ Value::Number(_)) => format!("{id}:{v}"),
        _ => id.to_owned(),
    })
}

/// A list: scalars joined with commas; tags as `resource/key=value`; objects with one field by
/// that field's value (`[{"instanceType": "t3.small"}]` → `t3.small`); anything else as
/// compact JSON.
fn list(items: &[Value]) -> String {
    let tag = |v: &Value| {
        let (key, value) = (v.get("key")?.as_str()?, v.get("value")?.as_str()?);
        Some(match v.get("resourceId").and_then(Value::as_str) {
            Some(resource) => format!("{resource}/{key}={value}"),
            None => format!("{key}={value}"),
        })
    };
    if let Some(tags) = items.iter().map(tag).collect::<Option<Vec<_>>>() {
        return tags.join(",");
    }
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Object(m) if m.len() == 1 => match m.values().next() {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        },
        _ => None,
    };
    items
        .iter()
        .map(scalar)
        .collect::<Option<Vec<_>>>()
        .map_or_else(|| Value::Array(items.to_vec()).to_string(), |v| v.join(","))
}

/// Changes by group ([`by_group`]: one section per group, each in the order given), as an
/// aligned table per group under its [`heading`]: time, change, who, result, what it set.
#[must_use]
pub fn changes_table(groups: &[(Group, Vec<Change>)]) -> String {
    let section = |(group, changes): &(Group, Vec<Change>)| {
        let body: Vec<Vec<String>> = changes
            .iter()
            .map(|c| {
                vec![
                    c.event_time.clone(),
                    c.event_name.clone(),
                    c.who.clone(),
                    c.error_code
                        .as_ref()
                        .map_or_else(|| "ok".to_owned(), |e| format!("FAILED {e}")),
                    set_text(&c.set),
                ]
            })
            .collect();
        let table = aligned(&["TIME", "CHANGE", "WHO", "RESULT", "WHAT IT SET"], &body);
        format!(
            "{}\n{table}",
            heading(group, changes.len(), "change", "changes")
        )
    };
    groups.iter().map(section).collect::<Vec<_>>().join("\n")
}

/// The columns of [`changes_csv`], after [`GROUP_COLUMNS`].
pub const CHANGES_CSV_COLUMNS: &[&str] = &[
    "eventTime",
    "eventName",
    "who",
    "userArn",
    "errorCode",
    "errorMessage",
    "set",
];

/// Changes by group as CSV, one row per change: [`GROUP_COLUMNS`] and [`CHANGES_CSV_COLUMNS`],
/// the groups one after another.
#[must_use]
pub fn changes_csv(groups: &[(Group, Vec<Change>)]) -> String {
    grouped_csv(
        CHANGES_CSV_COLUMNS,
        groups.iter().flat_map(|(group, changes)| {
            changes.iter().map(move |c| {
                let cells = vec![
                    c.event_time.clone(),
                    c.event_name.clone(),
                    c.who.clone(),
                    c.user_arn.clone().unwrap_or_default(),
                    c.error_code.clone().unwrap_or_default(),
                    c.error_message.clone().unwrap_or_default(),
                    set_text(&c.set),
                ];
                (group, cells)
            })
        }),
    )
}

/// `minSize=2 maxSize=6 ...`.
#[must_use]
pub fn set_text(set: &[(String, String)]) -> String {
    if set.is_empty() {
        return "-".to_owned();
    }
    set.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn update() -> Value {
        json!({
            "eventTime": "2024-03-05T11:58:07Z", "eventName": "UpdateAutoScalingGroup",
            "groupName": "web-asg", "userName": "ops-admin", "invokedBy": "cloudformation.amazonaws.com",
            "userArn": "arn:aws:sts::1:assumed-role/ops-admin/alice", "readOnly": false,
            "requestParameters": {
                "autoScalingGroupName": "web-asg", "maxSize": 6, "minSize": 2, "desiredCapacity": 2,
                "vPCZoneIdentifier": "subnet-a,subnet-b",
                "mixedInstancesPolicy": {
                    "instancesDistribution": {"onDemandBaseCapacity": 1, "spotAllocationStrategy": "lowest-price"},
                    "launchTemplate": {
                        "launchTemplateSpecification": {"launchTemplateId": "lt-097", "version": "7"},
                        "overrides": [{"instanceType": "t3a.small"}, {"instanceType": "t3.small"}]
                    }
                },
                "terminationPolicies": ["OldestInstance", "Default"]
            }
        })
    }

    #[test]
    fn a_change_says_what_it_set_capacity_first() {
        let got = changes(&[update()]);
        assert_eq!(got.len(), 1);
        let c = &got[0];
        assert_eq!(c.who, "ops-admin via cloudformation.amazonaws.com");
        assert_eq!(
            set_text(&c.set),
            "minSize=2 maxSize=6 desiredCapacity=2 \
             mixedInstancesPolicy.onDemandBaseCapacity=1 \
             mixedInstancesPolicy.spotAllocationStrategy=lowest-price \
             mixedInstancesPolicy.launchTemplate=lt-097:7 \
             mixedInstancesPolicy.launchTemplate.overrides=t3a.small,t3.small \
             terminationPolicies=OldestInstance,Default vPCZoneIdentifier=subnet-a,subnet-b"
        );
    }

    #[test]
    fn tags_read_as_resource_key_value() {
        let p = json!({"tags": [
            {"resourceId": "web", "resourceType": "auto-scaling-group", "key": "team", "value": "a", "propagateAtLaunch": true},
            {"key": "env", "value": "prod"}
        ]});
        assert_eq!(
            what_it_set(p.as_object().expect("object")),
            [("tags".to_owned(), "web/team=a,env=prod".to_owned())]
        );
    }

    #[test]
    fn launch_templates_read_as_id_and_version() {
        let p = json!({"autoScalingGroupName": "g", "launchTemplate": {"launchTemplateName": "web", "version": "$Latest"}});
        assert_eq!(
            what_it_set(p.as_object().expect("object")),
            [("launchTemplate".to_owned(), "web:$Latest".to_owned())]
        );
    }

    #[test]
    fn only_mutating_calls_are_changes_and_failures_show() {
        let at = |mut v: Value| {
            v["groupName"] = json!("g");
            v["accountId"] = json!("111111111111");
            v["awsRegion"] = json!("us-east-1");
            v
        };
        let rows = [
            json!({"eventName": "DescribeAutoScalingGroups", "readOnly": true}),
            json!({"eventName": "DescribeScalingActivities"}),
            at(
                json!({"eventTime": "t", "eventName": "EC2 Instance Launch Successful",
                      "origin": "activity", "detail": {"EC2InstanceId": "i-1"}}),
            ),
            at(
                json!({"eventTime": "t", "eventName": "StartInstanceRefresh", "userName": "gha",
                   "errorCode": "InstanceRefreshInProgress", "errorMessage": "busy",
                   "requestParameters": {"autoScalingGroupName": "g"}}),
            ),
            at(
                json!({"eventTime": "t", "eventName": "SetDesiredCapacity", "readOnly": false, "userArn": "arn:x",
                   "requestParameters": {"autoScalingGroupName": "g", "desiredCapacity": 3, "honorCooldown": false}}),
            ),
        ];
        let got = changes(&rows);
        let groups = by_group(got.clone(), |c| c.group.clone());
        assert_eq!(
            changes_csv(&groups),
            "account,region,eventTime,eventName,who,userArn,errorCode,errorMessage,set\r\n\
             111111111111,us-east-1,t,StartInstanceRefresh,gha,,InstanceRefreshInProgress,busy,-\r\n\
             111111111111,us-east-1,t,SetDesiredCapacity,arn:x,arn:x,,,desiredCapacity=3 honorCooldown=false\r\n"
        );
        assert_eq!(
            changes_table(&groups),
            "g (account 111111111111, region us-east-1): 2 changes\n\
             TIME  CHANGE                WHO    RESULT                            WHAT IT SET\n\
             t     StartInstanceRefresh  gha    FAILED InstanceRefreshInProgress  -\n\
             t     SetDesiredCapacity    arn:x  ok                                desiredCapacity=3 honorCooldown=false\n"
        );
        assert_eq!(
            serde_json::to_value(&got[1]).expect("json"),
            json!({"group": "g", "account": "111111111111", "region": "us-east-1",
                   "eventTime": "t", "eventName": "SetDesiredCapacity", "who": "arn:x", "userArn": "arn:x",
                   "set": [["desiredCapacity", "3"], ["honorCooldown", "false"]]})
        );
    }

    #[test]
    fn groups_of_one_name_are_sections_of_their_own_in_order() {
        let call = |time: &str, account: &str, region: Option<&str>, desired: i64| {
            let mut v = json!({"groupName": "web-asg", "eventTime": time, "accountId": account,
                               "eventName": "SetDesiredCapacity", "userName": "bob",
                               "requestParameters": {"desiredCapacity": desired}});
            if let Some(r) = region {
                v["awsRegion"] = json!(r);
            }
            v
        };
        let rows = [
            call("10:00", "111111111111", Some("us-east-1"), 10),
            call("10:01", "222222222222", Some("eu-west-1"), 2),
            call("10:02", "111111111111", Some("us-east-1"), 11),
            call("10:03", "111111111111", None, 5),
            call("10:04", "222222222222", Some("eu-west-1"), 3),
        ];
        let groups = by_group(changes(&rows), |c| c.group.clone());
        let got: Vec<(String, Vec<&str>)> = groups
            .iter()
            .map(|(g, cs)| {
                (
                    format!("{}/{}", g.account, g.region),
                    cs.iter().map(|c| c.event_time.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("111111111111/-".to_owned(), vec!["10:03"]),
                ("111111111111/us-east-1".to_owned(), vec!["10:00", "10:02"]),
                ("222222222222/eu-west-1".to_owned(), vec!["10:01", "10:04"]),
            ]
        );
        let table = changes_table(&groups);
        let headings: Vec<&str> = table
            .lines()
            .filter(|l| l.starts_with("web-asg "))
            .collect();
        assert_eq!(
            headings,
            [
                "web-asg (account 111111111111, region -): 1 change",
                "web-asg (account 111111111111, region us-east-1): 2 changes",
                "web-asg (account 222222222222, region eu-west-1): 2 changes",
            ]
        );
        assert_eq!(
            table.matches("\n\nweb-asg ").count(),
            2,
            "a blank line between: {table}"
        );
        let csv = changes_csv(&groups);
        let regions: Vec<&str> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(1).unwrap_or_default())
            .collect();
        assert_eq!(
            regions,
            ["-", "us-east-1", "us-east-1", "eu-west-1", "eu-west-1"]
        );
        assert_eq!(changes_table(&[]), "", "no groups, no sections");
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        let fields = [
            "a",
            "b,c",
            "say \"hi\"",
            "",
            "two\nlines",
            "cr\rhere",
            " pad ",
            "#x",
            "é",
        ];
        assert_eq!(
            csv_text(
                &["h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8", "h9"],
                [fields.map(str::to_owned).to_vec()]
            ),
            "h1,h2,h3,h4,h5,h6,h7,h8,h9\r\n\
             a,\"b,c\",\"say \"\"hi\"\"\",,\"two\nlines\",\"cr\rhere\", pad ,#x,é\r\n"
        );
        let csv = events_csv(&[update()]);
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some(CSV_COLUMNS.join(",").as_str()));
        let row = lines.next().expect("row");
        assert!(row.starts_with("2024-03-05T11:58:07Z,web-asg,UpdateAutoScalingGroup,,,ops-admin,arn:aws:sts::1:assumed-role/ops-admin/alice,,,,,\"{"), "{row}");
    }

    #[test]
    fn events_table_aligns_columns() {
        let rows = [
            json!({"eventTime": "2024-03-05T11:58:07Z", "groupName": "web", "eventName": "SetDesiredCapacity",
                   "accountId": "111111111111", "awsRegion": "us-east-1",
                   "userName": "bob", "requestParameters": {"desiredCapacity": 3}}),
            json!({"eventTime": "2024-03-05T11:59:00Z", "groupName": "api-asg", "eventName": "X",
                   "userArn": "arn:aws:iam::1:user/carol", "errorCode": "ValidationError"}),
        ];
        assert_eq!(
            events_table(&rows),
            "EVENT TIME            GROUP    ACCOUNT       REGION     EVENT               WHO                        ERROR            REQUEST\n\
             2024-03-05T11:58:07Z  web      111111111111  us-east-1  SetDesiredCapacity  bob                        -                {\"desiredCapacity\":3}\n\
             2024-03-05T11:59:00Z  api-asg  -             -          X                   arn:aws:iam::1:user/carol  ValidationError  -\n"
        );
    }
}
