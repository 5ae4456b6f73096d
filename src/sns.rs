//! The alerts' publisher: the [`Publisher`] trait (one Publish call of a [`Message`]) and its
//! adapter on the SDK, [`SnsPublisher`]: `MessageStructure` `json`, the email subject and
//! the per-protocol bodies of [`Message::sns_json`].

use std::future::Future;

use crate::alert::Message;

/// A Publish that failed, with the SDK's error.
#[derive(Debug, thiserror::Error)]
#[error("publishing to {topic} failed: {message}")]
pub struct PublishError {
    /// The topic.
    pub topic: String,
    /// What failed, in one line.
    pub message: String,
    /// The service's error code, when it answered.
    pub code: Option<String>,
    /// The SDK's error.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// One Publish call.
pub trait Publisher: Send + Sync {
    /// Publishes `message` to `topic`; the message ID.
    fn publish(
        &self,
        topic: &str,
        message: &Message,
    ) -> impl Future<Output = Result<String, PublishError>> + Send;
}

/// [`Publisher`] on Amazon SNS (or moto's).
#[derive(Debug, Clone)]
pub struct SnsPublisher {
    client: aws_sdk_sns::Client,
}

impl SnsPublisher {
    /// Wraps a client built once at start-up.
    #[must_use]
    pub fn new(client: aws_sdk_sns::Client) -> Self {
        Self { client }
    }
}

impl Publisher for SnsPublisher {
    async fn publish(&self, topic: &str, message: &Message) -> Result<String, PublishError> {
        let out = self
            .client
            .publish()
            .topic_arn(topic)
            .subject(&message.subject)
            .message_structure("json")
            .message(message.sns_json())
            .send()
            .await
            .map_err(|e| PublishError {
                topic: topic.into(),
                message: crate::aws::describe_error(&e),
                code: crate::aws::error_code(&e),
                source: Some(Box::new(e)),
            })?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }
}
