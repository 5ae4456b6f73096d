//! DynamoDB's size rules for an item, and keeping an item within its 400 KB limit.
//!
//! [`item_size`] counts an item as DynamoDB does for its 400 KB limit, for the write units it
//! bills (one per KB, rounded up) and for storage: attribute names plus values; strings by
//! their UTF-8 length; numbers by one byte per two significant digits plus one; booleans and
//! nulls 1; maps and lists 3 bytes plus, per element, 1 byte and the element (and a map's key);
//! a string set by its strings. [`fit`] is where an item over the limit loses its largest
//! attributes, in the pure core, so `asg-trail extract` prints the item the table receives.
//! The cost benchmark (`benches/cost.rs`) sizes items with the same rules.

use serde_json::{Map, Number, Value};

use crate::item::{GROUP_NAMES, Item, OMITTED, Omitted, PARTITION_KEY, SORT_KEY};

/// DynamoDB's limit on the size of an item.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
/// What [`fit`] aims at: the limit less a little room for the numbers DynamoDB cannot hold
/// (stored as their text, see `dynamodb::codec`) and for the estimate's approximations.
const ITEM_BUDGET: usize = MAX_ITEM_BYTES - 1024;
/// Write units are billed per this many bytes of item, rounded up.
pub const WRITE_UNIT_BYTES: usize = 1024;

/// The attributes an item cannot do without: its keys and what every item has.
const REQUIRED: &[&str] = &[
    PARTITION_KEY,
    SORT_KEY,
    "origin",
    "eventTime",
    "eventID",
    "accountId",
    "sourceObject",
    OMITTED,
];

/// The size DynamoDB counts for an item in its JSON form (what `asg-trail extract` prints).
#[must_use]
pub fn item_size(item: &Map<String, Value>) -> usize {
    item.iter()
        .map(|(name, value)| attribute_size(name, value))
        .sum()
}

/// The write units one write of an item of `bytes` costs (at least 1).
#[must_use]
pub fn write_units(bytes: usize) -> u64 {
    bytes.div_ceil(WRITE_UNIT_BYTES).max(1) as u64
}

/// One attribute's size: its name and its value (`groupNames` is a string set).
#[must_use]
pub fn attribute_size(name: &str, value: &Value) -> usize {
    let value_bytes = match (name, value) {
        (GROUP_NAMES, Value::Array(names)) => names
            .iter()
            .map(|n| n.as_str().map_or_else(|| value_size(n), str::len))
            .sum(),
        _ => value_size(value),
    };
    name.len() + value_bytes
}

/// The size of one value by DynamoDB's rules (see the module docs).
#[must_use]
pub fn value_size(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) => 1,
        Value::Number(n) => number_size(n),
        Value::String(s) => s.len(),
        Value::Array(items) => 3 + items.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        Value::Object(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
    }
}

/// One byte per two significant digits, plus one.
fn number_size(n: &Number) -> usize {
    let text = n.to_string();
    let mantissa = text.split(['e', 'E']).next().unwrap_or_default();
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.max(1).div_ceil(2) + 1
}

/// Keeps `item` within DynamoDB's 400 KB: when it is over, its largest attributes (never the
/// keys or the attributes every item has) are left out, largest first, until it fits; each is
/// named in [`Item::omitted`] with the size of its JSON text, and a warning is logged. Returns
/// the names left out (none for every real CloudTrail record).
pub fn fit(item: &mut Item) -> Vec<String> {
    if surely_fits(item) {
        return Vec::new();
    }
    let Ok(Value::Object(mut map)) = serde_json::to_value(&*item) else {
        return Vec::new();
    };
    let original = item_size(&map);
    if original <= ITEM_BUDGET {
        return Vec::new();
    }
    let mut candidates: Vec<(String, usize)> = map
        .iter()
        .filter(|(name, _)| !REQUIRED.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), attribute_size(name, value)))
        .collect();
    candidates.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut total = original;
    let mut omitted = Vec::new();
    for (name, bytes) in candidates {
        if total <= ITEM_BUDGET {
            break;
        }
        if let Some(value) = map.remove(&name) {
            total -= bytes;
            let text = serde_json::to_string(&value).map_or(0, |t| t.len() as u64);
            let reason = "the item would be over DynamoDB's 400 KB limit".into();
            omitted.push((
                name,
                Omitted {
                    reason,
                    bytes: text,
                },
            ));
        }
    }
    // Back from the trimmed JSON form, so every attribute of the item can be left out.
    match serde_json::from_value::<Item>(Value::Object(map)) {
        Ok(trimmed) => *item = trimmed,
        Err(error) => {
            tracing::error!(%error, event_key = %item.event_key, "an item could not be trimmed: it is written whole, and DynamoDB will refuse it");
            return Vec::new();
        }
    }
    let left_out: Vec<String> = omitted.iter().map(|(name, _)| name.clone()).collect();
    item.omitted.extend(omitted);
    tracing::warn!(
        group_name = %item.group_name,
        event_key = %item.event_key,
        event_name = item.event_name.as_deref(),
        source_object = %item.source_object,
        estimated_bytes = original,
        omitted = ?left_out,
        "item over DynamoDB's 400 KB limit: stored without its largest attributes"
    );
    left_out
}

