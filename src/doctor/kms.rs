//! The KMS key check: when the trail encrypts its log files with a KMS key (SSE-KMS, the
//! trail's `KmsKeyId`), S3 decrypts each one for the function only if the role may
//! `kms:Decrypt` that key through S3 (`kms:ViaService` = `s3.<bucket region>.amazonaws.com`).
//! Two policies must agree, as KMS has it: the key policy must allow the role itself, or
//! the role's account (its root) and then the role's own policies must allow it too; a Deny in
//! either wins. The role's side is IAM's simulation with that context (or the local
//! evaluator); the key policy is read (`GetKeyPolicy`) and evaluated here, since the simulation
//! does not know KMS's rule. A key policy that cannot be read (a key of another account) is
//! said so: yellow, never green.

use super::policy::{Decision, Method, Policies, Request};
use super::{Check, ProbeError, names::KMS_KEY};

/// The action S3 calls for the function when it reads an SSE-KMS object.
pub const DECRYPT: &str = "kms:Decrypt";

/// What a key policy grants the role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyGrant {
    /// It allows the role itself (or anyone): the role's own policies are not needed in the
    /// key's account.
    Role,
    /// It allows the role's account: the role's own policies must allow it too.
    Account,
    /// It allows neither.
    Neither,
    /// It denies the role.
    Denied,
    /// It hangs on a condition (or a `NotPrincipal`) that was not evaluated.
    Conditional,
}

/// Who asks, and how: the role, its account, and the request's context.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The role's ARN.
    pub role_arn: String,
    /// The role's account.
    pub account: String,
    /// `s3.<bucket region>.amazonaws.com`.
    pub via_service: String,
    /// The trail whose files the key encrypts (their encryption context names it).
    pub trail_arn: String,
}

impl Caller {
    /// The condition keys known of S3's `kms:Decrypt` for the function.
    pub fn context(&self) -> [(&str, &str); 6] {
        [
            ("kms:ViaService", self.via_service.as_str()),
            ("kms:CallerAccount", self.account.as_str()),
            ("aws:PrincipalArn", self.role_arn.as_str()),
            ("aws:PrincipalAccount", self.account.as_str()),
            ("aws:PrincipalType", "AssumedRole"),
            (
                "kms:EncryptionContext:aws:cloudtrail:arn",
                self.trail_arn.as_str(),
            ),
        ]
    }

    /// The role's account as a key policy names it: its root ARN.
    fn root(&self) -> String {
        let partition = self.role_arn.split(':').nth(1).unwrap_or("aws");
        format!("arn:{partition}:iam::{}:root", self.account)
    }
}

/// What the key policy `policy` of `key_arn` grants `caller`.
#[must_use]
pub fn key_grant(policy: &Policies, key_arn: &str, caller: &Caller) -> KeyGrant {
    let root = caller.root();
    let context = caller.context();
    let decide = |principals: &[&str]| {
        policy.decide(&Request {
            action: DECRYPT,
            resource: key_arn,
            principals,
            context: &context,
        })
    };
    let everyone = decide(&[caller.role_arn.as_str(), root.as_str(), &caller.account]);
    if everyone == Decision::ExplicitDeny {
        return KeyGrant::Denied;
    }
    if decide(&[caller.role_arn.as_str()]) == Decision::Allowed {
        return KeyGrant::Role;
    }
    match everyone {
        Decision::Allowed => KeyGrant::Account,
        Decision::Conditional => KeyGrant::Conditional,
        _ => KeyGrant::Neither,
    }
}

/// What was found of one key.
#[derive(Debug)]
pub struct KeyFacts {
    /// The key's ARN, as the trail names it.
    pub key_arn: String,
    /// The trail that encrypts with it.
    pub trail: String,
    /// The role's own policies on `kms:Decrypt` through S3, and how that was decided.
    pub role: Result<(Decision, Method), ProbeError>,
    /// What the key policy grants the role.
    pub key_policy: Result<KeyGrant, ProbeError>,
}

/// What the fix of a role that may not decrypt says: the stack's `KmsKeyArn` parameter when
/// there is a stack.
#[derive(Debug, Clone, Default)]
pub struct Setting {
    /// The stack, if any.
    pub stack: Option<String>,
    /// Its `KmsKeyArn` parameter (empty when unset).
    pub kms_key_arn: String,
}

