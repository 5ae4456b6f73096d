//! The alert rules (`ALERT_RULES`): their syntax, their parser, and the one test "does this
//! change alert". Pure.
//!
//! A setting holds rules separated by `;`. A rule is terms separated by spaces; a term is
//! `key=value[,value...]`. Every key may be left out (its default in brackets):
//!
//! * `groups=` group name patterns \[`*`\]; `*` matches any run of characters;
//! * `accounts=` 12-digit account IDs or patterns \[`*`\];
//! * `regions=` region patterns \[`*`\];
//! * `calls=` event name patterns, or `change` for every call that is not read-only \[`change`\];
//! * `by=` `person` (an IAM user, the root user, an IAM Identity Center session or any console
//!   session) or `anyone` \[`person`\];
//! * `ignore=` callers that count as automation besides the built-in ones: patterns matched
//!   against the caller's `userName`, `roleName` and `userArn`, or, prefixed `agent:`, its
//!   `userAgent` (in any case).
//!
//! An empty setting, or `default`, is the [default rule](DEFAULT_RULE); `off` is no rule. A
//! change alerts when any rule matches it. Whatever the rules say, the built-in automation
//! never alerts ([`is_automation`]): AWS services acting for a caller (`invokedBy`),
//! service-linked roles (`AWSServiceRoleFor*`), Auto Scaling itself, EKS node roles and
//! cluster-autoscaler sessions. Neither do activities nor Auto Scaling's own EC2 calls.

use crate::extract::{AUTOSCALING_EVENT_SOURCE, SSO_ROLE_PREFIX};
use crate::item::{Item, Origin};

/// The rule used when `ALERT_RULES` is empty: every change to any group, by a person.
pub const DEFAULT_RULE: &str = "groups=* calls=change by=person";

/// A rule that does not parse: which one (1-based, and its text) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule {index} ({text:?}): {reason}")]
pub struct RuleError {
    /// The rule's place in the setting, from 1.
    pub index: usize,
    /// The rule as written.
    pub text: String,
    /// Why it does not parse.
    pub reason: String,
}

/// Who a rule alerts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callers {
    /// People only ([`is_person`]).
    Person,
    /// Any caller that is not automation.
    Anyone,
}

/// Which calls a rule alerts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Calls {
    /// Every call that is not read-only.
    Change,
    /// Calls whose event name matches one of these patterns.
    Named(Vec<String>),
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Group name patterns.
    pub groups: Vec<String>,
    /// Account patterns.
    pub accounts: Vec<String>,
    /// Region patterns.
    pub regions: Vec<String>,
    /// The calls.
    pub calls: Calls,
    /// The callers.
    pub by: Callers,
    /// More automation: caller patterns (`userName`, `roleName`, `userArn`).
    pub ignore_callers: Vec<String>,
    /// More automation: `userAgent` patterns (`agent:` in the setting).
    pub ignore_agents: Vec<String>,
}

impl Default for Rule {
    /// The [default rule](DEFAULT_RULE).
    fn default() -> Self {
        Self {
            groups: vec!["*".into()],
            accounts: vec!["*".into()],
            regions: vec!["*".into()],
            calls: Calls::Change,
            by: Callers::Person,
            ignore_callers: Vec::new(),
            ignore_agents: Vec::new(),
        }
    }
}

/// The rules of `ALERT_RULES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules(pub Vec<Rule>);

impl Default for Rules {
    /// The default rule alone.
    fn default() -> Self {
        Self(vec![Rule::default()])
    }
}

