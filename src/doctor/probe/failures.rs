//! Where failures go and who hears of them: the failure queue and the real-time rule's
//! dead-letter queue (one probe for both: SQS `GetQueueAttributes`, and CloudWatch's
//! `ApproximateAgeOfOldestMessage` when messages wait), and the topics the alarms notify.

use aws_sdk_cloudwatch::types::{Dimension, Statistic};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::QueueAttributeName;

use super::{call_failed, sns};
use crate::aws::{DoctorClients, describe_error};
use crate::doctor::queues::{
    AlarmTopic, DEAD_LETTER_QUEUE, FAILURE_QUEUE, QueueFacts, QueueKind, TopicReach,
    check_alarm_topics, check_queue, missing_queue,
};
use crate::doctor::{Check, ProbeError, Target};

/// The failure queue, dead-letter queue (when real-time events are on) and alarm topic lines.
pub(super) async fn failure_checks(clients: &DoctorClients, target: &Target) -> Vec<Check> {
    let mut checks = vec![match &target.queue_url {
        Some(url) => queue_line(clients, &FAILURE_QUEUE, url).await,
        None => Check::unknown(FAILURE_QUEUE.name, "not checked: give --queue URL"),
    }];
    if let Some(url) = &target.dead_letter_url {
        checks.push(queue_line(clients, &DEAD_LETTER_QUEUE, url).await);
    }
    checks.push(alarm_line(clients, target).await);
    checks
}

/// The line of the queue of `kind` at `url`.
async fn queue_line(clients: &DoctorClients, kind: &QueueKind, url: &str) -> Check {
    let out = clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(QueueAttributeName::MessageRetentionPeriod)
        .send()
        .await;
    let out = match out {
        Ok(out) => out,
        Err(e) if is_missing_queue(e.code()) => {
            return missing_queue(kind, url, &call_failed("GetQueueAttributes", e));
        }
        Err(e) => {
            return Check::unknown(
                kind.name,
                format!("cannot read {url}: {}", describe_error(&e)),
            );
        }
    };
    let number = |name: QueueAttributeName| {
        out.attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let mut facts = QueueFacts {
        waiting: number(QueueAttributeName::ApproximateNumberOfMessages).unwrap_or(0),
        in_flight: number(QueueAttributeName::ApproximateNumberOfMessagesNotVisible).unwrap_or(0),
        retention_secs: number(QueueAttributeName::MessageRetentionPeriod),
        oldest_secs: None,
    };
    if facts.waiting + facts.in_flight > 0 {
        facts.oldest_secs = Some(oldest_age(&clients.cloudwatch, url).await);
    }
    check_queue(kind, url, &facts)
}

/// The codes SQS answers for a queue that does not exist (JSON and query protocols).
fn is_missing_queue(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("QueueDoesNotExist" | "AWS.SimpleQueueService.NonExistentQueue")
    )
}

/// The age of the queue's oldest message, in seconds, by CloudWatch's newest datapoint of the
/// last hour (`None`: no datapoint).
async fn oldest_age(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    url: &str,
) -> Result<Option<u64>, ProbeError> {
    let queue = url.rsplit('/').next().unwrap_or(url);
    let now = std::time::SystemTime::now();
    let hour_ago = now
        .checked_sub(std::time::Duration::from_secs(3600))
        .unwrap_or(now);
    let out = cloudwatch
        .get_metric_statistics()
        .namespace("AWS/SQS")
        .metric_name("ApproximateAgeOfOldestMessage")
        .dimensions(Dimension::builder().name("QueueName").value(queue).build())
        .start_time(hour_ago.into())
        .end_time(now.into())
        .period(300)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .map_err(|e| call_failed("GetMetricStatistics", e))?;
    let newest = out
        .datapoints()
        .iter()
        .filter_map(|d| Some((d.timestamp()?, d.maximum()?)))
        .max_by_key(|(at, _)| **at);
    Ok(newest.and_then(|(_, age)| seconds(age)))
}

/// A metric's value as whole seconds, when it is one.
fn seconds(value: f64) -> Option<u64> {
    let rounded = value.round();
    // The guard keeps the cast exact: a finite, non-negative whole number below 2^53.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (rounded.is_finite() && (0.0..9.0e15).contains(&rounded)).then_some(rounded as u64)
}