/// The KMS key line: `keys` are the keys of the trails that deliver to the bucket (none: the
/// files are not SSE-KMS by the trail), `trails` their names.
#[must_use]
pub fn check_kms(
    keys: &[KeyFacts],
    trails: &[String],
    caller: &Caller,
    setting: &Setting,
) -> Check {
    if keys.is_empty() {
        let which = if trails.is_empty() {
            "no trail delivers to the bucket".to_owned()
        } else {
            format!(
                "trail {} sets none (SSE-S3, unless the bucket's default encryption is SSE-KMS, \
                 which is not read)",
                trails.join(", ")
            )
        };
        return Check::ok(KMS_KEY, format!("no KMS key: {which}, nothing to decrypt"));
    }
    let checks: Vec<Check> = keys.iter().map(|k| check_key(k, caller, setting)).collect();
    worst(checks)
}

/// The red line if any, else the yellow one, else every green detail joined.
fn worst(mut checks: Vec<Check>) -> Check {
    use super::Status;
    for status in [Status::Fix, Status::Unknown] {
        if let Some(i) = checks.iter().position(|c| c.status == status) {
            return checks.swap_remove(i);
        }
    }
    let details: Vec<String> = checks.into_iter().map(|c| c.detail).collect();
    Check::ok(KMS_KEY, details.join("; "))
}

/// What the two policies, taken together, say of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// The key policy denies the role.
    KeyDenies,
    /// The role's own policies deny it.
    RoleDenies,
    /// The key policy allows neither the role nor its account.
    KeyAllowsNeither,
    /// The role may decrypt: by the key policy alone (`true`), or by both.
    Decrypts(bool),
    /// The key policy is fine (or unreadable, for a key of another account, where the role's
    /// own policies are needed anyway), but the role's own policies do not allow it.
    RoleLacks,
    /// The key policy cannot be read; the role's own policies allow it (`true`) or do not say.
    KeyUnreadable(bool),
    /// A condition, or the role's policies, could not be evaluated.
    Unevaluated,
}

fn verdict(grant: Result<KeyGrant, ()>, role: Result<Decision, ()>, same_account: bool) -> Verdict {
    use Decision::{Allowed, ExplicitDeny, ImplicitDeny};
    use KeyGrant::{Account, Denied, Neither, Role};
    match (grant, role) {
        (Ok(Denied), _) => Verdict::KeyDenies,
        (_, Ok(ExplicitDeny)) => Verdict::RoleDenies,
        (Ok(Neither), _) => Verdict::KeyAllowsNeither,
        (Ok(Role), _) if same_account => Verdict::Decrypts(true),
        (Ok(Role | Account), Ok(Allowed)) => Verdict::Decrypts(false),
        (Ok(Role | Account), Ok(ImplicitDeny)) => Verdict::RoleLacks,
        (Err(()), Ok(ImplicitDeny)) if !same_account => Verdict::RoleLacks,
        (Err(()), role) => Verdict::KeyUnreadable(role == Ok(Allowed)),
        _ => Verdict::Unevaluated,
    }
}

/// The words the lines of one key share.
struct Words<'a> {
    intro: String,
    role: &'a str,
    key: &'a str,
    via: &'a str,
    how: String,
}

fn check_key(k: &KeyFacts, caller: &Caller, setting: &Setting) -> Check {
    let same_account = k.key_arn.split(':').nth(4) == Some(caller.account.as_str());
    let w = Words {
        intro: format!("trail {} encrypts with {}", k.trail, k.key_arn),
        role: caller
            .role_arn
            .rsplit('/')
            .next()
            .unwrap_or(&caller.role_arn),
        key: &k.key_arn,
        via: &caller.via_service,
        how: match &k.role {
            Ok((_, Method::Simulated)) => "by IAM policy simulation".to_owned(),
            Ok((_, Method::Local(why))) => {
                format!("evaluated locally, as the simulation is unavailable: {why}")
            }
            Err(e) => format!("the role's policies cannot be read: {e}"),
        },
    };
    let grant = k.key_policy.as_ref().map(|g| *g).map_err(|_| ());
    let role = k.role.as_ref().map(|(d, _)| *d).map_err(|_| ());
    match verdict(grant, role, same_account) {
        Verdict::Decrypts(by_key) => decrypts(&w, by_key),
        Verdict::KeyUnreadable(role_allows) => unreadable(&w, k, caller, role_allows),
        Verdict::Unevaluated => Check::unknown(
            KMS_KEY,
            format!(
                "{}; cannot evaluate whether role {} may kms:Decrypt it through {} (key policy: \
                 {}; the role's policies: {}, {})",
                w.intro,
                w.role,
                w.via,
                grant_words(&k.key_policy),
                decision_words(&k.role),
                w.how
            ),
        ),
        red => cannot_decrypt(&w, red, caller, setting),
    }
}

