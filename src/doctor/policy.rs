//! The permissions check: the function's role may read the log files (`s3:GetObject` under the
//! prefix) and write the table (`dynamodb:BatchWriteItem`). IAM's own simulation
//! (`SimulatePrincipalPolicy`) decides where it is available; elsewhere (denied, or a server
//! that lacks it) the role's inline and attached managed policies are evaluated here:
//! Allow/Deny statements, `Action`/`NotAction` and `Resource`/`NotResource` with `*` and `?`
//! wildcards, an explicit Deny winning. Conditions are not evaluated (a decision that hangs on
//! one is "cannot evaluate"), nor are permissions boundaries, SCPs or resource policies.

use serde_json::Value;

use super::{Check, names::PERMISSIONS};

/// A policy document that is not one.
#[derive(Debug, thiserror::Error)]
#[error("policy {name} is not a JSON policy document: {source}")]
pub struct PolicyError {
    /// The policy's name.
    pub name: String,
    /// Why.
    #[source]
    pub source: serde_json::Error,
}

/// The decision for one action on one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Allowed.
    Allowed,
    /// No statement allows it.
    ImplicitDeny,
    /// A statement denies it.
    ExplicitDeny,
    /// It hangs on a condition that was not evaluated.
    Conditional,
}

impl Decision {
    /// The decision named by IAM's simulation (`allowed`, `explicitDeny`, `implicitDeny`).
    #[must_use]
    pub fn from_simulation(decision: &str) -> Self {
        match decision {
            "allowed" => Self::Allowed,
            "explicitDeny" => Self::ExplicitDeny,
            _ => Self::ImplicitDeny,
        }
    }
}

/// One statement, as far as it is evaluated here.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    allow: bool,
    actions: Vec<String>,
    not_action: bool,
    resources: Vec<String>,
    not_resource: bool,
    conditional: bool,
}

/// The statements of a role's policies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policies(Vec<Statement>);

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => vec![],
    }
}

impl Policies {
    /// Adds a policy document (as IAM returns it: URL-encoded JSON, or plain JSON).
    ///
    /// # Errors
    /// The document is not JSON.
    pub fn add(&mut self, name: &str, document: &str) -> Result<(), PolicyError> {
        let decoded = percent_encoding::percent_decode_str(document).decode_utf8_lossy();
        let doc: Value = serde_json::from_str(&decoded).map_err(|source| PolicyError {
            name: name.to_owned(),
            source,
        })?;
        let statements = match doc.get("Statement") {
            Some(Value::Array(a)) => a.clone(),
            Some(one) => vec![one.clone()],
            None => vec![],
        };
        for s in statements {
            let not_action = s.get("NotAction").is_some();
            let not_resource = s.get("NotResource").is_some();
            self.0.push(Statement {
                allow: s.get("Effect").and_then(Value::as_str) == Some("Allow"),
                actions: strings(s.get(if not_action { "NotAction" } else { "Action" })),
                not_action,
                resources: strings(s.get(if not_resource {
                    "NotResource"
                } else {
                    "Resource"
                })),
                not_resource,
                conditional: s
                    .get("Condition")
                    .is_some_and(|c| c.as_object().is_none_or(|o| !o.is_empty())),
            });
        }
        Ok(())
    }

    /// The decision for `action` on `resource`.
    #[must_use]
    pub fn evaluate(&self, action: &str, resource: &str) -> Decision {
        let applies = |s: &&Statement| {
            let action_hit = s.actions.iter().any(|p| wildcard(p, action, true));
            let resource_hit = s.resources.iter().any(|p| wildcard(p, resource, false));
            action_hit != s.not_action && resource_hit != s.not_resource
        };
        let hits: Vec<&Statement> = self.0.iter().filter(applies).collect();
        let any = |allow: bool, conditional: bool| {
            hits.iter()
                .any(|s| s.allow == allow && s.conditional == conditional)
        };
        if any(false, false) {
            Decision::ExplicitDeny
        } else if any(false, true) {
            Decision::Conditional
        } else if any(true, false) {
            Decision::Allowed
        } else if any(true, true) {
            Decision::Conditional
        } else {
            Decision::ImplicitDeny
        }
    }
}

