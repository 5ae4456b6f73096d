//! The doctor's AWS calls, read-only and thin: each gathers the answers one group of checks
//! needs and hands them to the pure modules; [`examine`] runs every check in order. A call
//! that fails turns its check yellow (or red where the answer is "it does not exist"), never
//! the whole run.
//!
//! Here: the stack, the function, the trails, the notification and the role's permissions
//! (IAM's simulation, else the local evaluator: [`decide`]), the table. In submodules:
//! `kms` (the trail key), `bucket` (the bucket's owner and region), `sns` (subscriptions, the
//! SNS trigger's topic in its own region), `failures` (the two queues and the alarm topics).

mod bucket;
mod failures;
mod kms;
mod sns;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_iam::types::{ContextEntry, ContextKeyTypeEnum};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use jiff::Timestamp;

use super::notify::{LambdaConfig, NotificationFacts, TopicFacts, check_notification, check_owner};
use super::policy::{
    Access, Decision, Method, Policies, PolicyError, Request, check_permissions, sample_log_key,
};
use super::table::{
    PROBED_EVENT_NAMES, TableFacts, TtlFacts, check_indexes, check_keys, check_newest, check_ttl,
};
use super::trail::{TrailFacts, check_trail};
use super::{Check, MissingInStack, ProbeError, Report, StackFacts, Target, Trigger, names};
use crate::aws::{DoctorClients, describe_error};
use crate::config::Config;
use crate::dynamodb::BY_EVENT_NAME;
use crate::error::BoxError;
use crate::item::SORT_KEY;

/// A stack could not be read, or names too little.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// CloudFormation refused or failed the call.
    #[error("cannot describe stack {stack}: {message}")]
    Describe {
        /// The stack.
        stack: String,
        /// What CloudFormation said.
        message: String,
        /// The SDK error.
        #[source]
        source: BoxError,
    },
    /// The stack names no function, table or bucket.
    #[error(transparent)]
    Missing(#[from] MissingInStack),
}

fn describe_failed<E, R>(stack: &str, err: SdkError<E, R>) -> StackError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StackError::Describe {
        stack: stack.to_owned(),
        message: describe_error(&err),
        source: Box::new(err),
    }
}

/// A failed call of the doctor's, its SDK error kept as the source.
fn call_failed<E, R>(call: &'static str, err: SdkError<E, R>) -> ProbeError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    ProbeError {
        call,
        message: describe_error(&err),
        source: Some(Box::new(err)),
    }
}

/// A policy document `call` returned that is not one.
fn not_a_policy(call: &'static str, err: PolicyError) -> ProbeError {
    ProbeError {
        call,
        message: err.to_string(),
        source: Some(Box::new(err)),
    }
}

/// What to check in the stack `name` (CloudFormation DescribeStacks and
/// DescribeStackResources).
///
/// # Errors
/// The stack cannot be described, or names no function, table or bucket.
pub async fn resolve_stack(clients: &DoctorClients, name: &str) -> Result<Target, StackError> {
    let cfn = &clients.cloudformation;
    let stacks = cfn
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .map_err(|e| describe_failed(name, e))?;
    let resources = cfn
        .describe_stack_resources()
        .stack_name(name)
        .send()
        .await
        .map_err(|e| describe_failed(name, e))?;
    let pair =
        |k: Option<&str>, v: Option<&str>| Some((k?.to_owned(), v.unwrap_or_default().to_owned()));
    let mut facts = StackFacts {
        name: name.to_owned(),
        ..StackFacts::default()
    };
    if let Some(stack) = stacks.stacks().first() {
        facts.outputs = stack
            .outputs()
            .iter()
            .filter_map(|o| pair(o.output_key(), o.output_value()))
            .collect();
        facts.parameters = stack
            .parameters()
            .iter()
            .filter_map(|p| pair(p.parameter_key(), p.parameter_value()))
            .collect();
    }
    facts.resources = resources
        .stack_resources()
        .iter()
        .filter_map(|r| pair(r.logical_resource_id(), r.physical_resource_id()))
        .collect();
    Ok(Target::from_stack(&facts)?)
}