fn decrypts(w: &Words, by_key: bool) -> Check {
    let detail = if by_key {
        format!(
            "{}; its key policy lets role {} kms:Decrypt it",
            w.intro, w.role
        )
    } else {
        format!(
            "{}; role {} may kms:Decrypt it through {} ({}), and its key policy allows that",
            w.intro, w.role, w.via, w.how
        )
    };
    Check::ok(KMS_KEY, detail)
}

fn unreadable(w: &Words, k: &KeyFacts, caller: &Caller, role_allows: bool) -> Check {
    let error = k
        .key_policy
        .as_ref()
        .err()
        .map(ToString::to_string)
        .unwrap_or_default();
    let role = if role_allows {
        format!(
            "role {} may kms:Decrypt it through {} ({})",
            w.role, w.via, w.how
        )
    } else {
        format!(
            "role {}'s own policies {} ({})",
            w.role,
            decision_words(&k.role),
            w.how
        )
    };
    Check::unknown(
        KMS_KEY,
        format!(
            "{}; {role}, but its key policy cannot be read ({error}): it must allow the role or \
             its account {}",
            w.intro, caller.account
        ),
    )
}

fn cannot_decrypt(w: &Words, verdict: Verdict, caller: &Caller, setting: &Setting) -> Check {
    let fails = "every log file fails with AccessDenied";
    let (why, fix) = match verdict {
        Verdict::KeyDenies => (
            format!("its key policy denies role {} kms:Decrypt", w.role),
            format!(
                "remove the Deny from the key policy of {} that names the role or its account",
                w.key
            ),
        ),
        Verdict::RoleDenies => (
            format!(
                "a Deny in role {}'s policies blocks kms:Decrypt through {} ({})",
                w.role, w.via, w.how
            ),
            format!(
                "remove the Deny on kms:Decrypt from the role {}'s policies",
                w.role
            ),
        ),
        Verdict::KeyAllowsNeither => (
            format!(
                "its key policy allows neither role {} nor its account {} kms:Decrypt",
                w.role, caller.account
            ),
            format!(
                "add to the key policy of {} a statement allowing {} kms:Decrypt (the stack output \
                 FunctionRoleArn)",
                w.key, caller.role_arn
            ),
        ),
        _ => (
            format!(
                "role {} may not kms:Decrypt it through {} ({})",
                w.role, w.via, w.how
            ),
            role_fix(w.key, w.role, w.via, setting),
        ),
    };
    Check::fix(KMS_KEY, format!("{}; {why}: {fails}", w.intro), fix)
}

/// What the key policy grants, in words.
fn grant_words(grant: &Result<KeyGrant, ProbeError>) -> String {
    match grant {
        Ok(KeyGrant::Role) => "allows the role".to_owned(),
        Ok(KeyGrant::Account) => "allows the role's account".to_owned(),
        Ok(KeyGrant::Neither) => "allows neither".to_owned(),
        Ok(KeyGrant::Denied) => "denies".to_owned(),
        Ok(KeyGrant::Conditional) => "hangs on a condition not evaluated".to_owned(),
        Err(e) => format!("cannot be read ({e})"),
    }
}

/// What the role's own side says, in words.
fn decision_words(role: &Result<(Decision, Method), ProbeError>) -> &'static str {
    match role {
        Ok((Decision::Allowed, _)) => "allow it",
        Ok((Decision::ImplicitDeny, _)) => "do not allow it",
        Ok((Decision::ExplicitDeny, _)) => "deny it",
        Ok((Decision::Conditional, _)) => "hang on a condition not evaluated",
        Err(_) => "cannot be read",
    }
}

