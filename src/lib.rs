//! asg-trail: ingests Amazon EC2 Auto Scaling events from AWS CloudTrail log files in S3 into a
//! DynamoDB table keyed by Auto Scaling group name and event time.
//!
//! Data flows one way (docs/developing.md maps the files):
//!
//! ```text
//! S3 notification ─► notification ─► s3 (ObjectStore) ─► pipeline: cloudtrail (gunzip + streaming parse)
//!                                                                 ─► extract (record → items)
//!                                                      ─► dynamodb (batched, retried writes)
//! EventBridge (aws.autoscaling) ─► events (envelope → items) ───────► dynamodb
//! ```
//!
//! The pure core — [`notification`] (with [`notification::trigger`], every trigger shape),
//! [`cloudtrail`], [`scan`], [`extract`], [`events`] (EC2 Auto Scaling's EventBridge events),
//! [`item`], [`size`], [`pipeline`], [`render`], [`timeline`] — imports neither tokio nor the AWS
//! SDK. The adapters [`s3`] and [`dynamodb`] sit behind small traits, and
//! [`handler`] wires them together for both binaries (`bootstrap`, the Lambda, and `asg-trail`,
//! the CLI); [`backfill`] drives the same [`handler::Ingestor`] over a bucket's history. One
//! settings type, [`config::Config`], serves every binary and path.

#[cfg(feature = "lambda")]
pub mod aws;
#[cfg(feature = "cli")]
pub mod backfill;
pub mod cloudtrail;
pub mod config;
#[cfg(feature = "cli")]
pub mod doctor;
#[cfg(feature = "lambda")]
pub mod dynamodb;
#[cfg(feature = "lambda")]
pub mod error;
pub mod eventbridge;
pub mod events;
pub mod extract;
#[cfg(feature = "lambda")]
pub mod handler;
pub mod item;
pub mod metrics;
pub mod notification;
pub mod pipeline;
#[cfg(feature = "timeline")]
pub mod render;
#[cfg(feature = "lambda")]
pub mod s3;
pub mod scan;
pub mod size;
#[cfg(feature = "timeline")]
pub mod timeline;
