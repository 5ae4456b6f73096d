//! Reading and listing log objects: the [`ObjectStore`] trait the handler depends on, and its S3
//! implementation. The body is handed over as a byte stream, decoded as it arrives; it is never
//! downloaded into memory first. Backfill lists a bucket through [`ObjectLister`], implemented
//! for the SDK's client (ListObjectsV2, every page).

use std::future::Future;
use std::pin::Pin;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use tokio::io::AsyncRead;

use crate::error::{BoxError, ReadError, ReadErrorKind};
use crate::notification::ObjectRef;

/// An object's body, streamed.
pub struct ObjectBody {
    /// The bytes, as they arrive.
    pub reader: Pin<Box<dyn AsyncRead + Send>>,
    /// `Content-Length`, when the store gives it.
    pub length: Option<u64>,
}

/// Where log objects are read from.
pub trait ObjectStore: Send + Sync {
    /// Opens an object for streaming.
    fn open(
        &self,
        object: &ObjectRef,
    ) -> impl Future<Output = Result<ObjectBody, ReadError>> + Send;
}

/// [`ObjectStore`] on Amazon S3 (or any server of its wire protocol).
#[derive(Clone, Debug)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
}

impl S3Store {
    /// Wraps a client built once at start-up.
    #[must_use]
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        Self { client }
    }
}

impl ObjectStore for S3Store {
    async fn open(&self, object: &ObjectRef) -> Result<ObjectBody, ReadError> {
        let output = self
            .client
            .get_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .send()
            .await
            .map_err(|e| read_error(object, e))?;
        let length = output.content_length().and_then(|n| u64::try_from(n).ok());
        Ok(ObjectBody {
            reader: Box::pin(output.body.into_async_read()),
            length,
        })
    }
}

/// What one listing of a prefix found, through every page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listed<T> {
    /// What the pages held, in the order the store gave it.
    pub entries: Vec<T>,
    /// List calls made (one a page).
    pub calls: usize,
}

/// A listing of a bucket that failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot list s3://{bucket}/{prefix}: {message}")]
pub struct ListError {
    /// The bucket.
    pub bucket: String,
    /// The prefix listed.
    pub prefix: String,
    /// The service's error code, message and request ID (or the chain of causes).
    pub message: String,
    /// S3's error code, when it answered (`AccessDenied`, `NoSuchBucket`, ...).
    pub code: Option<String>,
    /// The request ID S3 gave the call, when it answered.
    pub request_id: Option<String>,
    /// The SDK error, when there is one.
    #[source]
    pub source: Option<BoxError>,
}

/// Where log objects are listed: one listing of a prefix, every page of it.
pub trait ObjectLister: Send + Sync {
    /// The common prefixes ("folders", each ending with `/`) right under `prefix`: a listing
    /// with delimiter `/`.
    fn list_folders(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Listed<String>, ListError>> + Send;

    /// Every object whose key starts with `prefix` (no delimiter), with its size.
    fn list_contents(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Listed<ObjectRef>, ListError>> + Send;
}

/// [`ObjectLister`] on Amazon S3 (or any server of its wire protocol): ListObjectsV2 through
/// its paginator, with the SDK's own retries.
impl ObjectLister for aws_sdk_s3::Client {
    async fn list_folders(&self, bucket: &str, prefix: &str) -> Result<Listed<String>, ListError> {
        list_pages(self, bucket, prefix, true, |page| {
            page.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_owned))
                .collect()
        })
        .await
    }

