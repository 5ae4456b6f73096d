//! The local AWS stack for the integration tests: moto_server (S3) and DynamoDB Local, started
//! once per test process on free loopback ports, plus helpers for fresh resources and SDK clients.
//!
//! The servers are spawned through a small bash watchdog that kills them as soon as the test
//! process is gone (no unsafe code, no signal handlers needed), so they never outlive `cargo test`.
//! A missing tool or a server that does not get ready is a loud panic, never a skip.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, IndexStatus,
    KeySchemaElement, KeyType, Projection, ProjectionType, ScalarAttributeType, TableStatus,
};
use serde_json::{Map, Value};

/// Dummy credentials and region used by the tests AND by every binary they start. DynamoDB Local
/// (without `-sharedDb`) scopes tables per access key + region, so these must match everywhere.
pub const ACCESS_KEY: &str = "test";
pub const SECRET_KEY: &str = "test";
pub const REGION: &str = "us-east-1";

const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Endpoints of the running servers.
pub struct Stack {
    pub s3_endpoint: String,
    pub dynamodb_endpoint: String,
    /// Kept so the handles live as long as the process (the watchdog does the killing).
    _servers: Mutex<Vec<Child>>,
}

static STACK: OnceLock<Stack> = OnceLock::new();
static KEY_SCHEMA: OnceLock<Value> = OnceLock::new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The repository root (where Cargo.toml, template.yaml and infra/ live).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The stack, started on first use (both servers in parallel), shared by all tests of the process.
pub fn stack() -> &'static Stack {
    STACK.get_or_init(start_stack)
}

