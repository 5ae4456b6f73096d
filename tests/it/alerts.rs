//! Alerts on changes by hand (issue 19): the default rule on the cost benchmark's two days,
//! and end to end through the real bootstrap with moto's SNS.

#[path = "../../benches/cost/workload.rs"]
#[allow(
    dead_code,
    reason = "the benchmark's generator, shared; not every part is used here"
)]
mod workload;

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use asg_trail::alert;
use asg_trail::cloudtrail::Format;
use asg_trail::config::Config;
use asg_trail::pipeline::{self, Admission};
use serde_json::json;

/// The event IDs that alert under the default rule on one benchmark day, from both paths
/// (each change arrives by EventBridge and in its log file), and the changes of the day.
fn alerting_events(account: workload::Account) -> (BTreeSet<String>, usize, usize) {
    let config = Config::default();
    let day = workload::day(account, 10);
    let (mut alerting, mut changes, mut by_people) = (BTreeSet::new(), BTreeSet::new(), 0);
    for event in &day.events {
        let raw = serde_json::value::to_raw_value(event).expect("json");
        let Admission::Admitted(event) =
            pipeline::invocation_event(&raw, &config, Some("111122223333")).expect("valid")
        else {
            panic!("the workload's events are the account's own");
        };
        for change in alert::changes(event.items().to_vec(), &config.alerts.rules) {
            alerting.insert(change.event_id().to_owned());
        }
    }
    for (n, file) in day.files.into_iter().enumerate() {
        let log = serde_json::to_vec(&json!({ "Records": file })).expect("json");
        let mut items = Vec::new();
        let source = format!("s3://trail/f{n}.json");
        let (_, parsed) = pipeline::log_items(&log[..], Format::Delivery, &source, &config, |i| {
            if i.read_only != Some(true) && i.origin == asg_trail::item::Origin::Api {
                changes.insert(i.event_id.clone());
                by_people += usize::from(
                    i.role_name
                        .as_deref()
                        .is_some_and(|r| r.starts_with("AWSReservedSSO_")),
                );
            }
            items.push(i);
            ControlFlow::Continue(())
        });
        parsed.expect("the generated log parses");
        for change in alert::changes(items, &config.alerts.rules) {
            alerting.insert(change.event_id().to_owned());
        }
    }
    (alerting, changes.len(), by_people)
}

#[test]
fn the_default_rule_alerts_on_the_people_and_never_on_the_autoscaler() {
    let (eks, eks_changes, eks_people) = alerting_events(workload::Account::Eks);
    let (small, small_changes, small_people) = alerting_events(workload::Account::Small);
    println!(
        "default rule: EKS-heavy day {eks_changes} changes ({eks_people} by people) -> {} alerts; \
         small account {small_changes} changes ({small_people} by people) -> {} alerts",
        eks.len(),
        small.len()
    );
    assert_eq!((eks_changes, eks_people, eks.len()), (280, 0, 0));
    assert_eq!((small_changes, small_people, small.len()), (12, 12, 12));
}