    async fn list_contents(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Listed<ObjectRef>, ListError> {
        list_pages(self, bucket, prefix, false, |page| {
            page.contents()
                .iter()
                .filter_map(|o| {
                    Some(ObjectRef {
                        bucket: bucket.to_owned(),
                        key: o.key()?.to_owned(),
                        size: o.size().and_then(|s| u64::try_from(s).ok()),
                    })
                })
                .collect()
        })
        .await
    }
}

/// Runs a ListObjectsV2 listing through all its pages (with delimiter `/` when `folders`),
/// collecting what `take` finds in each.
async fn list_pages<T>(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    folders: bool,
    take: impl Fn(&aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output) -> Vec<T>,
) -> Result<Listed<T>, ListError> {
    let mut request = client.list_objects_v2().bucket(bucket).prefix(prefix);
    if folders {
        request = request.delimiter("/");
    }
    let mut pages = request.into_paginator().send();
    let mut listed = Listed {
        entries: Vec::new(),
        calls: 0,
    };
    while let Some(page) = pages.next().await {
        listed.calls += 1;
        let page = page.map_err(|e| ListError {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            message: crate::aws::describe_error(&e),
            code: crate::aws::error_code(&e),
            request_id: crate::aws::request_id(&e),
            source: Some(Box::new(e)),
        })?;
        listed.entries.extend(take(&page));
    }
    Ok(listed)
}

/// Classifies a GetObject failure and says what to do about it, keeping the SDK error, its code
/// and its request ID.
fn read_error<E, R>(object: &ObjectRef, err: SdkError<E, R>) -> ReadError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = crate::aws::error_code(&err);
    let detail = crate::aws::describe_error(&err);
    let (kind, message) = match code.as_deref() {
        Some("NoSuchKey" | "NotFound") => (
            ReadErrorKind::NotFound,
            format!("NoSuchKey: the object no longer exists ({detail})"),
        ),
        Some("AccessDenied" | "Forbidden" | "KMS.AccessDeniedException") => (
            ReadErrorKind::AccessDenied,
            format!(
                "AccessDenied: the function's role needs s3:GetObject on arn:aws:s3:::{}/{} \
                 (and kms:Decrypt on the bucket's KMS key if the trail encrypts with SSE-KMS) ({detail})",
                object.bucket, object.key
            ),
        ),
        Some("SlowDown" | "InternalError" | "ServiceUnavailable" | "RequestTimeout") => {
            (ReadErrorKind::Transient, detail)
        }
        _ if matches!(
            err,
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        ) =>
        {
            (ReadErrorKind::Transient, detail)
        }
        _ => (ReadErrorKind::Other, detail),
    };
    ReadError {
        kind,
        message,
        request_id: crate::aws::request_id(&err),
        code,
        source: Some(Box::new(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::Client;
    use aws_sdk_s3::config::http::HttpResponse;
    use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
    use aws_sdk_s3::primitives::{ByteStream, SdkBody};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use tokio::io::AsyncReadExt;

    /// An S3 error response as the service sends it.
    fn s3_error(status: u16, code: &str, message: &str) -> HttpResponse {
        let mut response = HttpResponse::new(
            status.try_into().expect("status"),
            SdkBody::from(format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
                 <Error><Code>{code}</Code><Message>{message}</Message><RequestId>R1</RequestId></Error>"
            )),
        );
        response.headers_mut().insert("x-amz-request-id", "R1");
        response
    }

    fn object() -> ObjectRef {
        ObjectRef {
            bucket: "trail".into(),
            key: "AWSLogs/1/CloudTrail/us-east-1/2024/03/05/x.json.gz".into(),
            size: None,
        }
    }

    #[tokio::test]
    async fn the_body_is_streamed_from_get_object() {
        let rule = mock!(Client::get_object)
            .match_requests(|r| {
                r.bucket() == Some("trail") && r.key() == Some(object().key.as_str())
            })
            .then_output(|| {
                GetObjectOutput::builder()
                    .content_length(5)
                    .body(ByteStream::from_static(b"hello"))
                    .build()
            });
        let store = S3Store::new(mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule]));
        let mut body = store.open(&object()).await.expect("opens");
        let mut text = String::new();
        body.reader.read_to_string(&mut text).await.expect("reads");
        assert_eq!((text.as_str(), body.length), ("hello", Some(5)));
    }