/// IAM's wildcard match: `*` any run of characters, `?` one character.
#[must_use]
pub fn wildcard(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let fold = |s: &str| {
        if ignore_case {
            s.to_ascii_lowercase()
        } else {
            s.to_owned()
        }
    };
    let (p, t) = (fold(pattern), fold(text));
    let (p, t): (Vec<char>, Vec<char>) = (p.chars().collect(), t.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The key of a log file the function must be able to read: below the trail's delivery root
/// (`trail_root`) when that lies within `prefix`, below `prefix` otherwise; a key as CloudTrail
/// writes it when the root ends in `AWSLogs/`.
#[must_use]
pub fn sample_log_key(
    prefix: &str,
    trail_root: Option<&str>,
    account: &str,
    region: &str,
) -> String {
    let root = trail_root
        .filter(|r| r.starts_with(prefix))
        .unwrap_or(prefix);
    if root.ends_with("AWSLogs/") {
        format!(
            "{root}{account}/CloudTrail/{region}/2024/01/01/{account}_CloudTrail_{region}_20240101T0000Z_doctor.json.gz"
        )
    } else {
        format!("{root}doctor.json.gz")
    }
}

/// How the decisions were made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// By IAM's `SimulatePrincipalPolicy`.
    Simulated,
    /// Here, from the role's policies, because the simulation was unavailable (the reason).
    Local(String),
}

/// One access the function needs, and its decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The action (`s3:GetObject`).
    pub action: String,
    /// The resource's ARN.
    pub resource: String,
    /// What the evaluation said.
    pub decision: Decision,
}

