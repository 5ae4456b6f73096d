//! The extractor's tests: one record at a time, and whole files read through the pipeline's
//! driver ([`crate::pipeline::extracted_items`]), over the fixtures and the hostile corpus.

use std::ops::ControlFlow;

use super::*;
use crate::cloudtrail::{self, Finish, Format, Limits};
use crate::pipeline::extracted_items as extract_log_with;
use serde_json::json;

/// A whole file through the pipeline's driver, within the default limits.
fn extract_log<R: std::io::Read + Send>(
    input: R,
    format: Format,
    source_object: &str,
    filters: &Filters,
    on_item: impl FnMut(Item) -> ControlFlow<()>,
) -> (FileStats, Result<Finish, cloudtrail::ParseError>) {
    extract_log_with(
        input,
        format,
        source_object,
        filters,
        &Limits::default(),
        on_item,
    )
}

/// The filters with read-only calls kept (the default drops them).
fn keep_reads() -> Filters {
    Filters {
        exclude_read_only: false,
        ..Filters::default()
    }
}

fn raw(v: &Value) -> Box<RawValue> {
    RawValue::from_string(v.to_string()).expect("valid json")
}

fn kept(v: &Value) -> Vec<Item> {
    match extract(&raw(v), "s3://b/k", &Filters::default()) {
        Outcome::Kept(items) => items,
        other => panic!("expected Kept, got {other:?}"),
    }
}

fn update_record() -> Value {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:alice",
            "arn": "arn:aws:sts::123456789012:assumed-role/Admin/alice",
            "accountId": "123456789012",
            "accessKeyId": "ASIAEXAMPLE",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": "AROAEXAMPLE",
                    "arn": "arn:aws:iam::123456789012:role/Admin",
                    "accountId": "123456789012",
                    "userName": "Admin"
                },
                "attributes": {"creationDate": "2024-03-05T11:00:00Z", "mfaAuthenticated": "false"}
            }
        },
        "eventTime": "2024-03-05T12:00:01Z",
        "eventSource": "autoscaling.amazonaws.com",
        "eventName": "UpdateAutoScalingGroup",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": {"autoScalingGroupName": "web-asg", "maxSize": 8, "minSize": 1},
        "responseElements": null,
        "requestID": "req-1",
        "eventID": "evt-1",
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": "123456789012",
        "eventCategory": "Management",
        "someFutureField": {"x": [1, 2]}
    })
}

/// A reader that counts the bytes read from it where the test can see them.
struct CountingReader<'a> {
    inner: &'a [u8],
    bytes: &'a std::sync::atomic::AtomicU64,
}

impl std::io::Read for CountingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

#[test]
fn an_item_callback_that_says_stop_ends_the_read_at_once() {
    // Auto Scaling events among some 16 MB of records gzip cannot shrink much.
    let mut rng = fastrand::Rng::with_seed(4);
    let mut records = Vec::new();
    for i in 0..8_000 {
        let mut record = update_record();
        record["eventID"] = json!(format!("evt-{i}"));
        let pad: String = (0..128).map(|_| format!("{:016x}", rng.u64(..))).collect();
        record["pad"] = json!(pad);
        records.push(record);
    }
    let plain = serde_json::to_vec(&json!({ "Records": records })).expect("json");
    let mut lines = Vec::new();
    for record in &records {
        serde_json::to_writer(&mut lines, record).expect("json");
        lines.push(b'\n');
    }
    for (what, input, format) in [
        ("delivery", plain, Format::Delivery),
        ("JSON lines", lines, Format::Any),
    ] {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &input).expect("gzip");
        let gz = gz.finish().expect("gzip");
        let bytes = std::sync::atomic::AtomicU64::new(0);
        let reader = CountingReader {
            inner: &gz,
            bytes: &bytes,
        };
        let mut items = Vec::new();
        let (stats, result) = extract_log(reader, format, "big", &Filters::default(), |i| {
            items.push(i);
            ControlFlow::Break(())
        });
        assert_eq!(
            result.expect("a stop is not an error"),
            Finish::Stopped,
            "{what}"
        );
        assert_eq!(
            (items.len(), stats.items, stats.records),
            (1, 1, 1),
            "{what}"
        );
        let read = bytes.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(stats.bytes, read, "{what}");
        assert!(read < gz.len() as u64 / 8, "{what}: {read} of {}", gz.len());
    }
}

#[test]
fn maps_every_attribute_of_the_item_model() {
    let items = kept(&update_record());
    assert_eq!(items.len(), 1);
    let it = &items[0];
    assert_eq!(it.key(), ("web-asg", "2024-03-05T12:00:01Z#evt-1"));
    assert_eq!(it.event_time, "2024-03-05T12:00:01Z");
    assert_eq!(it.event_id, "evt-1");
    assert_eq!(it.event_name.as_deref(), Some("UpdateAutoScalingGroup"));
    assert_eq!(it.event_version.as_deref(), Some("1.08"));
    assert_eq!(it.aws_region.as_deref(), Some("us-east-1"));
    assert_eq!(it.request_id.as_deref(), Some("req-1"));
    assert_eq!(it.source_ip_address.as_deref(), Some("198.51.100.7"));
    assert_eq!(it.user_agent.as_deref(), Some("aws-cli/2.15.0"));
    assert_eq!(it.error_code, None);
    assert_eq!(it.read_only, Some(false));
    assert_eq!(it.account_id, "123456789012");
    assert_eq!(it.user_identity_type.as_deref(), Some("AssumedRole"));
    assert_eq!(
        it.user_arn.as_deref(),
        Some("arn:aws:sts::123456789012:assumed-role/Admin/alice")
    );
    assert_eq!(it.principal_id.as_deref(), Some("AROAEXAMPLE:alice"));
    assert_eq!(it.user_name.as_deref(), Some("Admin"));
    assert_eq!(it.role_name.as_deref(), Some("Admin"));
    assert_eq!(it.detail, None, "a CloudTrail record has no detail");
    assert_eq!(it.invoked_by, None);
    assert_eq!(
        it.request_parameters,
        Some(json!({"autoScalingGroupName": "web-asg", "maxSize": 8, "minSize": 1}))
    );
    assert_eq!(it.response_elements, None, "null is absent, never null");
    assert_eq!(it.source_object, "s3://b/k");
}

