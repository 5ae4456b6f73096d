//! The notification check: a new log file in the bucket reaches the function, by one of the
//! three ways the template wires: S3 invokes it (a Lambda configuration), S3 sends to
//! EventBridge and a rule targets it, or S3 (or the trail) publishes to an SNS topic the
//! function is subscribed to. Two facts of an organization come first: a bucket of another
//! account never reaches the stack's EventBridge rule (S3 sends its events to the bucket
//! owner's default bus only), and the SNS trigger's topic, read in its own region, must exist
//! and hold the function's confirmed subscription.

use super::queues::Subscription;
use super::{Check, ProbeError, names, names::NOTIFICATION, prefixes_meet};

/// A Lambda configuration of the bucket's notification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LambdaConfig {
    /// The function it invokes.
    pub function_arn: String,
    /// Its events (`s3:ObjectCreated:*`, ...).
    pub events: Vec<String>,
    /// Its key prefix filter, if any.
    pub prefix: Option<String>,
}

/// An SNS topic that may carry the news of a log file.
#[derive(Debug)]
pub struct TopicFacts {
    /// The topic.
    pub arn: String,
    /// Whether the function is subscribed (`Err`: the subscriptions could not be read).
    pub subscribed: Result<bool, ProbeError>,
}

/// What the bucket's notification configuration, EventBridge and SNS say.
#[derive(Debug)]
pub struct NotificationFacts {
    /// The bucket's Lambda configurations.
    pub lambda: Vec<LambdaConfig>,
    /// Whether the bucket sends its events to EventBridge.
    pub eventbridge: bool,
    /// The enabled EventBridge rules on S3's events that target the function (`Err`: could
    /// not be read).
    pub rules: Result<Vec<String>, ProbeError>,
    /// The topics of the bucket's topic configurations, and the trail's topic.
    pub topics: Vec<TopicFacts>,
}

impl Default for NotificationFacts {
    /// Nothing reaches the function.
    fn default() -> Self {
        Self {
            lambda: vec![],
            eventbridge: false,
            rules: Ok(vec![]),
            topics: vec![],
        }
    }
}

/// Whether `arn` names the function `function_arn`, itself or one of its versions or aliases.
fn names_function(arn: &str, function_arn: &str) -> bool {
    arn == function_arn
        || arn
            .strip_prefix(function_arn)
            .is_some_and(|rest| rest.starts_with(':'))
}

/// The notification line.
#[must_use]
pub fn check_notification(facts: &NotificationFacts, function_arn: &str, prefix: &str) -> Check {
    let direct = facts.lambda.iter().find(|c| {
        names_function(&c.function_arn, function_arn)
            && c.events.iter().any(|e| e.starts_with("s3:ObjectCreated:"))
            && prefixes_meet(c.prefix.as_deref().unwrap_or_default(), prefix)
    });
    if direct.is_some() {
        return Check::ok(
            NOTIFICATION,
            "the bucket invokes the function on s3:ObjectCreated (Lambda notification)",
        );
    }
    if facts.eventbridge {
        match &facts.rules {
            Ok(rules) if !rules.is_empty() => {
                return Check::ok(
                    NOTIFICATION,
                    format!(
                        "the bucket sends to EventBridge and rule {} targets the function",
                        rules.join(", ")
                    ),
                );
            }
            Ok(_) => {}
            Err(e) => {
                return Check::unknown(
                    NOTIFICATION,
                    format!(
                        "the bucket sends to EventBridge; cannot list the rules that target the \
                         function: {e}"
                    ),
                );
            }
        }
    }
    if let Some(topic) = facts
        .topics
        .iter()
        .find(|t| matches!(t.subscribed, Ok(true)))
    {
        return Check::ok(
            NOTIFICATION,
            format!(
                "the function is subscribed to {}, which carries the bucket's news",
                topic.arn
            ),
        );
    }
    if let Some((topic, e)) = facts
        .topics
        .iter()
        .find_map(|t| t.subscribed.as_ref().err().map(|e| (t, e)))
    {
        return Check::unknown(
            NOTIFICATION,
            format!("cannot read the subscriptions of {}: {e}", topic.arn),
        );
    }
    Check::fix(
        NOTIFICATION,
        "nothing the bucket sends reaches the function: no new log file invokes it",
        format!(
            "add a Lambda notification (s3:ObjectCreated:*, prefix {prefix:?}) for {function_arn}, \
             or turn on the bucket's \"Send notifications to Amazon EventBridge\" and keep the \
             stack's rule, or subscribe the function to the bucket's SNS topic"
        ),
    )
}

/// Whether the bucket belongs to the stack's account, as S3 answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// It is among the account's buckets (`ListBuckets`).
    Own,
    /// It exists but is not among them: another account owns it.
    Other,
    /// It does not exist (`HeadBucket`: 404).
    Missing,
}

