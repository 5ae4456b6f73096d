//! From an S3 event notification to the list of objects to ingest, with the objects to leave
//! alone and why. Keys arrive URL-encoded (`+` for a space, then `%XX`) and are decoded here.
//!
//! Objects that are not CloudTrail log files by the one rule of [`logfile`] — AWS Config's
//! files, digest and Insights files, other services' logs, folders, zero-byte objects, keys off
//! CloudTrail's layout — are skipped, each with a [`SkipReason`] the handler logs and counts; a
//! skip is never an error ([`Disposition::new`] holds that rule for every trigger, for
//! `asg-trail ingest` and for backfill's listing).
//!
//! `s3://BUCKET/KEY` and `s3://BUCKET[/PREFIX]` texts (the CLI's arguments) are parsed here too,
//! by one parser: [`S3Location`] and [`ObjectRef`]'s `FromStr`.

pub mod logfile;
pub mod trigger;

pub use logfile::{Level, LogFile, SkipReason};

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use percent_encoding::percent_decode_str;

/// An S3 object to ingest.
///
/// Two refs are equal (and hash alike) when they name the same object, bucket and key: the
/// size is what one notification said and takes no part, so a batch naming one object twice,
/// with different sizes or with a size only once, names it once.
#[derive(Debug, Clone)]
pub struct ObjectRef {
    /// Bucket name.
    pub bucket: String,
    /// Decoded object key.
    pub key: String,
    /// Size in bytes, as the notification gives it.
    pub size: Option<u64>,
}

impl PartialEq for ObjectRef {
    fn eq(&self, other: &Self) -> bool {
        self.bucket == other.bucket && self.key == other.key
    }
}

impl Eq for ObjectRef {}

impl Hash for ObjectRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bucket.hash(state);
        self.key.hash(state);
    }
}

/// `s3://BUCKET/KEY`, the object's [`Display`](fmt::Display) form; the key is taken as it is
/// (not URL-decoded), and the size is unknown.
impl FromStr for ObjectRef {
    type Err = S3UriError;

    fn from_str(uri: &str) -> Result<Self, Self::Err> {
        match uri.parse::<S3Location>() {
            Ok(S3Location { bucket, path }) if !path.is_empty() => Ok(Self {
                bucket,
                key: path,
                size: None,
            }),
            _ => Err(S3UriError::NotAnObject {
                uri: uri.to_owned(),
            }),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// `s3://BUCKET[/PATH]`: a bucket, and a key or a key prefix (empty for the whole bucket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// Bucket name, never empty.
    pub bucket: String,
    /// Everything after the bucket's `/`, as it is (not URL-decoded); may be empty.
    pub path: String,
}

impl FromStr for S3Location {
    type Err = S3UriError;

    fn from_str(uri: &str) -> Result<Self, Self::Err> {
        let not_a_location = || S3UriError::NotALocation {
            uri: uri.to_owned(),
        };
        let rest = uri.strip_prefix("s3://").ok_or_else(not_a_location)?;
        let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(not_a_location());
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            path: path.to_owned(),
        })
    }
}

/// A text that is not the `s3://` URI asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum S3UriError {
    /// Not `s3://BUCKET[/PREFIX]`.
    #[error("{uri}: expected s3://BUCKET/PREFIX")]
    NotALocation {
        /// The text.
        uri: String,
    },
    /// Not `s3://BUCKET/KEY` with a non-empty key.
    #[error("{uri}: expected s3://BUCKET/KEY")]
    NotAnObject {
        /// The text.
        uri: String,
    },
}

/// What to do with one record of a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Ingest this object.
    Ingest(ObjectRef),
    /// Leave it alone, for this reason.
    Skip(ObjectRef, SkipReason),
}

impl Disposition {
    /// What to do with `object`: skip it when the notification is not of its creation
    /// (`created` false), or when it is not a log file ([`skip_reason`]); else ingest it.
    #[must_use]
    pub fn new(object: ObjectRef, created: bool) -> Self {
        let reason = if created {
            skip_reason(&object.key, object.size)
        } else {
            Some(SkipReason::NotObjectCreated)
        };
        match reason {
            Some(reason) => Self::Skip(object, reason),
            None => Self::Ingest(object),
        }
    }
}

