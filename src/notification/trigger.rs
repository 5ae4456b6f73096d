//! Every way news of a log file reaches the function, recognised from the raw JSON of the
//! invocation and reduced to the same [`Disposition`]s, with the same skip rules:
//!
//! | shape | how it is told apart | key encoding |
//! |---|---|---|
//! | S3 notification (S3 → Lambda) | `Records[].eventSource = "aws:s3"` | URL-encoded |
//! | SQS (S3 → SQS → Lambda) | `Records[].eventSource = "aws:sqs"`; each `body` is another shape | per body |
//! | SNS (S3 → SNS → Lambda) | `Records[].EventSource = "aws:sns"`; each `Sns.Message` is another shape | per message |
//! | SNS envelope in an SQS body (S3 → SNS → SQS → Lambda) | `Type = "Notification"` and a `Message` string | per message |
//! | CloudTrail's own SNS notification | `s3Bucket` and `s3ObjectKey: [...]` | **not** encoded |
//! | EventBridge (S3 → EventBridge → Lambda) | `source = "aws.s3"`, `detail-type = "Object Created"` | **not** encoded |
//! | S3 Batch Operations job | `invocationSchemaVersion` (`1.0`: `s3BucketArn`; `2.0`: `s3Bucket`) and `tasks` | URL-encoded |
//! | `s3:TestEvent` | `Event = "s3:TestEvent"` | no object |
//!
//! Besides news of log files, an invocation may be an EC2 Auto Scaling event itself
//! (EventBridge, `source = "aws.autoscaling"`: an API call via CloudTrail, or the group's own
//! activity): [`Trigger::AutoScalingEvent`], whose items [`crate::events`] builds.
//!
//! A shape this module does not know is an [`NotificationError::UnknownShape`] naming what it
//! saw (its keys, its `eventSource`, its EventBridge `source`), never a panic.
//!
//! Pure: serde only, no I/O.

use serde_json::Value;

use super::{Disposition, NotificationError, ObjectRef, decode_key};
use crate::eventbridge;

/// How deeply envelopes may nest (SQS → SNS → S3 is 2).
const MAX_DEPTH: u8 = 3;

/// What an invocation asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// One set of objects that succeeds or fails as a whole (S3, SNS, EventBridge, CloudTrail's
    /// SNS notification, test events): any failed object fails the invocation, and the source
    /// retries it all.
    Objects(Batch),
    /// An SQS batch: each message is ingested on its own, and only the messages whose objects
    /// failed (or that could not be understood) are reported back for redelivery.
    Sqs(Vec<SqsMessage>),
    /// An S3 Batch Operations job: one result per task.
    BatchJob(BatchJob),
    /// An EventBridge event of EC2 Auto Scaling (`source` `aws.autoscaling`, any
    /// `detail-type`: an API call via CloudTrail or an activity), given whole: it is stored
    /// itself (see [`crate::events`]), and a malformed one fails the invocation (EventBridge
    /// retries it, then its dead-letter queue keeps it).
    AutoScalingEvent(Value),
}

/// Objects from one notification (possibly unwrapped from envelopes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// How it arrived, outermost first, e.g. `SQS > SNS > S3`.
    pub shape: String,
    /// What to do with each object, in order.
    pub dispositions: Vec<Disposition>,
    /// `s3:TestEvent`s received (the bucket each names), to log and answer with success.
    pub test_events: Vec<String>,
}

impl Batch {
    fn new(shape: impl Into<String>) -> Self {
        Self {
            shape: shape.into(),
            ..Self::default()
        }
    }

    fn absorb(&mut self, other: Batch) {
        if self.dispositions.is_empty() && self.test_events.is_empty() {
            self.shape = other.shape;
        } else if self.shape != other.shape && !self.shape.contains(&other.shape) {
            self.shape = format!("{} + {}", self.shape, other.shape);
        }
        self.dispositions.extend(other.dispositions);
        self.test_events.extend(other.test_events);
    }
}

/// One message of an SQS batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsMessage {
    /// `messageId`, the `itemIdentifier` of a batch item failure.
    pub message_id: String,
    /// Its body understood, or why it cannot be.
    pub content: Result<Batch, NotificationError>,
}

/// An S3 Batch Operations invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchJob {
    /// `invocationSchemaVersion` (`1.0` or `2.0`), echoed in the response.
    pub schema_version: String,
    /// `invocationId`, echoed in the response.
    pub invocation_id: String,
    /// `job.id`, for logs.
    pub job_id: Option<String>,
    /// The tasks, in order.
    pub tasks: Vec<BatchTask>,
}

