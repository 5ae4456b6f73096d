//! `asg-trail query` and `asg-trail changes` (the real CLI) against DynamoDB Local with the
//! template's GSIs: by group with filters, across groups by event name (byEventName) and by
//! principal (byUser), and a group's change history. The table is seeded directly with the
//! hand-written contract items, so these tests do not depend on ingestion.

use crate::e2e::{describe, expected_items, generated, json_lines, run_cli, seed};
use crate::stack;

const SOURCE: &str =
    "s3://acme-cloudtrail-logs/AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05/x.json.gz";
const DEPLOY_BOT: &str = "arn:aws:iam::123456789012:user/deploy-bot";

/// The contract's six items plus three SetDesiredCapacity calls by deploy-bot on
/// batch-asg-0..2 at 12:00:00..02.
async fn seeded() -> String {
    let table = stack::fresh_table().await;
    let mut items = expected_items(SOURCE);
    items.extend((0..3).map(|i| generated(i, SOURCE).1));
    seed(&table, &items).await;
    table
}

/// Runs the CLI with `--output json` and returns (groupName, eventName, eventTime) per line,
/// after checking the lines are in time order (ascending, or descending with
/// `--newest-first`). Events of the same time are sorted by group: the order of items with equal
/// sort keys in an index is not defined (a call naming two groups is one item per group).
fn events(args: &[&str]) -> Vec<(String, String, String)> {
    let got = events_as_printed(args);
    let times: Vec<&String> = got.iter().map(|e| &e.2).collect();
    let mut sorted = times.clone();
    sorted.sort();
    if args.contains(&"--newest-first") {
        sorted.reverse();
    }
    assert_eq!(times, sorted, "not in time order: {args:?}");
    let mut got = got;
    got.sort_by(|a, b| {
        let by_time = if args.contains(&"--newest-first") {
            b.2.cmp(&a.2)
        } else {
            a.2.cmp(&b.2)
        };
        by_time.then_with(|| a.0.cmp(&b.0))
    });
    got
}

