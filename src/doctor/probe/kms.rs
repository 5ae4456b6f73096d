//! The trail key: for each KMS key of the trails that deliver to the bucket, the role's own
//! decision on `kms:Decrypt` with `kms:ViaService` = `s3.<bucket region>.amazonaws.com`
//! (IAM's simulation, else the local evaluator) and the key policy (`GetKeyPolicy`, evaluated
//! locally).

use super::{FunctionFacts, Wanted, bucket, call_failed, decide, not_a_policy};
use crate::aws::DoctorClients;
use crate::doctor::kms::{Caller, DECRYPT, KeyFacts, KeyGrant, Setting, check_kms, key_grant};
use crate::doctor::policy::{Decision, Policies};
use crate::doctor::trail::TrailFacts;
use crate::doctor::{Check, ProbeError, Target};

/// The KMS key line for the trails `ours` (those delivering to the bucket).
pub(super) async fn kms_line(
    clients: &DoctorClients,
    target: &Target,
    f: &FunctionFacts,
    ours: &[&TrailFacts],
) -> Check {
    let (_, stack_region, account) = f.place();
    let mut keyed: Vec<(&TrailFacts, &str)> = Vec::new();
    for t in ours {
        if let Some(key) = t.kms_key_id.as_deref().filter(|k| !k.is_empty())
            && !keyed.iter().any(|(_, k)| *k == key)
        {
            keyed.push((t, key));
        }
    }
    let setting = Setting {
        stack: target.stack.clone(),
        kms_key_arn: target.kms_key_arn.clone().unwrap_or_default(),
    };
    let mut caller = Caller {
        role_arn: f.role_arn.clone(),
        account: account.to_owned(),
        via_service: String::new(),
        trail_arn: String::new(),
    };
    let names: Vec<String> = ours.iter().map(|t| t.name.clone()).collect();
    if keyed.is_empty() {
        return check_kms(&[], &names, &caller, &setting);
    }
    // An SSE-KMS key is in its bucket's region: the key's region stands in for a bucket whose
    // location cannot be read.
    let region = match bucket::region(&clients.s3, &target.bucket).await {
        Ok(region) => region,
        Err(_) => super::sns::arn_region(keyed[0].1).to_owned(),
    };
    let region = if region.is_empty() {
        stack_region.to_owned()
    } else {
        region
    };
    caller.via_service = format!("s3.{region}.amazonaws.com");
    let mut keys = Vec::new();
    for (trail, key) in keyed {
        caller.trail_arn.clone_from(&trail.arn);
        keys.push(key_facts(clients, &caller, &trail.name, key).await);
    }
    check_kms(&keys, &names, &caller, &setting)
}

async fn key_facts(clients: &DoctorClients, caller: &Caller, trail: &str, key: &str) -> KeyFacts {
    let context = caller.context();
    let wanted = [Wanted {
        action: DECRYPT,
        resource: key.to_owned(),
        context: &context,
    }];
    let role = match decide(clients, &caller.role_arn, &wanted).await {
        Ok((accesses, method)) => Ok((
            accesses
                .first()
                .map_or(Decision::ImplicitDeny, |a| a.decision),
            method,
        )),
        Err((why, e)) => Err(ProbeError {
            message: format!("cannot simulate the role's policies ({why}) nor read them ({e})"),
            ..e
        }),
    };
    KeyFacts {
        key_arn: key.to_owned(),
        trail: trail.to_owned(),
        role,
        key_policy: key_policy(&clients.kms, key, caller).await,
    }
}

/// What the key policy of `key` grants the caller.
async fn key_policy(
    kms: &aws_sdk_kms::Client,
    key: &str,
    caller: &Caller,
) -> Result<KeyGrant, ProbeError> {
    let out = kms
        .get_key_policy()
        .key_id(key)
        .policy_name("default")
        .send()
        .await
        .map_err(|e| call_failed("GetKeyPolicy", e))?;
    let mut policy = Policies::default();
    policy
        .add(key, out.policy().unwrap_or_default())
        .map_err(|e| not_a_policy("GetKeyPolicy", e))?;
    Ok(key_grant(&policy, key, caller))
}
