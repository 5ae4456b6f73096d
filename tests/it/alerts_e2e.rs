//! Alerts end to end (issue 19): the REAL bootstrap binary (Runtime API emulator) against
//! DynamoDB Local, moto's S3 for the log files and moto's SNS for the alerts, read back from an
//! SQS queue subscribed to the topic (moto serves S3, SNS and SQS on one endpoint). A change
//! sent both ways in either order, redeliveries, last month's file, a storm, the autoscaler's
//! changes, and a topic that fails and then works.
//!
//! What a queue receives is the SNS envelope: the `Subject` and the `default` body (the AWS
//! Chatbot custom notification). The `email` body never reaches a queue; its text is checked
//! against the README's example (`docs.rs`) and by the unit tests of `src/alert/message.rs`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::e2e::{gzip, notification, s3_put_record};
use crate::runtime_api::Lambda;
use crate::stack;

const ACCOUNT: &str = "123456789012";

fn unique(what: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A topic on moto and the queue subscribed to it: what the function published.
pub(crate) struct Inbox {
    sns: aws_sdk_sns::Client,
    sqs: aws_sdk_sqs::Client,
    /// The topic's ARN (the function's `ALERT_TOPIC_ARN`).
    pub(crate) topic_arn: String,
}

impl Inbox {
    /// A fresh topic, queue and subscription.
    pub(crate) async fn new() -> Inbox {
        let name = unique("alerts");
        let topic_arn = format!("arn:aws:sns:{}:{ACCOUNT}:{name}", stack::REGION);
        let inbox = Inbox::unsubscribed(topic_arn).await;
        inbox.create_and_subscribe().await;
        inbox
    }

    /// A topic ARN that does not exist yet (publishing to it fails), and its queue.
    async fn unsubscribed(topic_arn: String) -> Inbox {
        let config = stack::moto_config().await;
        Inbox {
            sns: aws_sdk_sns::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            topic_arn,
        }
    }

    /// The topic's name, also its queue's.
    fn name(&self) -> &str {
        self.topic_arn.rsplit(':').next().unwrap_or_default()
    }

    /// Creates the topic (of this ARN's name) and subscribes a fresh queue to it.
    async fn create_and_subscribe(&self) {
        let name = self.name();
        let created = self
            .sns
            .create_topic()
            .name(name)
            .send()
            .await
            .expect("create topic");
        assert_eq!(created.topic_arn(), Some(self.topic_arn.as_str()));
        self.sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("create queue");
        let queue_arn = format!("arn:aws:sqs:{}:{ACCOUNT}:{name}", stack::REGION);
        self.sns
            .subscribe()
            .topic_arn(&self.topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .expect("subscribe the queue");
    }

    async fn queue_url(&self) -> String {
        let out = self
            .sqs
            .get_queue_url()
            .queue_name(self.name())
            .send()
            .await
            .expect("the queue");
        out.queue_url().unwrap_or_default().to_owned()
    }

    /// Every message received since the last call (SNS envelopes), removed from the queue.
    pub(crate) async fn take(&self) -> Vec<Value> {
        let (url, mut messages) = (self.queue_url().await, Vec::new());
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .expect("receive");
            if out.messages().is_empty() {
                return messages;
            }
            for m in out.messages() {
                let body: Value = serde_json::from_str(m.body().unwrap_or_default())
                    .unwrap_or_else(|e| panic!("not an SNS envelope ({e}): {m:?}"));
                messages.push(body);
                self.sqs
                    .delete_message()
                    .queue_url(&url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }
}

/// The Chatbot notification of an SNS envelope (its `Message`, the `default` body).
fn chatbot(envelope: &Value) -> Value {
    let text = envelope["Message"].as_str().expect("a Message");
    serde_json::from_str(text).unwrap_or_else(|e| panic!("default is not JSON ({e}): {text}"))
}

fn subject(envelope: &Value) -> &str {
    envelope["Subject"].as_str().unwrap_or_default()
}

/// `secs` seconds ago, as CloudTrail writes times.
fn ago(secs: i64) -> String {
    let t = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(secs);
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A SetDesiredCapacity of `group` to `desired` by alice (IAM Identity Center, the AWS CLI).
fn by_alice(id: &str, time: &str, group: &str, desired: u32) -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAZ3EXAMPLEPLATFORM:alice@example.com",
            "arn": "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_PlatformOps_0a1b2c3d4e5f6a7b/alice@example.com",
            "accountId": ACCOUNT,
            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAZ3EXAMPLEPLATFORM",
                "arn": "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_PlatformOps_0a1b2c3d4e5f6a7b",
                "accountId": ACCOUNT, "userName": "AWSReservedSSO_PlatformOps_0a1b2c3d4e5f6a7b"},
                "attributes": {"creationDate": time, "mfaAuthenticated": "false"}}
        },
        "eventTime": time,
        "eventSource": "autoscaling.amazonaws.com",
        "eventName": "SetDesiredCapacity",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.24",
        "userAgent": "aws-cli/2.15.30 Python/3.11.8 command/autoscaling.set-desired-capacity",
        "requestParameters": {"autoScalingGroupName": group, "desiredCapacity": desired},
        "responseElements": null,
        "requestID": format!("req-{id}"),
        "eventID": id,
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management"
    })
}

