//! The events module's tests, over the samples in `events/` (one per detail-type).

use super::*;
use crate::config::Config;
use crate::eventbridge::Head;
use crate::pipeline;

/// The account of the samples, and of the function that receives them in these tests.
const OWN_ACCOUNT: &str = "123456789012";

/// The event as the function of [`OWN_ACCOUNT`] stores it (a refusal fails the test).
fn invocation_items(raw: &RawValue, config: &Config) -> Result<Event, EventError> {
    match pipeline::invocation_event(raw, config, Some(OWN_ACCOUNT))? {
        pipeline::Admission::Admitted(event) => Ok(event),
        pipeline::Admission::Refused(event) => panic!("refused: {event:?}"),
    }
}
use serde_json::{Value, json};

macro_rules! sample {
    ($file:literal) => {
        ($file, include_str!(concat!("../../events/", $file)))
    };
}

/// Every sample event of `events/`: (file, text).
const SAMPLES: [(&str, &str); 17] = [
    sample!("autoscaling-launch-successful.json"),
    sample!("autoscaling-launch-unsuccessful.json"),
    sample!("autoscaling-terminate-successful.json"),
    sample!("autoscaling-terminate-unsuccessful.json"),
    sample!("autoscaling-detach-successful.json"),
    sample!("autoscaling-launch-lifecycle-action.json"),
    sample!("autoscaling-terminate-lifecycle-action.json"),
    sample!("autoscaling-refresh-started.json"),
    sample!("autoscaling-refresh-checkpoint-reached.json"),
    sample!("autoscaling-refresh-started-baking.json"),
    sample!("autoscaling-refresh-succeeded.json"),
    sample!("autoscaling-refresh-failed.json"),
    sample!("autoscaling-refresh-cancelled.json"),
    sample!("autoscaling-refresh-rollback-started.json"),
    sample!("autoscaling-refresh-rollback-succeeded.json"),
    sample!("autoscaling-refresh-rollback-failed.json"),
    sample!("autoscaling-api-call.json"),
];

fn raw(v: &Value) -> Box<RawValue> {
    RawValue::from_string(v.to_string()).expect("valid json")
}

fn json_of(name: &str) -> Value {
    let (_, text) = SAMPLES
        .iter()
        .find(|(file, _)| *file == name)
        .unwrap_or_else(|| panic!("no sample {name}"));
    serde_json::from_str(text).expect("a sample is JSON")
}

fn invoke(v: &Value) -> Result<Event, EventError> {
    invocation_items(&raw(v), &Config::default())
}

fn the_item(v: &Value) -> Item {
    let event = invoke(v).unwrap_or_else(|e| panic!("{e}"));
    match event.outcome {
        Outcome::Kept(mut items) if items.len() == 1 => items.remove(0),
        other => panic!("one item expected, got {other:?}"),
    }
}

#[test]
fn every_activity_sample_becomes_one_item_as_the_contract_says() {
    let mut detail_types = Vec::new();
    for (file, text) in SAMPLES {
        let envelope: Value = serde_json::from_str(text).expect("json");
        if envelope["detail-type"] == API_CALL_DETAIL_TYPE {
            continue;
        }
        let event = invoke(&envelope).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(event.kind, Kind::Activity, "{file}");
        let id = envelope["id"].as_str().expect("id");
        let time = envelope["time"].as_str().expect("time");
        let item = the_item(&envelope);
        let json = serde_json::to_value(&item).expect("serializes");
        let want = json!({
            "groupName": "web-asg",
            "groupNames": ["web-asg"],
            "eventKey": format!("{time}#{id}"),
            "eventTime": time,
            "eventID": id,
            "eventName": envelope["detail-type"],
            "origin": "activity",
            "awsRegion": "us-east-1",
            "accountId": "123456789012",
            "detail": envelope["detail"],
            "sourceObject": format!("eventbridge:{id}"),
        });
        assert_eq!(json, want, "{file}");
        assert_eq!(event.partitions(), ["web-asg"], "{file}");
        detail_types.push(event.detail_type);
    }
    assert_eq!(detail_types.len(), 16);
}