/// The function's configuration, as far as the checks need it.
struct FunctionFacts {
    arn: String,
    role_arn: String,
    env: HashMap<String, String>,
}

impl FunctionFacts {
    /// `(partition, region, account)` from the function's ARN.
    fn place(&self) -> (&str, &str, &str) {
        let mut parts = self.arn.split(':').skip(1);
        let partition = parts.next().unwrap_or("aws");
        let region = parts.nth(1).unwrap_or_default();
        let account = parts.next().unwrap_or_default();
        (partition, region, account)
    }
}

async fn function(clients: &DoctorClients, name: &str) -> Result<FunctionFacts, Check> {
    let out = clients
        .lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
        .map_err(|e| {
            let text = describe_error(&e);
            if e.code() == Some("ResourceNotFoundException") {
                Check::fix(
                    names::FUNCTION,
                    format!("function {name} does not exist: {text}"),
                    "give the deployed function's name (the stack's FunctionName output)",
                )
            } else {
                Check::unknown(
                    names::FUNCTION,
                    format!("cannot read function {name}: {text}"),
                )
            }
        })?;
    Ok(FunctionFacts {
        arn: out.function_arn().unwrap_or(name).to_owned(),
        role_arn: out.role().unwrap_or_default().to_owned(),
        env: out
            .environment()
            .and_then(|e| e.variables())
            .cloned()
            .unwrap_or_default(),
    })
}

fn check_function(f: &FunctionFacts, table: &str) -> Check {
    match f.env.get("TABLE_NAME") {
        Some(t) if t == table => Check::ok(
            names::FUNCTION,
            format!("function {} writes table {table}", f.arn),
        ),
        other => Check::fix(
            names::FUNCTION,
            format!(
                "function {} writes TABLE_NAME={}, not {table}",
                f.arn,
                other.map_or("(unset)", String::as_str)
            ),
            "point the function's TABLE_NAME at the table (update the stack), or give the \
             function's table to --table",
        ),
    }
}

async fn trails(clients: &DoctorClients) -> Result<Vec<TrailFacts>, ProbeError> {
    let ct = &clients.cloudtrail;
    let out = ct
        .describe_trails()
        .send()
        .await
        .map_err(|e| call_failed("DescribeTrails", e))?;
    let mut trails = Vec::new();
    for t in out.trail_list() {
        let name = t.name().unwrap_or_default().to_owned();
        let status = ct
            .get_trail_status()
            .name(t.trail_arn().unwrap_or(&name))
            .send()
            .await
            .ok();
        trails.push(TrailFacts {
            arn: t.trail_arn().unwrap_or_default().to_owned(),
            kms_key_id: t.kms_key_id().map(str::to_owned),
            bucket: t.s3_bucket_name().unwrap_or_default().to_owned(),
            key_prefix: t.s3_key_prefix().map(str::to_owned),
            logging: status.as_ref().and_then(
                aws_sdk_cloudtrail::operation::get_trail_status::GetTrailStatusOutput::is_logging,
            ),
            last_delivery: status
                .as_ref()
                .and_then(|s| s.latest_delivery_time())
                .map(ToString::to_string),
            delivery_error: status
                .as_ref()
                .and_then(|s| s.latest_delivery_error())
                .filter(|e| !e.is_empty())
                .map(str::to_owned),
            topic: t.sns_topic_arn().map(str::to_owned),
            name,
        });
    }
    Ok(trails)
}

