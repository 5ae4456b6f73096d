//! Failure semantics under faults injected on the wire ([`crate::proxy`]) and hostile input
//! (tests/fixtures/bad/), through the real `bootstrap` binary, moto S3 and DynamoDB Local.
//!
//! The invariants, checked by reading the table back after every invocation:
//! * an invocation that reports success left every Auto Scaling event of the object in the
//!   table exactly once per group it names, and nothing else (the table equals the one a
//!   fault-free run writes, item for item);
//! * one that reports failure names the object, left nothing in the table that a fault-free
//!   run would not have written, and invoking again (as Lambda's retry does) converges;
//! * `NoSuchKey` is logged and skipped; `AccessDenied` fails naming bucket, key and permission.
//!
//! Each seeded scenario runs `FAULT_SEEDS` seeds (default 12), stopping early once it has used
//! `FAULT_SCENARIO_SECS` (default 40 s) after at least 3 seeds; it prints what it ran.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::proxy::{Fault, Faults, Proxy, Service};
use crate::runtime_api::Lambda;
use crate::stack;

const ACCOUNT: &str = "123456789012";
const LOG_KEY: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05/\
                       123456789012_CloudTrail_us-east-1_20240305T1230Z_Fault000.json.gz";
/// Invocations per seed before the test gives up on convergence; the faults stop after
/// `HEAL_AFTER` failed ones (the outage ends), so the next must succeed.
const MAX_INVOCATIONS: usize = 6;
const HEAL_AFTER: usize = 4;

/// Fast retries for the tests: the semantics are the same, the waits shorter.
const FAST_RETRIES: &[(&str, &str)] = &[
    ("WRITE_BACKOFF_BASE_MS", "5"),
    ("WRITE_BACKOFF_MAX_MS", "50"),
    ("WRITE_MAX_ATTEMPTS", "3"),
    ("WRITE_ATTEMPT_TIMEOUT_MS", "3000"),
    ("WRITE_MAX_ELAPSED_MS", "30000"),
];

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip")
}

/// A log file of 90 records: 72 EC2 Auto Scaling events over three groups (every tenth one a
/// CreateOrUpdateTags naming a fourth group too), a record repeated, and records of other
/// services. Returns the gzip and the `(groupName, eventKey)` of every item it must give.
fn fault_log() -> (Vec<u8>, BTreeSet<(String, String)>) {
    let mut records = Vec::new();
    let mut keys = BTreeSet::new();
    for i in 0..72 {
        let group = format!("fault-asg-{}", i % 3);
        let time = format!("2024-03-05T12:{:02}:{:02}Z", i / 60, i % 60);
        let id = format!("0000fa17-0000-4000-8000-{i:012}");
        let (name, params, groups) = if i % 10 == 0 {
            (
                "CreateOrUpdateTags",
                json!({"tags": [
                    {"resourceId": group, "resourceType": "auto-scaling-group", "key": "k", "value": "v", "propagateAtLaunch": false},
                    {"resourceId": "fault-shared", "resourceType": "auto-scaling-group", "key": "k", "value": "v", "propagateAtLaunch": false}
                ]}),
                vec![group.clone(), "fault-shared".to_owned()],
            )
        } else {
            (
                "SetDesiredCapacity",
                json!({"autoScalingGroupName": group, "desiredCapacity": i}),
                vec![group.clone()],
            )
        };
        for g in groups {
            keys.insert((g, format!("{time}#{id}")));
        }
        let record = json!({
            "eventVersion": "1.09",
            "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "accountId": ACCOUNT,
                             "arn": format!("arn:aws:iam::{ACCOUNT}:user/ops"), "userName": "ops"},
            "eventTime": time,
            "eventSource": "autoscaling.amazonaws.com",
            "eventName": name,
            "awsRegion": "us-east-1",
            "sourceIPAddress": "203.0.113.9",
            "userAgent": "aws-cli/2.15.21",
            "requestParameters": params,
            "responseElements": null,
            "requestID": format!("req-{i}"),
            "eventID": id,
            "readOnly": false,
            "eventType": "AwsApiCall",
            "recipientAccountId": ACCOUNT,
        });
        if i == 33 {
            records.push(record.clone());
        }
        records.push(record);
        if i % 4 == 0 {
            records.push(
                json!({"eventSource": "s3.amazonaws.com", "eventName": "GetObject",
                                "eventTime": time, "eventID": format!("s3-{i}")}),
            );
        }
    }
    let text = json!({ "Records": records }).to_string();
    (gzip(text.as_bytes()), keys)
}

/// An S3 `ObjectCreated:Put` notification for `bucket`/`key` (key form-encoded as S3 does).
fn notification(bucket: &str, key: &str, size: usize) -> Value {
    json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2024-03-05T12:35:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AROAEXAMPLE:regionalDeliverySession"},
        "requestParameters": {"sourceIPAddress": "10.0.0.1"},
        "responseElements": {"x-amz-request-id": "R", "x-amz-id-2": "I"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "asg-trail-ingest",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A"}, "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": key.replace(' ', "+"), "size": size, "eTag": "e", "sequencer": "01"}}
    }]})
}