#[test]
fn group_arn_is_reduced_to_its_name() {
    let mut r = update_record();
    r["requestParameters"]["autoScalingGroupName"] = json!(
        "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:5e1c1f7e-1111-2222-3333-444455556666:autoScalingGroupName/api-asg"
    );
    assert_eq!(kept(&r)[0].group_name, "api-asg");
}

#[test]
fn a_read_only_call_is_stored_once_in_the_account_partition_naming_its_groups() {
    let mut r = update_record();
    r["eventName"] = json!("DescribeAutoScalingGroups");
    r["readOnly"] = json!(true);
    r["requestParameters"] = json!({"autoScalingGroupNames": ["web-asg", "api-asg"]});
    let Outcome::Kept(items) = extract(&raw(&r), "f", &keep_reads()) else {
        panic!("kept when read-only calls are kept");
    };
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].group_name, ":account:123456789012");
    assert_eq!(items[0].group_names, ["api-asg", "web-asg"]);
    assert_eq!(
        extract(&raw(&r), "f", &Filters::default()),
        Outcome::Filtered("read-only"),
        "left out by default"
    );
    // The same call with readOnly false (a change) is filed under each group.
    r["readOnly"] = json!(false);
    assert_eq!(kept(&r).len(), 2);
}

#[test]
fn events_naming_no_group_go_to_the_account_partition() {
    let mut r = update_record();
    r["eventName"] = json!("CreateLaunchConfiguration");
    r["requestParameters"] = json!({"launchConfigurationName": "lc", "imageId": "ami-1"});
    assert_eq!(kept(&r)[0].group_name, ":account:123456789012");
    r["requestParameters"] = Value::Null;
    assert_eq!(kept(&r)[0].group_name, ":account:123456789012");
    r.as_object_mut()
        .expect("object")
        .remove("requestParameters");
    assert_eq!(kept(&r)[0].group_name, ":account:123456789012");
}

#[test]
fn account_id_falls_back_to_identity_then_unknown() {
    let mut r = update_record();
    r.as_object_mut()
        .expect("object")
        .remove("recipientAccountId");
    r["userIdentity"]["accountId"] = json!("210987654321");
    r["requestParameters"] = json!({});
    let it = &kept(&r)[0];
    assert_eq!(it.account_id, "210987654321");
    assert_eq!(it.group_name, ":account:210987654321");
    r["userIdentity"]
        .as_object_mut()
        .expect("object")
        .remove("accountId");
    assert_eq!(kept(&r)[0].account_id, "unknown");
    r.as_object_mut().expect("object").remove("userIdentity");
    let it = &kept(&r)[0];
    assert_eq!(
        (it.account_id.as_str(), it.user_arn.as_deref()),
        ("unknown", None)
    );
}

#[test]
fn user_name_prefers_user_then_issuer_then_session() {
    let mut r = update_record();
    r["userIdentity"]["userName"] = json!("bob");
    assert_eq!(kept(&r)[0].user_name.as_deref(), Some("bob"));
    let ui = r["userIdentity"].as_object_mut().expect("object");
    ui.remove("userName");
    ui.remove("sessionContext");
    assert_eq!(kept(&r)[0].user_name.as_deref(), Some("alice"));
    r["userIdentity"]["arn"] = json!("arn:aws:iam::123456789012:root");
    assert_eq!(kept(&r)[0].user_name, None);
}

/// A real IAM Identity Center session (from the TrailDiscover corpus, account masked).
fn sso_record() -> Value {
    let text = include_str!(
        "../../tests/fixtures/corpus/traildiscover/CreateAutoScalingGroup.json.cloudtrail"
    );
    let records: Value = serde_json::from_str(text).expect("json");
    records[0].clone()
}

#[test]
fn an_sso_session_is_named_by_its_person_and_keeps_its_role() {
    let r = sso_record();
    let it = &kept(&r)[0];
    assert_eq!(it.user_name.as_deref(), Some("AdanAlvarez"));
    assert_eq!(
        it.role_name.as_deref(),
        Some("AWSReservedSSO_AdministratorAccess_1b74cd717d47002b")
    );
    assert_eq!(
        it.user_arn.as_deref(),
        Some(
            "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_AdministratorAccess_1b74cd717d47002b/AdanAlvarez"
        )
    );
    let json = serde_json::to_value(it).expect("serializes");
    assert_eq!(
        json["roleName"],
        "AWSReservedSSO_AdministratorAccess_1b74cd717d47002b"
    );
    // Without the session context, the ARN alone says the same.
    let mut bare = r.clone();
    bare["userIdentity"]
        .as_object_mut()
        .expect("object")
        .remove("sessionContext");
    let it = &kept(&bare)[0];
    assert_eq!(
        (it.user_name.as_deref(), it.role_name.as_deref()),
        (
            Some("AdanAlvarez"),
            Some("AWSReservedSSO_AdministratorAccess_1b74cd717d47002b")
        )
    );
}

#[test]
fn role_names_only_for_assumed_roles() {
    // A plain role keeps its name as the user, as before.
    let it = &kept(&update_record())[0];
    assert_eq!(
        (it.user_name.as_deref(), it.role_name.as_deref()),
        (Some("Admin"), Some("Admin"))
    );
    // An IAM user has no role.
    let mut r = update_record();
    r["userIdentity"] = json!({"type": "IAMUser", "principalId": "AIDAEXAMPLE",
            "arn": "arn:aws:iam::123456789012:user/deploy-bot", "accountId": "123456789012",
            "userName": "deploy-bot"});
    let it = &kept(&r)[0];
    assert_eq!(
        (it.user_name.as_deref(), it.role_name.as_deref()),
        (Some("deploy-bot"), None)
    );
    // A federated user's session is issued by an IAM user: no role either.
    r["userIdentity"] = json!({"type": "FederatedUser",
            "arn": "arn:aws:sts::123456789012:federated-user/carol",
            "sessionContext": {"sessionIssuer": {"type": "IAMUser", "userName": "broker",
                "arn": "arn:aws:iam::123456789012:user/broker"}}});
    let it = &kept(&r)[0];
    assert_eq!(
        (it.user_name.as_deref(), it.role_name.as_deref()),
        (Some("broker"), None)
    );
    // An SSO role with no session name to show stays named by its role.
    r["userIdentity"] = json!({"type": "AssumedRole",
            "sessionContext": {"sessionIssuer": {"type": "Role",
                "userName": "AWSReservedSSO_ReadOnly_0123456789abcdef"}}});
    let it = &kept(&r)[0];
    assert_eq!(
        (it.user_name.as_deref(), it.role_name.as_deref()),
        (
            Some("AWSReservedSSO_ReadOnly_0123456789abcdef"),
            Some("AWSReservedSSO_ReadOnly_0123456789abcdef")
        )
    );
}

