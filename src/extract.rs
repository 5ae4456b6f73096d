//! From one CloudTrail record to the table's items: keeps the Amazon EC2 Auto Scaling API calls,
//! leaves out Application Auto Scaling (which shares the `autoscaling.amazonaws.com` event
//! source), and attributes each kept event to the group it names or to the account partition.
//!
//! Records are given as raw JSON text. A cheap first pass reads only `eventSource`; the full
//! record is only deserialized (with borrowed strings) for Auto Scaling records, and only the
//! kept ones get their `requestParameters` / `responseElements` materialized.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::item::{self, Item};

/// The event source shared by EC2 Auto Scaling and Application Auto Scaling.
pub const AUTOSCALING_EVENT_SOURCE: &str = "autoscaling.amazonaws.com";

/// What became of one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// An EC2 Auto Scaling event, as its items (one per group it names; at least one).
    Kept(Vec<Item>),
    /// Not an Auto Scaling record (another service, or an Insights event).
    Other,
    /// An Application Auto Scaling call under the shared event source: deliberately left out.
    ApplicationAutoScaling,
    /// A record that cannot be stored: not a JSON object, wrong field types, or no key
    /// (`eventTime`, `eventID`).
    Rejected(Rejection),
}

/// Why a record was rejected, with what identifies it for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The reason, in words.
    pub reason: String,
    /// The record's `eventName`, when it could be read.
    pub event_name: Option<String>,
    /// The record's `requestID`, when it could be read.
    pub request_id: Option<String>,
}

/// Just enough of a record to decide whether it is an Auto Scaling record.
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(rename = "eventSource", borrow, default)]
    event_source: Option<Cow<'a, str>>,
}

/// The fields of a CloudTrail record that the item model uses. Unknown fields are ignored, so
/// new CloudTrail fields never break ingestion.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    #[serde(borrow, default)]
    event_version: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event_time: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event_name: Option<Cow<'a, str>>,
    #[serde(rename = "eventID", borrow, default)]
    event_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    aws_region: Option<Cow<'a, str>>,
    #[serde(rename = "requestID", borrow, default)]
    request_id: Option<Cow<'a, str>>,
    #[serde(rename = "sourceIPAddress", borrow, default)]
    source_ip_address: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    user_agent: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    error_code: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    error_message: Option<Cow<'a, str>>,
    #[serde(default)]
    read_only: Option<bool>,
    #[serde(borrow, default)]
    recipient_account_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    user_identity: Option<UserIdentity<'a>>,
    #[serde(borrow, default)]
    request_parameters: Option<&'a RawValue>,
    #[serde(borrow, default)]
    response_elements: Option<&'a RawValue>,
    #[serde(borrow, default)]
    additional_event_data: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UserIdentity<'a> {
    #[serde(rename = "type", borrow, default)]
    identity_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    principal_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    arn: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    account_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    user_name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    invoked_by: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    session_context: Option<SessionContext<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionContext<'a> {
    #[serde(borrow, default)]
    session_issuer: Option<SessionIssuer<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionIssuer<'a> {
    #[serde(borrow, default)]
    user_name: Option<Cow<'a, str>>,
}

/// The parts of `requestParameters` that decide service and group.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RequestProbe<'a> {
    #[serde(borrow, default)]
    auto_scaling_group_name: Option<Cow<'a, str>>,
    /// Present on every Application Auto Scaling call but the tagging ones; EC2 Auto Scaling
    /// has no such parameter.
    #[serde(borrow, default)]
    service_namespace: Option<Cow<'a, str>>,
    /// Application Auto Scaling's tagging calls name an `application-autoscaling` ARN.
    #[serde(rename = "resourceARN", borrow, default)]
    resource_arn: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct AdditionalEventData<'a> {
    #[serde(borrow, default)]
    service: Option<Cow<'a, str>>,
}