fn key_of(item: &Value) -> (String, String) {
    let s = |name: &str| item[name].as_str().unwrap_or("<missing>").to_owned();
    (s("groupName"), s("eventKey"))
}

/// The table as `key → item`, `groupNames` sorted (a set comes back in any order).
async fn table_items(table: &str) -> BTreeMap<(String, String), Value> {
    stack::scan_all(table)
        .await
        .into_iter()
        .map(|mut item| {
            if let Some(names) = item.get_mut("groupNames").and_then(Value::as_array_mut) {
                names.sort_by_key(ToString::to_string);
            }
            (key_of(&item), item)
        })
        .collect()
}

fn env_with<'a>(
    s3: &'a Proxy,
    dynamodb: &'a Proxy,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("AWS_ENDPOINT_URL_S3", s3.endpoint.as_str()),
        ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.endpoint.as_str()),
    ];
    env.extend_from_slice(FAST_RETRIES);
    env.extend_from_slice(extra);
    env
}

fn proxies(dynamodb: Faults, s3: Faults, seed: u64) -> (Proxy, Proxy) {
    let st = stack::stack();
    (
        Proxy::start(Service::DynamoDb, &st.dynamodb_endpoint, dynamodb, seed),
        Proxy::start(
            Service::S3,
            &st.s3_endpoint,
            s3,
            seed.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ),
    )
}

/// A bucket holding the fault log, and the table a fault-free run writes from it.
struct Baseline {
    bucket: String,
    event: Value,
    items: BTreeMap<(String, String), Value>,
}

async fn baseline() -> Baseline {
    let (gz, keys) = fault_log();
    let bucket = stack::fresh_bucket().await;
    stack::put_object(&bucket, LOG_KEY, gz.clone()).await;
    let event = notification(&bucket, LOG_KEY, gz.len());
    let table = stack::fresh_table().await;
    let lambda = Lambda::start(&table);
    let outcome = lambda.invoke(event.clone()).await;
    assert!(
        outcome.is_ok(),
        "the fault-free run failed: {outcome:?}\n{}",
        lambda.logs()
    );
    let items = table_items(&table).await;
    assert_eq!(
        items.keys().cloned().collect::<BTreeSet<_>>(),
        keys,
        "the fault-free run does not hold every event once per group"
    );
    assert_eq!(items.len(), 72 + 8);
    Baseline {
        bucket,
        event,
        items,
    }
}