/// One task of an S3 Batch Operations job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchTask {
    /// `taskId`, echoed in its result.
    pub task_id: String,
    /// The object and what to do with it, or why the task is malformed.
    pub object: Result<Disposition, NotificationError>,
}

/// Recognises the shape of an invocation's payload and lists what it asks for.
///
/// # Errors
/// [`NotificationError::UnknownShape`] for a payload of no known shape;
/// [`NotificationError::Invalid`] (or the S3-specific errors) for a known shape that is
/// malformed in a way that makes the whole invocation meaningless (an SQS message without a
/// `messageId`, a Batch Operations job without `invocationId`). Problems confined to one SQS
/// message or one Batch Operations task are reported on that message or task instead.
pub fn parse(event: &Value) -> Result<Trigger, NotificationError> {
    if let Some(records) = event.get("Records").and_then(Value::as_array) {
        match record_source(records)? {
            "aws:sqs" => return sqs(records).map(Trigger::Sqs),
            "aws:sns" => return sns(records, "SNS", 1).map(Trigger::Objects),
            _ => {}
        }
    }
    if event.get("invocationSchemaVersion").is_some() {
        return batch_job(event).map(Trigger::BatchJob);
    }
    if eventbridge::kind(event.get("source"), event.get("detail-type")).is_some() {
        return Ok(Trigger::AutoScalingEvent(event.clone()));
    }
    message(event, "", 0).map(Trigger::Objects)
}

/// The `eventSource` (or SNS's `EventSource`) shared by every record.
fn record_source(records: &[Value]) -> Result<&str, NotificationError> {
    fn source(r: &Value) -> Option<&str> {
        r.get("eventSource")
            .or_else(|| r.get("EventSource"))
            .and_then(Value::as_str)
    }
    let Some(first) = records.first() else {
        return Err(NotificationError::UnknownShape {
            shape: "an event with an empty Records list".into(),
        });
    };
    let Some(name) = source(first) else {
        return Err(NotificationError::UnknownShape {
            shape: format!("Records without an eventSource ({})", describe(first)),
        });
    };
    if let Some(other) = records.iter().map(source).find(|s| *s != Some(name)) {
        return Err(NotificationError::UnknownShape {
            shape: format!(
                "Records mixing eventSource {name:?} and {:?}",
                other.unwrap_or("(none)")
            ),
        });
    }
    Ok(name)
}

/// A message: a payload that may stand alone or sit in an SQS body or an SNS `Message`.
fn message(v: &Value, via: &str, depth: u8) -> Result<Batch, NotificationError> {
    let shape = |name: &str| {
        if via.is_empty() {
            name.to_owned()
        } else {
            format!("{via} > {name}")
        }
    };
    if depth > MAX_DEPTH {
        return Err(NotificationError::UnknownShape {
            shape: format!(
                "{} nested more than {MAX_DEPTH} envelopes deep",
                shape("message")
            ),
        });
    }
    if let Some(records) = v.get("Records").and_then(Value::as_array) {
        return match record_source(records)? {
            "aws:s3" => Ok(Batch {
                dispositions: super::from_s3_records(records)?,
                ..Batch::new(shape("S3"))
            }),
            "aws:sns" if depth > 0 => sns(records, &shape("SNS"), depth + 1),
            other => Err(NotificationError::UnknownShape {
                shape: format!(
                    "{} with Records from eventSource {other:?}",
                    shape("message")
                ),
            }),
        };
    }
    if v.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        let bucket = v
            .get("Bucket")
            .and_then(Value::as_str)
            .unwrap_or("(unnamed)");
        let mut batch = Batch::new(shape("S3 test event"));
        batch.test_events.push(bucket.to_owned());
        return Ok(batch);
    }
    if v.get("s3Bucket").is_some() && v.get("s3ObjectKey").is_some() {
        return cloudtrail(v, shape("CloudTrail")).map_err(|reason| NotificationError::Invalid {
            shape: shape("CloudTrail"),
            reason,
        });
    }
    if v.get("detail-type").is_some() && v.get("source").is_some() {
        return eventbridge(v, shape("EventBridge"));
    }
    if v.get("Type").and_then(Value::as_str) == Some("Notification") {
        let inner_shape = shape("SNS");
        let inner = sns_message(v.get("Message"), &inner_shape)?;
        return message(&inner, &inner_shape, depth + 1);
    }
    Err(NotificationError::UnknownShape {
        shape: if via.is_empty() {
            describe(v)
        } else {
            format!("{via} carrying {}", describe(v))
        },
    })
}

