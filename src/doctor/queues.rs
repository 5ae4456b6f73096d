//! The failure checks: the failure queue and the real-time rule's dead-letter queue exist and
//! are empty (SQS `ApproximateNumberOfMessages`, the oldest message's age from CloudWatch's
//! `ApproximateAgeOfOldestMessage`, which SQS itself does not report), and an alarm reaches
//! someone: the stack's alarm topic, or the other topic it notifies (`AlarmTopicArn`), has a
//! confirmed subscription (SNS: a subscription ARN that is not `PendingConfirmation`).

use super::{Check, ProbeError, names};

/// What a queue is for: its line's name, what its messages are, and how to replay them.
#[derive(Debug, Clone, Copy)]
pub struct QueueKind {
    /// The line's name.
    pub name: &'static str,
    /// The stack output that names it.
    pub output: &'static str,
    /// What its messages are.
    pub holds: &'static str,
    /// What to do about them, given the queue's URL.
    pub replay: fn(&str) -> String,
}

/// The failure queue: events of log files (and Auto Scaling events) the function failed.
pub const FAILURE_QUEUE: QueueKind = QueueKind {
    name: names::FAILURE_QUEUE,
    output: "FailedEventsQueueUrl",
    holds: "failed event(s): log files that were not ingested",
    replay: |url| {
        format!(
            "read why in the function's log group, fix it, then replay the objects the messages \
             name with `asg-trail ingest s3://BUCKET/KEY` and delete the messages \
             (`aws sqs receive-message --queue-url {url}`)"
        )
    },
};

/// The real-time rule's dead-letter queue: EC2 Auto Scaling events EventBridge could not
/// deliver to the function.
pub const DEAD_LETTER_QUEUE: QueueKind = QueueKind {
    name: names::DEAD_LETTER_QUEUE,
    output: "AutoScalingEventsDeadLetterQueueUrl",
    holds: "EC2 Auto Scaling event(s) EventBridge could not deliver to the function",
    replay: |url| {
        format!(
            "read why (the rule's FailedInvocations metric, the function's permission and \
             concurrency), fix it, then replay each message by invoking the function with its \
             body (`aws sqs receive-message --queue-url {url}`, `aws lambda invoke \
             --function-name FUNCTION --payload BODY`) and delete it"
        )
    },
};

/// What SQS (and CloudWatch) say of a queue.
#[derive(Debug)]
pub struct QueueFacts {
    /// Its approximate number of visible messages.
    pub waiting: u64,
    /// Its approximate number of messages in flight.
    pub in_flight: u64,
    /// How long SQS keeps a message (`MessageRetentionPeriod`), in seconds.
    pub retention_secs: Option<u64>,
    /// The age of its oldest message in seconds, by CloudWatch (`Ok(None)`: no datapoint);
    /// asked only when it holds messages.
    pub oldest_secs: Option<Result<Option<u64>, ProbeError>>,
}

/// A duration for people: seconds, minutes, hours or days.
fn age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

/// The line of a queue of `kind` at `url`: green when empty, red when messages wait.
#[must_use]
pub fn check_queue(kind: &QueueKind, url: &str, facts: &QueueFacts) -> Check {
    let total = facts.waiting + facts.in_flight;
    if total == 0 {
        return Check::ok(kind.name, format!("{url} is empty"));
    }
    let oldest = match &facts.oldest_secs {
        Some(Ok(Some(secs))) => format!("; the oldest is {} old", age(*secs)),
        Some(Ok(None)) => {
            "; CloudWatch has no age of the oldest message in the last hour".to_owned()
        }
        Some(Err(e)) => format!("; the oldest message's age is unknown (CloudWatch: {e})"),
        None => String::new(),
    };
    let kept = facts
        .retention_secs
        .map(|r| format!("; SQS deletes a message after {}", age(r)))
        .unwrap_or_default();
    Check::fix(
        kind.name,
        format!("{url} holds {total} {}{oldest}{kept}", kind.holds),
        (kind.replay)(url),
    )
}

