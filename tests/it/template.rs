//! The SAM template: it passes the infra lint (cfn-lint, sam validate --lint, cfn-lint of the
//! transformed template and of every deployment mode resolved, IAM checks), it says what the
//! README and issue 6 claim in each mode, the IAM checks reject what they must, the table's
//! key schema is the item model's, and the triggers' filters pass the log files and leave
//! AWS Config's, digest and other objects out, for every form of the prefix (EventBridge's
//! `wildcard` evaluated here on sample keys, beside the function's own rule).
//!
//! The modes are infra/template_tool.py's `MODES` (parameter overrides); `resolve --all-modes`
//! gives each as CloudFormation would deploy it (conditions, rules and parameters resolved).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Output;
use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::stack;

fn text(out: &Output) -> String {
    format!(
        "({})\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A scratch file path for this test process.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("asg-trail-it-template-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir.join(name)
}

/// The JSON that `template_tool.py COMMAND TEMPLATE OUT ARGS...` writes to OUT (a scratch file
/// named `out`); the command must succeed.
fn tool_json(command: &str, template: &str, out: &str, args: &[&str]) -> Value {
    let out_path = scratch(out);
    let mut argv = vec![command, template, out_path.to_str().expect("utf-8 path")];
    argv.extend(args);
    let run = stack::template_tool(&argv);
    assert!(run.status.success(), "{argv:?} {}", text(&run));
    serde_json::from_slice(&std::fs::read(&out_path).expect("output file")).expect("JSON")
}

/// Every mode of the template, resolved (one run of the tool for all tests).
fn modes() -> &'static Value {
    static MODES: OnceLock<Value> = OnceLock::new();
    MODES.get_or_init(|| {
        tool_json(
            "resolve",
            "template.yaml",
            "resolved-all.json",
            &["--all-modes"],
        )
    })
}

fn mode(name: &str) -> &'static Value {
    let m = &modes()[name];
    assert!(m.is_object(), "no mode {name} in template_tool.py MODES");
    m
}

fn resource<'a>(template: &'a Value, id: &str) -> &'a Value {
    let r = &template["Resources"][id];
    assert!(r.is_object(), "no resource {id}");
    r
}

