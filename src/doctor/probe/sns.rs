//! SNS: a topic's subscriptions and attributes, and the SNS trigger's topic read in its own
//! region (the region of its ARN, through a client of that region from the same
//! configuration): a topic lives in one region, and a client of another answers `NotFound`.

use aws_sdk_s3::error::ProvideErrorMetadata;

use super::call_failed;
use crate::aws::DoctorClients;
use crate::doctor::notify::{LogTopicFacts, check_log_topic};
use crate::doctor::queues::Subscription;
use crate::doctor::{Check, ProbeError};

/// Whether the function `endpoint` has a confirmed Lambda subscription to `topic`.
pub(super) async fn subscribed(
    sns: &aws_sdk_sns::Client,
    topic: &str,
    endpoint: &str,
) -> Result<bool, ProbeError> {
    Ok(subscriptions(sns, topic)
        .await?
        .iter()
        .any(|s| s.protocol == "lambda" && s.endpoint == endpoint && s.arn.starts_with("arn:")))
}

fn subscription(s: &aws_sdk_sns::types::Subscription) -> Subscription {
    Subscription {
        arn: s.subscription_arn().unwrap_or_default().to_owned(),
        protocol: s.protocol().unwrap_or_default().to_owned(),
        endpoint: s.endpoint().unwrap_or_default().to_owned(),
    }
}

/// The subscriptions of `topic` (its owner's view: a topic of another account need not allow
/// it).
pub(super) async fn subscriptions(
    sns: &aws_sdk_sns::Client,
    topic: &str,
) -> Result<Vec<Subscription>, ProbeError> {
    let all: Result<Vec<_>, _> = sns
        .list_subscriptions_by_topic()
        .topic_arn(topic)
        .into_paginator()
        .items()
        .send()
        .collect()
        .await;
    let all = all.map_err(|e| call_failed("ListSubscriptionsByTopic", e))?;
    Ok(all.iter().map(subscription).collect())
}

/// This account's own subscriptions to `topic` in the client's region (`ListSubscriptions`:
/// readable whichever account owns the topic).
async fn own_subscriptions(
    sns: &aws_sdk_sns::Client,
    topic: &str,
) -> Result<Vec<Subscription>, ProbeError> {
    let all: Result<Vec<_>, _> = sns
        .list_subscriptions()
        .into_paginator()
        .items()
        .send()
        .collect()
        .await;
    let all = all.map_err(|e| call_failed("ListSubscriptions", e))?;
    Ok(all
        .iter()
        .filter(|s| s.topic_arn() == Some(topic))
        .map(subscription)
        .collect())
}

/// A topic's `SubscriptionsConfirmed` and `SubscriptionsPending` (`Ok(None)`: it does not
/// exist).
pub(super) async fn counts(
    sns: &aws_sdk_sns::Client,
    topic: &str,
) -> Result<Option<(u64, u64)>, ProbeError> {
    let out = match sns.get_topic_attributes().topic_arn(topic).send().await {
        Ok(out) => out,
        Err(e) if e.code() == Some("NotFound") => return Ok(None),
        Err(e) => return Err(call_failed("GetTopicAttributes", e)),
    };
    let count = |name: &str| {
        out.attributes()
            .and_then(|a| a.get(name))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(Some((
        count("SubscriptionsConfirmed"),
        count("SubscriptionsPending"),
    )))
}

/// The region of an ARN (its fourth field).
pub(super) fn arn_region(arn: &str) -> &str {
    arn.split(':').nth(3).unwrap_or_default()
}

/// The line of the SNS trigger's topic `topic`, read in its own region, for the function
/// `function_arn`.
pub(super) async fn log_topic_line(
    clients: &DoctorClients,
    topic: &str,
    function_arn: &str,
) -> Check {
    let region = arn_region(topic);
    let sns = clients.sns_in(region);
    let facts = LogTopicFacts {
        arn: topic.to_owned(),
        region: region.to_owned(),
        exists: counts(&sns, topic).await.map(|c| c.is_some()),
        subscriptions: own_subscriptions(&sns, topic).await,
    };
    check_log_topic(&facts, function_arn)
}