impl Rules {
    /// Parses a setting (see the module docs).
    ///
    /// # Errors
    /// A [`RuleError`] naming the first rule that does not parse.
    pub fn parse(setting: &str) -> Result<Self, RuleError> {
        match setting.trim() {
            "" | "default" => return Ok(Self::default()),
            "off" => return Ok(Self(Vec::new())),
            _ => {}
        }
        let rules = setting
            .split(';')
            .enumerate()
            .filter(|(_, text)| !text.trim().is_empty())
            .map(|(i, text)| {
                parse_rule(text).map_err(|reason| RuleError {
                    index: i + 1,
                    text: text.trim().to_owned(),
                    reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self(rules))
    }

    /// Whether no rule is set (`off`).
    #[must_use]
    pub fn is_off(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `item` (one group's item of a call) alerts under any rule.
    #[must_use]
    pub fn alerts(&self, item: &Item) -> bool {
        item.origin == Origin::Api
            && !is_automation(item)
            && self.0.iter().any(|rule| rule.matches(item))
    }
}

fn parse_rule(text: &str) -> Result<Rule, String> {
    let mut rule = Rule::default();
    let mut seen = Vec::new();
    for term in text.split_whitespace() {
        let (key, value) = term
            .split_once('=')
            .ok_or_else(|| format!("{term:?} is not key=value"))?;
        if seen.contains(&key) {
            return Err(format!("{key} is given twice"));
        }
        seen.push(key);
        let values: Vec<String> = value
            .split(',')
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect();
        if values.is_empty() {
            return Err(format!("{key}= has no value"));
        }
        set(&mut rule, key, values)?;
    }
    Ok(rule)
}

fn set(rule: &mut Rule, key: &str, values: Vec<String>) -> Result<(), String> {
    match key {
        "groups" => rule.groups = values,
        "accounts" => {
            if let Some(bad) = values.iter().find(|v| !is_account_pattern(v)) {
                return Err(format!("{bad:?} is not a 12-digit account ID or a pattern"));
            }
            rule.accounts = values;
        }
        "regions" => rule.regions = values,
        "calls" => {
            rule.calls = if values == ["change"] {
                Calls::Change
            } else if values.iter().any(|v| v == "change") {
                return Err("calls=change stands alone".into());
            } else {
                Calls::Named(values)
            };
        }
        "by" => {
            rule.by = match values.as_slice() {
                [v] if v == "person" => Callers::Person,
                [v] if v == "anyone" => Callers::Anyone,
                _ => return Err("by= is person or anyone".into()),
            };
        }
        "ignore" => {
            for v in values {
                match v.strip_prefix("agent:") {
                    Some("") => return Err("ignore=agent: has no pattern".into()),
                    Some(agent) => rule.ignore_agents.push(agent.to_owned()),
                    None => rule.ignore_callers.push(v),
                }
            }
        }
        other => {
            return Err(format!(
                "unknown key {other:?} (groups, accounts, regions, calls, by, ignore)"
            ));
        }
    }
    Ok(())
}

fn is_account_pattern(v: &str) -> bool {
    v.contains('*') || (v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit()))
}

impl Rule {
    /// Whether the rule matches `item` (automation aside, see [`Rules::alerts`]).
    #[must_use]
    pub fn matches(&self, item: &Item) -> bool {
        let any = |patterns: &[String], value: &str| patterns.iter().any(|p| glob(p, value));
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let calls = match &self.calls {
            Calls::Change => item.read_only != Some(true),
            Calls::Named(names) => any(names, &opt(&item.event_name)),
        };
        let caller = [&item.user_name, &item.role_name, &item.user_arn]
            .into_iter()
            .flatten()
            .any(|c| any(&self.ignore_callers, c));
        // User agents are matched without regard to case (`Terraform`, `terraform`).
        let agent = item.user_agent.as_deref().is_some_and(|a| {
            let a = a.to_ascii_lowercase();
            self.ignore_agents
                .iter()
                .any(|p| glob(&p.to_ascii_lowercase(), &a))
        });
        calls
            && any(&self.groups, &item.group_name)
            && any(&self.accounts, &item.account_id)
            && any(&self.regions, &opt(&item.aws_region))
            && (self.by == Callers::Anyone || is_person(item))
            && !caller
            && !agent
    }
}

/// Whether a call was made by a person: an IAM user, the root user, an IAM Identity Center
/// (SSO) session (`AWSReservedSSO_*`), or any console session (`sessionCredentialFromConsole`,
/// or a console user agent).
#[must_use]
pub fn is_person(item: &Item) -> bool {
    let kind = item.user_identity_type.as_deref().unwrap_or_default();
    matches!(kind, "IAMUser" | "Root")
        || item
            .role_name
            .as_deref()
            .is_some_and(|r| r.starts_with(SSO_ROLE_PREFIX))
        || item.session_credential_from_console == Some(true)
        || item.user_agent.as_deref().is_some_and(is_console_agent)
}

/// The user agents of the AWS console (`console.amazonaws.com`, `console.ec2.amazonaws.com`,
/// ...) and of a browser.
fn is_console_agent(agent: &str) -> bool {
    let lower = agent.to_ascii_lowercase();
    lower.starts_with("console.") || lower.contains("console.amazonaws.com")
}

/// Whether a call was made by automation that never alerts: an AWS service acting for the
/// caller (`invokedBy`), an AWS service principal, a service-linked role
/// (`AWSServiceRoleFor*`, EKS's node-group role among them), Auto Scaling itself, an EKS node
/// instance role, or a cluster-autoscaler session.
#[must_use]
pub fn is_automation(item: &Item) -> bool {
    let lower = |v: &Option<String>| v.as_deref().unwrap_or_default().to_ascii_lowercase();
    let (role, arn, agent, name) = (
        lower(&item.role_name),
        lower(&item.user_arn),
        lower(&item.user_agent),
        lower(&item.user_name),
    );
    item.invoked_by.is_some()
        || item.user_identity_type.as_deref() == Some("AWSService")
        || item.source_ip_address.as_deref() == Some(AUTOSCALING_EVENT_SOURCE)
        || role.starts_with("awsservicerolefor")
        || arn.contains("/awsservicerolefor")
        || role.contains("nodeinstancerole")
        || [&role, &arn, &agent, &name]
            .iter()
            .any(|v| v.contains("cluster-autoscaler"))
}

/// Whether `pattern` (`*` = any run of characters, anything else literal) matches all of
/// `value`.
#[must_use]
pub fn glob(pattern: &str, value: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = value.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests;