#[test]
fn an_api_call_gives_the_items_of_its_record_in_a_log_file_but_for_the_source() {
    let envelope = json_of("autoscaling-api-call.json");
    let event = invoke(&envelope).expect("an API call");
    assert_eq!(
        (event.kind, event.detail_type.as_str()),
        (Kind::ApiCall, API_CALL_DETAIL_TYPE)
    );
    let from_file =
        match extract::extract(&raw(&envelope["detail"]), "s3://b/k", &Filters::default()) {
            Outcome::Kept(items) => items,
            other => panic!("{other:?}"),
        };
    let mut items = event.items().to_vec();
    assert_eq!(
        items[0].source_object,
        "eventbridge:e0f2a4c6-e8a0-c2e4-a6c8-e0a2c4e6a8c0"
    );
    for item in &mut items {
        item.source_object = "s3://b/k".into();
    }
    assert_eq!(items, from_file);
    // The person behind the SSO role, and the role beside.
    assert_eq!(items[0].user_name.as_deref(), Some("alice@example.com"));
    assert_eq!(
        items[0].role_name.as_deref(),
        Some("AWSReservedSSO_PlatformOps_0a1b2c3d4e5f6a7b")
    );
    assert_eq!(items[0].origin, Origin::Api);
}

#[test]
fn application_auto_scaling_calls_stay_out_on_this_path_too() {
    let mut envelope = json_of("autoscaling-api-call.json");
    envelope["detail"]["eventName"] = json!("RegisterScalableTarget");
    envelope["detail"]["requestParameters"] = json!({"serviceNamespace": "ecs",
        "resourceId": "service/c/s", "scalableDimension": "ecs:service:DesiredCount"});
    let event = invoke(&envelope).expect("understood");
    assert_eq!(event.outcome, Outcome::ApplicationAutoScaling);
    assert!(event.items().is_empty());
}

#[test]
fn an_unknown_detail_type_is_stored_too() {
    let mut envelope = json_of("autoscaling-refresh-started.json");
    envelope["detail-type"] = json!("EC2 Auto Scaling Something New");
    envelope["detail"]["Brand"] = json!({"New": [1, 2]});
    let item = the_item(&envelope);
    assert_eq!(
        item.event_name.as_deref(),
        Some("EC2 Auto Scaling Something New")
    );
    assert_eq!(item.origin, Origin::Activity);
    assert_eq!(item.group_name, "web-asg");
    assert_eq!(item.detail, Some(envelope["detail"].clone()));
}

#[test]
fn the_group_comes_from_the_detail_else_the_resources_else_the_account() {
    let mut envelope = json_of("autoscaling-launch-successful.json");
    envelope["detail"]
        .as_object_mut()
        .expect("object")
        .remove("AutoScalingGroupName");
    let item = the_item(&envelope);
    assert_eq!(
        (item.group_name.as_str(), item.group_names.as_slice()),
        ("web-asg", &["web-asg".to_owned()][..]),
        "from the group ARN in resources, the instance ARN beside it"
    );
    envelope["resources"] = json!(["arn:aws:ec2:us-east-1:123456789012:instance/i-1"]);
    let item = the_item(&envelope);
    assert_eq!(item.group_name, ":account:123456789012");
    assert!(item.group_names.is_empty());
    envelope.as_object_mut().expect("object").remove("account");
    let no_account = raw(&envelope);
    let from_file = read(&no_account, Arrival::File("f"), &Filters::default()).expect("read");
    assert_eq!(from_file.items()[0].group_name, ":account:unknown");
    // Sent to the function, an event that names no account is refused: no setting accepts it.
    assert!(matches!(
        pipeline::invocation_event(&no_account, &Config::default(), Some(OWN_ACCOUNT)),
        Ok(pipeline::Admission::Refused(_))
    ));
    // A name given as an ARN is reduced to the name.
    let mut envelope = json_of("autoscaling-refresh-failed.json");
    envelope["detail"]["AutoScalingGroupName"] = envelope["resources"][0].clone();
    assert_eq!(the_item(&envelope).group_name, "web-asg");
}