fn ids_of_type(template: &Value, ty: &str) -> Vec<String> {
    let mut ids: Vec<String> = template["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == ty)
        .map(|(id, _)| id.clone())
        .collect();
    ids.sort();
    ids
}

/// The statements of the function role's inline policies.
fn role_statements(template: &Value) -> Vec<Value> {
    resource(template, "FunctionRole")["Properties"]["Policies"]
        .as_array()
        .expect("Policies")
        .iter()
        .flat_map(|p| {
            p["PolicyDocument"]["Statement"]
                .as_array()
                .expect("Statement")
                .clone()
        })
        .collect()
}

fn statement_for(template: &Value, action: &str) -> Option<Value> {
    role_statements(template).into_iter().find(|s| {
        s["Action"] == action
            || s["Action"]
                .as_array()
                .is_some_and(|a| a.contains(&json!(action)))
    })
}

fn get_att(id: &str, att: &str) -> Value {
    json!({"Fn::GetAtt": [id, att]})
}

const TURNKEY_BUCKET: &str = "asg-trail-logs-${AWS::AccountId}-${AWS::Region}-${StackIdTail}";

/// The default bucket name's variable: the last group of the stack id's UUID (lowercase hex).
fn stack_id_tail() -> Value {
    json!({"StackIdTail": {"Fn::Select": [4, {"Fn::Split": ["-", {"Fn::Select": [2,
        {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}]}]}})
}

/// `!Sub [text, {StackIdTail: ...}]` as the resolved template holds it.
fn sub_with_stack_id_tail(text: &str) -> Value {
    json!({"Fn::Sub": [text, stack_id_tail()]})
}

const ALL_MODES: [&str; 8] = [
    "turnkey",
    "turnkey-options",
    "turnkey-hardened",
    "existing-eventbridge",
    "existing-sns",
    "existing-sns-same-region",
    "existing-sns-opt-in",
    "alarm-topic-elsewhere",
];

/// The metric contract with the function (namespace AsgTrail, dimension FunctionName).
const FUNCTION_METRICS: [&str; 10] = [
    "ObjectsIngested",
    "ObjectsFailed",
    "ObjectsSkipped",
    "Events",
    "ItemsWritten",
    "Rejected",
    "Filtered",
    "OmittedAttributes",
    "IngestionLag",
    "EventsRefused",
];

#[test]
fn template_passes_the_infra_lint() {
    let out = stack::template_tool(&["lint", "template.yaml"]);
    assert!(
        out.status.success(),
        "`infra/.venv/bin/python infra/template_tool.py lint template.yaml` failed {}",
        text(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for step in [
        "cfn-lint (SAM source)",
        "sam validate --lint",
        "transform",
        "check-iam [turnkey]",
        "check-iam [turnkey-hardened]",
        "check-iam [existing-eventbridge]",
        "check-iam [existing-sns]",
        "check-iam [existing-sns-same-region]",
        "check-iam [existing-sns-opt-in]",
        "check-iam [alarm-topic-elsewhere]",
        "samconfig (deploy parameter_overrides",
        "cfn-lint (transformed, and each mode resolved)",
        "cfn-lint (forwarder)",
        "check-forwarder (infra/forwarder.yaml)",
    ] {
        assert!(
            stdout.contains(step),
            "lint did not run {step:?}:\n{stdout}"
        );
    }
}

#[test]
fn table_key_schema_is_group_name_and_event_key() {
    let schema = stack::key_schema();
    let mut keys: Vec<_> = schema["KeySchema"].as_array().expect("KeySchema").clone();
    keys.sort_by_key(|k| k["KeyType"].as_str().map(str::to_owned));
    assert_eq!(
        keys,
        vec![
            json!({"AttributeName": "groupName", "KeyType": "HASH"}),
            json!({"AttributeName": "eventKey", "KeyType": "RANGE"}),
        ],
        "key schema: {schema}"
    );
    let defs = schema["AttributeDefinitions"]
        .as_array()
        .expect("AttributeDefinitions");
    for (name, ty) in [("groupName", "S"), ("eventKey", "S")] {
        assert!(
            defs.contains(&json!({"AttributeName": name, "AttributeType": ty})),
            "{name} must be defined as {ty}: {schema}"
        );
    }
}

#[test]
fn table_is_kept_protected_and_indexed_in_every_mode() {
    for name in ALL_MODES {
        let table = resource(mode(name), "Table");
        // Kept when the stack is deleted or the table replaced; deleted when the first create
        // rolls back, so a retry does not meet it.
        assert_eq!(table["DeletionPolicy"], "RetainExceptOnCreate", "{name}");
        assert_eq!(table["UpdateReplacePolicy"], "Retain", "{name}");
        let p = &table["Properties"];
        assert_eq!(p["BillingMode"], "PAY_PER_REQUEST", "{name}");
        assert_eq!(
            p["DeletionProtectionEnabled"],
            name != "turnkey-hardened",
            "{name}: on unless TableDeletionProtection=false"
        );
        assert_eq!(
            p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true,
            "{name}"
        );
        let gsis: Vec<(String, Value, String)> = p["GlobalSecondaryIndexes"]
            .as_array()
            .expect("GSIs")
            .iter()
            .map(|g| {
                (
                    g["IndexName"].as_str().expect("IndexName").to_owned(),
                    g["KeySchema"].clone(),
                    g["Projection"]["ProjectionType"]
                        .as_str()
                        .expect("Projection")
                        .to_owned(),
                )
            })
            .collect();
        let key = |hash: &str| {
            json!([
                {"AttributeName": hash, "KeyType": "HASH"},
                {"AttributeName": "eventKey", "KeyType": "RANGE"}
            ])
        };
        assert_eq!(
            gsis,
            vec![
                ("byEventName".to_owned(), key("eventName"), "ALL".to_owned()),
                ("byUser".to_owned(), key("userArn"), "ALL".to_owned()),
            ],
            "{name}"
        );
    }
}

#[test]
fn ttl_on_expires_at_is_on_only_with_a_retention_and_matches_the_function_env() {
    let ttl = |m: &str| resource(mode(m), "Table")["Properties"]["TimeToLiveSpecification"].clone();
    // The defaults keep changes forever, but read-only calls (when kept) 90 days: TTL on.
    assert_eq!(
        ttl("turnkey"),
        json!({"AttributeName": "expiresAt", "Enabled": true})
    );
    assert_eq!(
        ttl("existing-eventbridge"),
        json!({"AttributeName": "expiresAt", "Enabled": false}),
        "RetentionDays and ReadOnlyRetentionDays both 0: nothing expires"
    );
    assert_eq!(
        ttl("turnkey-options"),
        json!({"AttributeName": "expiresAt", "Enabled": true})
    );
    assert_eq!(
        ttl("turnkey")["AttributeName"],
        asg_trail::item::TTL_ATTRIBUTE
    );

    // The environment the template gives the function is one the function accepts, and the
    // retention reaches it.
    for (m, days) in [("turnkey", 0), ("turnkey-options", 400)] {
        let env = function_env(m);
        let config = asg_trail::config::Config::from_lookup(|k| match k {
            // TABLE_NAME is the table's name expression (a literal once deployed).
            "TABLE_NAME" => Some("asg-trail-events".to_owned()),
            _ => env.get(k).and_then(Value::as_str).map(str::to_owned),
        })
        .unwrap_or_else(|e| panic!("{m}: the template's environment is rejected: {e}"));
        assert_eq!(config.retention_days, days, "{m}");
    }
}

fn function_env(m: &str) -> serde_json::Map<String, Value> {
    resource(mode(m), "Function")["Properties"]["Environment"]["Variables"]
        .as_object()
        .expect("Variables")
        .clone()
}

#[test]
fn function_settings_and_parameters_reach_the_environment() {
    let f = &resource(mode("turnkey"), "Function")["Properties"];
    assert_eq!(f["Architectures"], json!(["arm64"]), "arm64 by default");
    assert_eq!(f["Runtime"], "provided.al2023");
    assert_eq!(f["MemorySize"], 128);
    assert_eq!(f["Timeout"], 300);
    assert!(
        f.get("ReservedConcurrentExecutions").is_none(),
        "no reservation by default"
    );
    assert_eq!(f["Role"], get_att("FunctionRole", "Arn"));
    assert_eq!(
        f["LoggingConfig"],
        json!({"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "WARN",
               "LogGroup": {"Ref": "FunctionLogGroup"}})
    );
    let log_group = &resource(mode("turnkey"), "FunctionLogGroup")["Properties"];
    assert_eq!(log_group["RetentionInDays"], "30");
    assert_eq!(
        function_env("turnkey"),
        json!({
            "TABLE_NAME": {"Fn::Sub": "${AWS::StackName}-events"}, "RETENTION_DAYS": "0",
            "READ_ONLY_RETENTION_DAYS": "90",
            "INCLUDE_SERVICE_ACTIONS": "false", "EXCLUDE_READ_ONLY": "true",
            "EVENT_NAMES_INCLUDE": "", "EVENT_NAMES_EXCLUDE": "", "EVENT_ACCOUNTS": "",
            "ALERT_TOPIC_ARN": "", "ALERT_RULES": "", "ALERT_STORM_LIMIT": "10"
        })
        .as_object()
        .expect("object")
        .clone()
    );
    let options = &resource(mode("turnkey-options"), "Function")["Properties"];
    assert_eq!(options["ReservedConcurrentExecutions"], "5");
    let env = function_env("turnkey-options");
    assert_eq!(env["INCLUDE_SERVICE_ACTIONS"], "true");
    assert_eq!(env["EVENT_NAMES_EXCLUDE"], "PutScalingPolicy,DeletePolicy");
    assert_eq!(env["RETENTION_DAYS"], "400");
    assert_eq!(env["EXCLUDE_READ_ONLY"], "false");
    assert_eq!(env["READ_ONLY_RETENTION_DAYS"], "30");

    // Async invocations: two retries, then the failure queue.
    let invoke = &resource(mode("turnkey"), "FunctionEventInvokeConfig")["Properties"];
    assert_eq!(invoke["MaximumRetryAttempts"], 2);
    assert_eq!(
        invoke["DestinationConfig"]["OnFailure"]["Destination"],
        get_att("FailedEventsQueue", "Arn")
    );
    assert_eq!(
        resource(mode("turnkey"), "FailedEventsQueue")["Properties"]["MessageRetentionPeriod"],
        1_209_600
    );
}

#[test]
fn x86_64_is_one_parameter_away() {
    let out_path = scratch("x86.json");
    let out = stack::template_tool(&[
        "resolve",
        "template.yaml",
        out_path.to_str().expect("utf-8"),
        "--param",
        "Architecture=x86_64",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let t: Value = serde_json::from_slice(&std::fs::read(&out_path).expect("read")).expect("JSON");
    assert_eq!(
        resource(&t, "Function")["Properties"]["Architectures"],
        json!(["x86_64"])
    );
}

#[test]
fn turnkey_creates_a_locked_down_bucket_a_validated_multi_region_trail_and_the_notification() {
    let t = mode("turnkey");
    assert_eq!(ids_of_type(t, "AWS::S3::Bucket"), ["LogBucket"]);
    let bucket = resource(t, "LogBucket");
    assert_eq!(bucket["DeletionPolicy"], "RetainExceptOnCreate");
    assert_eq!(bucket["UpdateReplacePolicy"], "Retain");
    let b = &bucket["Properties"];
    assert_eq!(b["BucketName"], sub_with_stack_id_tail(TURNKEY_BUCKET));
    assert!(
        b.get("VersioningConfiguration").is_none(),
        "no versioning by default"
    );
    assert_eq!(
        b["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
            ["SSEAlgorithm"],
        "AES256"
    );
    for flag in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(b["PublicAccessBlockConfiguration"][flag], true, "{flag}");
    }
    // By default the log files are kept: only the multipart clean-up rule.
    let rules = b["LifecycleConfiguration"]["Rules"]
        .as_array()
        .expect("Rules");
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(rules[0]["Id"], "AbortIncompleteUploads");
    let expiring = &resource(mode("turnkey-options"), "LogBucket")["Properties"]["LifecycleConfiguration"]
        ["Rules"];
    assert!(
        expiring.as_array().expect("Rules").contains(
            &json!({"Id": "ExpireLogFiles", "Status": "Enabled", "Prefix": "AWSLogs/",
                              "ExpirationInDays": "2557"})
        ),
        "{expiring}"
    );

    // The notification: the trail's log files only (its account's CloudTrail/ folder, where
    // the bucket policy lets it write), to the function, allowed from this bucket and account.
    let lambda = &b["NotificationConfiguration"]["LambdaConfigurations"];
    assert_eq!(
        lambda,
        &json!([{"Event": "s3:ObjectCreated:*", "Function": get_att("Function", "Arn"),
                 "Filter": {"S3Key": {"Rules": [
                     {"Name": "prefix", "Value": {"Fn::Sub": "AWSLogs/${AWS::AccountId}/CloudTrail/"}},
                     {"Name": "suffix", "Value": ".json.gz"}]}}}])
    );
    let perm = &resource(t, "LogBucketInvokePermission")["Properties"];
    assert_eq!(perm["Principal"], "s3.amazonaws.com");
    assert_eq!(
        perm["SourceArn"],
        sub_with_stack_id_tail(&format!("arn:${{AWS::Partition}}:s3:::{TURNKEY_BUCKET}"))
    );
    assert_eq!(perm["SourceAccount"], json!({"Ref": "AWS::AccountId"}));

    // TLS only, and CloudTrail may write.
    let policy = &resource(t, "LogBucketPolicy")["Properties"]["PolicyDocument"]["Statement"];
    let sids: Vec<&str> = policy
        .as_array()
        .expect("Statement")
        .iter()
        .map(|s| s["Sid"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        sids,
        [
            "AWSCloudTrailAclCheck",
            "AWSCloudTrailWrite",
            "DenyLogFileWritesButCloudTrail",
            "DenyInsecureTransport"
        ]
    );
    let deny = &policy[3];
    assert_eq!(deny["Effect"], "Deny");
    assert_eq!(
        deny["Condition"],
        json!({"Bool": {"aws:SecureTransport": "false"}})
    );

    let trail = &resource(t, "Trail")["Properties"];
    assert_eq!(trail["IsMultiRegionTrail"], true);
    assert_eq!(trail["EnableLogFileValidation"], true);
    assert_eq!(trail["IsLogging"], true);
    assert_eq!(trail["S3BucketName"], json!({"Ref": "LogBucket"}));
    assert!(trail.get("KMSKeyId").is_none(), "SSE-S3 by default");
    assert!(ids_of_type(t, "AWS::KMS::Key").is_empty());
    assert_eq!(trail["EventSelectors"][0]["IncludeManagementEvents"], true);
    assert_eq!(
        ids_of_type(mode("turnkey-options"), "AWS::CloudTrail::Trail"),
        Vec::<String>::new()
    );

    assert!(
        ids_of_type(t, "AWS::SNS::Subscription").is_empty(),
        "turnkey has no subscription"
    );
    // The log files come by the bucket's notification: the only rule and queue policy are the
    // real-time events' (see real_time_events_...).
    assert_eq!(
        ids_of_type(t, "AWS::Events::Rule"),
        ["AutoScalingEventsRule"]
    );
    assert_eq!(
        ids_of_type(t, "AWS::SQS::QueuePolicy"),
        ["AutoScalingEventsDeadLetterQueuePolicy"]
    );
    let read = statement_for(t, "s3:GetObject").expect("s3:GetObject");
    assert_eq!(
        read["Resource"],
        sub_with_stack_id_tail(&format!(
            "arn:${{AWS::Partition}}:s3:::{TURNKEY_BUCKET}/AWSLogs/*"
        ))
    );
    assert!(
        statement_for(t, "kms:Decrypt").is_none(),
        "no KMS grant without a key"
    );
}

#[test]
fn existing_bucket_through_eventbridge_leaves_the_bucket_alone() {
    let t = mode("existing-eventbridge");
    for ty in [
        "AWS::S3::Bucket",
        "AWS::S3::BucketPolicy",
        "AWS::CloudTrail::Trail",
        "AWS::SNS::Subscription",
    ] {
        assert!(
            ids_of_type(t, ty).is_empty(),
            "existing-bucket mode creates no {ty}"
        );
    }
    let rule = &resource(t, "LogFileCreatedRule")["Properties"];
    assert_eq!(
        rule["EventPattern"],
        json!({"source": ["aws.s3"], "detail-type": ["Object Created"],
               "detail": {"bucket": {"name": ["org-trail-logs"]},
                          "object": {"key": [
                              {"wildcard": "AWSLogs/o-abc123def4/*/CloudTrail/*.json.gz"},
                              {"wildcard": "AWSLogs/o-abc123def4/CloudTrail/*.json.gz"},
                              {"wildcard": "AWSLogs/o-abc123def4//CloudTrail/*.json.gz"}]}}})
    );
    let target = &rule["Targets"][0];
    assert_eq!(target["Arn"], get_att("Function", "Arn"));
    assert_eq!(
        target["DeadLetterConfig"]["Arn"],
        get_att("FailedEventsQueue", "Arn")
    );
    let perm = &resource(t, "LogFileCreatedRulePermission")["Properties"];
    assert_eq!(perm["Principal"], "events.amazonaws.com");
    assert_eq!(perm["SourceArn"], get_att("LogFileCreatedRule", "Arn"));
    // EventBridge may drop undeliverable events into the failure queue, and only this rule.
    let qp = &resource(t, "FailedEventsQueuePolicy")["Properties"]["PolicyDocument"]["Statement"];
    assert_eq!(qp.as_array().expect("Statement").len(), 1);
    assert_eq!(
        qp[0]["Principal"],
        json!({"Service": "events.amazonaws.com"})
    );
    assert_eq!(
        qp[0]["Condition"]["ArnEquals"]["aws:SourceArn"],
        get_att("LogFileCreatedRule", "Arn")
    );

    let read = statement_for(t, "s3:GetObject").expect("s3:GetObject");
    assert_eq!(
        read["Resource"],
        json!({"Fn::Sub": "arn:${AWS::Partition}:s3:::org-trail-logs/AWSLogs/o-abc123def4/*"})
    );
    let kms = statement_for(t, "kms:Decrypt").expect("kms:Decrypt with KmsKeyArn");
    assert_eq!(
        kms["Resource"],
        json!(["arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"])
    );
    assert_eq!(
        kms["Condition"],
        json!({"StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}}})
    );
    assert_eq!(
        mode("existing-eventbridge")["Outputs"]["BucketName"]["Value"],
        "org-trail-logs"
    );
}

/// EventBridge's `wildcard`: `*` matches any run of characters, `/` included; every other
/// character stands for itself. The text between the stars must come in order: the first part
/// at the start, the last at the end, each middle one at its first place after the one before
/// (the earliest place leaves the most room for the rest).
fn wildcard_matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == text;
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[test]
fn the_wildcard_matcher_is_eventbridges() {
    for (pattern, text, want) in [
        ("*.json.gz", "a/b/c.json.gz", true),
        ("a/*/c/*.gz", "a/x/y/c/z.gz", true),
        ("a/*/c/*.gz", "a/c/z.gz", false),
        ("a*", "a", true),
        ("*", "", true),
        ("a/*.gz", "b/a/x.gz", false),
        ("x.json.gz", "x.json.gz", true),
        ("x.json.gz", "x.json.gzz", false),
        ("*CloudTrail/*", "a/CloudTrail-Digest/b", false),
        ("a*a", "a", false),
        ("*ab*ab", "xabyab", true),
    ] {
        assert_eq!(wildcard_matches(pattern, text), want, "{pattern} {text}");
    }
}

/// Keys of every kind a bucket shared by trails and other services holds.
mod sample_keys {
    /// CloudTrail's log files: a trail of one account, an organization trail, below a trail's
    /// prefix, Control Tower's layout.
    pub const LOG_FILES: [&str; 5] = [
        "AWSLogs/111111111111/CloudTrail/us-east-1/2024/03/05/111111111111_CloudTrail_us-east-1_20240305T1200Z_AbCdEfGh12345678.json.gz",
        "AWSLogs/111111111111/CloudTrail/eu-west-1/2024/03/05/111111111111_CloudTrail_eu-west-1_20240305T1205Z_IjKlMnOp12345678.json.gz",
        "AWSLogs/o-abc123/222222222222/CloudTrail/us-east-1/2024/03/05/222222222222_CloudTrail_us-east-1_20240305T1200Z_QrStUvWx12345678.json.gz",
        "myprefix/AWSLogs/o-abc123/222222222222/CloudTrail/us-gov-west-1/2024/03/05/222222222222_CloudTrail_us-gov-west-1_20240305T1200Z_YzAbCdEf12345678.json.gz",
        "o-abc123def4/AWSLogs/o-abc123def4/333333333333/CloudTrail/cn-north-1/2024/03/05/333333333333_CloudTrail_cn-north-1_20240305T1200Z_GhIjKlMn12345678.json.gz",
    ];
    /// What the rule skips and no pattern lets through: AWS Config's files, digest and
    /// Insights files, another service's logs, S3 server access logs, stray uploads, folders.
    pub const NEVER: [&str; 13] = [
        "AWSLogs/111111111111/Config/us-east-1/2024/3/5/ConfigHistory/111111111111_Config_us-east-1_ConfigHistory_AWS::EC2::Instance_20240305T120000Z_20240305T180000Z_1.json.gz",
        "AWSLogs/111111111111/Config/us-east-1/2024/3/5/ConfigSnapshot/111111111111_Config_us-east-1_ConfigSnapshot_20240305T120000Z_0b1c2d3e-1111-2222-3333-444455556666.json.gz",
        "AWSLogs/111111111111/Config/ConfigWritabilityCheckFile",
        "AWSLogs/o-abc123/222222222222/Config/us-east-1/2024/3/5/ConfigHistory/222222222222_Config_us-east-1_ConfigHistory_AWS::EC2::Instance_20240305T120000Z_20240305T180000Z_1.json.gz",
        "myprefix/AWSLogs/o-abc123/222222222222/Config/us-east-1/2024/3/5/ConfigHistory/222222222222_Config_us-east-1_ConfigHistory_AWS::EC2::Instance_20240305T120000Z_20240305T180000Z_1.json.gz",
        "o-abc123def4/AWSLogs/o-abc123def4/333333333333/Config/cn-north-1/2024/3/5/ConfigHistory/333333333333_Config_cn-north-1_ConfigHistory_AWS::EC2::Instance_20240305T120000Z_20240305T180000Z_1.json.gz",
        "AWSLogs/111111111111/CloudTrail-Digest/us-east-1/2024/03/05/111111111111_CloudTrail-Digest_us-east-1_trail_us-east-1_20240305T130000Z.json.gz",
        "AWSLogs/o-abc123/222222222222/CloudTrail-Insight/us-east-1/2024/03/05/222222222222_CloudTrail-Insight_us-east-1_20240305T1200Z_x.json.gz",
        "AWSLogs/111111111111/elasticloadbalancing/us-east-1/2024/03/05/111111111111_elasticloadbalancing_us-east-1_app.web.0123_20240305T1200Z_10.0.0.1_x.log.gz",
        "access-logs/2024-03-05-12-00-00-A1B2C3D4E5F6A7B8",
        "uploads/report.json.gz",
        "AWSLogs/111111111111/CloudTrail/",
        "AWSLogs/111111111111/CloudTrail/us-east-1/2024/03/05/",
    ];
    /// What the patterns let through below their prefix and the function then skips unread
    /// (docs/triggers.md, "What is a log file"): a CloudTrail/ folder off the layout.
    pub const LET_THROUGH: [&str; 4] = [
        "AWSLogs/111111111111/CloudTrail/us-east-1/2024/3/5/x.json.gz",
        "AWSLogs/111111111111/CloudTrail/global/2024/03/05/x.json.gz",
        "AWSLogs/111111111111/CloudTrail/us-east-1/2024/03/05/old/x.json.gz",
        "AWSLogs/111111111111/vpcflowlogs/CloudTrail/x.json.gz",
    ];
}

/// The rule's EventBridge key patterns for `ExistingBucketPrefix` = `prefix`, as deployed by
/// a stack of this name.
fn log_file_patterns(stack_name: &str, prefix: &str) -> Vec<String> {
    let prefix_param = format!("ExistingBucketPrefix={prefix}");
    let t = resolved_stack(
        stack_name,
        &["ExistingBucketName=org-trail-logs", &prefix_param],
    );
    resource(&t, "LogFileCreatedRule")["Properties"]["EventPattern"]["detail"]["object"]["key"]
        .as_array()
        .expect("key patterns")
        .iter()
        .map(|p| {
            p["wildcard"]
                .as_str()
                .unwrap_or_else(|| panic!("{prefix:?}: not a literal wildcard: {p}"))
                .to_owned()
        })
        .collect()
}

/// For each form `ExistingBucketPrefix` takes, the existing bucket's EventBridge rule matches
/// every log file below the prefix, nothing above it, and none of AWS Config's, digest or
/// Insights files, other services' logs or stray objects; what else it lets through is off the
/// layout, and the function's rule (the same test every trigger runs) skips it.
#[test]
fn the_eventbridge_rule_matches_the_log_files_below_each_form_of_the_prefix() {
    use asg_trail::notification::LogFile;
    use sample_keys::{LET_THROUGH, LOG_FILES, NEVER};
    for key in LOG_FILES {
        assert!(LogFile::parse(key).is_ok(), "{key} is a log file");
    }
    for key in NEVER.iter().chain(&LET_THROUGH) {
        assert!(LogFile::parse(key).is_err(), "{key} is no log file");
    }
    let prefixes = [
        "",
        "AWSLogs/",
        "myprefix/AWSLogs/o-abc123/",
        "o-abc123def4/AWSLogs/o-abc123def4/",
        "AWSLogs/111111111111/",
        "AWSLogs/111111111111/CloudTrail/",
        "AWSLogs/111111111111/CloudTrail/us-east-1/",
        // A prefix need not end at a folder.
        "myprefix",
        "AWSLogs/111111111111",
        "AWSLogs/111111111111/CloudTrail",
        "AWSLogs/111111111111/CloudTrail/us-east",
    ];
    for (i, prefix) in prefixes.into_iter().enumerate() {
        let patterns = log_file_patterns(&format!("prefix-form-{i}"), prefix);
        let matched = |key: &str| patterns.iter().any(|p| wildcard_matches(p, key));
        for key in LOG_FILES.iter().chain(&LET_THROUGH) {
            assert_eq!(
                matched(key),
                key.starts_with(prefix),
                "prefix {prefix:?}, patterns {patterns:?}: {key}"
            );
        }
        for key in NEVER {
            assert!(
                !matched(key),
                "prefix {prefix:?}, patterns {patterns:?}: {key}"
            );
        }
    }
}

/// The turnkey bucket's notification (prefix and suffix), for the account 111111111111: its
/// trail's log files, and nothing else in the bucket.
#[test]
fn the_turnkey_notification_matches_its_trails_log_files_only() {
    use sample_keys::{LET_THROUGH, LOG_FILES, NEVER};
    let rules = &resource(mode("turnkey"), "LogBucket")["Properties"]["NotificationConfiguration"]
        ["LambdaConfigurations"][0]["Filter"]["S3Key"]["Rules"];
    let value = |name: &str| {
        let rule = rules
            .as_array()
            .expect("Rules")
            .iter()
            .find(|r| r["Name"] == name)
            .unwrap_or_else(|| panic!("no {name} rule: {rules}"));
        let v = &rule["Value"];
        v.as_str()
            .or_else(|| v["Fn::Sub"].as_str())
            .expect("a text")
            .replace("${AWS::AccountId}", "111111111111")
    };
    let (prefix, suffix) = (value("prefix"), value("suffix"));
    let matched = |key: &str| key.starts_with(&prefix) && key.ends_with(&suffix);
    let ours: Vec<&str> = LOG_FILES
        .iter()
        .chain(&NEVER)
        .copied()
        .filter(|k| matched(k))
        .collect();
    assert_eq!(ours, &LOG_FILES[..2], "{prefix} {suffix}");
    assert_eq!(
        LET_THROUGH.iter().filter(|k| matched(k)).count(),
        3,
        "only a CloudTrail/ folder off the layout gets through"
    );
}

#[test]
fn existing_bucket_through_sns_subscribes_the_function_to_the_topic() {
    let t = mode("existing-sns");
    assert_eq!(
        ids_of_type(t, "AWS::Events::Rule"),
        ["AutoScalingEventsRule"]
    );
    assert!(ids_of_type(t, "AWS::S3::Bucket").is_empty());
    let topic = "arn:aws:sns:eu-west-1:111122223333:org-trail-log-files";
    let sub = &resource(t, "LogFileTopicSubscription")["Properties"];
    assert_eq!(sub["Protocol"], "lambda");
    assert_eq!(sub["TopicArn"], topic);
    assert_eq!(
        sub["Region"], "eu-west-1",
        "subscribed in the topic's region"
    );
    assert_eq!(sub["Endpoint"], get_att("Function", "Arn"));
    // SNS takes a dead-letter queue in the topic's region only: none for a topic elsewhere, and
    // so no SNS statement (and here no policy at all) on the stack's queue.
    assert!(sub.get("RedrivePolicy").is_none(), "{sub}");
    assert_eq!(
        ids_of_type(t, "AWS::SQS::QueuePolicy"),
        ["AutoScalingEventsDeadLetterQueuePolicy"],
        "only the real-time events' dead-letter queue has a policy"
    );
    let perm = &resource(t, "LogFileTopicPermission")["Properties"];
    assert_eq!(
        (perm["Principal"].clone(), perm["SourceArn"].clone()),
        (json!("sns.amazonaws.com"), json!(topic))
    );
    let read = statement_for(t, "s3:GetObject").expect("s3:GetObject");
    assert_eq!(
        read["Resource"],
        json!({"Fn::Sub": "arn:${AWS::Partition}:s3:::org-trail-logs/*"})
    );
}

#[test]
fn alarms_notify_the_stack_topic_in_every_mode_and_the_given_topic_too() {
    let alarms = |m: &str| -> Vec<(String, String, Value)> {
        ids_of_type(mode(m), "AWS::CloudWatch::Alarm")
            .into_iter()
            .map(|id| {
                let p = &resource(mode(m), &id)["Properties"];
                (
                    id.clone(),
                    format!(
                        "{}/{}",
                        p["Namespace"].as_str().unwrap_or_default(),
                        p["MetricName"].as_str().unwrap_or_default()
                    ),
                    p["AlarmActions"].clone(),
                )
            })
            .collect()
    };
    let default = alarms("turnkey");
    let metrics: Vec<(&str, &str)> = default
        .iter()
        .map(|(id, m, _)| (id.as_str(), m.as_str()))
        .collect();
    assert_eq!(
        metrics,
        [
            (
                "AutoScalingEventsDeadLetterAlarm",
                "AWS/SQS/ApproximateNumberOfMessagesVisible"
            ),
            (
                "FailedEventsAlarm",
                "AWS/SQS/ApproximateNumberOfMessagesVisible"
            ),
            (
                "FailedEventsExpiringAlarm",
                "AWS/SQS/ApproximateAgeOfOldestMessage"
            ),
            ("FunctionErrorsAlarm", "AWS/Lambda/Errors"),
            ("FunctionThrottlesAlarm", "AWS/Lambda/Throttles"),
            ("HeartbeatAlarm", "AsgTrail/ObjectsIngested"),
            ("IngestionLagAlarm", "AsgTrail/IngestionLag"),
            ("RejectedRecordsAlarm", "AsgTrail/Rejected"),
        ]
    );
    // Nobody configured: every alarm still notifies the stack's own topic (an output).
    for m in ALL_MODES {
        assert_eq!(
            ids_of_type(mode(m), "AWS::SNS::Topic"),
            ["AlarmTopic"],
            "{m}"
        );
        assert_eq!(
            mode(m)["Outputs"]["AlarmTopicArn"]["Value"],
            json!({"Ref": "AlarmTopic"}),
            "{m}"
        );
        for (id, _, actions) in alarms(m) {
            assert_eq!(actions, expected_alarm_actions(m), "{m} {id}");
            let ok = &resource(mode(m), &id)["Properties"]["OKActions"];
            assert_eq!(ok, &actions, "{m} {id}: OK notifies the same topics");
        }
    }
    assert!(ids_of_type(mode("turnkey"), "AWS::SNS::Subscription").is_empty());
    let email = &resource(mode("turnkey-options"), "AlarmEmailSubscription")["Properties"];
    assert_eq!(
        (
            email["Protocol"].clone(),
            email["Endpoint"].clone(),
            email["TopicArn"].clone()
        ),
        (
            json!("email"),
            json!("ops@example.com"),
            json!({"Ref": "AlarmTopic"})
        )
    );

    // The function's metrics: the contract's namespace, dimension and names.
    for (id, metric, _) in &default {
        let Some(name) = metric.strip_prefix("AsgTrail/") else {
            continue;
        };
        assert!(
            FUNCTION_METRICS.contains(&name),
            "{id}: {name} is not in the contract"
        );
        assert_eq!(
            resource(mode("turnkey"), id)["Properties"]["Dimensions"],
            json!([{"Name": "FunctionName", "Value": {"Ref": "Function"}}]),
            "{id}"
        );
    }
    let p = |id: &str| resource(mode("turnkey"), id)["Properties"].clone();
    let heartbeat = p("HeartbeatAlarm");
    assert_eq!(
        (
            heartbeat["Statistic"].clone(),
            heartbeat["Period"].clone(),
            heartbeat["EvaluationPeriods"].clone(),
            heartbeat["DatapointsToAlarm"].clone(),
            heartbeat["ComparisonOperator"].clone(),
            heartbeat["Threshold"].clone(),
            heartbeat["TreatMissingData"].clone()
        ),
        (
            json!("Sum"),
            json!(3600),
            json!("6"),
            json!("6"),
            json!("LessThanThreshold"),
            json!(1),
            json!("breaching")
        ),
        "no file ingested for 6 hours, missing data included"
    );
    let rejected = p("RejectedRecordsAlarm");
    assert_eq!(
        (
            rejected["ComparisonOperator"].clone(),
            rejected["Threshold"].clone()
        ),
        (json!("GreaterThanThreshold"), json!(0))
    );
    let lag = p("IngestionLagAlarm");
    assert_eq!(
        (
            lag["Statistic"].clone(),
            lag["Unit"].clone(),
            lag["Threshold"].clone()
        ),
        (json!("Maximum"), json!("Seconds"), json!("3600"))
    );
    // The queue drops a message after 14 days: a second alarm at 10.
    assert_eq!(p("FailedEventsExpiringAlarm")["Threshold"], 864_000);
}

/// The alarm actions of a mode: the stack's topic, plus AlarmTopicArn where the mode gives it.
fn expected_alarm_actions(mode: &str) -> Value {
    match mode {
        "turnkey-options" => {
            json!([{"Ref": "AlarmTopic"}, "arn:aws:sns:us-east-1:111122223333:pager"])
        }
        // Never deployed: AlarmTopicRefusal fails the create first.
        "alarm-topic-elsewhere" => {
            json!([{"Ref": "AlarmTopic"}, "arn:aws:sns:eu-west-1:111122223333:pager"])
        }
        _ => json!([{"Ref": "AlarmTopic"}]),
    }
}

/// Runs `check-iam` (every mode) on template.yaml with `from` replaced by `to`.
fn check_iam_of_mutation(name: &str, from: &str, to: &str) -> Output {
    let original =
        std::fs::read_to_string(stack::repo_root().join("template.yaml")).expect("template");
    assert_eq!(
        original.matches(from).count(),
        1,
        "{name}: {from:?} must occur once in template.yaml"
    );
    let path = scratch(&format!("{name}.yaml"));
    std::fs::write(&path, original.replace(from, to)).expect("write mutated template");
    stack::template_tool(&["check-iam", path.to_str().expect("utf-8")])
}

/// `check_iam_of_mutation`, which must fail saying `expected`; its output.
fn check_iam_rejects_mutation(name: &str, from: &str, to: &str, expected: &str) -> String {
    let out = check_iam_of_mutation(name, from, to);
    let all = text(&out);
    assert!(!out.status.success(), "{name}: check-iam accepted it {all}");
    assert!(
        all.contains(expected),
        "{name}: expected {expected:?} in {all}"
    );
    all
}

#[test]
fn check_iam_passes_the_template_and_rejects_broader_grants() {
    let ok = stack::template_tool(&["check-iam", "template.yaml"]);
    assert!(
        ok.status.success(),
        "check-iam of template.yaml {}",
        text(&ok)
    );

    let read_line = "                Action: s3:GetObject\n";
    let cases = [
        (
            "s3-wildcard-action",
            read_line,
            "                Action: s3:*\n",
            "wildcard or non-literal action \"s3:*\"",
        ),
        (
            "s3-list",
            read_line,
            "                Action: [s3:GetObject, s3:ListBucket]\n",
            "s3:ListBucket is more than the function needs",
        ),
        (
            "existing-bucket-without-prefix",
            "${ExistingBucketName}/${ExistingBucketPrefix}*",
            "${ExistingBucketName}/*",
            "[existing-eventbridge]: FAILED",
        ),
        (
            "another-bucket",
            "asg-trail-logs-${AWS::AccountId}-${AWS::Region}-${StackIdTail}/AWSLogs/*\"\n",
            "*/AWSLogs/*\"\n",
            "[turnkey]: FAILED",
        ),
        (
            "dynamodb-anywhere",
            "                Resource: !If\n                  - HasTableName\n                  - !Sub \"arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}\"\n                  - !Sub \"arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${AWS::StackName}-events\"\n",
            "                Resource: \"*\"\n",
            "resource \"*\" for ['dynamodb:BatchWriteItem']",
        ),
        (
            "dynamodb-any-table",
            // The BatchWriteItem statement's (the markers' statement names the table too).
            ":table/${AWS::StackName}-events\"\n              - !If\n",
            ":table/*\"\n              - !If\n",
            "is not table Table (or its indexes)",
        ),
        (
            "kms-any-key",
            "!If [HasKmsKey, !Ref KmsKeyArn, !Ref AWS::NoValue]",
            "!If [HasKmsKey, !Sub \"arn:${AWS::Partition}:kms:*:${AWS::AccountId}:key/*\", !Ref AWS::NoValue]",
            "is not the KmsKeyArn parameter",
        ),
        (
            "kms-not-through-s3",
            "                      kms:ViaService: !Sub \"s3.${AWS::Region}.amazonaws.com\"\n",
            "                      kms:EncryptionContextKeys: aws:s3:arn\n",
            "must be limited to S3 (kms:ViaService)",
        ),
        (
            "managed-policy",
            "      Policies:\n        - PolicyName: ingest\n",
            "      ManagedPolicyArns:\n        - !Sub \"arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole\"\n      Policies:\n        - PolicyName: ingest\n",
            "managed policy",
        ),
        (
            "real-time-permission-from-any-rule",
            "      SourceArn: !GetAtt AutoScalingEventsRule.Arn\n",
            "      SourceArn: !Sub \"arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/*\"\n",
            "AutoScalingEventsRulePermission: SourceArn",
        ),
        (
            "real-time-dead-letters-from-any-rule",
            "                aws:SourceArn: !GetAtt AutoScalingEventsRule.Arn\n",
            "                aws:SourceArn: !Sub \"arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/*\"\n",
            "its dead-letter queue AutoScalingEventsDeadLetterQueue does not let the rule send",
        ),
        (
            "real-time-without-retry-policy",
            "          RetryPolicy:\n            MaximumRetryAttempts: 185\n            MaximumEventAgeInSeconds: 86400\n          DeadLetterConfig:\n            Arn: !GetAtt AutoScalingEventsDeadLetterQueue.Arn\n",
            "          DeadLetterConfig:\n            Arn: !GetAtt AutoScalingEventsDeadLetterQueue.Arn\n",
            "AutoScalingEventsRule: target ingest has no RetryPolicy",
        ),
        (
            "sns-permission-from-any-topic",
            "      SourceArn: !Sub \"${ExistingBucketTopicArn}\"\n",
            "",
            "LogFileTopicPermission: no SourceArn",
        ),
    ];
    for (name, from, to, expected) in cases {
        check_iam_rejects_mutation(name, from, to, expected);
    }
}

/// Issue 17: in turnkey mode only CloudTrail may write below AWSLogs/, where every `.json.gz`
/// is taken for a real log file (its userIdentity stored as who did it).
#[test]
fn only_cloudtrail_may_write_log_files_into_the_turnkey_bucket_and_check_iam_says_so() {
    for m in ALL_MODES.iter().filter(|m| m.starts_with("turnkey")) {
        let statements =
            &resource(mode(m), "LogBucketPolicy")["Properties"]["PolicyDocument"]["Statement"];
        let deny = statements
            .as_array()
            .expect("Statement")
            .iter()
            .find(|s| s["Sid"] == "DenyLogFileWritesButCloudTrail")
            .unwrap_or_else(|| panic!("{m}: no forgery deny in {statements}"));
        assert_eq!(
            deny,
            &json!({"Sid": "DenyLogFileWritesButCloudTrail", "Effect": "Deny", "Principal": "*",
                    "Action": ["s3:PutObject", "s3:ReplicateObject"],
                    "Resource": {"Fn::Sub": "${LogBucket.Arn}/AWSLogs/*"},
                    "Condition": {"StringNotEqualsIfExists":
                                  {"aws:PrincipalServiceName": "cloudtrail.amazonaws.com"}}}),
            "{m}"
        );
    }
    // check-iam holds every turnkey mode to it: the deny gone, or exempting more than CloudTrail,
    // or covering less than AWSLogs/, or missing an action that writes an object, fails.
    let deny_line = "          - Sid: DenyLogFileWritesButCloudTrail\n            Effect: Deny\n";
    let condition = "              StringNotEqualsIfExists:\n                aws:PrincipalServiceName: cloudtrail.amazonaws.com\n";
    let resource_line = "            Resource: !Sub \"${LogBucket.Arn}/AWSLogs/*\"\n            Condition:\n              StringNotEqualsIfExists:\n";
    let cases = [
        (
            "forgery-deny-removed",
            deny_line,
            "          - Sid: DenyLogFileWritesButCloudTrail\n            Effect: Allow\n",
            "",
        ),
        (
            "forgery-deny-exempts-any-service",
            condition,
            "              Bool:\n                aws:PrincipalIsAWSService: \"false\"\n",
            "is not StringNotEqualsIfExists aws:PrincipalServiceName",
        ),
        (
            "forgery-deny-exempts-another-service",
            condition,
            "              StringNotEqualsIfExists:\n                aws:PrincipalServiceName: [cloudtrail.amazonaws.com, s3.amazonaws.com]\n",
            "is not StringNotEqualsIfExists aws:PrincipalServiceName",
        ),
        (
            "forgery-deny-exempts-the-account",
            condition,
            "              StringNotEqualsIfExists:\n                aws:PrincipalServiceName: cloudtrail.amazonaws.com\n              StringNotEquals:\n                aws:PrincipalAccount: !Ref AWS::AccountId\n",
            "is not StringNotEqualsIfExists aws:PrincipalServiceName",
        ),
        (
            "forgery-deny-below-cloudtrail-only",
            resource_line,
            "            Resource: !Sub \"${LogBucket.Arn}/AWSLogs/${AWS::AccountId}/CloudTrail/*\"\n            Condition:\n              StringNotEqualsIfExists:\n",
            "do not all cover ${LogBucket.Arn}/AWSLogs/*",
        ),
        (
            "forgery-deny-without-replication",
            "              - s3:PutObject\n              - s3:ReplicateObject\n",
            "              - s3:PutObject\n",
            "are not exactly ['s3:PutObject', 's3:ReplicateObject']",
        ),
    ];
    let problem = "LogBucket: no bucket policy statement denies ['s3:PutObject', 's3:ReplicateObject'] \
                   on ${LogBucket.Arn}/AWSLogs/* to every principal but cloudtrail.amazonaws.com";
    for (name, from, to, why) in cases {
        let all = check_iam_rejects_mutation(name, from, to, problem);
        assert!(all.contains(why), "{name}: expected {why:?} in {all}");
        for m in ["turnkey", "turnkey-options", "turnkey-hardened"] {
            assert!(
                all.contains(&format!("check-iam [{m}]: FAILED")),
                "{name}: {m} passed {all}"
            );
        }
        assert!(
            all.contains("check-iam [existing-eventbridge]: ok"),
            "{name}: no bucket of its own, nothing to deny {all}"
        );
    }
}

#[test]
fn a_role_that_references_the_bucket_fails_the_lint_with_a_cycle() {
    // The mistake the lint of the transformed template exists for: the role naming the bucket
    // by reference closes bucket -> notification -> function -> role -> bucket.
    let original =
        std::fs::read_to_string(stack::repo_root().join("template.yaml")).expect("template");
    let from = "\"arn:${AWS::Partition}:s3:::asg-trail-logs-${AWS::AccountId}-${AWS::Region}-${StackIdTail}/AWSLogs/*\"";
    assert_eq!(original.matches(from).count(), 1);
    // Next to template.yaml: `sam validate` resolves CodeUri from the template's folder.
    let path = stack::repo_root().join(format!(".it-cycle-{}.yaml", std::process::id()));
    std::fs::write(
        &path,
        original.replace(from, "\"${LogBucket.Arn}/AWSLogs/*\""),
    )
    .expect("write");
    let out = stack::template_tool(&["lint", path.to_str().expect("utf-8")]);
    let _ = std::fs::remove_file(&path);
    let all = text(&out);
    assert!(
        !out.status.success(),
        "lint accepted a cyclic template {all}"
    );
    assert!(
        all.contains("E3004"),
        "expected cfn-lint E3004 (circular dependency) in {all}"
    );
}

#[test]
fn rules_reject_incoherent_parameters() {
    let out_path = scratch("rejected.json");
    let out_path = out_path.to_str().expect("utf-8");
    for (params, expected) in [
        (
            vec![
                "ExistingBucketName=org-trail-logs",
                "ExistingBucketTrigger=SNS",
            ],
            "ExistingBucketTrigger=SNS needs ExistingBucketTopicArn",
        ),
        (
            vec!["ExistingBucketPrefix=AWSLogs/"],
            "applies to an existing bucket only",
        ),
        (vec!["ExistingBucketPrefix=logs/*"], "does not match"),
        (vec!["KmsKeyArn=alias/aws/s3"], "does not match"),
    ] {
        let mut args = vec!["resolve", "template.yaml", out_path];
        for p in &params {
            args.extend(["--param", p]);
        }
        let out = stack::template_tool(&args);
        let all = text(&out);
        assert!(!out.status.success(), "{params:?} accepted {all}");
        assert!(
            all.contains(expected),
            "{params:?}: expected {expected:?} in {all}"
        );
    }
}

/// The CLI's cross-group queries name these indexes and their keys (`dynamodb::BY_EVENT_NAME`,
/// `dynamodb::BY_USER`); the template must keep them, projecting every attribute.
#[test]
fn table_has_the_query_indexes() {
    let schema = stack::key_schema();
    let mut indexes: Vec<serde_json::Value> = schema["GlobalSecondaryIndexes"]
        .as_array()
        .unwrap_or_else(|| panic!("the table has no GlobalSecondaryIndexes: {schema}"))
        .iter()
        .map(|i| json!({"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}))
        .collect();
    indexes.sort_by_key(|i| i["IndexName"].as_str().map(str::to_owned));
    assert_eq!(
        indexes,
        vec![
            json!({"IndexName": asg_trail::dynamodb::BY_EVENT_NAME,
                   "KeySchema": [{"AttributeName": "eventName", "KeyType": "HASH"},
                                 {"AttributeName": "eventKey", "KeyType": "RANGE"}],
                   "Projection": {"ProjectionType": "ALL"}}),
            json!({"IndexName": asg_trail::dynamodb::BY_USER,
                   "KeySchema": [{"AttributeName": "userArn", "KeyType": "HASH"},
                                 {"AttributeName": "eventKey", "KeyType": "RANGE"}],
                   "Projection": {"ProjectionType": "ALL"}}),
        ]
    );
}

/// The template resolved for a stack of this name (pseudo-parameters too), with overrides.
fn resolved_stack(stack_name: &str, params: &[&str]) -> Value {
    let out_path = scratch(&format!("stack-{stack_name}.json"));
    let mut args = vec![
        "resolve",
        "template.yaml",
        out_path.to_str().expect("utf-8"),
        "--stack-name",
        stack_name,
    ];
    for p in params {
        args.extend(["--param", p]);
    }
    let out = stack::template_tool(&args);
    assert!(
        out.status.success(),
        "resolve --stack-name {stack_name} {}",
        text(&out)
    );
    serde_json::from_slice(&std::fs::read(&out_path).expect("read")).expect("JSON")
}

/// Every name a stack gives a resource of its own, by resource: they collide between two stacks
/// of one account and region unless they differ.
fn physical_names(t: &Value) -> Vec<(&'static str, Value)> {
    [
        ("Table", "TableName"),
        ("LogBucket", "BucketName"),
        ("Trail", "TrailName"),
        ("FunctionLogGroup", "LogGroupName"),
        ("Dashboard", "DashboardName"),
    ]
    .into_iter()
    .map(|(id, prop)| (id, resource(t, id)["Properties"][prop].clone()))
    .collect()
}

#[test]
fn two_stacks_side_by_side_get_different_physical_names() {
    let prod = resolved_stack("Prod-AsgTrail", &[]);
    let staging = resolved_stack("asg-trail-staging", &[]);
    for ((id, a), (_, b)) in physical_names(&prod)
        .into_iter()
        .zip(physical_names(&staging))
    {
        assert!(
            a.is_string() && b.is_string(),
            "{id}: {a} / {b} not literal"
        );
        assert_ne!(a, b, "{id}: two stacks would collide");
    }
    // The bucket's name is valid whatever the stack name's case: lowercase, 3 to 63 characters.
    for t in [&prod, &staging] {
        let bucket = resource(t, "LogBucket")["Properties"]["BucketName"]
            .as_str()
            .expect("bucket name")
            .to_owned();
        assert!(
            (3..=63).contains(&bucket.len())
                && bucket
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{bucket}"
        );
        assert!(
            bucket.starts_with("asg-trail-logs-123456789012-us-east-1-"),
            "{bucket}"
        );
        // The role, the invoke permission and the bucket name the same bucket.
        assert_eq!(
            statement_for(t, "s3:GetObject").expect("read")["Resource"],
            json!(format!("arn:aws:s3:::{bucket}/AWSLogs/*"))
        );
        assert_eq!(
            resource(t, "LogBucketInvokePermission")["Properties"]["SourceArn"],
            json!(format!("arn:aws:s3:::{bucket}"))
        );
    }
    // The default stack name keeps the table name of stacks made before names were derived.
    assert_eq!(
        resource(&resolved_stack("asg-trail", &[]), "Table")["Properties"]["TableName"],
        "asg-trail-events"
    );
    // An explicit name stays possible.
    let named = resolved_stack(
        "Prod-AsgTrail",
        &["TableName=audit-asg", "LogBucketName=my-trail-logs"],
    );
    assert_eq!(
        resource(&named, "Table")["Properties"]["TableName"],
        "audit-asg"
    );
    assert_eq!(
        resource(&named, "LogBucket")["Properties"]["BucketName"],
        "my-trail-logs"
    );
    assert_eq!(
        statement_for(&named, "s3:GetObject").expect("read")["Resource"],
        "arn:aws:s3:::my-trail-logs/AWSLogs/*"
    );
}

#[test]
fn sns_topic_of_the_stack_region_gets_the_queue_and_an_opt_in_region_its_principal() {
    let same = mode("existing-sns-same-region");
    let sub = &resource(same, "LogFileTopicSubscription")["Properties"];
    assert_eq!(
        sub["RedrivePolicy"],
        json!({"deadLetterTargetArn": get_att("FailedEventsQueue", "Arn")})
    );
    let qp =
        &resource(same, "FailedEventsQueuePolicy")["Properties"]["PolicyDocument"]["Statement"];
    assert_eq!(qp.as_array().expect("Statement").len(), 1, "{qp}");
    assert_eq!(qp[0]["Principal"], json!({"Service": "sns.amazonaws.com"}));
    assert_eq!(
        qp[0]["Condition"]["ArnEquals"]["aws:SourceArn"],
        "arn:aws:sns:us-east-1:111122223333:org-trail-log-files"
    );
    let principal =
        |m: &str| resource(mode(m), "LogFileTopicPermission")["Properties"]["Principal"].clone();
    assert_eq!(principal("existing-sns-same-region"), "sns.amazonaws.com");
    assert_eq!(principal("existing-sns"), "sns.amazonaws.com");
    assert_eq!(
        principal("existing-sns-opt-in"),
        "sns.ap-east-1.amazonaws.com",
        "a topic in an opt-in region invokes through its regional principal"
    );
    let opt_in = &resource(mode("existing-sns-opt-in"), "LogFileTopicSubscription")["Properties"];
    assert!(opt_in.get("RedrivePolicy").is_none());
    assert_eq!(opt_in["Region"], "ap-east-1");
}

#[test]
fn hardened_turnkey_encrypts_the_trail_with_its_own_retained_key_and_versions_the_bucket() {
    let t = mode("turnkey-hardened");
    let key = resource(t, "TrailKey");
    assert_eq!(
        key["DeletionPolicy"], "RetainExceptOnCreate",
        "the log files outlive the stack"
    );
    assert_eq!(key["UpdateReplacePolicy"], "Retain");
    assert_eq!(key["Properties"]["EnableKeyRotation"], true);
    let statements = key["Properties"]["KeyPolicy"]["Statement"]
        .as_array()
        .expect("Statement");
    let by_sid = |sid: &str| {
        statements
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no key policy statement {sid}"))
            .clone()
    };
    let trail_arn = json!({"Fn::Sub":
        "arn:${AWS::Partition}:cloudtrail:${AWS::Region}:${AWS::AccountId}:trail/${AWS::StackName}"});
    let encrypt = by_sid("AllowCloudTrailToEncryptLogs");
    assert_eq!(
        encrypt["Principal"],
        json!({"Service": "cloudtrail.amazonaws.com"})
    );
    assert_eq!(encrypt["Action"], "kms:GenerateDataKey*");
    assert_eq!(
        encrypt["Condition"]["StringEquals"]["aws:SourceArn"],
        trail_arn
    );
    assert!(
        encrypt["Condition"]["StringLike"]["kms:EncryptionContext:aws:cloudtrail:arn"].is_object()
    );
    assert_eq!(
        by_sid("AllowCloudTrailToDescribeKey")["Action"],
        "kms:DescribeKey"
    );
    assert_eq!(by_sid("EnableIamPolicies")["Action"], "kms:*");

    assert_eq!(
        resource(t, "Trail")["Properties"]["KMSKeyId"],
        get_att("TrailKey", "Arn")
    );
    let decrypt = statement_for(t, "kms:Decrypt").expect("the function may decrypt");
    assert_eq!(decrypt["Resource"], json!([get_att("TrailKey", "Arn")]));
    assert_eq!(
        decrypt["Condition"],
        json!({"StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}}})
    );

    let b = &resource(t, "LogBucket")["Properties"];
    assert_eq!(b["VersioningConfiguration"], json!({"Status": "Enabled"}));
    assert_eq!(b["BucketName"], "asg-trail-logs-111122223333-us-east-1");
    let rules = b["LifecycleConfiguration"]["Rules"]
        .as_array()
        .expect("Rules");
    assert!(
        rules.iter().any(|r| r["Id"] == "ExpireNoncurrentLogFiles"
            && r["NoncurrentVersionExpiration"] == json!({"NoncurrentDays": 30})),
        "{rules:?}"
    );
    assert_eq!(
        mode("turnkey-hardened")["Outputs"]["TrailKeyArn"]["Value"],
        get_att("TrailKey", "Arn")
    );

    // A trail key needs the trail.
    let out_path = scratch("no-trail-key.json");
    let out = stack::template_tool(&[
        "resolve",
        "template.yaml",
        out_path.to_str().expect("utf-8"),
        "--param",
        "TrailKmsEncryption=true",
        "--param",
        "CreateTrail=false",
    ]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("TrailKmsEncryption encrypts the trail"),
        "{}",
        text(&out)
    );
}

#[test]
fn dashboard_shows_ingestion_rate_lag_errors_and_the_failure_queue() {
    let d = &resource(mode("turnkey"), "Dashboard")["Properties"];
    assert_eq!(
        d["DashboardName"],
        json!({"Fn::Sub": "${AWS::StackName}-${AWS::Region}"})
    );
    let body = d["DashboardBody"]["Fn::Sub"][0]
        .as_str()
        .expect("body text");
    let parsed: Value =
        serde_json::from_str(&without_placeholders(body)).expect("the dashboard body is JSON");
    let widgets = parsed["widgets"].as_array().expect("widgets");
    let (metric_widgets, others): (Vec<&Value>, Vec<&Value>) =
        widgets.iter().partition(|w| w["type"] == "metric");
    let titles: Vec<&str> = metric_widgets
        .iter()
        .map(|w| w["properties"]["title"].as_str().expect("title"))
        .collect();
    assert_eq!(
        titles,
        [
            "Ingestion rate (per 5 min)",
            "Ingestion lag (s, newest event to ingestion)",
            "Errors",
            "Failure queue (kept 14 days)"
        ]
    );
    for metric in [
        "ObjectsIngested",
        "IngestionLag",
        "ObjectsFailed",
        "Rejected",
    ] {
        assert!(
            body.contains(&format!("\"{metric}\"")),
            "{metric} not on the dashboard"
        );
    }
    // Every AsgTrail metric on it is one of the contract's ("." repeats the row above's field).
    let mut shown = Vec::new();
    for widget in &metric_widgets {
        let mut namespace = String::new();
        for row in widget["properties"]["metrics"].as_array().expect("metrics") {
            let (first, second) = (row[0].as_str().unwrap_or(""), row[1].as_str());
            if first == "..." {
                continue;
            }
            if first != "." {
                namespace = first.to_owned();
            }
            if namespace == "AsgTrail" {
                shown.push(second.expect("metric name").to_owned());
            }
        }
    }
    for name in &shown {
        assert!(
            FUNCTION_METRICS.contains(&name.as_str()),
            "{name} is not a contract metric"
        );
    }
    assert!(shown.len() >= 8, "{shown:?}");
    let variables = &d["DashboardBody"]["Fn::Sub"][1];
    assert_eq!(
        (&variables["FunctionName"], &variables["QueueName"]),
        (
            &json!({"Ref": "Function"}),
            &get_att("FailedEventsQueue", "QueueName")
        )
    );
    // Last, the stack's parts (which also orders the dashboard after them: see
    // the_table_is_created_last_and_nothing_refers_to_it).
    let [parts] = others.as_slice() else {
        panic!("one widget besides the metrics: {others:?}")
    };
    assert_eq!(parts["type"], "text");
    assert!(
        parts["properties"]["markdown"]
            .as_str()
            .expect("markdown")
            .starts_with("## The parts of stack "),
        "{parts}"
    );
}

/// The body with its `${...}` placeholders replaced by a plain word (for JSON parsing).
fn without_placeholders(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        out.push('X');
        let end = rest[start..].find('}').expect("closing brace");
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn build_and_deploy_read_the_same_parameters_from_samconfig() {
    let ok = stack::template_tool(&["samconfig"]);
    assert!(ok.status.success(), "samconfig.toml {}", text(&ok));

    // `sam deploy --guided` saves its answers under [default.deploy.parameters]: `sam build`
    // would then compile for the template's default architecture and deploy another one.
    let original =
        std::fs::read_to_string(stack::repo_root().join("samconfig.toml")).expect("samconfig");
    let anchor = "[default.deploy.parameters]\n";
    assert_eq!(original.matches(anchor).count(), 1);
    let path = scratch("samconfig-deploy-only.toml");
    std::fs::write(
        &path,
        original.replace(
            anchor,
            &format!("{anchor}parameter_overrides = [\"Architecture=x86_64\"]\n"),
        ),
    )
    .expect("write");
    let out = stack::template_tool(&["samconfig", "--config", path.to_str().expect("utf-8")]);
    assert!(!out.status.success(), "accepted {}", text(&out));
    assert!(
        text(&out).contains("`sam build` and `sam deploy` read different parameter_overrides"),
        "{}",
        text(&out)
    );
}

/// The parameter overrides samconfig.toml gives `sam deploy` (`"Name=\"value\""` lines).
fn samconfig_overrides() -> BTreeMap<String, String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/samconfig.toml");
    let text = std::fs::read_to_string(path).expect("samconfig.toml");
    text.lines()
        .filter_map(|line| {
            let entry = line.trim().trim_end_matches(',').strip_prefix('"')?;
            let entry = entry.strip_suffix('"')?.replace("\\\"", "\"");
            let (name, value) = entry.split_once('=')?;
            Some((name.to_owned(), value.trim_matches('"').to_owned()))
        })
        .collect()
}

#[test]
fn the_cost_benchmarks_defaults_are_the_deployed_defaults() {
    // benches/cost.rs prices "defaults" with this environment and memory size: they must be
    // what `sam deploy` gives the function (template defaults, samconfig.toml's overrides).
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/cost.json");
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("cost.json")).expect("json");
    let defaults = plan["scenarios"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "defaults"))
        .expect("a defaults scenario");
    let mut env = function_env("turnkey");
    env.remove("TABLE_NAME");
    assert_eq!(Value::Object(env), defaults["env"]);
    let f = &resource(mode("turnkey"), "Function")["Properties"];
    assert_eq!(f["MemorySize"], plan["lambda"]["memory_mb"]);
    // The turnkey mode resolves the template's defaults: samconfig.toml must not move them.
    let overrides = samconfig_overrides();
    for (name, variable) in [
        ("RetentionDays", "RETENTION_DAYS"),
        ("ReadOnlyRetentionDays", "READ_ONLY_RETENTION_DAYS"),
        ("IncludeServiceActions", "INCLUDE_SERVICE_ACTIONS"),
        ("ExcludeReadOnly", "EXCLUDE_READ_ONLY"),
        ("EventNamesInclude", "EVENT_NAMES_INCLUDE"),
        ("EventNamesExclude", "EVENT_NAMES_EXCLUDE"),
        ("RealTimeEventAccounts", "EVENT_ACCOUNTS"),
    ] {
        assert_eq!(
            overrides.get(name).map(String::as_str),
            defaults["env"][variable].as_str(),
            "samconfig.toml's {name} is not the default the benchmark prices"
        );
    }
}

#[test]
fn real_time_events_are_on_by_default_scoped_to_their_rule_and_off_with_the_parameter() {
    for m in ALL_MODES.iter().filter(|m| **m != "turnkey-options") {
        let t = mode(m);
        let rule = &resource(t, "AutoScalingEventsRule")["Properties"];
        // Every detail-type (API calls, activities, and the ones AWS adds later), of the
        // accepted accounts only: this one and RealTimeEventAccounts; with an organization,
        // whatever the bus admits (its policy names the organization).
        let accounts = match *m {
            "existing-eventbridge" => None,
            "existing-sns" => Some(json!({"Fn::Split": [",",
                {"Fn::Sub": "${AWS::AccountId},444455556666,777788889999"}]})),
            _ => Some(json!([{"Ref": "AWS::AccountId"}])),
        };
        let mut pattern = json!({"source": ["aws.autoscaling"]});
        if let Some(accounts) = accounts {
            pattern["account"] = accounts;
        }
        assert_eq!(rule["EventPattern"], pattern, "{m}");
        let env = function_env(m);
        let bus_policies = ids_of_type(t, "AWS::Events::EventBusPolicy");
        let bus = json!({"Fn::Sub":
            "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"});
        match *m {
            "existing-eventbridge" => {
                assert_eq!(env["EVENT_ACCOUNTS"], "o-abc123def4", "{m}");
                assert_eq!(bus_policies, ["EventBusOrganizationPolicy"], "{m}");
                assert_eq!(
                    resource(t, "EventBusOrganizationPolicy")["Properties"]["Statement"],
                    json!({"Effect": "Allow", "Principal": "*", "Action": "events:PutEvents",
                           "Resource": bus,
                           "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123def4"}}}),
                    "{m}: the organization's accounts only"
                );
            }
            "existing-sns" => {
                assert_eq!(env["EVENT_ACCOUNTS"], "444455556666,777788889999", "{m}");
                assert_eq!(bus_policies, ["EventBusAccountsPolicy"], "{m}");
                assert_eq!(
                    resource(t, "EventBusAccountsPolicy")["Properties"]["Statement"],
                    json!({"Effect": "Allow",
                           "Principal": {"AWS": ["444455556666", "777788889999"]},
                           "Action": "events:PutEvents", "Resource": bus}),
                    "{m}: the listed accounts only"
                );
            }
            _ => {
                assert_eq!(env["EVENT_ACCOUNTS"], "", "{m}: nobody but this account");
                assert!(bus_policies.is_empty(), "{m}: the bus admits nobody new");
            }
        }
        assert!(rule.get("EventBusName").is_none(), "{m}: the default bus");
        let target = &rule["Targets"][0];
        assert_eq!(target["Arn"], get_att("Function", "Arn"), "{m}");
        assert_eq!(
            target["RetryPolicy"],
            json!({"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}),
            "{m}"
        );
        assert_eq!(
            target["DeadLetterConfig"]["Arn"],
            get_att("AutoScalingEventsDeadLetterQueue", "Arn"),
            "{m}"
        );
        let perm = &resource(t, "AutoScalingEventsRulePermission")["Properties"];
        assert_eq!(
            (&perm["Action"], &perm["Principal"], &perm["SourceArn"]),
            (
                &json!("lambda:InvokeFunction"),
                &json!("events.amazonaws.com"),
                &get_att("AutoScalingEventsRule", "Arn")
            ),
            "{m}: only this rule may invoke the function for these events"
        );
        let qp = &resource(t, "AutoScalingEventsDeadLetterQueuePolicy")["Properties"];
        assert_eq!(
            qp["Queues"],
            json!([{"Ref": "AutoScalingEventsDeadLetterQueue"}]),
            "{m}"
        );
        assert_eq!(
            qp["PolicyDocument"]["Statement"],
            json!([{"Sid": "AutoScalingEventsDeadLetters", "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage",
                    "Resource": get_att("AutoScalingEventsDeadLetterQueue", "Arn"),
                    "Condition": {"ArnEquals": {"aws:SourceArn": get_att("AutoScalingEventsRule", "Arn")}}}]),
            "{m}"
        );
        let alarm = &resource(t, "AutoScalingEventsDeadLetterAlarm")["Properties"];
        assert_eq!(
            alarm["Dimensions"],
            json!([{"Name": "QueueName", "Value": get_att("AutoScalingEventsDeadLetterQueue", "QueueName")}]),
            "{m}"
        );
        assert_eq!(
            (&alarm["ComparisonOperator"], &alarm["Threshold"]),
            (&json!("GreaterThanThreshold"), &json!(0)),
            "{m}"
        );
        assert_eq!(
            resource(t, "AutoScalingEventsDeadLetterQueue")["Properties"]["MessageRetentionPeriod"],
            1_209_600,
            "{m}"
        );
        // The function's role gains nothing: EventBridge sends to the queue, not the function.
        assert!(
            statement_for(t, "events:PutEvents").is_none()
                && statement_for(t, "sqs:ReceiveMessage").is_none(),
            "{m}"
        );
    }
    // RealTimeEvents=false (turnkey-options): none of it.
    let off = mode("turnkey-options");
    for id in [
        "AutoScalingEventsRule",
        "AutoScalingEventsRulePermission",
        "AutoScalingEventsDeadLetterQueue",
        "AutoScalingEventsDeadLetterQueuePolicy",
        "AutoScalingEventsDeadLetterAlarm",
    ] {
        assert!(
            off["Resources"].get(id).is_none(),
            "RealTimeEvents=false keeps {id}"
        );
    }
    assert!(off["Outputs"].get("AutoScalingEventsRuleArn").is_none());
}

#[test]
fn the_forwarder_forwards_the_stacks_events_with_one_grant_and_the_checks_say_so() {
    let ok = stack::template_tool(&["check-forwarder"]);
    assert!(ok.status.success(), "check-forwarder {}", text(&ok));
    let original = std::fs::read_to_string(stack::repo_root().join("infra/forwarder.yaml"))
        .expect("infra/forwarder.yaml");
    let cases = [
        (
            "any-action",
            "                Action: events:PutEvents\n",
            "                Action: \"events:*\"\n",
            "is more than events:PutEvents",
        ),
        (
            "any-bus",
            "                  - \"arn:${AWS::Partition}:events:${StackRegion}:${BusAccount}:event-bus/default\"\n",
            "                  - \"arn:${AWS::Partition}:events:*:${BusAccount}:event-bus/*\"\n",
            "is more than events:PutEvents",
        ),
        (
            "any-account",
            "                aws:SourceAccount: !Ref AWS::AccountId\n",
            "                aws:SourceAccount: \"111122223333\"\n",
            "not limited to this account",
        ),
        (
            "only-launches",
            "        source: [aws.autoscaling]\n",
            "        source: [aws.autoscaling]\n        detail-type: [EC2 Instance Launch Successful]\n",
            "is not the stack rule's",
        ),
        (
            "other-accounts-events",
            "        account: [!Ref AWS::AccountId]\n",
            "",
            "for this account only",
        ),
        (
            "no-dead-letter-queue",
            "          DeadLetterConfig:\n            Arn: !GetAtt DeadLetterQueue.Arn\n",
            "",
            "no dead-letter queue",
        ),
        (
            "no-retry-policy",
            "          RetryPolicy:\n",
            "          RetryPolicyX:\n",
            "no RetryPolicy",
        ),
        (
            "any-rule-may-send",
            "              ArnEquals:\n                aws:SourceArn: !GetAtt ForwardRule.Arn\n",
            "              StringEquals:\n                aws:SourceAccount: !Ref AWS::AccountId\n",
            "must let only ForwardRule send",
        ),
    ];
    for (name, from, to, expected) in cases {
        assert_eq!(original.matches(from).count(), 1, "{name}: {from:?}");
        let path = scratch(&format!("forwarder-{name}.yaml"));
        std::fs::write(&path, original.replace(from, to)).expect("write");
        let out = stack::template_tool(&[
            "check-forwarder",
            "--forwarder",
            path.to_str().expect("utf-8"),
        ]);
        let all = text(&out);
        assert!(!out.status.success(), "{name}: accepted {all}");
        assert!(
            all.contains(expected),
            "{name}: expected {expected:?} in {all}"
        );
    }
}

#[test]
fn the_table_upgrades_in_place_from_the_previous_release() {
    // A stack deployed with the previous release upgrades with `sam deploy`: CloudFormation
    // replaces a table whose name or keys change (and changes one GSI per update), so
    // everything of the table but its TTL must stay as that release had it.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/previous-release-table.json"
    );
    let previous: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    let mut now = resource(mode("turnkey"), "Table").clone();
    let ttl = now["Properties"]
        .as_object_mut()
        .and_then(|p| p.remove("TimeToLiveSpecification"));
    assert_eq!(
        ttl,
        Some(json!({"AttributeName": "expiresAt", "Enabled": true})),
        "TTL changes in place"
    );
    // DependsOn (the table is created last) orders a first create and is no property of the
    // table: CloudFormation neither replaces nor updates a resource for it. The function and its
    // role now name the table instead of referring to it: the same values.
    let depends_on = now.as_object_mut().and_then(|t| t.remove("DependsOn"));
    assert!(depends_on.is_some_and(|d| d.is_array()), "{now}");
    assert_eq!(now, previous["Table"]);
}

/// The transformed template (SAM -> CloudFormation, conditions unresolved), once per process.
fn transformed() -> &'static Value {
    static TRANSFORMED: OnceLock<Value> = OnceLock::new();
    TRANSFORMED.get_or_init(|| tool_json("transform", "template.yaml", "transformed.json", &[]))
}

/// The `${Name}` and `${Name.Attribute}` placeholders of an Fn::Sub string (not `${!Literal}`).
fn sub_placeholders(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find('}') else { break };
        if !rest.starts_with('!') {
            names.push(&rest[..end]);
        }
        rest = &rest[end + 1..];
    }
    names
}

/// The resources of `ids` that `value` refers to: Ref, Fn::GetAtt, an Fn::Sub placeholder that
/// is not one of its own variables; both branches of an Fn::If (as CloudFormation orders an
/// unresolved template; a resolved one has none left).
fn references_into(value: &Value, ids: &BTreeSet<String>, out: &mut BTreeSet<String>) {
    fn found(id: &str, ids: &BTreeSet<String>, out: &mut BTreeSet<String>) {
        if ids.contains(id) {
            out.insert(id.to_owned());
        }
    }
    match value {
        Value::Array(items) => {
            for item in items {
                references_into(item, ids, out);
            }
        }
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("Ref", _) => found(v.as_str().unwrap_or_default(), ids, out),
                    ("Fn::GetAtt", Value::Array(a)) => {
                        found(a[0].as_str().unwrap_or_default(), ids, out);
                    }
                    ("Fn::GetAtt", _) => {
                        let id = v.as_str().unwrap_or_default().split('.').next();
                        found(id.unwrap_or_default(), ids, out);
                    }
                    ("Fn::Sub", _) => {
                        let (text, variables) = match v {
                            Value::Array(a) => (a[0].as_str().unwrap_or_default(), a.get(1)),
                            _ => (v.as_str().unwrap_or_default(), None),
                        };
                        for name in sub_placeholders(text) {
                            if variables.is_none_or(|vars| vars.get(name).is_none()) {
                                found(name.split('.').next().unwrap_or_default(), ids, out);
                            }
                        }
                        if let Some(variables) = variables {
                            references_into(variables, ids, out);
                        }
                    }
                    _ => references_into(v, ids, out),
                }
            }
        }
        _ => {}
    }
}

/// What each resource of the template waits for in a create: its DependsOn and its references.
fn dependencies(template: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let resources = template["Resources"].as_object().expect("Resources");
    let ids: BTreeSet<String> = resources.keys().cloned().collect();
    resources
        .iter()
        .map(|(id, r)| {
            let mut deps = BTreeSet::new();
            match &r["DependsOn"] {
                Value::String(d) => {
                    deps.insert(d.clone());
                }
                Value::Array(ds) => {
                    deps.extend(ds.iter().filter_map(Value::as_str).map(str::to_owned));
                }
                _ => {}
            }
            references_into(r, &ids, &mut deps);
            (id.clone(), deps)
        })
        .collect()
}

/// What stops `Table` from being the last resource a create makes: a resource it does not wait
/// for (directly or not), or one that waits for it.
fn table_order_problems(template: &Value) -> Vec<String> {
    let graph = dependencies(template);
    let mut before = BTreeSet::new();
    let mut todo = vec!["Table".to_owned()];
    while let Some(id) = todo.pop() {
        for dep in graph.get(&id).into_iter().flatten() {
            if before.insert(dep.clone()) {
                todo.push(dep.clone());
            }
        }
    }
    let mut problems: Vec<String> = graph
        .keys()
        .filter(|id| *id != "Table" && !before.contains(*id))
        .map(|id| format!("{id} is not created before the table"))
        .collect();
    problems.extend(
        graph
            .iter()
            .filter(|(id, deps)| *id != "Table" && deps.contains("Table"))
            .map(|(id, _)| format!("{id} waits for the table")),
    );
    problems
}

/// Issue 17: the table is retained and protected, so a first create makes it last: a failure
/// anywhere else rolls back before it exists, and nothing has to wait for it.
#[test]
fn the_table_is_created_last_and_nothing_refers_to_it() {
    assert!(
        table_order_problems(transformed()).is_empty(),
        "transformed: {:?}",
        table_order_problems(transformed())
    );
    for m in ALL_MODES {
        let problems = table_order_problems(mode(m));
        assert!(problems.is_empty(), "{m}: {problems:?}");
        // Which includes the conditional resources of the mode, reached only through Fn::If.
        let deps = dependencies(mode(m));
        assert!(deps["Table"].contains("Dashboard"), "{m}");
    }
    // The check sees the mistakes: a reference to the table, an unconditional resource left out
    // of the DependsOn, a conditional one left out of the dashboard.
    for (name, from, to, expected) in [
        (
            "function-refers-to-the-table",
            "          TABLE_NAME: !If [HasTableName, !Ref TableName, !Sub \"${AWS::StackName}-events\"]\n",
            "          TABLE_NAME: !Ref Table\n",
            "Function waits for the table",
        ),
        (
            "heartbeat-not-before-the-table",
            "      - HeartbeatAlarm\n",
            "",
            "HeartbeatAlarm is not created before the table",
        ),
        (
            "trail-not-on-the-dashboard",
            "              - !If [ShouldCreateTrail, !Sub \"\\\\n* trail `${Trail}`\", \"\"]\n",
            "",
            "Trail is not created before the table",
        ),
    ] {
        let t = resolved_mutation(name, from, to, "turnkey");
        let problems = table_order_problems(&t);
        assert!(
            problems.iter().any(|p| p == expected),
            "{name}: expected {expected:?} in {problems:?}"
        );
    }
}

/// template.yaml with `from` replaced by `to`, resolved in a mode.
fn resolved_mutation(name: &str, from: &str, to: &str, m: &str) -> Value {
    let original =
        std::fs::read_to_string(stack::repo_root().join("template.yaml")).expect("template");
    assert_eq!(original.matches(from).count(), 1, "{name}: {from:?}");
    let path = scratch(&format!("{name}.yaml"));
    std::fs::write(&path, original.replace(from, to)).expect("write mutated template");
    let path = path.to_str().expect("utf-8");
    tool_json("resolve", path, &format!("{name}.json"), &["--mode", m])
}

#[test]
fn the_function_and_its_role_name_the_table_they_write() {
    // Without a reference, only the name ties them to the table: the same in every mode.
    for m in ALL_MODES {
        let name = resource(mode(m), "Table")["Properties"]["TableName"].clone();
        assert_eq!(function_env(m)["TABLE_NAME"], name, "{m}");
        // The dashboard's list of parts (a literal name is substituted into its text).
        let body = &resource(mode(m), "Dashboard")["Properties"]["DashboardBody"]["Fn::Sub"];
        match name.as_str() {
            Some(literal) => assert!(
                body[0]
                    .as_str()
                    .expect("body")
                    .contains(&format!("table `{literal}`, created last")),
                "{m}"
            ),
            None => assert_eq!(body[1]["EventsTable"], name, "{m}"),
        }
        let name_text = name
            .as_str()
            .or_else(|| name["Fn::Sub"].as_str())
            .expect("a literal or a !Sub");
        assert_eq!(
            statement_for(mode(m), "dynamodb:BatchWriteItem").expect("write")["Resource"],
            json!({"Fn::Sub": format!(
                "arn:${{AWS::Partition}}:dynamodb:${{AWS::Region}}:${{AWS::AccountId}}:table/{name_text}"
            )}),
            "{m}"
        );
    }
    // Deployed: the literal name and ARN of the table.
    for (stack_name, params, table) in [
        ("Ledger-AsgTrail", vec![], "Ledger-AsgTrail-events"),
        ("Ledger-Named", vec!["TableName=audit-asg"], "audit-asg"),
    ] {
        let t = resolved_stack(stack_name, &params);
        assert_eq!(resource(&t, "Table")["Properties"]["TableName"], table);
        let env = &resource(&t, "Function")["Properties"]["Environment"]["Variables"];
        assert_eq!(env["TABLE_NAME"], table);
        assert_eq!(
            statement_for(&t, "dynamodb:BatchWriteItem").expect("write")["Resource"],
            format!("arn:aws:dynamodb:us-east-1:123456789012:table/{table}")
        );
    }
}

/// Issue 17: an alarm notifies only a topic of its own region, and Rules cannot split an ARN:
/// a resource that exists only for a topic of another region refuses it, at once.
#[test]
fn an_alarm_topic_of_another_region_is_refused_at_once_with_a_readable_message() {
    let refusal = resource(mode("alarm-topic-elsewhere"), "AlarmTopicRefusal");
    assert_eq!(refusal["Type"], "AWS::SSM::Parameter");
    let p = &refusal["Properties"];
    assert_eq!(p["Value"], "arn:aws:sns:eu-west-1:111122223333:pager");
    assert_eq!(
        p["AllowedPattern"],
        json!({"Fn::Sub": "AlarmTopicArn must be a topic in ${AWS::Region}: alarms notify only topics of their own region"})
    );
    // The value can never match: an ARN has no space, the pattern matches only text with spaces.
    assert!(!p["Value"].as_str().expect("value").contains(' '));
    // At once: it waits for nothing.
    assert!(
        dependencies(mode("alarm-topic-elsewhere"))["AlarmTopicRefusal"].is_empty(),
        "{refusal}"
    );
    // Deployed, CloudFormation's failed event quotes the pattern: the message, in the region.
    let t = resolved_stack(
        "Refused-AsgTrail",
        &["AlarmTopicArn=arn:aws:sns:ap-southeast-2:111122223333:pager"],
    );
    assert_eq!(
        resource(&t, "AlarmTopicRefusal")["Properties"]["AllowedPattern"],
        "AlarmTopicArn must be a topic in us-east-1: alarms notify only topics of their own region"
    );
    // A topic of the stack's region (turnkey-options') or none: nothing refused.
    assert_eq!(
        expected_alarm_actions("turnkey-options")[1],
        "arn:aws:sns:us-east-1:111122223333:pager"
    );
    for m in ALL_MODES.iter().filter(|m| **m != "alarm-topic-elsewhere") {
        assert!(
            mode(m)["Resources"].get("AlarmTopicRefusal").is_none(),
            "{m} refuses its alarm topic"
        );
    }
}