#[test]
fn roles_from_arns() {
    let cases = [
        ("arn:aws:sts::1:assumed-role/Role/sess", Some("Role")),
        ("arn:aws:sts::1:assumed-role/Role/a/b", Some("Role")),
        ("arn:aws:sts::1:assumed-role//sess", None),
        ("arn:aws:sts::1:federated-user/carol", None),
        ("arn:aws:iam::1:role/Role", None),
        ("garbage", None),
    ];
    for (arn, want) in cases {
        assert_eq!(role_in_arn(arn), want, "{arn}");
    }
}

#[test]
fn session_names_from_arns() {
    let cases = [
        ("arn:aws:sts::1:assumed-role/Role/sess", Some("sess")),
        ("arn:aws:sts::1:assumed-role/Role/a/b", Some("a/b")),
        ("arn:aws:sts::1:federated-user/carol", Some("carol")),
        ("arn:aws:iam::1:user/dave", None),
        ("arn:aws:iam::1:root", None),
        ("garbage", None),
    ];
    for (arn, want) in cases {
        assert_eq!(session_name_from_arn(arn), want, "{arn}");
    }
}

#[test]
fn application_auto_scaling_is_left_out() {
    let register = json!({
        "eventVersion": "1.08",
        "eventTime": "2024-03-05T12:00:00Z",
        "eventSource": "autoscaling.amazonaws.com",
        "eventName": "RegisterScalableTarget",
        "requestParameters": {"serviceNamespace": "ecs", "resourceId": "service/c/s",
                              "scalableDimension": "ecs:service:DesiredCount"},
        "additionalEventData": {"service": "application-autoscaling"},
        "eventID": "e1"
    });
    assert_eq!(
        extract(&raw(&register), "x", &Filters::default()),
        Outcome::ApplicationAutoScaling
    );
    // Either marker alone is enough.
    let mut only_ns = register.clone();
    only_ns
        .as_object_mut()
        .expect("object")
        .remove("additionalEventData");
    assert_eq!(
        extract(&raw(&only_ns), "x", &Filters::default()),
        Outcome::ApplicationAutoScaling
    );
    let mut only_service = register.clone();
    only_service["requestParameters"] = json!({});
    assert_eq!(
        extract(&raw(&only_service), "x", &Filters::default()),
        Outcome::ApplicationAutoScaling
    );
    let tag = json!({
        "eventTime": "2024-03-05T12:00:00Z",
        "eventSource": "autoscaling.amazonaws.com",
        "eventName": "TagResource",
        "requestParameters": {"resourceARN": "arn:aws:application-autoscaling:us-east-1:1:scalable-target/0123", "tags": {"a": "b"}},
        "eventID": "e2"
    });
    assert_eq!(
        extract(&raw(&tag), "x", &Filters::default()),
        Outcome::ApplicationAutoScaling
    );
}

#[test]
fn other_services_and_insights_are_not_kept() {
    let ec2_by_asg = json!({
        "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
        "userIdentity": {"invokedBy": "autoscaling.amazonaws.com"},
        "sourceIPAddress": "autoscaling.amazonaws.com",
        "eventTime": "2024-03-05T12:00:00Z", "eventID": "e"
    });
    assert_eq!(
        extract(&raw(&ec2_by_asg), "x", &Filters::default()),
        Outcome::Other
    );
    let insight = json!({
        "eventVersion": "1.07", "eventTime": "2024-03-05T12:00:00Z",
        "eventType": "AwsCloudTrailInsight", "eventID": "e",
        "insightDetails": {"eventSource": "autoscaling.amazonaws.com", "eventName": "CompleteLifecycleAction"}
    });
    assert_eq!(
        extract(&raw(&insight), "x", &Filters::default()),
        Outcome::Other
    );
    assert_eq!(
        extract(&raw(&json!({})), "x", &Filters::default()),
        Outcome::Other
    );
}

#[test]
fn records_without_keys_or_of_the_wrong_shape_are_rejected() {
    let mut r = update_record();
    r.as_object_mut().expect("object").remove("eventID");
    match extract(&raw(&r), "x", &Filters::default()) {
        Outcome::Rejected(rej) => {
            assert_eq!(rej.event_name.as_deref(), Some("UpdateAutoScalingGroup"));
            assert_eq!(rej.request_id.as_deref(), Some("req-1"));
            assert!(rej.reason.contains("eventID"), "{}", rej.reason);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        extract(&raw(&json!([1, 2])), "x", &Filters::default()),
        Outcome::Rejected(_)
    ));
    let mut wrong = update_record();
    wrong["eventTime"] = json!(17);
    assert!(matches!(
        extract(&raw(&wrong), "x", &Filters::default()),
        Outcome::Rejected(_)
    ));
}

#[test]
fn escaped_strings_are_decoded() {
    let mut r = update_record();
    r["userAgent"] = json!("console \"quoted\" \u{202f}");
    assert_eq!(
        kept(&r)[0].user_agent.as_deref(),
        Some("console \"quoted\" \u{202f}")
    );
}