#[test]
fn malformed_envelopes_are_named_errors() {
    let good = json_of("autoscaling-launch-unsuccessful.json");
    let id = "0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a";
    let without = |field: &str| {
        let mut v = good.clone();
        v.as_object_mut().expect("object").remove(field);
        v
    };
    let with = |field: &str, value: Value| {
        let mut v = good.clone();
        v[field] = value;
        v
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "no id",
            without("id"),
            "EventBridge event (no id) (EC2 Instance Launch Unsuccessful): no id or no detail-type",
        ),
        ("no time", without("time"), "no time"),
        ("no detail", without("detail"), "no detail object"),
        (
            "detail not an object",
            with("detail", json!("text")),
            "no detail object",
        ),
        ("empty id", with("id", json!("")), "(no id)"),
        ("id a number", with("id", json!(7)), "not an event envelope"),
        (
            "group name a number",
            {
                let mut v = good.clone();
                v["detail"]["AutoScalingGroupName"] = json!(42);
                v
            },
            "detail.AutoScalingGroupName is not a name",
        ),
        ("resources not a list", with("resources", json!("arn")), id),
        (
            "a time too long to key",
            with("time", json!("t".repeat(1100))),
            "the event cannot be keyed",
        ),
    ];
    for (what, v, needle) in cases {
        let err = invoke(&v).expect_err(what);
        let text = err.to_string();
        assert!(text.contains(needle), "{what}: {text}");
        assert!(text.starts_with("EventBridge event "), "{what}: {text}");
    }
    let err = invoke(&json!([1, 2])).expect_err("not an object");
    assert!(err.to_string().contains("(not an object: [1,2]"), "{err}");
    // An API call whose record cannot be keyed names the event too.
    let mut call = json_of("autoscaling-api-call.json");
    call["detail"]
        .as_object_mut()
        .expect("object")
        .remove("eventID");
    let err = invoke(&call).expect_err("no eventID");
    assert!(
        err.to_string().starts_with(
            "EventBridge event e0f2a4c6-e8a0-c2e4-a6c8-e0a2c4e6a8c0 (AWS API Call via CloudTrail): its CloudTrail record is rejected"
        ),
        "{err}"
    );
    let rejection = err.into_rejection();
    assert_eq!(rejection.event_name.as_deref(), Some(API_CALL_DETAIL_TYPE));
}

#[test]
fn events_of_other_sources_are_refused_by_name() {
    let mut envelope = json_of("autoscaling-refresh-started.json");
    envelope["source"] = json!("aws.ec2");
    let err = invoke(&envelope).expect_err("other source");
    assert!(matches!(err, EventError::OtherSource { .. }));
    assert_eq!(
        err.to_string(),
        "EventBridge event 10a1b2c3-d4e5-4f60-8192-a3b4c5d6e7f0: source \"aws.ec2\" is not aws.autoscaling"
    );
}

#[test]
fn every_item_is_finished_with_the_retention() {
    let config = Config {
        retention_days: 1,
        ..Config::default()
    };
    for name in [
        "autoscaling-refresh-started.json",
        "autoscaling-api-call.json",
    ] {
        let event = invocation_items(&raw(&json_of(name)), &config).expect("stored");
        let item = &event.items()[0];
        let time = item::epoch_seconds(&item.event_time).expect("a time");
        assert_eq!(item.expires_at, Some(time + 86_400), "{name}");
    }
    // `read` leaves that to the log-file path, which finishes every item itself.
    let event = read(
        &raw(&json_of("autoscaling-refresh-started.json")),
        Arrival::File("f.json"),
        &Filters::default(),
    )
    .expect("stored");
    assert_eq!(event.items()[0].expires_at, None);
    assert_eq!(event.items()[0].source_object, "f.json");
}

