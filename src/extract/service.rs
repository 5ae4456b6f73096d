//! Auto Scaling's own EC2 calls (opt-in): the launches, terminations and fleets Auto Scaling
//! makes for a group show up under `ec2.amazonaws.com`, with `userIdentity.invokedBy` (or
//! `sourceIPAddress`) `autoscaling.amazonaws.com`. They name their group only through the
//! `aws:autoscaling:groupName` tag Auto Scaling puts on what it launches.

use std::collections::BTreeSet;

use serde_json::Value;

use super::AUTOSCALING_EVENT_SOURCE;
use crate::item;

/// The event source of the EC2 API.
pub const EC2_EVENT_SOURCE: &str = "ec2.amazonaws.com";
/// The tag Auto Scaling puts on every instance (and fleet request) of a group.
pub const GROUP_TAG: &str = "aws:autoscaling:groupName";

/// How deep the tag search goes into a request (CreateFleet nests its tags a few levels down).
const MAX_DEPTH: usize = 12;

/// Whether a call was made by Auto Scaling itself.
#[must_use]
pub fn made_by_autoscaling(invoked_by: Option<&str>, source_ip_address: Option<&str>) -> bool {
    invoked_by == Some(AUTOSCALING_EVENT_SOURCE)
        || source_ip_address == Some(AUTOSCALING_EVENT_SOURCE)
}

/// The groups named by `aws:autoscaling:groupName` tags anywhere in the request (RunInstances'
/// `tagSpecificationSet.items[].tags[]`, CreateFleet's `CreateFleetRequest.TagSpecification`
/// whose `Tag` is an object or a list, with `Key`/`Value` capitalised) or in the response
/// (instances' `tagSet.items[]`). Sorted, distinct; empty when no tag names a group, as for
/// TerminateInstances, which names instance IDs only.
#[must_use]
pub fn groups(request: Option<&Value>, response: Option<&Value>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for value in [request, response].into_iter().flatten() {
        collect(value, 0, &mut found);
    }
    found
}

fn collect(value: &Value, depth: usize, found: &mut BTreeSet<String>) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::Object(map) => {
            let field =
                |a: &str, b: &str| map.get(a).or_else(|| map.get(b)).and_then(Value::as_str);
            if field("key", "Key") == Some(GROUP_TAG) {
                if let Some(name) = field("value", "Value").and_then(item::group_name_from) {
                    found.insert(name.to_owned());
                }
                return;
            }
            for v in map.values() {
                collect(v, depth + 1, found);
            }
        }
        Value::Array(list) => {
            for v in list {
                collect(v, depth + 1, found);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(request: &Value, response: &Value) -> Vec<String> {
        groups(Some(request), Some(response)).into_iter().collect()
    }

    #[test]
    fn who_made_the_call() {
        assert!(made_by_autoscaling(Some(AUTOSCALING_EVENT_SOURCE), None));
        assert!(made_by_autoscaling(None, Some(AUTOSCALING_EVENT_SOURCE)));
        assert!(made_by_autoscaling(
            Some(AUTOSCALING_EVENT_SOURCE),
            Some(AUTOSCALING_EVENT_SOURCE)
        ));
        assert!(!made_by_autoscaling(
            Some("cloudformation.amazonaws.com"),
            Some("203.0.113.7")
        ));
        assert!(!made_by_autoscaling(None, None));
    }

    #[test]
    fn run_instances_names_its_group_in_the_tag_specification() {
        let request = json!({
            "instancesSet": {"items": [{"minCount": 1, "maxCount": 1}]},
            "launchTemplate": {"launchTemplateId": "lt-097cdbb748360216c", "version": "7"},
            "tagSpecificationSet": {"items": [
                {"resourceType": "instance", "tags": [
                    {"key": "team", "value": "web"},
                    {"key": "aws:autoscaling:groupName", "value": "web-asg"}
                ]},
                {"resourceType": "volume", "tags": [{"key": "aws:autoscaling:groupName", "value": "web-asg"}]}
            ]}
        });
        assert_eq!(names(&request, &Value::Null), ["web-asg"]);
    }

    #[test]
    fn create_fleet_names_its_group_in_either_tag_shape() {
        let one = json!({"CreateFleetRequest": {
            "Type": "instant",
            "TargetCapacitySpecification": {"TotalTargetCapacity": 1, "DefaultTargetCapacityType": "on-demand"},
            "TagSpecification": {"ResourceType": "instance", "tag": 1,
                "Tag": {"Key": "aws:autoscaling:groupName", "Value": "api-asg", "tag": 1}}
        }});
        assert_eq!(names(&one, &Value::Null), ["api-asg"]);
        let many = json!({"CreateFleetRequest": {
            "TagSpecification": [{"ResourceType": "instance", "Tag": [
                {"Key": "Name", "Value": "api"},
                {"Key": "aws:autoscaling:groupName", "Value": "api-asg"}
            ]}]
        }});
        assert_eq!(names(&many, &Value::Null), ["api-asg"]);
    }

    #[test]
    fn instances_in_the_response_name_their_group_through_their_tags() {
        let response = json!({"instancesSet": {"items": [{
            "instanceId": "i-0a1b2c3d4e5f60718",
            "tagSet": {"items": [{"key": "aws:autoscaling:groupName", "value": "web-asg"}]}
        }]}});
        assert_eq!(names(&json!({}), &response), ["web-asg"]);
    }

    #[test]
    fn terminations_and_untagged_launches_name_no_group() {
        let terminate = json!({"instancesSet": {"items": [{"instanceId": "i-0a1b2c3d4e5f60718"}]}});
        let response = json!({"instancesSet": {"items": [{"instanceId": "i-0a1b2c3d4e5f60718",
            "currentState": {"code": 32, "name": "shutting-down"}}]}});
        assert!(names(&terminate, &response).is_empty());
        // Other tags, an empty value, and a key that only mentions the tag name in a value.
        let other = json!({"tagSpecificationSet": {"items": [{"tags": [
            {"key": "Name", "value": "aws:autoscaling:groupName"},
            {"key": "aws:autoscaling:groupName", "value": ""},
            {"key": "aws:autoscaling:groupName", "value": 12}
        ]}]}});
        assert!(names(&other, &Value::Null).is_empty());
    }

    #[test]
    fn very_deep_documents_are_not_searched_without_bound() {
        let mut deep = json!({"key": GROUP_TAG, "value": "deep-asg"});
        for _ in 0..=MAX_DEPTH {
            deep = json!({ "x": deep });
        }
        assert!(names(&deep, &Value::Null).is_empty());
        let mut shallow = json!({"key": GROUP_TAG, "value": "deep-asg"});
        for _ in 0..MAX_DEPTH {
            shallow = json!({ "x": shallow });
        }
        assert_eq!(names(&shallow, &Value::Null), ["deep-asg"]);
    }
}