/// The EventBridge envelope of a CloudTrail record (the real-time path).
fn envelope(record: &Value) -> Value {
    json!({"version": "0", "id": unique("eb"), "detail-type": "AWS API Call via CloudTrail",
           "source": "aws.autoscaling", "account": ACCOUNT, "time": record["eventTime"],
           "region": "us-east-1", "resources": [], "detail": record})
}

/// Puts a log file of `records` in a fresh bucket; the S3 notification of it.
async fn log_file(records: &[Value]) -> Value {
    let day = jiff::Timestamp::now().strftime("%Y/%m/%d").to_string();
    let key = format!(
        "AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/{day}/{ACCOUNT}_CloudTrail_us-east-1_{}.json.gz",
        unique("f")
    );
    let body = gzip(json!({ "Records": records }).to_string().as_bytes());
    let bucket = stack::fresh_bucket().await;
    stack::put_object(&bucket, &key, body.clone()).await;
    notification(vec![s3_put_record(&bucket, &key, body.len())])
}

/// The bootstrap with alerts on `topic` (and more settings).
fn lambda(table: &str, topic: &str, more: &[(&str, &str)]) -> Lambda {
    let moto = stack::stack().s3_endpoint.clone();
    let mut env = vec![("ALERT_TOPIC_ARN", topic), ("AWS_ENDPOINT_URL_SNS", &moto)];
    env.extend_from_slice(more);
    Lambda::start_with_env(table, &env)
}

async fn ok(lambda: &Lambda, event: &Value) {
    let outcome = lambda.invoke(event.clone()).await;
    assert!(
        outcome.is_ok(),
        "invocation failed: {outcome:?}\n{}",
        lambda.logs()
    );
}

/// The items of `table` that are changes (not markers or counters).
async fn stored_changes(table: &str) -> Vec<Value> {
    stack::scan_all(table)
        .await
        .into_iter()
        .filter(|i| !i["groupName"].as_str().unwrap_or_default().starts_with(':'))
        .collect()
}

fn assert_alice_alert(envelope: &Value, id: &str, time: &str) {
    let s = subject(envelope);
    assert_eq!(
        s,
        "web-asg (123456789012 us-east-1): SetDesiredCapacity desiredCapacity=0 by alice@example.com"
    );
    assert!(s.len() < 100);
    let c = chatbot(envelope);
    assert_eq!(c["version"], "1.0");
    assert_eq!(c["source"], "custom");
    assert_eq!(c["id"], id);
    assert_eq!(c["content"]["textType"], "client-markdown");
    assert_eq!(c["content"]["title"], format!(":warning: {s}"));
    let description = c["content"]["description"].as_str().expect("description");
    for fact in [
        "*Groups:* web-asg",
        "*Account:* 123456789012",
        "*Region:* us-east-1",
        "*Call:* SetDesiredCapacity",
        "*Set:* desiredCapacity=0",
        "*Who:* alice@example.com",
        "*Role:* AWSReservedSSO_PlatformOps_0a1b2c3d4e5f6a7b",
        "*From:* 203.0.113.24 (not the console)",
        "*User agent:* aws-cli/2.15.30",
        &format!("*When:* {time}"),
        &format!("*Event ID:* {id}"),
    ] {
        assert!(description.contains(fact), "{fact:?} in\n{description}");
    }
    let day = &time[..10];
    assert_eq!(
        c["content"]["nextSteps"],
        json!([format!(
            "`asg-trail timeline --group web-asg --since {day}`"
        )])
    );
    assert_eq!(c["metadata"]["threadId"], "asg-trail-web-asg");
    assert_eq!(c["metadata"]["additionalContext"]["eventID"], id);
}