#[test]
fn event_name_filters_apply_to_detail_types() {
    let filters = Filters {
        event_names_exclude: Filters::event_names("EC2 Auto Scaling Instance Refresh Started"),
        ..Filters::default()
    };
    let read_with = |name: &str, filters: &Filters| {
        read(&raw(&json_of(name)), Arrival::Invocation, filters)
            .expect("understood")
            .outcome
    };
    assert_eq!(
        read_with("autoscaling-refresh-started.json", &filters),
        Outcome::Filtered("event name excluded")
    );
    assert!(matches!(
        read_with("autoscaling-refresh-succeeded.json", &filters),
        Outcome::Kept(_)
    ));
    let read_only = Filters {
        exclude_read_only: true,
        ..Filters::default()
    };
    assert!(
        matches!(
            read_with("autoscaling-refresh-started.json", &read_only),
            Outcome::Kept(_)
        ),
        "an activity is not a read-only call"
    );
}

#[test]
fn a_detail_dynamodb_cannot_store_is_left_out_and_named() {
    let mut envelope = json_of("autoscaling-refresh-started.json");
    let mut deep = json!(1);
    for _ in 0..40 {
        deep = json!([deep]);
    }
    envelope["detail"]["Deep"] = deep;
    let item = the_item(&envelope);
    assert_eq!(item.detail, None);
    assert!(item.omitted.contains_key("detail"), "{:?}", item.omitted);
    assert_eq!(item.group_name, "web-asg");
}

/// The one test of [`crate::eventbridge`], on a raw value.
fn is_activity_raw(raw: &RawValue) -> bool {
    Head::of(raw).kind() == Some(Kind::Activity)
}

#[test]
fn activities_are_told_apart_from_records_and_api_calls() {
    assert!(is_activity_raw(&raw(&json_of(
        "autoscaling-launch-successful.json"
    ))));
    assert!(!is_activity_raw(&raw(&json_of(
        "autoscaling-api-call.json"
    ))));
    assert!(!is_activity_raw(&raw(&json_of(
        "autoscaling-api-call.json"
    )["detail"])));
    assert!(!is_activity_raw(&raw(
        &json!({"source": "aws.s3", "detail-type": "Object Created"})
    )));
    assert!(!is_activity_raw(&raw(
        &json!({"source": 1, "detail-type": "x"})
    )));
    assert!(!is_activity_raw(&raw(&json!([1]))));
}

/// What `asg-trail extract` gives for `input` (Format::Any), as it would be stored.
fn from_file(input: &[u8]) -> (crate::extract::FileStats, Vec<Item>) {
    let mut items = Vec::new();
    let config = Config {
        retention_days: 7,
        ..Config::default()
    };
    let (stats, parsed) = pipeline::log_items(
        input,
        crate::cloudtrail::Format::Any,
        "s3://firehose/asg/2024/03/05/part-1",
        &config,
        |item| {
            items.push(item);
            std::ops::ControlFlow::Continue(())
        },
    );
    parsed.expect("the file reads to its end");
    (stats.file, items)
}

