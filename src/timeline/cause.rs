//! Reading an Auto Scaling activity's `Cause` text: which class of cause it is (an alarm's
//! policy, a user request, a health check, an instance refresh, ...), who or what acted, and the
//! capacity changes it states.
//!
//! A cause is a run of sentences, each starting with `At <time> `:
//!
//! ```text
//! At 2024-05-01T10:00:00Z a monitor alarm TargetTracking-... in state ALARM triggered policy cpu50
//! changing the desired capacity from 4 to 6.  At 2024-05-01T10:00:11Z an instance was started in
//! response to a difference between desired and actual capacity, increasing the capacity from 4 to 6.
//! ```
//!
//! The first sentence that is not Auto Scaling's own follow-up ("a difference between desired and
//! actual capacity", "instance i-... was selected for termination") names the root cause. The
//! texts are AWS's, not a contract: an unknown sentence is kept as [`CauseClass::Other`] with its
//! words as the actor, never dropped.
//!
//! Pure: no I/O.

use serde::Serialize;

/// What kind of thing caused an activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CauseClass {
    /// A CloudWatch alarm triggered a scaling policy.
    Alarm,
    /// A person or program called the API (SetDesiredCapacity, UpdateAutoScalingGroup,
    /// TerminateInstanceInAutoScalingGroup, ExecutePolicy, ...).
    UserRequest,
    /// A scheduled action.
    ScheduledAction,
    /// A health check (EC2, ELB, a custom one) found an instance unhealthy, or its replacement.
    HealthCheck,
    /// An instance refresh replaced instances.
    InstanceRefresh,
    /// A lifecycle hook holds an instance.
    LifecycleHook,
    /// Availability Zone or capacity (Spot) rebalancing.
    Rebalance,
    /// Only the follow-up: the group closes a gap between desired and actual capacity.
    Capacity,
    /// A sentence this version does not know.
    Other,
}

impl CauseClass {
    /// The serialized name (`alarm`, `user-request`, ...).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alarm => "alarm",
            Self::UserRequest => "user-request",
            Self::ScheduledAction => "scheduled-action",
            Self::HealthCheck => "health-check",
            Self::InstanceRefresh => "instance-refresh",
            Self::LifecycleHook => "lifecycle-hook",
            Self::Rebalance => "rebalance",
            Self::Capacity => "capacity",
            Self::Other => "other",
        }
    }
}

/// A change of a capacity a cause states: at `at`, from `from` to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The time of the sentence that states it.
    pub at: String,
    /// Before.
    pub from: i64,
    /// After.
    pub to: i64,
}

/// The group's size limits a "user request update of AutoScalingGroup constraints to min: 1,
/// max: 10, desired: 2" states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// The time of the sentence.
    pub at: String,
    /// `min`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    /// `max`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
}

/// An activity's cause, read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cause {
    /// The class of the root cause.
    pub class: CauseClass,
    /// Who or what acted, in words (`alarm X (policy P)`, `user request`, `EC2 health check`).
    pub actor: String,
    /// The time of the root sentence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// "changing the desired capacity from X to Y".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired: Option<Change>,
    /// "increasing (or shrinking) the capacity from X to Y": the in-service instances the group
    /// had, and aims at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Change>,
    /// "constraints to min: A, max: B".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    /// The text as AWS wrote it.
    pub text: String,
}

/// Reads a `Cause` text. `None` for an empty one.
#[must_use]
pub fn parse(text: &str) -> Option<Cause> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let sentences = sentences(text);
    let root = sentences
        .iter()
        .find(|(_, body)| !is_follow_up(body))
        .or_else(|| sentences.first());
    let (class, actor) = root.map_or((CauseClass::Other, String::new()), |(_, body)| {
        classify(body)
    });
    let find = |marker: &str| {
        sentences.iter().find_map(|(at, body)| {
            let (from, to) = from_to(body, marker)?;
            Some(Change {
                at: at.clone().unwrap_or_default(),
                from,
                to,
            })
        })
    };
    let capacity =
        find("increasing the capacity from ").or_else(|| find("shrinking the capacity from "));
    Some(Cause {
        class,
        actor,
        at: root.and_then(|(at, _)| at.clone()),
        desired: find("changing the desired capacity from "),
        capacity,
        limits: sentences
            .iter()
            .find_map(|(at, body)| limits(at.as_ref(), body)),
        text: text.to_owned(),
    })
}

/// Splits a cause into `(time, body)` sentences at each `At <digit>`; text before the first
/// marker (a cause without times) is one sentence without a time.
fn sentences(text: &str) -> Vec<(Option<String>, String)> {
    let starts: Vec<usize> = text
        .match_indices("At ")
        .map(|(i, _)| i)
        .filter(|&i| {
            text[i + 3..].starts_with(|c: char| c.is_ascii_digit())
                && (i == 0 || text[..i].ends_with(' '))
        })
        .collect();
    let mut out = Vec::new();
    if starts.first().is_none_or(|&s| s > 0) {
        let head = &text[..starts.first().copied().unwrap_or(text.len())];
        if !head.trim().is_empty() {
            out.push((None, clean(head)));
        }
    }
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(text.len());
        let sentence = &text[start + 3..end];
        let (time, body) = sentence.split_once(' ').unwrap_or((sentence, ""));
        out.push((Some(time.to_owned()), clean(body)));
    }
    out
}

