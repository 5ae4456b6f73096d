//! A seeded day of CloudTrail records for the cost benchmark: the EC2 Auto Scaling calls of an
//! EKS-heavy account (cluster-autoscalers refreshing their group caches every minute, plus the
//! day's mutating calls), or of a small account (a few groups changed by people).
//!
//! The records carry what real ones carry (identity with session context, user agent, request
//! and response, TLS details), so the items extracted from them have realistic sizes.

use serde_json::{Value, json};

/// Which account the day is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Account {
    /// 5 EKS clusters of 8 node groups, each with a cluster-autoscaler that refreshes once a
    /// minute (one DescribeAutoScalingGroups with its auto-discovery tag filters, then one
    /// naming its 8 groups), and about 280 mutating calls a day.
    Eks,
    /// 3 groups and no autoscaler: a dozen changes a day by people (console and CLI), and the
    /// console's Describe calls around them.
    Small,
}

const ACCOUNT_ID: &str = "111122223333";
const REGION: &str = "us-east-1";
const CLUSTERS: usize = 5;
const NODE_GROUPS: usize = 8;

/// One day of an account.
pub struct Day {
    /// The records, in time order, split into the files CloudTrail would deliver (one per 5
    /// minutes).
    pub files: Vec<Vec<Value>>,
    /// The EventBridge events of the same day: each call that changed something (EventBridge
    /// delivers no read-only call), and the activities the changes caused (a launch for each
    /// SetDesiredCapacity, a termination for each TerminateInstanceInAutoScalingGroup).
    pub events: Vec<Value>,
}

/// One day of `account`.
pub fn day(account: Account, seed: u64) -> Day {
    let mut g = Gen {
        rng: fastrand::Rng::with_seed(seed),
        records: Vec::new(),
        events: Vec::new(),
    };
    match account {
        Account::Eks => g.eks(),
        Account::Small => g.small(),
    }
    let mut records = g.records;
    records.sort_by_key(|(second, _)| *second);
    let mut files: Vec<Vec<Value>> = vec![Vec::new(); 288];
    for (second, record) in records {
        files[(second / 300) as usize].push(record);
    }
    files.retain(|f| !f.is_empty());
    Day {
        files,
        events: g.events,
    }
}

struct Gen {
    rng: fastrand::Rng,
    /// (second of the day, record).
    records: Vec<(u32, Value)>,
    events: Vec<Value>,
}

impl Gen {
    fn eks(&mut self) {
        let clusters: Vec<(String, Vec<String>)> = (0..CLUSTERS)
            .map(|c| {
                let cluster = format!(
                    "prod-{}",
                    char::from(b'a' + u8::try_from(c).expect("a few clusters"))
                );
                let groups = (0..NODE_GROUPS)
                    .map(|n| format!("eks-{cluster}-ng{n}-{}", self.uuid()))
                    .collect();
                (cluster, groups)
            })
            .collect();
        for (cluster, groups) in &clusters {
            let who = Who::autoscaler(cluster);
            let offset = self.rng.u32(0..60);
            for minute in 0..1440 {
                let t = minute * 60 + offset;
                let filters = json!({"filters": [
                    {"name": "tag-key", "values": ["k8s.io/cluster-autoscaler/enabled"]},
                    {"name": "tag-key", "values": [format!("k8s.io/cluster-autoscaler/{cluster}")]}
                ]});
                self.call(t, &who, "DescribeAutoScalingGroups", filters, Value::Null);
                let named = json!({"autoScalingGroupNames": groups, "maxRecords": 100});
                self.call(t + 1, &who, "DescribeAutoScalingGroups", named, Value::Null);
            }
        }
        let all: Vec<(&str, &String)> = clusters
            .iter()
            .flat_map(|(c, gs)| gs.iter().map(move |g| (c.as_str(), g)))
            .collect();
        for _ in 0..120 {
            let (cluster, group) = all[self.rng.usize(..all.len())];
            let desired = self.rng.u32(2..40);
            let params = json!({"autoScalingGroupName": group, "desiredCapacity": desired, "honorCooldown": false});
            let t = self.rng.u32(0..86_400);
            self.call(
                t,
                &Who::autoscaler(cluster),
                "SetDesiredCapacity",
                params,
                Value::Null,
            );
            let instance = format!("i-0{:016x}", self.rng.u64(..));
            self.activity(t + 40, "EC2 Instance Launch Successful", group, &instance);
        }
        for _ in 0..120 {
            let (cluster, group) = all[self.rng.usize(..all.len())];
            let t = self.rng.u32(0..86_400);
            self.terminate(t, &Who::autoscaler(cluster), group);
        }
        for _ in 0..40 {
            let (_, group) = all[self.rng.usize(..all.len())];
            let (min, max) = (self.rng.u32(1..4), self.rng.u32(20..60));
            let params = json!({"autoScalingGroupName": group, "minSize": min, "maxSize": max,
                                "desiredCapacity": self.rng.u32(min..max)});
            let t = self.rng.u32(0..86_400);
            self.call(
                t,
                &Who::eks_service(),
                "UpdateAutoScalingGroup",
                params,
                Value::Null,
            );
        }
    }

