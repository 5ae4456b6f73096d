//! asg-trail: ingests Amazon EC2 Auto Scaling events from AWS CloudTrail log files in S3 (and
//! from EventBridge, in real time) into a DynamoDB table keyed by Auto Scaling group name and
//! event time, and tells a group's story from it.
//!
//! Data flows one way (docs/developing.md maps the files):
//!
//! ```text
//! trigger ─► notification ─► s3 (ObjectStore) ─► pipeline ─► cloudtrail (gunzip + streaming parse)
//!                                                          ─► extract (record → items) / events
//!                                                          ─► settings, 400 KB fit
//!                                              ─► dynamodb (batched, retried writes) ─► summary
//! EventBridge (aws.autoscaling) ─► pipeline ─► events (envelope → items) ─► dynamodb
//! ```
//!
//! The modules form a one-way stack, leaves first, each importing only those below it
//! (`tests/it/layers.rs` holds it):
//!
//! 1. leaves: [`item`], [`size`], [`scan`], [`eventbridge`] (EventBridge's vocabulary and the
//!    one test of what an envelope is), [`metrics`];
//! 2. readers of formats: [`cloudtrail`], [`notification`] (with [`notification::trigger`],
//!    and [`notification::logfile`], the one rule for what a log file is);
//! 3. extraction: [`extract`] (a CloudTrail record), [`events`] (an EventBridge event), and
//!    [`alert`] (which stored changes alert, and what the alert says);
//! 4. the settings and the pipeline: [`config::Config`], one type for every binary, and
//!    [`pipeline`], which drives a file or an event and applies the settings.
//!
//! These four import neither tokio nor the AWS SDK and need no cargo feature. Above them, with
//! the feature `lambda`: the adapters `aws` (clients, built once), `error`, `s3` (reads and
//! listing, behind the `ObjectStore` and `ObjectLister` traits) and `dynamodb` (writes and
//! deletes behind `BatchWriter` and `BatchDeleter`, through one retry engine; queries and the
//! read-only prune are functions over the DynamoDB client, tested with aws-smithy-mocks), and
//! the `handler` that the `bootstrap` Lambda runs, generic over those traits. With `timeline`:
//! `render` and `timeline`, the story (pure). With `cli` (the default): `backfill` (over the same
//! handler and traits) and `doctor` (a live stack, through its own read-only clients), which
//! only the `asg-trail` CLI runs.

pub mod alert;
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
#[cfg(feature = "lambda")]
pub mod sns;
#[cfg(feature = "timeline")]
pub mod timeline;