/// The enabled EventBridge rules on S3's events that target the function.
async fn rules_targeting(
    clients: &DoctorClients,
    function_arn: &str,
) -> Result<Vec<String>, ProbeError> {
    let eb = &clients.eventbridge;
    let names = eb
        .list_rule_names_by_target()
        .target_arn(function_arn)
        .send()
        .await
        .map_err(|e| call_failed("ListRuleNamesByTarget", e))?;
    let mut enabled = Vec::new();
    for name in names.rule_names() {
        let rule = eb
            .describe_rule()
            .name(name)
            .send()
            .await
            .map_err(|e| call_failed("DescribeRule", e))?;
        // Only a rule on S3's events brings log files: the stack's real-time rule on
        // aws.autoscaling targets the function too, and says nothing of the bucket.
        let on_s3 = rule
            .event_pattern()
            .is_some_and(|p| p.contains("\"aws.s3\""));
        if on_s3 && rule.state().is_some_and(|s| s.as_str() == "ENABLED") {
            enabled.push(name.clone());
        }
    }
    Ok(enabled)
}

async fn notification(
    clients: &DoctorClients,
    bucket: &str,
    function_arn: &str,
    trail_topics: &[String],
) -> Result<NotificationFacts, ProbeError> {
    let out = clients
        .s3
        .get_bucket_notification_configuration()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| call_failed("GetBucketNotificationConfiguration", e))?;
    let lambda = out
        .lambda_function_configurations()
        .iter()
        .map(|c| LambdaConfig {
            function_arn: c.lambda_function_arn().to_owned(),
            events: c.events().iter().map(|e| e.as_str().to_owned()).collect(),
            prefix: c
                .filter()
                .and_then(|f| f.key())
                .map(aws_sdk_s3::types::S3KeyFilter::filter_rules)
                .unwrap_or_default()
                .iter()
                .find(|r| {
                    r.name()
                        .is_some_and(|n| n.as_str().eq_ignore_ascii_case("prefix"))
                })
                .and_then(|r| r.value())
                .map(str::to_owned),
        })
        .collect();
    let eventbridge = out.event_bridge_configuration().is_some();
    let rules = if eventbridge {
        rules_targeting(clients, function_arn).await
    } else {
        Ok(vec![])
    };
    let mut topics = Vec::new();
    let bucket_topics = out
        .topic_configurations()
        .iter()
        .map(aws_sdk_s3::types::TopicConfiguration::topic_arn);
    for arn in bucket_topics.chain(trail_topics.iter().map(String::as_str)) {
        topics.push(TopicFacts {
            arn: arn.to_owned(),
            subscribed: sns::subscribed(&clients.sns, arn, function_arn).await,
        });
    }
    Ok(NotificationFacts {
        lambda,
        eventbridge,
        rules,
        topics,
    })
}

/// One access the function needs: an action on a resource, and the condition keys known of
/// the request (empty: none).
struct Wanted<'a> {
    action: &'a str,
    resource: String,
    context: &'a [(&'a str, &'a str)],
}

