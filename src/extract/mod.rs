//! From one CloudTrail record to the table's items: keeps the Amazon EC2 Auto Scaling API calls,
//! leaves out Application Auto Scaling (which shares the `autoscaling.amazonaws.com` event
//! source) and Insights events, applies the operator's [`Filters`], and files each kept event
//! under every group it names ([`rules`]), or under the account partition when it names none or
//! is a read-only call.
//! With [`Filters::include_service_actions`], the EC2 calls Auto Scaling makes itself are kept
//! too ([`service`]).
//!
//! Records are given as raw JSON text. A cheap first pass reads only `eventSource` and
//! `eventType` (plus, for EC2 records when the opt-in is on, who made the call); the full record
//! is only deserialized (with borrowed strings) for the records that may be kept, and only the
//! kept ones get their `requestParameters` / `responseElements` materialized.

pub mod rules;
pub mod service;
pub mod version;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::item::{self, Item, Origin};
pub use version::EventVersion;

/// The event source shared by EC2 Auto Scaling and Application Auto Scaling; also the
/// principal (`invokedBy`) and source address of the calls EC2 Auto Scaling makes itself.
pub const AUTOSCALING_EVENT_SOURCE: &str = "autoscaling.amazonaws.com";
/// The `eventType` of CloudTrail Insights events, which are not API calls.
pub const INSIGHT_EVENT_TYPE: &str = "AwsCloudTrailInsight";

/// What to keep, beyond the EC2 Auto Scaling API calls (which are always kept unless a filter
/// drops them). The default keeps every call but the read-only ones, and no service action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filters {
    /// Also keep the EC2 calls Auto Scaling makes itself (`INCLUDE_SERVICE_ACTIONS`).
    pub include_service_actions: bool,
    /// Drop events with `readOnly` true (`EXCLUDE_READ_ONLY`).
    pub exclude_read_only: bool,
    /// When not empty, keep only these event names (`EVENT_NAMES_INCLUDE`).
    pub event_names_include: BTreeSet<String>,
    /// Drop these event names (`EVENT_NAMES_EXCLUDE`).
    pub event_names_exclude: BTreeSet<String>,
}

impl Default for Filters {
    /// Every Auto Scaling call but the read-only ones; no service action.
    fn default() -> Self {
        Self {
            include_service_actions: false,
            exclude_read_only: true,
            event_names_include: BTreeSet::new(),
            event_names_exclude: BTreeSet::new(),
        }
    }
}

impl Filters {
    /// Parses a comma-separated list of event names: each name trimmed, empty names ignored
    /// (so an empty or blank list means "no filter").
    #[must_use]
    pub fn event_names(list: &str) -> BTreeSet<String> {
        list.split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Why an event is dropped, `None` when it is kept.
    pub(crate) fn drops(
        &self,
        event_name: Option<&str>,
        read_only: Option<bool>,
    ) -> Option<&'static str> {
        let name = event_name.unwrap_or_default();
        if self.exclude_read_only && read_only == Some(true) {
            Some("read-only")
        } else if !self.event_names_include.is_empty() && !self.event_names_include.contains(name) {
            Some("event name not included")
        } else if self.event_names_exclude.contains(name) {
            Some("event name excluded")
        } else {
            None
        }
    }
}

/// What became of one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// An event to store, as its items (one per group it names, or one in the account
    /// partition when it names none or is read-only; never none).
    Kept(Vec<Item>),
    /// Not an Auto Scaling record (another service, an Insights event, or an EC2 call of Auto
    /// Scaling's while those are not asked for).
    Other,
    /// An Application Auto Scaling call under the shared event source: deliberately left out.
    ApplicationAutoScaling,
    /// An event the [`Filters`] dropped, with the reason.
    Filtered(&'static str),
    /// A record that cannot be stored: not a JSON object, wrong field types, or no key
    /// (`eventTime`, `eventID`).
    Rejected(Rejection),
}