fn seeds_and_budget() -> (u64, Duration) {
    let seeds = std::env::var("FAULT_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let secs = std::env::var("FAULT_SCENARIO_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    (seeds, Duration::from_secs(secs))
}

/// What one scenario saw over its seeds.
#[derive(Default, Debug)]
struct Report {
    seeds: u64,
    invocations: usize,
    failed_invocations: usize,
    first_try_successes: u64,
    injected: BTreeMap<Fault, u32>,
}

/// Runs the fault log through the Lambda under `dynamodb` and `s3` faults, seed after seed,
/// checking the invariants after every invocation.
async fn run_scenario(
    name: &str,
    dynamodb: &Faults,
    s3: &Faults,
    extra_env: &[(&str, &str)],
) -> Report {
    let base = baseline().await;
    let (seeds, budget) = seeds_and_budget();
    let started = Instant::now();
    let mut report = Report::default();
    for seed in 0..seeds {
        if seed >= 3 && started.elapsed() > budget {
            break;
        }
        report.seeds += 1;
        let table = stack::fresh_table().await;
        let (ddb, s3p) = proxies(dynamodb.clone(), s3.clone(), seed);
        let lambda = Lambda::start_with_env(&table, &env_with(&s3p, &ddb, extra_env));
        let context = |lambda: &Lambda, what: &str| {
            format!(
                "scenario {name}, seed {seed}: {what}\nDynamoDB faults: {:?}\nS3 faults: {:?}\n\
                 --- bootstrap output ---\n{}",
                ddb.tally(),
                s3p.tally(),
                lambda.logs()
            )
        };
        let mut converged = false;
        for invocation in 1..=MAX_INVOCATIONS {
            if invocation == HEAL_AFTER + 1 {
                ddb.heal();
                s3p.heal();
            }
            report.invocations += 1;
            let outcome = lambda.invoke(base.event.clone()).await;
            let items = table_items(&table).await;
            for (key, item) in &items {
                assert_eq!(
                    base.items.get(key),
                    Some(item),
                    "{}",
                    context(
                        &lambda,
                        &format!("an item the fault-free run does not have: {key:?}")
                    )
                );
            }
            match outcome {
                Ok(response) => {
                    assert_eq!(
                        items.len(),
                        base.items.len(),
                        "{}",
                        context(&lambda, &format!("success with items missing: {response}"))
                    );
                    assert_eq!(response["itemsWritten"], json!(80), "{response}");
                    if invocation == 1 {
                        report.first_try_successes += 1;
                    }
                    converged = true;
                    break;
                }
                Err(error) => {
                    report.failed_invocations += 1;
                    let message = error["errorMessage"].as_str().unwrap_or_default();
                    assert!(
                        message.contains(&format!("s3://{}/{LOG_KEY}", base.bucket)),
                        "{}",
                        context(
                            &lambda,
                            &format!("the failure does not name the object: {error}")
                        )
                    );
                }
            }
        }
        assert!(
            converged,
            "{}",
            context(&lambda, "no convergence after the faults stopped")
        );
        ddb.assert_healthy();
        s3p.assert_healthy();
        for (fault, n) in ddb.tally().into_iter().chain(s3p.tally()) {
            *report.injected.entry(fault).or_default() += n;
        }
    }
    eprintln!(
        "[faults] scenario {name}: {} seeds in {:.1?}: {} invocations, {} failed, {} seeds \
         succeeded first time; injected {:?}",
        report.seeds,
        started.elapsed(),
        report.invocations,
        report.failed_invocations,
        report.first_try_successes,
        report.injected
    );
    for (fault, _) in dynamodb.weights.iter().chain(&s3.weights) {
        assert!(
            report.injected.get(fault).copied().unwrap_or(0) > 0,
            "scenario {name} never injected {fault:?}: {report:?}"
        );
    }
    report
}

#[tokio::test]
async fn throttling_and_unprocessed_items_slow_the_writer_but_never_fail_it() {
    use Fault::{Latency, ProvisionedThroughputExceeded, Throttling, Unprocessed};
    let report = run_scenario(
        "dynamodb-throttling",
        &Faults::each(
            20,
            &[
                ProvisionedThroughputExceeded,
                Throttling,
                Unprocessed,
                Latency,
            ],
        ),
        &Faults::none(),
        &[],
    )
    .await;
    // Throttling is not a failure: with 3 attempts allowed for hard errors, every seed still
    // succeeds on its first invocation, however often it was throttled.
    assert_eq!(report.first_try_successes, report.seeds, "{report:?}");
}

#[tokio::test]
async fn server_errors_and_broken_connections_fail_loudly_and_converge() {
    use Fault::{Http500, Http503, Latency, ResetAfter, ResetBefore, Unprocessed};
    let report = run_scenario(
        "dynamodb-errors",
        &Faults::each(
            14,
            &[
                Http500,
                Http503,
                ResetBefore,
                ResetAfter,
                Unprocessed,
                Latency,
            ],
        ),
        &Faults::none(),
        &[("WRITE_MAX_ATTEMPTS", "2")],
    )
    .await;
    assert!(
        report.failed_invocations > 0,
        "the scenario should make some invocations fail: {report:?}"
    );
}

#[tokio::test]
async fn s3_slowdowns_resets_and_cut_bodies_fail_loudly_and_converge() {
    use Fault::{CutBody, Latency, ResetBefore, SlowDown};
    run_scenario(
        "s3-flaky",
        &Faults::none(),
        &Faults::each(25, &[SlowDown, CutBody, ResetBefore, Latency]),
        &[],
    )
    .await;
}

#[tokio::test]
async fn every_fault_at_once() {
    use Fault::{
        CutBody, Http500, Http503, Latency, ProvisionedThroughputExceeded, ResetAfter, ResetBefore,
        SlowDown, Throttling, Unprocessed,
    };
    run_scenario(
        "everything",
        &Faults::each(
            9,
            &[
                ProvisionedThroughputExceeded,
                Throttling,
                Http500,
                Http503,
                Unprocessed,
                ResetBefore,
                ResetAfter,
                Latency,
            ],
        ),
        &Faults::each(12, &[SlowDown, CutBody, ResetBefore, Latency]),
        &[],
    )
    .await;
}

#[tokio::test]
async fn endless_throttling_is_reported_before_the_lambda_deadline() {
    let base = baseline().await;
    let table = stack::fresh_table().await;
    let (ddb, s3p) = proxies(
        Faults::always(Fault::ProvisionedThroughputExceeded),
        Faults::none(),
        7,
    );
    let lambda = Lambda::start_with_env(
        &table,
        &env_with(
            &s3p,
            &ddb,
            &[("WRITE_MAX_ATTEMPTS", "2"), ("DEADLINE_MARGIN_MS", "2000")],
        ),
    );
    let budget = Duration::from_secs(7);
    let started = Instant::now();
    let error = lambda
        .invoke_with_budget(base.event.clone(), budget)
        .await
        .expect_err("cannot write while throttled");
    let took = started.elapsed();
    let message = error["errorMessage"].as_str().unwrap_or_default();
    assert!(
        took >= Duration::from_secs(4)
            && took
                < budget
                    .checked_sub(Duration::from_millis(1500))
                    .expect("a budget above 1.5 s"),
        "reported {took:?} into a {budget:?} budget with a 2 s margin: {error}\n{}",
        lambda.logs()
    );
    assert!(message.contains("deadline"), "{error}");
    assert!(
        message.contains(&format!("s3://{}/{LOG_KEY}", base.bucket)),
        "{error}"
    );
    assert!(
        message.contains("80 of 80 items were not written"),
        "{error}"
    );
    assert_eq!(error["errorType"], json!("WriteFailed"), "{error}");
    let calls = ddb.requests();
    assert!(
        calls > 2,
        "throttling does not count against WRITE_MAX_ATTEMPTS=2: {calls}"
    );
    assert!(table_items(&table).await.is_empty());
    // The throttling ends; Lambda's retry converges.
    ddb.heal();
    lambda
        .invoke_with_budget(base.event.clone(), budget)
        .await
        .unwrap_or_else(|e| panic!("after the throttling: {e}\n{}", lambda.logs()));
    assert_eq!(table_items(&table).await, base.items);
}

/// A log of `n` SetDesiredCapacity events on one group: many more than the item queue between
/// the parser and the writer holds.
fn many_events_log(n: usize) -> Vec<u8> {
    let records: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "eventVersion": "1.09", "eventSource": "autoscaling.amazonaws.com",
                "eventName": "SetDesiredCapacity", "awsRegion": "us-east-1",
                "eventTime": format!("2024-03-05T12:{:02}:{:02}Z", (i / 60) % 60, i % 60),
                "eventID": format!("0000beef-0000-4000-8000-{i:012}"), "readOnly": false,
                "recipientAccountId": ACCOUNT,
                "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{ACCOUNT}:user/ops")},
                "requestParameters": {"autoScalingGroupName": "many-asg", "desiredCapacity": i % 50}
            })
        })
        .collect();
    gzip(json!({ "Records": records }).to_string().as_bytes())
}

