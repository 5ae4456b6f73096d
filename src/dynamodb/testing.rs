//! What the tests of the writer, the codec and the adapters share: a sample item, a fast retry
//! policy, `write_all` (a whole `Vec` through [`write_stream`]) and DynamoDB's error responses.

use aws_sdk_dynamodb::config::http::HttpResponse;
// The DynamoDB crate does not re-export the body type; it is the same smithy type.
use aws_sdk_s3::primitives::SdkBody;
use serde_json::json;

use super::{BatchWriter, WriteStats, write_stream};
use crate::config::RetryPolicy;
use crate::error::WriteError;
use crate::item::Item;

/// An item of group `group`, event `id`, with a few request parameters of every JSON type.
pub fn item(group: &str, id: &str) -> Item {
    Item {
        group_name: group.into(),
        event_key: format!("2024-03-05T12:00:00Z#{id}"),
        group_names: vec![group.into()],
        event_time: "2024-03-05T12:00:00Z".into(),
        event_id: id.into(),
        event_name: Some("UpdateAutoScalingGroup".into()),
        read_only: Some(false),
        account_id: "1".into(),
        request_parameters: Some(
            json!({"autoScalingGroupName": group, "maxSize": 3, "f": 0.5, "n": null, "l": [true]}),
        ),
        source_object: "s3://b/k".into(),
        ..Item::default()
    }
}

/// Four attempts, millisecond delays.
pub fn fast() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: std::time::Duration::from_millis(1),
        max_delay: std::time::Duration::from_millis(2),
        ..RetryPolicy::default()
    }
}

/// Writes every item of a `Vec` through [`write_stream`], one batch at a time.
pub async fn write_all<W: BatchWriter>(
    writer: &W,
    table: &str,
    items: Vec<Item>,
    policy: &RetryPolicy,
) -> Result<WriteStats, WriteError> {
    let (tx, rx) = tokio::sync::mpsc::channel(items.len().max(1));
    for item in items {
        tx.try_send(item).expect("the channel holds them all");
    }
    drop(tx);
    write_stream(writer, table, rx, policy, 1).await
}

/// The request ID of the error responses of [`ddb_error`].
pub const REQUEST_ID: &str = "4KBNVRGD25RG0KC9FJ5VCNS3RVVV4KQNSO5AEMVJF66Q9ASUAAJG";

/// A DynamoDB error response as the service sends it.
pub fn ddb_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let mut response = HttpResponse::new(
        status.try_into().expect("status"),
        SdkBody::from(format!(
            r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"{message}"}}"#
        )),
    );
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.0");
    response
        .headers_mut()
        .insert("x-amzn-requestid", REQUEST_ID);
    response
}