    fn small(&mut self) {
        let groups: Vec<String> = ["web", "api", "batch"]
            .iter()
            .map(|n| format!("{n}-asg"))
            .collect();
        for _ in 0..12 {
            let group = &groups[self.rng.usize(..groups.len())];
            let t = self.rng.u32(8 * 3600..18 * 3600);
            let who = Who::person(if self.rng.bool() { "alice" } else { "bob" });
            // The console lists the groups, opens one, then changes it.
            self.call(t, &who, "DescribeAutoScalingGroups", json!({}), Value::Null);
            for k in 0..10 {
                let one = json!({"autoScalingGroupNames": [group]});
                self.call(
                    t + 5 + k * 3,
                    &who,
                    "DescribeAutoScalingGroups",
                    one,
                    Value::Null,
                );
            }
            let params = json!({"autoScalingGroupName": group, "minSize": 1, "maxSize": 10,
                                "desiredCapacity": self.rng.u32(1..10)});
            self.call(t + 40, &who, "UpdateAutoScalingGroup", params, Value::Null);
        }
    }

    fn terminate(&mut self, t: u32, who: &Who, group: &str) {
        let instance = format!("i-0{:016x}", self.rng.u64(..));
        let activity = json!({"activity": {
            "activityId": self.uuid(),
            "autoScalingGroupName": group,
            "description": format!("Terminating EC2 instance: {instance}"),
            "cause": format!("At {} instance {instance} was taken out of service in response to a user request, shrinking the capacity from 5 to 4.", time(t)),
            "startTime": "Mar 5, 2024, 12:00:00 PM",
            "statusCode": "InProgress",
            "progress": 0,
            "details": format!("{{\"Subnet ID\":\"subnet-0{:08x}\",\"Availability Zone\":\"{REGION}a\"}}", self.rng.u32(..)),
        }});
        let params = json!({"instanceId": instance, "shouldDecrementDesiredCapacity": true});
        self.call(
            t,
            who,
            "TerminateInstanceInAutoScalingGroup",
            params,
            activity,
        );
        self.activity(
            t + 60,
            "EC2 Instance Terminate Successful",
            group,
            &instance,
        );
    }

    /// An activity's EventBridge event, as Auto Scaling sends it.
    fn activity(&mut self, t: u32, detail_type: &str, group: &str, instance: &str) {
        let id = self.uuid();
        let activity_id = self.uuid();
        let launch = detail_type.contains("Launch");
        let cause = if launch {
            format!(
                "At {} an instance was started in response to a difference between desired and actual capacity, increasing the capacity from 4 to 5.",
                time(t)
            )
        } else {
            format!(
                "At {} instance {instance} was taken out of service in response to a user request, shrinking the capacity from 5 to 4.",
                time(t)
            )
        };
        self.events.push(json!({
            "version": "0", "id": id, "detail-type": detail_type, "source": "aws.autoscaling",
            "account": ACCOUNT_ID, "time": time(t), "region": REGION,
            "resources": [
                format!("arn:aws:autoscaling:{REGION}:{ACCOUNT_ID}:autoScalingGroup:{activity_id}:autoScalingGroupName/{group}"),
                format!("arn:aws:ec2:{REGION}:{ACCOUNT_ID}:instance/{instance}")
            ],
            "detail": {
                "Origin": if launch { "EC2" } else { "AutoScalingGroup" },
                "Destination": if launch { "AutoScalingGroup" } else { "EC2" },
                "StatusCode": "InProgress",
                "Description": format!("{} EC2 instance: {instance}", if launch { "Launching a new" } else { "Terminating" }),
                "AutoScalingGroupName": group,
                "ActivityId": activity_id,
                "Details": {"Subnet ID": "subnet-0a1b2c3d4e5f60718", "Availability Zone": format!("{REGION}b")},
                "RequestId": activity_id,
                "StatusMessage": "",
                "EndTime": time(t + 30),
                "EC2InstanceId": instance,
                "StartTime": time(t),
                "Cause": cause
            }
        }));
    }

