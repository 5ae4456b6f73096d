//! The timeline of the scripted story in `tests/fixtures/timeline-story.json` (items as the table
//! stores them): an alarm scales out 4 → 6 and one launch fails for capacity, a person (SSO) scales
//! in to 3 after a refused attempt, and an instance refresh replaces the three instances.

use serde_json::{Value, json};

use super::*;

const STORY: &str = include_str!("../../tests/fixtures/timeline-story.json");
/// Two groups named `web-asg`, in 111111111111/us-east-1 (desired 10, max 20) and
/// 222222222222/eu-west-1 (desired 2, max 4), their events interleaved in time.
const TWO_GROUPS: &str = include_str!("../../tests/fixtures/two-groups.json");

fn story() -> Vec<Value> {
    serde_json::from_str(STORY).expect("the story is JSON")
}

/// (what, who, status, cause class, desired, actual) per entry.
type Row = (
    &'static str,
    &'static str,
    Status,
    Option<CauseClass>,
    Option<i64>,
    Option<i64>,
);

#[test]
fn the_story_reads_right() {
    use CauseClass::{Alarm, Capacity as Gap, InstanceRefresh as Refresh, UserRequest};
    use Status::{Failed, Ok};
    const ALARM: &str = "alarm TargetTracking-web-asg-AlarmHigh-3f1c9a2e-7d4b-4e8a-9c1f-2b6d8e0a4c71 \
                         (policy cpu50-target-tracking)";
    const ALICE: &str = "alice@example.com";
    const BY_ALICE: &str = "user request by alice@example.com";
    const REFRESH: &str = "instance refresh 8d1c7e4a-2f3b-4c5d-9e6f-0a1b2c3d4e5f by deploy-bot";
    const LAUNCHED: &str = "EC2 Instance Launch Successful";
    const TERMINATED: &str = "EC2 Instance Terminate Successful";
    let expected: Vec<Row> = vec![
        ("UpdateAutoScalingGroup", "deploy-bot", Ok, None, None, None),
        (
            "EC2 Instance Launch Unsuccessful",
            ALARM,
            Failed,
            Some(Alarm),
            Some(6),
            Some(4),
        ),
        (LAUNCHED, ALARM, Ok, Some(Alarm), Some(6), Some(5)),
        (
            LAUNCHED,
            "desired capacity",
            Ok,
            Some(Gap),
            Some(6),
            Some(6),
        ),
        ("SetDesiredCapacity", ALICE, Failed, None, Some(6), Some(6)),
        ("SetDesiredCapacity", ALICE, Ok, None, Some(3), Some(6)),
        (
            TERMINATED,
            BY_ALICE,
            Ok,
            Some(UserRequest),
            Some(3),
            Some(5),
        ),
        (
            TERMINATED,
            BY_ALICE,
            Ok,
            Some(UserRequest),
            Some(3),
            Some(4),
        ),
        (
            TERMINATED,
            BY_ALICE,
            Ok,
            Some(UserRequest),
            Some(3),
            Some(3),
        ),
        (
            "StartInstanceRefresh",
            "deploy-bot",
            Ok,
            None,
            Some(3),
            Some(3),
        ),
        (
            "EC2 Auto Scaling Instance Refresh Started",
            REFRESH,
            Ok,
            None,
            Some(3),
            Some(3),
        ),
        (TERMINATED, REFRESH, Ok, Some(Refresh), Some(3), Some(2)),
        (LAUNCHED, REFRESH, Ok, Some(Refresh), Some(3), Some(3)),
        (TERMINATED, REFRESH, Ok, Some(Refresh), Some(3), Some(2)),
        (LAUNCHED, REFRESH, Ok, Some(Refresh), Some(3), Some(3)),
        (TERMINATED, REFRESH, Ok, Some(Refresh), Some(3), Some(2)),
        (LAUNCHED, REFRESH, Ok, Some(Refresh), Some(3), Some(3)),
        (
            "EC2 Auto Scaling Instance Refresh Succeeded",
            REFRESH,
            Ok,
            None,
            Some(3),
            Some(3),
        ),
    ];
    // Given newest first: the timeline sorts.
    let mut rows = story();
    rows.reverse();
    let t = build(&rows);
    let got: Vec<_> = t
        .entries
        .iter()
        .map(|e| {
            (
                e.what.as_str(),
                e.who.as_str(),
                e.status,
                e.cause.as_ref().map(|c| c.class),
                e.desired,
                e.actual,
            )
        })
        .collect();
    assert_eq!(got.len(), expected.len());
    for (n, (got, want)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "entry {n}");
    }
    let kinds: Vec<Kind> = t.entries.iter().map(|e| e.kind).collect();
    assert_eq!(kinds.iter().filter(|k| **k == Kind::Api).count(), 4);
    assert_eq!(kinds.iter().filter(|k| **k == Kind::Activity).count(), 14);
}

