//! What an alert says: an email subject under 100 characters, a plain-text body, and the
//! same alert in AWS Chatbot's (Amazon Q Developer in chat applications) custom-notification
//! format, all in one SNS message of `MessageStructure` `json`: `email` is the text body,
//! `default` (what Chatbot's HTTPS subscription, SQS and every other protocol receive) is
//! the Chatbot JSON. Pure.

use serde_json::{Value, json};

use super::Change;
use crate::item::Item;

/// SNS refuses subjects of 100 characters or more.
pub const MAX_SUBJECT_CHARS: usize = 99;

/// One message to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The email subject: ASCII (what every mail client shows), under 100 characters.
    pub subject: String,
    /// The email body, plain text.
    pub text: String,
    /// The Chatbot custom notification.
    pub chatbot: Value,
}

impl Message {
    /// The SNS `Message` for `MessageStructure` `json`: `default` the Chatbot JSON (as a
    /// string), `email` the text.
    #[must_use]
    pub fn sns_json(&self) -> String {
        json!({"default": self.chatbot.to_string(), "email": self.text}).to_string()
    }
}

/// The alert of one change.
#[must_use]
pub fn of_change(change: &Change) -> Message {
    let Some(first) = change.first() else {
        return Message::default_empty();
    };
    let groups = change.groups();
    let subject = subject(first, &groups);
    let timeline = timeline_command(first);
    Message {
        text: body(first, &groups, &timeline),
        chatbot: chatbot(first, &groups, &subject, &timeline),
        subject,
    }
}

/// One digest of the alerts of `minute` that were not sent one by one: `lines` (one per
/// change, [`line`]) and how many more were counted beyond them.
#[must_use]
pub fn digest(minute: &str, lines: &[String], more: u64) -> Message {
    let total = lines.len() as u64 + more;
    let subject = ascii_cut(&format!(
        "asg-trail digest {minute}: {total} more changes by hand"
    ));
    let mut text = format!(
        "{total} changes by hand at {minute} UTC were past the alerts sent one by one this minute.\n\n"
    );
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    if more > 0 {
        text.push_str(&format!("... and {more} more\n"));
    }
    text.push_str("\nEach change is in the table: asg-trail changes --since <the day>\n");
    let chatbot = json!({
        "version": "1.0",
        "source": "custom",
        "id": format!("digest-{minute}"),
        "content": {
            "textType": "client-markdown",
            "title": format!(":rotating_light: {subject}"),
            "description": lines.iter().map(|l| format!("• {l}")).collect::<Vec<_>>().join("\n"),
            "keywords": ["asg-trail", "digest"],
        },
        "metadata": {"summary": subject, "eventType": "AsgChangeDigest"},
    });
    Message {
        subject,
        text,
        chatbot,
    }
}

/// A change in one line, for a digest: `web-asg (123456789012 us-east-1): SetDesiredCapacity
/// desiredCapacity=0 by alice at 2024-03-05T12:00:00Z`.
#[must_use]
pub fn line(change: &Change) -> String {
    change.first().map_or_else(String::new, |first| {
        let (head, what, who) = subject_parts(first, &change.groups());
        format!("{head}{}{who} at {}", what.join(" "), first.event_time)
    })
}

impl Message {
    fn default_empty() -> Self {
        Self {
            subject: String::new(),
            text: String::new(),
            chatbot: Value::Null,
        }
    }
}

/// Who made the call, in words: the user's name, else the ARN, else the principal.
fn who(item: &Item) -> &str {
    item.user_name
        .as_deref()
        .or(item.user_arn.as_deref())
        .or(item.principal_id.as_deref())
        .unwrap_or("an unknown caller")
}

/// What was set: the request's parameters but the group's name, `key=value` each, in order.
fn settings(item: &Item) -> Vec<String> {
    let Some(Value::Object(params)) = &item.request_parameters else {
        return Vec::new();
    };
    params
        .iter()
        .filter(|(k, _)| k.as_str() != "autoScalingGroupName")
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect()
}

fn subject_parts(item: &Item, groups: &[&str]) -> (String, Vec<String>, String) {
    let more = match groups.len() {
        0 | 1 => String::new(),
        n => format!(" +{}", n - 1),
    };
    let head = format!(
        "{}{more} ({} {}): ",
        groups.first().copied().unwrap_or_default(),
        item.account_id,
        item.aws_region.as_deref().unwrap_or("?")
    );
    let failed = if item.error_code.is_some() {
        "FAILED "
    } else {
        ""
    };
    let name = item.event_name.as_deref().unwrap_or("a call");
    let what = [format!("{failed}{name}")]
        .into_iter()
        .chain(settings(item))
        .collect();
    (head, what, format!(" by {}", who(item)))
}