/// A log whose read-only calls all land on one partition (the account's, as kept read-only
/// calls do) next to changes of `groups` other groups: `describes` DescribeAutoScalingGroups
/// and 10 SetDesiredCapacity per group.
fn hot_account_log(describes: usize, groups: usize) -> Vec<u8> {
    let record = |i: usize, name: &str, read_only: bool, params: Value| {
        json!({
            "eventVersion": "1.09", "eventSource": "autoscaling.amazonaws.com",
            "eventName": name, "awsRegion": "us-east-1",
            "eventTime": format!("2024-03-05T{:02}:{:02}:{:02}Z", i / 3600, (i / 60) % 60, i % 60),
            "eventID": format!("0000feed-0000-4000-8000-{i:012}"), "readOnly": read_only,
            "recipientAccountId": ACCOUNT,
            "userIdentity": {"type": "AssumedRole", "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/ca/1")},
            "requestParameters": params
        })
    };
    let mut records: Vec<Value> = (0..describes)
        .map(|i| {
            let names: Vec<String> = (0..8).map(|g| format!("ng-{g}")).collect();
            record(
                i,
                "DescribeAutoScalingGroups",
                true,
                json!({"autoScalingGroupNames": names}),
            )
        })
        .collect();
    for g in 0..groups {
        for k in 0..10 {
            let params = json!({"autoScalingGroupName": format!("busy-{g}"), "desiredCapacity": k});
            records.push(record(
                describes + g * 10 + k,
                "SetDesiredCapacity",
                false,
                params,
            ));
        }
    }
    gzip(json!({ "Records": records }).to_string().as_bytes())
}