/// The alarm topic line: the stack's topic, and the other topic its alarms notify.
async fn alarm_line(clients: &DoctorClients, target: &Target) -> Check {
    let region = clients
        .config
        .region()
        .map(ToString::to_string)
        .unwrap_or_default();
    let mut topics = Vec::new();
    if let Some(arn) = &target.topic_arn {
        let reach = match sns::subscriptions(&clients.sns, arn).await {
            Ok(subs) => TopicReach::Subscriptions(subs),
            Err(e) => TopicReach::Unreadable(e),
        };
        topics.push(AlarmTopic {
            arn: arn.clone(),
            role: "the stack's topic",
            reach,
        });
    }
    if let Some(arn) = &target.extra_topic_arn {
        topics.push(AlarmTopic {
            arn: arn.clone(),
            role: "AlarmTopicArn",
            reach: extra_reach(clients, arn, &region).await,
        });
    }
    check_alarm_topics(&topics, target.stack.as_deref(), &region)
}

/// What is known of the other topic: its subscriptions, else (a topic of another account that
/// does not let this one list them) its counts.
async fn extra_reach(clients: &DoctorClients, arn: &str, region: &str) -> TopicReach {
    let topic_region = sns::arn_region(arn);
    if !region.is_empty() && topic_region != region {
        return TopicReach::OtherRegion(topic_region.to_owned());
    }
    let listed = match sns::subscriptions(&clients.sns, arn).await {
        Ok(subs) => return TopicReach::Subscriptions(subs),
        Err(e) => e,
    };
    match sns::counts(&clients.sns, arn).await {
        Ok(Some((confirmed, pending))) => TopicReach::Counts { confirmed, pending },
        Ok(None) => TopicReach::Missing(listed),
        Err(e) => TopicReach::Unreadable(ProbeError {
            message: format!("{listed}; {e}"),
            ..e
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatch::operation::get_metric_statistics::GetMetricStatisticsOutput;
    use aws_sdk_cloudwatch::primitives::DateTime;
    use aws_sdk_cloudwatch::types::Datapoint;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    #[tokio::test]
    async fn the_oldest_age_is_cloudwatchs_newest_datapoint_for_the_queue() {
        let point = |at: i64, max: f64| {
            Datapoint::builder()
                .timestamp(DateTime::from_secs(at))
                .maximum(max)
                .build()
        };
        let rule = mock!(aws_sdk_cloudwatch::Client::get_metric_statistics)
            .match_requests(|r| {
                r.namespace() == Some("AWS/SQS")
                    && r.metric_name() == Some("ApproximateAgeOfOldestMessage")
                    && r.dimensions().iter().any(|d| {
                        d.name() == Some("QueueName") && d.value() == Some("asg-trail-dlq")
                    })
            })
            .then_output(move || {
                GetMetricStatisticsOutput::builder()
                    .datapoints(point(1_700_000_000, 120.0))
                    .datapoints(point(1_700_000_600, 7260.4))
                    .datapoints(point(1_700_000_300, 900.0))
                    .build()
            });
        let empty = mock!(aws_sdk_cloudwatch::Client::get_metric_statistics)
            .then_output(|| GetMetricStatisticsOutput::builder().build());
        let cloudwatch = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&rule, &empty]);
        let url = "https://sqs.us-east-1.amazonaws.com/1/asg-trail-dlq";
        assert_eq!(
            oldest_age(&cloudwatch, url).await.expect("read"),
            Some(7260)
        );
        let other = "https://sqs.us-east-1.amazonaws.com/1/quiet";
        assert_eq!(oldest_age(&cloudwatch, other).await.expect("read"), None);
    }

    #[test]
    fn a_metric_becomes_whole_seconds_only_when_it_is_one() {
        assert_eq!(seconds(59.6), Some(60));
        assert_eq!(seconds(-1.0), None);
        assert_eq!(seconds(f64::NAN), None);
        assert_eq!(seconds(f64::INFINITY), None);
    }

    #[test]
    fn both_codes_of_a_missing_queue_are_known() {
        assert!(is_missing_queue(Some("QueueDoesNotExist")));
        assert!(is_missing_queue(Some(
            "AWS.SimpleQueueService.NonExistentQueue"
        )));
        assert!(!is_missing_queue(Some("AccessDenied")));
        assert!(!is_missing_queue(None));
    }
}