/// The records of an SNS event, each `Sns.Message` read as a message.
fn sns(records: &[Value], shape: &str, depth: u8) -> Result<Batch, NotificationError> {
    let mut batch = Batch::new(shape);
    for record in records {
        let text = record.get("Sns").and_then(|s| s.get("Message"));
        let inner = sns_message(text, shape)?;
        batch.absorb(message(&inner, shape, depth)?);
    }
    Ok(batch)
}

/// An SNS `Message`: a string holding JSON.
fn sns_message(text: Option<&Value>, shape: &str) -> Result<Value, NotificationError> {
    let text = text
        .and_then(Value::as_str)
        .ok_or_else(|| NotificationError::Invalid {
            shape: shape.to_owned(),
            reason: "no Message string".into(),
        })?;
    serde_json::from_str(text).map_err(|e| NotificationError::Invalid {
        shape: shape.to_owned(),
        reason: format!("Message is not JSON ({e}): {}", excerpt(text)),
    })
}

/// The messages of an SQS batch; a message whose body cannot be understood is kept, with its
/// error, so that only it is reported as failed.
fn sqs(records: &[Value]) -> Result<Vec<SqsMessage>, NotificationError> {
    records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            let message_id = record
                .get("messageId")
                .and_then(Value::as_str)
                .filter(|id| !id.is_empty())
                .ok_or_else(|| NotificationError::Invalid {
                    shape: "SQS".into(),
                    reason: format!(
                        "message {index} has no messageId (it could not be reported as failed)"
                    ),
                })?
                .to_owned();
            let content = match record.get("body").and_then(Value::as_str) {
                None => Err(NotificationError::Invalid {
                    shape: "SQS".into(),
                    reason: format!("message {message_id} has no body"),
                }),
                Some(body) => match serde_json::from_str::<Value>(body) {
                    Ok(v) => message(&v, "SQS", 1),
                    Err(e) => Err(NotificationError::Invalid {
                        shape: "SQS".into(),
                        reason: format!(
                            "message {message_id}: body is not JSON ({e}): {}",
                            excerpt(body)
                        ),
                    }),
                },
            };
            Ok(SqsMessage {
                message_id,
                content,
            })
        })
        .collect()
}

/// CloudTrail's SNS notification: `{"s3Bucket": "...", "s3ObjectKey": ["...", ...]}`; the keys
/// are plain (not URL-encoded) and no size is given.
fn cloudtrail(v: &Value, shape: String) -> Result<Batch, String> {
    let bucket = v
        .get("s3Bucket")
        .and_then(Value::as_str)
        .filter(|b| !b.is_empty())
        .ok_or("s3Bucket is not a bucket name")?;
    let keys = v
        .get("s3ObjectKey")
        .and_then(Value::as_array)
        .ok_or("s3ObjectKey is not a list")?;
    let mut batch = Batch::new(shape);
    for (index, key) in keys.iter().enumerate() {
        let key = key
            .as_str()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| format!("s3ObjectKey[{index}] is not a key"))?;
        batch
            .dispositions
            .push(Disposition::new(object(bucket, key, None), true));
    }
    Ok(batch)
}

/// An EventBridge event from S3. `Object Created` names an object to ingest (key plain, not
/// URL-encoded); S3's other detail types (`Object Deleted`, restores, ...) are skipped.
fn eventbridge(v: &Value, shape: String) -> Result<Batch, NotificationError> {
    let source = v.get("source").and_then(Value::as_str).unwrap_or_default();
    let detail_type = v
        .get("detail-type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if source != "aws.s3" {
        return Err(NotificationError::UnknownShape {
            shape: format!(
                "EventBridge event from source {source:?} (detail-type {detail_type:?}); only \
                 aws.s3 events are understood"
            ),
        });
    }
    let invalid = |reason: &str| NotificationError::Invalid {
        shape: shape.clone(),
        reason: reason.to_owned(),
    };
    let detail = v.get("detail").ok_or_else(|| invalid("no detail"))?;
    let bucket = detail
        .pointer("/bucket/name")
        .and_then(Value::as_str)
        .filter(|b| !b.is_empty())
        .ok_or_else(|| invalid("no detail.bucket.name"))?;
    let key = detail
        .pointer("/object/key")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| invalid("no detail.object.key"))?;
    let size = detail.pointer("/object/size").and_then(Value::as_u64);
    let mut batch = Batch::new(shape);
    batch.dispositions.push(Disposition::new(
        object(bucket, key, size),
        detail_type == "Object Created",
    ));
    Ok(batch)
}

