//! Which Auto Scaling groups an EC2 Auto Scaling API call names.
//!
//! [`groups`] applies every attribution rule to every call, so a new action that uses a known
//! parameter is attributed without a code change, and an action nobody has seen yet is still
//! stored (in the account partition when it names nothing we recognise). The rules:
//!
//! | rule | where the group is |
//! |---|---|
//! | [`Rule::Group`] | `requestParameters.autoScalingGroupName` (a name, or a group ARN) |
//! | [`Rule::GroupList`] | `requestParameters.autoScalingGroupNames[]`; empty or absent = all groups |
//! | [`Rule::Tags`] | `requestParameters.tags[].resourceId` where `resourceType` is `auto-scaling-group` |
//! | [`Rule::TagFilter`] | `requestParameters.filters[]` named `auto-scaling-group`: its `values[]` |
//! | [`Rule::PolicyArn`] | a scaling policy ARN in `policyName` / `policyNames[]` (`...:autoScalingGroupName/<group>:policyName/<name>`), or `responseElements.policyARN` |
//! | [`Rule::Response`] | `responseElements`: `autoScalingGroupName`, `activity.autoScalingGroupName`, `activities[].autoScalingGroupName`, `autoScalingInstances[].autoScalingGroupName` |
//! | [`Rule::Account`] | nothing: the call is about the account (limits, types, launch configurations) |
//!
//! [`ACTIONS`] lists every action of the API (the AWS SDK's operation list) with the rule it
//! relies on; the tests prove each one with a realistic record.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::item;

/// How a known action names its group(s). Documentation and test oracle: [`groups`] applies
/// all the rules to every call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// `autoScalingGroupName` in the request (a name or a group ARN).
    Group,
    /// `autoScalingGroupNames[]` in the request; an empty or absent list means every group
    /// (the account partition).
    GroupList,
    /// `tags[]` of `resourceType` `auto-scaling-group`: their `resourceId`s.
    Tags,
    /// The `auto-scaling-group` filter's `values[]` (DescribeTags).
    TagFilter,
    /// `autoScalingGroupName` when given, else the group inside a scaling policy ARN.
    PolicyArn,
    /// The request names instances only; the response names their group(s).
    Response,
    /// `autoScalingGroupName` in the request, and the response's activities.
    GroupAndResponse,
    /// Names no group.
    Account,
}