impl Outcome {
    /// The outcome of a record that is not valid JSON: rejected, with what can be said of it.
    #[must_use]
    pub fn invalid_json(error: &serde_json::Error) -> Self {
        Self::Rejected(Rejection {
            reason: format!("not valid JSON: {error}"),
            event_name: None,
            request_id: None,
        })
    }
}

/// Why a record was rejected, with what identifies it for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The reason, in words.
    pub reason: String,
    /// The record's `eventName`, when it could be read.
    pub event_name: Option<String>,
    /// The record's `requestID`, when it could be read.
    pub request_id: Option<String>,
}

/// Just enough of a record to decide whether it may be kept.
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(rename = "eventSource", borrow, default)]
    event_source: Option<Cow<'a, str>>,
    #[serde(rename = "eventType", borrow, default)]
    event_type: Option<Cow<'a, str>>,
    #[serde(rename = "sourceIPAddress", borrow, default)]
    source_ip_address: Option<Cow<'a, str>>,
    /// Kept raw (a slice of the record, not parsed) until an EC2 record needs it.
    #[serde(rename = "userIdentity", borrow, default)]
    user_identity: Option<&'a RawValue>,
}

/// Who made an EC2 call.
#[derive(Deserialize, Default)]
struct InvokedBy<'a> {
    #[serde(rename = "invokedBy", borrow, default)]
    invoked_by: Option<Cow<'a, str>>,
}

/// The fields of a CloudTrail record that the item model uses. Unknown fields are ignored, so
/// new CloudTrail fields never break ingestion.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    #[serde(borrow, default)]
    event_version: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event_time: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event_name: Option<Cow<'a, str>>,
    #[serde(rename = "eventID", borrow, default)]
    event_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    aws_region: Option<Cow<'a, str>>,
    #[serde(rename = "requestID", borrow, default)]
    request_id: Option<Cow<'a, str>>,
    #[serde(rename = "sourceIPAddress", borrow, default)]
    source_ip_address: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    user_agent: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    error_code: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    error_message: Option<Cow<'a, str>>,
    #[serde(default)]
    read_only: Option<bool>,
    /// `"true"` in CloudTrail's records (a string); kept raw, so that no spelling of it can
    /// make the record unreadable.
    #[serde(borrow, default)]
    session_credential_from_console: Option<&'a RawValue>,
    #[serde(borrow, default)]
    recipient_account_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    user_identity: Option<UserIdentity<'a>>,
    #[serde(borrow, default)]
    request_parameters: Option<&'a RawValue>,
    #[serde(borrow, default)]
    response_elements: Option<&'a RawValue>,
    #[serde(borrow, default)]
    additional_event_data: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UserIdentity<'a> {
    #[serde(rename = "type", borrow, default)]
    identity_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    principal_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    arn: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    account_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    user_name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    invoked_by: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    session_context: Option<SessionContext<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionContext<'a> {
    #[serde(borrow, default)]
    session_issuer: Option<SessionIssuer<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionIssuer<'a> {
    /// `Role` for an assumed role, `IAMUser` for a federated user's session.
    #[serde(rename = "type", borrow, default)]
    issuer_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    user_name: Option<Cow<'a, str>>,
}

/// The parts of `requestParameters` that tell Application Auto Scaling apart.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RequestProbe<'a> {
    /// Present on every Application Auto Scaling call but the tagging ones; EC2 Auto Scaling
    /// has no such parameter.
    #[serde(borrow, default)]
    service_namespace: Option<Cow<'a, str>>,
    /// Application Auto Scaling's tagging calls name an `application-autoscaling` ARN.
    #[serde(rename = "resourceARN", borrow, default)]
    resource_arn: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct AdditionalEventData<'a> {
    #[serde(borrow, default)]
    service: Option<Cow<'a, str>>,
}