#[tokio::test]
async fn a_throttled_hot_partition_slows_its_file_and_loses_nothing() {
    // Read-only calls kept: each is one item in the account partition, the hottest key of a
    // busy account. DynamoDB holds one partition to its rate; here 40 items a second.
    let hot = format!(":account:{ACCOUNT}");
    let (describes, groups) = (200, 4);
    let bucket = stack::fresh_bucket().await;
    let gz = hot_account_log(describes, groups);
    stack::put_object(&bucket, LOG_KEY, gz.clone()).await;
    let event = notification(&bucket, LOG_KEY, gz.len());
    let table = stack::fresh_table().await;
    let (ddb, s3p) = proxies(Faults::none(), Faults::none(), 11);
    let keep_reads = [("EXCLUDE_READ_ONLY", "false"), ("WRITE_MAX_ATTEMPTS", "2")];
    let lambda = Lambda::start_with_env(&table, &env_with(&s3p, &ddb, &keep_reads));

    // At the ceiling: the writer backs off and retries the throttled items (throttling never
    // counts against WRITE_MAX_ATTEMPTS), the other partitions' items go through, and the
    // file succeeds, slower.
    ddb.throttle_partition(&hot, 40);
    let started = Instant::now();
    let response = lambda
        .invoke_with_budget(event.clone(), Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("a hot partition failed the file: {e}\n{}", lambda.logs()));
    let took = started.elapsed();
    let throttled = ddb.throttled_items();
    let items = table_items(&table).await;
    let total = describes + groups * 10;
    assert_eq!(response["itemsWritten"], json!(total), "{response}");
    assert_eq!(items.len(), total);
    assert_eq!(items.keys().filter(|(g, _)| *g == hot).count(), describes);
    assert!(throttled > 0, "the partition was never throttled");
    assert!(
        took >= Duration::from_secs(4),
        "200 items at 40 a second cannot take {took:?}"
    );
    eprintln!(
        "[faults] hot partition at 40 items/s: {total} items in {took:.1?}, {throttled} items turned back and retried"
    );
    ddb.assert_healthy();

    // Past the ceiling for longer than the invocation lasts: the file fails, naming itself,
    // before the deadline; what was written stays; Lambda's retry (here: the next invocation,
    // the throttling over) completes the table, with nothing twice.
    let table = stack::fresh_table().await;
    let lambda = Lambda::start_with_env(&table, &env_with(&s3p, &ddb, &keep_reads));
    ddb.throttle_partition(&hot, 5);
    let error = lambda
        .invoke_with_budget(event.clone(), Duration::from_secs(8))
        .await
        .expect_err("200 items at 5 a second do not fit in 8 s");
    assert_eq!(error["errorType"], json!("WriteFailed"), "{error}");
    let message = error["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("s3://{bucket}/{LOG_KEY}")),
        "{error}"
    );
    let partial = table_items(&table).await;
    assert!(partial.len() < total, "{} items", partial.len());
    ddb.heal();
    lambda
        .invoke(event.clone())
        .await
        .unwrap_or_else(|e| panic!("after the throttling: {e}\n{}", lambda.logs()));
    let after = table_items(&table).await;
    assert_eq!(after.len(), total);
    for (key, item) in &partial {
        assert_eq!(after.get(key), Some(item), "an item changed on the retry");
    }
}

/// The `records` count of the Lambda's `object failed` summary line.
fn records_of_failed_object(logs: &str) -> Option<u64> {
    logs.lines()
        .filter(|line| line.contains("object failed"))
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find_map(|v| {
            v.get("records")
                .or_else(|| v.get("fields").and_then(|f| f.get("records")))
                .and_then(Value::as_u64)
        })
}

#[tokio::test]
async fn throttling_past_the_deadline_on_a_big_file_is_a_write_failure_and_stops_the_reading() {
    const EVENTS: usize = 5000;
    let bucket = stack::fresh_bucket().await;
    let key = LOG_KEY.replace("Fault000", "Many0000");
    let gz = many_events_log(EVENTS);
    stack::put_object(&bucket, &key, gz.clone()).await;
    let event = notification(&bucket, &key, gz.len());
    let table = stack::fresh_table().await;
    let (ddb, s3p) = proxies(
        Faults::always(Fault::ProvisionedThroughputExceeded),
        Faults::none(),
        5,
    );
    let lambda = Lambda::start_with_env(
        &table,
        &env_with(&s3p, &ddb, &[("DEADLINE_MARGIN_MS", "2000")]),
    );
    let budget = Duration::from_secs(6);
    let started = Instant::now();
    let error = lambda
        .invoke_with_budget(event.clone(), budget)
        .await
        .expect_err("cannot write while throttled");
    let took = started.elapsed();
    assert!(
        took < budget
            .checked_sub(Duration::from_millis(1500))
            .expect("a budget above 1.5 s"),
        "reported {took:?} into a {budget:?} budget with a 2 s margin: {error}"
    );
    // The writes are what failed, not the reading: the parser waited on the full item queue.
    assert_eq!(
        error["errorType"],
        json!("WriteFailed"),
        "{error}\n{}",
        lambda.logs()
    );
    let message = error["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains("deadline"), "{error}");
    assert!(message.contains(&format!("s3://{bucket}/{key}")), "{error}");
    // After the failure the file was not read on: far fewer records than it holds.
    // The binary's output is captured as it comes: wait for the summary line.
    let line = lambda
        .wait_for_log_line(|l| l.contains("object failed"))
        .await;
    let records = records_of_failed_object(&line)
        .unwrap_or_else(|| panic!("no records in the `object failed` line:\n{line}"));
    assert!(
        records < EVENTS as u64 / 2,
        "the parser read {records} of {EVENTS} records after the writes had failed"
    );
    assert!(table_items(&table).await.is_empty());
    ddb.heal();
    lambda
        .invoke_with_budget(event, Duration::from_secs(120))
        .await
        .unwrap_or_else(|e| panic!("after the throttling: {e}\n{}", lambda.logs()));
    assert_eq!(table_items(&table).await.len(), EVENTS);
}

#[tokio::test]
async fn a_stalled_body_is_reported_before_the_lambda_deadline() {
    let base = baseline().await;
    let table = stack::fresh_table().await;
    let (ddb, s3p) = proxies(Faults::none(), Faults::always(Fault::StallBody), 11);
    let lambda = Lambda::start_with_env(
        &table,
        &env_with(&s3p, &ddb, &[("DEADLINE_MARGIN_MS", "2000")]),
    );
    let budget = Duration::from_secs(6);
    let started = Instant::now();
    let error = lambda
        .invoke_with_budget(base.event.clone(), budget)
        .await
        .expect_err("the body never ends");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(3)
            && took
                < budget
                    .checked_sub(Duration::from_millis(1500))
                    .expect("a budget above 1.5 s"),
        "reported {took:?} into a {budget:?} budget with a 2 s margin: {error}"
    );
    let message = error["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains("still reading when the invocation's deadline was near"),
        "{error}"
    );
    assert!(
        message.contains(&format!("s3://{}/{LOG_KEY}", base.bucket)),
        "{error}"
    );
    assert_eq!(error["errorType"], json!("ObjectReadFailed"), "{error}");
    s3p.heal();
    lambda
        .invoke(base.event.clone())
        .await
        .unwrap_or_else(|e| panic!("after the stall: {e}\n{}", lambda.logs()));
    assert_eq!(table_items(&table).await, base.items);
}