/// Classifies one record and, for an EC2 Auto Scaling event, builds its items.
/// `source_object` is recorded on every item (`s3://bucket/key`, or a file path).
#[must_use]
pub fn extract(raw: &RawValue, source_object: &str) -> Outcome {
    let json = raw.get();
    let probe: Probe<'_> = match serde_json::from_str(json) {
        Ok(p) => p,
        Err(e) => return reject(json, format!("not a CloudTrail record: {e}")),
    };
    if probe.event_source.as_deref() != Some(AUTOSCALING_EVENT_SOURCE) {
        return Outcome::Other;
    }
    let record: Record<'_> = match serde_json::from_str(json) {
        Ok(r) => r,
        Err(e) => return reject(json, format!("malformed Auto Scaling record: {e}")),
    };
    let request: RequestProbe<'_> = match record.request_parameters.map(|r| r.get()) {
        Some(text) if text.starts_with('{') => serde_json::from_str(text).unwrap_or_default(),
        _ => RequestProbe::default(),
    };
    if is_application_autoscaling(&record, &request) {
        return Outcome::ApplicationAutoScaling;
    }
    let (Some(event_time), Some(event_id)) = (
        record.event_time.as_deref().filter(|s| !s.is_empty()),
        record.event_id.as_deref().filter(|s| !s.is_empty()),
    ) else {
        return Outcome::Rejected(Rejection {
            reason: "record has no eventTime or no eventID, so it cannot be keyed".into(),
            event_name: record.event_name.map(Cow::into_owned),
            request_id: record.request_id.map(Cow::into_owned),
        });
    };

    let identity = record.user_identity.unwrap_or_default();
    let account_id = record
        .recipient_account_id
        .as_deref()
        .or(identity.account_id.as_deref())
        .filter(|s| !s.is_empty())
        .unwrap_or("unknown")
        .to_owned();
    let group_name = request
        .auto_scaling_group_name
        .as_deref()
        .and_then(item::group_name_from)
        .map_or_else(|| item::account_partition(&account_id), str::to_owned);
    let user_name = identity
        .user_name
        .as_deref()
        .or_else(|| {
            identity
                .session_context
                .as_ref()
                .and_then(|c| c.session_issuer.as_ref())
                .and_then(|i| i.user_name.as_deref())
        })
        .or_else(|| identity.arn.as_deref().and_then(session_name_from_arn))
        .map(str::to_owned);

    let owned = |v: Option<Cow<'_, str>>| v.map(Cow::into_owned);
    let item = Item {
        event_key: item::event_key(event_time, event_id),
        event_time: event_time.to_owned(),
        event_id: event_id.to_owned(),
        group_name,
        event_name: owned(record.event_name),
        event_version: owned(record.event_version),
        aws_region: owned(record.aws_region),
        request_id: owned(record.request_id),
        source_ip_address: owned(record.source_ip_address),
        user_agent: owned(record.user_agent),
        error_code: owned(record.error_code),
        error_message: owned(record.error_message),
        read_only: record.read_only,
        account_id,
        user_identity_type: owned(identity.identity_type),
        user_arn: owned(identity.arn),
        principal_id: owned(identity.principal_id),
        invoked_by: owned(identity.invoked_by),
        user_name,
        request_parameters: record.request_parameters.and_then(materialize),
        response_elements: record.response_elements.and_then(materialize),
        source_object: source_object.to_owned(),
        expires_at: None, // set at write time from RETENTION_DAYS (handler)
    };
    Outcome::Kept(vec![item])
}

/// What extraction saw in one log file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FileStats {
    /// Bytes read from the input (compressed size for gzip).
    pub bytes: u64,
    /// Records read.
    pub records: u64,
    /// EC2 Auto Scaling events kept.
    pub events: u64,
    /// Items produced from them (one per event and group).
    pub items: u64,
    /// Application Auto Scaling calls left out.
    pub application_autoscaling: u64,
    /// Records that could not be stored (see [`Rejection`]).
    pub rejected: u64,
}

/// Reads one log file (gzip or plain) and hands every item it yields to `on_item`, in file
/// order. Rejected records are logged (with their `eventName` and `requestID`) and counted, and
/// the rest of the file is still read.
///
/// The statistics are returned even when the file fails half-way, together with the error:
/// the items handed out before the failure are real and may be kept.
pub fn extract_log<R: std::io::Read>(
    input: R,
    source_object: &str,
    mut on_item: impl FnMut(Item),
) -> (FileStats, Result<(), crate::cloudtrail::ParseError>) {
    let mut stats = FileStats::default();
    let result = crate::cloudtrail::for_each_record(input, |raw| {
        stats.records += 1;
        match extract(raw, source_object) {
            Outcome::Kept(items) => {
                stats.events += 1;
                stats.items += items.len() as u64;
                items.into_iter().for_each(&mut on_item);
            }
            Outcome::Other => {}
            Outcome::ApplicationAutoScaling => stats.application_autoscaling += 1,
            Outcome::Rejected(rejection) => {
                stats.rejected += 1;
                tracing::warn!(
                    source_object,
                    record = stats.records,
                    event_name = rejection.event_name.as_deref(),
                    request_id = rejection.request_id.as_deref(),
                    reason = %rejection.reason,
                    "record rejected"
                );
            }
        }
    });
    if let Ok(parsed) = &result {
        stats.bytes = parsed.bytes;
    }
    (stats, result.map(|_| ()))
}