#[test]
fn files_of_envelopes_give_the_invocations_items_but_for_the_source() {
    let compact: Vec<String> = SAMPLES
        .iter()
        .map(|(_, text)| {
            serde_json::from_str::<Value>(text)
                .expect("json")
                .to_string()
        })
        .collect();
    let config = Config {
        retention_days: 7,
        ..Config::default()
    };
    let mut want: Vec<Item> = SAMPLES
        .iter()
        .flat_map(|(_, text)| {
            let raw: Box<RawValue> = serde_json::from_str(text).expect("json");
            invocation_items(&raw, &config)
                .expect("stored")
                .items()
                .to_vec()
        })
        .collect();
    for item in &mut want {
        item.source_object = "s3://firehose/asg/2024/03/05/part-1".into();
    }
    let firehose = compact.concat();
    let lines = compact.join("\n") + "\n";
    let gzipped = {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, firehose.as_bytes()).expect("gzip");
        gz.finish().expect("gzip")
    };
    for (what, input) in [
        (
            "concatenated with no separator (Firehose)",
            firehose.as_bytes(),
        ),
        ("JSON lines", lines.as_bytes()),
        ("gzipped Firehose object", &gzipped[..]),
    ] {
        let (stats, items) = from_file(input);
        assert_eq!(items, want, "{what}");
        assert_eq!(
            (stats.records, stats.events, stats.items),
            (17, 17, 17),
            "{what}"
        );
    }
    // One envelope per file, pretty-printed as the samples are.
    for (file, text) in SAMPLES {
        let (_, items) = from_file(text.as_bytes());
        assert_eq!(items.len(), 1, "{file}");
        assert!(items[0].expires_at.is_some(), "{file}: finished");
    }
}

#[test]
fn a_malformed_envelope_in_a_file_is_rejected_and_the_rest_kept() {
    let mut bad = json_of("autoscaling-refresh-started.json");
    bad.as_object_mut().expect("object").remove("time");
    let input = format!(
        "{}{}{}",
        json_of("autoscaling-launch-successful.json"),
        bad,
        json_of("autoscaling-terminate-successful.json")
    );
    let (stats, items) = from_file(input.as_bytes());
    assert_eq!((stats.records, stats.rejected, stats.items), (3, 1, 2));
    let names: Vec<_> = items
        .iter()
        .filter_map(|i| i.event_name.as_deref())
        .collect();
    assert_eq!(
        names,
        [
            "EC2 Instance Launch Successful",
            "EC2 Instance Terminate Successful"
        ]
    );
}

#[test]
fn an_envelope_whose_detail_type_is_not_text_is_rejected_on_both_paths() {
    let envelope = json!({
        "version": "0", "id": "x-1", "detail-type": 42, "source": "aws.autoscaling",
        "account": "123456789012", "time": "2024-03-05T12:00:00Z", "region": "us-east-1",
        "resources": [], "detail": {"AutoScalingGroupName": "web-asg"}
    });
    // It invoked the function: refused, by name.
    let err = invocation_items(&raw(&envelope), &Config::default()).expect_err("rejected");
    assert!(matches!(err, EventError::Unreadable { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("EventBridge event x-1: not an event envelope: detail-type"),
        "{err}"
    );
    // Read from a file: rejected and counted too (it was once taken for a record and counted
    // as "other"), and the file read on.
    let (stats, items) = from_file(envelope.to_string().as_bytes());
    assert_eq!((stats.records, stats.rejected, stats.events), (1, 1, 0));
    assert!(items.is_empty());
}

#[test]
fn an_event_of_another_account_is_refused_unless_the_settings_accept_it() {
    let mut envelope = json_of("autoscaling-launch-successful.json");
    envelope["account"] = json!("999999999999");
    let refused =
        pipeline::invocation_event(&raw(&envelope), &Config::default(), Some(OWN_ACCOUNT))
            .expect("readable");
    let pipeline::Admission::Refused(event) = refused else {
        panic!("stored an event of another account: {refused:?}");
    };
    assert_eq!(event.account, "999999999999");
    let config = Config {
        event_accounts: crate::config::EventAccounts::parse("999999999999").expect("list"),
        ..Config::default()
    };
    let admitted =
        pipeline::invocation_event(&raw(&envelope), &config, Some(OWN_ACCOUNT)).expect("readable");
    let pipeline::Admission::Admitted(event) = admitted else {
        panic!("refused a listed account: {admitted:?}");
    };
    assert_eq!(event.items()[0].account_id, "999999999999");
}
