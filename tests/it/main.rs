//! Integration tests of asg-trail (one test binary): a local S3 (moto) and DynamoDB Local started
//! by the tests themselves, the real `bootstrap` binary driven through a Lambda Runtime API
//! emulator (log files, and EC2 Auto Scaling's own EventBridge events), the `asg-trail` CLI, the
//! SAM template checks, and the failure semantics under
//! faults injected on the wire by a proxy between the binaries and the servers (`faults`,
//! `proxy`), a group's timeline through the CLI and in a real headless Chromium (`timeline`), and
//! the alerts on changes by hand through moto's SNS read back from an SQS queue (`alerts_e2e`).
//!
//! Prerequisite: `infra/setup.sh` (the tests panic with a clear message when a tool is missing).

mod alerts;
mod alerts_e2e;
mod backfill;
mod docs;
mod doctor;
mod e2e;
mod events;
mod faults;
mod harness;
mod layers;
mod proxy;
mod queries;
mod runtime_api;
mod stack;
#[path = "../synth/mod.rs"]
mod synth;
mod template;
mod timeline;
mod triggers;