/// The notification line of the EventBridge trigger when the bucket is not the account's own:
/// red, since S3 delivers a bucket's events to its owner's default bus in its region only.
/// `None` for a bucket of the account, which the usual check judges.
#[must_use]
pub fn check_owner(bucket: &str, account: &str, owner: Ownership) -> Option<Check> {
    let why = match owner {
        Ownership::Own => return None,
        Ownership::Missing => {
            return Some(Check::fix(
                NOTIFICATION,
                format!("s3://{bucket} does not exist"),
                "set the stack's ExistingBucketName to the bucket the trail delivers to",
            ));
        }
        Ownership::Other => format!(
            "s3://{bucket} is not a bucket of account {account} (ListBuckets): with \
             ExistingBucketTrigger=EventBridge the function is never invoked, since S3 sends a \
             bucket's events only to its owner's default event bus, in the bucket's region"
        ),
    };
    Some(Check::fix(
        NOTIFICATION,
        why,
        format!(
            "redeploy with ExistingBucketTrigger=SNS and ExistingBucketTopicArn (a topic in the \
             bucket's account that its event notifications, or the trail, publish to, allowing \
             account {account} sns:Subscribe), or have the bucket's account forward its \
             \"Object Created\" events to the default event bus of account {account} (an \
             EventBridge rule whose target is that bus, which must allow the bucket's account \
             events:PutEvents)"
        ),
    ))
}

/// What SNS says of the SNS trigger's topic, in its own region.
#[derive(Debug)]
pub struct LogTopicFacts {
    /// The topic.
    pub arn: String,
    /// Its region (the ARN's).
    pub region: String,
    /// `Ok(false)`: it does not exist; `Err`: that could not be read (a topic of another
    /// account need not let this account read its attributes).
    pub exists: Result<bool, ProbeError>,
    /// The account's subscriptions to it (`ListSubscriptions` in its region).
    pub subscriptions: Result<Vec<Subscription>, ProbeError>,
}

