use super::*;
use crate::item::Item;

fn item(group: &str, id: &str) -> Item {
    Item {
        group_name: group.into(),
        group_names: vec!["api-asg".into(), "web-asg".into()],
        event_id: id.into(),
        event_time: "2024-03-05T12:00:00Z".into(),
        event_name: Some("SetDesiredCapacity".into()),
        read_only: Some(false),
        account_id: "123456789012".into(),
        aws_region: Some("us-east-1".into()),
        user_identity_type: Some("IAMUser".into()),
        user_name: Some("alice@example.com".into()),
        request_parameters: Some(serde_json::json!({
            "autoScalingGroupName": group, "desiredCapacity": 0, "honorCooldown": false
        })),
        source_ip_address: Some("198.51.100.7".into()),
        user_agent: Some("console.amazonaws.com".into()),
        ..Item::default()
    }
}

#[test]
fn one_change_per_event_whatever_the_groups() {
    let mut automation = item("web-asg", "e2");
    automation.invoked_by = Some("eks.amazonaws.com".into());
    let items = vec![
        item("api-asg", "e1"),
        automation,
        item("web-asg", "e1"),
        item("web-asg", "e3"),
    ];
    let changes = changes(items, &Rules::default());
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0].event_id(), "e1");
    assert_eq!(changes[0].groups(), ["api-asg", "web-asg"]);
    assert_eq!(changes[1].event_id(), "e3");
}

#[test]
fn history_older_than_a_day_never_alerts() {
    let t = crate::item::epoch_seconds("2024-03-05T12:00:00Z").expect("a time");
    assert!(is_recent("2024-03-05T12:00:00Z", t));
    assert!(is_recent("2024-03-05T12:00:00Z", t + MAX_AGE_SECS));
    assert!(!is_recent("2024-03-05T12:00:00Z", t + MAX_AGE_SECS + 1));
    assert!(!is_recent("not a time", t));
    // A marker outlives the bound.
    assert!(marker_expiry("2024-03-05T12:00:00Z", t) > t + MAX_AGE_SECS);
    assert_eq!(minute_of(t + 59), "2024-03-05T12:00");
}

#[test]
fn the_email_says_what_who_where_when_and_how_to_see_the_timeline() {
    let change = Change {
        items: vec![item("web-asg", "e1")],
    };
    let m = message::of_change(&change);
    assert_eq!(
        m.subject,
        "web-asg (123456789012 us-east-1): SetDesiredCapacity desiredCapacity=0 ... by alice@example.com"
    );
    assert!(m.subject.len() < 100, "{}", m.subject);
    assert!(
        m.subject
            .starts_with("web-asg (123456789012 us-east-1): SetDesiredCapacity")
    );
    assert!(
        m.subject.ends_with(" by alice@example.com"),
        "{}",
        m.subject
    );
    for needle in [
        "desiredCapacity=0",
        "alice@example.com",
        "198.51.100.7 (console)",
        "console.amazonaws.com",
        "2024-03-05T12:00:00Z",
        "asg-trail timeline --group web-asg --since 2024-03-05",
    ] {
        assert!(m.text.contains(needle), "{needle} in\n{}", m.text);
    }
}

#[test]
fn a_long_subject_gives_way_and_a_failed_call_says_so() {
    let mut long = item("web-asg", "e1");
    long.error_code = Some("AccessDenied".into());
    long.request_parameters = Some(serde_json::json!({
        "autoScalingGroupName": "web-asg", "launchTemplate": {"launchTemplateName": "x".repeat(200)}
    }));
    long.user_name = Some("ü".repeat(10));
    let m = message::of_change(&Change { items: vec![long] });
    assert!(m.subject.chars().count() < 100, "{}", m.subject);
    assert!(m.subject.is_ascii());
    assert!(
        m.subject.contains("FAILED SetDesiredCapacity"),
        "{}",
        m.subject
    );
    assert!(m.subject.ends_with(" by ??????????"), "{}", m.subject);
    assert!(m.text.contains("FAILED"), "{}", m.text);
    assert_eq!(m.chatbot["content"]["keywords"][3], "failed");
}

#[test]
fn the_chatbot_json_follows_the_custom_notification_schema() {
    let m = message::of_change(&Change {
        items: vec![item("web-asg", "e1")],
    });
    let c = &m.chatbot;
    assert_eq!(c["version"], "1.0");
    assert_eq!(c["source"], "custom");
    assert_eq!(c["content"]["textType"], "client-markdown");
    assert!(
        c["content"]["title"]
            .as_str()
            .is_some_and(|t| t.contains("web-asg"))
    );
    assert!(
        c["content"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("*Who:* alice@example.com"))
    );
    assert_eq!(
        c["content"]["nextSteps"][0],
        "`asg-trail timeline --group web-asg --since 2024-03-05`"
    );
    assert_eq!(c["metadata"]["summary"], m.subject.as_str());
    // One SNS message: email subscribers read the text, every other protocol the JSON.
    let sns: serde_json::Value = serde_json::from_str(&m.sns_json()).expect("json");
    assert_eq!(sns["email"], m.text.as_str());
    let default: serde_json::Value =
        serde_json::from_str(sns["default"].as_str().expect("a string")).expect("json");
    assert_eq!(&default, c);
}

#[test]
fn a_digest_lists_each_change_in_a_line() {
    let change = Change {
        items: vec![item("web-asg", "e1")],
    };
    let line = message::line(&change);
    assert!(
        line.starts_with("web-asg (123456789012 us-east-1): SetDesiredCapacity"),
        "{line}"
    );
    let d = message::digest("2024-03-05T12:00", &[line.clone(), line], 190);
    assert!(
        d.subject.contains("192 more changes by hand"),
        "{}",
        d.subject
    );
    assert!(d.text.contains("... and 190 more"));
    assert_eq!(d.chatbot["source"], "custom");
}
