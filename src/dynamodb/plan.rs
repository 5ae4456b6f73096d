//! What a query reads and the request that reads it: a [`QuerySpec`] (the partition, a time
//! range, filters), chosen from what the user gave by [`QuerySpec::choose`], and turned by
//! [`plan`] into a DynamoDB Query request on the table or one of its indexes, never a scan.

use aws_sdk_dynamodb::types::AttributeValue;

use crate::item::{ACCOUNT_ID, PARTITION_KEY, REGION, SORT_KEY, UNKNOWN};

/// A time range of a group's timeline. Bounds compare with `eventTime` as text, so a date
/// (`2024-03-05`) or a full timestamp both work, and `until` is inclusive of everything that
/// starts with it (`--until 2024-03-05` covers that whole day).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// Earliest event time (inclusive).
    pub since: Option<String>,
    /// Latest event time (inclusive, as a prefix).
    pub until: Option<String>,
}

/// Reads a group's items, oldest first, through every page of the query.
/// The index of the table keyed by `eventName` (then `eventKey`).
pub const BY_EVENT_NAME: &str = "byEventName";
/// The index of the table keyed by `userArn` (then `eventKey`).
pub const BY_USER: &str = "byUser";

/// The partition a query reads: always one key of the table or of one of its indexes, never a
/// scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryTarget {
    /// A group's partition of the table (`groupName`).
    Group(String),
    /// Every group's events of one name, through [`BY_EVENT_NAME`].
    EventName(String),
    /// Every event of one principal (`userArn`), through [`BY_USER`].
    User(String),
}

/// What to read: a target partition, a time range on `eventKey`, and filters on the other
/// attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuerySpec {
    /// The partition to read.
    pub target: QueryTarget,
    /// Event time bounds (on the sort key `eventKey`, so they cost nothing).
    pub range: TimeRange,
    /// Only events of this name.
    pub event_name: Option<String>,
    /// Only events of this principal ARN (`userArn`).
    pub user_arn: Option<String>,
    /// Only events of this principal name: `userName` (the IAM user, or the role of an assumed
    /// role) or the last segment of `userArn` (an assumed role's session name).
    pub user_name: Option<String>,
    /// Only events of this account (`accountId`); [`UNKNOWN`]: the items without one.
    pub account: Option<String>,
    /// Only events of this region (`awsRegion`); [`UNKNOWN`]: the items without one.
    pub region: Option<String>,
    /// Only failed calls (with an `errorCode`).
    pub errors_only: bool,
    /// At most this many items (after filtering).
    pub limit: Option<usize>,
    /// Newest first instead of oldest first.
    pub newest_first: bool,
}

impl QuerySpec {
    /// A query of the whole of `target`, oldest first, unfiltered.
    #[must_use]
    pub fn new(target: QueryTarget) -> Self {
        Self {
            target,
            range: TimeRange::default(),
            event_name: None,
            user_arn: None,
            user_name: None,
            account: None,
            region: None,
            errors_only: false,
            limit: None,
            newest_first: false,
        }
    }

    /// Chooses the partition to read from what the user gave, and turns the rest into filters:
    ///
    /// 1. `group` → the group's partition of the table; everything else filters it;
    /// 2. else `user` as an ARN → [`BY_USER`];
    /// 3. else `event_name` → [`BY_EVENT_NAME`] (a user *name* then filters it);
    /// 4. else an error: a user name alone has no index (`userArn` is the index key) and a scan
    ///    is never made.
    ///
    /// # Errors
    /// A [`SpecError`] saying what to add when no partition can be chosen.
    pub fn choose(
        group: Option<String>,
        event_name: Option<String>,
        user: Option<String>,
    ) -> Result<Self, SpecError> {
        let (user_arn, user_name) = match user {
            Some(u) if is_arn(&u) => (Some(u), None),
            Some(u) => (None, Some(u)),
            None => (None, None),
        };
        let (target, event_name, user_arn) = match (group, event_name, user_arn) {
            (Some(g), e, u) => (QueryTarget::Group(g), e, u),
            (None, e, Some(u)) => (QueryTarget::User(u), e, None),
            (None, Some(e), None) => (QueryTarget::EventName(e), None, None),
            (None, None, None) => {
                return Err(match user_name {
                    Some(name) => SpecError::UserNameOnly { name },
                    None => SpecError::NothingToRead,
                });
            }
        };
        Ok(Self {
            event_name,
            user_arn,
            user_name,
            ..Self::new(target)
        })
    }
}

