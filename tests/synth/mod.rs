//! Synthetic CloudTrail log files for benchmarks and load tests: seeded, deterministic, and
//! shaped like real deliveries — mixed services (S3 data events, EC2, STS, KMS, IAM, SSM,
//! Lambda, CloudWatch Logs), realistic record sizes (a few hundred bytes to several KB), and a
//! chosen share of Auto Scaling records (EC2 Auto Scaling calls on a pool of groups, plus some
//! Application Auto Scaling calls that must be left out).
//!
//! Pure: writes plain JSON to any [`Write`]; the caller gzips it if it wants to.
//!
//! Not part of the library: the benches, the examples and the integration tests include this
//! file by path (`#[path = ...] mod synth;`); its own tests run in the integration test binary.

use std::io::{self, Write};

use asg_trail::extract::AUTOSCALING_EVENT_SOURCE;
use serde_json::{Value, json};

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SynthOptions {
    /// PRNG seed: the same seed and options give the same bytes.
    pub seed: u64,
    /// Stop after the first record that brings the output to at least this many bytes.
    pub target_bytes: u64,
    /// Share of records with eventSource `autoscaling.amazonaws.com` (0.0–1.0); one in ten of
    /// them is an Application Auto Scaling call.
    pub autoscaling_share: f64,
}

impl Default for SynthOptions {
    fn default() -> Self {
        Self {
            seed: 1,
            target_bytes: 10 << 20,
            autoscaling_share: 0.01,
        }
    }
}

/// What was generated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SynthStats {
    /// Records written.
    pub records: u64,
    /// EC2 Auto Scaling records among them (each names at most one group).
    pub autoscaling: u64,
    /// Application Auto Scaling records among them.
    pub application_autoscaling: u64,
    /// Bytes written.
    pub bytes: u64,
}

const ACCOUNT: &str = "123456789012";
const REGIONS: [&str; 4] = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"];

/// Writes one delivery file `{"Records":[...]}`.
///
/// # Errors
/// The writer's I/O errors.
pub fn write_log<W: Write>(out: W, options: &SynthOptions) -> io::Result<SynthStats> {
    let mut out = Counter {
        inner: out,
        bytes: 0,
    };
    let mut rng = fastrand::Rng::with_seed(options.seed);
    let mut stats = SynthStats::default();
    // 2024-03-05T00:00:00Z, one record every 0–3 seconds.
    let mut clock: u64 = 1_709_596_800;
    out.write_all(b"{\"Records\":[")?;
    while out.bytes < options.target_bytes || stats.records == 0 {
        if stats.records > 0 {
            out.write_all(b",")?;
        }
        clock += rng.u64(0..3);
        let record = if rng.f64() < options.autoscaling_share {
            if rng.u8(0..10) == 0 {
                stats.application_autoscaling += 1;
                application_autoscaling(&mut rng, clock)
            } else {
                stats.autoscaling += 1;
                autoscaling(&mut rng, clock)
            }
        } else {
            other_service(&mut rng, clock)
        };
        serde_json::to_writer(&mut out, &record)?;
        stats.records += 1;
    }
    out.write_all(b"]}")?;
    out.flush()?;
    stats.bytes = out.bytes;
    Ok(stats)
}

struct Counter<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn uuid(rng: &mut fastrand::Rng) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        rng.u32(..),
        rng.u16(..),
        rng.u16(..0x1000),
        rng.u16(0x8000..0xc000),
        rng.u64(..1 << 48)
    )
}

fn time(epoch: u64) -> String {
    let days = epoch / 86_400;
    let secs = epoch % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = i64::try_from(days).expect("a date in range") + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn pick<'a>(rng: &mut fastrand::Rng, options: &[&'a str]) -> &'a str {
    options[rng.usize(..options.len())]
}