/// Classifies one record and, for an event to keep, builds its items. `source_object` is
/// recorded on every item (`s3://bucket/key`, or a file path).
#[must_use]
pub fn extract(raw: &RawValue, source_object: &str, filters: &Filters) -> Outcome {
    let json = raw.get();
    let origin = match origin(json, filters) {
        Ok(origin) => origin,
        Err(outcome) => return outcome,
    };
    let record: Record<'_> = match serde_json::from_str(json) {
        Ok(r) => r,
        Err(e) => return reject(json, format!("malformed record: {e}")),
    };
    if origin == Origin::Api && is_application_autoscaling(&record) {
        return Outcome::ApplicationAutoScaling;
    }
    if let Some(reason) = filters.drops(record.event_name.as_deref(), record.read_only) {
        return Outcome::Filtered(reason);
    }
    let (Some(event_time), Some(event_id)) = (
        record.event_time.as_deref().filter(|s| !s.is_empty()),
        record.event_id.as_deref().filter(|s| !s.is_empty()),
    ) else {
        return Outcome::Rejected(Rejection {
            reason: "record has no eventTime or no eventID, so it cannot be keyed".into(),
            event_name: record.event_name.map(Cow::into_owned),
            request_id: record.request_id.map(Cow::into_owned),
        });
    };
    let key = (event_time.to_owned(), event_id.to_owned());
    let (item, groups) = build_item(record, origin, key, source_object);
    let partitions = partitions(&item, groups);
    // DynamoDB refuses keys over its limits (and with them the whole batch): such an event
    // cannot be stored, so it is rejected here, counted and logged, and the file goes on.
    let longest = partitions.iter().map(String::len).max().unwrap_or(0);
    let problem = partitions
        .iter()
        .find(|p| p.len() == longest)
        .and_then(|p| item::key_problem(p, &item.event_key));
    if let Some(problem) = problem {
        return Outcome::Rejected(Rejection {
            reason: format!("the event cannot be keyed: {problem}"),
            event_name: item.event_name,
            request_id: item.request_id,
        });
    }
    Outcome::Kept(fan_out(item, partitions))
}

/// The partitions an event is filed under: each group it names, or the account partition
/// when it names none. A read-only call is filed once, under the account partition, whatever
/// it names (its `groupNames` still lists them): it changes nothing, and a Describe naming N
/// groups, N times a minute, would otherwise be stored N times over.
fn partitions(item: &Item, groups: BTreeSet<String>) -> Vec<String> {
    if groups.is_empty() || item.read_only == Some(true) {
        vec![item::account_partition(&item.account_id)]
    } else {
        groups.into_iter().collect()
    }
}