#[tokio::test]
async fn server_errors_stop_after_the_attempts_with_time_to_spare() {
    let base = baseline().await;
    let table = stack::fresh_table().await;
    let (ddb, s3p) = proxies(Faults::always(Fault::Http500), Faults::none(), 3);
    let lambda = Lambda::start_with_env(
        &table,
        &env_with(
            &s3p,
            &ddb,
            &[("WRITE_MAX_ATTEMPTS", "3"), ("WRITE_CONCURRENCY", "1")],
        ),
    );
    let started = Instant::now();
    let error = lambda
        .invoke(base.event.clone())
        .await
        .expect_err("the server keeps failing");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let message = error["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains("giving up after 3 failed call(s)")
            && message.contains("InternalServerError"),
        "{error}"
    );
    assert_eq!(
        ddb.requests(),
        3,
        "one batch, three calls, no SDK retries hidden inside"
    );
    ddb.assert_healthy();
}

#[tokio::test]
async fn an_object_deleted_before_it_is_read_is_logged_and_skipped() {
    let bucket = stack::fresh_bucket().await;
    let table = stack::fresh_table().await;
    let (gz, _) = fault_log();
    stack::put_object(&bucket, LOG_KEY, gz.clone()).await;
    stack::s3()
        .await
        .delete_object()
        .bucket(&bucket)
        .key(LOG_KEY)
        .send()
        .await
        .expect("delete the object");
    let lambda = Lambda::start(&table);
    let response = lambda
        .invoke(notification(&bucket, LOG_KEY, gz.len()))
        .await
        .unwrap_or_else(|e| panic!("a deleted object is no failure: {e}\n{}", lambda.logs()));
    assert_eq!(response["objectsSkipped"], json!(1), "{response}");
    assert_eq!(response["objectsIngested"], json!(0), "{response}");
    assert_eq!(response["itemsWritten"], json!(0), "{response}");
    let line = lambda
        .wait_for_log_line(|l| l.contains("NoSuchKey") && l.contains("skipped"))
        .await;
    assert!(line.contains(LOG_KEY) && line.contains(&bucket), "{line}");
    assert!(table_items(&table).await.is_empty());
    // The same answer injected on the wire for an object that is there: skipped the same way.
    stack::put_object(&bucket, LOG_KEY, gz.clone()).await;
    let (ddb, s3p) = proxies(Faults::none(), Faults::always(Fault::NoSuchKey), 5);
    let lambda = Lambda::start_with_env(&table, &env_with(&s3p, &ddb, &[]));
    let response = lambda
        .invoke(notification(&bucket, LOG_KEY, gz.len()))
        .await
        .unwrap_or_else(|e| panic!("NoSuchKey is no failure: {e}\n{}", lambda.logs()));
    assert_eq!(response["objectsSkipped"], json!(1), "{response}");
    assert_eq!(s3p.requests(), 1, "NoSuchKey is not retried");
    assert!(table_items(&table).await.is_empty());
}