/// No partition can be chosen from what the user gave (a table scan is never made).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// A user name alone: the `byUser` index is keyed by the full ARN.
    #[error(
        "--user {name:?} is a name, not an ARN: the byUser index is keyed by the full \
         userArn (e.g. arn:aws:iam::123456789012:user/{name} or \
         arn:aws:sts::123456789012:assumed-role/ROLE/SESSION). Give the ARN, or add \
         --group or --event-name to filter by name within them (never a table scan)"
    )]
    UserNameOnly {
        /// The name given.
        name: String,
    },
    /// Nothing at all.
    #[error(
        "say what to read: --group NAME, --event-name NAME or --user ARN (a table scan is never made)"
    )]
    NothingToRead,
}

#[must_use]
fn is_arn(user: &str) -> bool {
    user.starts_with("arn:")
}

/// A DynamoDB Query request, before it is sent.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct QueryPlan {
    /// The index, or `None` for the table.
    pub(super) index: Option<&'static str>,
    /// `KeyConditionExpression`.
    pub(super) key_condition: String,
    /// `FilterExpression`, if any.
    pub(super) filter: Option<String>,
    /// `ExpressionAttributeNames`.
    pub(super) names: Vec<(String, String)>,
    /// `ExpressionAttributeValues`.
    pub(super) values: Vec<(String, AttributeValue)>,
    /// Strongly consistent (tables only: indexes do not offer it).
    pub(super) consistent: bool,
    /// `ScanIndexForward`.
    pub(super) forward: bool,
}