#[test]
fn the_story_s_capacity_steps() {
    let t = build(&story());
    let points = |s: &[Point]| -> Vec<(String, i64)> {
        s.iter()
            .map(|p| (p.time[11..19].to_owned(), p.value))
            .collect()
    };
    let p = |t: &str, v: i64| (t.to_owned(), v);
    // Desired: 4 before the alarm (stated by its cause), 6 from the alarm, 3 from alice's call
    // (the terminations' cause repeats it: one step).
    assert_eq!(
        points(&t.capacity.desired),
        [p("09:58:00", 4), p("10:00:00", 6), p("10:15:30", 3)]
    );
    assert_eq!(
        points(&t.capacity.actual),
        [
            p("09:58:00", 4),
            p("10:01:05", 5),
            p("10:03:10", 6),
            p("10:16:02", 5),
            p("10:16:04", 4),
            p("10:16:09", 3),
            p("10:30:41", 2),
            p("10:31:40", 3),
            p("10:33:36", 2),
            p("10:34:31", 3),
            p("10:36:35", 2),
            p("10:37:29", 3),
        ]
    );
    assert_eq!(points(&t.capacity.min_size), [p("09:58:00", 2)]);
    assert_eq!(points(&t.capacity.max_size), [p("09:58:00", 8)]);
}

#[test]
fn the_failures_say_why() {
    let t = build(&story());
    let failed: Vec<&Entry> = t
        .entries
        .iter()
        .filter(|e| e.status == Status::Failed)
        .collect();
    assert_eq!(failed.len(), 2);
    assert!(
        failed[0].details.contains(
            "InsufficientInstanceCapacity - We currently do not have sufficient m5.large"
        ),
        "{}",
        failed[0].details
    );
    assert_eq!(failed[0].instance, None, "a failed launch has no instance");
    assert_eq!(
        failed[1].details,
        "desiredCapacity=1 honorCooldown=false (ValidationError: New SetDesiredCapacity value 1 \
         is below min value 2 for the AutoScalingGroup.)"
    );
}

#[test]
fn the_table_and_the_csv() {
    let t = by_group(&story());
    let table = text::table(&t);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 20);
    assert_eq!(
        lines[0],
        "web-asg (account 123456789012, region us-east-1): 18 entries"
    );
    assert!(
        lines[1].starts_with("TIME                  KIND      WHAT"),
        "{}",
        lines[1]
    );
    let failed_launch = lines[3];
    for part in [
        "activity",
        "EC2 Instance Launch Unsuccessful",
        "FAILED",
        "alarm",
        "6",
        "4",
    ] {
        assert!(failed_launch.contains(part), "{part}: {failed_launch}");
    }
    let csv = text::csv(&t);
    let mut reader = ::csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header[..2], ["account", "region"]);
    assert_eq!(header[2..], *text::CSV_COLUMNS);
    let records: Vec<::csv::StringRecord> =
        reader.records().collect::<Result<_, _>>().expect("records");
    assert_eq!(records.len(), 18);
    assert!(
        records
            .iter()
            .all(|r| (&r[0], &r[1]) == ("123456789012", "us-east-1"))
    );
    let scale_in = &records[6];
    assert_eq!(&scale_in[2], "2024-05-01T10:16:02Z");
    assert_eq!(&scale_in[5], "user request by alice@example.com");
    assert_eq!(&scale_in[7], "user-request");
    assert_eq!((&scale_in[8], &scale_in[9]), ("3", "5"));
    assert_eq!(&scale_in[10], "i-0c1d2e3f4a5b6c701");
    assert!(scale_in[12].starts_with("At 2024-05-01T10:15:30Z a user request"));
    assert_eq!(&records[0][8], "", "unknown is empty");
    assert_eq!(
        text::csv(&[]).lines().count(),
        1,
        "no groups: the header alone"
    );
    assert_eq!(text::table(&[]), "");
}