/// The line of the SNS trigger's topic: it exists, and the function's subscription to it is
/// there and confirmed.
#[must_use]
pub fn check_log_topic(facts: &LogTopicFacts, function_arn: &str) -> Check {
    let (topic, region) = (&facts.arn, &facts.region);
    let subscribe = format!(
        "update the stack (its LogFileTopicSubscription subscribes the function), or `aws sns \
         subscribe --region {region} --topic-arn {topic} --protocol lambda \
         --notification-endpoint {function_arn}`"
    );
    if let Ok(false) = facts.exists {
        return Check::fix(
            names::LOG_FILE_TOPIC,
            format!("{topic} does not exist (in {region})"),
            "set the stack's ExistingBucketTopicArn to the topic the bucket's event \
             notifications (or the trail) publish to",
        );
    }
    let subs = match &facts.subscriptions {
        Ok(subs) => subs,
        Err(e) => {
            return Check::unknown(
                names::LOG_FILE_TOPIC,
                format!("cannot list the subscriptions to {topic} in {region}: {e}"),
            );
        }
    };
    let ours: Vec<&Subscription> = subs
        .iter()
        .filter(|s| s.protocol == "lambda" && names_function(&s.endpoint, function_arn))
        .collect();
    if let Some(s) = ours.iter().find(|s| s.arn.starts_with("arn:")) {
        return Check::ok(
            names::LOG_FILE_TOPIC,
            format!(
                "the function is subscribed to {topic} (in {region}): {}",
                s.arn
            ),
        );
    }
    let detail = if ours.is_empty() {
        format!("the function is not subscribed to {topic} (in {region}): no log file reaches it")
    } else {
        format!("the function's subscription to {topic} (in {region}) is pending confirmation")
    };
    Check::fix(names::LOG_FILE_TOPIC, detail, subscribe)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    const F: &str = "arn:aws:lambda:us-east-1:1:function:f";

    fn lambda(arn: &str, prefix: Option<&str>) -> LambdaConfig {
        LambdaConfig {
            function_arn: arn.into(),
            events: vec!["s3:ObjectCreated:*".into()],
            prefix: prefix.map(str::to_owned),
        }
    }

    fn none() -> NotificationFacts {
        NotificationFacts::default()
    }

    #[test]
    fn a_lambda_configuration_for_the_function_or_its_alias_passes() {
        for arn in [F.to_owned(), format!("{F}:live")] {
            let facts = NotificationFacts {
                lambda: vec![lambda(&arn, Some("AWSLogs/"))],
                ..none()
            };
            assert_eq!(check_notification(&facts, F, "AWSLogs/").status, Status::Ok);
        }
        let other = NotificationFacts {
            lambda: vec![lambda(&format!("{F}2"), None)],
            ..none()
        };
        assert_eq!(check_notification(&other, F, "").status, Status::Fix);
        let elsewhere = NotificationFacts {
            lambda: vec![lambda(F, Some("other/"))],
            ..none()
        };
        assert_eq!(
            check_notification(&elsewhere, F, "AWSLogs/").status,
            Status::Fix
        );
    }

    #[test]
    fn eventbridge_needs_a_rule_and_sns_a_subscription() {
        let eb = NotificationFacts {
            eventbridge: true,
            rules: Ok(vec!["stack-LogFileCreatedRule".into()]),
            ..none()
        };
        let c = check_notification(&eb, F, "");
        assert_eq!(c.status, Status::Ok);
        assert!(c.detail.contains("stack-LogFileCreatedRule"));
        let eb_without_rule = NotificationFacts {
            eventbridge: true,
            ..none()
        };
        assert_eq!(
            check_notification(&eb_without_rule, F, "").status,
            Status::Fix
        );

        let topic = |subscribed| NotificationFacts {
            topics: vec![TopicFacts {
                arn: "arn:aws:sns:us-east-1:1:t".into(),
                subscribed,
            }],
            ..none()
        };
        assert_eq!(
            check_notification(&topic(Ok(true)), F, "").status,
            Status::Ok
        );
        let c = check_notification(&topic(Ok(false)), F, "AWSLogs/");
        assert_eq!(c.status, Status::Fix);
        assert!(c.fix.as_deref().is_some_and(|f| f.contains("EventBridge")));
        assert_eq!(
            check_notification(
                &topic(Err(ProbeError::new("ListSubscriptionsByTopic", "denied"))),
                F,
                ""
            )
            .status,
            Status::Unknown
        );
    }

    #[test]
    fn a_bucket_of_another_account_never_reaches_the_eventbridge_rule() {
        assert_eq!(check_owner("b", "1", Ownership::Own), None);
        let c = check_owner("b", "1", Ownership::Other).expect("red");
        assert_eq!(c.status, Status::Fix);
        assert!(c.detail.contains("not a bucket of account 1"), "{c:?}");
        assert!(c.detail.contains("owner's default event bus"), "{c:?}");
        let fix = c.fix.as_deref().unwrap_or_default();
        assert!(fix.contains("ExistingBucketTrigger=SNS"), "{fix}");
        assert!(fix.contains("forward"), "{fix}");
        let c = check_owner("b", "1", Ownership::Missing).expect("red");
        assert!(c.detail.contains("does not exist"), "{c:?}");
    }

    fn log_topic(exists: Result<bool, ProbeError>, subs: Vec<Subscription>) -> LogTopicFacts {
        LogTopicFacts {
            arn: "arn:aws:sns:eu-west-1:2:logs".into(),
            region: "eu-west-1".into(),
            exists,
            subscriptions: Ok(subs),
        }
    }

    fn lambda_sub(arn: &str, endpoint: &str) -> Subscription {
        Subscription {
            arn: arn.into(),
            protocol: "lambda".into(),
            endpoint: endpoint.into(),
        }
    }

    #[test]
    fn the_sns_topic_needs_the_functions_confirmed_subscription() {
        let confirmed = lambda_sub("arn:aws:sns:eu-west-1:2:logs:s1", F);
        let c = check_log_topic(&log_topic(Ok(true), vec![confirmed.clone()]), F);
        assert_eq!(c.status, Status::Ok, "{c:?}");
        assert!(c.detail.contains("(in eu-west-1)"), "{c:?}");
        // A topic of another account may hide its attributes; the subscription is ours to see.
        let hidden = Err(ProbeError::new("GetTopicAttributes", "AuthorizationError"));
        assert_eq!(
            check_log_topic(&log_topic(hidden, vec![confirmed]), F).status,
            Status::Ok
        );

        let c = check_log_topic(&log_topic(Ok(false), vec![]), F);
        assert_eq!(c.status, Status::Fix);
        assert!(c.detail.contains("does not exist (in eu-west-1)"), "{c:?}");
        let other = lambda_sub("arn:aws:sns:eu-west-1:2:logs:s2", &format!("{F}2"));
        let c = check_log_topic(&log_topic(Ok(true), vec![other]), F);
        assert!(c.detail.contains("is not subscribed"), "{c:?}");
        assert!(
            c.fix
                .as_deref()
                .is_some_and(|f| f.contains("--region eu-west-1")),
            "{c:?}"
        );
        let pending = lambda_sub("PendingConfirmation", F);
        let c = check_log_topic(&log_topic(Ok(true), vec![pending]), F);
        assert_eq!(c.status, Status::Fix);
        assert!(c.detail.contains("pending confirmation"), "{c:?}");
        let mut unlisted = log_topic(Ok(true), vec![]);
        unlisted.subscriptions = Err(ProbeError::new("ListSubscriptions", "denied"));
        assert_eq!(check_log_topic(&unlisted, F).status, Status::Unknown);
    }
}
