//! The item's DynamoDB form and back: [`to_attributes`] maps an [`Item`] to attribute values,
//! [`to_json`] maps a stored item back to plain JSON.
//!
//! The mapping keeps what the table's readers rely on: attributes are those of the item's JSON
//! form (what `asg-trail extract` prints), absent attributes are left out (never NULL), numbers
//! DynamoDB cannot hold are stored as their text (S), and `groupNames` is a string set (SS) and
//! is absent when empty.
//!
//! serde_dynamo was weighed for this mapping and not adopted: it would not make the code simpler
//! without changing the items. It writes every JSON number as N with Rust's formatting of the
//! value, so `1e300` becomes a 301-digit N that DynamoDB rejects (failing the whole batch) and
//! `0.0` is stored as `0`. It writes a `Vec<String>` as a list (L) unless the field carries its
//! `string_set` annotation, which the JSON form the trimming works on no longer has (and which
//! would bring a DynamoDB crate into the pure item model). It gives sets back in DynamoDB's
//! order. So the JSON form is built anyway, and what serde_dynamo would replace are the two
//! short `match`es below, at the price of a dependency and a second pass to fix numbers and sets.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Number, Value};

use crate::item::{GROUP_NAMES, Item, PARTITION_KEY, SORT_KEY};

/// The DynamoDB form of an item: the same attributes as its JSON form (what `asg-trail
/// extract` prints), strings as S, booleans as BOOL, objects as M, arrays as L, except
/// `groupNames`, a string set (SS; the item has it only when it is not empty).
/// The item is taken as it is: the pure core has already kept it within DynamoDB's 400 KB
/// ([`crate::size::fit`], called by [`crate::pipeline::finish`]).
#[must_use]
pub(crate) fn to_attributes(item: &Item) -> HashMap<String, AttributeValue> {
    match serde_json::to_value(item) {
        Ok(Value::Object(map)) => map
            .into_iter()
            .map(|(k, v)| {
                let value = if k == GROUP_NAMES {
                    AttributeValue::Ss(
                        v.as_array()
                            .map(|names| {
                                names
                                    .iter()
                                    .filter_map(Value::as_str)
                                    .map(str::to_owned)
                                    .collect()
                            })
                            .unwrap_or_default(),
                    )
                } else {
                    to_attribute(v)
                };
                (k, value)
            })
            .collect(),
        // An Item always serializes to an object; keep the keys at least.
        _ => HashMap::from([
            (
                PARTITION_KEY.to_owned(),
                AttributeValue::S(item.group_name.clone()),
            ),
            (
                SORT_KEY.to_owned(),
                AttributeValue::S(item.event_key.clone()),
            ),
        ]),
    }
}

/// One JSON value as a DynamoDB attribute value.
#[must_use]
fn to_attribute(value: Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(b),
        Value::Number(n) => number_attribute(&n),
        Value::String(s) => AttributeValue::S(s),
        Value::Array(a) => AttributeValue::L(a.into_iter().map(to_attribute).collect()),
        Value::Object(m) => {
            AttributeValue::M(m.into_iter().map(|(k, v)| (k, to_attribute(v))).collect())
        }
    }
}

/// DynamoDB numbers hold 38 significant digits between 1e-130 and 1e126; a JSON number outside
/// that is kept as its text (S) rather than failing the whole batch.
fn number_attribute(n: &Number) -> AttributeValue {
    let text = n.to_string();
    let fits = n.is_i64()
        || n.is_u64()
        || n.as_f64()
            .is_some_and(|f| f == 0.0 || (1e-130..1e125).contains(&f.abs()));
    if fits {
        AttributeValue::N(text)
    } else {
        AttributeValue::S(text)
    }
}

/// A DynamoDB item as plain JSON (the inverse of `to_attributes`; sets become sorted arrays,
/// since DynamoDB returns their members in any order).
#[must_use]
pub fn to_json(item: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), attribute_to_json(v)))
            .collect::<Map<String, Value>>(),
    )
}

fn attribute_to_json(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => serde_json::from_str::<Number>(n)
            .map_or_else(|_| Value::String(n.clone()), Value::Number),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::M(m) => to_json(m),
        AttributeValue::L(l) => Value::Array(l.iter().map(attribute_to_json).collect()),
        AttributeValue::Ss(ss) => {
            let mut sorted = ss.clone();
            sorted.sort();
            Value::Array(sorted.into_iter().map(Value::String).collect())
        }
        AttributeValue::Ns(ns) => Value::Array(
            ns.iter()
                .map(|n| attribute_to_json(&AttributeValue::N(n.clone())))
                .collect(),
        ),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamodb::testing::item;
    use serde_json::json;

    #[test]
    fn attributes_round_trip_through_plain_json() {
        let it = item("web", "1");
        let attrs = to_attributes(&it);
        assert_eq!(attrs["groupName"], AttributeValue::S("web".into()));
        assert_eq!(attrs["readOnly"], AttributeValue::Bool(false));
        assert!(!attrs.contains_key("errorCode"), "absent, never NULL");
        let AttributeValue::M(params) = &attrs["requestParameters"] else {
            panic!("map")
        };
        assert_eq!(params["maxSize"], AttributeValue::N("3".into()));
        assert_eq!(params["n"], AttributeValue::Null(true));
        assert_eq!(to_json(&attrs), serde_json::to_value(&it).expect("json"));
    }

    #[test]
    fn group_names_are_a_string_set_and_absent_when_empty() {
        let mut it = item("web", "1");
        it.group_names = vec!["api".into(), "web".into()];
        let attrs = to_attributes(&it);
        assert_eq!(
            attrs["groupNames"],
            AttributeValue::Ss(vec!["api".into(), "web".into()])
        );
        assert_eq!(attrs["origin"], AttributeValue::S("api".into()));
        // DynamoDB hands sets back in any order; the JSON form is sorted.
        let mut back = attrs.clone();
        back.insert(
            "groupNames".into(),
            AttributeValue::Ss(vec!["web".into(), "api".into()]),
        );
        assert_eq!(to_json(&back), serde_json::to_value(&it).expect("json"));
        it.group_names.clear();
        assert!(
            !to_attributes(&it).contains_key("groupNames"),
            "no empty set"
        );
    }

    #[test]
    fn numbers_dynamodb_cannot_hold_are_kept_as_text() {
        assert_eq!(
            to_attribute(json!(1e300)),
            AttributeValue::S("1e+300".into())
        );
        assert_eq!(to_attribute(json!(-12)), AttributeValue::N("-12".into()));
        assert_eq!(to_attribute(json!(0.0)), AttributeValue::N("0.0".into()));
    }

    #[test]
    fn expires_at_is_written_as_a_number() {
        let mut it = item("g", "1");
        assert!(!to_attributes(&it).contains_key("expiresAt"));
        it.expires_at = Some(1_712_232_000);
        assert_eq!(
            to_attributes(&it).get("expiresAt"),
            Some(&AttributeValue::N("1712232000".into()))
        );
    }
}