#[tokio::test]
async fn a_change_sent_both_ways_alerts_once_in_either_order_and_redelivery_adds_none() {
    for event_first in [true, false] {
        let inbox = Inbox::new().await;
        let table = stack::fresh_table().await;
        let function = lambda(&table, &inbox.topic_arn, &[]);
        let (id, time) = (unique("e"), ago(20));
        let record = by_alice(&id, &time, "web-asg", 0);
        let (event, file) = (envelope(&record), log_file(&[record]).await);
        let (first, second) = if event_first {
            (&event, &file)
        } else {
            (&file, &event)
        };
        ok(&function, first).await;
        let alerts = inbox.take().await;
        assert_eq!(alerts.len(), 1, "event first: {event_first}: {alerts:#?}");
        assert_alice_alert(&alerts[0], &id, &time);
        ok(&function, second).await;
        // Redelivery of both (Lambda's retries, an SQS redelivery, an `ingest` rerun).
        ok(&function, &event).await;
        ok(&function, &file).await;
        let more = inbox.take().await;
        assert!(more.is_empty(), "event first: {event_first}: {more:#?}");
        assert_eq!(stored_changes(&table).await.len(), 1);
    }
}

#[tokio::test]
async fn last_months_file_replayed_alerts_never() {
    let inbox = Inbox::new().await;
    let table = stack::fresh_table().await;
    let function = lambda(&table, &inbox.topic_arn, &[]);
    let old = by_alice(&unique("e"), &ago(30 * 86_400), "web-asg", 0);
    ok(&function, &log_file(std::slice::from_ref(&old)).await).await;
    ok(&function, &envelope(&old)).await;
    assert_eq!(inbox.take().await.len(), 0);
    assert_eq!(stored_changes(&table).await.len(), 1, "stored all the same");
}

/// 30 people's changes to 30 groups, all at `time`.
fn storm(time: &str) -> Vec<Value> {
    (0..30)
        .map(|n| {
            let mut r = by_alice(&unique("storm"), time, &format!("app-{n:02}"), 0);
            r["userIdentity"] = json!({"type": "IAMUser", "principalId": format!("AIDA{n:02}"),
                "arn": format!("arn:aws:iam::{ACCOUNT}:user/person-{n:02}"),
                "accountId": ACCOUNT, "userName": format!("person-{n:02}")});
            r
        })
        .collect()
}

/// The alerts sent one by one, and the digests' lines.
fn split(alerts: &[Value]) -> (Vec<&Value>, Vec<String>, usize) {
    let (digests, single): (Vec<&Value>, Vec<&Value>) = alerts
        .iter()
        .partition(|a| subject(a).starts_with("asg-trail digest"));
    let lines = digests
        .iter()
        .flat_map(|d| {
            let c = chatbot(d);
            assert_eq!(c["metadata"]["eventType"], "AsgChangeDigest");
            let text = c["content"]["description"].as_str().unwrap_or_default();
            text.lines().map(str::to_owned).collect::<Vec<_>>()
        })
        .collect();
    (single, lines, digests.len())
}

/// Every group of the storm is named once: one by one or in a digest.
fn assert_each_named_once(single: &[&Value], lines: &[String]) {
    for n in 0..30 {
        let group = format!("app-{n:02} (");
        let named = single
            .iter()
            .filter(|a| subject(a).starts_with(&group))
            .count()
            + lines.iter().filter(|l| l.contains(&group)).count();
        assert_eq!(named, 1, "{group}: {single:#?} {lines:#?}");
    }
}

