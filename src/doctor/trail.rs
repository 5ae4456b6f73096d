//! The trail check: a trail exists, is logging, and delivers to the bucket within the prefix;
//! the line names its last delivery (from CloudTrail's DescribeTrails and GetTrailStatus). The
//! facts also carry the trail's KMS key, which the `kms` check judges.

use super::{Check, names::TRAIL, prefixes_meet};

/// What CloudTrail says of one trail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrailFacts {
    /// The trail's name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// The bucket it delivers to.
    pub bucket: String,
    /// Its `S3KeyPrefix`, if any.
    pub key_prefix: Option<String>,
    /// Whether it is logging (`None`: its status could not be read).
    pub logging: Option<bool>,
    /// Its last delivery to S3 (RFC 3339), if any.
    pub last_delivery: Option<String>,
    /// The error of its last delivery attempt, if it failed.
    pub delivery_error: Option<String>,
    /// The SNS topic it notifies of each delivery, if any.
    pub topic: Option<String>,
    /// The KMS key it encrypts its log files with (SSE-KMS; its ARN), if any.
    pub kms_key_id: Option<String>,
}

impl TrailFacts {
    /// Where its log files go in the bucket: `<S3KeyPrefix>/AWSLogs/`, or `AWSLogs/`.
    #[must_use]
    pub fn root(&self) -> String {
        match self.key_prefix.as_deref().map(|p| p.trim_end_matches('/')) {
            Some(p) if !p.is_empty() => format!("{p}/AWSLogs/"),
            _ => "AWSLogs/".to_owned(),
        }
    }
}

/// The trail line for `bucket` and `prefix`, from every trail the account shows.
#[must_use]
pub fn check_trail(trails: &[TrailFacts], bucket: &str, prefix: &str) -> Check {
    let to_bucket: Vec<&TrailFacts> = trails.iter().filter(|t| t.bucket == bucket).collect();
    if to_bucket.is_empty() {
        return Check::fix(
            TRAIL,
            format!("no trail delivers to s3://{bucket}"),
            format!(
                "create a trail that delivers to s3://{bucket} (the turnkey stack makes one), or \
                 point the stack at the bucket your trail uses"
            ),
        );
    }
    let within: Vec<&TrailFacts> = to_bucket
        .iter()
        .copied()
        .filter(|t| prefixes_meet(&t.root(), prefix))
        .collect();
    let Some(first) = within.first() else {
        let t = to_bucket[0];
        return Check::fix(
            TRAIL,
            format!(
                "trail {} delivers to s3://{bucket}/{}, outside the prefix {prefix:?}",
                t.name,
                t.root()
            ),
            format!(
                "set the stack's prefix to {:?} (ExistingBucketPrefix), or the trail's S3 key \
                 prefix to match {prefix:?}",
                t.root()
            ),
        );
    };
    let Some(trail) = within
        .iter()
        .find(|t| t.logging == Some(true))
        .or_else(|| within.iter().find(|t| t.logging.is_none()))
    else {
        return Check::fix(
            TRAIL,
            format!("trail {} is not logging", first.name),
            format!("aws cloudtrail start-logging --name {}", first.name),
        );
    };
    let place = format!("s3://{bucket}/{}", trail.root());
    let last = trail.last_delivery.as_deref().map_or_else(
        || "no delivery yet".to_owned(),
        |t| format!("last delivery {t}"),
    );
    if trail.logging.is_none() {
        return Check::unknown(
            TRAIL,
            format!(
                "trail {} delivers to {place}; cannot read its status",
                trail.name
            ),
        );
    }
    if let Some(error) = &trail.delivery_error {
        return Check::fix(
            TRAIL,
            format!(
                "trail {} logs to {place}, but its last delivery failed: {error} ({last})",
                trail.name
            ),
            format!(
                "let CloudTrail write to s3://{bucket} (the bucket policy's AWSCloudTrailWrite \
                 statement, and the KMS key policy if the trail encrypts)"
            ),
        );
    }
    Check::ok(
        TRAIL,
        format!("trail {} logs to {place}, {last}", trail.name),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    fn trail(name: &str, bucket: &str, logging: Option<bool>) -> TrailFacts {
        TrailFacts {
            name: name.into(),
            bucket: bucket.into(),
            logging,
            last_delivery: Some("2024-03-05T12:00:00Z".into()),
            ..TrailFacts::default()
        }
    }

    #[test]
    fn the_root_follows_the_key_prefix() {
        let mut t = trail("t", "b", None);
        assert_eq!(t.root(), "AWSLogs/");
        t.key_prefix = Some("org/".into());
        assert_eq!(t.root(), "org/AWSLogs/");
    }

    #[test]
    fn a_logging_trail_to_the_bucket_passes_with_its_last_delivery() {
        let c = check_trail(
            &[trail("other", "x", Some(true)), trail("t", "b", Some(true))],
            "b",
            "AWSLogs/o-1/",
        );
        assert_eq!(c.status, Status::Ok, "{c:?}");
        assert_eq!(
            c.detail,
            "trail t logs to s3://b/AWSLogs/, last delivery 2024-03-05T12:00:00Z"
        );
    }

    #[test]
    fn each_broken_trail_names_its_fix() {
        let c = check_trail(&[trail("t", "x", Some(true))], "b", "");
        assert_eq!(c.status, Status::Fix);
        assert!(c.detail.contains("no trail delivers to s3://b"), "{c:?}");

        let c = check_trail(&[trail("t", "b", Some(false))], "b", "AWSLogs/");
        assert_eq!(c.status, Status::Fix);
        assert_eq!(
            c.fix.as_deref(),
            Some("aws cloudtrail start-logging --name t")
        );

        let c = check_trail(&[trail("t", "b", Some(true))], "b", "elsewhere/");
        assert_eq!(c.status, Status::Fix);
        assert!(c.detail.contains("outside the prefix"), "{c:?}");

        let mut failing = trail("t", "b", Some(true));
        failing.delivery_error = Some("AccessDenied".into());
        let c = check_trail(&[failing], "b", "AWSLogs/");
        assert_eq!(c.status, Status::Fix);
        assert!(
            c.fix
                .as_deref()
                .is_some_and(|f| f.contains("bucket policy"))
        );
    }

    #[test]
    fn an_unreadable_status_is_yellow() {
        let c = check_trail(&[trail("t", "b", None)], "b", "AWSLogs/");
        assert_eq!(c.status, Status::Unknown, "{c:?}");
    }
}