/// Every EC2 Auto Scaling API action (66, from the AWS SDK's operation list, `aws-sdk-autoscaling`
/// `src/operation/`), with the rule that attributes it.
pub const ACTIONS: &[(&str, Rule)] = &[
    ("AttachInstances", Rule::GroupAndResponse),
    ("AttachLoadBalancerTargetGroups", Rule::Group),
    ("AttachLoadBalancers", Rule::Group),
    ("AttachTrafficSources", Rule::Group),
    ("BatchDeleteScheduledAction", Rule::Group),
    ("BatchPutScheduledUpdateGroupAction", Rule::Group),
    ("CancelInstanceRefresh", Rule::Group),
    ("CompleteLifecycleAction", Rule::Group),
    ("CreateAutoScalingGroup", Rule::Group),
    ("CreateLaunchConfiguration", Rule::Account),
    ("CreateOrUpdateTags", Rule::Tags),
    ("DeleteAutoScalingGroup", Rule::Group),
    ("DeleteLaunchConfiguration", Rule::Account),
    ("DeleteLifecycleHook", Rule::Group),
    ("DeleteNotificationConfiguration", Rule::Group),
    ("DeletePolicy", Rule::PolicyArn),
    ("DeleteScheduledAction", Rule::Group),
    ("DeleteTags", Rule::Tags),
    ("DeleteWarmPool", Rule::Group),
    ("DescribeAccountLimits", Rule::Account),
    ("DescribeAdjustmentTypes", Rule::Account),
    ("DescribeAutoScalingGroups", Rule::GroupList),
    ("DescribeAutoScalingInstances", Rule::Response),
    ("DescribeAutoScalingNotificationTypes", Rule::Account),
    ("DescribeInstanceRefreshes", Rule::Group),
    ("DescribeLaunchConfigurations", Rule::Account),
    ("DescribeLifecycleHookTypes", Rule::Account),
    ("DescribeLifecycleHooks", Rule::Group),
    ("DescribeLoadBalancerTargetGroups", Rule::Group),
    ("DescribeLoadBalancers", Rule::Group),
    ("DescribeMetricCollectionTypes", Rule::Account),
    ("DescribeNotificationConfigurations", Rule::GroupList),
    ("DescribePolicies", Rule::PolicyArn),
    ("DescribeScalingActivities", Rule::Group),
    ("DescribeScalingProcessTypes", Rule::Account),
    ("DescribeScheduledActions", Rule::Group),
    ("DescribeTags", Rule::TagFilter),
    ("DescribeTerminationPolicyTypes", Rule::Account),
    ("DescribeTrafficSources", Rule::Group),
    ("DescribeWarmPool", Rule::Group),
    ("DetachInstances", Rule::GroupAndResponse),
    ("DetachLoadBalancerTargetGroups", Rule::Group),
    ("DetachLoadBalancers", Rule::Group),
    ("DetachTrafficSources", Rule::Group),
    ("DisableMetricsCollection", Rule::Group),
    ("EnableMetricsCollection", Rule::Group),
    ("EnterStandby", Rule::GroupAndResponse),
    ("ExecutePolicy", Rule::PolicyArn),
    ("ExitStandby", Rule::GroupAndResponse),
    ("GetPredictiveScalingForecast", Rule::Group),
    ("LaunchInstances", Rule::GroupAndResponse),
    ("PutLifecycleHook", Rule::Group),
    ("PutNotificationConfiguration", Rule::Group),
    ("PutScalingPolicy", Rule::Group),
    ("PutScheduledUpdateGroupAction", Rule::Group),
    ("PutWarmPool", Rule::Group),
    ("RecordLifecycleActionHeartbeat", Rule::Group),
    ("ResumeProcesses", Rule::Group),
    ("RollbackInstanceRefresh", Rule::Group),
    ("SetDesiredCapacity", Rule::Group),
    ("SetInstanceHealth", Rule::Account),
    ("SetInstanceProtection", Rule::Group),
    ("StartInstanceRefresh", Rule::Group),
    ("SuspendProcesses", Rule::Group),
    ("TerminateInstanceInAutoScalingGroup", Rule::Response),
    ("UpdateAutoScalingGroup", Rule::Group),
];

/// The rule of a known action; `None` for an action this table does not know yet (it is still
/// attributed by [`groups`]).
#[must_use]
pub fn rule_for(event_name: &str) -> Option<Rule> {
    ACTIONS
        .binary_search_by(|(name, _)| (*name).cmp(event_name))
        .ok()
        .map(|i| ACTIONS[i].1)
}

/// The tag `resourceType` of a group.
const GROUP_RESOURCE_TYPE: &str = "auto-scaling-group";

/// Every group an EC2 Auto Scaling call names, sorted and distinct (empty: the account
/// partition). Applies all the rules of the module to `requestParameters` and
/// `responseElements`; anything of an unexpected shape is ignored.
#[must_use]
pub fn groups(request: Option<&Value>, response: Option<&Value>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut add = |value: Option<&Value>, from: fn(&str) -> Option<&str>| {
        if let Some(name) = value.and_then(Value::as_str).and_then(from) {
            found.insert(name.to_owned());
        }
    };
    if let Some(req) = request.filter(|v| v.is_object()) {
        add(req.get("autoScalingGroupName"), item::group_name_from);
        for name in list(req.get("autoScalingGroupNames")) {
            add(Some(name), item::group_name_from);
        }
        for tag in list(req.get("tags")) {
            let kind = tag.get("resourceType").and_then(Value::as_str);
            // The API knows no other resource type; a tag without one still names a group.
            if kind.is_none_or(|k| k == GROUP_RESOURCE_TYPE) {
                add(tag.get("resourceId"), item::group_name_from);
            }
        }
        for filter in list(req.get("filters")) {
            if filter.get("name").and_then(Value::as_str) == Some(GROUP_RESOURCE_TYPE) {
                for name in list(filter.get("values")) {
                    add(Some(name), item::group_name_from);
                }
            }
        }
        add(req.get("policyName"), item::group_name_in_arn);
        for name in list(req.get("policyNames")) {
            add(Some(name), item::group_name_in_arn);
        }
    }
    if let Some(resp) = response.filter(|v| v.is_object()) {
        add(resp.get("autoScalingGroupName"), item::group_name_from);
        add(resp.get("policyARN"), item::group_name_in_arn);
        if let Some(activity) = resp.get("activity") {
            add(activity.get("autoScalingGroupName"), item::group_name_from);
        }
        for key in ["activities", "autoScalingInstances"] {
            for entry in list(resp.get(key)) {
                add(entry.get("autoScalingGroupName"), item::group_name_from);
            }
        }
    }
    found
}