#[test]
fn the_json_document() {
    let t = by_group(&story());
    let doc = to_json("web-asg", Some("2024-05-01"), None, &t);
    assert_eq!(doc["group"], "web-asg");
    assert_eq!(doc["since"], "2024-05-01");
    assert_eq!(doc["until"], Value::Null);
    assert_eq!(doc["groups"].as_array().map(Vec::len), Some(1));
    let group = &doc["groups"][0];
    assert_eq!(
        (&group["account"], &group["region"]),
        (&json!("123456789012"), &json!("us-east-1"))
    );
    assert_eq!(group["entries"].as_array().map(Vec::len), Some(18));
    let launch = &group["entries"][1];
    assert_eq!(launch["kind"], "activity");
    assert_eq!(launch["status"], "failed");
    assert_eq!(launch["cause"]["class"], "alarm");
    assert_eq!(
        launch["cause"]["desired"],
        json!({"at": "2024-05-01T10:00:00Z", "from": 4, "to": 6})
    );
    assert_eq!(launch["eventId"], "6a1d7c52-3b0e-4f1a-9e2d-1c4b5a697801");
    assert_eq!(
        group["capacity"]["desired"][0],
        json!({"time": "2024-05-01T09:58:00Z", "value": 4})
    );
    assert_eq!(
        to_json("web-asg", None, None, &[]),
        json!({"group": "web-asg", "since": null, "until": null, "groups": []})
    );
}

#[test]
fn service_actions_lifecycle_hooks_and_health_checks() {
    let rows = [
        json!({"eventKey": "2024-05-01T03:00:00Z#1", "eventTime": "2024-05-01T03:00:00Z", "eventID": "1",
               "origin": "activity", "eventName": "EC2 Instance-launch Lifecycle Action",
               "detail": {"LifecycleHookName": "drain-hook", "EC2InstanceId": "i-1",
                          "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING"}}),
        json!({"eventKey": "2024-05-01T03:12:41Z#2", "eventTime": "2024-05-01T03:12:41Z", "eventID": "2",
               "origin": "activity", "eventName": "EC2 Instance Terminate Successful",
               "detail": {"StatusCode": "InProgress", "EC2InstanceId": "i-1", "Description": "Terminating EC2 instance: i-1",
                          "Cause": "At 2024-05-01T03:12:40Z an instance was taken out of service in response to an EC2 health check indicating it has been terminated or stopped."}}),
        json!({"eventKey": "2024-05-01T03:12:42Z#3", "eventTime": "2024-05-01T03:12:42Z", "eventID": "3",
               "origin": "service", "eventName": "RunInstances", "userName": "AutoScaling",
               "invokedBy": "autoscaling.amazonaws.com"}),
        json!({"eventKey": "2024-05-01T03:13:00Z#4", "eventTime": "2024-05-01T03:13:00Z", "eventID": "4",
               "origin": "activity", "eventName": "EC2 Instance Launch Successful",
               "detail": {"StatusCode": "Cancelled", "Cause": ""}}),
        json!({"eventKey": "2024-05-01T03:14:00Z#5", "eventTime": "2024-05-01T03:14:00Z", "eventID": "5",
               "origin": "activity", "eventName": "EC2 Auto Scaling Instance Refresh Failed",
               "detail": {"InstanceRefreshId": "r-1"}}),
        json!({"eventKey": "2024-05-01T03:15:00Z#6", "eventTime": "2024-05-01T03:15:00Z", "eventID": "6",
               "origin": "activity", "eventName": "EC2 Auto Scaling Instance Refresh Checkpoint Reached",
               "detail": {"InstanceRefreshId": "r-2", "CheckpointPercentage": 50, "CheckpointDelay": "300"}}),
    ];
    let t = build(&rows);
    let e = &t.entries;
    assert_eq!(e[0].who, "lifecycle hook drain-hook");
    assert_eq!(
        e[0].details,
        "LifecycleTransition=autoscaling:EC2_INSTANCE_LAUNCHING"
    );
    assert_eq!(e[1].who, "EC2 health check");
    assert_eq!(
        e[1].cause.as_ref().map(|c| c.class),
        Some(CauseClass::HealthCheck)
    );
    assert_eq!(
        (e[2].kind, e[2].who.as_str()),
        (Kind::Service, "AutoScaling via autoscaling.amazonaws.com")
    );
    assert_eq!((e[3].status, e[3].who.as_str()), (Status::Failed, "-"));
    assert_eq!(
        (e[4].status, e[4].who.as_str()),
        (Status::Failed, "instance refresh r-1")
    );
    assert_eq!(
        e[5].details,
        "InstanceRefreshId=r-2 | CheckpointPercentage=50 | CheckpointDelay=300"
    );
    assert!(e.iter().all(|e| e.actual.is_none() && e.desired.is_none()));
}

#[test]
fn no_items_no_entries() {
    assert_eq!(build(&[]), Timeline::default());
}

fn two_groups() -> Vec<Value> {
    serde_json::from_str(TWO_GROUPS).expect("the fixture is JSON")
}

/// A series as `(HH:MM:SS, value)`.
fn steps(series: &[Point]) -> Vec<(&str, i64)> {
    series.iter().map(|p| (&p.time[11..19], p.value)).collect()
}