/// `<group> (<account> <region>): <call> <what was set> by <who>`, cut to fit: the settings
/// give way first, whole, from the last (`...` says so), then the whole line.
fn subject(item: &Item, groups: &[&str]) -> String {
    let (head, what, by) = subject_parts(item, groups);
    let (head, by) = (ascii(&head), ascii(&by));
    let room = MAX_SUBJECT_CHARS.saturating_sub(head.len() + by.len());
    let mut kept = String::new();
    for (i, part) in what.iter().map(|p| ascii(p)).enumerate() {
        let sep = if i == 0 { "" } else { " " };
        let last = i + 1 == what.len();
        let needs = kept.len() + sep.len() + part.len() + if last { 0 } else { 4 };
        if i > 0 && needs > room {
            kept.push_str(" ...");
            break;
        }
        kept.push_str(sep);
        kept.push_str(&part);
    }
    ascii_cut(&format!("{head}{kept}{by}"))
}

/// Non-ASCII characters as `?`, control characters as spaces (SNS takes neither well).
fn ascii(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            c if c.is_ascii_control() => ' ',
            c if c.is_ascii() => c,
            _ => '?',
        })
        .collect()
}

fn ascii_cut(s: &str) -> String {
    ascii(s).chars().take(MAX_SUBJECT_CHARS).collect()
}

/// The CLI command that shows the group's timeline around the change.
fn timeline_command(item: &Item) -> String {
    let day = item.event_time.get(..10).unwrap_or(&item.event_time);
    format!(
        "asg-trail timeline --group {} --since {day}",
        item.group_name
    )
}

/// Whether the call came from the console, in words.
fn console(item: &Item) -> &'static str {
    if super::rules::is_person(item) && item.session_credential_from_console == Some(true)
        || item
            .user_agent
            .as_deref()
            .is_some_and(|a| a.to_ascii_lowercase().contains("console"))
    {
        "console"
    } else {
        "not the console"
    }
}

fn facts(item: &Item, groups: &[&str], timeline: &str) -> Vec<(&'static str, String)> {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut facts = vec![
        ("Groups", groups.join(", ")),
        ("Account", item.account_id.clone()),
        ("Region", opt(&item.aws_region)),
        ("Call", opt(&item.event_name)),
    ];
    if let Some(code) = &item.error_code {
        let message = item.error_message.as_deref().unwrap_or_default();
        facts.push(("FAILED", format!("{code} {message}").trim_end().to_owned()));
    }
    facts.extend([
        ("Set", settings(item).join(", ")),
        ("Who", who(item).to_owned()),
        ("Role", opt(&item.role_name)),
        ("ARN", opt(&item.user_arn)),
        (
            "From",
            format!("{} ({})", opt(&item.source_ip_address), console(item)),
        ),
        ("User agent", opt(&item.user_agent)),
        ("When", item.event_time.clone()),
        ("Event ID", item.event_id.clone()),
        ("Timeline", timeline.to_owned()),
    ]);
    facts
}

fn body(item: &Item, groups: &[&str], timeline: &str) -> String {
    let mut text = format!(
        "{} was changed by hand{}.\n\n",
        groups.join(", "),
        if item.error_code.is_some() {
            " (the call FAILED: someone tried)"
        } else {
            ""
        }
    );
    for (name, value) in facts(item, groups, timeline) {
        text.push_str(&format!("{name:<11} {value}\n"));
    }
    text
}

fn chatbot(item: &Item, groups: &[&str], subject: &str, timeline: &str) -> Value {
    let description = facts(item, groups, timeline)
        .into_iter()
        .filter(|(name, _)| *name != "Timeline")
        .map(|(name, value)| format!("*{name}:* {value}"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut keywords: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
    keywords.push(item.account_id.clone());
    keywords.extend(item.aws_region.clone());
    if item.error_code.is_some() {
        keywords.push("failed".into());
    }
    json!({
        "version": "1.0",
        "source": "custom",
        "id": item.event_id,
        "content": {
            "textType": "client-markdown",
            "title": format!(":warning: {subject}"),
            "description": description,
            "nextSteps": [format!("`{timeline}`")],
            "keywords": keywords,
        },
        "metadata": {
            "threadId": format!("asg-trail-{}", item.group_name),
            "summary": subject,
            "eventType": "AsgChangeByHand",
            "additionalContext": {"eventID": item.event_id, "eventTime": item.event_time},
        },
    })
}