/// The elements of an array, none for anything else.
fn list(value: Option<&Value>) -> &[Value] {
    value.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ARN: &str = "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:5e1c1f7e-1111-2222-3333-444455556666:autoScalingGroupName/web-asg";
    const POLICY_ARN: &str = "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:7f3e2d1c-aaaa-bbbb-cccc-0123456789ab:autoScalingGroupName/web-asg:policyName/cpu50";

    fn activity(group: &str, instance: &str, verb: &str) -> Value {
        json!({
            "activityId": "f9f2d65b-f1f2-43e7-b46d-d86756459699",
            "autoScalingGroupName": group,
            "description": format!("{verb} EC2 instance: {instance}"),
            "cause": format!("At 2024-03-05T12:00:00Z instance {instance} was taken out of service in response to a user request."),
            "startTime": "Mar 5, 2024, 12:00:00 PM",
            "statusCode": "InProgress",
            "progress": 0,
            "details": "{\"Subnet ID\":\"subnet-0c1174f87ac8ed0d6\",\"Availability Zone\":\"us-east-1b\"}"
        })
    }

    /// One realistic call per action (as CloudTrail logs them: camelCase parameters, `null`
    /// for the responses it does not log) and the groups it must be filed under. Variants of
    /// an action follow its first row.
    fn cases() -> Vec<(&'static str, Value, Value, Vec<&'static str>)> {
        vec![
            (
                "AttachInstances",
                json!({"instanceIds": ["i-0a1b2c3d4e5f60718"], "autoScalingGroupName": "web-asg"}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "AttachLoadBalancerTargetGroups",
                json!({"autoScalingGroupName": "web-asg", "targetGroupARNs": ["arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"]}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "AttachLoadBalancers",
                json!({"autoScalingGroupName": "web-asg", "loadBalancerNames": ["web-clb"]}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "AttachTrafficSources",
                json!({"autoScalingGroupName": "web-asg", "trafficSources": [{"identifier": "arn:aws:vpc-lattice:us-east-1:123456789012:targetgroup/tg-0123456789abcdef0", "type": "vpc-lattice"}]}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "BatchDeleteScheduledAction",
                json!({"autoScalingGroupName": "web-asg", "scheduledActionNames": ["scale-up-mornings", "scale-down-nights"]}),
                json!({"failedScheduledActions": []}),
                vec!["web-asg"],
            ),
            (
                "BatchPutScheduledUpdateGroupAction",
                json!({"autoScalingGroupName": "web-asg", "scheduledUpdateGroupActions": [{"scheduledActionName": "scale-up-mornings", "recurrence": "0 7 * * MON-FRI", "desiredCapacity": 6}]}),
                json!({"failedScheduledUpdateGroupActions": []}),
                vec!["web-asg"],
            ),
            (
                "CancelInstanceRefresh",
                json!({"autoScalingGroupName": "web-asg"}),
                json!({"instanceRefreshId": "08b91cf7-8fa6-48af-b6a6-d227f40f1b9b"}),
                vec!["web-asg"],
            ),
            (
                "CompleteLifecycleAction",
                json!({"lifecycleHookName": "drain", "autoScalingGroupName": "web-asg", "lifecycleActionResult": "CONTINUE", "instanceId": "i-0a1b2c3d4e5f60718"}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "CreateAutoScalingGroup",
                json!({"autoScalingGroupName": "web-asg", "launchTemplate": {"launchTemplateId": "lt-097cdbb748360216c", "version": "$Latest"}, "minSize": 1, "maxSize": 4, "vPCZoneIdentifier": "subnet-0a2f1fe14c3bf603a", "tags": [{"resourceId": "web-asg", "resourceType": "auto-scaling-group", "key": "team", "value": "web", "propagateAtLaunch": true}]}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "CreateLaunchConfiguration",
                json!({"launchConfigurationName": "lc-1", "imageId": "ami-6cd6f714d79675a5", "instanceType": "t2.micro"}),
                Value::Null,
                vec![],
            ),
            (
                "CreateOrUpdateTags",
                json!({"tags": [{"resourceId": "web-asg", "resourceType": "auto-scaling-group", "key": "team", "value": "web", "propagateAtLaunch": true}, {"resourceId": "api-asg", "resourceType": "auto-scaling-group", "key": "team", "value": "web", "propagateAtLaunch": true}, {"resourceId": "web-asg", "resourceType": "auto-scaling-group", "key": "env", "value": "prod", "propagateAtLaunch": false}]}),
                Value::Null,
                vec!["api-asg", "web-asg"],
            ),
            (
                "CreateOrUpdateTags",
                json!({"tags": [{"resourceId": "web-asg", "key": "team", "value": "web"}, {"resourceId": "x", "resourceType": "something-else", "key": "k"}]}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "DeleteAutoScalingGroup",
                json!({"autoScalingGroupName": "web-asg", "forceDelete": true}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "DeleteLaunchConfiguration",
                json!({"launchConfigurationName": "lc-1"}),
                Value::Null,
                vec![],
            ),
            (
                "DeleteLifecycleHook",
                json!({"lifecycleHookName": "drain", "autoScalingGroupName": "web-asg"}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "DeleteNotificationConfiguration",
                json!({"autoScalingGroupName": "web-asg", "topicARN": "arn:aws:sns:us-east-1:123456789012:asg-events"}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "DeletePolicy",
                json!({"autoScalingGroupName": "web-asg", "policyName": "cpu50"}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "DeletePolicy",
                json!({"policyName": POLICY_ARN}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "DeletePolicy",
                json!({"policyName": "cpu50"}),
                Value::Null,
                vec![],
            ),
            (
                "DeleteScheduledAction",
                json!({"autoScalingGroupName": "web-asg", "scheduledActionName": "scale-up-mornings"}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "DeleteTags",
                json!({"tags": [{"resourceId": "api-asg", "resourceType": "auto-scaling-group", "key": "team"}]}),
                Value::Null,
                vec!["api-asg"],
            ),
            (
                "DeleteWarmPool",
                json!({"autoScalingGroupName": "web-asg", "forceDelete": false}),
                Value::Null,
                vec!["web-asg"],
            ),
            ("DescribeAccountLimits", Value::Null, Value::Null, vec![]),
            ("DescribeAdjustmentTypes", Value::Null, Value::Null, vec![]),
            (
                "DescribeAutoScalingGroups",
                json!({"autoScalingGroupNames": ["web-asg", "api-asg", "web-asg"], "maxRecords": 100}),
                Value::Null,
                vec!["api-asg", "web-asg"],
            ),
            (
                "DescribeAutoScalingGroups",
                json!({"autoScalingGroupNames": [], "maxRecords": 100}),
                Value::Null,
                vec![],
            ),
            (
                "DescribeAutoScalingGroups",
                json!({"maxRecords": 100}),
                Value::Null,
                vec![],
            ),
            (
                "DescribeAutoScalingGroups",
                json!({"filters": [{"name": "tag:team", "values": ["web"]}]}),
                Value::Null,
                vec![],
            ),
            (
                "DescribeAutoScalingInstances",
                json!({"instanceIds": ["i-0a1b2c3d4e5f60718"]}),
                Value::Null,
                vec![],
            ),
            (
                "DescribeAutoScalingInstances",
                json!({"instanceIds": ["i-0a1b2c3d4e5f60718"]}),
                json!({"autoScalingInstances": [{"instanceId": "i-0a1b2c3d4e5f60718", "autoScalingGroupName": "web-asg", "lifecycleState": "InService"}]}),
                vec!["web-asg"],
            ),
            (
                "DescribeAutoScalingNotificationTypes",
                Value::Null,
                Value::Null,
                vec![],
            ),
            (
                "DescribeInstanceRefreshes",
                json!({"autoScalingGroupName": "web-asg", "instanceRefreshIds": ["08b91cf7-8fa6-48af-b6a6-d227f40f1b9b"]}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "DescribeLaunchConfigurations",
                json!({"launchConfigurationNames": ["lc-1"]}),
                Value::Null,
                vec![],
            ),
            ("DescribeLifecycleHookTypes", json!({}), Value::Null, vec![]),
            (
                "DescribeLifecycleHooks",
                json!({"autoScalingGroupName": "web-asg"}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "DescribeLoadBalancerTargetGroups",
                json!({"autoScalingGroupName": "web-asg"}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "DescribeLoadBalancers",
                json!({"autoScalingGroupName": "web-asg"}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "DescribeMetricCollectionTypes",
                Value::Null,
                Value::Null,
                vec![],
            ),
            (
                "DescribeNotificationConfigurations",
                json!({"autoScalingGroupNames": ["web-asg", "api-asg"]}),
                Value::Null,
                vec!["api-asg", "web-asg"],
            ),
            (
                "DescribeNotificationConfigurations",
                json!({}),
                Value::Null,
                vec![],
            ),
            (
                "DescribePolicies",
                json!({"autoScalingGroupName": "web-asg", "policyTypes": ["TargetTrackingScaling"]}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "DescribePolicies",
                json!({"policyNames": [POLICY_ARN, "plain-name"]}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "DescribePolicies",
                json!({"maxRecords": 50}),
                Value::Null,
                vec![],
            ),
            (
                "DescribeScalingActivities",
                json!({"autoScalingGroupName": "web-asg", "includeDeletedGroups": true}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "DescribeScalingProcessTypes",
                Value::Null,
                Value::Null,
                vec![],
            ),
            (
                "DescribeScheduledActions",
                json!({"autoScalingGroupName": "web-asg"}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "DescribeTags",
                json!({"filters": [{"name": "auto-scaling-group", "values": ["web-asg", "api-asg"]}, {"name": "key", "values": ["team"]}]}),
                Value::Null,
                vec!["api-asg", "web-asg"],
            ),
            (
                "DescribeTags",
                json!({"filters": [{"name": "key", "values": ["team"]}]}),
                Value::Null,
                vec![],
            ),
            (
                "DescribeTerminationPolicyTypes",
                Value::Null,
                Value::Null,
                vec![],
            ),
            (
                "DescribeTrafficSources",
                json!({"autoScalingGroupName": "web-asg", "trafficSourceType": "vpc-lattice"}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "DescribeWarmPool",
                json!({"autoScalingGroupName": "web-asg"}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "DetachInstances",
                json!({"instanceIds": ["i-0a1b2c3d4e5f60718"], "autoScalingGroupName": "web-asg", "shouldDecrementDesiredCapacity": true}),
                json!({"activities": [activity("web-asg", "i-0a1b2c3d4e5f60718", "Detaching")]}),
                vec!["web-asg"],
            ),
            (
                "DetachLoadBalancerTargetGroups",
                json!({"autoScalingGroupName": "web-asg", "targetGroupARNs": ["arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"]}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "DetachLoadBalancers",
                json!({"autoScalingGroupName": "web-asg", "loadBalancerNames": ["web-clb"]}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "DetachTrafficSources",
                json!({"autoScalingGroupName": "web-asg", "trafficSources": [{"identifier": "web-clb", "type": "elb"}]}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "DisableMetricsCollection",
                json!({"autoScalingGroupName": "web-asg", "metrics": ["GroupMinSize"]}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "EnableMetricsCollection",
                json!({"autoScalingGroupName": "web-asg", "granularity": "1Minute"}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "EnterStandby",
                json!({"instanceIds": ["i-0a1b2c3d4e5f60718"], "autoScalingGroupName": "web-asg", "shouldDecrementDesiredCapacity": true}),
                json!({"activities": [activity("web-asg", "i-0a1b2c3d4e5f60718", "Moving to Standby")]}),
                vec!["web-asg"],
            ),
            (
                "ExecutePolicy",
                json!({"autoScalingGroupName": "web-asg", "policyName": "scale-out", "honorCooldown": true}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "ExecutePolicy",
                json!({"policyName": POLICY_ARN, "metricValue": 75.5, "breachThreshold": 50.0}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "ExitStandby",
                json!({"instanceIds": ["i-0a1b2c3d4e5f60718"], "autoScalingGroupName": "web-asg"}),
                json!({"activities": [activity("web-asg", "i-0a1b2c3d4e5f60718", "Moving from Standby")]}),
                vec!["web-asg"],
            ),
            (
                "GetPredictiveScalingForecast",
                json!({"autoScalingGroupName": "web-asg", "policyName": "predictive-cpu", "startTime": "Mar 5, 2024, 12:00:00 AM", "endTime": "Mar 7, 2024, 12:00:00 AM"}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "LaunchInstances",
                json!({"autoScalingGroupName": "web-asg", "requestedCapacity": 2, "clientToken": "2d1c0e9f-launch", "subnetIds": ["subnet-0a2f1fe14c3bf603a"]}),
                json!({"autoScalingGroupName": "web-asg", "clientToken": "2d1c0e9f-launch", "instances": [], "errors": []}),
                vec!["web-asg"],
            ),
            (
                "PutLifecycleHook",
                json!({"lifecycleHookName": "drain", "autoScalingGroupName": "web-asg", "lifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING", "heartbeatTimeout": 300, "defaultResult": "CONTINUE"}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "PutNotificationConfiguration",
                json!({"autoScalingGroupName": "web-asg", "topicARN": "arn:aws:sns:us-east-1:123456789012:asg-events", "notificationTypes": ["autoscaling:EC2_INSTANCE_LAUNCH"]}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "PutScalingPolicy",
                json!({"autoScalingGroupName": "web-asg", "policyName": "cpu50", "policyType": "TargetTrackingScaling", "targetTrackingConfiguration": {"predefinedMetricSpecification": {"predefinedMetricType": "ASGAverageCPUUtilization"}, "targetValue": 50.0}}),
                json!({"policyARN": POLICY_ARN, "alarms": []}),
                vec!["web-asg"],
            ),
            (
                "PutScheduledUpdateGroupAction",
                json!({"autoScalingGroupName": "web-asg", "scheduledActionName": "scale-up-mornings", "recurrence": "0 7 * * MON-FRI", "minSize": 2}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "PutWarmPool",
                json!({"autoScalingGroupName": "web-asg", "poolState": "Stopped", "minSize": 2}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "RecordLifecycleActionHeartbeat",
                json!({"lifecycleHookName": "drain", "autoScalingGroupName": "web-asg", "instanceId": "i-0a1b2c3d4e5f60718"}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "ResumeProcesses",
                json!({"autoScalingGroupName": "web-asg", "scalingProcesses": ["AZRebalance"]}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "RollbackInstanceRefresh",
                json!({"autoScalingGroupName": ARN}),
                json!({"instanceRefreshId": "08b91cf7-8fa6-48af-b6a6-d227f40f1b9b"}),
                vec!["web-asg"],
            ),
            (
                "SetDesiredCapacity",
                json!({"autoScalingGroupName": "web-asg", "desiredCapacity": 3, "honorCooldown": false}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "SetInstanceHealth",
                json!({"instanceId": "i-0a1b2c3d4e5f60718", "healthStatus": "Unhealthy", "shouldRespectGracePeriod": false}),
                Value::Null,
                vec![],
            ),
            (
                "SetInstanceProtection",
                json!({"instanceIds": ["i-0a1b2c3d4e5f60718"], "autoScalingGroupName": "web-asg", "protectedFromScaleIn": true}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "StartInstanceRefresh",
                json!({"autoScalingGroupName": ARN, "strategy": "Rolling", "preferences": {"minHealthyPercentage": 90}}),
                json!({"instanceRefreshId": "08b91cf7-8fa6-48af-b6a6-d227f40f1b9b"}),
                vec!["web-asg"],
            ),
            (
                "SuspendProcesses",
                json!({"autoScalingGroupName": "web-asg", "scalingProcesses": ["AZRebalance", "ReplaceUnhealthy"]}),
                Value::Null,
                vec!["web-asg"],
            ),
            (
                "TerminateInstanceInAutoScalingGroup",
                json!({"instanceId": "i-0a1b2c3d4e5f60718", "shouldDecrementDesiredCapacity": false}),
                json!({"activity": activity("web-asg", "i-0a1b2c3d4e5f60718", "Terminating")}),
                vec!["web-asg"],
            ),
            // CloudTrail leaves out responseElements above 100 KB, and failed calls have none.
            (
                "TerminateInstanceInAutoScalingGroup",
                json!({"instanceId": "i-0a1b2c3d4e5f60718", "shouldDecrementDesiredCapacity": false}),
                Value::Null,
                vec![],
            ),
            (
                "UpdateAutoScalingGroup",
                json!({"autoScalingGroupName": "web-asg", "maxSize": 6, "minSize": 2}),
                Value::Null,
                vec!["web-asg"],
            ),
        ]
    }

    fn opt(v: &Value) -> Option<&Value> {
        (!v.is_null()).then_some(v)
    }

    #[test]
    fn every_action_of_the_api_is_attributed_as_its_rule_says() {
        let cases = cases();
        for (name, request, response, want) in &cases {
            let got = groups(opt(request), opt(response));
            let got: Vec<&str> = got.iter().map(String::as_str).collect();
            assert_eq!(&got, want, "{name}: {request} / {response}");
            let rule = rule_for(name).unwrap_or_else(|| panic!("{name} is not in ACTIONS"));
            // The rule agrees with the outcome: only Account (and responses that were left
            // out or lists that were empty) give the account partition.
            if rule == Rule::Account {
                assert!(want.is_empty(), "{name} is Account but names {want:?}");
            }
        }
        for (name, rule) in ACTIONS {
            let rows: Vec<_> = cases.iter().filter(|(n, ..)| n == name).collect();
            assert!(!rows.is_empty(), "{name} has no test case");
            if *rule != Rule::Account {
                assert!(
                    rows.iter().any(|(.., want)| !want.is_empty()),
                    "{name} ({rule:?}) never names a group in its cases"
                );
            }
        }
    }

    #[test]
    fn the_action_table_is_the_sdks_66_operations_sorted() {
        assert_eq!(ACTIONS.len(), 66);
        assert!(
            ACTIONS.windows(2).all(|w| w[0].0 < w[1].0),
            "sorted and distinct (rule_for searches it)"
        );
        assert_eq!(rule_for("SetDesiredCapacity"), Some(Rule::Group));
        assert_eq!(rule_for("AttachInstances"), Some(Rule::GroupAndResponse));
        assert_eq!(rule_for("UpdateAutoScalingGroup"), Some(Rule::Group));
        assert_eq!(rule_for("CreateAutoScalingGroupV2"), None);
    }

    #[test]
    fn unknown_actions_are_attributed_by_the_generic_rules() {
        let request = json!({"autoScalingGroupName": "future-asg", "newThing": {"x": 1}});
        assert_eq!(
            groups(Some(&request), None),
            BTreeSet::from(["future-asg".to_owned()])
        );
        assert!(groups(Some(&json!({"somethingElse": "x"})), None).is_empty());
    }

    #[test]
    fn unexpected_shapes_name_nothing_and_never_panic() {
        for request in [
            json!("text"),
            json!([1, 2]),
            json!({"autoScalingGroupName": 5}),
            json!({"autoScalingGroupName": ""}),
            json!({"autoScalingGroupNames": "web-asg"}),
            json!({"autoScalingGroupNames": [null, 3, ""]}),
            json!({"tags": {"resourceId": "web-asg"}}),
            json!({"tags": [1, "x", {"resourceId": 7}]}),
            json!({"filters": [{"name": "auto-scaling-group", "values": "web-asg"}]}),
            json!({"policyName": ["x"]}),
        ] {
            assert!(groups(Some(&request), None).is_empty(), "{request}");
        }
        for response in [
            json!({"activity": "x"}),
            json!({"activities": {"autoScalingGroupName": "web-asg"}}),
            json!({"activities": [null, {"autoScalingGroupName": null}]}),
            json!([{"autoScalingGroupName": "web-asg"}]),
        ] {
            assert!(groups(None, Some(&response)).is_empty(), "{response}");
        }
    }
}