/// An S3 Batch Operations invocation (schema 1.0 or 2.0).
fn batch_job(v: &Value) -> Result<BatchJob, NotificationError> {
    let invalid = |reason: String| NotificationError::Invalid {
        shape: "S3 Batch Operations".into(),
        reason,
    };
    let schema_version = v
        .get("invocationSchemaVersion")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("invocationSchemaVersion is not a string".into()))?
        .to_owned();
    if schema_version != "1.0" && schema_version != "2.0" {
        return Err(NotificationError::UnknownShape {
            shape: format!(
                "S3 Batch Operations invocation schema {schema_version:?} (1.0 and 2.0 are understood)"
            ),
        });
    }
    let invocation_id = v
        .get("invocationId")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("no invocationId".into()))?
        .to_owned();
    let job_id = v
        .pointer("/job/id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let tasks = v
        .get("tasks")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("no tasks list".into()))?;
    let tasks = tasks
        .iter()
        .enumerate()
        .map(|(index, task)| {
            let task_id = task
                .get("taskId")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(format!("task {index} has no taskId")))?
                .to_owned();
            Ok(BatchTask {
                object: batch_task(task, &schema_version).map_err(invalid),
                task_id,
            })
        })
        .collect::<Result<_, NotificationError>>()?;
    Ok(BatchJob {
        schema_version,
        invocation_id,
        job_id,
        tasks,
    })
}

/// One task's object: the bucket from `s3BucketArn` (1.0) or `s3Bucket` (2.0, also accepted in
/// 1.0), the key URL-decoded (S3 Batch Operations encodes it as S3 notifications do).
fn batch_task(task: &Value, schema: &str) -> Result<Disposition, String> {
    let text = |name: &str| {
        task.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let bucket = match (text("s3Bucket"), text("s3BucketArn")) {
        (Some(name), _) => name.to_owned(),
        (None, Some(arn)) => arn
            .rsplit_once(":::")
            .map(|(_, name)| name.to_owned())
            .filter(|name| !name.is_empty() && !name.contains('/'))
            .ok_or_else(|| format!("s3BucketArn {arn:?} is not a bucket ARN"))?,
        (None, None) => {
            return Err(format!(
                "task has no {}",
                if schema == "1.0" {
                    "s3BucketArn"
                } else {
                    "s3Bucket"
                }
            ));
        }
    };
    let raw = text("s3Key").ok_or("task has no s3Key")?;
    let key = decode_key(raw).ok_or_else(|| format!("s3Key {raw:?} is not URL-encoded UTF-8"))?;
    Ok(Disposition::new(
        ObjectRef {
            bucket,
            key,
            size: None,
        },
        true,
    ))
}

fn object(bucket: &str, key: &str, size: Option<u64>) -> ObjectRef {
    ObjectRef {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        size,
    }
}

/// A short description of a JSON value of unknown shape: its type, or an object's keys.
fn describe(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
            keys.sort_unstable();
            let more = keys.len().saturating_sub(12);
            keys.truncate(12);
            let mut text = format!("an object with keys [{}", keys.join(", "));
            if more > 0 {
                text.push_str(&format!(", ... {more} more"));
            }
            text.push(']');
            text
        }
        Value::Array(a) => format!("a JSON array of {} element(s)", a.len()),
        Value::String(_) => "a JSON string".into(),
        Value::Number(_) => "a JSON number".into(),
        Value::Bool(_) => "a JSON boolean".into(),
        Value::Null => "null".into(),
    }
}

