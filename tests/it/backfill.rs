//! `asg-trail backfill` (the real CLI) against moto S3 and DynamoDB Local: several days,
//! regions, accounts and an organization trail; `--since`/`--until` honoured; digest, empty and
//! out-of-range objects left alone, AWS Config's folders counted and never entered; a checkpoint that makes a second run skip what the first
//! ingested; a failed object listed and exit status 1; Ctrl-C that stops cleanly and resumes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::e2e::{assert_items, describe, generated, gzip, run_cli};
use crate::stack;

const PREFIX: &str = "trail logs";

/// A log file of `n` SetDesiredCapacity calls numbered from `first`, and its items.
fn log_file(bucket: &str, key: &str, first: usize, n: usize) -> (Vec<u8>, Vec<Value>) {
    let source = format!("s3://{bucket}/{key}");
    let (records, items): (Vec<Value>, Vec<Value>) =
        (first..first + n).map(|i| generated(i, &source)).unzip();
    (
        gzip(json!({ "Records": records }).to_string().as_bytes()),
        items,
    )
}

fn key(account_path: &str, region: &str, day: &str, name: &str) -> String {
    format!("{PREFIX}/AWSLogs/{account_path}/CloudTrail/{region}/{day}/{name}.json.gz")
}

fn checkpoint_path(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("it-backfill");
    std::fs::create_dir_all(&dir).expect("checkpoint folder");
    let path = dir.join(format!("{name}-{}.txt", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

fn checkpoint_entries(path: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Uploads the layout and returns the items of each day's files, by day.
async fn upload_layout(bucket: &str) -> Vec<(&'static str, String, Vec<Value>)> {
    let files = [
        ("2024/03/04", "123456789012", "us-east-1", "a"),
        ("2024/03/05", "123456789012", "us-east-1", "b"),
        ("2024/03/05", "123456789012", "eu-west-1", "c"),
        ("2024/03/06", "123456789012", "us-east-1", "d"),
        ("2024/03/06", "o-abc123def4/111111111111", "us-west-2", "e"),
        ("2024/02/29", "123456789012", "us-east-1", "f"),
    ];
    let mut out = Vec::new();
    for (i, (day, account, region, name)) in files.iter().enumerate() {
        let key = key(account, region, day, name);
        let (bytes, items) = log_file(bucket, &key, i * 10, 3 + i);
        stack::put_object(bucket, &key, bytes).await;
        out.push((*day, key, items));
    }
    // Never ingested: a digest file (garbage: it must not even be read), an empty object, a
    // non-log file.
    stack::put_object(
        bucket,
        &format!("{PREFIX}/AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/03/05/d.json.gz"),
        b"not a log".to_vec(),
    )
    .await;
    stack::put_object(
        bucket,
        &key("123456789012", "us-east-1", "2024/03/05", "empty"),
        Vec::new(),
    )
    .await;
    stack::put_object(
        bucket,
        &format!("{PREFIX}/AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05/notes.txt"),
        b"hello".to_vec(),
    )
    .await;
    out
}

fn items_of(files: &[(&str, String, Vec<Value>)], days: &[&str]) -> Vec<Value> {
    files
        .iter()
        .filter(|(d, _, _)| days.contains(d))
        .flat_map(|(_, _, items)| items.clone())
        .collect()
}

#[tokio::test]
async fn backfill_lists_only_the_days_asked_for_and_resumes_from_its_checkpoint() {
    let bucket = stack::fresh_bucket().await;
    let files = upload_layout(&bucket).await;
    let checkpoint = checkpoint_path("resume");
    let ckpt = checkpoint.to_string_lossy().into_owned();
    let location = format!("s3://{bucket}/{PREFIX}");

    let first = stack::fresh_table().await;
    let args = [
        "backfill",
        "--table",
        &first,
        &location,
        "--since",
        "2024-03-05",
        "--until",
        "2024-03-05",
        "--checkpoint",
        &ckpt,
        "--progress-every",
        "0",
    ];
    let out = run_cli(&args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let mut want = items_of(&files, &["2024/03/05"]);
    want.sort_by_key(crate::e2e::key_of);
    assert_items(stack::scan_all(&first).await, &want, &|| {
        describe(&args, &out)
    });
    let day5: BTreeSet<String> = files
        .iter()
        .filter(|(d, _, _)| *d == "2024/03/05")
        .map(|(_, k, _)| format!("s3://{bucket}/{k}"))
        .collect();
    assert_eq!(checkpoint_entries(&checkpoint), day5);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("ingested  2 of 2 objects"),
        "{}",
        describe(&args, &out)
    );
    assert!(
        stderr.contains("progress: 2/2 objects (100%)"),
        "plain progress lines when stderr is not a terminal\n{}",
        describe(&args, &out)
    );

    // Wider range, same checkpoint, another table: the 03/05 files are skipped, so the new
    // table holds only the other days' items.
    let second = stack::fresh_table().await;
    let args = [
        "backfill",
        "--table",
        &second,
        &location,
        "--since",
        "2024-03-04",
        "--until",
        "2024-03-06",
        "--checkpoint",
        &ckpt,
        "--concurrency",
        "3",
    ];
    let out = run_cli(&args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let mut want = items_of(&files, &["2024/03/04", "2024/03/06"]);
    want.sort_by_key(crate::e2e::key_of);
    assert_items(stack::scan_all(&second).await, &want, &|| {
        describe(&args, &out)
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("resumed   2 already ingested")
            && stdout.contains("ingested  3 of 3 objects")
            && stdout.contains("5 log files in 5 day folder(s)"),
        "{}",
        describe(&args, &out)
    );
    assert_eq!(checkpoint_entries(&checkpoint).len(), 5);

    // --dry-run prints an S3 Batch Operations manifest (bucket,key URL-encoded) and writes
    // nothing.
    let args = [
        "backfill",
        "--table",
        "no-such-table",
        &location,
        "--since",
        "2024-03-06",
        "--dry-run",
    ];
    let out = run_cli(&args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let manifest = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut want: Vec<String> = files
        .iter()
        .filter(|(d, _, _)| *d == "2024/03/06")
        .map(|(_, k, _)| format!("{bucket},{}", k.replace(' ', "%20")))
        .collect();
    want.sort();
    assert_eq!(
        manifest.lines().collect::<Vec<_>>(),
        want,
        "{}",
        describe(&args, &out)
    );

    // Open range, no checkpoint: everything, February included.
    let third = stack::fresh_table().await;
    let args = ["backfill", "--table", &third, &location];
    let out = run_cli(&args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let mut want: Vec<Value> = files.iter().flat_map(|(_, _, i)| i.clone()).collect();
    want.sort_by_key(crate::e2e::key_of);
    assert_items(stack::scan_all(&third).await, &want, &|| {
        describe(&args, &out)
    });
}

#[tokio::test]
async fn a_failed_object_is_listed_not_checkpointed_and_fails_the_run() {
    let bucket = stack::fresh_bucket().await;
    let table = stack::fresh_table().await;
    let good = key("123456789012", "us-east-1", "2024/03/05", "good");
    let bad = key("123456789012", "us-east-1", "2024/03/05", "bad");
    let (bytes, items) = log_file(&bucket, &good, 0, 4);
    stack::put_object(&bucket, &good, bytes).await;
    stack::put_object(&bucket, &bad, b"{\"Records\": [ this is not json".to_vec()).await;
    let checkpoint = checkpoint_path("failure");
    let ckpt = checkpoint.to_string_lossy().into_owned();
    let location = format!("s3://{bucket}/{PREFIX}/AWSLogs/123456789012/");
    let args = [
        "backfill",
        "--table",
        &table,
        &location,
        "--checkpoint",
        &ckpt,
    ];
    let out = run_cli(&args);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&args, &out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("FAILED    1 object(s):")
            && stdout.contains(&format!("s3://{bucket}/{bad}")),
        "{}",
        describe(&args, &out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 of 2 object(s) failed"),
        "{}",
        describe(&args, &out)
    );
    assert_eq!(
        checkpoint_entries(&checkpoint),
        BTreeSet::from([format!("s3://{bucket}/{good}")])
    );
    assert_items(stack::scan_all(&table).await, &items, &|| {
        describe(&args, &out)
    });
}

#[tokio::test]
async fn ctrl_c_stops_cleanly_and_the_next_run_resumes() {
    const FILES: usize = 60;
    let bucket = stack::fresh_bucket().await;
    let table = stack::fresh_table().await;
    let mut all = Vec::new();
    for i in 0..FILES {
        let k = key(
            "123456789012",
            "us-east-1",
            "2024/03/05",
            &format!("f{i:03}"),
        );
        let (bytes, items) = log_file(&bucket, &k, i * 2, 2);
        stack::put_object(&bucket, &k, bytes).await;
        all.extend(items);
    }
    let checkpoint = checkpoint_path("interrupt");
    let ckpt = checkpoint.to_string_lossy().into_owned();
    let location = format!("s3://{bucket}/{PREFIX}");
    let args = [
        "backfill",
        "--table",
        &table,
        &location,
        "--checkpoint",
        &ckpt,
        "--concurrency",
        "1",
    ];

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_asg-trail"));
    for k in stack::env_to_clear() {
        cmd.env_remove(k);
    }
    let child = cmd
        .args(args)
        .envs(stack::env_for_binaries())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the CLI");
    let deadline = Instant::now() + Duration::from_secs(60);
    while checkpoint_entries(&checkpoint).len() < 3 {
        assert!(
            Instant::now() < deadline,
            "no progress in the checkpoint within 60 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait for the CLI");
    assert_eq!(
        out.status.code(),
        Some(130),
        "an interrupted run exits 130\n{}",
        describe(&args, &out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("STOPPED   by Ctrl-C") && stdout.contains("--checkpoint"),
        "{}",
        describe(&args, &out)
    );
    let done = checkpoint_entries(&checkpoint).len();
    assert!(
        (3..FILES).contains(&done),
        "the run should stop part-way: {done} of {FILES} done\n{}",
        describe(&args, &out)
    );
    eprintln!("[it] interrupted after {done} of {FILES} objects");

    let out = run_cli(&args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rest = FILES - done;
    assert!(
        stdout.contains(&format!("resumed   {done} already ingested"))
            && stdout.contains(&format!("ingested  {rest} of {rest} objects")),
        "{}",
        describe(&args, &out)
    );
    assert_eq!(checkpoint_entries(&checkpoint).len(), FILES);
    all.sort_by_key(crate::e2e::key_of);
    assert_items(stack::scan_all(&table).await, &all, &|| {
        describe(&args, &out)
    });
}

/// An organization trail's bucket often holds AWS Config's files too, beside `CloudTrail/`:
/// backfill stores the trail's events, counts Config's folders as skipped (the same rule and
/// reason as the Lambda's) and never enters them.
#[tokio::test]
async fn backfill_stores_the_trail_and_counts_aws_config_as_skipped() {
    let bucket = stack::fresh_bucket().await;
    let table = stack::fresh_table().await;
    let config = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/aws-config-history.json.gz"
    ))
    .expect("the AWS Config fixture");
    let mut want = Vec::new();
    for (i, account) in ["123456789012", "o-abc123def4/111111111111"]
        .iter()
        .enumerate()
    {
        let k = key(account, "us-east-1", "2024/03/05", &format!("t{i}"));
        let (bytes, items) = log_file(&bucket, &k, i * 10, 3);
        stack::put_object(&bucket, &k, bytes).await;
        want.extend(items);
        let folder = format!("{PREFIX}/AWSLogs/{account}/Config");
        let id = account.rsplit('/').next().unwrap_or_default();
        for file in [
            format!(
                "us-east-1/2024/3/5/ConfigHistory/{id}_Config_us-east-1_ConfigHistory_AWS::AutoScaling::AutoScalingGroup_20240305T142331Z_20240305T142331Z_1.json.gz"
            ),
            format!(
                "us-east-1/2024/3/5/ConfigSnapshot/{id}_Config_us-east-1_ConfigSnapshot_20240305T142331Z_0b1c2d3e-1111-2222-3333-444455556666.json.gz"
            ),
            "ConfigWritabilityCheckFile".to_owned(),
        ] {
            stack::put_object(&bucket, &format!("{folder}/{file}"), config.clone()).await;
        }
    }
    let location = format!("s3://{bucket}/{PREFIX}");
    let args = ["backfill", "--table", &table, &location];
    let out = crate::e2e::run_cli_with_env(&args, &[("RUST_LOG", "info")]);
    assert!(out.status.success(), "{}", describe(&args, &out));
    want.sort_by_key(crate::e2e::key_of);
    assert_items(stack::scan_all(&table).await, &want, &|| {
        describe(&args, &out)
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("listed    2 log files in 2 day folder(s)")
            && stdout.contains("ingested  2 of 2 objects")
            && stdout.contains(
                "skipped   0 object(s) that are not log files; 2 folder(s) not entered (2 config_file)"
            ),
        "{}",
        describe(&args, &out)
    );
    // Each folder left is named with the reason's words, and nothing below it was listed.
    let stderr = String::from_utf8_lossy(&out.stderr);
    for account in ["123456789012", "o-abc123def4/111111111111"] {
        let prefix = format!("{PREFIX}/AWSLogs/{account}/Config/");
        assert!(
            stderr.lines().any(|l| l.contains("folder not entered")
                && l.contains(&prefix)
                && l.contains("an AWS Config file")),
            "{}",
            describe(&args, &out)
        );
    }
    assert!(
        !stderr.contains("ConfigHistory"),
        "{}",
        describe(&args, &out)
    );
}
