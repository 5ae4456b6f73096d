//! The permissions check: the function's role may read the log files (`s3:GetObject` under the
//! prefix) and write the table (`dynamodb:BatchWriteItem`). IAM's own simulation
//! (`SimulatePrincipalPolicy`) decides where it is available; elsewhere (denied, or a server
//! that lacks it) the role's inline and attached managed policies are evaluated here:
//! Allow/Deny statements, `Action`/`NotAction` and `Resource`/`NotResource` with `*` and `?`
//! wildcards, an explicit Deny winning. Not evaluated: permissions boundaries, SCPs.
//!
//! The same evaluator reads a resource policy (a KMS key policy): its `Principal`s are matched
//! against the principals a [`Request`] names (`NotPrincipal` is "cannot evaluate"). A
//! condition is evaluated against the request's context, the keys the caller knows
//! (`kms:ViaService`, ...): the string and ARN operators and `Null`; any other operator, a
//! `ForAnyValue:`/`ForAllValues:` set, or a key the context lacks make the statement "cannot
//! evaluate", so a decision that hangs on it is yellow, never guessed.

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

/// Whom a statement names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Principals {
    /// No `Principal`: a statement of an identity policy, for its own principal.
    Own,
    /// `Principal`: `*`, or the values of its `AWS`, `Service`, ... entries.
    Listed(Vec<String>),
    /// `NotPrincipal`, or a `Principal` that is not one: not evaluated.
    Unreadable,
}

/// One statement, as far as it is evaluated here.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    allow: bool,
    actions: Vec<String>,
    not_action: bool,
    resources: Vec<String>,
    not_resource: bool,
    principals: Principals,
    /// The `Condition` block, if any.
    condition: Option<Value>,
}

/// What a request is, for the evaluation of a policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    /// The action (`kms:Decrypt`).
    pub action: &'a str,
    /// The resource's ARN.
    pub resource: &'a str,
    /// The principals the caller counts as, for a resource policy (the role's ARN, its
    /// account's root ARN and ID); empty for an identity policy, whose statements are its own.
    pub principals: &'a [&'a str],
    /// The condition keys known of the request, and their values (names compared without
    /// regard to case, as IAM does).
    pub context: &'a [(&'a str, &'a str)],
}

/// Whether a condition (or a principal) holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Truth {
    Yes,
    No,
    Unknown,
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
                principals: principals(&s),
                condition: s.get("Condition").cloned(),
            });
        }
        Ok(())
    }

    /// The decision for `action` on `resource`, by an identity policy with nothing known of the
    /// request (every condition "cannot evaluate").
    #[cfg(test)]
    fn evaluate(&self, action: &str, resource: &str) -> Decision {
        self.decide(&Request {
            action,
            resource,
            ..Request::default()
        })
    }

    /// The decision for `request`.
    #[must_use]
    pub fn decide(&self, request: &Request) -> Decision {
        let hits: Vec<(bool, bool)> = self
            .0
            .iter()
            .filter_map(|s| match s.applies(request)? {
                Truth::No => None,
                truth => Some((s.allow, truth == Truth::Unknown)),
            })
            .collect();
        let any = |allow: bool, conditional: bool| hits.contains(&(allow, conditional));
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

impl Statement {
    /// Whether the statement applies to `request` (`None`: its action or resource does not
    /// match), and how sure that is: `No` when its condition fails, `Unknown` when its
    /// condition or principal cannot be evaluated.
    fn applies(&self, request: &Request) -> Option<Truth> {
        let action_hit = self
            .actions
            .iter()
            .any(|p| wildcard(p, request.action, true));
        let resource_hit = self
            .resources
            .iter()
            .any(|p| wildcard(p, request.resource, false));
        if action_hit == self.not_action || resource_hit == self.not_resource {
            return None;
        }
        let principal = match (&self.principals, request.principals) {
            (Principals::Own, []) => Truth::Yes,
            (Principals::Listed(listed), asked)
                if !asked.is_empty()
                    && listed
                        .iter()
                        .any(|p| p == "*" || asked.contains(&p.as_str())) =>
            {
                Truth::Yes
            }
            (Principals::Unreadable, _) => Truth::Unknown,
            // Principals it does not name, or a statement of the other kind of policy (a
            // principal in an identity policy, none in a resource policy): not applied.
            _ => return None,
        };
        let condition = self
            .condition
            .as_ref()
            .map_or(Truth::Yes, |c| condition_holds(c, request.context));
        Some(both(principal, condition))
    }
}

/// Both hold: `No` wins over `Unknown`, which wins over `Yes`.
fn both(a: Truth, b: Truth) -> Truth {
    match (a, b) {
        (Truth::No, _) | (_, Truth::No) => Truth::No,
        (Truth::Unknown, _) | (_, Truth::Unknown) => Truth::Unknown,
        _ => Truth::Yes,
    }
}

/// The principals a statement names.
fn principals(statement: &Value) -> Principals {
    if statement.get("NotPrincipal").is_some() {
        return Principals::Unreadable;
    }
    match statement.get("Principal") {
        None => Principals::Own,
        Some(Value::String(s)) if s == "*" => Principals::Listed(vec!["*".to_owned()]),
        Some(Value::Object(kinds)) => {
            Principals::Listed(kinds.values().flat_map(|v| strings(Some(v))).collect())
        }
        Some(_) => Principals::Unreadable,
    }
}

/// Whether a `Condition` block holds in `context`: every operator's every key must.
fn condition_holds(condition: &Value, context: &[(&str, &str)]) -> Truth {
    let Some(operators) = condition.as_object() else {
        return Truth::Unknown;
    };
    let mut truth = Truth::Yes;
    for (operator, keys) in operators {
        let Some(keys) = keys.as_object() else {
            return Truth::Unknown;
        };
        for (key, values) in keys {
            let known = context
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| *v);
            truth = both(
                truth,
                operator_holds(operator, known, &strings(Some(values))),
            );
        }
    }
    truth
}