/// A notification that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    /// A record lacks its bucket name or object key.
    #[error("S3 notification record {index} has no {missing}")]
    Missing {
        /// Position of the record in the notification.
        index: usize,
        /// What is missing.
        missing: &'static str,
    },
    /// An object key that does not decode to UTF-8 text.
    #[error("S3 notification record {index}: key {key:?} is not valid URL-encoded UTF-8")]
    BadKey {
        /// Position of the record in the notification.
        index: usize,
        /// The key as received.
        key: String,
    },
    /// A payload of no shape this function understands.
    #[error("unknown event shape: {shape}")]
    UnknownShape {
        /// What was seen (its keys, its `eventSource`, its EventBridge `source`, ...).
        shape: String,
    },
    /// A known shape, malformed.
    #[error("invalid {shape} event: {reason}")]
    Invalid {
        /// The shape, e.g. `SQS > SNS > S3`.
        shape: String,
        /// What is wrong.
        reason: String,
    },
}

impl NotificationError {
    /// The `errorType` a Lambda reports for this error: `UnknownEventShape` for a payload of no
    /// known shape, `InvalidNotification` for any other.
    #[must_use]
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::UnknownShape { .. } => "UnknownEventShape",
            Self::Missing { .. } | Self::BadKey { .. } | Self::Invalid { .. } => {
                "InvalidNotification"
            }
        }
    }
}

/// Lists what to do with each record of an S3 event notification given as JSON, reading only
/// the fields it needs (`eventName`, `s3.bucket.name`, `s3.object.key`, `s3.object.size`) and
/// tolerating any other field being absent or new.
///
/// # Errors
/// A [`NotificationError`] when a record has no bucket or key, or a key that does not decode.
pub fn from_s3_records(
    records: &[serde_json::Value],
) -> Result<Vec<Disposition>, NotificationError> {
    records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            let text = |pointer: &str| record.pointer(pointer).and_then(serde_json::Value::as_str);
            s3_record(
                index,
                text("/eventName"),
                text("/s3/bucket/name"),
                text("/s3/object/key"),
                record
                    .pointer("/s3/object/size")
                    .and_then(serde_json::Value::as_u64),
            )
        })
        .collect()
}

fn s3_record(
    index: usize,
    event_name: Option<&str>,
    bucket: Option<&str>,
    raw_key: Option<&str>,
    size: Option<u64>,
) -> Result<Disposition, NotificationError> {
    let bucket = bucket
        .filter(|b| !b.is_empty())
        .ok_or(NotificationError::Missing {
            index,
            missing: "bucket name",
        })?
        .to_owned();
    let raw_key = raw_key.ok_or(NotificationError::Missing {
        index,
        missing: "object key",
    })?;
    let key = decode_key(raw_key).ok_or_else(|| NotificationError::BadKey {
        index,
        key: raw_key.to_owned(),
    })?;
    let created = event_name.is_some_and(|n| n.starts_with("ObjectCreated"));
    Ok(Disposition::new(ObjectRef { bucket, key, size }, created))
}