/// The decisions of IAM's simulation, or why it is unavailable.
async fn simulate(
    iam: &aws_sdk_iam::Client,
    role_arn: &str,
    wanted: &[Wanted<'_>],
) -> Result<Vec<Access>, ProbeError> {
    let mut accesses = Vec::new();
    for w in wanted {
        let entries = w.context.iter().map(|(key, value)| {
            ContextEntry::builder()
                .context_key_name(*key)
                .context_key_values(*value)
                .context_key_type(ContextKeyTypeEnum::String)
                .build()
        });
        let out = iam
            .simulate_principal_policy()
            .policy_source_arn(role_arn)
            .action_names(w.action)
            .resource_arns(&w.resource)
            .set_context_entries(Some(entries.collect()))
            .send()
            .await
            .map_err(|e| call_failed("SimulatePrincipalPolicy", e))?;
        let decision = out
            .evaluation_results()
            .iter()
            .map(|r| Decision::from_simulation(r.eval_decision().as_str()))
            .next()
            .unwrap_or(Decision::ImplicitDeny);
        accesses.push(Access {
            action: w.action.to_owned(),
            resource: w.resource.clone(),
            decision,
        });
    }
    Ok(accesses)
}

/// The decisions on `wanted` for the role, and how they were made: by IAM's simulation, else
/// (denied, or a server without it) by the local evaluator of the role's policies.
///
/// # Errors
/// Neither way was available: the simulation's error and the policies' error.
async fn decide(
    clients: &DoctorClients,
    role_arn: &str,
    wanted: &[Wanted<'_>],
) -> Result<(Vec<Access>, Method), (ProbeError, ProbeError)> {
    let why = match simulate(&clients.iam, role_arn, wanted).await {
        Ok(accesses) => return Ok((accesses, Method::Simulated)),
        Err(why) => why,
    };
    let role = role_arn.rsplit('/').next().unwrap_or(role_arn);
    let policies = match role_policies(clients, role).await {
        Ok(policies) => policies,
        Err(e) => return Err((why, e)),
    };
    let accesses = wanted
        .iter()
        .map(|w| Access {
            action: w.action.to_owned(),
            resource: w.resource.clone(),
            decision: policies.decide(&Request {
                action: w.action,
                resource: &w.resource,
                principals: &[],
                context: w.context,
            }),
        })
        .collect();
    Ok((accesses, Method::Local(why.to_string())))
}

/// The role's inline and attached managed policies.
async fn role_policies(clients: &DoctorClients, role: &str) -> Result<Policies, ProbeError> {
    let iam = &clients.iam;
    let mut policies = Policies::default();
    let inline = iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .map_err(|e| call_failed("ListRolePolicies", e))?;
    for name in inline.policy_names() {
        let p = iam
            .get_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .map_err(|e| call_failed("GetRolePolicy", e))?;
        policies
            .add(name, p.policy_document())
            .map_err(|e| not_a_policy("GetRolePolicy", e))?;
    }
    let attached = iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .map_err(|e| call_failed("ListAttachedRolePolicies", e))?;
    for arn in attached
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn())
    {
        let policy = iam
            .get_policy()
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| call_failed("GetPolicy", e))?;
        let version = policy
            .policy()
            .and_then(|p| p.default_version_id())
            .unwrap_or("v1");
        let doc = iam
            .get_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
            .map_err(|e| call_failed("GetPolicyVersion", e))?;
        let text = doc
            .policy_version()
            .and_then(|v| v.document())
            .unwrap_or_default();
        policies
            .add(arn, text)
            .map_err(|e| not_a_policy("GetPolicyVersion", e))?;
    }
    Ok(policies)
}

async fn permissions(
    clients: &DoctorClients,
    f: &FunctionFacts,
    object_arn: String,
    table_arn: String,
) -> Check {
    let wanted = [
        Wanted {
            action: "s3:GetObject",
            resource: object_arn,
            context: &[],
        },
        Wanted {
            action: "dynamodb:BatchWriteItem",
            resource: table_arn,
            context: &[],
        },
    ];
    let role = f.role_arn.rsplit('/').next().unwrap_or(&f.role_arn);
    match decide(clients, &f.role_arn, &wanted).await {
        Ok((accesses, method)) => check_permissions(role, &accesses, &method),
        Err((why, e)) => Check::unknown(
            names::PERMISSIONS,
            format!("cannot simulate the role {role}'s policies ({why}) nor read them ({e})"),
        ),
    }
}