#[test]
fn user_guide_examples_give_two_account_items_and_one_for_asg1() {
    let file = include_bytes!("../../tests/fixtures/userguide.json");
    let mut groups = Vec::new();
    let (stats, result) = extract_log(
        &file[..],
        Format::Delivery,
        "userguide.json",
        &Filters::default(),
        |i| {
            groups.push((i.event_name, i.group_name));
            ControlFlow::Continue(())
        },
    );
    result.expect("parses");
    assert_eq!(
        stats,
        FileStats {
            bytes: file.len() as u64,
            records: 3,
            events: 3,
            items: 3,
            events_in_groups: 1,
            events_in_account: 2,
            ..FileStats::default()
        }
    );
    let names = |n: &str| Some(n.to_owned());
    assert_eq!(
        groups,
        [
            (
                names("CreateLaunchConfiguration"),
                ":account:123456789012".to_owned()
            ),
            (
                names("DescribeAutoScalingGroups"),
                ":account:123456789012".to_owned()
            ),
            (names("UpdateAutoScalingGroup"), "asg1".to_owned()),
        ]
    );
}

#[test]
fn conformance_over_the_real_corpus() {
    // (file, records, Auto Scaling events, event name) — counts from SOURCES.md.
    let cases = [
        (
            "218007301253_CloudTrail_us-east-1_20230710T1200Z_iLj9fb7yyUG9X4Bf.json",
            394,
            0,
            None,
        ),
        (
            "218007301253_CloudTrail_us-east-1_20230710T1210Z_6CICdbJQM3beT7n3.json",
            246,
            0,
            None,
        ),
        (
            "218007301253_CloudTrail_us-east-1_20230710T1230Z_9SJSsrxJ0ChF5VFb.json",
            84,
            1,
            Some("DescribeAutoScalingGroups"),
        ),
        (
            "111111111111_CloudTrail_eu-central-1_20171211T1505Z_A6kvhMoVeCsc7v8U.json",
            2,
            1,
            Some("DescribeLaunchConfigurations"),
        ),
        (
            "111111111111_CloudTrail_eu-central-1_20171211T1505Z_A6kvhMoVeCsc7v8U.json.gz",
            2,
            1,
            Some("DescribeLaunchConfigurations"),
        ),
        (
            "events-for-smoke-test.json",
            3,
            1,
            Some("DescribeLaunchConfigurations"),
        ),
        (
            "342082656213_CloudTrail_us-west-1_20210729T2350Z_9zOwwQ3KZkD3a1pv.json.gz",
            25,
            0,
            None,
        ),
        (
            "342082656213_CloudTrail_us-west-1_20210730T1635Z_hOe61gHlbCTVf45Q.json.gz",
            622,
            0,
            None,
        ),
    ];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
    for (name, records, events, event_name) in cases {
        let file = std::fs::File::open(dir.join(name)).expect(name);
        let mut items = Vec::new();
        let (stats, result) = extract_log(file, Format::Delivery, name, &keep_reads(), |i| {
            items.push(i);
            ControlFlow::Continue(())
        });
        result.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            (stats.records, stats.events, stats.rejected),
            (records, events, 0),
            "{name}"
        );
        assert_eq!(
            items.first().and_then(|i| i.event_name.as_deref()),
            event_name,
            "{name}"
        );
        for item in &items {
            assert!(item.group_name.starts_with(":account:"), "{name}: {item:?}");
            assert!(item.event_key.starts_with(&item.event_time), "{name}");
        }
    }
}

fn with(filters: &Filters, v: &Value) -> Outcome {
    extract(&raw(v), "s3://b/k", filters)
}

fn service_filters() -> Filters {
    Filters {
        include_service_actions: true,
        ..Filters::default()
    }
}

/// An ec2 RunInstances that Auto Scaling made for web-asg.
fn run_instances_by_autoscaling() -> Value {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:AutoScaling",
            "arn": "arn:aws:sts::123456789012:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling",
            "accountId": "123456789012",
            "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "AWSServiceRoleForAutoScaling"}},
            "invokedBy": "autoscaling.amazonaws.com"
        },
        "eventTime": "2024-03-05T12:00:05Z",
        "eventSource": "ec2.amazonaws.com",
        "eventName": "RunInstances",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "autoscaling.amazonaws.com",
        "userAgent": "autoscaling.amazonaws.com",
        "requestParameters": {
            "instancesSet": {"items": [{"minCount": 1, "maxCount": 1}]},
            "launchTemplate": {"launchTemplateId": "lt-097cdbb748360216c", "version": "7"},
            "tagSpecificationSet": {"items": [{"resourceType": "instance", "tags": [
                {"key": "aws:autoscaling:groupName", "value": "web-asg"}]}]}
        },
        "responseElements": {"reservationId": "r-0d3c7b1a2e4f5a6b7", "instancesSet": {"items": [{"instanceId": "i-0a1b2c3d4e5f60718"}]}},
        "requestID": "req-run",
        "eventID": "evt-run",
        "readOnly": false,
        "eventType": "AwsApiCall",
        "recipientAccountId": "123456789012"
    })
}

#[test]
fn an_event_naming_several_groups_gives_one_item_per_distinct_group() {
    let mut r = update_record();
    r["eventName"] = json!("CreateOrUpdateTags");
    r["requestParameters"] = json!({"tags": [
        {"resourceId": "web-asg", "resourceType": "auto-scaling-group", "key": "a", "value": "1", "propagateAtLaunch": true},
        {"resourceId": "api-asg", "resourceType": "auto-scaling-group", "key": "a", "value": "1", "propagateAtLaunch": true},
        {"resourceId": "web-asg", "resourceType": "auto-scaling-group", "key": "b", "value": "2", "propagateAtLaunch": false}
    ]});
    let items = kept(&r);
    let keys: Vec<(&str, &str)> = items.iter().map(Item::key).collect();
    assert_eq!(
        keys,
        [
            ("api-asg", "2024-03-05T12:00:01Z#evt-1"),
            ("web-asg", "2024-03-05T12:00:01Z#evt-1")
        ]
    );
    for it in &items {
        assert_eq!(it.group_names, ["api-asg", "web-asg"]);
        assert_eq!(it.origin, Origin::Api);
    }
    // Apart from the partition key, the items are the same event.
    let mut second = items[1].clone();
    second.group_name = items[0].group_name.clone();
    assert_eq!(second, items[0]);
}