    #[allow(
        clippy::needless_pass_by_value,
        reason = "the callers build both values inline, for this call alone"
    )]
    fn call(&mut self, t: u32, who: &Who, name: &str, params: Value, response: Value) {
        let read_only = name.starts_with("Describe");
        let record = json!({
            "eventVersion": "1.09",
            "userIdentity": who.identity(),
            "eventTime": time(t),
            "eventSource": "autoscaling.amazonaws.com",
            "eventName": name,
            "awsRegion": REGION,
            "sourceIPAddress": who.source_ip,
            "userAgent": who.user_agent,
            "requestParameters": params,
            "responseElements": response,
            "requestID": self.uuid(),
            "eventID": self.uuid(),
            "readOnly": read_only,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": ACCOUNT_ID,
            "eventCategory": "Management",
            "tlsDetails": {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": format!("autoscaling.{REGION}.amazonaws.com")
            }
        });
        if !read_only {
            let id = self.uuid();
            self.events.push(json!({
                "version": "0", "id": id, "detail-type": "AWS API Call via CloudTrail",
                "source": "aws.autoscaling", "account": ACCOUNT_ID, "time": time(t),
                "region": REGION, "resources": [], "detail": record.clone()
            }));
        }
        self.records.push((t.min(86_399), record));
    }

    fn uuid(&mut self) -> String {
        let n = self.rng.u128(..);
        let h = format!("{n:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }
}

/// `2024-03-05T<hh:mm:ss>Z` for a second of the day.
fn time(t: u32) -> String {
    let t = t.min(86_399);
    format!(
        "2024-03-05T{:02}:{:02}:{:02}Z",
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

/// Who makes the calls.
struct Who {
    role: String,
    session: String,
    invoked_by: Option<&'static str>,
    source_ip: &'static str,
    user_agent: &'static str,
}

impl Who {
    fn autoscaler(cluster: &str) -> Self {
        Self {
            role: format!("eks-{cluster}-cluster-autoscaler"),
            session: "1709640000123456789".into(),
            invoked_by: None,
            source_ip: "203.0.113.24",
            user_agent: "aws-sdk-go/1.44.241 (go1.20.7; linux; amd64) cluster-autoscaler/v1.28.2",
        }
    }

    fn eks_service() -> Self {
        Self {
            role: "AWSServiceRoleForAmazonEKSNodegroup".into(),
            session: "EKS".into(),
            invoked_by: Some("eks.amazonaws.com"),
            source_ip: "eks.amazonaws.com",
            user_agent: "eks.amazonaws.com",
        }
    }

    fn person(name: &str) -> Self {
        Self {
            role: "AWSReservedSSO_PlatformAdmin_0123456789abcdef".into(),
            session: format!("{name}@example.com"),
            invoked_by: None,
            source_ip: "198.51.100.7",
            user_agent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        }
    }

    fn identity(&self) -> Value {
        let mut identity = json!({
            "type": "AssumedRole",
            "principalId": format!("AROAEXAMPLEID0000001:{}", self.session),
            "arn": format!("arn:aws:sts::{ACCOUNT_ID}:assumed-role/{}/{}", self.role, self.session),
            "accountId": ACCOUNT_ID,
            "accessKeyId": "ASIAEXAMPLEKEY000001",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": "AROAEXAMPLEID0000001",
                    "arn": format!("arn:aws:iam::{ACCOUNT_ID}:role/{}", self.role),
                    "accountId": ACCOUNT_ID,
                    "userName": self.role
                },
                "attributes": {"creationDate": "2024-03-05T00:00:00Z", "mfaAuthenticated": "false"}
            }
        });
        if let Some(service) = self.invoked_by {
            identity["invokedBy"] = json!(service);
        }
        identity
    }
}
