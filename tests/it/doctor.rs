//! `asg-trail doctor` against moto's server, which serves every service it implements on the
//! one port the stack starts it on: a healthy wiring (bucket, logging trail, function with a
//! role and policy, Lambda notification, table with both indexes and TTL, a recent item, an
//! empty failure queue and dead-letter queue, a topic with a subscription) passes every check;
//! each broken wiring turns exactly its line red (or yellow), with its fix, and the exit status
//! to 1.
//!
//! The organization's cases: a trail's KMS key the role may not use, a key policy that names
//! neither the role nor its account, a key of another account (its policy unreadable: yellow);
//! a bucket of another account (made with moto's `x-moto-account-id` header) under the
//! EventBridge trigger; the SNS trigger's topic in another region; a pager topic
//! (`AlarmTopicArn`) as the only one with a subscription.
//!
//! What moto 5.2.5 cannot do, and so what these tests cannot cover:
//! - `iam:SimulatePrincipalPolicy` is not implemented: doctor evaluates the role's policies
//!   itself, and every run here goes that way (the line says so, and the tests assert it). So
//!   that the simulation request carries `kms:ViaService` is unit-tested with
//!   `aws-smithy-mocks`; here the local evaluator honours the role policy's `kms:ViaService`
//!   condition (a condition naming another region turns the line red);
//! - CloudWatch's SDK speaks the RPCv2 CBOR protocol, which moto's CloudWatch does not: the
//!   oldest message's age is never known here (the line says so); its reading is unit-tested;
//! - `GetKeyPolicy` of a key of another account answers `NotFoundException` (AWS answers
//!   `AccessDeniedException`); both turn the line yellow the same way;
//! - `GetBucketNotificationConfiguration` never returns the `EventBridgeConfiguration`, so the
//!   EventBridge path is covered by the unit tests of `asg_trail::doctor` only;
//! - a bucket without any notification is answered with a `<GetBucketNotificationResponse/>`
//!   root the SDK cannot read (S3 answers `<NotificationConfiguration/>`), so "removed" here
//!   means replaced by a configuration for something else;
//! - SNS confirms every subscription at once (no `PendingConfirmation`), so "no subscription"
//!   is the red case here; the pending one is unit-tested.

use std::process::Output;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_s3::types::{Event, LambdaFunctionConfiguration, NotificationConfiguration};
use serde_json::Value;

use crate::e2e::run_cli_with_env;
use crate::stack;

const ACCOUNT: &str = "123456789012";
/// Another account of moto's (the log archive of an organization).
const OTHER_ACCOUNT: &str = "210987654321";

async fn config() -> aws_config::SdkConfig {
    stack::moto_config().await
}

/// One wiring in moto, every name unique to the test.
struct Wiring {
    sdk: aws_config::SdkConfig,
    bucket: String,
    trail: String,
    role: String,
    function: String,
    function_arn: String,
    table: String,
    queue_url: String,
    dead_letter_url: String,
    topic_arn: String,
}