fn events_as_printed(args: &[&str]) -> Vec<(String, String, String)> {
    let mut args = args.to_vec();
    args.extend(["--output", "json"]);
    let out = run_cli(&args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    json_lines(&args, &out)
        .iter()
        .map(|v| {
            let s = |n: &str| v[n].as_str().unwrap_or_default().to_owned();
            (s("groupName"), s("eventName"), s("eventTime"))
        })
        .collect()
}

fn ev(group: &str, name: &str, time: &str) -> (String, String, String) {
    (group.to_owned(), name.to_owned(), time.to_owned())
}

#[tokio::test]
async fn query_by_event_name_reads_every_group_through_the_index() {
    let table = seeded().await;
    let t = table.as_str();
    let all = vec![
        ev("web-asg", "SetDesiredCapacity", "2024-03-05T11:58:07Z"),
        ev("batch-asg-0", "SetDesiredCapacity", "2024-03-05T12:00:00Z"),
        ev("batch-asg-1", "SetDesiredCapacity", "2024-03-05T12:00:01Z"),
        ev("batch-asg-2", "SetDesiredCapacity", "2024-03-05T12:00:02Z"),
    ];
    assert_eq!(
        events(&["query", "--table", t, "--event-name", "SetDesiredCapacity"]),
        all
    );
    assert_eq!(
        events(&[
            "query",
            "--table",
            t,
            "--event-name",
            "SetDesiredCapacity",
            "--since",
            "2024-03-05T12:00:01Z"
        ]),
        all[2..]
    );
    assert_eq!(
        events(&[
            "query",
            "--table",
            t,
            "--event-name",
            "SetDesiredCapacity",
            "--until",
            "2024-03-04"
        ]),
        []
    );
    // A name (not an ARN) filters the index's partition, exactly.
    assert_eq!(
        events(&[
            "query",
            "--table",
            t,
            "--event-name",
            "UpdateAutoScalingGroup",
            "--user",
            "alice@example.com"
        ]),
        [ev(
            "web-asg",
            "UpdateAutoScalingGroup",
            "2024-03-05T11:58:07Z"
        )]
    );
}

#[tokio::test]
async fn query_by_user_arn_reads_the_user_index_with_limit_and_order() {
    let table = seeded().await;
    let t = table.as_str();
    // CreateOrUpdateTags names two groups: one item per group, so it shows once per group.
    let all = vec![
        ev("api-asg", "CreateOrUpdateTags", "2024-03-05T11:57:30Z"),
        ev("web-asg", "CreateOrUpdateTags", "2024-03-05T11:57:30Z"),
        ev("web-asg", "SetDesiredCapacity", "2024-03-05T11:58:07Z"),
        ev(
            "web-asg",
            "TerminateInstanceInAutoScalingGroup",
            "2024-03-05T11:59:02Z",
        ),
        ev("api-asg", "PutScalingPolicy", "2024-03-05T11:59:58Z"),
        ev("batch-asg-0", "SetDesiredCapacity", "2024-03-05T12:00:00Z"),
        ev("batch-asg-1", "SetDesiredCapacity", "2024-03-05T12:00:01Z"),
        ev("batch-asg-2", "SetDesiredCapacity", "2024-03-05T12:00:02Z"),
    ];
    assert_eq!(events(&["query", "--table", t, "--user", DEPLOY_BOT]), all);
    assert_eq!(
        events(&["query", "--table", t, "--user", DEPLOY_BOT, "--limit", "2"]),
        all[..2]
    );
    assert_eq!(
        events(&[
            "query",
            "--table",
            t,
            "--user",
            DEPLOY_BOT,
            "--newest-first",
            "--limit",
            "1"
        ]),
        [all[7].clone()]
    );
    assert_eq!(
        events(&[
            "query",
            "--table",
            t,
            "--user",
            DEPLOY_BOT,
            "--event-name",
            "PutScalingPolicy"
        ]),
        [all[4].clone()]
    );
    // A user name alone has no index: a clear error, never a scan.
    let args = ["query", "--table", t, "--user", "deploy-bot"];
    let out = run_cli(&args);
    assert!(!out.status.success(), "{}", describe(&args, &out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not an ARN") && stderr.contains("--group"),
        "{}",
        describe(&args, &out)
    );
}

#[tokio::test]
async fn query_a_group_with_filters_and_formats() {
    let table = seeded().await;
    let t = table.as_str();
    let web = |extra: &[&str]| {
        let mut args = vec!["query", "--table", t, "--group", "web-asg"];
        args.extend(extra);
        events(&args)
    };
    let update = ev("web-asg", "UpdateAutoScalingGroup", "2024-03-05T11:58:07Z");
    let suspend = ev("web-asg", "SuspendProcesses", "2024-03-05T11:52:40Z");
    // By the role's name and by the session name, the same two calls.
    assert_eq!(
        web(&["--user", "ops-admin"]),
        [suspend.clone(), update.clone()]
    );
    assert_eq!(
        web(&["--user", "alice@example.com"]),
        [suspend.clone(), update.clone()]
    );
    assert_eq!(
        web(&[
            "--user",
            "arn:aws:sts::123456789012:assumed-role/ops-admin/alice@example.com",
            "--event-name",
            "UpdateAutoScalingGroup"
        ]),
        [update]
    );
    assert_eq!(
        web(&["--account", "123456789012", "--region", "us-east-1"]).len(),
        5
    );
    assert_eq!(web(&["--account", "999999999999"]), []);
    assert_eq!(web(&["--region", "eu-west-1"]), []);
    assert_eq!(web(&["--errors-only"]), []);
    assert_eq!(
        events(&["query", "--table", t, "--group", "api-asg", "--errors-only"]),
        [ev(
            "api-asg",
            "StartInstanceRefresh",
            "2024-03-05T11:59:41Z"
        )]
    );

    let args = [
        "query", "--table", t, "--group", "web-asg", "--output", "csv",
    ];
    let out = run_cli(&args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let csv = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 6, "header + 5 events:\n{csv}");
    assert_eq!(
        lines[0],
        "eventTime,groupName,eventName,accountId,awsRegion,userName,userArn,errorCode,errorMessage,sourceIPAddress,eventID,requestParameters"
    );
    assert!(
        lines[1].starts_with(
            "2024-03-05T11:52:40Z,web-asg,SuspendProcesses,123456789012,us-east-1,ops-admin,"
        ),
        "{csv}"
    );

    let args = ["query", "--table", t, "--group", "web-asg"];
    let out = run_cli(&args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let header = text.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("EVENT TIME") && header.contains("GROUP") && header.contains("WHO"),
        "{text}"
    );
    assert!(
        header.contains("  ACCOUNT  ") && header.contains("  REGION  "),
        "{text}"
    );
    assert!(
        text.lines()
            .skip(1)
            .all(|l| l.contains("  123456789012  us-east-1  ")),
        "{text}"
    );
    assert!(
        text.contains("ops-admin via cloudformation.amazonaws.com"),
        "{text}"
    );
}

#[tokio::test]
async fn changes_show_what_each_call_set_who_and_whether_it_failed() {
    let table = seeded().await;
    let t = table.as_str();
    let args = ["changes", "--table", t, "--group", "web-asg"];
    let out = run_cli(&args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("[it] asg-trail changes --group web-asg:\n{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 7, "heading + header + 5 changes:\n{text}");
    assert_eq!(
        lines[0], "web-asg (account 123456789012, region us-east-1): 5 changes",
        "{text}"
    );
    assert!(
        lines[1].starts_with("TIME") && lines[1].ends_with("WHAT IT SET"),
        "{text}"
    );
    assert!(
        lines[2].contains("SuspendProcesses")
            && lines[2].contains("scalingProcesses=AZRebalance,ReplaceUnhealthy"),
        "{text}"
    );
    let update = lines
        .iter()
        .find(|l| l.contains("UpdateAutoScalingGroup"))
        .expect("the update");
    assert!(
        update.contains("minSize=2 maxSize=6 desiredCapacity=2")
            && update.contains("mixedInstancesPolicy.launchTemplate=lt-097cdbb748360216c:7")
            && update.contains(" ok ")
            && update.contains("ops-admin via cloudformation.amazonaws.com"),
        "{text}"
    );
    let tags = lines
        .iter()
        .find(|l| l.contains("CreateOrUpdateTags"))
        .expect("the tags");
    assert!(
        tags.contains(
            "tags=web-asg/cost-center=cc-1234,api-asg/cost-center=cc-1234,web-asg/owner=platform"
        ),
        "{text}"
    );
    let set = lines
        .iter()
        .find(|l| l.contains("SetDesiredCapacity"))
        .expect("the set");
    assert!(
        set.contains("desiredCapacity=3") && set.contains("deploy-bot"),
        "{text}"
    );

    let args = [
        "changes", "--table", t, "--group", "api-asg", "--output", "json",
    ];
    let out = run_cli(&args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let changes = json_lines(&args, &out);
    let names: Vec<&str> = changes
        .iter()
        .map(|c| c["eventName"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        [
            "CreateOrUpdateTags",
            "StartInstanceRefresh",
            "PutScalingPolicy"
        ],
        "{changes:?}"
    );
    let refresh = changes
        .iter()
        .find(|c| c["eventName"] == "StartInstanceRefresh")
        .expect("the refresh");
    assert_eq!(
        refresh["errorCode"], "InstanceRefreshInProgress",
        "{refresh}"
    );
    let policy = changes
        .iter()
        .find(|c| c["eventName"] == "PutScalingPolicy")
        .expect("the policy");
    let set: Vec<(String, String)> =
        serde_json::from_value(policy["set"].clone()).expect("set pairs");
    assert!(
        set.contains(&("policyName".to_owned(), "cpu50".to_owned())),
        "{policy}"
    );
}

#[tokio::test]
async fn prune_read_only_deletes_only_the_read_only_calls_kept_forever() {
    let table = stack::fresh_table().await;
    let item = |group: &str, id: &str, extra: serde_json::Value| {
        let mut v = serde_json::json!({
            "groupName": group, "eventKey": format!("2024-03-05T12:00:00Z#{id}"),
            "eventTime": "2024-03-05T12:00:00Z", "eventID": id, "origin": "api",
            "accountId": "123456789012", "sourceObject": SOURCE,
        });
        v.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        v
    };
    let describe_call =
        serde_json::json!({"eventName": "DescribeAutoScalingGroups", "readOnly": true});
    let mut kept_describe = describe_call.clone();
    kept_describe["expiresAt"] = serde_json::json!(1_717_416_000);
    let items = [
        // Written by the previous release: one per group named, kept forever.
        item("web-asg", "old-1", describe_call.clone()),
        item("api-asg", "old-1", describe_call.clone()),
        item(":account:123456789012", "old-2", describe_call),
        // Kept by this release: an expiry of its own.
        item(":account:123456789012", "new-1", kept_describe),
        // A change, and an activity (no readOnly at all).
        item(
            "web-asg",
            "change",
            serde_json::json!({"eventName": "SetDesiredCapacity", "readOnly": false}),
        ),
        item(
            "web-asg",
            "activity",
            serde_json::json!({"eventName": "EC2 Instance Launch Successful", "origin": "activity"}),
        ),
    ];
    seed(&table, &items).await;
    let keys = |rows: Vec<serde_json::Value>| -> Vec<String> {
        let mut k: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "{} {}",
                    r["groupName"].as_str().unwrap_or(""),
                    r["eventID"].as_str().unwrap_or("")
                )
            })
            .collect();
        k.sort();
        k
    };

    let args = ["prune-read-only", "--table", &table, "--dry-run"];
    let out = run_cli(&args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        said.contains("6 items scanned; would delete 3 read-only calls"),
        "{said}"
    );
    assert_eq!(
        stack::scan_all(&table).await.len(),
        6,
        "a dry run deletes nothing"
    );

    let args = ["prune-read-only", "--table", &table];
    let out = run_cli(&args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        said.contains("deleted 3 of 3 read-only calls without expiresAt"),
        "{said}"
    );
    assert_eq!(
        keys(stack::scan_all(&table).await),
        [
            ":account:123456789012 new-1",
            "web-asg activity",
            "web-asg change"
        ]
    );
}

/// `asg-trail ARGS`, which must succeed, and its stdout.
fn stdout_of(args: &[&str]) -> String {
    let out = run_cli(args);
    assert!(out.status.success(), "{}", describe(args, &out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn changes_and_query_name_each_group_of_a_name_by_account_and_region() {
    let table = stack::fresh_table().await;
    seed(&table, &crate::timeline::two_groups()).await;
    let t = table.as_str();
    let changes = ["changes", "--table", t, "--group", "web-asg"];
    let text = stdout_of(&changes);
    let sections: Vec<&str> = text.split("\n\n").collect();
    assert_eq!(sections.len(), 2, "{text}");
    // The groups' activities are the timeline's, never changes.
    assert!(!text.contains("EC2 Instance"), "{text}");
    assert!(
        sections[0].starts_with("web-asg (account 111111111111, region us-east-1): "),
        "{text}"
    );
    assert!(
        sections[1].starts_with("web-asg (account 222222222222, region eu-west-1): "),
        "{text}"
    );
    for (section, own, other) in [
        (sections[0], "desiredCapacity=12", "desiredCapacity=3 "),
        (sections[1], "desiredCapacity=3 ", "desiredCapacity=12"),
    ] {
        assert!(section.contains(own) && !section.contains(other), "{text}");
    }

    let csv_text = stdout_of(&[&changes[..], &["--output", "csv"]].concat());
    let calls: Vec<String> = csv_text
        .lines()
        .map(|l| l.split(',').take(3).collect::<Vec<_>>().join(","))
        .collect();
    let (us, eu) = ("111111111111,us-east-1,", "222222222222,eu-west-1,");
    assert_eq!(
        calls,
        [
            "account,region,eventTime".to_owned(),
            format!("{us}2024-06-01T10:00:00Z"),
            format!("{us}2024-06-01T10:05:00Z"),
            format!("{us}2024-06-01T10:20:00Z"),
            format!("{eu}2024-06-01T10:00:30Z"),
            format!("{eu}2024-06-01T10:10:00Z"),
        ],
        "{csv_text}"
    );

    let eu = [
        "--account",
        "222222222222",
        "--region",
        "eu-west-1",
        "--output",
        "json",
    ];
    let args = [&changes[..], &eu].concat();
    let out = run_cli(&args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let got: Vec<(String, String, String)> = json_lines(&args, &out)
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
            (s("account"), s("region"), s("eventTime"))
        })
        .collect();
    let c = |t: &str| {
        (
            "222222222222".to_owned(),
            "eu-west-1".to_owned(),
            t.to_owned(),
        )
    };
    assert_eq!(
        got,
        [c("2024-06-01T10:00:30Z"), c("2024-06-01T10:10:00Z")],
        "only that group's changes"
    );

    let text = stdout_of(&["query", "--table", t, "--group", "web-asg"]);
    let regions: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().nth(3).unwrap_or_default())
        .collect();
    assert_eq!(
        regions,
        [
            "us-east-1",
            "eu-west-1",
            "us-east-1",
            "eu-west-1",
            "us-east-1",
            "us-east-1",
            "eu-west-1",
            "eu-west-1",
            "us-east-1"
        ],
        "{text}"
    );
}