#[tokio::test]
async fn a_storm_sends_up_to_the_limit_then_one_digest() {
    let inbox = Inbox::new().await;
    let table = stack::fresh_table().await;
    let function = lambda(&table, &inbox.topic_arn, &[("ALERT_STORM_LIMIT", "3")]);
    let file = log_file(&storm(&ago(30))).await;
    ok(&function, &file).await;
    let alerts = inbox.take().await;
    let (single, lines, digests) = split(&alerts);
    assert_eq!(
        (single.len(), digests, lines.len()),
        (3, 1, 27),
        "{alerts:#?}"
    );
    let digest = alerts
        .iter()
        .find(|a| subject(a).starts_with("asg-trail digest"));
    let digest_subject = digest.map(subject).unwrap_or_default();
    assert!(
        digest_subject.ends_with(": 27 more changes by hand"),
        "{digest_subject}"
    );
    assert_each_named_once(&single, &lines);
    ok(&function, &file).await;
    assert_eq!(inbox.take().await.len(), 0, "a redelivered storm is quiet");
}

#[tokio::test]
async fn a_real_time_storm_waits_for_its_log_file_and_loses_nothing() {
    let inbox = Inbox::new().await;
    let table = stack::fresh_table().await;
    let function = lambda(&table, &inbox.topic_arn, &[("ALERT_STORM_LIMIT", "3")]);
    let records = storm(&ago(30));
    for r in &records {
        ok(&function, &envelope(r)).await;
    }
    let by_events = inbox.take().await;
    // 3 a minute: 3, or 6 when the events straddle a minute's end; no digest in real time.
    assert!([3, 6].contains(&by_events.len()), "{}", by_events.len());
    ok(&function, &log_file(&records).await).await;
    let alerts: Vec<Value> = by_events.into_iter().chain(inbox.take().await).collect();
    let (single, lines, _) = split(&alerts);
    assert_each_named_once(&single, &lines);
}

/// The autoscaler's calls: cluster-autoscaler's session, EKS's node-group role.
fn autoscaler_records(time: &str) -> Vec<Value> {
    let ca = json!({"type": "AssumedRole", "principalId": "AROACA:cluster-autoscaler",
        "arn": "arn:aws:sts::123456789012:assumed-role/eks-prod-cluster-autoscaler/1709640000123456789",
        "accountId": ACCOUNT,
        "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROACA",
            "arn": "arn:aws:iam::123456789012:role/eks-prod-cluster-autoscaler",
            "accountId": ACCOUNT, "userName": "eks-prod-cluster-autoscaler"}},
        "webIdFederationData": {"federatedProvider": "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE"}});
    let eks = json!({"type": "AssumedRole", "principalId": "AROAEKS:EKS",
        "arn": "arn:aws:sts::123456789012:assumed-role/AWSServiceRoleForAmazonEKSNodegroup/EKS",
        "accountId": ACCOUNT, "invokedBy": "eks.amazonaws.com",
        "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEKS",
            "arn": "arn:aws:iam::123456789012:role/aws-service-role/eks-nodegroup.amazonaws.com/AWSServiceRoleForAmazonEKSNodegroup",
            "accountId": ACCOUNT, "userName": "AWSServiceRoleForAmazonEKSNodegroup"}}});
    let call = |identity: &Value, name: &str, agent: &str, params: Value| {
        let mut r = by_alice(&unique("auto"), time, "eks-ng", 0);
        r["userIdentity"] = identity.clone();
        r["eventName"] = json!(name);
        r["userAgent"] = json!(agent);
        r["requestParameters"] = params;
        r
    };
    vec![
        call(
            &ca,
            "SetDesiredCapacity",
            "aws-sdk-go/1.44.241 (go1.21.5; linux; amd64) cluster-autoscaler/v1.29.0",
            json!({"autoScalingGroupName": "eks-ng", "desiredCapacity": 7, "honorCooldown": false}),
        ),
        call(
            &ca,
            "TerminateInstanceInAutoScalingGroup",
            "aws-sdk-go/1.44.241 (go1.21.5; linux; amd64) cluster-autoscaler/v1.29.0",
            json!({"instanceId": "i-0abc", "shouldDecrementDesiredCapacity": true}),
        ),
        call(
            &eks,
            "UpdateAutoScalingGroup",
            "eks.amazonaws.com",
            json!({"autoScalingGroupName": "eks-ng", "minSize": 1, "maxSize": 10}),
        ),
    ]
}

#[tokio::test]
async fn the_autoscalers_changes_alert_never() {
    let inbox = Inbox::new().await;
    let table = stack::fresh_table().await;
    let function = lambda(&table, &inbox.topic_arn, &[]);
    let records = autoscaler_records(&ago(15));
    for r in &records {
        ok(&function, &envelope(r)).await;
    }
    ok(&function, &log_file(&records).await).await;
    assert_eq!(inbox.take().await.len(), 0);
    assert!(
        stored_changes(&table).await.len() >= 2,
        "the autoscaler's changes are stored"
    );
}

