//! `asg-trail doctor` against moto's server, which serves every service it implements on the
//! one port the stack starts it on: a healthy wiring (bucket, logging trail, function with a
//! role and policy, Lambda notification, table with both indexes and TTL, a recent item, an
//! empty queue, a topic with a subscription) passes every check; each broken wiring turns
//! exactly its line red, with its fix, and the exit status to 1.
//!
//! What moto 5.2.5 cannot do, and so what these tests cannot cover:
//! - `iam:SimulatePrincipalPolicy` is not implemented: doctor evaluates the role's policies
//!   itself, and every run here goes that way (the line says so, and the tests assert it);
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

async fn config() -> aws_config::SdkConfig {
    let creds = aws_sdk_dynamodb::config::Credentials::new(
        stack::ACCESS_KEY,
        stack::SECRET_KEY,
        None,
        None,
        "it",
    );
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(stack::REGION))
        .credentials_provider(creds)
        .endpoint_url(&stack::stack().s3_endpoint)
        .load()
        .await
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
        self.iam()
            .put_role_policy()
            .role_name(&self.role)
            .policy_name("ingest")
            .policy_document(read_policy(&self.bucket, &self.table, with_get_object))
            .send()
            .await
            .expect("put role policy");
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
        let q = self
            .sqs()
            .create_queue()
            .queue_name(unique("queue"))
            .send()
            .await
            .expect("create queue");
        self.queue_url = q.queue_url().expect("queue url").to_owned();
        let t = self
            .sns()
            .create_topic()
            .name(unique("topic"))
            .send()
            .await
            .expect("create topic");
        self.topic_arn = t.topic_arn().expect("topic arn").to_owned();
        self.subscribe().await;
        self
    }

    async fn subscribe(&self) {
        self.sns()
            .subscribe()
            .topic_arn(&self.topic_arn)
            .protocol("email")
            .endpoint("ops@example.com")
            .send()
            .await
            .expect("subscribe");
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
            "--topic",
            &self.topic_arn,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    }
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
    "table keys",
    "table indexes",
    "table ttl",
    "newest item",
    "failure queue",
    "alarm topic",
];

fn run_json(w: &Wiring) -> (Output, Vec<(String, String, String, String)>) {
    let mut args = w.args();
    args.extend(["--output".to_owned(), "json".to_owned()]);
    let out = doctor(&args);
    let checks = checks(&out);
    let names: Vec<&str> = checks.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(names, ALL_CHECKS, "{checks:#?}");
    (out, checks)
}

/// Asserts that exactly `name` is red, that its fix contains `fix`, and that doctor failed.
fn assert_only_red(w: &Wiring, name: &str, fix: &str) {
    let (out, checks) = run_json(w);
    let red: Vec<_> = checks.iter().filter(|c| c.1 != "ok").collect();
    assert_eq!(red.len(), 1, "only {name} should be red: {checks:#?}");
    assert_eq!(
        (red[0].0.as_str(), red[0].1.as_str()),
        (name, "fix"),
        "{red:#?}"
    );
    assert!(red[0].3.contains(fix), "fix of {name}: {:?}", red[0].3);
    assert_eq!(out.status.code(), Some(1), "{checks:#?}");
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

    let text = doctor(&w.args());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("[ ok ] trail"), "{text}");
    assert!(
        text.ends_with("10 checks: 0 to fix, 0 could not tell\n"),
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
    w.topic_arn = w
        .sns()
        .create_topic()
        .name(unique("lonely"))
        .send()
        .await
        .expect("create topic")
        .topic_arn()
        .expect("arn")
        .to_owned();
    assert_only_red(&w, "alarm topic", "AlarmEmail");
}

#[tokio::test]
async fn a_stack_names_everything_through_its_outputs() {
    let w = Wiring::healthy().await;
    let name = unique("stack");
    let output = |value: &str| serde_json::json!({ "Value": value });
    let template = serde_json::json!({
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {
            "FunctionName": output(&w.function),
            "TableName": output(&w.table),
            "BucketName": output(&w.bucket),
            "FailedEventsQueueUrl": output(&w.queue_url),
            "AlarmTopicArn": output(&w.topic_arn),
        },
    });
    aws_sdk_cloudformation::Client::new(&w.sdk)
        .create_stack()
        .stack_name(&name)
        .template_body(template.to_string())
        .send()
        .await
        .expect("create stack");
    let out = doctor(&[
        "doctor".to_owned(),
        "--stack".to_owned(),
        name.clone(),
        "--output".to_owned(),
        "json".to_owned(),
    ]);
    let checks = checks(&out);
    assert_eq!(checks.len(), ALL_CHECKS.len(), "{checks:#?}");
    for c in &checks {
        assert_eq!(c.1, "ok", "{c:?}\nall: {checks:#?}");
    }
    assert!(out.status.success());

    let missing = doctor(&["doctor".to_owned(), "--stack".to_owned(), unique("absent")]);
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("cannot describe stack"), "{stderr}");
}