async fn table(
    clients: &DoctorClients,
    table: &str,
) -> Result<(TableFacts, Option<String>), ProbeError> {
    let out = clients
        .dynamodb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| call_failed("DescribeTable", e))?;
    let Some(t) = out.table() else {
        return Err(ProbeError::new(
            "DescribeTable",
            format!("DescribeTable returned no table {table}"),
        ));
    };
    let facts = TableFacts {
        key_schema: t
            .key_schema()
            .iter()
            .map(|k| {
                (
                    k.attribute_name().to_owned(),
                    k.key_type().as_str().to_owned(),
                )
            })
            .collect(),
        attributes: t
            .attribute_definitions()
            .iter()
            .map(|a| {
                (
                    a.attribute_name().to_owned(),
                    a.attribute_type().as_str().to_owned(),
                )
            })
            .collect(),
        indexes: t
            .global_secondary_indexes()
            .iter()
            .map(|i| {
                (
                    i.index_name().unwrap_or_default().to_owned(),
                    i.index_status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                )
            })
            .collect(),
    };
    Ok((facts, t.table_arn().map(str::to_owned)))
}

async fn ttl(clients: &DoctorClients, table: &str) -> Result<TtlFacts, ProbeError> {
    let out = clients
        .dynamodb
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|e| call_failed("DescribeTimeToLive", e))?;
    let d = out.time_to_live_description();
    Ok(TtlFacts {
        status: d
            .and_then(|d| d.time_to_live_status())
            .map_or("DISABLED", |s| s.as_str())
            .to_owned(),
        attribute: d.and_then(|d| d.attribute_name()).map(str::to_owned),
    })
}

/// The newest `eventKey` of the probed event names: one `Query`, `Limit 1`, newest first, per
/// name on the byEventName index.
async fn newest(clients: &DoctorClients, table: &str) -> Result<Option<String>, ProbeError> {
    let mut newest: Option<String> = None;
    for name in PROBED_EVENT_NAMES {
        let out = clients
            .dynamodb
            .query()
            .table_name(table)
            .index_name(BY_EVENT_NAME)
            .key_condition_expression("#n = :n")
            .expression_attribute_names("#n", "eventName")
            .expression_attribute_values(":n", AttributeValue::S((*name).to_owned()))
            .scan_index_forward(false)
            .limit(1)
            .send()
            .await
            .map_err(|e| call_failed("Query", e))?;
        let key = out
            .items()
            .first()
            .and_then(|i| i.get(SORT_KEY))
            .and_then(|v| v.as_s().ok())
            .cloned();
        if key > newest {
            newest = key;
        }
    }
    Ok(newest)
}

/// Runs every check against `target`, in the order of [`names`]; `now` and `max_age_hours`
/// judge the newest item.
pub async fn examine(
    clients: &DoctorClients,
    target: &Target,
    now: Timestamp,
    max_age_hours: u64,
) -> Report {
    let mut checks = Vec::new();
    let function = function(clients, &target.function).await;
    checks.push(match &function {
        Ok(f) => check_function(f, &target.table),
        Err(check) => check.clone(),
    });
    let trails = trails(clients).await;
    checks.push(match &trails {
        Ok(trails) => check_trail(trails, &target.bucket, &target.prefix),
        Err(e) => Check::unknown(names::TRAIL, format!("cannot list the trails: {e}")),
    });
    let described = table(clients, &target.table).await;
    match &function {
        Ok(f) => {
            let trails = trails.as_deref().unwrap_or_default();
            let table_arn = described.as_ref().ok().and_then(|(_, arn)| arn.clone());
            checks.extend(wiring_checks(clients, target, f, trails, table_arn).await);
        }
        Err(_) => {
            let topic = target.log_topic_arn.as_ref().map(|_| names::LOG_FILE_TOPIC);
            let needing = [
                Some(names::NOTIFICATION),
                topic,
                Some(names::PERMISSIONS),
                Some(names::KMS_KEY),
            ];
            for name in needing.into_iter().flatten() {
                checks.push(Check::unknown(
                    name,
                    "needs the function, which cannot be read",
                ));
            }
        }
    }
    checks.extend(table_checks(clients, target, &described, &function, now, max_age_hours).await);
    checks.extend(failures::failure_checks(clients, target).await);
    Report { checks }
}

