//! Integration tests of asg-trail (one test binary): a local S3 (moto) and DynamoDB Local started
//! by the tests themselves, the real `bootstrap` binary driven through a Lambda Runtime API
//! emulator, the `asg-trail` CLI, and the SAM template checks.
//!
//! Prerequisite: `infra/setup.sh` (the tests panic with a clear message when a tool is missing).

mod backfill;
mod e2e;
mod harness;
mod queries;
mod runtime_api;
mod stack;
mod template;
mod triggers;