#[test]
fn one_group_is_named_in_group_names_too_and_no_group_leaves_it_empty() {
    let it = &kept(&update_record())[0];
    assert_eq!(
        (it.group_name.as_str(), it.group_names.as_slice()),
        ("web-asg", &["web-asg".to_owned()][..])
    );
    let mut r = update_record();
    r["eventName"] = json!("DescribeAutoScalingGroups");
    r["requestParameters"] = json!({"autoScalingGroupNames": [], "maxRecords": 100});
    let it = &kept(&r)[0];
    assert_eq!(it.group_name, ":account:123456789012");
    assert!(it.group_names.is_empty());
}

#[test]
fn instance_level_calls_take_the_group_from_the_response() {
    let mut r = update_record();
    r["eventName"] = json!("TerminateInstanceInAutoScalingGroup");
    r["requestParameters"] =
        json!({"instanceId": "i-0a1b2c3d4e5f60718", "shouldDecrementDesiredCapacity": true});
    r["responseElements"] = json!({"activity": {"activityId": "a-1", "autoScalingGroupName": "web-asg", "statusCode": "InProgress"}});
    assert_eq!(kept(&r)[0].group_name, "web-asg");
    // Without the response (a failed call, or one above 100 KB) the event is still stored.
    r.as_object_mut()
        .expect("object")
        .remove("responseElements");
    let it = &kept(&r)[0];
    assert_eq!(it.group_name, ":account:123456789012");
    assert_eq!(it.response_elements, None);
}

#[test]
fn unknown_future_actions_are_stored_by_the_generic_rules() {
    let mut r = update_record();
    r["eventName"] = json!("ReticulateSplines");
    r["requestParameters"] = json!({"autoScalingGroupName": "web-asg", "splineCount": 3});
    assert_eq!(kept(&r)[0].group_name, "web-asg");
    r["requestParameters"] = json!({"somethingNew": true});
    assert_eq!(kept(&r)[0].group_name, ":account:123456789012");
}

#[test]
fn auto_scalings_own_ec2_calls_are_kept_only_when_asked_for() {
    let run = run_instances_by_autoscaling();
    assert_eq!(with(&Filters::default(), &run), Outcome::Other);
    let Outcome::Kept(items) = with(&service_filters(), &run) else {
        panic!("kept with the opt-in")
    };
    assert_eq!(items.len(), 1);
    let it = &items[0];
    assert_eq!(it.key(), ("web-asg", "2024-03-05T12:00:05Z#evt-run"));
    assert_eq!(it.origin, Origin::Service);
    assert_eq!(it.group_names, ["web-asg"]);
    assert_eq!(it.event_name.as_deref(), Some("RunInstances"));
    assert_eq!(it.invoked_by.as_deref(), Some("autoscaling.amazonaws.com"));
    assert_eq!(
        it.user_name.as_deref(),
        Some("AWSServiceRoleForAutoScaling")
    );

    // Only sourceIPAddress says so: still Auto Scaling's.
    let mut by_ip = run.clone();
    by_ip["userIdentity"]
        .as_object_mut()
        .expect("object")
        .remove("invokedBy");
    assert!(matches!(with(&service_filters(), &by_ip), Outcome::Kept(_)));
    // Somebody else's RunInstances is never kept.
    let mut theirs = run.clone();
    theirs["userIdentity"] =
        json!({"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/bob"});
    theirs["sourceIPAddress"] = json!("203.0.113.9");
    assert_eq!(with(&service_filters(), &theirs), Outcome::Other);
    // Other services, even when Auto Scaling called them, are not EC2 calls.
    let mut elb = run.clone();
    elb["eventSource"] = json!("elasticloadbalancing.amazonaws.com");
    assert_eq!(with(&service_filters(), &elb), Outcome::Other);
}

#[test]
fn terminations_without_a_group_tag_go_to_the_account_partition() {
    let mut r = run_instances_by_autoscaling();
    r["eventName"] = json!("TerminateInstances");
    r["requestParameters"] =
        json!({"instancesSet": {"items": [{"instanceId": "i-0a1b2c3d4e5f60718"}]}});
    r["responseElements"] = json!({"instancesSet": {"items": [{"instanceId": "i-0a1b2c3d4e5f60718",
            "currentState": {"code": 32, "name": "shutting-down"}, "previousState": {"code": 16, "name": "running"}}]}});
    let Outcome::Kept(items) = with(&service_filters(), &r) else {
        panic!("kept")
    };
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].group_name, ":account:123456789012");
    assert!(items[0].group_names.is_empty());
    assert_eq!(items[0].origin, Origin::Service);
}

#[test]
fn filters_drop_read_only_and_by_event_name() {
    let mut describe = update_record();
    describe["eventName"] = json!("DescribeAutoScalingGroups");
    describe["readOnly"] = json!(true);
    let read_only = Filters {
        exclude_read_only: true,
        ..Filters::default()
    };
    assert_eq!(with(&read_only, &describe), Outcome::Filtered("read-only"));
    assert!(matches!(
        with(&read_only, &update_record()),
        Outcome::Kept(_)
    ));
    // A record without readOnly (1.01-era) is not known to be read-only: kept.
    describe.as_object_mut().expect("object").remove("readOnly");
    assert!(matches!(with(&read_only, &describe), Outcome::Kept(_)));

    let only = Filters {
        event_names_include: Filters::event_names("SetDesiredCapacity, UpdateAutoScalingGroup"),
        ..Filters::default()
    };
    assert!(matches!(with(&only, &update_record()), Outcome::Kept(_)));
    assert_eq!(
        with(&only, &describe),
        Outcome::Filtered("event name not included")
    );
    let except = Filters {
        event_names_exclude: Filters::event_names("UpdateAutoScalingGroup"),
        ..Filters::default()
    };
    assert_eq!(
        with(&except, &update_record()),
        Outcome::Filtered("event name excluded")
    );
    assert!(matches!(with(&except, &describe), Outcome::Kept(_)));

    // The filters apply to Auto Scaling's own calls as well.
    let services_but_not_runs = Filters {
        event_names_exclude: Filters::event_names("RunInstances"),
        ..service_filters()
    };
    assert_eq!(
        with(&services_but_not_runs, &run_instances_by_autoscaling()),
        Outcome::Filtered("event name excluded")
    );
}