    #[tokio::test]
    async fn no_such_key_is_not_found() {
        let rule = mock!(Client::get_object)
            .then_http_response(|| s3_error(404, "NoSuchKey", "The specified key does not exist."));
        let store = S3Store::new(mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule]));
        let err = store.open(&object()).await.err().expect("fails");
        assert_eq!(err.kind, ReadErrorKind::NotFound);
        assert!(err.message.contains("NoSuchKey"), "{}", err.message);
    }

    #[tokio::test]
    async fn access_denied_names_the_object_and_the_permission() {
        let rule = mock!(Client::get_object)
            .then_http_response(|| s3_error(403, "AccessDenied", "Access Denied"));
        let store = S3Store::new(mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule]));
        let err = store.open(&object()).await.err().expect("fails");
        assert_eq!(err.kind, ReadErrorKind::AccessDenied);
        assert!(
            err.message.contains("s3:GetObject on arn:aws:s3:::trail/AWSLogs/1/CloudTrail/us-east-1/2024/03/05/x.json.gz"),
            "{}",
            err.message
        );
        assert!(
            err.message
                .ends_with("(AccessDenied: Access Denied (request id R1))"),
            "{}",
            err.message
        );
        assert_eq!(err.code.as_deref(), Some("AccessDenied"));
        assert_eq!(err.request_id.as_deref(), Some("R1"));
        let source = std::error::Error::source(&err).expect("the SDK error is the source");
        assert!(
            source
                .downcast_ref::<SdkError<GetObjectError, HttpResponse>>()
                .is_some(),
            "{source:?}"
        );
        let failed = crate::error::IngestError::Read {
            object: "s3://trail/x".into(),
            cause: err,
        };
        assert_eq!(failed.aws_error_code(), Some("AccessDenied"));
        assert_eq!(failed.request_id(), Some("R1"));
        assert_eq!(failed.kind(), "ObjectAccessDenied");
    }

    #[tokio::test]
    async fn listings_follow_every_page() {
        use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
        use aws_sdk_s3::types::{CommonPrefix, Object};
        let folders = mock!(Client::list_objects_v2)
            .match_requests(|r| r.delimiter() == Some("/") && r.continuation_token().is_none())
            .then_output(|| {
                ListObjectsV2Output::builder()
                    .common_prefixes(CommonPrefix::builder().prefix("p/a/").build())
                    .is_truncated(true)
                    .next_continuation_token("next")
                    .build()
            });
        let more = mock!(Client::list_objects_v2)
            .match_requests(|r| {
                r.delimiter() == Some("/") && r.continuation_token() == Some("next")
            })
            .then_output(|| {
                ListObjectsV2Output::builder()
                    .common_prefixes(CommonPrefix::builder().prefix("p/b/").build())
                    .build()
            });
        let objects = mock!(Client::list_objects_v2)
            .match_requests(|r| r.delimiter().is_none() && r.prefix() == Some("p/a/"))
            .then_output(|| {
                ListObjectsV2Output::builder()
                    .contents(Object::builder().key("p/a/x.json.gz").size(7).build())
                    .contents(Object::builder().key("p/a/y.json.gz").build())
                    .build()
            });
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&folders, &more, &objects]);
        let listed = client.list_folders("trail", "p/").await.expect("lists");
        assert_eq!(
            listed,
            Listed {
                entries: vec!["p/a/".to_owned(), "p/b/".to_owned()],
                calls: 2
            }
        );
        let listed = client.list_contents("trail", "p/a/").await.expect("lists");
        assert_eq!(listed.calls, 1);
        assert_eq!(
            listed
                .entries
                .iter()
                .map(|o| (o.key.as_str(), o.size))
                .collect::<Vec<_>>(),
            [("p/a/x.json.gz", Some(7)), ("p/a/y.json.gz", None)]
        );
    }

    #[tokio::test]
    async fn a_failed_listing_keeps_its_code_request_id_and_sdk_error() {
        use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error;
        let rule = mock!(Client::list_objects_v2)
            .then_http_response(|| s3_error(403, "AccessDenied", "Access Denied"));
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule]);
        let err = client
            .list_contents("trail", "AWSLogs/")
            .await
            .expect_err("fails");
        assert_eq!(
            err.to_string(),
            "cannot list s3://trail/AWSLogs/: AccessDenied: Access Denied (request id R1)"
        );
        assert_eq!(
            (err.code.as_deref(), err.request_id.as_deref()),
            (Some("AccessDenied"), Some("R1"))
        );
        let source = std::error::Error::source(&err).expect("the SDK error is the source");
        assert!(
            source
                .downcast_ref::<SdkError<ListObjectsV2Error, HttpResponse>>()
                .is_some(),
            "{source:?}"
        );
    }
}