/// Whose call a record is, on a first cheap read of it: an Auto Scaling API call, one of Auto
/// Scaling's own EC2 calls (when the filters ask for them), or the outcome of anything else.
fn origin(json: &str, filters: &Filters) -> Result<Origin, Outcome> {
    let probe: Probe<'_> = serde_json::from_str(json)
        .map_err(|e| reject(json, format!("not a CloudTrail record: {e}")))?;
    if probe.event_type.as_deref() == Some(INSIGHT_EVENT_TYPE) {
        return Err(Outcome::Other);
    }
    match probe.event_source.as_deref() {
        Some(AUTOSCALING_EVENT_SOURCE) => Ok(Origin::Api),
        Some(service::EC2_EVENT_SOURCE) if filters.include_service_actions => {
            let invoked_by = probe
                .user_identity
                .and_then(|raw| serde_json::from_str::<InvokedBy<'_>>(raw.get()).ok())
                .unwrap_or_default()
                .invoked_by;
            if service::made_by_autoscaling(
                invoked_by.as_deref(),
                probe.source_ip_address.as_deref(),
            ) {
                Ok(Origin::Service)
            } else {
                Err(Outcome::Other)
            }
        }
        _ => Err(Outcome::Other),
    }
}

/// The item of a kept record (its partition key not yet set) and the groups it names.
/// `key` is the record's `(eventTime, eventID)`.
fn build_item(
    record: Record<'_>,
    origin: Origin,
    (event_time, event_id): (String, String),
    source_object: &str,
) -> (Item, BTreeSet<String>) {
    let identity = record.user_identity.unwrap_or_default();
    let account_id = record
        .recipient_account_id
        .as_deref()
        .or(identity.account_id.as_deref())
        .filter(|s| !s.is_empty())
        .unwrap_or("unknown")
        .to_owned();
    let (user_name, role_name) = principal_names(&identity);
    let mut omitted = BTreeMap::new();
    let request_parameters = record
        .request_parameters
        .and_then(|raw| materialize(raw, "requestParameters", &mut omitted));
    let response_elements = record
        .response_elements
        .and_then(|raw| materialize(raw, "responseElements", &mut omitted));
    // (Activities are not CloudTrail records: they never come here, see `crate::events`.)
    let groups = if origin == Origin::Api {
        rules::groups(request_parameters.as_ref(), response_elements.as_ref())
    } else {
        service::groups(request_parameters.as_ref(), response_elements.as_ref())
    };
    if origin == Origin::Api
        && let Some(name) = record.event_name.as_deref()
        && rules::rule_for(name).is_none()
    {
        tracing::debug!(
            event_name = name,
            groups = groups.len(),
            "Auto Scaling action not in the rule table: attributed by the generic rules"
        );
    }
    let owned = |v: Option<Cow<'_, str>>| v.map(Cow::into_owned);
    let item = Item {
        event_key: item::event_key(&event_time, &event_id),
        event_time,
        event_id,
        group_name: String::new(),
        group_names: groups.iter().cloned().collect(),
        origin,
        event_name: owned(record.event_name),
        event_version: owned(record.event_version),
        aws_region: owned(record.aws_region),
        request_id: owned(record.request_id),
        source_ip_address: owned(record.source_ip_address),
        user_agent: owned(record.user_agent),
        error_code: owned(record.error_code),
        error_message: owned(record.error_message),
        read_only: record.read_only,
        session_credential_from_console: record
            .session_credential_from_console
            .and_then(console_flag),
        account_id,
        user_identity_type: owned(identity.identity_type),
        user_arn: owned(identity.arn),
        principal_id: owned(identity.principal_id),
        invoked_by: owned(identity.invoked_by),
        user_name,
        role_name,
        request_parameters,
        response_elements,
        detail: None,
        source_object: source_object.to_owned(),
        expires_at: None, // set at write time from RETENTION_DAYS (handler)
        omitted,
    };
    (item, groups)
}

/// `sessionCredentialFromConsole` as a flag: `"true"` (what CloudTrail writes) or `true`;
/// `"false"` or `false`; anything else is not a statement.
fn console_flag(raw: &RawValue) -> Option<bool> {
    match raw.get().trim() {
        "\"true\"" | "true" => Some(true),
        "\"false\"" | "false" => Some(false),
        _ => None,
    }
}

/// The role-name prefix of IAM Identity Center (SSO) permission sets: such a role stands for
/// whoever signed in, and its session name is the person.
pub const SSO_ROLE_PREFIX: &str = "AWSReservedSSO_";

/// Who made the call (`userName`) and, for an assumed-role session, the role (`roleName`).
///
/// `userName` is the IAM user, else the role a session was issued by, else the session (or
/// federated user) named in the ARN; but for an IAM Identity Center role (`AWSReservedSSO_*`)
/// it is the session name, the person, rather than the permission set. `roleName` is the
/// session issuer's name when the issuer is a role, else the role named in an assumed-role ARN.
fn principal_names(identity: &UserIdentity<'_>) -> (Option<String>, Option<String>) {
    let issuer = identity
        .session_context
        .as_ref()
        .and_then(|c| c.session_issuer.as_ref());
    let session = identity.arn.as_deref().and_then(session_name_from_arn);
    let role = issuer
        .filter(|i| i.issuer_type.as_deref().is_none_or(|t| t == "Role"))
        .and_then(|i| i.user_name.as_deref())
        .or_else(|| identity.arn.as_deref().and_then(role_in_arn));
    let issuer_name = issuer.and_then(|i| i.user_name.as_deref());
    let user = identity
        .user_name
        .as_deref()
        .or_else(|| match (issuer_name, role, session) {
            (_, Some(role), Some(session)) if role.starts_with(SSO_ROLE_PREFIX) => Some(session),
            (Some(issuer), ..) => Some(issuer),
            (None, _, session) => session,
        });
    (user.map(str::to_owned), role.map(str::to_owned))
}

/// One item per partition (never none), each a copy of `template` under its partition key.
fn fan_out(template: Item, partitions: Vec<String>) -> Vec<Item> {
    let mut items = Vec::with_capacity(partitions.len());
    let mut names = partitions.into_iter().peekable();
    while let Some(group_name) = names.next() {
        if names.peek().is_some() {
            items.push(Item {
                group_name,
                ..template.clone()
            });
        } else {
            items.push(Item {
                group_name,
                ..template
            });
            break;
        }
    }
    items
}

/// What extraction saw in one log file (or, summed, in several).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileStats {
    /// Bytes read from the input (compressed size for gzip).
    pub bytes: u64,
    /// Records read.
    pub records: u64,
    /// Events kept (EC2 Auto Scaling calls, and Auto Scaling's own EC2 calls when asked for).
    pub events: u64,
    /// Items produced from them (one per event and group).
    pub items: u64,
    /// Kept events that name at least one group.
    pub events_in_groups: u64,
    /// Kept events filed under the account partition (they name no group).
    pub events_in_account: u64,
    /// Kept events that are Auto Scaling's own EC2 calls (`origin` = `service`).
    pub service_events: u64,
    /// Application Auto Scaling calls left out.
    pub application_autoscaling: u64,
    /// Events dropped by the filters.
    pub filtered: u64,
    /// Records that could not be stored (see [`Rejection`]).
    pub rejected: u64,
}