/// The request for a [`QuerySpec`].
#[must_use]
pub(super) fn plan(spec: &QuerySpec) -> QueryPlan {
    let (index, hash, value) = match &spec.target {
        QueryTarget::Group(g) => (None, PARTITION_KEY, g),
        QueryTarget::EventName(e) => (Some(BY_EVENT_NAME), "eventName", e),
        QueryTarget::User(u) => (Some(BY_USER), "userArn", u),
    };
    let mut names = vec![("#p".to_owned(), hash.to_owned())];
    let mut values = vec![(":p".to_owned(), AttributeValue::S(value.clone()))];
    let mut key_condition = "#p = :p".to_owned();
    // '~' sorts after every character of an event key's time and separator, so `until~`
    // is past every key that starts with `until`.
    let until = |u: &str| AttributeValue::S(format!("{u}~"));
    let bounds = match (spec.range.since.as_deref(), spec.range.until.as_deref()) {
        (Some(s), Some(u)) => Some((
            " AND #k BETWEEN :lo AND :hi",
            vec![(":lo", AttributeValue::S(s.to_owned())), (":hi", until(u))],
        )),
        (Some(s), None) => Some((
            " AND #k >= :lo",
            vec![(":lo", AttributeValue::S(s.to_owned()))],
        )),
        (None, Some(u)) => Some((" AND #k <= :hi", vec![(":hi", until(u))])),
        (None, None) => None,
    };
    if let Some((clause, bound_values)) = bounds {
        key_condition.push_str(clause);
        names.push(("#k".to_owned(), SORT_KEY.to_owned()));
        values.extend(bound_values.into_iter().map(|(n, v)| (n.to_owned(), v)));
    }
    let mut filters = Vec::new();
    let mut equal = |attribute: &str, value: Option<&String>, tag: &str| {
        let Some(v) = value else { return };
        names.push((format!("#{tag}"), attribute.to_owned()));
        if v == UNKNOWN && [ACCOUNT_ID, REGION].contains(&attribute) {
            // The account or region readers show as unknown: the items that lack it.
            filters.push(format!("attribute_not_exists(#{tag})"));
        } else {
            values.push((format!(":{tag}"), AttributeValue::S(v.clone())));
            filters.push(format!("#{tag} = :{tag}"));
        }
    };
    equal("eventName", spec.event_name.as_ref(), "en");
    equal("userArn", spec.user_arn.as_ref(), "ua");
    equal(ACCOUNT_ID, spec.account.as_ref(), "ac");
    equal(REGION, spec.region.as_ref(), "rg");
    if let Some(name) = &spec.user_name {
        // Narrowed server-side, made exact client-side (see `matches_user_name`).
        names.push(("#un".to_owned(), "userName".to_owned()));
        names.push(("#ua2".to_owned(), "userArn".to_owned()));
        values.push((":un".to_owned(), AttributeValue::S(name.clone())));
        values.push((":us".to_owned(), AttributeValue::S(format!("/{name}"))));
        filters.push("(#un = :un OR contains(#ua2, :us))".to_owned());
    }
    if spec.errors_only {
        names.push(("#ec".to_owned(), "errorCode".to_owned()));
        filters.push("attribute_exists(#ec)".to_owned());
    }
    QueryPlan {
        index,
        key_condition,
        filter: (!filters.is_empty()).then(|| filters.join(" AND ")),
        names,
        values,
        consistent: index.is_none(),
        forward: !spec.newest_first,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.to_owned())
    }

    #[test]
    fn the_partition_is_chosen_never_a_scan() {
        let q = |g: Option<&str>, e: Option<&str>, u: Option<&str>| {
            QuerySpec::choose(g.map(Into::into), e.map(Into::into), u.map(Into::into))
        };
        let arn = "arn:aws:iam::1:user/bob";
        let spec = q(Some("web"), Some("SetDesiredCapacity"), Some("bob")).expect("ok");
        assert_eq!(spec.target, QueryTarget::Group("web".into()));
        assert_eq!(spec.event_name.as_deref(), Some("SetDesiredCapacity"));
        assert_eq!(spec.user_name.as_deref(), Some("bob"));
        let spec = q(None, Some("SetDesiredCapacity"), Some(arn)).expect("ok");
        assert_eq!(spec.target, QueryTarget::User(arn.into()));
        assert_eq!(spec.event_name.as_deref(), Some("SetDesiredCapacity"));
        assert_eq!(spec.user_arn, None);
        let spec = q(None, Some("SetDesiredCapacity"), Some("bob")).expect("ok");
        assert_eq!(
            spec.target,
            QueryTarget::EventName("SetDesiredCapacity".into())
        );
        assert_eq!(
            (spec.event_name, spec.user_name.as_deref()),
            (None, Some("bob"))
        );
        let e = q(None, None, Some("bob")).expect_err("a name has no index");
        assert_eq!(e, SpecError::UserNameOnly { name: "bob".into() });
        assert!(e.to_string().contains("not an ARN"), "{e}");
        let e = q(None, None, None).expect_err("nothing");
        assert!(e.to_string().contains("never"), "{e}");
    }

    #[test]
    fn plans_use_the_key_for_time_and_filters_for_the_rest() {
        let mut spec = QuerySpec::new(QueryTarget::EventName("UpdateAutoScalingGroup".into()));
        spec.range = TimeRange {
            since: Some("2024-03-01".into()),
            until: Some("2024-03-05".into()),
        };
        spec.account = Some("123".into());
        spec.errors_only = true;
        spec.user_name = Some("alice".into());
        spec.newest_first = true;
        let p = plan(&spec);
        assert_eq!(p.index, Some(BY_EVENT_NAME));
        assert_eq!(p.key_condition, "#p = :p AND #k BETWEEN :lo AND :hi");
        assert_eq!(
            p.filter.as_deref(),
            Some("#ac = :ac AND (#un = :un OR contains(#ua2, :us)) AND attribute_exists(#ec)")
        );
        assert!(!p.consistent && !p.forward);
        assert!(p.names.contains(&("#p".into(), "eventName".into())));
        assert!(p.values.contains(&(":hi".into(), s("2024-03-05~"))));
        assert!(p.values.contains(&(":us".into(), s("/alice"))));
        let p = plan(&QuerySpec::new(QueryTarget::Group("web".into())));
        assert_eq!(
            (p.index, p.key_condition.as_str(), p.filter),
            (None, "#p = :p", None)
        );
        assert!(p.consistent && p.forward);
        let p = plan(&QuerySpec::new(QueryTarget::User(
            "arn:aws:iam::1:user/b".into(),
        )));
        assert_eq!(p.index, Some(BY_USER));
    }

    #[test]
    fn an_unknown_region_or_account_reads_the_items_without_one() {
        let mut spec = QuerySpec::new(QueryTarget::Group("web".into()));
        spec.account = Some("111111111111".into());
        spec.region = Some(UNKNOWN.into());
        let p = plan(&spec);
        assert_eq!(
            p.filter.as_deref(),
            Some("#ac = :ac AND attribute_not_exists(#rg)")
        );
        assert!(p.names.contains(&("#rg".into(), "awsRegion".into())));
        assert!(!p.values.iter().any(|(n, _)| n == ":rg"), "no value: {p:?}");
        spec.account = Some(UNKNOWN.into());
        spec.region = Some("us-east-1".into());
        assert_eq!(
            plan(&spec).filter.as_deref(),
            Some("attribute_not_exists(#ac) AND #rg = :rg")
        );
    }
}