#[tokio::test]
async fn access_denied_fails_naming_bucket_key_and_permission() {
    let base = baseline().await;
    let table = stack::fresh_table().await;
    let (ddb, s3p) = proxies(Faults::none(), Faults::always(Fault::AccessDenied), 1);
    let lambda = Lambda::start_with_env(&table, &env_with(&s3p, &ddb, &[]));
    let error = lambda
        .invoke(base.event.clone())
        .await
        .expect_err("access denied");
    let message = error["errorMessage"].as_str().unwrap_or_default();
    assert_eq!(error["errorType"], json!("ObjectAccessDenied"), "{error}");
    for part in [
        format!("s3://{}/{LOG_KEY}", base.bucket),
        format!("s3:GetObject on arn:aws:s3:::{}/{LOG_KEY}", base.bucket),
    ] {
        assert!(message.contains(&part), "{part} not in {message}");
    }
    assert!(table_items(&table).await.is_empty());
    // The permission is granted; the retry converges.
    s3p.heal();
    lambda
        .invoke(base.event.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", lambda.logs()));
    assert_eq!(table_items(&table).await, base.items);
}

#[tokio::test]
async fn the_same_object_delivered_twice_at_once_gives_the_table_of_one_delivery() {
    let base = baseline().await;
    let (seeds, _) = seeds_and_budget();
    for seed in 0..seeds.min(4) {
        let table = stack::fresh_table().await;
        // Latency and partial batches make the two writers interleave.
        let (ddb, s3p) = proxies(
            Faults::each(30, &[Fault::Latency, Fault::Unprocessed]),
            Faults::each(30, &[Fault::Latency]),
            100 + seed,
        );
        let env = env_with(&s3p, &ddb, &[]);
        let (a, b) = (
            Lambda::start_with_env(&table, &env),
            Lambda::start_with_env(&table, &env),
        );
        let (ra, rb) = tokio::join!(a.invoke(base.event.clone()), b.invoke(base.event.clone()));
        assert!(
            ra.is_ok() && rb.is_ok(),
            "seed {seed}: {ra:?} / {rb:?}\n{}\n{}",
            a.logs(),
            b.logs()
        );
        assert_eq!(table_items(&table).await, base.items, "seed {seed}");
        ddb.assert_healthy();
    }
}

// ------------------------------------------------------------------------------------------
// Hostile and broken input, through the real binary and DynamoDB Local.
// ------------------------------------------------------------------------------------------

/// What a corpus file must do: succeed with these event IDs stored (and this many rejected),
/// or fail with this error type and message part after storing these event IDs (`None`: some
/// prefix of them).
struct Case {
    file: &'static str,
    ok: bool,
    error: &'static str,
    stored: &'static [&'static str],
    rejected: u64,
}

const fn ok(file: &'static str, stored: &'static [&'static str], rejected: u64) -> Case {
    Case {
        file,
        ok: true,
        error: "",
        stored,
        rejected,
    }
}

const fn fails(file: &'static str, error: &'static str, stored: &'static [&'static str]) -> Case {
    Case {
        file,
        ok: false,
        error,
        stored,
        rejected: 0,
    }
}