impl FileStats {
    /// Counts what became of the last record read (and logs it when it is rejected).
    pub fn count(&mut self, outcome: &Outcome, source_object: &str) {
        match outcome {
            Outcome::Kept(items) => {
                self.events += 1;
                self.items += items.len() as u64;
                if let Some(first) = items.first() {
                    if first.group_names.is_empty() {
                        self.events_in_account += 1;
                    } else {
                        self.events_in_groups += 1;
                    }
                    if first.origin == Origin::Service {
                        self.service_events += 1;
                    }
                }
            }
            Outcome::Other => {}
            Outcome::ApplicationAutoScaling => self.application_autoscaling += 1,
            Outcome::Filtered(_) => self.filtered += 1,
            Outcome::Rejected(rejection) => {
                self.rejected += 1;
                tracing::warn!(
                    source_object,
                    record = self.records,
                    event_name = rejection.event_name.as_deref(),
                    request_id = rejection.request_id.as_deref(),
                    reason = %rejection.reason,
                    "record rejected"
                );
            }
        }
    }

    /// Adds another file's counts to these.
    pub fn add(&mut self, other: &Self) {
        self.bytes += other.bytes;
        self.records += other.records;
        self.events += other.events;
        self.items += other.items;
        self.events_in_groups += other.events_in_groups;
        self.events_in_account += other.events_in_account;
        self.service_events += other.service_events;
        self.application_autoscaling += other.application_autoscaling;
        self.filtered += other.filtered;
        self.rejected += other.rejected;
    }

    /// The share of kept events that name a group, in percent (100 when there is none).
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn percent_in_groups(&self) -> f64 {
        if self.events == 0 {
            100.0
        } else {
            self.events_in_groups as f64 * 100.0 / self.events as f64
        }
    }
}

/// Whether a record's raw text can be an Auto Scaling record (or, with the opt-in, an EC2 call
/// Auto Scaling made): only those are parsed. Exact, not a heuristic: such a record names
/// `autoscaling.amazonaws.com` in its `eventSource`, `invokedBy` or `sourceIPAddress`, and the
/// only way JSON can spell those letters other than literally is a `\u` escape, so a record
/// with neither the literal text nor any `\u` escape cannot be one. Values that are not
/// objects are passed on too, to be rejected by name.
#[must_use]
pub fn might_be_autoscaling(record: &[u8]) -> bool {
    static SOURCE: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(AUTOSCALING_EVENT_SOURCE));
    record.first() != Some(&b'{')
        || SOURCE.find(record).is_some()
        || memchr::memmem::find(record, b"\\u").is_some()
}

