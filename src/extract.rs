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
use std::ops::ControlFlow;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::cloudtrail::{self, Finish, Format};
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

/// The role-name prefix of IAM Identity Center (SSO) permission sets: such a role stands for
/// whoever signed in, and its session name is the person.
const SSO_ROLE_PREFIX: &str = "AWSReservedSSO_";

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
    fn count(&mut self, outcome: &Outcome, source_object: &str) {
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

/// Reads one log file (gzip or plain; `format` says which JSON shapes are accepted) and hands
/// every item it yields to `on_item`, in file order. Rejected records are logged (with their
/// `eventName` and `requestID`) and counted, and the rest of the file is still read.
///
/// When `on_item` returns [`ControlFlow::Break`], reading stops at once (the rest of the file is
/// neither read nor decompressed, the items of the same event not yet handed out are dropped)
/// and the result is `Ok(`[`Finish::Stopped`]`)`.
///
/// The statistics are returned even when the file fails half-way, together with the error:
/// the items handed out before the failure are real and may be kept.
pub fn extract_log<R: std::io::Read + Send>(
    input: R,
    format: Format,
    source_object: &str,
    filters: &Filters,
    on_item: impl FnMut(Item) -> ControlFlow<()>,
) -> (FileStats, Result<Finish, cloudtrail::ParseError>) {
    extract_log_with(
        input,
        format,
        source_object,
        filters,
        &cloudtrail::Limits::default(),
        on_item,
    )
}

/// [`extract_log`] within the reader's size `limits`.
pub fn extract_log_with<R: std::io::Read + Send>(
    input: R,
    format: Format,
    source_object: &str,
    filters: &Filters,
    limits: &cloudtrail::Limits,
    mut on_item: impl FnMut(Item) -> ControlFlow<()>,
) -> (FileStats, Result<Finish, cloudtrail::ParseError>) {
    let mut stats = FileStats::default();
    let mut newest: Option<EventVersion> = None;
    let records = std::cell::Cell::new(0);
    let result = cloudtrail::read_selected(
        input,
        format,
        limits,
        |bytes| {
            records.set(records.get() + 1);
            might_be_autoscaling(bytes)
                || (format == Format::Any && crate::events::might_be_activity(bytes))
        },
        |bytes| {
            stats.records = records.get();
            let outcome = match serde_json::from_slice::<&RawValue>(bytes) {
                // Only the shapes people keep on disk hold EventBridge envelopes whole.
                Ok(raw) if format == Format::Any && crate::events::is_activity(raw) => {
                    crate::events::file_outcome(raw, source_object, filters)
                }
                Ok(raw) => extract(raw, source_object, filters),
                Err(e) => reject_invalid(&e),
            };
            if let Outcome::Kept(items) = &outcome
                && let Some(first) = items.first()
            {
                note_version(first, source_object, &mut newest);
            }
            stats.count(&outcome, source_object);
            match outcome {
                Outcome::Kept(items) => items.into_iter().try_for_each(&mut on_item),
                _ => ControlFlow::Continue(()),
            }
        },
    );
    stats.records = records.get();
    let result = result.map(|parsed| {
        stats.bytes = parsed.bytes;
        parsed.finish
    });
    (stats, result)
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

/// The outcome of a record that is not valid JSON: rejected, with what can be said of it.
fn reject_invalid(error: &serde_json::Error) -> Outcome {
    Outcome::Rejected(Rejection {
        reason: format!("not valid JSON: {error}"),
        event_name: None,
        request_id: None,
    })
}

/// Warns once per file (per newer version) when a kept event has an `eventVersion` newer than
/// the code knows, or one that does not parse: it is stored all the same.
fn note_version(item: &Item, source_object: &str, newest: &mut Option<EventVersion>) {
    let Some(text) = item.event_version.as_deref() else {
        return;
    };
    match text.parse::<EventVersion>() {
        Ok(v) if v > EventVersion::NEWEST_KNOWN && newest.is_none_or(|n| v > n) => {
            *newest = Some(v);
            tracing::warn!(
                source_object,
                event_version = %v,
                newest_known = %EventVersion::NEWEST_KNOWN,
                event_name = item.event_name.as_deref(),
                "eventVersion newer than this code knows: stored as it is"
            );
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(source_object, event_id = %item.event_id, error = %e, "stored as it is")
        }
    }
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
mod tests {
    use super::*;
    use serde_json::json;

    /// The filters with read-only calls kept (the default drops them).
    fn keep_reads() -> Filters {
        Filters {
            exclude_read_only: false,
            ..Filters::default()
        }
    }

    fn raw(v: &Value) -> Box<RawValue> {
        RawValue::from_string(v.to_string()).expect("valid json")
    }

    fn kept(v: &Value) -> Vec<Item> {
        match extract(&raw(v), "s3://b/k", &Filters::default()) {
            Outcome::Kept(items) => items,
            other => panic!("expected Kept, got {other:?}"),
        }
    }

    fn update_record() -> Value {
        json!({
            "eventVersion": "1.08",
            "userIdentity": {
                "type": "AssumedRole",
                "principalId": "AROAEXAMPLE:alice",
                "arn": "arn:aws:sts::123456789012:assumed-role/Admin/alice",
                "accountId": "123456789012",
                "accessKeyId": "ASIAEXAMPLE",
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role",
                        "principalId": "AROAEXAMPLE",
                        "arn": "arn:aws:iam::123456789012:role/Admin",
                        "accountId": "123456789012",
                        "userName": "Admin"
                    },
                    "attributes": {"creationDate": "2024-03-05T11:00:00Z", "mfaAuthenticated": "false"}
                }
            },
            "eventTime": "2024-03-05T12:00:01Z",
            "eventSource": "autoscaling.amazonaws.com",
            "eventName": "UpdateAutoScalingGroup",
            "awsRegion": "us-east-1",
            "sourceIPAddress": "198.51.100.7",
            "userAgent": "aws-cli/2.15.0",
            "requestParameters": {"autoScalingGroupName": "web-asg", "maxSize": 8, "minSize": 1},
            "responseElements": null,
            "requestID": "req-1",
            "eventID": "evt-1",
            "readOnly": false,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": "123456789012",
            "eventCategory": "Management",
            "someFutureField": {"x": [1, 2]}
        })
    }

    /// A reader that counts the bytes read from it where the test can see them.
    struct CountingReader<'a> {
        inner: &'a [u8],
        bytes: &'a std::sync::atomic::AtomicU64,
    }

    impl std::io::Read for CountingReader<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.bytes
                .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
            Ok(n)
        }
    }

    #[test]
    fn an_item_callback_that_says_stop_ends_the_read_at_once() {
        // Auto Scaling events among some 16 MB of records gzip cannot shrink much.
        let mut rng = fastrand::Rng::with_seed(4);
        let mut records = Vec::new();
        for i in 0..8_000 {
            let mut record = update_record();
            record["eventID"] = json!(format!("evt-{i}"));
            let pad: String = (0..128).map(|_| format!("{:016x}", rng.u64(..))).collect();
            record["pad"] = json!(pad);
            records.push(record);
        }
        let plain = serde_json::to_vec(&json!({ "Records": records })).expect("json");
        let mut lines = Vec::new();
        for record in &records {
            serde_json::to_writer(&mut lines, record).expect("json");
            lines.push(b'\n');
        }
        for (what, input, format) in [
            ("delivery", plain, Format::Delivery),
            ("JSON lines", lines, Format::Any),
        ] {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut gz, &input).expect("gzip");
            let gz = gz.finish().expect("gzip");
            let bytes = std::sync::atomic::AtomicU64::new(0);
            let reader = CountingReader {
                inner: &gz,
                bytes: &bytes,
            };
            let mut items = Vec::new();
            let (stats, result) = extract_log(reader, format, "big", &Filters::default(), |i| {
                items.push(i);
                ControlFlow::Break(())
            });
            assert_eq!(
                result.expect("a stop is not an error"),
                Finish::Stopped,
                "{what}"
            );
            assert_eq!(
                (items.len(), stats.items, stats.records),
                (1, 1, 1),
                "{what}"
            );
            let read = bytes.load(std::sync::atomic::Ordering::Relaxed);
            assert_eq!(stats.bytes, read, "{what}");
            assert!(read < gz.len() as u64 / 8, "{what}: {read} of {}", gz.len());
        }
    }

    #[test]
    fn maps_every_attribute_of_the_item_model() {
        let items = kept(&update_record());
        assert_eq!(items.len(), 1);
        let it = &items[0];
        assert_eq!(it.key(), ("web-asg", "2024-03-05T12:00:01Z#evt-1"));
        assert_eq!(it.event_time, "2024-03-05T12:00:01Z");
        assert_eq!(it.event_id, "evt-1");
        assert_eq!(it.event_name.as_deref(), Some("UpdateAutoScalingGroup"));
        assert_eq!(it.event_version.as_deref(), Some("1.08"));
        assert_eq!(it.aws_region.as_deref(), Some("us-east-1"));
        assert_eq!(it.request_id.as_deref(), Some("req-1"));
        assert_eq!(it.source_ip_address.as_deref(), Some("198.51.100.7"));
        assert_eq!(it.user_agent.as_deref(), Some("aws-cli/2.15.0"));
        assert_eq!(it.error_code, None);
        assert_eq!(it.read_only, Some(false));
        assert_eq!(it.account_id, "123456789012");
        assert_eq!(it.user_identity_type.as_deref(), Some("AssumedRole"));
        assert_eq!(
            it.user_arn.as_deref(),
            Some("arn:aws:sts::123456789012:assumed-role/Admin/alice")
        );
        assert_eq!(it.principal_id.as_deref(), Some("AROAEXAMPLE:alice"));
        assert_eq!(it.user_name.as_deref(), Some("Admin"));
        assert_eq!(it.role_name.as_deref(), Some("Admin"));
        assert_eq!(it.detail, None, "a CloudTrail record has no detail");
        assert_eq!(it.invoked_by, None);
        assert_eq!(
            it.request_parameters,
            Some(json!({"autoScalingGroupName": "web-asg", "maxSize": 8, "minSize": 1}))
        );
        assert_eq!(it.response_elements, None, "null is absent, never null");
        assert_eq!(it.source_object, "s3://b/k");
    }

    #[test]
    fn group_arn_is_reduced_to_its_name() {
        let mut r = update_record();
        r["requestParameters"]["autoScalingGroupName"] = json!(
            "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:5e1c1f7e-1111-2222-3333-444455556666:autoScalingGroupName/api-asg"
        );
        assert_eq!(kept(&r)[0].group_name, "api-asg");
    }

    #[test]
    fn a_read_only_call_is_stored_once_in_the_account_partition_naming_its_groups() {
        let mut r = update_record();
        r["eventName"] = json!("DescribeAutoScalingGroups");
        r["readOnly"] = json!(true);
        r["requestParameters"] = json!({"autoScalingGroupNames": ["web-asg", "api-asg"]});
        let Outcome::Kept(items) = extract(&raw(&r), "f", &keep_reads()) else {
            panic!("kept when read-only calls are kept");
        };
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].group_name, ":account:123456789012");
        assert_eq!(items[0].group_names, ["api-asg", "web-asg"]);
        assert_eq!(
            extract(&raw(&r), "f", &Filters::default()),
            Outcome::Filtered("read-only"),
            "left out by default"
        );
        // The same call with readOnly false (a change) is filed under each group.
        r["readOnly"] = json!(false);
        assert_eq!(kept(&r).len(), 2);
    }

    #[test]
    fn events_naming_no_group_go_to_the_account_partition() {
        let mut r = update_record();
        r["eventName"] = json!("CreateLaunchConfiguration");
        r["requestParameters"] = json!({"launchConfigurationName": "lc", "imageId": "ami-1"});
        assert_eq!(kept(&r)[0].group_name, ":account:123456789012");
        r["requestParameters"] = Value::Null;
        assert_eq!(kept(&r)[0].group_name, ":account:123456789012");
        r.as_object_mut()
            .expect("object")
            .remove("requestParameters");
        assert_eq!(kept(&r)[0].group_name, ":account:123456789012");
    }

    #[test]
    fn account_id_falls_back_to_identity_then_unknown() {
        let mut r = update_record();
        r.as_object_mut()
            .expect("object")
            .remove("recipientAccountId");
        r["userIdentity"]["accountId"] = json!("210987654321");
        r["requestParameters"] = json!({});
        let it = &kept(&r)[0];
        assert_eq!(it.account_id, "210987654321");
        assert_eq!(it.group_name, ":account:210987654321");
        r["userIdentity"]
            .as_object_mut()
            .expect("object")
            .remove("accountId");
        assert_eq!(kept(&r)[0].account_id, "unknown");
        r.as_object_mut().expect("object").remove("userIdentity");
        let it = &kept(&r)[0];
        assert_eq!(
            (it.account_id.as_str(), it.user_arn.as_deref()),
            ("unknown", None)
        );
    }

    #[test]
    fn user_name_prefers_user_then_issuer_then_session() {
        let mut r = update_record();
        r["userIdentity"]["userName"] = json!("bob");
        assert_eq!(kept(&r)[0].user_name.as_deref(), Some("bob"));
        let ui = r["userIdentity"].as_object_mut().expect("object");
        ui.remove("userName");
        ui.remove("sessionContext");
        assert_eq!(kept(&r)[0].user_name.as_deref(), Some("alice"));
        r["userIdentity"]["arn"] = json!("arn:aws:iam::123456789012:root");
        assert_eq!(kept(&r)[0].user_name, None);
    }

    /// A real IAM Identity Center session (from the TrailDiscover corpus, account masked).
    fn sso_record() -> Value {
        let text = include_str!(
            "../tests/fixtures/corpus/traildiscover/CreateAutoScalingGroup.json.cloudtrail"
        );
        let records: Value = serde_json::from_str(text).expect("json");
        records[0].clone()
    }

    #[test]
    fn an_sso_session_is_named_by_its_person_and_keeps_its_role() {
        let r = sso_record();
        let it = &kept(&r)[0];
        assert_eq!(it.user_name.as_deref(), Some("AdanAlvarez"));
        assert_eq!(
            it.role_name.as_deref(),
            Some("AWSReservedSSO_AdministratorAccess_1b74cd717d47002b")
        );
        assert_eq!(
            it.user_arn.as_deref(),
            Some(
                "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_AdministratorAccess_1b74cd717d47002b/AdanAlvarez"
            )
        );
        let json = serde_json::to_value(it).expect("serializes");
        assert_eq!(
            json["roleName"],
            "AWSReservedSSO_AdministratorAccess_1b74cd717d47002b"
        );
        // Without the session context, the ARN alone says the same.
        let mut bare = r.clone();
        bare["userIdentity"]
            .as_object_mut()
            .expect("object")
            .remove("sessionContext");
        let it = &kept(&bare)[0];
        assert_eq!(
            (it.user_name.as_deref(), it.role_name.as_deref()),
            (
                Some("AdanAlvarez"),
                Some("AWSReservedSSO_AdministratorAccess_1b74cd717d47002b")
            )
        );
    }

    #[test]
    fn role_names_only_for_assumed_roles() {
        // A plain role keeps its name as the user, as before.
        let it = &kept(&update_record())[0];
        assert_eq!(
            (it.user_name.as_deref(), it.role_name.as_deref()),
            (Some("Admin"), Some("Admin"))
        );
        // An IAM user has no role.
        let mut r = update_record();
        r["userIdentity"] = json!({"type": "IAMUser", "principalId": "AIDAEXAMPLE",
            "arn": "arn:aws:iam::123456789012:user/deploy-bot", "accountId": "123456789012",
            "userName": "deploy-bot"});
        let it = &kept(&r)[0];
        assert_eq!(
            (it.user_name.as_deref(), it.role_name.as_deref()),
            (Some("deploy-bot"), None)
        );
        // A federated user's session is issued by an IAM user: no role either.
        r["userIdentity"] = json!({"type": "FederatedUser",
            "arn": "arn:aws:sts::123456789012:federated-user/carol",
            "sessionContext": {"sessionIssuer": {"type": "IAMUser", "userName": "broker",
                "arn": "arn:aws:iam::123456789012:user/broker"}}});
        let it = &kept(&r)[0];
        assert_eq!(
            (it.user_name.as_deref(), it.role_name.as_deref()),
            (Some("broker"), None)
        );
        // An SSO role with no session name to show stays named by its role.
        r["userIdentity"] = json!({"type": "AssumedRole",
            "sessionContext": {"sessionIssuer": {"type": "Role",
                "userName": "AWSReservedSSO_ReadOnly_0123456789abcdef"}}});
        let it = &kept(&r)[0];
        assert_eq!(
            (it.user_name.as_deref(), it.role_name.as_deref()),
            (
                Some("AWSReservedSSO_ReadOnly_0123456789abcdef"),
                Some("AWSReservedSSO_ReadOnly_0123456789abcdef")
            )
        );
    }

    #[test]
    fn roles_from_arns() {
        let cases = [
            ("arn:aws:sts::1:assumed-role/Role/sess", Some("Role")),
            ("arn:aws:sts::1:assumed-role/Role/a/b", Some("Role")),
            ("arn:aws:sts::1:assumed-role//sess", None),
            ("arn:aws:sts::1:federated-user/carol", None),
            ("arn:aws:iam::1:role/Role", None),
            ("garbage", None),
        ];
        for (arn, want) in cases {
            assert_eq!(role_in_arn(arn), want, "{arn}");
        }
    }

    #[test]
    fn session_names_from_arns() {
        let cases = [
            ("arn:aws:sts::1:assumed-role/Role/sess", Some("sess")),
            ("arn:aws:sts::1:assumed-role/Role/a/b", Some("a/b")),
            ("arn:aws:sts::1:federated-user/carol", Some("carol")),
            ("arn:aws:iam::1:user/dave", None),
            ("arn:aws:iam::1:root", None),
            ("garbage", None),
        ];
        for (arn, want) in cases {
            assert_eq!(session_name_from_arn(arn), want, "{arn}");
        }
    }

    #[test]
    fn application_auto_scaling_is_left_out() {
        let register = json!({
            "eventVersion": "1.08",
            "eventTime": "2024-03-05T12:00:00Z",
            "eventSource": "autoscaling.amazonaws.com",
            "eventName": "RegisterScalableTarget",
            "requestParameters": {"serviceNamespace": "ecs", "resourceId": "service/c/s",
                                  "scalableDimension": "ecs:service:DesiredCount"},
            "additionalEventData": {"service": "application-autoscaling"},
            "eventID": "e1"
        });
        assert_eq!(
            extract(&raw(&register), "x", &Filters::default()),
            Outcome::ApplicationAutoScaling
        );
        // Either marker alone is enough.
        let mut only_ns = register.clone();
        only_ns
            .as_object_mut()
            .expect("object")
            .remove("additionalEventData");
        assert_eq!(
            extract(&raw(&only_ns), "x", &Filters::default()),
            Outcome::ApplicationAutoScaling
        );
        let mut only_service = register.clone();
        only_service["requestParameters"] = json!({});
        assert_eq!(
            extract(&raw(&only_service), "x", &Filters::default()),
            Outcome::ApplicationAutoScaling
        );
        let tag = json!({
            "eventTime": "2024-03-05T12:00:00Z",
            "eventSource": "autoscaling.amazonaws.com",
            "eventName": "TagResource",
            "requestParameters": {"resourceARN": "arn:aws:application-autoscaling:us-east-1:1:scalable-target/0123", "tags": {"a": "b"}},
            "eventID": "e2"
        });
        assert_eq!(
            extract(&raw(&tag), "x", &Filters::default()),
            Outcome::ApplicationAutoScaling
        );
    }

    #[test]
    fn other_services_and_insights_are_not_kept() {
        let ec2_by_asg = json!({
            "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
            "userIdentity": {"invokedBy": "autoscaling.amazonaws.com"},
            "sourceIPAddress": "autoscaling.amazonaws.com",
            "eventTime": "2024-03-05T12:00:00Z", "eventID": "e"
        });
        assert_eq!(
            extract(&raw(&ec2_by_asg), "x", &Filters::default()),
            Outcome::Other
        );
        let insight = json!({
            "eventVersion": "1.07", "eventTime": "2024-03-05T12:00:00Z",
            "eventType": "AwsCloudTrailInsight", "eventID": "e",
            "insightDetails": {"eventSource": "autoscaling.amazonaws.com", "eventName": "CompleteLifecycleAction"}
        });
        assert_eq!(
            extract(&raw(&insight), "x", &Filters::default()),
            Outcome::Other
        );
        assert_eq!(
            extract(&raw(&json!({})), "x", &Filters::default()),
            Outcome::Other
        );
    }

    #[test]
    fn records_without_keys_or_of_the_wrong_shape_are_rejected() {
        let mut r = update_record();
        r.as_object_mut().expect("object").remove("eventID");
        match extract(&raw(&r), "x", &Filters::default()) {
            Outcome::Rejected(rej) => {
                assert_eq!(rej.event_name.as_deref(), Some("UpdateAutoScalingGroup"));
                assert_eq!(rej.request_id.as_deref(), Some("req-1"));
                assert!(rej.reason.contains("eventID"), "{}", rej.reason);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            extract(&raw(&json!([1, 2])), "x", &Filters::default()),
            Outcome::Rejected(_)
        ));
        let mut wrong = update_record();
        wrong["eventTime"] = json!(17);
        assert!(matches!(
            extract(&raw(&wrong), "x", &Filters::default()),
            Outcome::Rejected(_)
        ));
    }

    #[test]
    fn escaped_strings_are_decoded() {
        let mut r = update_record();
        r["userAgent"] = json!("console \"quoted\" \u{202f}");
        assert_eq!(
            kept(&r)[0].user_agent.as_deref(),
            Some("console \"quoted\" \u{202f}")
        );
    }

    #[test]
    fn user_guide_examples_give_two_account_items_and_one_for_asg1() {
        let file = include_bytes!("../tests/fixtures/userguide.json");
        let mut groups = Vec::new();
        let (stats, result) = extract_log(
            &file[..],
            Format::Delivery,
            "userguide.json",
            &Filters::default(),
            |i| {
                groups.push((i.event_name, i.group_name));
                ControlFlow::Continue(())
            },
        );
        result.expect("parses");
        assert_eq!(
            stats,
            FileStats {
                bytes: file.len() as u64,
                records: 3,
                events: 3,
                items: 3,
                events_in_groups: 1,
                events_in_account: 2,
                ..FileStats::default()
            }
        );
        let names = |n: &str| Some(n.to_owned());
        assert_eq!(
            groups,
            [
                (
                    names("CreateLaunchConfiguration"),
                    ":account:123456789012".to_owned()
                ),
                (
                    names("DescribeAutoScalingGroups"),
                    ":account:123456789012".to_owned()
                ),
                (names("UpdateAutoScalingGroup"), "asg1".to_owned()),
            ]
        );
    }

    #[test]
    fn conformance_over_the_real_corpus() {
        // (file, records, Auto Scaling events, event name) — counts from SOURCES.md.
        let cases = [
            (
                "218007301253_CloudTrail_us-east-1_20230710T1200Z_iLj9fb7yyUG9X4Bf.json",
                394,
                0,
                None,
            ),
            (
                "218007301253_CloudTrail_us-east-1_20230710T1210Z_6CICdbJQM3beT7n3.json",
                246,
                0,
                None,
            ),
            (
                "218007301253_CloudTrail_us-east-1_20230710T1230Z_9SJSsrxJ0ChF5VFb.json",
                84,
                1,
                Some("DescribeAutoScalingGroups"),
            ),
            (
                "111111111111_CloudTrail_eu-central-1_20171211T1505Z_A6kvhMoVeCsc7v8U.json",
                2,
                1,
                Some("DescribeLaunchConfigurations"),
            ),
            (
                "111111111111_CloudTrail_eu-central-1_20171211T1505Z_A6kvhMoVeCsc7v8U.json.gz",
                2,
                1,
                Some("DescribeLaunchConfigurations"),
            ),
            (
                "events-for-smoke-test.json",
                3,
                1,
                Some("DescribeLaunchConfigurations"),
            ),
            (
                "342082656213_CloudTrail_us-west-1_20210729T2350Z_9zOwwQ3KZkD3a1pv.json.gz",
                25,
                0,
                None,
            ),
            (
                "342082656213_CloudTrail_us-west-1_20210730T1635Z_hOe61gHlbCTVf45Q.json.gz",
                622,
                0,
                None,
            ),
        ];
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
        for (name, records, events, event_name) in cases {
            let file = std::fs::File::open(dir.join(name)).expect(name);
            let mut items = Vec::new();
            let (stats, result) = extract_log(file, Format::Delivery, name, &keep_reads(), |i| {
                items.push(i);
                ControlFlow::Continue(())
            });
            result.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                (stats.records, stats.events, stats.rejected),
                (records, events, 0),
                "{name}"
            );
            assert_eq!(
                items.first().and_then(|i| i.event_name.as_deref()),
                event_name,
                "{name}"
            );
            for item in &items {
                assert!(item.group_name.starts_with(":account:"), "{name}: {item:?}");
                assert!(item.event_key.starts_with(&item.event_time), "{name}");
            }
        }
    }

    fn with(filters: &Filters, v: &Value) -> Outcome {
        extract(&raw(v), "s3://b/k", filters)
    }

    fn service_filters() -> Filters {
        Filters {
            include_service_actions: true,
            ..Filters::default()
        }
    }

    /// An ec2 RunInstances that Auto Scaling made for web-asg.
    fn run_instances_by_autoscaling() -> Value {
        json!({
            "eventVersion": "1.08",
            "userIdentity": {
                "type": "AssumedRole",
                "principalId": "AROAEXAMPLE:AutoScaling",
                "arn": "arn:aws:sts::123456789012:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling",
                "accountId": "123456789012",
                "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "AWSServiceRoleForAutoScaling"}},
                "invokedBy": "autoscaling.amazonaws.com"
            },
            "eventTime": "2024-03-05T12:00:05Z",
            "eventSource": "ec2.amazonaws.com",
            "eventName": "RunInstances",
            "awsRegion": "us-east-1",
            "sourceIPAddress": "autoscaling.amazonaws.com",
            "userAgent": "autoscaling.amazonaws.com",
            "requestParameters": {
                "instancesSet": {"items": [{"minCount": 1, "maxCount": 1}]},
                "launchTemplate": {"launchTemplateId": "lt-097cdbb748360216c", "version": "7"},
                "tagSpecificationSet": {"items": [{"resourceType": "instance", "tags": [
                    {"key": "aws:autoscaling:groupName", "value": "web-asg"}]}]}
            },
            "responseElements": {"reservationId": "r-0d3c7b1a2e4f5a6b7", "instancesSet": {"items": [{"instanceId": "i-0a1b2c3d4e5f60718"}]}},
            "requestID": "req-run",
            "eventID": "evt-run",
            "readOnly": false,
            "eventType": "AwsApiCall",
            "recipientAccountId": "123456789012"
        })
    }

    #[test]
    fn an_event_naming_several_groups_gives_one_item_per_distinct_group() {
        let mut r = update_record();
        r["eventName"] = json!("CreateOrUpdateTags");
        r["requestParameters"] = json!({"tags": [
            {"resourceId": "web-asg", "resourceType": "auto-scaling-group", "key": "a", "value": "1", "propagateAtLaunch": true},
            {"resourceId": "api-asg", "resourceType": "auto-scaling-group", "key": "a", "value": "1", "propagateAtLaunch": true},
            {"resourceId": "web-asg", "resourceType": "auto-scaling-group", "key": "b", "value": "2", "propagateAtLaunch": false}
        ]});
        let items = kept(&r);
        let keys: Vec<(&str, &str)> = items.iter().map(Item::key).collect();
        assert_eq!(
            keys,
            [
                ("api-asg", "2024-03-05T12:00:01Z#evt-1"),
                ("web-asg", "2024-03-05T12:00:01Z#evt-1")
            ]
        );
        for it in &items {
            assert_eq!(it.group_names, ["api-asg", "web-asg"]);
            assert_eq!(it.origin, Origin::Api);
        }
        // Apart from the partition key, the items are the same event.
        let mut second = items[1].clone();
        second.group_name = items[0].group_name.clone();
        assert_eq!(second, items[0]);
    }

    #[test]
    fn one_group_is_named_in_group_names_too_and_no_group_leaves_it_empty() {
        let it = &kept(&update_record())[0];
        assert_eq!(
            (it.group_name.as_str(), it.group_names.as_slice()),
            ("web-asg", &["web-asg".to_owned()][..])
        );
        let mut r = update_record();
        r["eventName"] = json!("DescribeAutoScalingGroups");
        r["requestParameters"] = json!({"autoScalingGroupNames": [], "maxRecords": 100});
        let it = &kept(&r)[0];
        assert_eq!(it.group_name, ":account:123456789012");
        assert!(it.group_names.is_empty());
    }

    #[test]
    fn instance_level_calls_take_the_group_from_the_response() {
        let mut r = update_record();
        r["eventName"] = json!("TerminateInstanceInAutoScalingGroup");
        r["requestParameters"] =
            json!({"instanceId": "i-0a1b2c3d4e5f60718", "shouldDecrementDesiredCapacity": true});
        r["responseElements"] = json!({"activity": {"activityId": "a-1", "autoScalingGroupName": "web-asg", "statusCode": "InProgress"}});
        assert_eq!(kept(&r)[0].group_name, "web-asg");
        // Without the response (a failed call, or one above 100 KB) the event is still stored.
        r.as_object_mut()
            .expect("object")
            .remove("responseElements");
        let it = &kept(&r)[0];
        assert_eq!(it.group_name, ":account:123456789012");
        assert_eq!(it.response_elements, None);
    }

    #[test]
    fn unknown_future_actions_are_stored_by_the_generic_rules() {
        let mut r = update_record();
        r["eventName"] = json!("ReticulateSplines");
        r["requestParameters"] = json!({"autoScalingGroupName": "web-asg", "splineCount": 3});
        assert_eq!(kept(&r)[0].group_name, "web-asg");
        r["requestParameters"] = json!({"somethingNew": true});
        assert_eq!(kept(&r)[0].group_name, ":account:123456789012");
    }

    #[test]
    fn auto_scalings_own_ec2_calls_are_kept_only_when_asked_for() {
        let run = run_instances_by_autoscaling();
        assert_eq!(with(&Filters::default(), &run), Outcome::Other);
        let Outcome::Kept(items) = with(&service_filters(), &run) else {
            panic!("kept with the opt-in")
        };
        assert_eq!(items.len(), 1);
        let it = &items[0];
        assert_eq!(it.key(), ("web-asg", "2024-03-05T12:00:05Z#evt-run"));
        assert_eq!(it.origin, Origin::Service);
        assert_eq!(it.group_names, ["web-asg"]);
        assert_eq!(it.event_name.as_deref(), Some("RunInstances"));
        assert_eq!(it.invoked_by.as_deref(), Some("autoscaling.amazonaws.com"));
        assert_eq!(
            it.user_name.as_deref(),
            Some("AWSServiceRoleForAutoScaling")
        );

        // Only sourceIPAddress says so: still Auto Scaling's.
        let mut by_ip = run.clone();
        by_ip["userIdentity"]
            .as_object_mut()
            .expect("object")
            .remove("invokedBy");
        assert!(matches!(with(&service_filters(), &by_ip), Outcome::Kept(_)));
        // Somebody else's RunInstances is never kept.
        let mut theirs = run.clone();
        theirs["userIdentity"] =
            json!({"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/bob"});
        theirs["sourceIPAddress"] = json!("203.0.113.9");
        assert_eq!(with(&service_filters(), &theirs), Outcome::Other);
        // Other services, even when Auto Scaling called them, are not EC2 calls.
        let mut elb = run.clone();
        elb["eventSource"] = json!("elasticloadbalancing.amazonaws.com");
        assert_eq!(with(&service_filters(), &elb), Outcome::Other);
    }

    #[test]
    fn terminations_without_a_group_tag_go_to_the_account_partition() {
        let mut r = run_instances_by_autoscaling();
        r["eventName"] = json!("TerminateInstances");
        r["requestParameters"] =
            json!({"instancesSet": {"items": [{"instanceId": "i-0a1b2c3d4e5f60718"}]}});
        r["responseElements"] = json!({"instancesSet": {"items": [{"instanceId": "i-0a1b2c3d4e5f60718",
            "currentState": {"code": 32, "name": "shutting-down"}, "previousState": {"code": 16, "name": "running"}}]}});
        let Outcome::Kept(items) = with(&service_filters(), &r) else {
            panic!("kept")
        };
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].group_name, ":account:123456789012");
        assert!(items[0].group_names.is_empty());
        assert_eq!(items[0].origin, Origin::Service);
    }

    #[test]
    fn filters_drop_read_only_and_by_event_name() {
        let mut describe = update_record();
        describe["eventName"] = json!("DescribeAutoScalingGroups");
        describe["readOnly"] = json!(true);
        let read_only = Filters {
            exclude_read_only: true,
            ..Filters::default()
        };
        assert_eq!(with(&read_only, &describe), Outcome::Filtered("read-only"));
        assert!(matches!(
            with(&read_only, &update_record()),
            Outcome::Kept(_)
        ));
        // A record without readOnly (1.01-era) is not known to be read-only: kept.
        describe.as_object_mut().expect("object").remove("readOnly");
        assert!(matches!(with(&read_only, &describe), Outcome::Kept(_)));

        let only = Filters {
            event_names_include: Filters::event_names("SetDesiredCapacity, UpdateAutoScalingGroup"),
            ..Filters::default()
        };
        assert!(matches!(with(&only, &update_record()), Outcome::Kept(_)));
        assert_eq!(
            with(&only, &describe),
            Outcome::Filtered("event name not included")
        );
        let except = Filters {
            event_names_exclude: Filters::event_names("UpdateAutoScalingGroup"),
            ..Filters::default()
        };
        assert_eq!(
            with(&except, &update_record()),
            Outcome::Filtered("event name excluded")
        );
        assert!(matches!(with(&except, &describe), Outcome::Kept(_)));

        // The filters apply to Auto Scaling's own calls as well.
        let services_but_not_runs = Filters {
            event_names_exclude: Filters::event_names("RunInstances"),
            ..service_filters()
        };
        assert_eq!(
            with(&services_but_not_runs, &run_instances_by_autoscaling()),
            Outcome::Filtered("event name excluded")
        );
    }

    #[test]
    fn application_auto_scaling_is_never_counted_as_filtered() {
        let register = json!({
            "eventTime": "2024-03-05T12:00:00Z", "eventID": "e1",
            "eventSource": "autoscaling.amazonaws.com", "eventName": "RegisterScalableTarget",
            "requestParameters": {"serviceNamespace": "ecs"}, "readOnly": false
        });
        let strict = Filters {
            event_names_include: Filters::event_names("SetDesiredCapacity"),
            ..Filters::default()
        };
        assert_eq!(with(&strict, &register), Outcome::ApplicationAutoScaling);
    }

    #[test]
    fn insights_events_are_never_stored_even_with_an_auto_scaling_source() {
        let insight = json!({
            "eventVersion": "1.07", "eventTime": "2024-03-05T12:00:00Z", "eventID": "e",
            "eventSource": "autoscaling.amazonaws.com", "eventName": "CompleteLifecycleAction",
            "eventType": "AwsCloudTrailInsight", "recipientAccountId": "123456789012",
            "insightDetails": {"state": "Start"}
        });
        assert_eq!(with(&service_filters(), &insight), Outcome::Other);
    }

    #[test]
    fn records_with_nulls_and_missing_parts_are_stored_with_what_they_have() {
        let sparse = json!({
            "eventVersion": null,
            "eventTime": "2024-03-05T12:00:00Z",
            "eventSource": "autoscaling.amazonaws.com",
            "eventName": "SetDesiredCapacity",
            "eventID": "e-sparse",
            "userIdentity": null,
            "awsRegion": null,
            "readOnly": null,
            "requestParameters": null,
            "responseElements": null,
            "additionalEventData": null,
            "someNewField": [1, {"deep": null}],
            "eventCategory": "Management"
        });
        let it = &kept(&sparse)[0];
        assert_eq!(
            it.key(),
            (":account:unknown", "2024-03-05T12:00:00Z#e-sparse")
        );
        assert_eq!(
            (
                it.event_version.as_deref(),
                it.aws_region.as_deref(),
                it.read_only
            ),
            (None, None, None)
        );
        assert_eq!(
            (&it.request_parameters, &it.response_elements),
            (&None, &None)
        );
        // Both omitted, as CloudTrail does above 100 KB: the same.
        let mut omitted = update_record();
        let o = omitted.as_object_mut().expect("object");
        o.remove("requestParameters");
        o.remove("responseElements");
        let it = &kept(&omitted)[0];
        assert_eq!(it.group_name, ":account:123456789012");
        assert_eq!(it.event_name.as_deref(), Some("UpdateAutoScalingGroup"));
    }

    #[test]
    fn any_event_version_is_stored_as_it_is() {
        for version in [
            "1.01", "1.05", "1.09", "1.10", "1.11", "1.12", "2.0", "weird",
        ] {
            let mut r = update_record();
            r["eventVersion"] = json!(version);
            assert_eq!(
                kept(&r)[0].event_version.as_deref(),
                Some(version),
                "{version}"
            );
        }
    }

    #[test]
    fn file_stats_count_every_outcome() {
        let mut no_id = update_record();
        no_id.as_object_mut().expect("object").remove("eventID");
        let mut read_only = update_record();
        read_only["eventID"] = json!("evt-ro");
        read_only["eventName"] = json!("DescribeAutoScalingGroups");
        read_only["readOnly"] = json!(true);
        read_only["requestParameters"] = json!({"autoScalingGroupNames": ["web-asg", "api-asg"]});
        let mut account = update_record();
        account["eventID"] = json!("evt-acct");
        account["requestParameters"] = json!({});
        let records = json!({"Records": [
            update_record(),
            read_only,
            account,
            no_id,
            run_instances_by_autoscaling(),
            {"eventSource": "s3.amazonaws.com", "eventName": "GetObject"},
            {"eventSource": "autoscaling.amazonaws.com", "eventName": "RegisterScalableTarget",
             "eventTime": "2024-03-05T12:00:00Z", "eventID": "aas",
             "requestParameters": {"serviceNamespace": "ecs"}}
        ]})
        .to_string();
        let run = |filters: &Filters| {
            let mut items = Vec::new();
            let (stats, result) =
                extract_log(records.as_bytes(), Format::Delivery, "f", filters, |i| {
                    items.push(i);
                    ControlFlow::Continue(())
                });
            result.expect("parses");
            (stats, items.len())
        };
        let (stats, items) = run(&keep_reads());
        assert_eq!(
            stats,
            FileStats {
                bytes: records.len() as u64,
                records: 7,
                events: 3,
                // The read-only call naming two groups is one item, in the account partition.
                items: 3,
                events_in_groups: 2,
                events_in_account: 1,
                service_events: 0,
                application_autoscaling: 1,
                filtered: 0,
                rejected: 1,
            }
        );
        assert_eq!(items, 3);
        let (stats, items) = run(&Filters {
            exclude_read_only: true,
            ..service_filters()
        });
        assert_eq!(
            (
                stats.events,
                stats.items,
                stats.events_in_groups,
                stats.service_events,
                stats.filtered,
                stats.rejected
            ),
            (3, 3, 2, 1, 1, 1)
        );
        assert_eq!(items, 3);
        assert!((stats.percent_in_groups() - 200.0 / 3.0).abs() < 1e-9);
        let mut total = FileStats::default();
        total.add(&stats);
        total.add(&stats);
        assert_eq!((total.records, total.filtered), (14, 2));
    }

    /// What the real corpus must give, in every shape `asg-trail extract` takes.
    #[test]
    fn conformance_over_every_shape_of_the_real_corpus() {
        const STACK: &str = "elvin-stackstate-tests-main-account-main-region-EcsAutoScalingGroup";
        let one = |name: &str, group: String| vec![(name.to_owned(), group, Origin::Api)];
        // (file, records, application auto scaling, items by default: (event, group, origin))
        type Case = (&'static str, u64, u64, Vec<(String, String, Origin)>);
        let cases: Vec<Case> = vec![
            (
                "stackstate-aws_topology/create_autoscaling_group.json",
                1,
                0,
                one("CreateAutoScalingGroup", format!("{STACK}-1D45HJNDMXR65")),
            ),
            (
                "stackstate-aws_topology/create_or_update_tags.json",
                1,
                0,
                one("CreateOrUpdateTags", format!("{STACK}-1D45HJNDMXR65")),
            ),
            (
                "stackstate-aws_topology/delete_autoscaling_group.json",
                1,
                0,
                one("DeleteAutoScalingGroup", format!("{STACK}-VVC5WIJ3AI3K")),
            ),
            (
                "stackstate-aws_topology/update_autoscaling_group.json",
                1,
                0,
                one("UpdateAutoScalingGroup", format!("{STACK}-1D45HJNDMXR65")),
            ),
            ("stackstate-aws_topology/get_object_xxx.gz", 2, 0, vec![]),
            (
                "cloud-custodian/event-cloud-trail-run-instances.json",
                1,
                0,
                vec![],
            ),
            // A native Auto Scaling event (not an API call): the group's own activity.
            (
                "cloud-custodian/event-asg-instance-failed.json",
                1,
                0,
                vec![(
                    "EC2 Instance Launch Unsuccessful".into(),
                    "CustodianTest".into(),
                    Origin::Activity,
                )],
            ),
            (
                "traildiscover/CreateAutoScalingGroup.json.cloudtrail",
                1,
                0,
                one("CreateAutoScalingGroup", "TrailDiscoverASG".into()),
            ),
            (
                "traildiscover/CreateServiceLinkedRole.json.cloudtrail",
                1,
                0,
                vec![],
            ),
            (
                "awsdocs-extracted/logging-using-cloudtrail__dd291229b7.json",
                1,
                0,
                one("CreateLaunchConfiguration", ":account:123456789012".into()),
            ),
            (
                "awsdocs-extracted/monitoring-eventbridge__52ccb9fb72.json",
                1,
                1,
                vec![],
            ),
            (
                "awsdocs-extracted/cloudtrail-event-reference__81b97a1649.json",
                1,
                0,
                vec![],
            ),
            (
                "awsdocs-extracted/view-insights-events-cli__2ce149bf0c.json",
                2,
                0,
                vec![],
            ),
            (
                "awsdocs-extracted/view-insights-events-cli__6b483e4519.json",
                2,
                0,
                vec![],
            ),
            (
                "218007301253_CloudTrail_us-east-1_20230710T1230Z_9SJSsrxJ0ChF5VFb.json",
                84,
                0,
                one("DescribeAutoScalingGroups", ":account:123837392027".into()),
            ),
            (
                "111111111111_CloudTrail_eu-central-1_20171211T1505Z_A6kvhMoVeCsc7v8U.json.gz",
                2,
                0,
                one(
                    "DescribeLaunchConfigurations",
                    ":account:111111111111".into(),
                ),
            ),
        ];
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
        let read = |name: &str, filters: &Filters| {
            let file = std::fs::File::open(dir.join(name)).expect(name);
            let mut items = Vec::new();
            let (stats, result) = extract_log(file, Format::Any, name, filters, |i| {
                items.push(i);
                ControlFlow::Continue(())
            });
            result.unwrap_or_else(|e| panic!("{name}: {e}"));
            (stats, items)
        };
        let summary = |items: &[Item]| -> Vec<(String, String, Origin)> {
            items
                .iter()
                .map(|i| {
                    (
                        i.event_name.clone().unwrap_or_default(),
                        i.group_name.clone(),
                        i.origin,
                    )
                })
                .collect()
        };
        for (name, records, aas, want) in &cases {
            let (stats, items) = read(name, &keep_reads());
            assert_eq!(
                (stats.records, stats.application_autoscaling, stats.rejected),
                (*records, *aas, 0),
                "{name}"
            );
            assert_eq!(summary(&items), *want, "{name}");
        }
        // The RunInstances Auto Scaling made (2016: no group tag yet) with the opt-in: one
        // service item in the account partition.
        let (stats, items) = read(
            "cloud-custodian/event-cloud-trail-run-instances.json",
            &service_filters(),
        );
        assert_eq!((stats.events, stats.service_events), (1, 1));
        assert_eq!(
            summary(&items),
            [(
                "RunInstances".to_owned(),
                ":account:619193117841".to_owned(),
                Origin::Service
            )]
        );
        // Documentation blocks with `...additional entries` are not JSON: a clear error.
        let file = std::fs::File::open(
            dir.join("awsdocs-extracted/logging-using-cloudtrail__963b99699c.json.txt"),
        )
        .expect("fixture");
        let (_, result) = extract_log(file, Format::Any, "x", &Filters::default(), |_| {
            ControlFlow::Continue(())
        });
        assert!(
            matches!(result, Err(cloudtrail::ParseError::Format { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn the_prefilter_never_turns_down_a_record_that_could_be_auto_scaling() {
        let yes: [&[u8]; 5] = [
            br#"{"eventSource":"autoscaling.amazonaws.com"}"#,
            br#"{"eventSource":"ec2.amazonaws.com","userIdentity":{"invokedBy":"autoscaling.amazonaws.com"}}"#,
            br#"{"eventSource":"\u0061utoscaling.amazonaws.com"}"#,
            b"[1,2]",
            b"17",
        ];
        for r in yes {
            assert!(might_be_autoscaling(r), "{}", String::from_utf8_lossy(r));
        }
        let no: [&[u8]; 2] = [
            br#"{"eventSource":"s3.amazonaws.com","eventName":"GetObject"}"#,
            br#"{"eventSource":"autoscaling.amazonaws.co","x":"\/"}"#,
        ];
        for r in no {
            assert!(!might_be_autoscaling(r), "{}", String::from_utf8_lossy(r));
        }
        // And the escaped spelling is really kept by the extractor.
        let escaped = br#"{"eventSource":"\u0061utoscaling.amazonaws.com","eventTime":"2024-03-05T12:00:00Z","eventID":"e","eventName":"SetDesiredCapacity","requestParameters":{"autoScalingGroupName":"g"}}"#;
        let (stats, result) = extract_log(
            &[br#"{"Records":["#.as_slice(), escaped.as_slice(), b"]}"].concat()[..],
            Format::Delivery,
            "x",
            &Filters::default(),
            |_| ControlFlow::Continue(()),
        );
        result.expect("reads");
        assert_eq!((stats.records, stats.events), (1, 1));
    }

    /// The hostile and broken corpus (tests/fixtures/bad/, written by its make.py), through the
    /// Lambda's reader: what each file yields, and how it fails.
    mod bad_corpus {
        use super::*;
        use crate::cloudtrail::{Limits, ParseError};

        struct Read {
            stats: FileStats,
            items: Vec<Item>,
            result: Result<cloudtrail::Finish, ParseError>,
        }

        fn read(name: &str) -> Read {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/bad")
                .join(name);
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut items = Vec::new();
            let (stats, result) = extract_log_with(
                bytes.as_slice(),
                Format::Delivery,
                name,
                &Filters::default(),
                &Limits::default(),
                |i| {
                    items.push(i);
                    ControlFlow::Continue(())
                },
            );
            Read {
                stats,
                items,
                result,
            }
        }

        fn ids(items: &[Item]) -> Vec<&str> {
            items.iter().map(|i| i.event_id.as_str()).collect()
        }

        #[test]
        fn files_that_cannot_be_read_as_a_whole_fail_with_a_clear_reason() {
            for (name, want) in [
                ("corrupt.json.gz", "read failed (gzip)"),
                (
                    "not-json.json.gz",
                    "not a CloudTrail log file (after gunzip): expected ident",
                ),
                ("empty.json.gz", "the file is empty"),
                (
                    "gzip-of-nothing.json.gz",
                    "not a CloudTrail log file (after gunzip): EOF",
                ),
                ("empty-document.json.gz", "missing field `Records`"),
                (
                    "records-null.json.gz",
                    "invalid type: null, expected an array of CloudTrail records",
                ),
                (
                    "records-not-array.json.gz",
                    "invalid type: map, expected an array of CloudTrail records",
                ),
            ] {
                let r = read(name);
                let err = r.result.expect_err(name);
                assert!(err.to_string().contains(want), "{name}: {err}");
                assert!(r.items.is_empty(), "{name}");
            }
        }

        #[test]
        fn a_truncated_file_yields_what_came_before_the_cut() {
            let r = read("truncated.json.gz");
            let err = r.result.expect_err("truncated");
            assert!(matches!(err, ParseError::Read { gzip: true, .. }), "{err}");
            assert!(
                !r.items.is_empty() && r.items.len() < 400,
                "{}",
                r.items.len()
            );
            // In file order, none missing before the cut.
            for (i, item) in r.items.iter().enumerate() {
                assert_eq!(item.event_id, format!("good-{i:04}"));
            }
        }

        #[test]
        fn records_that_are_not_objects_or_have_wrong_types_are_rejected_and_the_rest_kept() {
            let r = read("record-not-object.json.gz");
            r.result.expect("readable");
            assert_eq!((r.stats.records, r.stats.rejected), (6, 5));
            assert_eq!(ids(&r.items), ["good-0000"]);
            let r = read("wrong-types.json.gz");
            r.result.expect("readable");
            // The record whose eventSource is the number 7 cannot be an Auto Scaling record:
            // it is passed over like any other service's record, the 5 others are rejected.
            assert_eq!((r.stats.records, r.stats.rejected), (7, 5));
            assert_eq!(ids(&r.items), ["good-0001"]);
        }

        #[test]
        fn a_record_with_invalid_utf8_is_rejected_and_the_rest_kept() {
            // The structural scanner finds the record's bounds without decoding its text, so
            // only the record itself is lost, not the rest of the file.
            let r = read("invalid-utf8.json.gz");
            r.result.expect("readable");
            assert_eq!((r.stats.records, r.stats.rejected), (3, 1));
            assert_eq!(ids(&r.items), ["good-0000", "good-0001"]);
        }

        #[test]
        fn deep_nesting_costs_no_stack_and_is_left_out_with_a_marker() {
            let r = read("deep-nesting.json.gz");
            r.result.expect("readable");
            assert_eq!((r.stats.records, r.stats.rejected), (4, 0));
            assert_eq!(ids(&r.items), ["good-0000", "deep-params", "good-0001"]);
            let deep = &r.items[1];
            assert_eq!(deep.request_parameters, None);
            let omitted = &deep.omitted["requestParameters"];
            assert_eq!(omitted.reason, "nested deeper than DynamoDB's 32 levels");
            assert_eq!(omitted.bytes, 5000 * 6 + 3);
            // Without its requestParameters it names no group: the account partition.
            assert_eq!(deep.group_name, ":account:123456789012");
        }

        #[test]
        fn maps_dynamodb_cannot_store_are_left_out_with_a_marker() {
            let r = read("dynamodb-unstorable.json.gz");
            r.result.expect("readable");
            assert_eq!(
                ids(&r.items),
                ["params-40-deep", "params-empty-key", "good-0002"]
            );
            assert_eq!(
                r.items[0].omitted["requestParameters"].reason,
                "nested deeper than DynamoDB's 32 levels"
            );
            assert_eq!(
                r.items[1].omitted["requestParameters"].reason,
                "a map key is empty, which DynamoDB cannot store"
            );
            assert!(r.items[2].omitted.is_empty());
        }

        #[test]
        fn a_record_over_the_record_limit_stops_the_file_after_what_came_before() {
            let r = read("huge-record.json.gz");
            let err = r.result.expect_err("too large");
            assert!(
                matches!(err, ParseError::RecordTooLarge { record: 2, limit } if limit == 32 << 20),
                "{err}"
            );
            assert_eq!(ids(&r.items), ["good-0004"]);
        }

        #[test]
        fn keys_at_dynamodbs_limits_are_kept_and_longer_ones_rejected() {
            let r = read("key-limits.json.gz");
            r.result.expect("readable");
            assert_eq!((r.stats.records, r.stats.rejected), (6, 2));
            let keys: Vec<(usize, usize)> = r
                .items
                .iter()
                .map(|i| (i.group_name.len(), i.event_key.len()))
                .collect();
            assert_eq!(keys, [(2048, 28), (2048, 33), (14, 1024), (14, 30)]);
        }

        #[test]
        fn an_oversized_item_is_read_whole() {
            // Extraction reads it whole; the 400 KB limit is applied after it
            // (pipeline::finish, size::fit).
            let r = read("oversized-item.json.gz");
            r.result.expect("readable");
            assert_eq!(ids(&r.items), ["good-0003", "oversized-item"]);
            assert!(r.items[1].response_elements.is_some());
        }
    }
}
