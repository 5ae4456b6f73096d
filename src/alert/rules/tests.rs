use super::*;

/// A change by `(type, role, user name)` to `web-asg`.
fn call(kind: &str, role: Option<&str>, user: &str) -> Item {
    Item {
        group_name: "web-asg".into(),
        event_id: "e1".into(),
        event_time: "2024-03-05T12:00:00Z".into(),
        event_name: Some("SetDesiredCapacity".into()),
        read_only: Some(false),
        account_id: "123456789012".into(),
        aws_region: Some("us-east-1".into()),
        user_identity_type: Some(kind.into()),
        role_name: role.map(str::to_owned),
        user_name: Some(user.into()),
        user_agent: Some("aws-cli/2.15.0".into()),
        ..Item::default()
    }
}

fn sso() -> Item {
    call(
        "AssumedRole",
        Some("AWSReservedSSO_Admin_0123456789abcdef"),
        "alice@example.com",
    )
}

#[test]
fn the_default_alerts_on_people_and_never_on_automation() {
    let rules = Rules::parse("").expect("the default");
    assert_eq!(rules, Rules::parse(DEFAULT_RULE).expect("the same"));
    let deploy = call("AssumedRole", Some("deploy"), "deploy");
    let mut console = deploy.clone();
    console.session_credential_from_console = Some(true);
    let mut invoked = sso();
    invoked.invoked_by = Some("cloudformation.amazonaws.com".into());
    let mut autoscaler = call(
        "AssumedRole",
        Some("eks-prod-a-cluster-autoscaler"),
        "eks-prod-a-cluster-autoscaler",
    );
    let mut failed = sso();
    failed.error_code = Some("AccessDenied".into());
    let cases = [
        (call("IAMUser", None, "bob"), true, "an IAM user"),
        (call("Root", None, "root"), true, "the root user"),
        (sso(), true, "an SSO session"),
        (console, true, "a console session of any role"),
        (failed, true, "a failed call"),
        (deploy, false, "a role that is not a person"),
        (invoked, false, "a service acting for a person"),
        (
            call(
                "AssumedRole",
                Some("AWSServiceRoleForAmazonEKSNodegroup"),
                "x",
            ),
            false,
            "a service-linked role",
        ),
        (
            call("AssumedRole", Some("eksctl-prod-NodeInstanceRole-ABC"), "x"),
            false,
            "an EKS node role",
        ),
        (autoscaler.clone(), false, "a cluster-autoscaler"),
    ];
    for (item, alerts, what) in cases {
        assert_eq!(rules.alerts(&item), alerts, "{what}");
    }
    // Even `by=anyone` never alerts on the built-in automation.
    let anyone = Rules::parse("by=anyone").expect("parses");
    autoscaler.user_identity_type = Some("IAMUser".into());
    assert!(!anyone.alerts(&autoscaler));
    assert!(anyone.alerts(&call("AssumedRole", Some("deploy"), "deploy")));
}

#[test]
fn read_only_calls_activities_and_service_actions_do_not_alert() {
    let rules = Rules::default();
    let mut read = sso();
    read.read_only = Some(true);
    let mut activity = sso();
    activity.origin = Origin::Activity;
    let mut service = sso();
    service.origin = Origin::Service;
    for item in [read, activity, service] {
        assert!(!rules.alerts(&item), "{item:?}");
    }
}

#[test]
fn a_rule_narrows_groups_accounts_regions_calls_and_callers() {
    let rules = Rules::parse(
        "groups=prod-*,web-asg accounts=123456789012 regions=us-* calls=SetDesiredCapacity,Delete* ignore=bob,agent:*terraform*",
    )
    .expect("parses");
    let yes = sso();
    assert!(rules.alerts(&yes));
    let mut other = sso();
    other.group_name = "dev-asg".into();
    let mut account = sso();
    account.account_id = "210987654321".into();
    let mut region = sso();
    region.aws_region = Some("eu-west-1".into());
    let mut name = sso();
    name.event_name = Some("UpdateAutoScalingGroup".into());
    let bob = call("IAMUser", None, "bob");
    let mut terraform = sso();
    terraform.user_agent = Some("APN/1.0 HashiCorp/1.0 Terraform/1.7.0".into());
    for item in [other, account, region, name, bob, terraform] {
        assert!(!rules.alerts(&item), "{item:?}");
    }
    let mut delete = sso();
    delete.event_name = Some("DeleteAutoScalingGroup".into());
    assert!(rules.alerts(&delete));
}

#[test]
fn any_rule_matching_is_enough_and_off_is_none() {
    let rules = Rules::parse("groups=api-*; groups=web-*").expect("parses");
    assert_eq!(rules.0.len(), 2);
    assert!(rules.alerts(&sso()));
    let off = Rules::parse("off").expect("parses");
    assert!(off.is_off() && !off.alerts(&sso()));
}

#[test]
fn a_malformed_rule_is_named_with_its_place_and_reason() {
    let cases = [
        ("groups=web-*; colour=red", 2, "unknown key"),
        ("groups", 1, "not key=value"),
        ("by=robots", 1, "person or anyone"),
        ("accounts=12345", 1, "12-digit"),
        ("groups=a groups=b", 1, "given twice"),
        ("calls=", 1, "has no value"),
        ("calls=change,SetDesiredCapacity", 1, "stands alone"),
        ("ignore=agent:", 1, "no pattern"),
    ];
    for (setting, index, reason) in cases {
        let e = Rules::parse(setting).expect_err(setting);
        assert_eq!(e.index, index, "{setting}");
        assert!(e.reason.contains(reason), "{setting}: {e}");
        assert!(e.to_string().contains(&format!("rule {index}")), "{e}");
    }
}

#[test]
fn globs() {
    for (p, v, m) in [
        ("*", "", true),
        ("web-*", "web-asg", true),
        ("web-*", "api-web-asg", false),
        ("*-asg", "web-asg", true),
        ("a*b*c", "aXbYc", true),
        ("a*b*c", "aXcYb", false),
        ("exact", "exact", true),
        ("exact", "exactly", false),
        ("ab*ba", "aba", false),
    ] {
        assert_eq!(glob(p, v), m, "{p} {v}");
    }
}