/// A sentence without its final period and spaces.
fn clean(body: &str) -> String {
    body.trim().trim_end_matches('.').trim().to_owned()
}

/// Auto Scaling's own follow-up sentences, which never name the root cause.
fn is_follow_up(body: &str) -> bool {
    body.contains("a difference between desired and actual capacity")
        || (body.starts_with("instance ") && body.ends_with("was selected for termination"))
}

/// The class and the actor of one sentence.
fn classify(body: &str) -> (CauseClass, String) {
    let lower = body.to_ascii_lowercase();
    if let Some(rest) = body.strip_prefix("a monitor alarm ") {
        let alarm = rest.split(" in state ").next().unwrap_or(rest);
        let actor = match between(rest, "triggered policy ", " changing") {
            Some(policy) => format!("alarm {alarm} (policy {policy})"),
            None => format!("alarm {alarm}"),
        };
        return (CauseClass::Alarm, actor);
    }
    if lower.contains("user request") {
        let actor = match between(body, "executed policy ", " changing") {
            Some(policy) => format!("user request (policy {policy})"),
            None => "user request".to_owned(),
        };
        return (CauseClass::UserRequest, actor);
    }
    let table: [(&str, CauseClass, &str); 8] = [
        (
            "scheduled action",
            CauseClass::ScheduledAction,
            "scheduled action",
        ),
        (
            "ec2 health check",
            CauseClass::HealthCheck,
            "EC2 health check",
        ),
        (
            "elb system health check",
            CauseClass::HealthCheck,
            "ELB health check",
        ),
        ("health check", CauseClass::HealthCheck, "health check"),
        ("health-check", CauseClass::HealthCheck, "health check"),
        (
            "unhealthy instance",
            CauseClass::HealthCheck,
            "health check",
        ),
        (
            "instance refresh",
            CauseClass::InstanceRefresh,
            "instance refresh",
        ),
        ("rebalanc", CauseClass::Rebalance, "rebalancing"),
    ];
    if let Some((_, class, actor)) = table.iter().find(|(needle, ..)| lower.contains(needle)) {
        return (*class, (*actor).to_owned());
    }
    if lower.contains("lifecycle") {
        return (CauseClass::LifecycleHook, "lifecycle hook".to_owned());
    }
    if is_follow_up(body) {
        return (CauseClass::Capacity, "desired capacity".to_owned());
    }
    (CauseClass::Other, body.to_owned())
}

/// The text between `start` and the next `end` (or the end of `text`).
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &text[text.find(start)? + start.len()..];
    let value = rest.split(end).next().unwrap_or(rest).trim();
    (!value.is_empty()).then_some(value)
}

/// `X` and `Y` of "`marker`X to Y".
fn from_to(body: &str, marker: &str) -> Option<(i64, i64)> {
    let rest = &body[body.find(marker)? + marker.len()..];
    let mut words = rest.split_whitespace();
    let from = words.next()?.parse().ok()?;
    (words.next()? == "to").then_some(())?;
    let to = words.next()?.trim_end_matches(['.', ',']).parse().ok()?;
    Some((from, to))
}