/// Application Auto Scaling logs under the same event source; it marks its records with
/// `additionalEventData.service` and always names a `serviceNamespace` (or, for its tagging
/// calls, an `application-autoscaling` resource ARN).
fn is_application_autoscaling(record: &Record<'_>, request: &RequestProbe<'_>) -> bool {
    let marked = record
        .additional_event_data
        .and_then(|raw| serde_json::from_str::<AdditionalEventData<'_>>(raw.get()).ok())
        .and_then(|d| d.service)
        .is_some_and(|s| s == "application-autoscaling");
    marked
        || request.service_namespace.is_some()
        || request
            .resource_arn
            .as_deref()
            .is_some_and(|arn| arn.contains(":application-autoscaling:"))
}

/// The session name of an assumed-role ARN (`arn:aws:sts::1:assumed-role/Role/session`), or the
/// name of a federated user (`arn:aws:sts::1:federated-user/name`).
fn session_name_from_arn(arn: &str) -> Option<&str> {
    let (_, resource) = arn.rsplit_once(':')?;
    let mut parts = resource.splitn(3, '/');
    match (parts.next()?, parts.next(), parts.next()) {
        ("assumed-role", Some(_role), Some(session)) if !session.is_empty() => Some(session),
        ("federated-user", Some(name), None) if !name.is_empty() => Some(name),
        _ => None,
    }
}

/// The JSON value of a raw field, `None` when it is `null` (an absent attribute, never null).
fn materialize(raw: &RawValue) -> Option<Value> {
    match serde_json::from_str::<Value>(raw.get()) {
        Ok(Value::Null) | Err(_) => None,
        Ok(v) => Some(v),
    }
}

fn reject(json: &str, reason: String) -> Outcome {
    // Best effort: name the record in the log even when it does not deserialize as a whole.
    #[derive(Deserialize, Default)]
    struct Names {
        #[serde(rename = "eventName", default)]
        event_name: Option<Value>,
        #[serde(rename = "requestID", default)]
        request_id: Option<Value>,
    }
    let names: Names = serde_json::from_str(json).unwrap_or_default();
    let text = |v: Option<Value>| v.and_then(|v| v.as_str().map(str::to_owned));
    Outcome::Rejected(Rejection {
        reason,
        event_name: text(names.event_name),
        request_id: text(names.request_id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(v: &Value) -> Box<RawValue> {
        RawValue::from_string(v.to_string()).expect("valid json")
    }

    fn kept(v: &Value) -> Vec<Item> {
        match extract(&raw(v), "s3://b/k") {
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
            extract(&raw(&register), "x"),
            Outcome::ApplicationAutoScaling
        );
        // Either marker alone is enough.
        let mut only_ns = register.clone();
        only_ns
            .as_object_mut()
            .expect("object")
            .remove("additionalEventData");
        assert_eq!(
            extract(&raw(&only_ns), "x"),
            Outcome::ApplicationAutoScaling
        );
        let mut only_service = register.clone();
        only_service["requestParameters"] = json!({});
        assert_eq!(
            extract(&raw(&only_service), "x"),
            Outcome::ApplicationAutoScaling
        );
        let tag = json!({
            "eventTime": "2024-03-05T12:00:00Z",
            "eventSource": "autoscaling.amazonaws.com",
            "eventName": "TagResource",
            "requestParameters": {"resourceARN": "arn:aws:application-autoscaling:us-east-1:1:scalable-target/0123", "tags": {"a": "b"}},
            "eventID": "e2"
        });
        assert_eq!(extract(&raw(&tag), "x"), Outcome::ApplicationAutoScaling);
    }

    #[test]
    fn other_services_and_insights_are_not_kept() {
        let ec2_by_asg = json!({
            "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
            "userIdentity": {"invokedBy": "autoscaling.amazonaws.com"},
            "sourceIPAddress": "autoscaling.amazonaws.com",
            "eventTime": "2024-03-05T12:00:00Z", "eventID": "e"
        });
        assert_eq!(extract(&raw(&ec2_by_asg), "x"), Outcome::Other);
        let insight = json!({
            "eventVersion": "1.07", "eventTime": "2024-03-05T12:00:00Z",
            "eventType": "AwsCloudTrailInsight", "eventID": "e",
            "insightDetails": {"eventSource": "autoscaling.amazonaws.com", "eventName": "CompleteLifecycleAction"}
        });
        assert_eq!(extract(&raw(&insight), "x"), Outcome::Other);
        assert_eq!(extract(&raw(&json!({})), "x"), Outcome::Other);
    }

    #[test]
    fn records_without_keys_or_of_the_wrong_shape_are_rejected() {
        let mut r = update_record();
        r.as_object_mut().expect("object").remove("eventID");
        match extract(&raw(&r), "x") {
            Outcome::Rejected(rej) => {
                assert_eq!(rej.event_name.as_deref(), Some("UpdateAutoScalingGroup"));
                assert_eq!(rej.request_id.as_deref(), Some("req-1"));
                assert!(rej.reason.contains("eventID"), "{}", rej.reason);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            extract(&raw(&json!([1, 2])), "x"),
            Outcome::Rejected(_)
        ));
        let mut wrong = update_record();
        wrong["eventTime"] = json!(17);
        assert!(matches!(extract(&raw(&wrong), "x"), Outcome::Rejected(_)));
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
        let file = include_bytes!("../tests/fixtures/userguide.json");
        let mut groups = Vec::new();
        let (stats, result) = extract_log(&file[..], "userguide.json", |i| {
            groups.push((i.event_name, i.group_name));
        });
        result.expect("parses");
        assert_eq!(
            stats,
            FileStats {
                bytes: file.len() as u64,
                records: 3,
                events: 3,
                items: 3,
                application_autoscaling: 0,
                rejected: 0
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
            let (stats, result) = extract_log(file, name, |i| items.push(i));
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
}