/// Whether one operator holds for a key whose value is `known` (`None`: not in the context, so
/// neither present nor absent as far as is known).
fn operator_holds(operator: &str, known: Option<&str>, values: &[String]) -> Truth {
    let Some(value) = known else {
        return Truth::Unknown;
    };
    let operator = operator.strip_suffix("IfExists").unwrap_or(operator);
    if operator == "Null" {
        // "false" wants the key present, "true" absent; it is present here.
        return match values.first().map(String::as_str) {
            Some("false") => Truth::Yes,
            Some("true") => Truth::No,
            _ => Truth::Unknown,
        };
    }
    let negated = operator.contains("Not");
    let matches: fn(&str, &str) -> bool = match operator.replacen("Not", "", 1).as_str() {
        "StringEquals" => |want, have| want == have,
        "StringEqualsIgnoreCase" => |want, have| want.eq_ignore_ascii_case(have),
        "StringLike" | "ArnEquals" | "ArnLike" => |want, have| wildcard(want, have, false),
        _ => return Truth::Unknown,
    };
    if values.iter().any(|want| matches(want, value)) == negated {
        Truth::No
    } else {
        Truth::Yes
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

    const KEY: &str = "arn:aws:kms:us-east-1:1:key/k";

    fn decrypt<'a>(principals: &'a [&'a str], context: &'a [(&'a str, &'a str)]) -> Request<'a> {
        Request {
            action: "kms:Decrypt",
            resource: KEY,
            principals,
            context,
        }
    }

    #[test]
    fn a_condition_is_evaluated_against_the_keys_the_request_knows() {
        let via = r#"{"Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*",
            "Condition":{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}}]}"#;
        let p = policies(&[via]);
        let ours = [("KMS:viaservice", "s3.us-east-1.amazonaws.com")];
        let theirs = [("kms:ViaService", "s3.eu-west-1.amazonaws.com")];
        assert_eq!(p.decide(&decrypt(&[], &ours)), Decision::Allowed);
        assert_eq!(p.decide(&decrypt(&[], &theirs)), Decision::ImplicitDeny);
        // A key the request does not know: not guessed.
        assert_eq!(p.decide(&decrypt(&[], &[])), Decision::Conditional);

        let like = r#"{"Statement":[{"Effect":"Deny","Action":"kms:*","Resource":"*",
            "Condition":{"StringNotLike":{"kms:ViaService":"s3.*.amazonaws.com"},
                         "Null":{"kms:ViaService":"false"}}}]}"#;
        let p = policies(&[via, like]);
        assert_eq!(p.decide(&decrypt(&[], &ours)), Decision::Allowed);
        let ec2 = [("kms:ViaService", "ec2.us-east-1.amazonaws.com")];
        assert_eq!(p.decide(&decrypt(&[], &ec2)), Decision::ExplicitDeny);

        let numeric = r#"{"Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*",
            "Condition":{"NumericLessThan":{"kms:ViaService":"1"}}}]}"#;
        assert_eq!(
            policies(&[numeric]).decide(&decrypt(&[], &ours)),
            Decision::Conditional
        );
    }

    #[test]
    fn a_resource_policy_applies_to_the_principals_it_names() {
        let key_policy = r#"{"Statement":[
            {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:root"},"Action":"kms:*","Resource":"*"},
            {"Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"kms:GenerateDataKey*","Resource":"*"}]}"#;
        let p = policies(&[key_policy]);
        let role = "arn:aws:iam::1:role/r";
        assert_eq!(p.decide(&decrypt(&[role], &[])), Decision::ImplicitDeny);
        assert_eq!(
            p.decide(&decrypt(&[role, "arn:aws:iam::1:root"], &[])),
            Decision::Allowed
        );
        // A statement with a principal is not an identity policy's own.
        assert_eq!(p.decide(&decrypt(&[], &[])), Decision::ImplicitDeny);
        let anyone = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"}}"#;
        assert_eq!(
            policies(&[anyone]).decide(&decrypt(&[role], &[])),
            Decision::Allowed
        );
        let not_principal = r#"{"Statement":{"Effect":"Deny","NotPrincipal":{"AWS":"x"},"Action":"kms:*","Resource":"*"}}"#;
        assert_eq!(
            policies(&[key_policy, not_principal])
                .decide(&decrypt(&[role, "arn:aws:iam::1:root"], &[])),
            Decision::Conditional
        );
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