/// The envelope every record shares, with an assumed-role caller.
fn envelope(
    rng: &mut fastrand::Rng,
    epoch: u64,
    source: &str,
    name: &str,
    read_only: bool,
) -> Value {
    let role = pick(
        rng,
        &["Admin", "Deployer", "ci-runner", "karpenter", "app-backend"],
    );
    let session = pick(
        rng,
        &[
            "alice@example.com",
            "bob@example.com",
            "i-0a1b2c3d4e5f60718",
            "gha-run-812345",
        ],
    );
    json!({
        "eventVersion": pick(rng, &["1.08", "1.09", "1.10", "1.11"]),
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": format!("AROA{:016X}:{session}", rng.u64(..)),
            "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}"),
            "accountId": ACCOUNT,
            "accessKeyId": format!("ASIA{:016X}", rng.u64(..)),
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": format!("AROA{:016X}", rng.u64(..)),
                    "arn": format!("arn:aws:iam::{ACCOUNT}:role/{role}"),
                    "accountId": ACCOUNT,
                    "userName": role
                },
                "attributes": {"creationDate": time(epoch - 600), "mfaAuthenticated": "false"}
            }
        },
        "eventTime": time(epoch),
        "eventSource": source,
        "eventName": name,
        "awsRegion": pick(rng, &REGIONS),
        "sourceIPAddress": format!("{}.{}.{}.{}", rng.u8(1..224), rng.u8(..), rng.u8(..), rng.u8(1..255)),
        "userAgent": pick(rng, &[
            "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79 exe/x86_64.amzn.2023 prompt/off command/s3.cp",
            "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.150.0",
            "Boto3/1.34.59 md/Botocore#1.34.59 ua/2.0 os/linux#5.10.210 md/arch#x86_64 lang/python#3.12.2",
            "console.amazonaws.com",
            "aws-sdk-java/2.25.6 Linux/5.10 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10",
        ]),
        "requestID": uuid(rng),
        "eventID": uuid(rng),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": format!("{}.us-east-1.amazonaws.com", source.trim_end_matches(".amazonaws.com"))
        }
    })
}

fn set(record: &mut Value, request: Value, response: Value) {
    record["requestParameters"] = request;
    record["responseElements"] = response;
}

