//! EventBridge's vocabulary for EC2 Auto Scaling, and the one test of what an envelope is.
//!
//! A leaf: it imports nothing of ours, so the reader of log files ([`crate::cloudtrail`]), the
//! trigger shapes ([`crate::notification`]) and the events path ([`crate::events`]) all ask
//! the same question the same way. An envelope is Auto Scaling's when its `source` is the
//! string `aws.autoscaling` and it has a `detail-type`; it is an API call when that
//! `detail-type` is the string `AWS API Call via CloudTrail`, and the group's own activity for
//! any other value (a `detail-type` of the wrong type included: such an envelope is then
//! rejected by name on every path, never taken for a CloudTrail record).

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// The EventBridge `source` of EC2 Auto Scaling's events (API calls and activities alike).
pub const AUTOSCALING_SOURCE: &str = "aws.autoscaling";
/// The `detail-type` of an API call delivered by CloudTrail to EventBridge.
pub const API_CALL_DETAIL_TYPE: &str = "AWS API Call via CloudTrail";

/// Which of the two kinds an Auto Scaling envelope is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `AWS API Call via CloudTrail`: a CloudTrail record in its `detail`.
    ApiCall,
    /// Any other `detail-type`: the group's own activity.
    Activity,
}

/// The one test: what an envelope with these `source` and `detail-type` values is, or `None`
/// when it is not an EC2 Auto Scaling envelope (another source, or no `detail-type`). The values
/// are taken as any JSON, so that a field of the wrong type is told apart from an absent one.
#[must_use]
pub fn kind(source: Option<&Value>, detail_type: Option<&Value>) -> Option<Kind> {
    if source.and_then(Value::as_str) != Some(AUTOSCALING_SOURCE) {
        return None;
    }
    match detail_type? {
        Value::String(t) if t == API_CALL_DETAIL_TYPE => Some(Kind::ApiCall),
        _ => Some(Kind::Activity),
    }
}

/// The two fields of a JSON object that [`kind`] reads; unknown fields are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct Head {
    /// `source`, as any JSON.
    #[serde(default)]
    pub source: Option<Value>,
    /// `detail-type`, as any JSON.
    #[serde(rename = "detail-type", default)]
    pub detail_type: Option<Value>,
}

impl Head {
    /// The head of a raw JSON value; empty for a value that is not an object or does not parse.
    #[must_use]
    pub fn of(raw: &RawValue) -> Self {
        serde_json::from_str(raw.get()).unwrap_or_default()
    }

    /// [`kind`] of these fields.
    #[must_use]
    pub fn kind(&self) -> Option<Kind> {
        kind(self.source.as_ref(), self.detail_type.as_ref())
    }
}

/// Whether a value's raw text can be an Auto Scaling envelope: it names `aws.autoscaling`, or
/// holds a `\u` escape (the only other way JSON can spell those letters). Exact, not a
/// heuristic: a value with neither cannot be one, and is never parsed as one.
#[must_use]
pub fn might_be_envelope(bytes: &[u8]) -> bool {
    memchr::memmem::find(bytes, AUTOSCALING_SOURCE.as_bytes()).is_some()
        || memchr::memmem::find(bytes, b"\\u").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_kind_of_an_envelope_is_read_from_its_source_and_detail_type() {
        let s = json!(AUTOSCALING_SOURCE);
        let cases = [
            (
                Some(&s),
                Some(json!(API_CALL_DETAIL_TYPE)),
                Some(Kind::ApiCall),
            ),
            (
                Some(&s),
                Some(json!("EC2 Instance Launch Successful")),
                Some(Kind::Activity),
            ),
            // A detail-type of the wrong type is still Auto Scaling's envelope: it is rejected by
            // name downstream, never read as a record.
            (Some(&s), Some(json!(7)), Some(Kind::Activity)),
            (Some(&s), Some(json!(null)), Some(Kind::Activity)),
            (Some(&s), None, None),
            (None, Some(json!("EC2 Instance Launch Successful")), None),
        ];
        for (source, detail_type, want) in cases {
            assert_eq!(
                kind(source, detail_type.as_ref()),
                want,
                "{source:?} {detail_type:?}"
            );
        }
        let other = json!("aws.ec2");
        assert_eq!(kind(Some(&other), Some(&json!("x"))), None);
        assert_eq!(kind(Some(&json!(1)), Some(&json!("x"))), None);
    }

    #[test]
    fn a_head_is_read_from_any_value() {
        let raw = |v: Value| RawValue::from_string(v.to_string()).expect("json");
        let envelope = raw(json!({"source": AUTOSCALING_SOURCE, "detail-type": 3, "detail": {}}));
        assert_eq!(Head::of(&envelope).kind(), Some(Kind::Activity));
        assert_eq!(Head::of(&raw(json!([1]))).kind(), None);
        assert_eq!(Head::of(&raw(json!({"eventSource": "x"}))).kind(), None);
    }

    #[test]
    fn only_text_that_can_spell_the_source_might_be_an_envelope() {
        assert!(might_be_envelope(br#"{"source":"aws.autoscaling"}"#));
        assert!(might_be_envelope(br#"{"source":"aws.\u0061utoscaling"}"#));
        assert!(!might_be_envelope(br#"{"source":"aws.ec2"}"#));
    }
}