#[tokio::test]
async fn a_failing_topic_stores_counts_succeeds_and_the_next_copy_alerts_once() {
    let name = unique("alerts-later");
    let inbox = Inbox::unsubscribed(format!("arn:aws:sns:us-east-1:{ACCOUNT}:{name}")).await;
    let table = stack::fresh_table().await;
    let function = lambda(&table, &inbox.topic_arn, &[]);
    let (id, time) = (unique("e"), ago(10));
    let record = by_alice(&id, &time, "web-asg", 0);
    ok(&function, &envelope(&record)).await;
    assert_eq!(stored_changes(&table).await.len(), 1, "stored all the same");
    let line = function
        .wait_for_log_line(|l| l.contains("\"_aws\"") && l.contains("\"AlertsFailed\":1"))
        .await;
    assert!(!line.contains("AlertsSent"), "{line}");
    // SNS works again (the topic exists now): the log file's copy sends the alert, once.
    inbox.create_and_subscribe().await;
    let file = log_file(&[record]).await;
    ok(&function, &file).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let alerts = inbox.take().await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}\n{}", function.logs());
    assert_alice_alert(&alerts[0], &id, &time);
    ok(&function, &file).await;
    assert_eq!(inbox.take().await.len(), 0);
}

#[tokio::test]
async fn two_copies_at_the_same_moment_on_two_instances_alert_once() {
    let inbox = Inbox::new().await;
    let table = stack::fresh_table().await;
    let (one, two) = (
        lambda(&table, &inbox.topic_arn, &[]),
        lambda(&table, &inbox.topic_arn, &[]),
    );
    for round in 0..3 {
        let (id, time) = (unique("race"), ago(5));
        let record = by_alice(&id, &time, "web-asg", 0);
        let (event, file) = (envelope(&record), log_file(&[record]).await);
        tokio::join!(ok(&one, &event), ok(&two, &file));
        let alerts = inbox.take().await;
        assert_eq!(alerts.len(), 1, "round {round}: {alerts:#?}");
    }
}

/// Seeds the marker of a claim that `another` instance made and never confirmed (it died),
/// whose lease runs out `lease_in` seconds from now.
async fn seed_claim(table: &str, event_id: &str, lease_in: i64) {
    use aws_sdk_dynamodb::types::AttributeValue::{N, S};
    let lease = jiff::Timestamp::now().as_second() + lease_in;
    stack::dynamodb()
        .await
        .put_item()
        .table_name(table)
        .item("groupName", S(format!(":alert:{event_id}")))
        .item("eventKey", S("sent".into()))
        .item("state", S("claimed".into()))
        .item("claim", S("another".into()))
        .item("leaseUntil", N(lease.to_string()))
        .item("expiresAt", N((lease + 86_400).to_string()))
        .send()
        .await
        .expect("seed a claim");
}

#[tokio::test]
async fn a_claim_left_by_a_dead_instance_holds_until_its_lease_lapses_then_alerts() {
    let inbox = Inbox::new().await;
    let table = stack::fresh_table().await;
    let function = lambda(&table, &inbox.topic_arn, &[]);
    let (id, time) = (unique("dead"), ago(70));
    let record = by_alice(&id, &time, "web-asg", 0);
    seed_claim(&table, &id, 30).await;
    ok(&function, &envelope(&record)).await;
    assert_eq!(
        inbox.take().await.len(),
        0,
        "the claimer may still be sending"
    );
    seed_claim(&table, &id, -1).await;
    let file = log_file(&[record]).await;
    ok(&function, &file).await;
    let alerts = inbox.take().await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_alice_alert(&alerts[0], &id, &time);
    let marker = stack::scan_all(&table)
        .await
        .into_iter()
        .find(|i| i["groupName"] == format!(":alert:{id}"))
        .expect("the marker");
    assert_eq!(marker["state"], "sent", "{marker}");
    assert!(marker.get("leaseUntil").is_none(), "{marker}");
    ok(&function, &file).await;
    assert_eq!(inbox.take().await.len(), 0);
}