#[tokio::test]
async fn lambda_handles_the_hostile_corpus() {
    let cases = [
        fails("corrupt.json.gz", "read failed (gzip)", &[]),
        fails(
            "not-json.json.gz",
            "not a CloudTrail log file (after gunzip)",
            &[],
        ),
        fails("empty.json.gz", "the file is empty", &[]),
        fails("gzip-of-nothing.json.gz", "EOF while parsing", &[]),
        fails("empty-document.json.gz", "missing field `Records`", &[]),
        fails("records-null.json.gz", "invalid type: null", &[]),
        fails("records-not-array.json.gz", "invalid type: map", &[]),
        fails(
            "huge-record.json.gz",
            "record 2 (counted from the end of the one before) is larger than 33554432 bytes (MAX_RECORD_BYTES)",
            &["good-0004"],
        ),
        ok("record-not-object.json.gz", &["good-0000"], 5),
        // The scanner bounds records without decoding their text: the bad record alone is lost.
        ok("invalid-utf8.json.gz", &["good-0000", "good-0001"], 1),
        // eventSource 7 cannot be Auto Scaling: passed over unparsed, the 5 others rejected.
        ok("wrong-types.json.gz", &["good-0001"], 5),
        ok(
            "deep-nesting.json.gz",
            &["good-0000", "deep-params", "good-0001"],
            0,
        ),
        ok(
            "dynamodb-unstorable.json.gz",
            &["params-40-deep", "params-empty-key", "good-0002"],
            0,
        ),
        ok(
            "oversized-item.json.gz",
            &["good-0003", "oversized-item"],
            0,
        ),
        ok(
            "key-limits.json.gz",
            &["pk-2048", "pk-2048-utf8", "good-0005", "<1003 s>"],
            2,
        ),
    ];
    let bucket = stack::fresh_bucket().await;
    let dir = stack::repo_root().join("tests/fixtures/bad");
    for case in &cases {
        let bytes = std::fs::read(dir.join(case.file)).expect(case.file);
        let key = format!(
            "AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/03/05/{}",
            case.file
        );
        stack::put_object(&bucket, &key, bytes).await;
        let table = stack::fresh_table().await;
        let lambda = Lambda::start(&table);
        // The notification's size is never 0 here (an empty object is skipped by its size
        // otherwise): it claims the object has bytes.
        let outcome = lambda.invoke(notification(&bucket, &key, 100)).await;
        let context = || format!("{}: {outcome:?}\n{}", case.file, lambda.logs());
        let items = table_items(&table).await;
        let mut ids: Vec<String> = items
            .values()
            .map(|i| {
                let id = i["eventID"].as_str().unwrap_or_default();
                if id.len() > 100 {
                    format!("<{} s>", id.len())
                } else {
                    id.to_owned()
                }
            })
            .collect();
        ids.sort();
        let mut want: Vec<String> = case.stored.iter().map(|s| (*s).to_owned()).collect();
        want.sort();
        assert_eq!(ids, want, "{}", context());
        match &outcome {
            Ok(response) if case.ok => {
                assert_eq!(response["rejected"], json!(case.rejected), "{}", context());
            }
            Err(error) if !case.ok => {
                let message = error["errorMessage"].as_str().unwrap_or_default();
                assert!(message.contains(case.error), "{}", context());
                assert!(
                    message.contains(&format!("s3://{bucket}/{key}")),
                    "{}",
                    context()
                );
            }
            _ => panic!("unexpected outcome: {}", context()),
        }
        let omitted = |id: &str| -> Value {
            items
                .values()
                .find(|i| i["eventID"] == json!(id))
                .map(|i| i["omitted"].clone())
                .unwrap_or_default()
        };
        match case.file {
            "deep-nesting.json.gz" => assert_eq!(
                omitted("deep-params"),
                json!({"requestParameters": {"reason": "nested deeper than DynamoDB's 32 levels", "bytes": 30003}}),
                "{}",
                context()
            ),
            "dynamodb-unstorable.json.gz" => {
                assert_eq!(
                    omitted("params-40-deep")["requestParameters"]["reason"],
                    json!("nested deeper than DynamoDB's 32 levels")
                );
                assert_eq!(
                    omitted("params-empty-key")["requestParameters"]["reason"],
                    json!("a map key is empty, which DynamoDB cannot store")
                );
            }
            "oversized-item.json.gz" => {
                let item = items
                    .values()
                    .find(|i| i["eventID"] == json!("oversized-item"))
                    .expect("stored");
                assert!(item.get("responseElements").is_none(), "{}", context());
                assert_eq!(
                    item["requestParameters"]["autoScalingGroupName"],
                    json!("bad-corpus-asg")
                );
                let bytes = omitted("oversized-item")["responseElements"]["bytes"].as_u64();
                assert!(
                    bytes.is_some_and(|b| b > 600_000 && b < 600_100),
                    "{}",
                    context()
                );
            }
            _ => {}
        }
    }
}

/// `members` gzip members of `block` spaces, the first opening a delivery document with one
/// event: a few KB that inflate to `members * block` bytes.
fn bomb(members: usize, block: usize) -> Vec<u8> {
    let mut head = br#"{"Records":[{"eventSource":"autoscaling.amazonaws.com","eventName":"SetDesiredCapacity","eventTime":"2024-03-05T12:00:00Z","eventID":"before-the-bomb","recipientAccountId":"123456789012","requestParameters":{"autoScalingGroupName":"bomb-asg"}}"#.to_vec();
    head.resize(block, b' ');
    let mut out = gzip(&head);
    let spaces = gzip(&vec![b' '; block]);
    for _ in 1..members {
        out.extend_from_slice(&spaces);
    }
    out
}

#[tokio::test]
async fn a_decompression_bomb_stops_at_the_limit_without_eating_memory() {
    // 1 GiB of whitespace in about 1 MB; the limit set to 16 MiB for speed (the default is
    // 2 GiB: what matters is that reading stops there and nothing is held). Under
    // MAX_RECORD_BYTES (32 MiB), so that it is the decompression limit that stops it.
    let gz = bomb(1024, 1 << 20);
    assert!(gz.len() < 2 << 20, "{}", gz.len());
    let bucket = stack::fresh_bucket().await;
    let table = stack::fresh_table().await;
    let key = format!("AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/03/05/bomb.json.gz");
    stack::put_object(&bucket, &key, gz.clone()).await;
    let lambda = Lambda::start_with_env(&table, &[("MAX_DECOMPRESSED_BYTES", "16777216")]);
    let error = lambda
        .invoke(notification(&bucket, &key, gz.len()))
        .await
        .expect_err("the bomb is refused");
    let message = error["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("s3://{bucket}/{key}"))
            && message
                .contains("decompresses to more than 16777216 bytes (MAX_DECOMPRESSED_BYTES)"),
        "{error}"
    );
    let peak = lambda.peak_rss_kib();
    assert!(
        peak < 150 * 1024,
        "peak RSS {peak} KiB while reading a bomb"
    );
    let items = table_items(&table).await;
    assert_eq!(items.len(), 1, "the event before the bomb is stored");
}