fn start_stack() -> Stack {
    let started = Instant::now();
    let root = repo_root();
    let infra = root.join("infra");
    let moto = infra.join(".venv/bin/moto_server");
    let ddb_dir = infra.join(".tools/dynamodb-local");
    let jar = ddb_dir.join("DynamoDBLocal.jar");
    let mut missing = Vec::new();
    if !moto.is_file() {
        missing.push(format!("{} (moto_server for S3)", moto.display()));
    }
    if !jar.is_file() {
        missing.push(format!("{} (DynamoDB Local)", jar.display()));
    }
    if !ddb_dir.join("DynamoDBLocal_lib").is_dir() {
        missing.push(format!("{}/DynamoDBLocal_lib", ddb_dir.display()));
    }
    if Command::new("java")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_or(true, |s| !s.success())
    {
        missing.push("`java` on PATH (needed by DynamoDB Local)".to_owned());
    }
    assert!(
        missing.is_empty(),
        "integration test stack is not installed; missing:\n  - {}\nRun `infra/setup.sh` first \
         (these tests never skip).",
        missing.join("\n  - ")
    );

    let log_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("it-logs");
    std::fs::create_dir_all(&log_dir).expect("create the server log folder");

    let s3_port = free_port();
    let s3_log = log_dir.join(format!("moto-{}-{s3_port}.log", std::process::id()));
    let moto_child = spawn_watched(
        &infra,
        &format!(
            "{} -H 127.0.0.1 -p {s3_port}",
            sh_quote(&moto.to_string_lossy())
        ),
        &s3_log,
    );

    let ddb_port = free_port();
    let ddb_log = log_dir.join(format!("dynamodb-{}-{ddb_port}.log", std::process::id()));
    let ddb_child = spawn_watched(
        &ddb_dir,
        &format!(
            "java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar -inMemory \
             -disableTelemetry -port {ddb_port}"
        ),
        &ddb_log,
    );
    let mut children = vec![moto_child, ddb_child];

    wait_ready(
        &mut children[0],
        "moto_server (S3)",
        &s3_log,
        started,
        || matches!(http(s3_port, "GET", "/moto-api/", &[], ""), Some((200, _))),
    );
    let s3_ready = started.elapsed();
    wait_ready(
        &mut children[1],
        "DynamoDB Local",
        &ddb_log,
        started,
        || {
            let auth = format!(
                "AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20240101/{REGION}/dynamodb/aws4_request, \
             SignedHeaders=host;x-amz-date;x-amz-target, Signature=00"
            );
            matches!(
                http(
                    ddb_port,
                    "POST",
                    "/",
                    &[
                        ("Content-Type", "application/x-amz-json-1.0"),
                        ("X-Amz-Target", "DynamoDB_20120810.ListTables"),
                        ("X-Amz-Date", "20240101T000000Z"),
                        ("Authorization", &auth),
                    ],
                    "{}",
                ),
                Some((200, body)) if body.contains("TableNames")
            )
        },
    );
    eprintln!(
        "[it] local stack ready: S3 (moto) on 127.0.0.1:{s3_port} after {:.1?}, DynamoDB Local on \
         127.0.0.1:{ddb_port} after {:.1?}",
        s3_ready,
        started.elapsed()
    );
    Stack {
        s3_endpoint: format!("http://127.0.0.1:{s3_port}"),
        dynamodb_endpoint: format!("http://127.0.0.1:{ddb_port}"),
        _servers: Mutex::new(children),
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Runs `server` in `dir` under a bash watchdog that kills it once this test process is gone.
fn spawn_watched(dir: &Path, server: &str, log: &Path) -> Child {
    let script = format!(
        "cd {dir} && {{ {server} & s=$!; \
         while kill -0 {pid} 2>/dev/null && kill -0 $s 2>/dev/null; do sleep 0.5; done; \
         kill $s 2>/dev/null; sleep 2; kill -9 $s 2>/dev/null; }}",
        dir = sh_quote(&dir.to_string_lossy()),
        pid = std::process::id(),
    );
    let out = File::create(log).expect("create server log");
    let err = out.try_clone().expect("clone log handle");
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn bash to start `{server}`: {e}"))
}

fn wait_ready(
    child: &mut Child,
    what: &str,
    log: &Path,
    started: Instant,
    mut ready: impl FnMut() -> bool,
) {
    loop {
        if ready() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{what} exited before it got ready ({status}); run infra/setup.sh. Its log ({}):\n{}",
                log.display(),
                tail(log)
            );
        }
        if started.elapsed() > READY_TIMEOUT {
            panic!(
                "{what} did not get ready within {READY_TIMEOUT:?}; run infra/setup.sh. Its log ({}):\n{}",
                log.display(),
                tail(log)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Minimal blocking HTTP/1.0 client for readiness probes (no runtime needed).
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut req = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).ok()?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).ok()?;
    let resp = String::from_utf8_lossy(&resp).into_owned();
    let status = resp.split_whitespace().nth(1)?.parse().ok()?;
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

/// Env vars a binary (bootstrap or CLI) needs to talk to the local servers.
pub fn env_for_binaries() -> Vec<(String, String)> {
    let st = stack();
    [
        ("AWS_ENDPOINT_URL_S3", st.s3_endpoint.as_str()),
        ("AWS_ENDPOINT_URL_DYNAMODB", st.dynamodb_endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_REGION", REGION),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Env vars a child must NOT inherit from the developer's shell (they would redirect it).
pub const ENV_TO_CLEAR: &[&str] = &[
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_DEFAULT_REGION",
];

/// Every variable cleared for a binary under test: the AWS ones above and every setting of
/// asg-trail, so that the binaries get only what a test gives them.
pub fn env_to_clear() -> impl Iterator<Item = &'static str> {
    ENV_TO_CLEAR
        .iter()
        .chain(asg_trail::config::VARIABLES)
        .copied()
}

async fn sdk_config() -> aws_config::SdkConfig {
    let creds =
        aws_sdk_dynamodb::config::Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "it");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .credentials_provider(creds)
        .load()
        .await
}

/// The SDK configuration of every service on moto (SNS, SQS, IAM, ...: all but DynamoDB and
/// S3's path style, which have their own clients here).
pub async fn moto_config() -> aws_config::SdkConfig {
    let creds =
        aws_sdk_dynamodb::config::Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "it");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .credentials_provider(creds)
        .endpoint_url(&stack().s3_endpoint)
        .load()
        .await
}

/// An S3 client for the local moto server. Built per test: SDK clients hold connection pools
/// bound to the tokio runtime that used them, and every `#[tokio::test]` has its own runtime.
pub async fn s3() -> aws_sdk_s3::Client {
    let st = stack();
    let conf = aws_sdk_s3::config::Builder::from(&sdk_config().await)
        .endpoint_url(&st.s3_endpoint)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// A DynamoDB client for the local DynamoDB Local.
pub async fn dynamodb() -> aws_sdk_dynamodb::Client {
    let st = stack();
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk_config().await)
        .endpoint_url(&st.dynamodb_endpoint)
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates a bucket with a name unique to this test and returns its name.
pub async fn fresh_bucket() -> String {
    let name = unique("it-bucket");
    s3().await
        .create_bucket()
        .bucket(&name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create bucket {name}: {e:?}"));
    name
}

/// A table name that is unique but never created (for "table does not exist" tests).
pub fn unused_table_name() -> String {
    unique("it-missing-table")
}

/// `{"AttributeDefinitions": [...], "KeySchema": [...]}` of the template's table, as printed by
/// `infra/template_tool.py key-schema template.yaml` (computed once per process).
pub fn key_schema() -> &'static Value {
    KEY_SCHEMA.get_or_init(|| {
        let out = template_tool(&["key-schema", "template.yaml"]);
        assert!(
            out.status.success(),
            "`template_tool.py key-schema template.yaml` failed ({}):\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "key-schema output is not JSON ({e}):\n{}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        let obj = v
            .as_object()
            .expect("key-schema output must be a JSON object");
        let table = match obj.get("table") {
            Some(t) => t.clone(),
            None if obj.len() == 1 => obj.values().next().cloned().unwrap_or_default(),
            None => panic!("key-schema output names no single table: {v}"),
        };
        assert!(
            table.get("KeySchema").is_some_and(Value::is_array)
                && table
                    .get("AttributeDefinitions")
                    .is_some_and(Value::is_array),
            "key-schema output lacks KeySchema/AttributeDefinitions: {v}"
        );
        table
    })
}

/// Runs `infra/.venv/bin/python infra/template_tool.py ARGS...` in the repo root.
pub fn template_tool(args: &[&str]) -> std::process::Output {
    let root = repo_root();
    let python = root.join("infra/.venv/bin/python");
    let tool = root.join("infra/template_tool.py");
    assert!(
        python.is_file() && tool.is_file(),
        "missing {} or {}; run infra/setup.sh first (these tests never skip)",
        python.display(),
        tool.display()
    );
    Command::new(python)
        .arg(tool)
        .args(args)
        .current_dir(&root)
        .env("SAM_CLI_TELEMETRY", "0")
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run template_tool.py")
}

fn key_elements(keys: &Value, what: &str) -> Vec<KeySchemaElement> {
    keys.as_array()
        .unwrap_or_else(|| panic!("{what}: KeySchema is not an array"))
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(k["AttributeName"].as_str().expect("AttributeName"))
                .key_type(KeyType::from(k["KeyType"].as_str().expect("KeyType")))
                .build()
                .expect("KeySchemaElement")
        })
        .collect()
}

/// Creates a table with the template's key schema and global secondary indexes
/// (PAY_PER_REQUEST), waits until it and its indexes are ACTIVE, and returns its name.
pub async fn fresh_table() -> String {
    let schema = key_schema();
    let name = unique("it-table");
    let client = dynamodb().await;
    let mut req = client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest);
    let mut key_names: Vec<String> = Vec::new();
    for k in key_elements(&schema["KeySchema"], "table") {
        key_names.push(k.attribute_name().to_owned());
        req = req.key_schema(k);
    }
    let indexes = schema
        .get("GlobalSecondaryIndexes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for index in &indexes {
        let index_name = index["IndexName"].as_str().expect("IndexName");
        let keys = key_elements(&index["KeySchema"], index_name);
        key_names.extend(keys.iter().map(|k| k.attribute_name().to_owned()));
        let projection = &index["Projection"];
        let mut p = Projection::builder().projection_type(ProjectionType::from(
            projection["ProjectionType"].as_str().unwrap_or("ALL"),
        ));
        for attribute in projection["NonKeyAttributes"]
            .as_array()
            .into_iter()
            .flatten()
        {
            p = p.non_key_attributes(attribute.as_str().expect("NonKeyAttributes[]"));
        }
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index_name)
                .set_key_schema(Some(keys))
                .projection(p.build())
                .build()
                .expect("GlobalSecondaryIndex"),
        );
    }
    // DynamoDB rejects definitions of attributes no key uses; only key attributes are kept.
    for d in schema["AttributeDefinitions"]
        .as_array()
        .expect("AttributeDefinitions array")
    {
        let n = d["AttributeName"].as_str().expect("AttributeName");
        if key_names.iter().any(|k| k == n) {
            req = req.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(n)
                    .attribute_type(ScalarAttributeType::from(
                        d["AttributeType"].as_str().expect("AttributeType"),
                    ))
                    .build()
                    .expect("AttributeDefinition"),
            );
        }
    }
    req.send()
        .await
        .unwrap_or_else(|e| panic!("create table {name}: {e:?}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = client
            .describe_table()
            .table_name(&name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("describe table {name}: {e:?}"));
        let table = d.table();
        let active = table.and_then(|t| t.table_status()) == Some(&TableStatus::Active);
        let indexes_active = table.is_some_and(|t| {
            t.global_secondary_indexes().len() == indexes.len()
                && t.global_secondary_indexes()
                    .iter()
                    .all(|i| i.index_status() == Some(&IndexStatus::Active))
        });
        if active && indexes_active {
            return name;
        }
        assert!(
            Instant::now() < deadline,
            "table {name} (or its indexes) not ACTIVE after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Uploads `bytes` as `s3://bucket/key`.
pub async fn put_object(bucket: &str, key: &str, bytes: impl Into<Vec<u8>>) {
    s3().await
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(aws_sdk_s3::primitives::ByteStream::from(bytes.into()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put s3://{bucket}/{key}: {e:?}"));
}

/// Every item of `table` in raw SDK form, in scan order (all pages).
pub async fn scan_raw(table: &str) -> Vec<HashMap<String, AttributeValue>> {
    let client = dynamodb().await;
    let mut items = Vec::new();
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let out = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap_or_else(|e| panic!("scan {table}: {e:?}"));
        items.extend(out.items().iter().cloned());
        match out.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return items,
        }
    }
}

/// Every item of `table` as plain JSON, in scan order.
pub async fn scan_all(table: &str) -> Vec<Value> {
    scan_raw(table).await.iter().map(item_to_json).collect()
}

/// A DynamoDB item as plain JSON (S→string, N→number, BOOL→bool, M→object, L→array,
/// SS→array of strings, NS→array of numbers, NULL→null, B→array of bytes).
pub fn item_to_json(item: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), attr_to_json(v)))
            .collect::<Map<String, Value>>(),
    )
}

fn number(n: &str) -> Value {
    serde_json::from_str::<serde_json::Number>(n).map_or_else(
        |e| panic!("DynamoDB N value {n:?} is not a JSON number: {e}"),
        Value::Number,
    )
}

pub fn attr_to_json(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => number(n),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::M(m) => item_to_json(m),
        AttributeValue::L(l) => Value::Array(l.iter().map(attr_to_json).collect()),
        AttributeValue::Ss(ss) => Value::Array(ss.iter().cloned().map(Value::String).collect()),
        AttributeValue::Ns(ns) => Value::Array(ns.iter().map(|n| number(n)).collect()),
        AttributeValue::B(b) => Value::Array(b.as_ref().iter().map(|x| Value::from(*x)).collect()),
        other => panic!("unexpected attribute value in an item: {other:?}"),
    }
}