/// "constraints to min: A, max: B[, desired: C]".
fn limits(at: Option<&String>, body: &str) -> Option<Limits> {
    let rest = &body[body.find("constraints to ")?..];
    let number = |key: &str| {
        let after = &rest[rest.find(key)? + key.len()..];
        after
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| !w.is_empty())?
            .parse()
            .ok()
    };
    let (min, max) = (number("min: "), number("max: "));
    (min.is_some() || max.is_some()).then(|| Limits {
        at: at.cloned().unwrap_or_default(),
        min,
        max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(at: &str, from: i64, to: i64) -> Change {
        Change {
            at: at.to_owned(),
            from,
            to,
        }
    }

    #[test]
    fn an_alarm_names_its_policy_and_both_capacities() {
        let c = parse(
            "At 2024-05-01T10:00:00Z a monitor alarm TargetTracking-web-asg-AlarmHigh-3f1c in state \
             ALARM triggered policy cpu50-target-tracking changing the desired capacity from 4 to 6.  \
             At 2024-05-01T10:00:11Z an instance was started in response to a difference between \
             desired and actual capacity, increasing the capacity from 4 to 6.",
        )
        .expect("a cause");
        assert_eq!(c.class, CauseClass::Alarm);
        assert_eq!(
            c.actor,
            "alarm TargetTracking-web-asg-AlarmHigh-3f1c (policy cpu50-target-tracking)"
        );
        assert_eq!(c.at.as_deref(), Some("2024-05-01T10:00:00Z"));
        assert_eq!(c.desired, Some(change("2024-05-01T10:00:00Z", 4, 6)));
        assert_eq!(c.capacity, Some(change("2024-05-01T10:00:11Z", 4, 6)));
        assert_eq!(c.limits, None);
    }

    #[test]
    fn real_causes_read_as_their_class() {
        // Texts as AWS writes them (DescribeScalingActivities, EventBridge `detail.Cause`).
        let cases = [
            (
                "At 2020-10-30T19:35:51Z a user request update of AutoScalingGroup constraints to \
                 min: 0, max: 16, desired: 16 changing the desired capacity from 0 to 16.  At \
                 2020-10-30T19:36:07Z an instance was started in response to a difference between \
                 desired and actual capacity, increasing the capacity from 0 to 16.",
                CauseClass::UserRequest,
                "user request",
            ),
            (
                "At 2017-06-13T17:19:15Z a user request created an AutoScalingGroup changing the \
                 desired capacity from 0 to 1. At 2017-06-13T17:19:28Z an instance was started in \
                 response to a difference between desired and actual capacity, increasing the \
                 capacity from 0 to 1.",
                CauseClass::UserRequest,
                "user request",
            ),
            (
                "At 2024-05-01T10:20:00Z a user request executed policy scale-in-2 changing the \
                 desired capacity from 4 to 2.",
                CauseClass::UserRequest,
                "user request (policy scale-in-2)",
            ),
            (
                "At 2019-10-02T02:44:11Z instance i-0868736e381bf942a was taken out of service in \
                 response to a user request.",
                CauseClass::UserRequest,
                "user request",
            ),
            (
                "At 2024-05-01T03:12:40Z an instance was taken out of service in response to an EC2 \
                 health check indicating it has been terminated or stopped.",
                CauseClass::HealthCheck,
                "EC2 health check",
            ),
            (
                "At 2024-05-01T03:12:40Z an instance was taken out of service in response to an ELB \
                 system health check failure.",
                CauseClass::HealthCheck,
                "ELB health check",
            ),
            (
                "At 2024-05-01T03:12:45Z an instance was launched in response to an unhealthy \
                 instance needing to be replaced.",
                CauseClass::HealthCheck,
                "health check",
            ),
            (
                "At 2022-12-24T22:03:59Z an instance was taken out of service in response to an \
                 instance refresh.  At 2022-12-24T22:03:59Z instance i-0002075bea40ce1c8 was \
                 selected for termination.",
                CauseClass::InstanceRefresh,
                "instance refresh",
            ),
            (
                "At 2024-05-01T10:02:21Z an instance was started in response to a difference \
                 between desired and actual capacity, increasing the capacity from 5 to 6.",
                CauseClass::Capacity,
                "desired capacity",
            ),
            (
                "At 2024-05-01T04:00:00Z an instance was taken out of service in response to a \
                 Spot rebalance recommendation.",
                CauseClass::Rebalance,
                "rebalancing",
            ),
            (
                "At 2024-05-01T04:00:00Z something AWS says one day",
                CauseClass::Other,
                "something AWS says one day",
            ),
        ];
        for (text, class, actor) in cases {
            let c = parse(text).expect("a cause");
            assert_eq!((c.class, c.actor.as_str()), (class, actor), "{text}");
        }
        assert_eq!(parse("  "), None);
    }

    #[test]
    fn a_scale_in_states_the_desired_and_the_shrinking_capacity() {
        let c = parse(
            "At 2024-05-01T10:15:30Z a user request explicitly set group desired capacity changing \
             the desired capacity from 6 to 3.  At 2024-05-01T10:15:31Z an instance was taken out of \
             service in response to a difference between desired and actual capacity, shrinking the \
             capacity from 6 to 3.  At 2024-05-01T10:15:31Z instance i-0c1d2e3f4a5b6c701 was \
             selected for termination.",
        )
        .expect("a cause");
        assert_eq!(c.class, CauseClass::UserRequest);
        assert_eq!(c.desired, Some(change("2024-05-01T10:15:30Z", 6, 3)));
        assert_eq!(c.capacity, Some(change("2024-05-01T10:15:31Z", 6, 3)));
    }

    #[test]
    fn constraints_give_the_limits() {
        let c = parse(
            "At 2016-06-12T02:55:14Z a user request update of AutoScalingGroup constraints to min: 0, \
             max: 1, desired: 0 changing the desired capacity from 1 to 0.",
        )
        .expect("a cause");
        assert_eq!(
            c.limits,
            Some(Limits {
                at: "2016-06-12T02:55:14Z".into(),
                min: Some(0),
                max: Some(1)
            })
        );
    }

    #[test]
    fn odd_texts_never_panic() {
        for text in [
            "At ",
            "At 2",
            "At 2024 changing the desired capacity from",
            "changing the desired capacity from x to y",
            "constraints to min: , max: ",
            "a monitor alarm ",
            "At 2024-05-01T10:00:00Z instance i-1 was selected for termination.",
            "é At 2024 ü",
        ] {
            let _ = parse(text);
        }
        let c = parse("no time at all").expect("a cause");
        assert_eq!((c.class, c.at), (CauseClass::Other, None));
    }
}