#[test]
fn application_auto_scaling_is_never_counted_as_filtered() {
    let register = json!({
        "eventTime": "2024-03-05T12:00:00Z", "eventID": "e1",
        "eventSource": "autoscaling.amazonaws.com", "eventName": "RegisterScalableTarget",
        "requestParameters": {"serviceNamespace": "ecs"}, "readOnly": false
    });
    let strict = Filters {
        event_names_include: Filters::event_names("SetDesiredCapacity"),
        ..Filters::default()
    };
    assert_eq!(with(&strict, &register), Outcome::ApplicationAutoScaling);
}

#[test]
fn insights_events_are_never_stored_even_with_an_auto_scaling_source() {
    let insight = json!({
        "eventVersion": "1.07", "eventTime": "2024-03-05T12:00:00Z", "eventID": "e",
        "eventSource": "autoscaling.amazonaws.com", "eventName": "CompleteLifecycleAction",
        "eventType": "AwsCloudTrailInsight", "recipientAccountId": "123456789012",
        "insightDetails": {"state": "Start"}
    });
    assert_eq!(with(&service_filters(), &insight), Outcome::Other);
}

#[test]
fn records_with_nulls_and_missing_parts_are_stored_with_what_they_have() {
    let sparse = json!({
        "eventVersion": null,
        "eventTime": "2024-03-05T12:00:00Z",
        "eventSource": "autoscaling.amazonaws.com",
        "eventName": "SetDesiredCapacity",
        "eventID": "e-sparse",
        "userIdentity": null,
        "awsRegion": null,
        "readOnly": null,
        "requestParameters": null,
        "responseElements": null,
        "additionalEventData": null,
        "someNewField": [1, {"deep": null}],
        "eventCategory": "Management"
    });
    let it = &kept(&sparse)[0];
    assert_eq!(
        it.key(),
        (":account:unknown", "2024-03-05T12:00:00Z#e-sparse")
    );
    assert_eq!(
        (
            it.event_version.as_deref(),
            it.aws_region.as_deref(),
            it.read_only
        ),
        (None, None, None)
    );
    assert_eq!(
        (&it.request_parameters, &it.response_elements),
        (&None, &None)
    );
    // Both omitted, as CloudTrail does above 100 KB: the same.
    let mut omitted = update_record();
    let o = omitted.as_object_mut().expect("object");
    o.remove("requestParameters");
    o.remove("responseElements");
    let it = &kept(&omitted)[0];
    assert_eq!(it.group_name, ":account:123456789012");
    assert_eq!(it.event_name.as_deref(), Some("UpdateAutoScalingGroup"));
}

#[test]
fn any_event_version_is_stored_as_it_is() {
    for version in [
        "1.01", "1.05", "1.09", "1.10", "1.11", "1.12", "2.0", "weird",
    ] {
        let mut r = update_record();
        r["eventVersion"] = json!(version);
        assert_eq!(
            kept(&r)[0].event_version.as_deref(),
            Some(version),
            "{version}"
        );
    }
}

#[test]
fn file_stats_count_every_outcome() {
    let mut no_id = update_record();
    no_id.as_object_mut().expect("object").remove("eventID");
    let mut read_only = update_record();
    read_only["eventID"] = json!("evt-ro");
    read_only["eventName"] = json!("DescribeAutoScalingGroups");
    read_only["readOnly"] = json!(true);
    read_only["requestParameters"] = json!({"autoScalingGroupNames": ["web-asg", "api-asg"]});
    let mut account = update_record();
    account["eventID"] = json!("evt-acct");
    account["requestParameters"] = json!({});
    let records = json!({"Records": [
        update_record(),
        read_only,
        account,
        no_id,
        run_instances_by_autoscaling(),
        {"eventSource": "s3.amazonaws.com", "eventName": "GetObject"},
        {"eventSource": "autoscaling.amazonaws.com", "eventName": "RegisterScalableTarget",
         "eventTime": "2024-03-05T12:00:00Z", "eventID": "aas",
         "requestParameters": {"serviceNamespace": "ecs"}}
    ]})
    .to_string();
    let run = |filters: &Filters| {
        let mut items = Vec::new();
        let (stats, result) =
            extract_log(records.as_bytes(), Format::Delivery, "f", filters, |i| {
                items.push(i);
                ControlFlow::Continue(())
            });
        result.expect("parses");
        (stats, items.len())
    };
    let (stats, items) = run(&keep_reads());
    assert_eq!(
        stats,
        FileStats {
            bytes: records.len() as u64,
            records: 7,
            events: 3,
            // The read-only call naming two groups is one item, in the account partition.
            items: 3,
            events_in_groups: 2,
            events_in_account: 1,
            service_events: 0,
            application_autoscaling: 1,
            filtered: 0,
            rejected: 1,
        }
    );
    assert_eq!(items, 3);
    let (stats, items) = run(&Filters {
        exclude_read_only: true,
        ..service_filters()
    });
    assert_eq!(
        (
            stats.events,
            stats.items,
            stats.events_in_groups,
            stats.service_events,
            stats.filtered,
            stats.rejected
        ),
        (3, 3, 2, 1, 1, 1)
    );
    assert_eq!(items, 3);
    assert!((stats.percent_in_groups() - 200.0 / 3.0).abs() < 1e-9);
    let mut total = FileStats::default();
    total.add(&stats);
    total.add(&stats);
    assert_eq!((total.records, total.filtered), (14, 2));
}