/// The permissions line for the role `role` (its name or ARN).
#[must_use]
pub fn check_permissions(role: &str, accesses: &[Access], method: &Method) -> Check {
    let how = match method {
        Method::Simulated => "by IAM policy simulation".to_owned(),
        Method::Local(why) => format!(
            "evaluated locally from the role's policies (conditions, boundaries and SCPs not \
             evaluated), since the simulation is unavailable: {why}"
        ),
    };
    let list = |d: Decision| -> Vec<String> {
        accesses
            .iter()
            .filter(|a| a.decision == d)
            .map(|a| format!("{} on {}", a.action, a.resource))
            .collect()
    };
    let denied: Vec<String> = [Decision::ImplicitDeny, Decision::ExplicitDeny]
        .into_iter()
        .flat_map(list)
        .collect();
    if !denied.is_empty() {
        let explicit = !list(Decision::ExplicitDeny).is_empty();
        return Check::fix(
            PERMISSIONS,
            format!("role {role} may not {} ({how})", denied.join(", ")),
            format!(
                "{} the role {role} {} (the template's ReadCloudTrailLogFiles and \
                 WriteAutoScalingEvents statements)",
                if explicit {
                    "remove the Deny that blocks, and grant,"
                } else {
                    "grant"
                },
                denied.join(", ")
            ),
        );
    }
    let conditional = list(Decision::Conditional);
    if !conditional.is_empty() {
        return Check::unknown(
            PERMISSIONS,
            format!(
                "role {role}: cannot evaluate the conditions on {} ({how})",
                conditional.join(", ")
            ),
        );
    }
    let allowed = list(Decision::Allowed);
    Check::ok(
        PERMISSIONS,
        format!("role {role} may {} ({how})", allowed.join(", ")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    const OBJECT: &str = "arn:aws:s3:::b/AWSLogs/1/CloudTrail/x.json.gz";
    const TABLE: &str = "arn:aws:dynamodb:us-east-1:1:table/t";

    fn policies(docs: &[&str]) -> Policies {
        let mut p = Policies::default();
        for (i, d) in docs.iter().enumerate() {
            p.add(&format!("p{i}"), d).expect("valid");
        }
        p
    }

    #[test]
    fn the_sample_key_lies_below_the_trail_root_within_the_prefix() {
        assert_eq!(
            sample_log_key("", Some("org/AWSLogs/"), "1", "eu-west-1"),
            "org/AWSLogs/1/CloudTrail/eu-west-1/2024/01/01/1_CloudTrail_eu-west-1_20240101T0000Z_doctor.json.gz"
        );
        assert_eq!(
            sample_log_key("AWSLogs/o-1/", Some("AWSLogs/"), "1", "r"),
            "AWSLogs/o-1/doctor.json.gz"
        );
        assert!(sample_log_key("AWSLogs/", None, "1", "r").starts_with("AWSLogs/1/CloudTrail/r/"));
    }

    #[test]
    fn wildcards_match_like_iam() {
        assert!(wildcard("s3:Get*", "s3:GetObject", false));
        assert!(wildcard("S3:get*", "s3:GetObject", true));
        assert!(!wildcard("S3:get*", "s3:GetObject", false));
        assert!(wildcard("arn:aws:s3:::b/AWSLogs/*", OBJECT, false));
        assert!(!wildcard("arn:aws:s3:::b/other/*", OBJECT, false));
        assert!(wildcard("*", "", false));
        assert!(wildcard("a?c*", "abcdef", false));
        assert!(!wildcard("a?c", "ac", false));
        assert!(wildcard("*b*b", "abab", false));
    }

    #[test]
    fn allow_deny_not_action_and_conditions_decide_like_iam() {
        let allow = r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/AWSLogs/*"},
            {"Effect":"Allow","Action":["dynamodb:BatchWriteItem"],"Resource":"arn:aws:dynamodb:*:*:table/t"}]}"#;
        let p = policies(&[allow]);
        assert_eq!(p.evaluate("s3:GetObject", OBJECT), Decision::Allowed);
        assert_eq!(
            p.evaluate("dynamodb:BatchWriteItem", TABLE),
            Decision::Allowed
        );
        assert_eq!(p.evaluate("s3:PutObject", OBJECT), Decision::ImplicitDeny);

        let deny = r#"{"Statement":{"Effect":"Deny","NotAction":"dynamodb:*","Resource":"*"}}"#;
        let p = policies(&[allow, deny]);
        assert_eq!(p.evaluate("s3:GetObject", OBJECT), Decision::ExplicitDeny);
        assert_eq!(
            p.evaluate("dynamodb:BatchWriteItem", TABLE),
            Decision::Allowed
        );

        let conditional = r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*",
            "Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}"#;
        let p = policies(&[conditional]);
        assert_eq!(p.evaluate("s3:GetObject", OBJECT), Decision::Conditional);
        let p = policies(&[conditional, allow]);
        assert_eq!(p.evaluate("s3:GetObject", OBJECT), Decision::Allowed);
    }

    #[test]
    fn url_encoded_documents_are_read_and_bad_ones_named() {
        let encoded = "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3A*%22%2C%22Resource%22%3A%22*%22%7D%5D%7D";
        assert_eq!(
            policies(&[encoded]).evaluate("s3:GetObject", OBJECT),
            Decision::Allowed
        );
        let err = Policies::default()
            .add("broken", "{")
            .expect_err("not JSON");
        assert!(err.to_string().starts_with("policy broken is not"), "{err}");
    }

    #[test]
    fn the_line_names_what_is_missing_and_how_it_was_decided() {
        let access = |action: &str, decision| Access {
            action: action.into(),
            resource: "r".into(),
            decision,
        };
        let ok = check_permissions(
            "role",
            &[access("s3:GetObject", Decision::Allowed)],
            &Method::Simulated,
        );
        assert_eq!(ok.status, Status::Ok);
        assert!(ok.detail.contains("by IAM policy simulation"));
        let local = Method::Local("NotImplemented".into());
        let red = check_permissions(
            "role",
            &[
                access("s3:GetObject", Decision::ImplicitDeny),
                access("dynamodb:BatchWriteItem", Decision::Allowed),
            ],
            &local,
        );
        assert_eq!(red.status, Status::Fix);
        assert!(red.detail.contains("evaluated locally"), "{red:?}");
        assert_eq!(
            red.fix.as_deref(),
            Some(
                "grant the role role s3:GetObject on r (the template's ReadCloudTrailLogFiles \
                 and WriteAutoScalingEvents statements)"
            )
        );
        let yellow = check_permissions(
            "role",
            &[access("s3:GetObject", Decision::Conditional)],
            &local,
        );
        assert_eq!(yellow.status, Status::Unknown);
        assert_eq!(
            Decision::from_simulation("explicitDeny"),
            Decision::ExplicitDeny
        );
    }
}
