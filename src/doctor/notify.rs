//! The notification check: a new log file in the bucket reaches the function, by one of the
//! three ways the template wires: S3 invokes it (a Lambda configuration), S3 sends to
//! EventBridge and a rule targets it, or S3 (or the trail) publishes to an SNS topic the
//! function is subscribed to.

use super::{Check, ProbeError, names::NOTIFICATION, prefixes_meet};

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
}