/// The lines that need the function: notification, the SNS trigger's topic, permissions and
/// the KMS key.
async fn wiring_checks(
    clients: &DoctorClients,
    target: &Target,
    f: &FunctionFacts,
    trails: &[TrailFacts],
    table_arn: Option<String>,
) -> Vec<Check> {
    let ours: Vec<&TrailFacts> = trails
        .iter()
        .filter(|t| t.bucket == target.bucket)
        .collect();
    let (partition, region, account) = f.place();
    let mut checks = vec![notification_line(clients, target, f, &ours).await];
    if let Some(topic) = &target.log_topic_arn {
        checks.push(sns::log_topic_line(clients, topic, &f.arn).await);
    }
    let root = ours.first().map(|t| t.root());
    let key = sample_log_key(&target.prefix, root.as_deref(), account, region);
    let object = format!("arn:{partition}:s3:::{}/{key}", target.bucket);
    let table_arn = table_arn.unwrap_or_else(|| {
        format!(
            "arn:{partition}:dynamodb:{region}:{account}:table/{}",
            target.table
        )
    });
    checks.push(permissions(clients, f, object, table_arn).await);
    checks.push(kms::kms_line(clients, target, f, &ours).await);
    checks
}

/// The notification line: red at once for the EventBridge trigger on a bucket of another
/// account (known from a stack only: then the caller's account is the stack's).
async fn notification_line(
    clients: &DoctorClients,
    target: &Target,
    f: &FunctionFacts,
    ours: &[&TrailFacts],
) -> Check {
    let (_, _, account) = f.place();
    if target.trigger == Some(Trigger::EventBridge)
        && target.stack.is_some()
        && let Ok(owner) = bucket::ownership(&clients.s3, &target.bucket).await
        && let Some(red) = check_owner(&target.bucket, account, owner)
    {
        return red;
    }
    let topics: Vec<String> = ours.iter().filter_map(|t| t.topic.clone()).collect();
    match notification(clients, &target.bucket, &f.arn, &topics).await {
        Ok(facts) => check_notification(&facts, &f.arn, &target.prefix),
        Err(e) => Check::unknown(
            names::NOTIFICATION,
            format!(
                "cannot read the notification of s3://{}: {e}",
                target.bucket
            ),
        ),
    }
}

