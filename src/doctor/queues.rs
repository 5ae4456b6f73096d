//! The failure checks: the failure queue is empty (SQS `ApproximateNumberOfMessages`), and the
//! alarm topic has a confirmed subscription (SNS: a subscription ARN that is not
//! `PendingConfirmation`), so that an alarm reaches someone.

use super::{Check, names};

/// The failure queue line: `waiting` and `in_flight` are its approximate message counts.
#[must_use]
pub fn check_queue(url: &str, waiting: u64, in_flight: u64) -> Check {
    let total = waiting + in_flight;
    if total == 0 {
        return Check::ok(names::FAILURE_QUEUE, format!("{url} is empty"));
    }
    Check::fix(
        names::FAILURE_QUEUE,
        format!("{url} holds {total} failed event(s): log files that were not ingested"),
        format!(
            "read why in the function's log group, fix it, then replay the objects the messages \
             name with `asg-trail ingest s3://BUCKET/KEY` and delete the messages \
             (`aws sqs receive-message --queue-url {url}`)"
        ),
    )
}

/// One subscription of the alarm topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscription {
    /// Its ARN, or `PendingConfirmation`.
    pub arn: String,
    /// `email`, `sqs`, `https`, ...
    pub protocol: String,
    /// The address, queue or URL.
    pub endpoint: String,
}

/// The alarm topic line.
#[must_use]
pub fn check_topic(topic: &str, subscriptions: &[Subscription]) -> Check {
    let confirmed: Vec<String> = subscriptions
        .iter()
        .filter(|s| s.arn.starts_with("arn:"))
        .map(|s| format!("{} {}", s.protocol, s.endpoint))
        .collect();
    if !confirmed.is_empty() {
        return Check::ok(
            names::ALARM_TOPIC,
            format!("{topic} notifies {}", confirmed.join(", ")),
        );
    }
    let pending: Vec<&str> = subscriptions
        .iter()
        .filter(|s| s.arn == "PendingConfirmation")
        .map(|s| s.endpoint.as_str())
        .collect();
    if pending.is_empty() {
        return Check::fix(
            names::ALARM_TOPIC,
            format!("{topic} has no subscription: alarms notify nobody"),
            "set the stack's AlarmEmail (or AlarmTopicArn), or `aws sns subscribe` an address",
        );
    }
    Check::fix(
        names::ALARM_TOPIC,
        format!(
            "{topic}: the subscription of {} is not confirmed: alarms notify nobody",
            pending.join(", ")
        ),
        "click the link in the \"AWS Notification - Subscription Confirmation\" e-mail (or \
         `aws sns subscribe` again to resend it)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    fn sub(arn: &str) -> Subscription {
        Subscription {
            arn: arn.into(),
            protocol: "email".into(),
            endpoint: "ops@example.com".into(),
        }
    }

    #[test]
    fn a_queue_is_green_only_when_empty() {
        assert_eq!(check_queue("q", 0, 0).status, Status::Ok);
        let c = check_queue("q", 2, 1);
        assert_eq!(c.status, Status::Fix);
        assert!(c.detail.contains("holds 3 failed"), "{c:?}");
        assert!(
            c.fix
                .as_deref()
                .is_some_and(|f| f.contains("asg-trail ingest"))
        );
    }

    #[test]
    fn a_topic_needs_a_confirmed_subscription() {
        let c = check_topic(
            "t",
            &[sub("PendingConfirmation"), sub("arn:aws:sns:x:1:t:abc")],
        );
        assert_eq!(c.status, Status::Ok);
        assert_eq!(c.detail, "t notifies email ops@example.com");
        let c = check_topic("t", &[sub("PendingConfirmation")]);
        assert_eq!(c.status, Status::Fix);
        assert!(c.fix.as_deref().is_some_and(|f| f.contains("Confirmation")));
        let c = check_topic("t", &[]);
        assert_eq!(c.status, Status::Fix);
        assert!(c.detail.contains("no subscription"));
    }
}