fn unique(what: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "doctor-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn read_policy(bucket: &str, table: &str, with_get_object: bool) -> String {
    let mut statements = vec![serde_json::json!({
        "Effect": "Allow",
        "Action": "dynamodb:BatchWriteItem",
        "Resource": format!("arn:aws:dynamodb:{}:{ACCOUNT}:table/{table}", stack::REGION),
    })];
    if with_get_object {
        statements.push(serde_json::json!({
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{bucket}/AWSLogs/*"),
        }));
    }
    serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

/// The function's settings: its table, and a retention that wants TTL on.
fn function_env(table: &str) -> aws_sdk_lambda::types::Environment {
    aws_sdk_lambda::types::Environment::builder()
        .variables("TABLE_NAME", table)
        .variables("RETENTION_DAYS", "30")
        .build()
}

/// An empty zip archive: moto stores the code without running it.
const EMPTY_ZIP: &[u8] = b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

impl Wiring {
    async fn healthy() -> Self {
        let sdk = config().await;
        let w = Self {
            bucket: unique("bucket"),
            trail: unique("trail"),
            role: unique("role"),
            function: unique("function"),
            function_arn: String::new(),
            table: unique("table"),
            queue_url: String::new(),
            dead_letter_url: String::new(),
            topic_arn: String::new(),
            sdk,
        };
        w.bucket_and_trail().await;
        let w = w.function_and_role().await;
        w.notify().await;
        w.table(true).await;
        w.queue_and_topic().await
    }

    fn s3(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.sdk)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    fn cloudtrail(&self) -> aws_sdk_cloudtrail::Client {
        aws_sdk_cloudtrail::Client::new(&self.sdk)
    }

    fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk)
    }

    fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk)
    }

    fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&self.sdk)
    }

    /// SNS of another region (moto keeps each region's topics apart, as SNS does).
    fn sns_in(&self, region: &str) -> aws_sdk_sns::Client {
        let conf = aws_sdk_sns::config::Builder::from(&self.sdk)
            .region(aws_config::Region::new(region.to_owned()))
            .build();
        aws_sdk_sns::Client::from_conf(conf)
    }

    fn kms(&self) -> aws_sdk_kms::Client {
        aws_sdk_kms::Client::new(&self.sdk)
    }

    async fn bucket_and_trail(&self) {
        self.s3()
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .expect("create bucket");
        let ct = self.cloudtrail();
        ct.create_trail()
            .name(&self.trail)
            .s3_bucket_name(&self.bucket)
            .send()
            .await
            .expect("create trail");
        ct.start_logging()
            .name(&self.trail)
            .send()
            .await
            .expect("start logging");
    }

    async fn function_and_role(mut self) -> Self {
        let iam = self.iam();
        let role = iam
            .create_role()
            .role_name(&self.role)
            .assume_role_policy_document(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
            )
            .send()
            .await
            .expect("create role");
        let role_arn = role.role().map(|r| r.arn().to_owned()).expect("role arn");
        self.put_policy(true).await;
        let f = aws_sdk_lambda::Client::new(&self.sdk)
            .create_function()
            .function_name(&self.function)
            .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
            .handler("bootstrap")
            .role(role_arn)
            .code(
                aws_sdk_lambda::types::FunctionCode::builder()
                    .zip_file(aws_sdk_lambda::primitives::Blob::new(EMPTY_ZIP))
                    .build(),
            )
            .environment(function_env(&self.table))
            .send()
            .await
            .expect("create function");
        self.function_arn = f.function_arn().expect("function arn").to_owned();
        self
    }

    async fn put_policy(&self, with_get_object: bool) {
        self.put_document(
            "ingest",
            read_policy(&self.bucket, &self.table, with_get_object),
        )
        .await;
    }

    async fn put_document(&self, name: &str, document: String) {
        self.iam()
            .put_role_policy()
            .role_name(&self.role)
            .policy_name(name)
            .policy_document(document)
            .send()
            .await
            .expect("put role policy");
    }

    /// The template's DecryptLogFilesThroughS3 statement for `key`, through S3 of `region`.
    async fn allow_decrypt(&self, key: &str, region: &str) {
        let statement = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "DecryptLogFilesThroughS3",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": key,
                "Condition": {"StringEquals": {"kms:ViaService": format!("s3.{region}.amazonaws.com")}},
            }],
        });
        self.put_document("decrypt", statement.to_string()).await;
    }

    /// A KMS key (with `policy`, or KMS's default one, which lets the account's IAM policies
    /// grant it), and the trail encrypting with it.
    async fn encrypt_trail(&self, policy: Option<String>) -> String {
        let key = self
            .kms()
            .create_key()
            .set_policy(policy)
            .send()
            .await
            .expect("create key");
        let arn = key
            .key_metadata()
            .map(|m| m.arn().unwrap_or_default().to_owned())
            .expect("key arn");
        self.trail_key(&arn).await;
        arn
    }

    async fn trail_key(&self, key: &str) {
        self.cloudtrail()
            .update_trail()
            .name(&self.trail)
            .kms_key_id(key)
            .send()
            .await
            .expect("update trail");
    }

    async fn notify(&self) {
        let config = NotificationConfiguration::builder()
            .lambda_function_configurations(
                LambdaFunctionConfiguration::builder()
                    .lambda_function_arn(&self.function_arn)
                    .events(Event::from("s3:ObjectCreated:*"))
                    .build()
                    .expect("lambda configuration"),
            )
            .build();
        self.set_notification(config).await;
    }

    async fn set_notification(&self, config: NotificationConfiguration) {
        self.s3()
            .put_bucket_notification_configuration()
            .bucket(&self.bucket)
            .notification_configuration(config)
            .send()
            .await
            .expect("put notification");
    }

    async fn table(&self, both_indexes: bool) {
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .expect("key")
        };
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute")
        };
        let index = |name: &str, hash: &str| {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(hash, KeyType::Hash))
                .key_schema(key("eventKey", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .expect("index")
        };
        let db = self.dynamodb();
        let mut create = db
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("groupName", KeyType::Hash))
            .key_schema(key("eventKey", KeyType::Range))
            .attribute_definitions(attribute("groupName"))
            .attribute_definitions(attribute("eventKey"))
            .attribute_definitions(attribute("eventName"))
            .global_secondary_indexes(index("byEventName", "eventName"));
        if both_indexes {
            create = create
                .attribute_definitions(attribute("userArn"))
                .global_secondary_indexes(index("byUser", "userArn"));
        }
        create.send().await.expect("create table");
        db.update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name("expiresAt")
                    .build()
                    .expect("ttl"),
            )
            .send()
            .await
            .expect("update ttl");
        let now = jiff::Timestamp::now();
        db.put_item()
            .table_name(&self.table)
            .item("groupName", AttributeValue::S("web".into()))
            .item("eventKey", AttributeValue::S(format!("{now}#e1")))
            .item(
                "eventName",
                AttributeValue::S("UpdateAutoScalingGroup".into()),
            )
            .item(
                "userArn",
                AttributeValue::S(format!("arn:aws:iam::{ACCOUNT}:user/ops")),
            )
            .send()
            .await
            .expect("put item");
    }

    async fn queue_and_topic(mut self) -> Self {
        self.queue_url = self.queue(&unique("queue")).await;
        self.dead_letter_url = self.queue(&unique("dead-letters")).await;
        self.topic_arn = topic(&self.sns(), &unique("topic")).await;
        subscribe(&self.sns(), &self.topic_arn, "email", "ops@example.com").await;
        self
    }

    async fn queue(&self, name: &str) -> String {
        let q = self
            .sqs()
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("create queue");
        q.queue_url().expect("queue url").to_owned()
    }

    fn args(&self) -> Vec<String> {
        [
            "doctor",
            "--function",
            &self.function,
            "--table",
            &self.table,
            "--bucket",
            &self.bucket,
            "--prefix",
            "AWSLogs/",
            "--queue",
            &self.queue_url,
            "--dead-letter-queue",
            &self.dead_letter_url,
            "--topic",
            &self.topic_arn,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    }
}

async fn topic(sns: &aws_sdk_sns::Client, name: &str) -> String {
    let t = sns
        .create_topic()
        .name(name)
        .send()
        .await
        .expect("create topic");
    t.topic_arn().expect("topic arn").to_owned()
}

async fn subscribe(sns: &aws_sdk_sns::Client, topic: &str, protocol: &str, endpoint: &str) {
    sns.subscribe()
        .topic_arn(topic)
        .protocol(protocol)
        .endpoint(endpoint)
        .send()
        .await
        .expect("subscribe");
}

/// Runs the real CLI with every service (DynamoDB too) pointed at moto.
fn doctor(args: &[String]) -> Output {
    let moto = stack::stack().s3_endpoint.as_str();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_cli_with_env(
        &args,
        &[
            ("AWS_ENDPOINT_URL", moto),
            ("AWS_ENDPOINT_URL_DYNAMODB", moto),
        ],
    )
}

/// The checks of a JSON report, as (name, status, detail, fix).
fn checks(out: &Output) -> Vec<(String, String, String, String)> {
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor's output is not JSON ({e}):\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let field = |c: &Value, k: &str| c[k].as_str().unwrap_or_default().to_owned();
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            (
                field(c, "name"),
                field(c, "status"),
                field(c, "detail"),
                field(c, "fix"),
            )
        })
        .collect()
}

const ALL_CHECKS: &[&str] = &[
    "function",
    "trail",
    "notification",
    "permissions",
    "kms key",
    "table keys",
    "table indexes",
    "table ttl",
    "newest item",
    "failure queue",
    "dead-letter queue",
    "alarm topic",
];

type Checks = Vec<(String, String, String, String)>;

fn run_json(w: &Wiring) -> (Output, Checks) {
    run_json_with(w, &[])
}

/// Doctor on the wiring, with `extra` arguments; every line of [`ALL_CHECKS`] there, in order
/// (and `log file topic` after `notification` when asked for).
fn run_json_with(w: &Wiring, extra: &[&str]) -> (Output, Checks) {
    let mut args = w.args();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args.extend(["--output".to_owned(), "json".to_owned()]);
    let out = doctor(&args);
    let checks = checks(&out);
    let mut want = ALL_CHECKS.to_vec();
    if extra.contains(&"--log-file-topic") {
        want.insert(3, "log file topic");
    }
    let names: Vec<&str> = checks.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(names, want, "{checks:#?}");
    (out, checks)
}

/// The one line that is not green: asserts that it is `name` with `status`, and returns it.
fn only_one(checks: &Checks, name: &str, status: &str) -> (String, String, String, String) {
    let off: Vec<_> = checks.iter().filter(|c| c.1 != "ok").collect();
    assert_eq!(off.len(), 1, "only {name} should be {status}: {checks:#?}");
    assert_eq!(
        (off[0].0.as_str(), off[0].1.as_str()),
        (name, status),
        "{off:#?}"
    );
    off[0].clone()
}

/// Asserts that exactly `name` is red, that its fix contains `fix`, and that doctor failed.
fn assert_only_red(w: &Wiring, name: &str, fix: &str) {
    assert_only_red_with(w, &[], name, fix);
}

fn assert_only_red_with(w: &Wiring, extra: &[&str], name: &str, fix: &str) -> String {
    let (out, checks) = run_json_with(w, extra);
    let red = only_one(&checks, name, "fix");
    assert!(red.3.contains(fix), "fix of {name}: {:?}", red.3);
    assert_eq!(out.status.code(), Some(1), "{checks:#?}");
    red.2
}

/// Asserts that every line is green and doctor passed; returns the detail of `name`.
fn assert_green_with(w: &Wiring, extra: &[&str], name: &str) -> String {
    let (out, checks) = run_json_with(w, extra);
    for c in &checks {
        assert_eq!(c.1, "ok", "{c:?}\nall: {checks:#?}");
    }
    assert!(out.status.success(), "{checks:#?}");
    checks
        .iter()
        .find(|c| c.0 == name)
        .map(|c| c.2.clone())
        .expect("the line")
}

#[tokio::test]
async fn a_healthy_wiring_passes_every_check() {
    let w = Wiring::healthy().await;
    let (out, checks) = run_json(&w);
    for c in &checks {
        assert_eq!(c.1, "ok", "{c:?}\nall: {checks:#?}");
    }
    assert!(out.status.success(), "{checks:#?}");
    let permissions = &checks[3].2;
    assert!(
        permissions.contains("evaluated locally") && permissions.contains("s3:GetObject"),
        "moto lacks SimulatePrincipalPolicy, so the role's policies are read: {permissions}"
    );
    assert!(checks[1].2.contains("last delivery"), "{:?}", checks[1]);
    assert!(
        checks[4].2.starts_with("no KMS key: trail "),
        "{:?}",
        checks[4]
    );

    let text = doctor(&w.args());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("[ ok ] trail"), "{text}");
    assert!(
        text.ends_with("12 checks: 0 to fix, 0 could not tell\n"),
        "{text}"
    );
}

#[tokio::test]
async fn a_stopped_trail_is_red() {
    let w = Wiring::healthy().await;
    w.cloudtrail()
        .stop_logging()
        .name(&w.trail)
        .send()
        .await
        .expect("stop logging");
    assert_only_red(
        &w,
        "trail",
        &format!("aws cloudtrail start-logging --name {}", w.trail),
    );
}

#[tokio::test]
async fn a_removed_notification_is_red() {
    let w = Wiring::healthy().await;
    // The Lambda configuration replaced by one for a queue (as when another tool overwrites
    // the bucket's notification). Not an empty configuration: moto answers that one with a
    // `<GetBucketNotificationResponse/>` root the SDK cannot read, where S3 answers an empty
    // `<NotificationConfiguration/>`.
    let queue_arn = format!("arn:aws:sqs:{}:{ACCOUNT}:other", stack::REGION);
    let config = NotificationConfiguration::builder()
        .queue_configurations(
            aws_sdk_s3::types::QueueConfiguration::builder()
                .queue_arn(queue_arn)
                .events(Event::from("s3:ObjectCreated:*"))
                .build()
                .expect("queue configuration"),
        )
        .build();
    w.set_notification(config).await;
    assert_only_red(&w, "notification", "add a Lambda notification");
}

#[tokio::test]
async fn a_policy_without_get_object_is_red() {
    let w = Wiring::healthy().await;
    w.put_policy(false).await;
    assert_only_red(&w, "permissions", "s3:GetObject on arn:aws:s3:::");
}

#[tokio::test]
async fn a_table_without_an_index_is_red() {
    let mut w = Wiring::healthy().await;
    w.table = unique("table");
    w.table(false).await;
    // The function must name the new table, or its line would be red too.
    aws_sdk_lambda::Client::new(&w.sdk)
        .update_function_configuration()
        .function_name(&w.function)
        .environment(function_env(&w.table))
        .send()
        .await
        .expect("update function");
    w.put_policy(true).await;
    assert_only_red(&w, "table indexes", "add the missing index");
}

#[tokio::test]
async fn a_message_in_the_failure_queue_is_red() {
    let w = Wiring::healthy().await;
    w.sqs()
        .send_message()
        .queue_url(&w.queue_url)
        .message_body("{}")
        .send()
        .await
        .expect("send message");
    assert_only_red(&w, "failure queue", "asg-trail ingest");
}

#[tokio::test]
async fn an_alarm_topic_without_a_subscription_is_red() {
    let mut w = Wiring::healthy().await;
    w.topic_arn = topic(&w.sns(), &unique("lonely")).await;
    assert_only_red(&w, "alarm topic", "AlarmEmail");
}

#[tokio::test]
async fn a_pager_topic_alone_keeps_the_alarms_heard_and_nobody_at_all_is_red() {
    let mut w = Wiring::healthy().await;
    let pager = w.topic_arn.clone();
    w.topic_arn = topic(&w.sns(), &unique("lonely")).await;
    let detail = assert_green_with(&w, &["--extra-topic", &pager], "alarm topic");
    assert_eq!(
        detail,
        format!("{pager} (AlarmTopicArn) notifies email ops@example.com")
    );

    let silent = topic(&w.sns(), &unique("silent-pager")).await;
    let red = assert_only_red_with(&w, &["--extra-topic", &silent], "alarm topic", "AlarmEmail");
    assert!(red.contains("(AlarmTopicArn) has no subscription"), "{red}");

    // A topic of another region: the stack's alarms cannot notify it, subscribed or not.
    let elsewhere = topic(&w.sns_in("eu-west-1"), &unique("pager-eu")).await;
    subscribe(
        &w.sns_in("eu-west-1"),
        &elsewhere,
        "email",
        "ops@example.com",
    )
    .await;
    let red = assert_only_red_with(
        &w,
        &["--extra-topic", &elsewhere],
        "alarm topic",
        "AlarmEmail",
    );
    assert!(
        red.contains("is in eu-west-1, and alarms of us-east-1 notify"),
        "{red}"
    );
}

#[tokio::test]
async fn a_message_in_the_dead_letter_queue_is_red_and_a_missing_queue_too() {
    let mut w = Wiring::healthy().await;
    w.sqs()
        .send_message()
        .queue_url(&w.dead_letter_url)
        .message_body(r#"{"source":"aws.autoscaling"}"#)
        .send()
        .await
        .expect("send message");
    let (out, checks) = run_json(&w);
    let red = only_one(&checks, "dead-letter queue", "fix");
    assert!(
        red.2
            .contains("holds 1 EC2 Auto Scaling event(s) EventBridge could not deliver"),
        "{red:?}"
    );
    // moto's CloudWatch does not speak the SDK's protocol: the age is said to be unknown.
    assert!(
        red.2.contains("the oldest message's age is unknown"),
        "{red:?}"
    );
    assert!(
        red.2.ends_with("; SQS deletes a message after 4 d"),
        "{red:?}"
    );
    assert!(red.3.contains("aws lambda invoke"), "{red:?}");
    assert_eq!(out.status.code(), Some(1));

    w.dead_letter_url = w.queue_url.replace("doctor-queue", "doctor-gone");
    assert_only_red(
        &w,
        "dead-letter queue",
        "AutoScalingEventsDeadLetterQueueUrl",
    );
}

#[tokio::test]
async fn a_trail_key_the_role_may_not_use_is_red_until_its_policy_grants_it_through_s3() {
    let w = Wiring::healthy().await;
    let key = w.encrypt_trail(None).await;
    let red = assert_only_red_with(
        &w,
        &[],
        "kms key",
        &format!(
            "kms:Decrypt on {key} with the condition kms:ViaService = s3.{}.amazonaws.com",
            stack::REGION
        ),
    );
    assert!(
        red.contains(&format!("trail {} encrypts with {key}", w.trail)),
        "{red}"
    );
    assert!(
        red.contains("every log file fails with AccessDenied"),
        "{red}"
    );

    // The template's statement: allowed through S3 of the bucket's region only.
    w.allow_decrypt(&key, stack::REGION).await;
    let green = assert_green_with(&w, &[], "kms key");
    assert!(
        green.contains(&format!(
            "may kms:Decrypt it through s3.{}.amazonaws.com (evaluated locally",
            stack::REGION
        )),
        "{green}"
    );
    w.allow_decrypt(&key, "eu-west-1").await;
    assert_only_red_with(&w, &[], "kms key", "kms:ViaService");
}

#[tokio::test]
async fn a_key_policy_that_names_neither_the_role_nor_its_account_is_red() {
    let w = Wiring::healthy().await;
    let other = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{OTHER_ACCOUNT}:root")},
            "Action": "kms:*",
            "Resource": "*",
        }],
    });
    let key = w.encrypt_trail(Some(other.to_string())).await;
    w.allow_decrypt(&key, stack::REGION).await;
    let red = assert_only_red_with(
        &w,
        &[],
        "kms key",
        &format!("add to the key policy of {key}"),
    );
    assert!(
        red.contains(&format!(
            "allows neither role {} nor its account {ACCOUNT}",
            w.role
        )),
        "{red}"
    );
}

#[tokio::test]
async fn a_key_of_another_account_is_yellow_for_its_policy_cannot_be_read() {
    let w = Wiring::healthy().await;
    let key = format!(
        "arn:aws:kms:{}:{OTHER_ACCOUNT}:key/6c5b1a4e-0000-4000-8000-000000000001",
        stack::REGION
    );
    w.trail_key(&key).await;
    w.allow_decrypt(&key, stack::REGION).await;
    let (out, checks) = run_json(&w);
    let yellow = only_one(&checks, "kms key", "unknown");
    assert!(
        yellow.2.contains("its key policy cannot be read"),
        "{yellow:?}"
    );
    assert!(
        yellow
            .2
            .contains(&format!("it must allow the role or its account {ACCOUNT}")),
        "{yellow:?}"
    );
    assert!(out.status.success(), "yellow is not a failure: {checks:#?}");
}

#[tokio::test]
async fn an_sns_trigger_topic_is_read_in_its_own_region() {
    let w = Wiring::healthy().await;
    let eu = w.sns_in("eu-west-1");
    let logs = topic(&eu, &unique("log-files")).await;
    subscribe(&eu, &logs, "lambda", &w.function_arn).await;
    let green = assert_green_with(&w, &["--log-file-topic", &logs], "log file topic");
    assert!(
        green.starts_with(&format!(
            "the function is subscribed to {logs} (in eu-west-1): arn:"
        )),
        "{green}"
    );

    let unsubscribed = topic(&eu, &unique("log-files-bare")).await;
    let red = assert_only_red_with(
        &w,
        &["--log-file-topic", &unsubscribed],
        "log file topic",
        "--region eu-west-1",
    );
    assert!(red.contains("is not subscribed"), "{red}");
    // A topic of the stack's region by that name does not stand in for it.
    let gone = logs.replace("eu-west-1", "eu-central-1");
    let red = assert_only_red_with(
        &w,
        &["--log-file-topic", &gone],
        "log file topic",
        "ExistingBucketTopicArn",
    );
    assert!(red.contains("does not exist (in eu-central-1)"), "{red}");
}

/// A stack in moto's CloudFormation whose outputs and parameters are the given ones (its one
/// resource a placeholder: moto's CloudFormation cannot make the real template's).
async fn stack_of(w: &Wiring, outputs: &[(&str, &str)], parameters: &[(&str, &str)]) -> String {
    let name = unique("stack");
    let outputs: serde_json::Map<String, Value> = outputs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::json!({ "Value": v })))
        .collect();
    let declared: serde_json::Map<String, Value> = parameters
        .iter()
        .map(|(k, _)| ((*k).to_owned(), serde_json::json!({ "Type": "String" })))
        .collect();
    let template = serde_json::json!({
        "Parameters": declared,
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": outputs,
    });
    let given = parameters.iter().map(|(k, v)| {
        aws_sdk_cloudformation::types::Parameter::builder()
            .parameter_key(*k)
            .parameter_value(*v)
            .build()
    });
    aws_sdk_cloudformation::Client::new(&w.sdk)
        .create_stack()
        .stack_name(&name)
        .template_body(template.to_string())
        .set_parameters(Some(given.collect()))
        .send()
        .await
        .expect("create stack");
    name
}

fn doctor_stack(name: &str) -> (Output, Checks) {
    let out = doctor(&[
        "doctor".to_owned(),
        "--stack".to_owned(),
        name.to_owned(),
        "--output".to_owned(),
        "json".to_owned(),
    ]);
    let checks = checks(&out);
    (out, checks)
}

#[tokio::test]
async fn a_stack_names_everything_through_its_outputs() {
    let w = Wiring::healthy().await;
    // The stack's own topic has no subscription; the pager topic of AlarmTopicArn has one.
    let own = topic(&w.sns(), &unique("own-alarms")).await;
    let name = stack_of(
        &w,
        &[
            ("FunctionName", &w.function),
            ("TableName", &w.table),
            ("BucketName", &w.bucket),
            ("FailedEventsQueueUrl", &w.queue_url),
            ("AutoScalingEventsDeadLetterQueueUrl", &w.dead_letter_url),
            ("AlarmTopicArn", &own),
        ],
        &[("AlarmTopicArn", &w.topic_arn), ("KmsKeyArn", "")],
    )
    .await;
    let (out, checks) = doctor_stack(&name);
    let names: Vec<&str> = checks.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(names, ALL_CHECKS, "{checks:#?}");
    for c in &checks {
        assert_eq!(c.1, "ok", "{c:?}\nall: {checks:#?}");
    }
    assert!(out.status.success());
    assert!(
        checks[11].2.contains("(AlarmTopicArn) notifies email"),
        "{:?}",
        checks[11]
    );

    let missing = doctor(&["doctor".to_owned(), "--stack".to_owned(), unique("absent")]);
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("cannot describe stack"), "{stderr}");
}

#[tokio::test]
async fn a_bucket_of_another_account_under_the_eventbridge_trigger_is_red() {
    let w = Wiring::healthy().await;
    let stack = |bucket: String| {
        let w = &w;
        async move {
            stack_of(
                w,
                &[
                    ("FunctionName", &w.function),
                    ("TableName", &w.table),
                    ("BucketName", &bucket),
                    ("FailedEventsQueueUrl", &w.queue_url),
                    ("AlarmTopicArn", &w.topic_arn),
                ],
                &[
                    ("ExistingBucketName", &bucket),
                    ("ExistingBucketPrefix", "AWSLogs/"),
                    ("ExistingBucketTrigger", "EventBridge"),
                ],
            )
            .await
        }
    };
    // The account's own bucket: the trigger's owner rule stays quiet (and the bucket's Lambda
    // notification keeps the line green).
    let (out, checks) = doctor_stack(&stack(w.bucket.clone()).await);
    assert_eq!(checks[2].0, "notification");
    assert_eq!(checks[2].1, "ok", "{checks:#?}");
    assert!(out.status.success(), "{checks:#?}");

    // A log archive account's bucket, with a trail of this account delivering to it.
    let central = unique("central");
    w.s3()
        .create_bucket()
        .bucket(&central)
        .customize()
        .mutate_request(|req| {
            req.headers_mut().insert("x-moto-account-id", OTHER_ACCOUNT);
        })
        .send()
        .await
        .expect("create the other account's bucket");
    w.cloudtrail()
        .update_trail()
        .name(&w.trail)
        .s3_bucket_name(&central)
        .send()
        .await
        .expect("point the trail at it");
    let read_central = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{central}/AWSLogs/*"),
        }],
    });
    w.put_document("central", read_central.to_string()).await;
    let (out, checks) = doctor_stack(&stack(central.clone()).await);
    let red = only_one(&checks, "notification", "fix");
    assert!(
        red.2.starts_with(&format!(
            "s3://{central} is not a bucket of account {ACCOUNT} (ListBuckets)"
        )),
        "{red:?}"
    );
    assert!(
        red.2.contains("only to its owner's default event bus"),
        "{red:?}"
    );
    assert!(red.3.contains("ExistingBucketTrigger=SNS"), "{red:?}");
    assert!(red.3.contains("forward"), "{red:?}");
    assert_eq!(out.status.code(), Some(1));
}