/// Whether `item` fits without sizing it attribute by attribute (the common case, on the hot
/// path: no value tree is built). DynamoDB's size of a value is at most twice its JSON text
/// (a one-digit number is 1 byte of text and 2 of DynamoDB; a list of one element adds 2 bytes
/// of text and 4 of DynamoDB; strings, names, maps and booleans are no larger than their
/// text), so an item whose JSON text is at most half the budget always fits.
fn surely_fits(item: &Item) -> bool {
    /// Counts the bytes written to it.
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, item).is_ok() && count.0 <= ITEM_BUDGET / 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(group: &str, id: &str) -> Item {
        Item {
            group_name: group.into(),
            event_key: format!("2024-03-05T12:00:00Z#{id}"),
            event_time: "2024-03-05T12:00:00Z".into(),
            event_id: id.into(),
            event_name: Some("UpdateAutoScalingGroup".into()),
            account_id: "123456789012".into(),
            source_object: "s3://b/k".into(),
            ..Item::default()
        }
    }

    fn size_of(item: &Item) -> usize {
        match serde_json::to_value(item) {
            Ok(Value::Object(map)) => item_size(&map),
            other => panic!("not an object: {other:?}"),
        }
    }

    #[test]
    fn an_item_over_400_kb_loses_its_largest_attributes_not_its_keys() {
        let mut big = item("g", "1");
        big.request_parameters =
            Some(json!({"autoScalingGroupName": "g", "blob": "x".repeat(500_000)}));
        big.response_elements = Some(json!({"small": [1, 2, 3]}));
        let text = serde_json::to_string(&big.request_parameters).expect("json");
        assert_eq!(fit(&mut big), ["requestParameters"]);
        assert_eq!(big.request_parameters, None);
        assert!(big.response_elements.is_some(), "only what is needed");
        assert_eq!(big.group_name, "g");
        assert_eq!(
            serde_json::to_value(&big.omitted).expect("json"),
            json!({"requestParameters": {
                "reason": "the item would be over DynamoDB's 400 KB limit",
                "bytes": text.len()
            }})
        );
        assert!(size_of(&big) <= MAX_ITEM_BYTES);
        // Two big maps, each under the limit, together over it: the larger one goes.
        let mut two = item("g", "2");
        two.request_parameters = Some(json!({"a": "x".repeat(250_000)}));
        two.response_elements = Some(json!({"b": "y".repeat(260_000)}));
        assert_eq!(fit(&mut two), ["responseElements"]);
        assert!(two.request_parameters.is_some());
        // An item that fits is left alone.
        let mut small = item("g", "3");
        let before = small.clone();
        assert!(fit(&mut small).is_empty());
        assert_eq!(small, before);
    }

    #[test]
    fn dynamodbs_size_is_at_most_twice_the_json_text() {
        // The bound `surely_fits` relies on, on the shapes that come nearest to it.
        let nested = (0..30).fold(json!(0), |v, _| json!([v]));
        for value in [
            json!(0),
            json!([0, 0, 0]),
            json!([[], [], []]),
            nested,
            json!({"a": [0], "b": {"c": null}, "d": true, "e": ""}),
            json!(-12.5e3),
        ] {
            let text = serde_json::to_string(&value).expect("json").len();
            assert!(value_size(&value) <= 2 * text, "{value}");
        }
    }

    #[test]
    fn sizes_follow_dynamodbs_rules() {
        assert_eq!(value_size(&json!("abc")), 3);
        assert_eq!(value_size(&json!("é")), 2);
        assert_eq!(value_size(&json!(true)), 1);
        assert_eq!(value_size(&json!(null)), 1);
        // One byte per two significant digits, plus one; zeros at either end do not count.
        assert_eq!(value_size(&json!(12345)), 4);
        assert_eq!(value_size(&json!(7)), 2);
        assert_eq!(value_size(&json!(1_000_000)), 2);
        assert_eq!(value_size(&json!(-12.5)), 3);
        assert_eq!(value_size(&json!({"ab": "c"})), 3 + 1 + 2 + 1);
        assert_eq!(value_size(&json!([1, "x"])), 3 + (1 + 2) + (1 + 1));
        // A string set is its strings.
        assert_eq!(
            attribute_size(GROUP_NAMES, &json!(["web", "api"])),
            GROUP_NAMES.len() + 6
        );
        assert_eq!(write_units(0), 1);
        assert_eq!(write_units(1024), 1);
        assert_eq!(write_units(1025), 2);
    }
}
