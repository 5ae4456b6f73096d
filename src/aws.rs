//! Building the SDK clients, once per process, from the standard AWS configuration chain
//! (environment, profile, Lambda role). `AWS_ENDPOINT_URL` (or the per-service
//! `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL_DYNAMODB`) points them at a local server; S3 then
//! uses path-style addressing, since `bucket.localhost` does not resolve. Also what every adapter
//! reads from a failed call: its error code, its request ID and a one-line description. The
//! read-only clients of `asg-trail doctor` (feature `cli`) come from the same shared
//! configuration.

use aws_config::BehaviorVersion;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

/// The three clients the ingestion needs.
#[derive(Debug, Clone)]
pub struct Clients {
    /// S3, for reading log files.
    pub s3: aws_sdk_s3::Client,
    /// DynamoDB, for the table (and the alert markers).
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// SNS, for the alerts.
    pub sns: aws_sdk_sns::Client,
}

/// Loads the shared configuration and builds the clients.
pub async fn load() -> Clients {
    let (sdk, s3) = shared().await;
    Clients {
        s3,
        dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
        sns: aws_sdk_sns::Client::new(&sdk),
    }
}

/// The shared configuration, and the S3 client built from it (path-style against a local
/// endpoint).
async fn shared() -> (aws_config::SdkConfig, aws_sdk_s3::Client) {
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let custom_endpoint = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()));
    let s3 = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(custom_endpoint)
        .build();
    (sdk, aws_sdk_s3::Client::from_conf(s3))
}

/// The clients `asg-trail doctor` reads a deployed stack through (read-only calls only).
#[cfg(feature = "cli")]
#[derive(Debug, Clone)]
pub struct DoctorClients {
    /// The stack's outputs, parameters and resources.
    pub cloudformation: aws_sdk_cloudformation::Client,
    /// The trails and their status.
    pub cloudtrail: aws_sdk_cloudtrail::Client,
    /// The bucket's notification configuration.
    pub s3: aws_sdk_s3::Client,
    /// The function's configuration.
    pub lambda: aws_sdk_lambda::Client,
    /// The role's policies, and their simulation.
    pub iam: aws_sdk_iam::Client,
    /// The table's description, TTL and newest item.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// The failure queue.
    pub sqs: aws_sdk_sqs::Client,
    /// The alarm topic, and the log files' topic.
    pub sns: aws_sdk_sns::Client,
    /// The rules that target the function.
    pub eventbridge: aws_sdk_eventbridge::Client,
    /// The trail key's policy.
    pub kms: aws_sdk_kms::Client,
    /// The age of a queue's oldest message.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// The shared configuration, for a client of another region.
    pub config: aws_config::SdkConfig,
}

#[cfg(feature = "cli")]
impl DoctorClients {
    /// An SNS client for `region` (a topic is read in its own region), from the same
    /// configuration (credentials, endpoint).
    #[must_use]
    pub fn sns_in(&self, region: &str) -> aws_sdk_sns::Client {
        let conf = aws_sdk_sns::config::Builder::from(&self.config)
            .region(aws_config::Region::new(region.to_owned()))
            .build();
        aws_sdk_sns::Client::from_conf(conf)
    }
}

/// Loads the shared configuration and builds the doctor's clients.
#[cfg(feature = "cli")]
pub async fn load_doctor() -> DoctorClients {
    let (sdk, s3) = shared().await;
    DoctorClients {
        cloudformation: aws_sdk_cloudformation::Client::new(&sdk),
        cloudtrail: aws_sdk_cloudtrail::Client::new(&sdk),
        s3,
        lambda: aws_sdk_lambda::Client::new(&sdk),
        iam: aws_sdk_iam::Client::new(&sdk),
        dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
        sqs: aws_sdk_sqs::Client::new(&sdk),
        sns: aws_sdk_sns::Client::new(&sdk),
        eventbridge: aws_sdk_eventbridge::Client::new(&sdk),
        kms: aws_sdk_kms::Client::new(&sdk),
        cloudwatch: aws_sdk_cloudwatch::Client::new(&sdk),
        config: sdk,
    }
}

/// The service's error code of a failed call (`NoSuchKey`, `ThrottlingException`, ...), when
/// the service answered.
pub fn error_code<E, R>(err: &SdkError<E, R>) -> Option<String>
where
    E: ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(ProvideErrorMetadata::code)
        .map(str::to_owned)
}

/// The request ID the service gave a failed call, when it answered.
pub fn request_id<E, R>(err: &SdkError<E, R>) -> Option<String>
where
    E: ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|service| service.meta().extra("aws_request_id"))
        .map(str::to_owned)
}

/// One line describing an SDK error: `Code: message (request id ...)` for a service error, the
/// chain of causes otherwise (timeouts, connection failures). Never the raw HTTP response.
pub fn describe_error<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let Some(service) = err.as_service_error() {
        let code = service.code().unwrap_or("UnknownError");
        let mut text = match service.message() {
            Some(message) if !message.is_empty() => format!("{code}: {message}"),
            _ => code.to_owned(),
        };
        if let Some(id) = request_id(err) {
            text.push_str(&format!(" (request id {id})"));
        }
        return text;
    }
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(err);
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}