fn excerpt(text: &str) -> String {
    let mut s: String = text.chars().take(80).collect();
    if s.len() < text.len() {
        s.push_str("...");
    }
    format!("{s:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::SkipReason;
    use serde_json::json;

    const LOG: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05/123456789012_CloudTrail_us-east-1_20240305T1200Z_Ab12Cd34.json.gz";
    /// A day folder of the layout, for keys that test their encoding.
    const DAY: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05/";
    const CONFIG: &str = "AWSLogs/123456789012/Config/us-east-1/2024/3/5/ConfigHistory/123456789012_Config_us-east-1_ConfigHistory_AWS::EC2::Instance_20240305T120000Z_20240305T180000Z_1.json.gz";
    const DIGEST: &str = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/03/05/123456789012_CloudTrail-Digest_us-east-1_t_us-east-1_20240305T130000Z.json.gz";

    fn s3(key: &str, size: u64) -> Value {
        json!({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2024-03-05T12:05:00.000Z", "eventName": "ObjectCreated:Put",
            "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": "trail", "arn": "arn:aws:s3:::trail"},
                   "object": {"key": key, "size": size}}
        }]})
    }

    fn sns_record(message: &Value) -> Value {
        json!({"EventSource": "aws:sns", "EventVersion": "1.0",
               "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:t:1",
               "Sns": {"Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
                       "Subject": "Amazon S3 Notification", "Message": message.to_string(),
                       "Timestamp": "2024-03-05T12:05:01.000Z"}})
    }

    fn sns_envelope(message: &Value) -> Value {
        json!({"Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
               "Message": message.to_string(), "Timestamp": "2024-03-05T12:05:01.000Z",
               "SignatureVersion": "1"})
    }

    fn sqs_record(id: &str, body: &str) -> Value {
        json!({"messageId": id, "receiptHandle": "r", "body": body, "attributes": {},
               "messageAttributes": {}, "md5OfBody": "x", "eventSource": "aws:sqs",
               "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"})
    }

    fn obj(bucket: &str, key: &str, size: Option<u64>) -> ObjectRef {
        ObjectRef {
            bucket: bucket.into(),
            key: key.into(),
            size,
        }
    }

    /// The sizes of the objects, which `ObjectRef`'s equality leaves out.
    fn sizes(dispositions: &[Disposition]) -> Vec<Option<u64>> {
        dispositions
            .iter()
            .map(|d| match d {
                Disposition::Ingest(o) | Disposition::Skip(o, _) => o.size,
            })
            .collect()
    }

    fn objects(trigger: Trigger) -> Batch {
        match trigger {
            Trigger::Objects(b) => b,
            other => panic!("not an object batch: {other:?}"),
        }
    }

    #[test]
    fn direct_s3_notifications_decode_keys() {
        let b = objects(parse(&s3(&format!("my+logs/{DAY}x%3Ay.json.gz"), 5)).expect("parses"));
        assert_eq!(b.shape, "S3");
        assert_eq!(
            b.dispositions,
            [Disposition::Ingest(obj(
                "trail",
                &format!("my logs/{DAY}x:y.json.gz"),
                Some(5)
            ))]
        );
        assert_eq!(sizes(&b.dispositions), [Some(5)]);
    }

    #[test]
    fn sns_wrapped_s3_notifications() {
        let event = json!({"Records": [sns_record(&s3(&format!("{DAY}a+b.json.gz"), 5)), sns_record(&s3(DIGEST, 5))]});
        let b = objects(parse(&event).expect("parses"));
        assert_eq!(b.shape, "SNS > S3");
        assert_eq!(
            b.dispositions,
            [
                Disposition::Ingest(obj("trail", &format!("{DAY}a b.json.gz"), Some(5))),
                Disposition::Skip(obj("trail", DIGEST, Some(5)), SkipReason::Digest)
            ]
        );
        assert_eq!(sizes(&b.dispositions), [Some(5), Some(5)]);
    }

    #[test]
    fn sqs_messages_are_kept_apart_and_bad_ones_carry_their_error() {
        let event = json!({"Records": [
            sqs_record("m1", &s3(LOG, 9).to_string()),
            sqs_record("m2", &sns_envelope(&s3(&format!("{DAY}x+y.json"), 3)).to_string()),
            sqs_record("m3", "not json"),
            sqs_record("m4", &json!({"hello": 1}).to_string()),
            sqs_record("m5", &json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "trail"}).to_string()),
        ]});
        let Trigger::Sqs(messages) = parse(&event).expect("parses") else {
            panic!("not SQS")
        };
        let ids: Vec<&str> = messages.iter().map(|m| m.message_id.as_str()).collect();
        assert_eq!(ids, ["m1", "m2", "m3", "m4", "m5"]);
        let m1 = messages[0].content.as_ref().expect("m1");
        assert_eq!(m1.shape, "SQS > S3");
        assert_eq!(
            m1.dispositions,
            [Disposition::Ingest(obj("trail", LOG, Some(9)))]
        );
        assert_eq!(sizes(&m1.dispositions), [Some(9)]);
        let m2 = messages[1].content.as_ref().expect("m2");
        assert_eq!(m2.shape, "SQS > SNS > S3");
        assert_eq!(
            m2.dispositions,
            [Disposition::Ingest(obj(
                "trail",
                &format!("{DAY}x y.json"),
                Some(3)
            ))]
        );
        assert_eq!(sizes(&m2.dispositions), [Some(3)]);
        let m3 = messages[2].content.as_ref().expect_err("m3");
        assert!(m3.to_string().contains("body is not JSON"), "{m3}");
        let m4 = messages[3].content.as_ref().expect_err("m4");
        assert_eq!(
            m4.to_string(),
            "unknown event shape: SQS carrying an object with keys [hello]"
        );
        let m5 = messages[4].content.as_ref().expect("m5");
        assert_eq!(m5.test_events, ["trail"]);
        assert!(m5.dispositions.is_empty());
    }

    #[test]
    fn an_sqs_message_without_id_fails_the_whole_batch() {
        let event = json!({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]});
        let e = parse(&event).expect_err("no messageId");
        assert!(e.to_string().contains("no messageId"), "{e}");
    }

    #[test]
    fn cloudtrail_sns_notifications_keys_are_not_decoded() {
        let message = json!({"s3Bucket": "trail", "s3ObjectKey": [
            format!("my logs/{DAY}a+b%20c.json.gz"), DIGEST, "AWSLogs/123456789012/CloudTrail/",
            CONFIG
        ]});
        let b = objects(parse(&json!({"Records": [sns_record(&message)]})).expect("parses"));
        assert_eq!(b.shape, "SNS > CloudTrail");
        assert_eq!(
            b.dispositions,
            [
                Disposition::Ingest(obj("trail", &format!("my logs/{DAY}a+b%20c.json.gz"), None)),
                Disposition::Skip(obj("trail", DIGEST, None), SkipReason::Digest),
                Disposition::Skip(
                    obj("trail", "AWSLogs/123456789012/CloudTrail/", None),
                    SkipReason::Folder
                ),
                Disposition::Skip(obj("trail", CONFIG, None), SkipReason::Config),
            ]
        );
        assert_eq!(sizes(&b.dispositions), [None, None, None, None]);
        // Through SQS too (SNS → SQS without raw delivery).
        let event = json!({"Records": [sqs_record("m", &sns_envelope(&message).to_string())]});
        let Trigger::Sqs(m) = parse(&event).expect("parses") else {
            panic!("not SQS")
        };
        assert_eq!(
            m[0].content.as_ref().expect("ok").shape,
            "SQS > SNS > CloudTrail"
        );
        let bad = json!({"Records": [sns_record(&json!({"s3Bucket": "t", "s3ObjectKey": "k"}))]});
        assert_eq!(
            parse(&bad).expect_err("bad").to_string(),
            "invalid SNS > CloudTrail event: s3ObjectKey is not a list"
        );
    }

    fn eventbridge_event(detail_type: &str, key: &str, size: u64) -> Value {
        json!({"version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103",
               "detail-type": detail_type, "source": "aws.s3", "account": "123456789012",
               "time": "2024-03-05T12:05:00Z", "region": "us-east-1",
               "resources": ["arn:aws:s3:::trail"],
               "detail": {"version": "0", "bucket": {"name": "trail"},
                          "object": {"key": key, "size": size, "etag": "e", "sequencer": "s"},
                          "request-id": "r", "requester": "123456789012", "reason": "PutObject"}})
    }

    #[test]
    fn eventbridge_object_created_keys_are_not_decoded() {
        let b = objects(
            parse(&eventbridge_event(
                "Object Created",
                &format!("my logs/{DAY}a+b.json.gz"),
                7,
            ))
            .expect("ok"),
        );
        assert_eq!(b.shape, "EventBridge");
        assert_eq!(
            b.dispositions,
            [Disposition::Ingest(obj(
                "trail",
                &format!("my logs/{DAY}a+b.json.gz"),
                Some(7)
            ))]
        );
        assert_eq!(sizes(&b.dispositions), [Some(7)]);
        let b = objects(parse(&eventbridge_event("Object Deleted", LOG, 7)).expect("ok"));
        assert_eq!(
            b.dispositions,
            [Disposition::Skip(
                obj("trail", LOG, Some(7)),
                SkipReason::NotObjectCreated
            )]
        );
        // AWS Config's file in an organization trail's bucket: skipped, never read.
        let b = objects(parse(&eventbridge_event("Object Created", CONFIG, 7)).expect("ok"));
        assert_eq!(
            b.dispositions,
            [Disposition::Skip(
                obj("trail", CONFIG, Some(7)),
                SkipReason::Config
            )]
        );
        let b = objects(parse(&eventbridge_event("Object Created", LOG, 0)).expect("ok"));
        assert_eq!(
            b.dispositions,
            [Disposition::Skip(
                obj("trail", LOG, Some(0)),
                SkipReason::Empty
            )]
        );
        assert_eq!(sizes(&b.dispositions), [Some(0)]);
        let mut ec2 = eventbridge_event("EC2 Instance State-change Notification", LOG, 1);
        ec2["source"] = json!("aws.ec2");
        let e = parse(&ec2).expect_err("unknown");
        assert!(matches!(e, NotificationError::UnknownShape { .. }));
        assert!(e.to_string().contains("\"aws.ec2\""), "{e}");
    }

    #[test]
    fn auto_scaling_events_of_both_kinds_are_recognised_whole() {
        for text in [
            include_str!("../../events/autoscaling-api-call.json"),
            include_str!("../../events/autoscaling-launch-unsuccessful.json"),
            include_str!("../../events/autoscaling-refresh-rollback-failed.json"),
        ] {
            let v: Value = serde_json::from_str(text).expect("json");
            assert_eq!(parse(&v).expect("known"), Trigger::AutoScalingEvent(v));
        }
        // Recognised by source: a malformed one is the events module's to name.
        let bare = json!({"source": "aws.autoscaling", "detail-type": "x"});
        assert_eq!(
            parse(&bare).expect("known"),
            Trigger::AutoScalingEvent(bare.clone())
        );
        // Inside an SQS message it is still no shape this function reads.
        let sqs = json!({"Records": [sqs_record("m1", include_str!("../../events/autoscaling-api-call.json"))]});
        let Trigger::Sqs(m) = parse(&sqs).expect("an SQS batch") else {
            panic!("SQS")
        };
        assert!(m[0].content.is_err());
    }

    #[test]
    fn batch_operations_schema_1_and_2() {
        let v1 = json!({"invocationSchemaVersion": "1.0", "invocationId": "inv1",
            "job": {"id": "job1"},
            "tasks": [{"taskId": "t1", "s3Key": format!("my+logs/{DAY}a%3Ab.json.gz"), "s3VersionId": null,
                       "s3BucketArn": "arn:aws:s3:::trail"}]});
        let Trigger::BatchJob(job) = parse(&v1).expect("ok") else {
            panic!("not a job")
        };
        assert_eq!(
            job,
            BatchJob {
                schema_version: "1.0".into(),
                invocation_id: "inv1".into(),
                job_id: Some("job1".into()),
                tasks: vec![BatchTask {
                    task_id: "t1".into(),
                    object: Ok(Disposition::Ingest(obj(
                        "trail",
                        &format!("my logs/{DAY}a:b.json.gz"),
                        None
                    )))
                }]
            }
        );
        let v2 = json!({"invocationSchemaVersion": "2.0", "invocationId": "inv2",
        "job": {"id": "job2", "userArguments": {"k": "v"}},
        "tasks": [
            {"taskId": "t1", "s3Bucket": "trail", "s3Key": LOG, "s3VersionId": null},
            {"taskId": "t2", "s3Bucket": "trail", "s3Key": DIGEST, "s3VersionId": null},
            {"taskId": "t3", "s3Bucket": "trail"},
            {"taskId": "t4", "s3BucketArn": "arn:aws:s3:::", "s3Key": LOG},
        ]});
        let Trigger::BatchJob(job) = parse(&v2).expect("ok") else {
            panic!("not a job")
        };
        assert_eq!(job.schema_version, "2.0");
        assert_eq!(
            job.tasks[0].object,
            Ok(Disposition::Ingest(obj("trail", LOG, None)))
        );
        assert_eq!(
            job.tasks[1].object,
            Ok(Disposition::Skip(
                obj("trail", DIGEST, None),
                SkipReason::Digest
            ))
        );
        assert!(
            job.tasks[2]
                .object
                .as_ref()
                .is_err_and(|e| e.to_string().contains("no s3Key"))
        );
        assert!(
            job.tasks[3]
                .object
                .as_ref()
                .is_err_and(|e| e.to_string().contains("not a bucket ARN"))
        );
        let v3 = json!({"invocationSchemaVersion": "3.0", "invocationId": "i", "tasks": []});
        assert!(
            parse(&v3)
                .expect_err("unknown version")
                .to_string()
                .contains("schema \"3.0\"")
        );
    }

    #[test]
    fn test_events_are_recognised_directly_and_through_sns() {
        let test = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2024-03-05T12:00:00.000Z",
                          "Bucket": "trail", "RequestId": "r", "HostId": "h"});
        let b = objects(parse(&test).expect("ok"));
        assert_eq!(
            (b.shape.as_str(), b.test_events.as_slice()),
            ("S3 test event", &["trail".to_owned()][..])
        );
        let b = objects(parse(&json!({"Records": [sns_record(&test)]})).expect("ok"));
        assert_eq!(b.shape, "SNS > S3 test event");
        assert!(b.dispositions.is_empty());
    }

    #[test]
    fn unknown_shapes_are_named_never_panicked_on() {
        let cases = [
            (
                json!({"foo": 1, "bar": [2]}),
                "unknown event shape: an object with keys [bar, foo]",
            ),
            (
                json!([1, 2]),
                "unknown event shape: a JSON array of 2 element(s)",
            ),
            (json!("hi"), "unknown event shape: a JSON string"),
            (json!(null), "unknown event shape: null"),
            (
                json!({"Records": []}),
                "unknown event shape: an event with an empty Records list",
            ),
            (
                json!({"Records": [{"eventSource": "aws:kinesis", "kinesis": {}}]}),
                "unknown event shape: message with Records from eventSource \"aws:kinesis\"",
            ),
            (
                json!({"Records": [{"eventSource": "aws:s3"}, {"eventSource": "aws:sqs"}]}),
                "unknown event shape: Records mixing eventSource \"aws:s3\" and \"aws:sqs\"",
            ),
            (
                json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": "{\"a\":1}"}}]}),
                "unknown event shape: SNS carrying an object with keys [a]",
            ),
        ];
        for (event, want) in cases {
            assert_eq!(
                parse(&event).expect_err("unknown").to_string(),
                want,
                "{event}"
            );
        }
    }

    #[test]
    fn envelopes_cannot_nest_forever() {
        let mut v = s3(LOG, 1);
        for _ in 0..5 {
            v = sns_envelope(&v);
        }
        let e = parse(&json!({"Records": [sqs_record("m", &v.to_string())]})).expect("SQS parses");
        let Trigger::Sqs(m) = e else {
            panic!("not SQS")
        };
        let err = m[0].content.as_ref().expect_err("too deep");
        assert!(err.to_string().contains("nested more than"), "{err}");
    }

    /// Every sample in events/ parses into the shape its name says.
    #[test]
    fn the_samples_in_events_parse() {
        let samples: [(&str, &str); 11] = [
            ("s3-put.json", include_str!("../../events/s3-put.json")),
            (
                "s3-put-encoded-key.json",
                include_str!("../../events/s3-put-encoded-key.json"),
            ),
            (
                "s3-put-digest.json",
                include_str!("../../events/s3-put-digest.json"),
            ),
            ("sqs-s3.json", include_str!("../../events/sqs-s3.json")),
            ("sns-s3.json", include_str!("../../events/sns-s3.json")),
            (
                "sqs-sns-s3.json",
                include_str!("../../events/sqs-sns-s3.json"),
            ),
            (
                "sns-cloudtrail.json",
                include_str!("../../events/sns-cloudtrail.json"),
            ),
            (
                "eventbridge-object-created.json",
                include_str!("../../events/eventbridge-object-created.json"),
            ),
            (
                "s3-batch-job-v1.json",
                include_str!("../../events/s3-batch-job-v1.json"),
            ),
            (
                "s3-batch-job-v2.json",
                include_str!("../../events/s3-batch-job-v2.json"),
            ),
            (
                "s3-test-event.json",
                include_str!("../../events/s3-test-event.json"),
            ),
        ];
        let demo = obj("asg-trail-demo", LOG, None);
        for (name, text) in samples {
            let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let trigger = parse(&v).unwrap_or_else(|e| panic!("{name}: {e}"));
            let ingested: Vec<ObjectRef> = match &trigger {
                Trigger::Objects(b) => b.dispositions.clone(),
                Trigger::Sqs(m) => m
                    .iter()
                    .flat_map(|m| m.content.clone().expect("ok").dispositions)
                    .collect(),
                Trigger::BatchJob(j) => j
                    .tasks
                    .iter()
                    .map(|t| t.object.clone().expect("ok"))
                    .collect(),
                Trigger::AutoScalingEvent(_) => panic!("{name}: not an Auto Scaling event"),
            }
            .into_iter()
            .filter_map(|d| match d {
                Disposition::Ingest(o) => Some(ObjectRef { size: None, ..o }),
                Disposition::Skip(..) => None,
            })
            .collect();
            match name {
                "s3-put-digest.json" | "s3-test-event.json" => {
                    assert!(ingested.is_empty(), "{name}");
                }
                "s3-put-encoded-key.json" => assert_eq!(
                    ingested,
                    [obj(
                        "asg-trail-demo",
                        &format!("my logs/run:2024-03-05+retry/{LOG}"),
                        None
                    )],
                    "{name}"
                ),
                _ => assert_eq!(ingested, std::slice::from_ref(&demo), "{name}"),
            }
        }
    }
}