/// The line of a queue that does not exist.
#[must_use]
pub fn missing_queue(kind: &QueueKind, url: &str, error: &ProbeError) -> Check {
    Check::fix(
        kind.name,
        format!("{url} does not exist ({error}): what fails has nowhere to go"),
        format!(
            "give the deployed queue's URL (the stack's {} output), or update the stack to \
             create it again",
            kind.output
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

/// What is known of one topic the alarms notify.
#[derive(Debug)]
pub enum TopicReach {
    /// Its subscriptions (`ListSubscriptionsByTopic`).
    Subscriptions(Vec<Subscription>),
    /// Only its counts (`GetTopicAttributes`), as of a topic of another account whose
    /// subscriptions cannot be listed.
    Counts {
        /// `SubscriptionsConfirmed`.
        confirmed: u64,
        /// `SubscriptionsPending`.
        pending: u64,
    },
    /// It does not exist.
    Missing(ProbeError),
    /// It cannot be read.
    Unreadable(ProbeError),
    /// It is in another region than the alarms (the region named), which cannot notify it.
    OtherRegion(String),
}

/// One topic the alarms notify.
#[derive(Debug)]
pub struct AlarmTopic {
    /// Its ARN.
    pub arn: String,
    /// Which it is (`the stack's topic`, `AlarmTopicArn`).
    pub role: &'static str,
    /// What is known of it.
    pub reach: TopicReach,
}

impl AlarmTopic {
    /// Whom it notifies, if anyone.
    fn notifies(&self) -> Option<String> {
        match &self.reach {
            TopicReach::Subscriptions(subs) => {
                let confirmed: Vec<String> = subs
                    .iter()
                    .filter(|s| s.arn.starts_with("arn:"))
                    .map(|s| format!("{} {}", s.protocol, s.endpoint))
                    .collect();
                (!confirmed.is_empty()).then(|| {
                    format!(
                        "{} ({}) notifies {}",
                        self.arn,
                        self.role,
                        confirmed.join(", ")
                    )
                })
            }
            TopicReach::Counts { confirmed, .. } => (*confirmed > 0).then(|| {
                format!(
                    "{} ({}) has {confirmed} confirmed subscription(s)",
                    self.arn, self.role
                )
            }),
            _ => None,
        }
    }

    /// Why it notifies nobody, and whether that is for want of a confirmation.
    fn silence(&self, region: &str) -> (String, bool) {
        let name = format!("{} ({})", self.arn, self.role);
        match &self.reach {
            TopicReach::Subscriptions(subs) => {
                let pending: Vec<&str> = subs
                    .iter()
                    .filter(|s| s.arn == "PendingConfirmation")
                    .map(|s| s.endpoint.as_str())
                    .collect();
                if pending.is_empty() {
                    (format!("{name} has no subscription"), false)
                } else {
                    let who = pending.join(", ");
                    (
                        format!("{name}: the subscription of {who} is not confirmed"),
                        true,
                    )
                }
            }
            TopicReach::Counts { pending, .. } => (
                format!("{name} has no confirmed subscription ({pending} pending)"),
                *pending > 0,
            ),
            TopicReach::Missing(e) => (format!("{name} does not exist ({e})"), false),
            TopicReach::Unreadable(e) => (format!("cannot read {name}: {e}"), false),
            TopicReach::OtherRegion(r) => (
                format!("{name} is in {r}, and alarms of {region} notify topics of {region} only"),
                false,
            ),
        }
    }
}

/// The alarm topic line: green when any topic the alarms notify has a confirmed subscription,
/// yellow when none does but one cannot be read, red when nobody at all is notified. `region`
/// is the alarms' (the stack's).
#[must_use]
pub fn check_alarm_topics(topics: &[AlarmTopic], stack: Option<&str>, region: &str) -> Check {
    let reached: Vec<String> = topics.iter().filter_map(AlarmTopic::notifies).collect();
    if !reached.is_empty() {
        return Check::ok(names::ALARM_TOPIC, reached.join("; "));
    }
    let silences: Vec<(String, bool)> = topics.iter().map(|t| t.silence(region)).collect();
    let said = silences
        .iter()
        .map(|(s, _)| s.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    if topics
        .iter()
        .any(|t| matches!(t.reach, TopicReach::Unreadable(_)))
    {
        return Check::unknown(names::ALARM_TOPIC, said);
    }
    if silences.iter().any(|(_, pending)| *pending) {
        return Check::fix(
            names::ALARM_TOPIC,
            format!("{said}: alarms notify nobody"),
            "click the link in the \"AWS Notification - Subscription Confirmation\" e-mail (or \
             `aws sns subscribe` again to resend it)",
        );
    }
    match (topics.is_empty(), stack) {
        (true, Some(stack)) => Check::fix(
            names::ALARM_TOPIC,
            format!("stack {stack} has no alarm topic: alarms notify nobody"),
            "update the stack with AlarmEmail (or AlarmTopicArn) set",
        ),
        (true, None) => Check::unknown(names::ALARM_TOPIC, "not checked: give --topic ARN"),
        (false, _) => Check::fix(
            names::ALARM_TOPIC,
            format!("{said}: alarms notify nobody"),
            format!(
                "set the stack's AlarmEmail (or AlarmTopicArn, a topic of {region} that notifies \
                 someone), or `aws sns subscribe` an address to the topic"
            ),
        ),
    }
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

    fn facts(waiting: u64, in_flight: u64) -> QueueFacts {
        QueueFacts {
            waiting,
            in_flight,
            retention_secs: Some(1_209_600),
            oldest_secs: None,
        }
    }

    #[test]
    fn a_queue_is_green_only_when_empty() {
        assert_eq!(
            check_queue(&FAILURE_QUEUE, "q", &facts(0, 0)).status,
            Status::Ok
        );
        let c = check_queue(&FAILURE_QUEUE, "q", &facts(2, 1));
        assert_eq!(c.status, Status::Fix);
        assert_eq!(
            c.detail,
            "q holds 3 failed event(s): log files that were not ingested; SQS deletes a message \
             after 14 d"
        );
        assert!(
            c.fix
                .as_deref()
                .is_some_and(|f| f.contains("asg-trail ingest"))
        );
    }

    #[test]
    fn the_dead_letter_queue_shares_the_line_and_names_its_own_replay() {
        let mut waiting = facts(1, 0);
        waiting.oldest_secs = Some(Ok(Some(5 * 3600)));
        let c = check_queue(&DEAD_LETTER_QUEUE, "dlq", &waiting);
        assert_eq!((c.name, c.status), (names::DEAD_LETTER_QUEUE, Status::Fix));
        assert!(c.detail.contains("the oldest is 5 h old"), "{c:?}");
        assert!(
            c.fix
                .as_deref()
                .is_some_and(|f| f.contains("aws lambda invoke"))
        );
        waiting.oldest_secs = Some(Err(ProbeError::new("GetMetricStatistics", "denied")));
        let c = check_queue(&DEAD_LETTER_QUEUE, "dlq", &waiting);
        assert!(
            c.detail.contains("age is unknown (CloudWatch: denied)"),
            "{c:?}"
        );
        waiting.oldest_secs = Some(Ok(None));
        let c = check_queue(&DEAD_LETTER_QUEUE, "dlq", &waiting);
        assert!(c.detail.contains("CloudWatch has no age"), "{c:?}");
        let gone = missing_queue(
            &DEAD_LETTER_QUEUE,
            "dlq",
            &ProbeError::new("GetQueueAttributes", "NonExistentQueue"),
        );
        assert_eq!(gone.status, Status::Fix);
        assert!(
            gone.fix
                .as_deref()
                .is_some_and(|f| f.contains("AutoScalingEventsDeadLetterQueueUrl"))
        );
    }

    fn topic(role: &'static str, reach: TopicReach) -> AlarmTopic {
        AlarmTopic {
            arn: format!("arn:aws:sns:us-east-1:1:{role}"),
            role,
            reach,
        }
    }

    #[test]
    fn a_topic_needs_a_confirmed_subscription() {
        let subs = |s: Vec<Subscription>| topic("own", TopicReach::Subscriptions(s));
        let c = check_alarm_topics(
            &[subs(vec![
                sub("PendingConfirmation"),
                sub("arn:aws:sns:x:1:t:abc"),
            ])],
            Some("s"),
            "us-east-1",
        );
        assert_eq!(c.status, Status::Ok);
        assert_eq!(
            c.detail,
            "arn:aws:sns:us-east-1:1:own (own) notifies email ops@example.com"
        );
        let c = check_alarm_topics(&[subs(vec![sub("PendingConfirmation")])], None, "us-east-1");
        assert_eq!(c.status, Status::Fix);
        assert!(c.fix.as_deref().is_some_and(|f| f.contains("Confirmation")));
        let c = check_alarm_topics(&[subs(vec![])], None, "us-east-1");
        assert_eq!(c.status, Status::Fix);
        assert!(c.detail.contains("no subscription"));
    }

    #[test]
    fn a_pager_topic_alone_is_enough_and_nobody_at_all_is_red() {
        let lonely = || topic("own", TopicReach::Subscriptions(vec![]));
        let pager = topic(
            "AlarmTopicArn",
            TopicReach::Counts {
                confirmed: 2,
                pending: 0,
            },
        );
        let c = check_alarm_topics(&[lonely(), pager], Some("s"), "us-east-1");
        assert_eq!(c.status, Status::Ok, "{c:?}");
        assert!(
            c.detail.contains("(AlarmTopicArn) has 2 confirmed"),
            "{c:?}"
        );

        let denied = topic(
            "AlarmTopicArn",
            TopicReach::Unreadable(ProbeError::new("GetTopicAttributes", "AuthorizationError")),
        );
        assert_eq!(
            check_alarm_topics(&[lonely(), denied], Some("s"), "us-east-1").status,
            Status::Unknown
        );

        let elsewhere = topic("AlarmTopicArn", TopicReach::OtherRegion("eu-west-1".into()));
        let c = check_alarm_topics(&[lonely(), elsewhere], Some("s"), "us-east-1");
        assert_eq!(c.status, Status::Fix);
        assert!(
            c.detail.contains(
                "is in eu-west-1, and alarms of us-east-1 notify topics of us-east-1 only"
            ),
            "{c:?}"
        );

        let gone = topic(
            "AlarmTopicArn",
            TopicReach::Missing(ProbeError::new("GetTopicAttributes", "NotFound")),
        );
        let c = check_alarm_topics(&[lonely(), gone], Some("s"), "us-east-1");
        assert_eq!(c.status, Status::Fix);
        assert!(c.detail.ends_with("alarms notify nobody"), "{c:?}");

        let c = check_alarm_topics(&[], Some("s"), "us-east-1");
        assert_eq!(c.status, Status::Fix);
        assert!(c.detail.contains("stack s has no alarm topic"));
        assert_eq!(
            check_alarm_topics(&[], None, "us-east-1").status,
            Status::Unknown
        );
    }
}