async fn table_checks(
    clients: &DoctorClients,
    target: &Target,
    described: &Result<(TableFacts, Option<String>), ProbeError>,
    function: &Result<FunctionFacts, Check>,
    now: Timestamp,
    max_age_hours: u64,
) -> Vec<Check> {
    let t = &target.table;
    let mut checks = Vec::new();
    match described {
        Ok((facts, _)) => {
            checks.push(check_keys(t, facts));
            checks.push(check_indexes(t, facts));
        }
        Err(e) => {
            let text = format!("cannot describe table {t}: {e}");
            checks.push(Check::fix(
                names::TABLE_KEYS,
                text.clone(),
                "give the deployed table's name (the stack's TableName output)",
            ));
            checks.push(Check::unknown(names::TABLE_INDEXES, text));
        }
    }
    let retention = function.as_ref().ok().map(|f| {
        Config::from_lookup(|name| f.env.get(name).cloned())
            .map(|c| (c.retention_days, c.read_only_retention_days))
    });
    checks.push(match (retention, ttl(clients, t).await) {
        (Some(Ok(days)), Ok(ttl)) => check_ttl(t, &ttl, days),
        (Some(Err(e)), _) => {
            Check::unknown(names::TABLE_TTL, format!("the function's settings: {e}"))
        }
        (None, _) => Check::unknown(
            names::TABLE_TTL,
            "needs the function's RETENTION_DAYS and READ_ONLY_RETENTION_DAYS",
        ),
        (_, Err(e)) => Check::unknown(names::TABLE_TTL, format!("cannot read the TTL of {t}: {e}")),
    });
    checks.push(match newest(clients, t).await {
        Ok(key) => check_newest(key.as_deref(), now, max_age_hours),
        Err(e) => Check::unknown(names::NEWEST_ITEM, format!("cannot query {t}: {e}")),
    });
    checks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamodb::testing::ddb_error;
    use aws_sdk_dynamodb::Client;
    use aws_sdk_dynamodb::config::http::HttpResponse;
    use aws_sdk_dynamodb::operation::describe_table::DescribeTableError;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    /// IAM's answer to a simulation: `decision` for kms:Decrypt.
    fn simulated(
        decision: aws_sdk_iam::types::PolicyEvaluationDecisionType,
    ) -> aws_sdk_iam::operation::simulate_principal_policy::SimulatePrincipalPolicyOutput {
        let result = aws_sdk_iam::types::EvaluationResult::builder()
            .eval_action_name("kms:Decrypt")
            .eval_decision(decision)
            .build()
            .expect("result");
        aws_sdk_iam::operation::simulate_principal_policy::SimulatePrincipalPolicyOutput::builder()
            .evaluation_results(result)
            .build()
    }

    #[tokio::test]
    async fn the_simulation_asks_with_the_requests_context() {
        use aws_sdk_iam::operation::simulate_principal_policy::SimulatePrincipalPolicyInput;
        use aws_sdk_iam::types::PolicyEvaluationDecisionType::{Allowed, ImplicitDeny};
        let via = |r: &SimulatePrincipalPolicyInput| {
            r.context_entries().iter().any(|e| {
                e.context_key_name() == Some("kms:ViaService")
                    && e.context_key_values() == ["s3.eu-west-1.amazonaws.com"]
                    && e.context_key_type() == Some(&ContextKeyTypeEnum::String)
            }) && r.action_names() == ["kms:Decrypt"]
                && r.resource_arns() == ["arn:aws:kms:eu-west-1:1:key/k"]
        };
        let allowed = mock!(aws_sdk_iam::Client::simulate_principal_policy)
            .match_requests(via)
            .then_output(|| simulated(Allowed));
        // Any other request (no context, another region) is answered "implicitDeny".
        let denied = mock!(aws_sdk_iam::Client::simulate_principal_policy)
            .then_output(|| simulated(ImplicitDeny));
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&allowed, &denied]);
        let ask = |region: &'static str, context: &'static [(&'static str, &'static str)]| {
            let iam = iam.clone();
            async move {
                let wanted = [Wanted {
                    action: "kms:Decrypt",
                    resource: format!("arn:aws:kms:{region}:1:key/k"),
                    context,
                }];
                simulate(&iam, "arn:aws:iam::1:role/r", &wanted)
                    .await
                    .expect("simulated")[0]
                    .decision
            }
        };
        let through_s3 = &[("kms:ViaService", "s3.eu-west-1.amazonaws.com")];
        assert_eq!(ask("eu-west-1", through_s3).await, Decision::Allowed);
        assert_eq!(ask("eu-west-1", &[]).await, Decision::ImplicitDeny);
        assert_eq!(allowed.num_calls(), 1);
        assert_eq!(denied.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_failed_call_says_what_the_service_said_and_keeps_the_sdk_error() {
        let rule = mock!(Client::describe_table)
            .then_http_response(|| ddb_error(400, "AccessDeniedException", "not authorized"));
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]);
        let err = client
            .describe_table()
            .table_name("t")
            .send()
            .await
            .expect_err("denied");
        let said = describe_error(&err);
        let failed = call_failed("DescribeTable", err);
        assert_eq!(failed.call, "DescribeTable");
        assert_eq!(failed.to_string(), said);
        assert!(
            said.starts_with("AccessDeniedException: not authorized"),
            "{said}"
        );
        let source = std::error::Error::source(&failed).expect("the SDK error is the source");
        assert!(
            source
                .downcast_ref::<SdkError<DescribeTableError, HttpResponse>>()
                .is_some(),
            "{source:?}"
        );
    }
}