fn other_service(rng: &mut fastrand::Rng, epoch: u64) -> Value {
    match rng.u8(0..100) {
        0..=34 => {
            let name = pick(rng, &["GetObject", "PutObject", "HeadObject"]);
            let mut r = envelope(rng, epoch, "s3.amazonaws.com", name, name != "PutObject");
            let bucket = pick(rng, &["prod-assets", "data-lake-raw", "build-artifacts"]);
            let key = format!("p/{}/{:x}.parquet", rng.u16(..), rng.u64(..));
            set(
                &mut r,
                json!({"bucketName": bucket, "Host": format!("{bucket}.s3.us-east-1.amazonaws.com"), "key": key}),
                Value::Null,
            );
            r["additionalEventData"] = json!({"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
                "bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader", "x-amz-id-2": format!("{:x}{:x}", rng.u64(..), rng.u64(..)),
                "bytesTransferredOut": rng.u32(..1 << 24)});
            r["resources"] = json!([{"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::{bucket}/{key}")},
                {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{bucket}")}]);
            r["eventCategory"] = json!("Data");
            r["managementEvent"] = json!(false);
            r
        }
        35..=49 => {
            let mut r = envelope(rng, epoch, "kms.amazonaws.com", "Decrypt", true);
            set(
                &mut r,
                json!({"encryptionAlgorithm": "SYMMETRIC_DEFAULT",
                "encryptionContext": {"aws:lambda:FunctionArn": format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:svc-{}", rng.u8(..))}}),
                Value::Null,
            );
            r["resources"] = json!([{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{}", uuid(rng))}]);
            r
        }
        50..=64 => {
            let name = pick(
                rng,
                &[
                    "DescribeInstances",
                    "DescribeSubnets",
                    "DescribeSecurityGroups",
                    "DescribeVolumes",
                ],
            );
            let mut r = envelope(rng, epoch, "ec2.amazonaws.com", name, true);
            set(
                &mut r,
                json!({"maxResults": 1000, "filterSet": {"items": [{"name": "tag:team", "valueSet": {"items": [{"value": "platform"}]}}]}}),
                Value::Null,
            );
            r
        }
        65..=74 => {
            let mut r = envelope(rng, epoch, "sts.amazonaws.com", "AssumeRole", true);
            let session = format!("session-{}", rng.u32(..));
            set(
                &mut r,
                json!({"roleArn": format!("arn:aws:iam::{ACCOUNT}:role/app-{}", rng.u8(..)), "roleSessionName": session, "durationSeconds": 3600}),
                json!({"credentials": {"accessKeyId": format!("ASIA{:016X}", rng.u64(..)), "sessionToken": "x".repeat(400), "expiration": "Mar 5, 2024, 1:00:00 PM"},
                       "assumedRoleUser": {"assumedRoleId": format!("AROA{:016X}:{session}", rng.u64(..)), "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/{session}")}}),
            );
            r
        }
        75..=79 => {
            // Auto Scaling launching an instance for a group: a large record, not an Auto Scaling event.
            let mut r = envelope(rng, epoch, "ec2.amazonaws.com", "RunInstances", false);
            r["userIdentity"]["invokedBy"] = json!(AUTOSCALING_EVENT_SOURCE);
            r["sourceIPAddress"] = json!(AUTOSCALING_EVENT_SOURCE);
            r["userAgent"] = json!(AUTOSCALING_EVENT_SOURCE);
            let group = format!("asg-{}", rng.u8(0..20));
            let items: Vec<Value> = (0..rng.usize(1..4)).map(|_| json!({
                "instanceId": format!("i-{:017x}", rng.u64(..1 << 60)), "imageId": "ami-0abcdef1234567890",
                "instanceState": {"code": 0, "name": "pending"}, "privateDnsName": "ip-10-0-1-23.ec2.internal",
                "amiLaunchIndex": 0, "productCodes": {}, "instanceType": "m6i.large", "launchTime": 1_709_596_800_000u64,
                "placement": {"availabilityZone": "us-east-1a", "tenancy": "default"}, "monitoring": {"state": "disabled"},
                "subnetId": "subnet-0123456789abcdef0", "vpcId": "vpc-0123456789abcdef0", "privateIpAddress": "10.0.1.23",
                "stateReason": {"code": "pending", "message": "pending"}, "architecture": "x86_64", "rootDeviceType": "ebs",
                "rootDeviceName": "/dev/xvda", "blockDeviceMapping": {}, "virtualizationType": "hvm", "hypervisor": "xen",
                "tagSet": {"items": [{"key": "aws:autoscaling:groupName", "value": group}]},
                "groupSet": {"items": [{"groupId": "sg-0123456789abcdef0", "groupName": "web"}]},
                "networkInterfaceSet": {"items": [{"networkInterfaceId": "eni-0123456789abcdef0", "subnetId": "subnet-0123456789abcdef0",
                    "privateIpAddressesSet": {"item": [{"privateIpAddress": "10.0.1.23", "primary": true}]}}]},
                "ebsOptimized": true, "enaSupport": true, "cpuOptions": {"coreCount": 1, "threadsPerCore": 2},
                "metadataOptions": {"state": "pending", "httpTokens": "required", "httpPutResponseHopLimit": 2, "httpEndpoint": "enabled"}
            })).collect();
            set(
                &mut r,
                json!({"instancesSet": {"items": [{"minCount": 1, "maxCount": 1}]},
                    "launchTemplate": {"launchTemplateId": "lt-0123456789abcdef0", "version": "7"},
                    "tagSpecificationSet": {"items": [{"resourceType": "instance", "tags": [{"key": "aws:autoscaling:groupName", "value": group}]}]}}),
                json!({"requestId": uuid(rng), "reservationId": format!("r-{:017x}", rng.u64(..1 << 60)), "ownerId": ACCOUNT,
                       "groupSet": {}, "instancesSet": {"items": items}, "requesterId": "940372691376"}),
            );
            r
        }
        80..=84 => {
            let mut r = envelope(rng, epoch, "ssm.amazonaws.com", "GetParameter", true);
            set(
                &mut r,
                json!({"name": format!("/app/{}/db-url", rng.u8(..)), "withDecryption": true}),
                Value::Null,
            );
            r
        }
        85..=89 => {
            let mut r = envelope(rng, epoch, "logs.amazonaws.com", "CreateLogStream", false);
            set(
                &mut r,
                json!({"logGroupName": "/aws/lambda/svc", "logStreamName": format!("2024/03/05/[$LATEST]{:x}", rng.u64(..))}),
                Value::Null,
            );
            r
        }
        90..=94 => {
            let mut r = envelope(
                rng,
                epoch,
                "lambda.amazonaws.com",
                "GetFunction20150331v2",
                true,
            );
            set(
                &mut r,
                json!({"functionName": format!("svc-{}", rng.u8(..))}),
                Value::Null,
            );
            r
        }
        _ => {
            let mut r = envelope(rng, epoch, "iam.amazonaws.com", "ListRoles", true);
            set(&mut r, json!({"maxItems": 100}), Value::Null);
            r
        }
    }
}

fn autoscaling(rng: &mut fastrand::Rng, epoch: u64) -> Value {
    let group = format!("asg-{}", rng.u8(0..20));
    let (name, read_only, request) = match rng.u8(0..7) {
        0 => (
            "UpdateAutoScalingGroup",
            false,
            json!({"autoScalingGroupName": group, "minSize": 2, "maxSize": rng.u8(4..20), "desiredCapacity": rng.u8(2..4)}),
        ),
        1 => (
            "SetDesiredCapacity",
            false,
            json!({"autoScalingGroupName": group, "desiredCapacity": rng.u8(1..20), "honorCooldown": false}),
        ),
        2 => (
            "DescribeAutoScalingGroups",
            true,
            json!({"autoScalingGroupNames": [group], "maxRecords": 100}),
        ),
        3 => (
            "PutScalingPolicy",
            false,
            json!({"autoScalingGroupName": group, "policyName": "cpu50", "policyType": "TargetTrackingScaling",
            "targetTrackingConfiguration": {"predefinedMetricSpecification": {"predefinedMetricType": "ASGAverageCPUUtilization"}, "targetValue": 50.0}}),
        ),
        4 => (
            "CompleteLifecycleAction",
            false,
            json!({"autoScalingGroupName": group, "lifecycleHookName": "drain", "lifecycleActionResult": "CONTINUE",
            "instanceId": format!("i-{:017x}", rng.u64(..1 << 60))}),
        ),
        5 => (
            "DescribeScalingActivities",
            true,
            json!({"autoScalingGroupName": group, "maxRecords": 20}),
        ),
        _ => (
            "CreateLaunchConfiguration",
            false,
            json!({"launchConfigurationName": format!("lc-{}", rng.u16(..)), "imageId": "ami-0abcdef1234567890", "instanceType": "m6i.large"}),
        ),
    };
    let mut r = envelope(rng, epoch, AUTOSCALING_EVENT_SOURCE, name, read_only);
    set(&mut r, request, Value::Null);
    r
}

fn application_autoscaling(rng: &mut fastrand::Rng, epoch: u64) -> Value {
    let mut r = envelope(
        rng,
        epoch,
        AUTOSCALING_EVENT_SOURCE,
        "DescribeScalableTargets",
        true,
    );
    set(
        &mut r,
        json!({"serviceNamespace": "ecs", "resourceIds": [format!("service/prod/svc-{}", rng.u8(..))]}),
        Value::Null,
    );
    r["additionalEventData"] = json!({"service": "application-autoscaling"});
    r
}

#[cfg(test)]
mod tests {
    // Also compiled where no test harness runs (the benches, in `cargo test --all-targets`):
    // the #[test] functions drop out there, and this import is left unused.
    #![allow(unused_imports)]
    use super::*;

    #[test]
    fn deterministic_for_a_seed_and_about_the_size_asked() {
        let options = SynthOptions {
            seed: 7,
            target_bytes: 200_000,
            autoscaling_share: 0.05,
        };
        let mut a = Vec::new();
        let mut b = Vec::new();
        let sa = write_log(&mut a, &options).expect("writes");
        let sb = write_log(&mut b, &options).expect("writes");
        assert_eq!(a, b);
        assert_eq!(sa, sb);
        assert_eq!(sa.bytes, a.len() as u64);
        assert!(a.len() >= 200_000 && a.len() < 220_000, "{}", a.len());
        let mut c = Vec::new();
        write_log(&mut c, &SynthOptions { seed: 8, ..options }).expect("writes");
        assert_ne!(a, c);
    }

    #[test]
    fn the_extractor_finds_exactly_the_generated_auto_scaling_events() {
        let options = SynthOptions {
            seed: 3,
            target_bytes: 2_000_000,
            autoscaling_share: 0.02,
        };
        let mut log = Vec::new();
        let stats = write_log(&mut log, &options).expect("writes");
        assert!(stats.autoscaling > 10, "{stats:?}");
        let (file, result) = asg_trail::pipeline::extracted_items(
            &log[..],
            asg_trail::cloudtrail::Format::Delivery,
            "synthetic",
            // Every generated call counts, the read-only ones too.
            &asg_trail::extract::Filters {
                exclude_read_only: false,
                ..asg_trail::extract::Filters::default()
            },
            &asg_trail::cloudtrail::Limits::default(),
            |_| std::ops::ControlFlow::Continue(()),
        );
        result.expect("a valid CloudTrail file");
        assert_eq!(file.records, stats.records);
        assert_eq!(file.events, stats.autoscaling);
        assert_eq!(file.application_autoscaling, stats.application_autoscaling);
        assert_eq!(file.rejected, 0);
    }

    #[test]
    fn times_are_iso_8601() {
        assert_eq!(time(1_709_596_800), "2024-03-05T00:00:00Z");
        assert_eq!(time(951_825_599), "2000-02-29T11:59:59Z");
    }
}