/// The value of a series at `time` (the last step at or before it).
fn at(series: &[Point], time: &str) -> Option<i64> {
    series
        .iter()
        .take_while(|p| p.time.as_str() <= time)
        .last()
        .map(|p| p.value)
}

#[test]
fn groups_of_one_name_are_told_apart_by_account_and_region() {
    let groups = by_group(&two_groups());
    let places: Vec<(&str, &str, &str)> = groups
        .iter()
        .map(|g| {
            (
                g.group.name.as_str(),
                g.group.account.as_str(),
                g.group.region.as_str(),
            )
        })
        .collect();
    assert_eq!(
        places,
        [
            ("web-asg", "111111111111", "us-east-1"),
            ("web-asg", "222222222222", "eu-west-1")
        ]
    );
    let (us, eu) = (&groups[0].timeline, &groups[1].timeline);
    assert_eq!((us.entries.len(), eu.entries.len()), (5, 4));
    // Each group's own capacity: never the other's, never a sawtooth of both.
    assert_eq!(
        steps(&us.capacity.desired),
        [("10:00:00", 10), ("10:05:00", 12), ("10:20:00", 10)]
    );
    assert_eq!(steps(&us.capacity.max_size), [("10:00:00", 20)]);
    assert_eq!(
        steps(&eu.capacity.desired),
        [("10:00:30", 2), ("10:05:00", 1), ("10:10:00", 3)]
    );
    assert_eq!(steps(&eu.capacity.max_size), [("10:00:30", 4)]);
    assert_eq!(
        steps(&eu.capacity.actual),
        [("10:00:30", 2), ("10:05:40", 1), ("10:11:00", 2)]
    );
    for g in &groups {
        let c = &g.timeline.capacity;
        for p in &c.desired {
            let max = at(&c.max_size, &p.time).expect("a max size");
            assert!(p.value <= max, "{}: desired {p:?} above max {max}", g.group);
        }
        for e in &g.timeline.entries {
            let row = two_groups()
                .into_iter()
                .find(|r| r["eventID"] == e.event_id.as_str())
                .expect("the entry's item");
            assert_eq!(Group::of(&row), g.group, "{e:?} is of its own group");
        }
    }
}

#[test]
fn causes_are_matched_only_to_the_group_s_own_calls() {
    let groups = by_group(&two_groups());
    let who = |g: &GroupTimeline| -> Vec<(String, String)> {
        g.timeline
            .entries
            .iter()
            .filter(|e| e.kind == Kind::Activity)
            .map(|e| (e.time[11..19].to_owned(), e.who.clone()))
            .collect()
    };
    let w = |t: &str, who: &str| (t.to_owned(), who.to_owned());
    // us-east-1's launches answer alice's SetDesiredCapacity at 10:05:00, in us-east-1.
    assert_eq!(
        who(&groups[0]),
        [
            w("10:06:10", "user request by alice@example.com"),
            w("10:06:20", "user request by alice@example.com")
        ]
    );
    // eu-west-1's termination has a user request at that same second, but no call of its own
    // stored: alice's call in the other region is not its cause.
    assert_eq!(
        who(&groups[1]),
        [
            w("10:05:40", "user request"),
            w("10:11:00", "user request by bob")
        ]
    );
    // `build` on the whole partition is what mixed them.
    let mixed = build(&two_groups());
    assert!(
        mixed
            .entries
            .iter()
            .any(|e| e.time.ends_with("10:05:40Z") && e.who.ends_with("by alice@example.com")),
        "the fixture is one that mixes when not split"
    );
}

#[test]
fn an_item_without_a_region_is_a_group_of_its_own() {
    let mut rows = two_groups();
    let mut bare = rows[0].clone();
    bare.as_object_mut().expect("object").remove("awsRegion");
    bare["eventID"] = json!("no-region");
    bare["eventKey"] = json!("2024-06-01T10:30:00Z#no-region");
    bare["eventTime"] = json!("2024-06-01T10:30:00Z");
    rows.push(bare);
    let groups = by_group(&rows);
    assert_eq!(groups.len(), 3);
    let unknown = &groups[0];
    assert_eq!(
        (
            unknown.group.account.as_str(),
            unknown.group.region.as_str()
        ),
        ("111111111111", crate::item::UNKNOWN)
    );
    assert_eq!(unknown.timeline.entries.len(), 1);
    assert_eq!(groups[1].timeline.entries.len(), 5, "us-east-1 unchanged");
    let table = text::table(&groups);
    assert!(
        table.starts_with("web-asg (account 111111111111, region -): 1 entry\n"),
        "{table}"
    );
    assert_eq!(
        table.matches("\n\nweb-asg (account ").count(),
        2,
        "three sections: {table}"
    );
}