/// What the real corpus must give, in every shape `asg-trail extract` takes.
#[test]
fn conformance_over_every_shape_of_the_real_corpus() {
    // (file, records, application auto scaling, items by default: (event, group, origin))
    type Case = (&'static str, u64, u64, Vec<(String, String, Origin)>);
    const STACK: &str = "elvin-stackstate-tests-main-account-main-region-EcsAutoScalingGroup";
    let one = |name: &str, group: String| vec![(name.to_owned(), group, Origin::Api)];
    let cases: Vec<Case> = vec![
        (
            "stackstate-aws_topology/create_autoscaling_group.json",
            1,
            0,
            one("CreateAutoScalingGroup", format!("{STACK}-1D45HJNDMXR65")),
        ),
        (
            "stackstate-aws_topology/create_or_update_tags.json",
            1,
            0,
            one("CreateOrUpdateTags", format!("{STACK}-1D45HJNDMXR65")),
        ),
        (
            "stackstate-aws_topology/delete_autoscaling_group.json",
            1,
            0,
            one("DeleteAutoScalingGroup", format!("{STACK}-VVC5WIJ3AI3K")),
        ),
        (
            "stackstate-aws_topology/update_autoscaling_group.json",
            1,
            0,
            one("UpdateAutoScalingGroup", format!("{STACK}-1D45HJNDMXR65")),
        ),
        ("stackstate-aws_topology/get_object_xxx.gz", 2, 0, vec![]),
        (
            "cloud-custodian/event-cloud-trail-run-instances.json",
            1,
            0,
            vec![],
        ),
        // A native Auto Scaling event (not an API call): the group's own activity.
        (
            "cloud-custodian/event-asg-instance-failed.json",
            1,
            0,
            vec![(
                "EC2 Instance Launch Unsuccessful".into(),
                "CustodianTest".into(),
                Origin::Activity,
            )],
        ),
        (
            "traildiscover/CreateAutoScalingGroup.json.cloudtrail",
            1,
            0,
            one("CreateAutoScalingGroup", "TrailDiscoverASG".into()),
        ),
        (
            "traildiscover/CreateServiceLinkedRole.json.cloudtrail",
            1,
            0,
            vec![],
        ),
        (
            "awsdocs-extracted/logging-using-cloudtrail__dd291229b7.json",
            1,
            0,
            one("CreateLaunchConfiguration", ":account:123456789012".into()),
        ),
        (
            "awsdocs-extracted/monitoring-eventbridge__52ccb9fb72.json",
            1,
            1,
            vec![],
        ),
        (
            "awsdocs-extracted/cloudtrail-event-reference__81b97a1649.json",
            1,
            0,
            vec![],
        ),
        (
            "awsdocs-extracted/view-insights-events-cli__2ce149bf0c.json",
            2,
            0,
            vec![],
        ),
        (
            "awsdocs-extracted/view-insights-events-cli__6b483e4519.json",
            2,
            0,
            vec![],
        ),
        (
            "218007301253_CloudTrail_us-east-1_20230710T1230Z_9SJSsrxJ0ChF5VFb.json",
            84,
            0,
            one("DescribeAutoScalingGroups", ":account:123837392027".into()),
        ),
        (
            "111111111111_CloudTrail_eu-central-1_20171211T1505Z_A6kvhMoVeCsc7v8U.json.gz",
            2,
            0,
            one(
                "DescribeLaunchConfigurations",
                ":account:111111111111".into(),
            ),
        ),
    ];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
    let read = |name: &str, filters: &Filters| {
        let file = std::fs::File::open(dir.join(name)).expect(name);
        let mut items = Vec::new();
        let (stats, result) = extract_log(file, Format::Any, name, filters, |i| {
            items.push(i);
            ControlFlow::Continue(())
        });
        result.unwrap_or_else(|e| panic!("{name}: {e}"));
        (stats, items)
    };
    let summary = |items: &[Item]| -> Vec<(String, String, Origin)> {
        items
            .iter()
            .map(|i| {
                (
                    i.event_name.clone().unwrap_or_default(),
                    i.group_name.clone(),
                    i.origin,
                )
            })
            .collect()
    };
    for (name, records, aas, want) in &cases {
        let (stats, items) = read(name, &keep_reads());
        assert_eq!(
            (stats.records, stats.application_autoscaling, stats.rejected),
            (*records, *aas, 0),
            "{name}"
        );
        assert_eq!(summary(&items), *want, "{name}");
    }
    // The RunInstances Auto Scaling made (2016: no group tag yet) with the opt-in: one
    // service item in the account partition.
    let (stats, items) = read(
        "cloud-custodian/event-cloud-trail-run-instances.json",
        &service_filters(),
    );
    assert_eq!((stats.events, stats.service_events), (1, 1));
    assert_eq!(
        summary(&items),
        [(
            "RunInstances".to_owned(),
            ":account:619193117841".to_owned(),
            Origin::Service
        )]
    );
    // Documentation blocks with `...additional entries` are not JSON: a clear error.
    let file = std::fs::File::open(
        dir.join("awsdocs-extracted/logging-using-cloudtrail__963b99699c.json.txt"),
    )
    .expect("fixture");
    let (_, result) = extract_log(file, Format::Any, "x", &Filters::default(), |_| {
        ControlFlow::Continue(())
    });
    assert!(
        matches!(result, Err(cloudtrail::ParseError::Format { .. })),
        "{result:?}"
    );
}

#[test]
fn the_prefilter_never_turns_down_a_record_that_could_be_auto_scaling() {
    let yes: [&[u8]; 5] = [
            br#"{"eventSource":"autoscaling.amazonaws.com"}"#,
            br#"{"eventSource":"ec2.amazonaws.com","userIdentity":{"invokedBy":"autoscaling.amazonaws.com"}}"#,
            br#"{"eventSource":"\u0061utoscaling.amazonaws.com"}"#,
            b"[1,2]",
            b"17",
        ];
    for r in yes {
        assert!(might_be_autoscaling(r), "{}", String::from_utf8_lossy(r));
    }
    let no: [&[u8]; 2] = [
        br#"{"eventSource":"s3.amazonaws.com","eventName":"GetObject"}"#,
        br#"{"eventSource":"autoscaling.amazonaws.co","x":"\/"}"#,
    ];
    for r in no {
        assert!(!might_be_autoscaling(r), "{}", String::from_utf8_lossy(r));
    }
    // And the escaped spelling is really kept by the extractor.
    let escaped = br#"{"eventSource":"\u0061utoscaling.amazonaws.com","eventTime":"2024-03-05T12:00:00Z","eventID":"e","eventName":"SetDesiredCapacity","requestParameters":{"autoScalingGroupName":"g"}}"#;
    let (stats, result) = extract_log(
        &[br#"{"Records":["#.as_slice(), escaped.as_slice(), b"]}"].concat()[..],
        Format::Delivery,
        "x",
        &Filters::default(),
        |_| ControlFlow::Continue(()),
    );
    result.expect("reads");
    assert_eq!((stats.records, stats.events), (1, 1));
}

/// The hostile and broken corpus (tests/fixtures/bad/, written by its make.py), through the
/// Lambda's reader: what each file yields, and how it fails.
mod bad_corpus {
    use super::*;
    use crate::cloudtrail::ParseError;

    struct Read {
        stats: FileStats,
        items: Vec<Item>,
        result: Result<cloudtrail::Finish, ParseError>,
    }

    fn read(name: &str) -> Read {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/bad")
            .join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut items = Vec::new();
        let (stats, result) = extract_log_with(
            bytes.as_slice(),
            Format::Delivery,
            name,
            &Filters::default(),
            &Limits::default(),
            |i| {
                items.push(i);
                ControlFlow::Continue(())
            },
        );
        Read {
            stats,
            items,
            result,
        }
    }

    fn ids(items: &[Item]) -> Vec<&str> {
        items.iter().map(|i| i.event_id.as_str()).collect()
    }

    #[test]
    fn files_that_cannot_be_read_as_a_whole_fail_with_a_clear_reason() {
        for (name, want) in [
            ("corrupt.json.gz", "read failed (gzip)"),
            (
                "not-json.json.gz",
                "not a CloudTrail log file (after gunzip): expected ident",
            ),
            ("empty.json.gz", "the file is empty"),
            (
                "gzip-of-nothing.json.gz",
                "not a CloudTrail log file (after gunzip): EOF",
            ),
            ("empty-document.json.gz", "missing field `Records`"),
            (
                "records-null.json.gz",
                "invalid type: null, expected an array of CloudTrail records",
            ),
            (
                "records-not-array.json.gz",
                "invalid type: map, expected an array of CloudTrail records",
            ),
        ] {
            let r = read(name);
            let err = r.result.expect_err(name);
            assert!(err.to_string().contains(want), "{name}: {err}");
            assert!(r.items.is_empty(), "{name}");
        }
    }

    #[test]
    fn a_truncated_file_yields_what_came_before_the_cut() {
        let r = read("truncated.json.gz");
        let err = r.result.expect_err("truncated");
        assert!(matches!(err, ParseError::Read { gzip: true, .. }), "{err}");
        assert!(
            !r.items.is_empty() && r.items.len() < 400,
            "{}",
            r.items.len()
        );
        // In file order, none missing before the cut.
        for (i, item) in r.items.iter().enumerate() {
            assert_eq!(item.event_id, format!("good-{i:04}"));
        }
    }

    #[test]
    fn records_that_are_not_objects_or_have_wrong_types_are_rejected_and_the_rest_kept() {
        let r = read("record-not-object.json.gz");
        r.result.expect("readable");
        assert_eq!((r.stats.records, r.stats.rejected), (6, 5));
        assert_eq!(ids(&r.items), ["good-0000"]);
        let r = read("wrong-types.json.gz");
        r.result.expect("readable");
        // The record whose eventSource is the number 7 cannot be an Auto Scaling record:
        // it is passed over like any other service's record, the 5 others are rejected.
        assert_eq!((r.stats.records, r.stats.rejected), (7, 5));
        assert_eq!(ids(&r.items), ["good-0001"]);
    }

    #[test]
    fn a_record_with_invalid_utf8_is_rejected_and_the_rest_kept() {
        // The structural scanner finds the record's bounds without decoding its text, so
        // only the record itself is lost, not the rest of the file.
        let r = read("invalid-utf8.json.gz");
        r.result.expect("readable");
        assert_eq!((r.stats.records, r.stats.rejected), (3, 1));
        assert_eq!(ids(&r.items), ["good-0000", "good-0001"]);
    }

    #[test]
    fn deep_nesting_costs_no_stack_and_is_left_out_with_a_marker() {
        let r = read("deep-nesting.json.gz");
        r.result.expect("readable");
        assert_eq!((r.stats.records, r.stats.rejected), (4, 0));
        assert_eq!(ids(&r.items), ["good-0000", "deep-params", "good-0001"]);
        let deep = &r.items[1];
        assert_eq!(deep.request_parameters, None);
        let omitted = &deep.omitted["requestParameters"];
        assert_eq!(omitted.reason, "nested deeper than DynamoDB's 32 levels");
        assert_eq!(omitted.bytes, 5000 * 6 + 3);
        // Without its requestParameters it names no group: the account partition.
        assert_eq!(deep.group_name, ":account:123456789012");
    }

    #[test]
    fn maps_dynamodb_cannot_store_are_left_out_with_a_marker() {
        let r = read("dynamodb-unstorable.json.gz");
        r.result.expect("readable");
        assert_eq!(
            ids(&r.items),
            ["params-40-deep", "params-empty-key", "good-0002"]
        );
        assert_eq!(
            r.items[0].omitted["requestParameters"].reason,
            "nested deeper than DynamoDB's 32 levels"
        );
        assert_eq!(
            r.items[1].omitted["requestParameters"].reason,
            "a map key is empty, which DynamoDB cannot store"
        );
        assert!(r.items[2].omitted.is_empty());
    }

    #[test]
    fn a_record_over_the_record_limit_stops_the_file_after_what_came_before() {
        let r = read("huge-record.json.gz");
        let err = r.result.expect_err("too large");
        assert!(
            matches!(err, ParseError::RecordTooLarge { record: 2, limit } if limit == 32 << 20),
            "{err}"
        );
        assert_eq!(ids(&r.items), ["good-0004"]);
    }

    #[test]
    fn keys_at_dynamodbs_limits_are_kept_and_longer_ones_rejected() {
        let r = read("key-limits.json.gz");
        r.result.expect("readable");
        assert_eq!((r.stats.records, r.stats.rejected), (6, 2));
        let keys: Vec<(usize, usize)> = r
            .items
            .iter()
            .map(|i| (i.group_name.len(), i.event_key.len()))
            .collect();
        assert_eq!(keys, [(2048, 28), (2048, 33), (14, 1024), (14, 30)]);
    }

    #[test]
    fn an_oversized_item_is_read_whole() {
        // Extraction reads it whole; the 400 KB limit is applied after it
        // (pipeline::finish, size::fit).
        let r = read("oversized-item.json.gz");
        r.result.expect("readable");
        assert_eq!(ids(&r.items), ["good-0003", "oversized-item"]);
        assert!(r.items[1].response_elements.is_some());
    }
}