/// Decodes an object key as S3 writes it into notifications: `+` stands for a space, then
/// `%XX` escapes. `None` when the result is not UTF-8.
#[must_use]
pub fn decode_key(raw: &str) -> Option<String> {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// Why an object with this (decoded) key and size is not a CloudTrail log file to read, if it
/// is not: its key is not one ([`LogFile::parse`]), or it holds no bytes.
#[must_use]
pub fn skip_reason(key: &str, size: Option<u64>) -> Option<SkipReason> {
    match LogFile::parse(key) {
        Err(reason) => Some(reason),
        Ok(_) if size == Some(0) => Some(SkipReason::Empty),
        Ok(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LOG: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05/123456789012_CloudTrail_us-east-1_20240305T1200Z_Ab12Cd34.json.gz";

    fn event(records: &[(&str, &str, &str, i64)]) -> Vec<serde_json::Value> {
        records
            .iter()
            .map(|(name, bucket, key, size)| {
                json!({
                    "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                    "eventTime": "2024-03-05T12:05:00.000Z", "eventName": name,
                    "userIdentity": {"principalId": "AWS:EXAMPLE"},
                    "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                    "responseElements": {"x-amz-request-id": "r", "x-amz-id-2": "i"},
                    "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
                           "bucket": {"name": bucket, "ownerIdentity": {"principalId": "o"},
                                      "arn": format!("arn:aws:s3:::{bucket}")},
                           "object": {"key": key, "size": size, "eTag": "e", "sequencer": "s"}}
                })
            })
            .collect()
    }

    #[test]
    fn keys_are_url_decoded_plus_first() {
        let cases = [
            ("a+b", "a b"),
            ("a%2Bb", "a+b"),
            ("my+logs/x%3Ay.json.gz", "my logs/x:y.json.gz"),
            ("caf%C3%A9", "café"),
            ("100%25", "100%"),
            ("plain/key.json", "plain/key.json"),
        ];
        for (raw, want) in cases {
            assert_eq!(decode_key(raw).as_deref(), Some(want), "{raw}");
        }
        assert_eq!(decode_key("bad%FF"), None);
    }

    #[test]
    fn skip_rules() {
        const DAY: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05";
        const CONFIG: &str = "AWSLogs/123456789012/Config/us-east-1/2024/3/5/ConfigHistory/\
                              123456789012_Config_us-east-1_ConfigHistory_AWS::AutoScaling::AutoScalingGroup_20240305T120000Z_20240305T180000Z_1.json.gz";
        let json = format!("{DAY}/x.json");
        let tmp = format!("{DAY}/x.json.gz.tmp");
        let csv = format!("{DAY}/x.csv");
        let folder = format!("{DAY}/");
        let cases = [
            (LOG, Some(100), None),
            // An uncompressed copy is read too (the reader tells gzip by its magic bytes).
            (json.as_str(), Some(100), None),
            (LOG, None, None),
            (
                "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/03/05/123456789012_CloudTrail-Digest_us-east-1_x.json.gz",
                Some(9),
                Some(SkipReason::Digest),
            ),
            (
                "AWSLogs/123456789012/CloudTrail-Insight/us-east-1/2024/03/05/x.json.gz",
                Some(9),
                Some(SkipReason::Insight),
            ),
            (CONFIG, Some(9), Some(SkipReason::Config)),
            // What the key is comes first: an empty digest file is a digest file.
            (
                "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/03/05/d.json.gz",
                Some(0),
                Some(SkipReason::Digest),
            ),
            (folder.as_str(), Some(0), Some(SkipReason::Folder)),
            (LOG, Some(0), Some(SkipReason::Empty)),
            (tmp.as_str(), Some(9), Some(SkipReason::NotLogFile)),
            (csv.as_str(), Some(9), Some(SkipReason::NotLogFile)),
            // A folder merely named like the digest folder is not the digest folder, nor
            // CloudTrail's.
            (
                "AWSLogs/123456789012/CloudTrail-Digests-old/us-east-1/2024/03/05/x.json.gz",
                Some(9),
                Some(SkipReason::OtherService),
            ),
            ("stray/x.json.gz", Some(9), Some(SkipReason::NotAwsLogs)),
        ];
        for (key, size, want) in cases {
            assert_eq!(skip_reason(key, size), want, "{key} {size:?}");
        }
    }

    #[test]
    fn notification_to_dispositions() {
        let ev = event(&[
            (
                "ObjectCreated:Put",
                "trail",
                "my+logs/AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05/a%3Ab.json.gz",
                10,
            ),
            ("ObjectCreated:CompleteMultipartUpload", "trail", LOG, 10),
            ("ObjectRemoved:Delete", "trail", LOG, 10),
            (
                "ObjectCreated:Put",
                "trail",
                "AWSLogs/123456789012/CloudTrail-Digest/d.json.gz",
                10,
            ),
        ]);
        let got = from_s3_records(&ev).expect("valid");
        let obj = |key: &str| ObjectRef {
            bucket: "trail".into(),
            key: key.into(),
            size: Some(10),
        };
        assert_eq!(
            got,
            [
                Disposition::Ingest(obj(
                    "my logs/AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05/a:b.json.gz"
                )),
                Disposition::Ingest(obj(LOG)),
                Disposition::Skip(obj(LOG), SkipReason::NotObjectCreated),
                Disposition::Skip(
                    obj("AWSLogs/123456789012/CloudTrail-Digest/d.json.gz"),
                    SkipReason::Digest
                ),
            ]
        );
        assert_eq!(got[1].clone(), Disposition::Ingest(obj(LOG)));
        assert!(got.iter().all(|d| match d {
            Disposition::Ingest(o) | Disposition::Skip(o, _) => o.size == Some(10),
        }));
        assert_eq!(obj("k").to_string(), "s3://trail/k");
    }

    #[test]
    fn object_refs_are_equal_and_hash_alike_by_bucket_and_key_only() {
        use std::collections::HashSet;
        use std::hash::BuildHasher;
        let with = |size| ObjectRef {
            bucket: "trail".into(),
            key: LOG.into(),
            size,
        };
        let state = std::collections::hash_map::RandomState::new();
        for (a, b) in [(Some(10), Some(11)), (Some(10), None)] {
            assert_eq!(with(a), with(b));
            assert_eq!(state.hash_one(with(a)), state.hash_one(with(b)));
        }
        let batch: HashSet<ObjectRef> = [with(Some(10)), with(None), with(Some(12))].into();
        assert_eq!(batch.len(), 1);
        let other_key = ObjectRef {
            key: format!("{LOG}.x"),
            ..with(Some(10))
        };
        let other_bucket = ObjectRef {
            bucket: "other".into(),
            ..with(Some(10))
        };
        assert_ne!(with(Some(10)), other_key);
        assert_ne!(with(Some(10)), other_bucket);
    }

    #[test]
    fn s3_uris_parse_to_locations_and_objects() {
        let loc = |uri: &str| uri.parse::<S3Location>();
        let at = |bucket: &str, path: &str| S3Location {
            bucket: bucket.into(),
            path: path.into(),
        };
        assert_eq!(loc("s3://b/p/q"), Ok(at("b", "p/q")));
        assert_eq!(loc("s3://b"), Ok(at("b", "")));
        assert_eq!(loc("s3://b/"), Ok(at("b", "")));
        for bad in ["b/p", "s3:///p", "s3://", "", "S3://b/p"] {
            assert_eq!(
                loc(bad).map_err(|e| e.to_string()),
                Err(format!("{bad}: expected s3://BUCKET/PREFIX")),
                "{bad}"
            );
        }
        let object: ObjectRef = "s3://b/my logs/a%20b.json.gz".parse().expect("object");
        assert_eq!(
            (object.bucket.as_str(), object.key.as_str(), object.size),
            ("b", "my logs/a%20b.json.gz", None)
        );
        assert_eq!(object.to_string().parse::<ObjectRef>(), Ok(object));
        for bad in ["s3://b", "s3://b/", "s3:///k", "b/k", "k"] {
            assert_eq!(
                bad.parse::<ObjectRef>().map_err(|e| e.to_string()),
                Err(format!("{bad}: expected s3://BUCKET/KEY")),
                "{bad}"
            );
        }
    }

    #[test]
    fn error_types_name_unknown_shapes_apart() {
        let unknown = NotificationError::UnknownShape { shape: "x".into() };
        assert_eq!(unknown.error_type(), "UnknownEventShape");
        let others = [
            NotificationError::Missing {
                index: 0,
                missing: "object key",
            },
            NotificationError::BadKey {
                index: 0,
                key: "%FF".into(),
            },
            NotificationError::Invalid {
                shape: "SQS".into(),
                reason: "r".into(),
            },
        ];
        for e in others {
            assert_eq!(e.error_type(), "InvalidNotification", "{e}");
        }
    }

    #[test]
    fn undecodable_keys_and_missing_names_are_errors() {
        let ev = event(&[("ObjectCreated:Put", "trail", "x%FF.json.gz", 1)]);
        assert!(matches!(
            from_s3_records(&ev),
            Err(NotificationError::BadKey { index: 0, .. })
        ));
        let ev = event(&[("ObjectCreated:Put", "", LOG, 1)]);
        assert!(matches!(
            from_s3_records(&ev),
            Err(NotificationError::Missing {
                missing: "bucket name",
                ..
            })
        ));
    }
}