/// The fix of a role whose own policies do not allow the decrypt.
fn role_fix(key: &str, role: &str, via: &str, setting: &Setting) -> String {
    let grant =
        format!("the role {role} is granted kms:Decrypt through S3 on the stack's KmsKeyArn only");
    match &setting.stack {
        Some(stack) if setting.kms_key_arn.is_empty() => {
            format!("set the KmsKeyArn parameter of stack {stack} to {key} (it is empty: {grant})")
        }
        Some(stack) if setting.kms_key_arn != key => format!(
            "set the KmsKeyArn parameter of stack {stack} to {key} (it is {}: {grant})",
            setting.kms_key_arn
        ),
        Some(stack) => format!(
            "update stack {stack}: its KmsKeyArn is {key}, yet the role may not decrypt it through \
             {via} (the template's DecryptLogFilesThroughS3 statement)"
        ),
        None => format!(
            "grant the role {role} kms:Decrypt on {key} with the condition kms:ViaService = {via} \
             (with the template: its KmsKeyArn parameter)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    const KEY: &str = "arn:aws:kms:us-east-1:111111111111:key/k";
    const FOREIGN: &str = "arn:aws:kms:us-east-1:222222222222:key/k";

    fn caller() -> Caller {
        Caller {
            role_arn: "arn:aws:iam::111111111111:role/fn-role".into(),
            account: "111111111111".into(),
            via_service: "s3.us-east-1.amazonaws.com".into(),
            trail_arn: "arn:aws:cloudtrail:us-east-1:111111111111:trail/t".into(),
        }
    }

    fn grant(doc: &str, key: &str) -> KeyGrant {
        let mut p = Policies::default();
        p.add("key", doc).expect("policy");
        key_grant(&p, key, &caller())
    }

    fn facts(key: &str, role: Decision, key_policy: Result<KeyGrant, ProbeError>) -> KeyFacts {
        KeyFacts {
            key_arn: key.into(),
            trail: "t".into(),
            role: Ok((role, Method::Local("NotImplemented".into()))),
            key_policy,
        }
    }

    fn stack(kms_key_arn: &str) -> Setting {
        Setting {
            stack: Some("s".into()),
            kms_key_arn: kms_key_arn.into(),
        }
    }

    fn line(k: KeyFacts, setting: &Setting) -> Check {
        check_kms(&[k], &["t".to_owned()], &caller(), setting)
    }

    #[test]
    fn a_key_policy_grants_the_role_its_account_or_neither() {
        let root = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"kms:*","Resource":"*"}}"#;
        assert_eq!(grant(root, KEY), KeyGrant::Account);
        let role = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111111111111:role/fn-role"]},"Action":"kms:Decrypt","Resource":"*"}}"#;
        assert_eq!(grant(role, KEY), KeyGrant::Role);
        let other = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":"kms:*","Resource":"*"}}"#;
        assert_eq!(grant(other, KEY), KeyGrant::Neither);
        let deny = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"kms:*","Resource":"*"},
            {"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringNotEquals":{"kms:CallerAccount":"222222222222"}}}]}"#;
        assert_eq!(grant(deny, KEY), KeyGrant::Denied);
        // CloudTrail's own key policy: decrypt for the account's principals when the files'
        // encryption context names a trail.
        let cloudtrail = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":["kms:Decrypt","kms:ReEncryptFrom"],"Resource":"*",
            "Condition":{"StringEquals":{"kms:CallerAccount":"111111111111"},"Null":{"kms:EncryptionContext:aws:cloudtrail:arn":"false"}}}}"#;
        assert_eq!(grant(cloudtrail, KEY), KeyGrant::Role);
        let org = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}}}"#;
        assert_eq!(grant(org, KEY), KeyGrant::Conditional);
    }

    #[test]
    fn no_key_is_green_and_says_so() {
        let c = check_kms(&[], &["t".to_owned()], &caller(), &Setting::default());
        assert_eq!(c.status, Status::Ok);
        assert_eq!(
            c.detail,
            "no KMS key: trail t sets none (SSE-S3, unless the bucket's default encryption is \
             SSE-KMS, which is not read), nothing to decrypt"
        );
    }

    #[test]
    fn both_policies_must_agree() {
        let ok = line(
            facts(KEY, Decision::Allowed, Ok(KeyGrant::Account)),
            &stack(KEY),
        );
        assert_eq!(ok.status, Status::Ok, "{ok:?}");
        assert!(
            ok.detail.contains("through s3.us-east-1.amazonaws.com"),
            "{ok:?}"
        );
        // The key policy naming the role is enough in the key's own account.
        let alone = line(
            facts(KEY, Decision::ImplicitDeny, Ok(KeyGrant::Role)),
            &stack(""),
        );
        assert_eq!(alone.status, Status::Ok, "{alone:?}");
        // Not across accounts.
        let foreign = line(
            facts(FOREIGN, Decision::ImplicitDeny, Ok(KeyGrant::Role)),
            &stack(""),
        );
        assert_eq!(foreign.status, Status::Fix, "{foreign:?}");

        let unset = line(
            facts(KEY, Decision::ImplicitDeny, Ok(KeyGrant::Account)),
            &stack(""),
        );
        assert_eq!(unset.status, Status::Fix);
        assert!(
            unset
                .detail
                .contains("every log file fails with AccessDenied"),
            "{unset:?}"
        );
        assert_eq!(
            unset.fix.as_deref(),
            Some(
                "set the KmsKeyArn parameter of stack s to arn:aws:kms:us-east-1:111111111111:key/k \
                 (it is empty: the role fn-role is granted kms:Decrypt through S3 on the stack's \
                 KmsKeyArn only)"
            )
        );
        let other = line(
            facts(KEY, Decision::ImplicitDeny, Ok(KeyGrant::Account)),
            &stack(FOREIGN),
        );
        assert!(
            other
                .fix
                .as_deref()
                .is_some_and(|f| f.contains(&format!("(it is {FOREIGN}"))),
            "{other:?}"
        );

        let neither = line(
            facts(KEY, Decision::Allowed, Ok(KeyGrant::Neither)),
            &stack(KEY),
        );
        assert_eq!(neither.status, Status::Fix);
        assert!(
            neither
                .fix
                .as_deref()
                .is_some_and(|f| f.starts_with("add to the key policy")),
            "{neither:?}"
        );
        let denied = line(
            facts(KEY, Decision::Allowed, Ok(KeyGrant::Denied)),
            &stack(KEY),
        );
        assert!(
            denied
                .fix
                .as_deref()
                .is_some_and(|f| f.starts_with("remove the Deny from the key policy"))
        );
        let role_denies = line(
            facts(KEY, Decision::ExplicitDeny, Ok(KeyGrant::Account)),
            &stack(KEY),
        );
        assert!(
            role_denies
                .fix
                .as_deref()
                .is_some_and(|f| f.contains("role fn-role's policies"))
        );
    }

    #[test]
    fn an_unreadable_key_policy_is_yellow_unless_the_role_alone_rules_it_out() {
        let unreadable = || {
            Err(ProbeError::new(
                "GetKeyPolicy",
                "AccessDeniedException: not authorized",
            ))
        };
        let c = line(
            facts(FOREIGN, Decision::Allowed, unreadable()),
            &stack(FOREIGN),
        );
        assert_eq!(c.status, Status::Unknown, "{c:?}");
        assert!(
            c.detail
                .contains("its key policy cannot be read (AccessDeniedException"),
            "{c:?}"
        );
        assert!(
            c.detail
                .contains("it must allow the role or its account 111111111111"),
            "{c:?}"
        );
        // A key of another account needs the role's own policies: without them, red.
        let c = line(
            facts(FOREIGN, Decision::ImplicitDeny, unreadable()),
            &stack(""),
        );
        assert_eq!(c.status, Status::Fix, "{c:?}");
        // In the key's own account its policy might name the role: cannot tell.
        let c = line(facts(KEY, Decision::ImplicitDeny, unreadable()), &stack(""));
        assert_eq!(c.status, Status::Unknown, "{c:?}");
        let c = line(
            facts(KEY, Decision::Conditional, Ok(KeyGrant::Account)),
            &stack(KEY),
        );
        assert_eq!(c.status, Status::Unknown, "{c:?}");
    }

    #[test]
    fn the_worst_key_decides_the_line() {
        let keys = [
            facts(KEY, Decision::Allowed, Ok(KeyGrant::Account)),
            facts(FOREIGN, Decision::ImplicitDeny, Ok(KeyGrant::Account)),
        ];
        let c = check_kms(&keys, &["t".to_owned()], &caller(), &stack(KEY));
        assert_eq!(c.status, Status::Fix);
        assert!(c.detail.contains(FOREIGN), "{c:?}");
    }
}