/// Application Auto Scaling logs under the same event source; it marks its records with
/// `additionalEventData.service` and always names a `serviceNamespace` (or, for its tagging
/// calls, an `application-autoscaling` resource ARN).
fn is_application_autoscaling(record: &Record<'_>) -> bool {
    let marked = record
        .additional_event_data
        .and_then(|raw| serde_json::from_str::<AdditionalEventData<'_>>(raw.get()).ok())
        .and_then(|d| d.service)
        .is_some_and(|s| s == "application-autoscaling");
    if marked {
        return true;
    }
    let request: RequestProbe<'_> = match record.request_parameters.map(RawValue::get) {
        Some(text) if text.starts_with('{') => serde_json::from_str(text).unwrap_or_default(),
        _ => RequestProbe::default(),
    };
    request.service_namespace.is_some()
        || request
            .resource_arn
            .as_deref()
            .is_some_and(|arn| arn.contains(":application-autoscaling:"))
}

/// The role of an assumed-role ARN (`arn:aws:sts::1:assumed-role/Role/session`).
fn role_in_arn(arn: &str) -> Option<&str> {
    let (_, resource) = arn.rsplit_once(':')?;
    let mut parts = resource.splitn(3, '/');
    match (parts.next()?, parts.next(), parts.next()) {
        ("assumed-role", Some(role), Some(_)) if !role.is_empty() => Some(role),
        _ => None,
    }
}

/// The session name of an assumed-role ARN (`arn:aws:sts::1:assumed-role/Role/session`), or the
/// name of a federated user (`arn:aws:sts::1:federated-user/name`).
fn session_name_from_arn(arn: &str) -> Option<&str> {
    let (_, resource) = arn.rsplit_once(':')?;
    let mut parts = resource.splitn(3, '/');
    match (parts.next()?, parts.next(), parts.next()) {
        ("assumed-role", Some(_role), Some(session)) if !session.is_empty() => Some(session),
        ("federated-user", Some(name), None) if !name.is_empty() => Some(name),
        _ => None,
    }
}

/// The JSON value of a raw field, `None` when it is `null` (an absent attribute, never null).
/// A value DynamoDB cannot store (nested deeper than its 32 levels, or with an empty map key)
/// is left out and noted in `omitted`, never silently dropped.
pub(crate) fn materialize(
    raw: &RawValue,
    name: &str,
    omitted: &mut BTreeMap<String, item::Omitted>,
) -> Option<Value> {
    let text = raw.get();
    let mut omit = |reason: &str| {
        omitted.insert(
            name.to_owned(),
            item::Omitted {
                reason: reason.to_owned(),
                bytes: text.len() as u64,
            },
        );
        None
    };
    // Measured on the text first: a value thousands of levels deep is never built.
    if item::json_depth(text) > item::MAX_DEPTH {
        return omit("nested deeper than DynamoDB's 32 levels");
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Null) => None,
        Ok(v) => match item::storage_problem(&v, 1) {
            Some(reason) => omit(reason),
            None => Some(v),
        },
        Err(e) => omit(&format!("not readable: {e}")),
    }
}

fn reject(json: &str, reason: String) -> Outcome {
    // Best effort: name the record in the log even when it does not deserialize as a whole.
    #[derive(Deserialize, Default)]
    struct Names {
        #[serde(rename = "eventName", default)]
        event_name: Option<Value>,
        #[serde(rename = "requestID", default)]
        request_id: Option<Value>,
    }
    let names: Names = serde_json::from_str(json).unwrap_or_default();
    let text = |v: Option<Value>| v.and_then(|v| v.as_str().map(str::to_owned));
    Outcome::Rejected(Rejection {
        reason,
        event_name: text(names.event_name),
        request_id: text(names.request_id),
    })
}

#[cfg(test)]
mod tests;
