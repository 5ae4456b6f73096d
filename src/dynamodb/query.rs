//! Running a query: [`query`] sends the request [`plan`] makes, through every page, keeps the
//! items whose principal matches exactly, and maps failures to a [`QueryError`] that keeps the
//! SDK error. A query on an index the table lacks (a table that predates the indexes, or is
//! not the template's) is told apart: DynamoDB answers it with a `ValidationException`, and a
//! DescribeTable call confirms the index is missing.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::query::QueryError as SdkQueryError;
use aws_sdk_dynamodb::types::{AttributeValue, TableDescription};

use super::plan::{QuerySpec, plan};
use crate::error::BoxError;

/// A query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The query names an index the table does not have.
    #[error("{message} (table {table} has no {index} index: deploy the current template.yaml)")]
    MissingIndex {
        /// The table.
        table: String,
        /// The index the query needs.
        index: String,
        /// What DynamoDB said, in one line.
        message: String,
        /// The SDK error.
        #[source]
        source: BoxError,
    },
    /// DynamoDB refused the query, or could not be reached.
    #[error("{message}")]
    Sdk {
        /// What DynamoDB said (`Code: message (request id ...)`), or the chain of causes.
        message: String,
        /// DynamoDB's error code, when it answered.
        code: Option<String>,
        /// The request ID DynamoDB gave the call, when it answered.
        request_id: Option<String>,
        /// The SDK error.
        #[source]
        source: BoxError,
    },
}

/// Whether an item's principal is `name`: its `userName`, or the last segment of its
/// `userArn` (`.../alice@example.com` for an assumed role's session).
#[must_use]
fn matches_user_name(item: &HashMap<String, AttributeValue>, name: &str) -> bool {
    let text = |a: &str| item.get(a).and_then(|v| v.as_s().ok()).map(String::as_str);
    text("userName") == Some(name)
        || text("userArn").and_then(|arn| arn.rsplit('/').next()) == Some(name)
}

/// Runs a query through every page (or until `limit` items passed the filters).
///
/// # Errors
/// A [`QueryError`] when a page cannot be read: [`QueryError::MissingIndex`] when the query
/// needs an index the table does not have.
pub async fn query(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    spec: &QuerySpec,
) -> Result<Vec<HashMap<String, AttributeValue>>, QueryError> {
    let plan = plan(spec);
    let mut request = client
        .query()
        .table_name(table)
        .set_index_name(plan.index.map(str::to_owned))
        .key_condition_expression(&plan.key_condition)
        .set_filter_expression(plan.filter.clone())
        .scan_index_forward(plan.forward)
        .consistent_read(plan.consistent);
    for (name, attribute) in &plan.names {
        request = request.expression_attribute_names(name, attribute);
    }
    for (name, value) in &plan.values {
        request = request.expression_attribute_values(name, value.clone());
    }
    let mut pages = request.into_paginator().items().send();
    let mut items = Vec::new();
    while let Some(item) = pages.next().await {
        let item = match item {
            Ok(item) => item,
            Err(e) => return Err(query_error(client, table, plan.index, e).await),
        };
        if spec
            .user_name
            .as_deref()
            .is_some_and(|name| !matches_user_name(&item, name))
        {
            continue;
        }
        items.push(item);
        if spec.limit.is_some_and(|limit| items.len() >= limit) {
            break;
        }
    }
    Ok(items)
}

/// Maps a failed page to a [`QueryError`]: [`QueryError::MissingIndex`] when DynamoDB refused
/// a query on an index as invalid and the table's description shows the index is missing.
async fn query_error<R>(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    index: Option<&str>,
    err: SdkError<SdkQueryError, R>,
) -> QueryError
where
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = crate::aws::error_code(&err);
    let message = crate::aws::describe_error(&err);
    if let Some(index) = index
        && code.as_deref() == Some("ValidationException")
        && lacks_index(client, table, index).await
    {
        return QueryError::MissingIndex {
            table: table.to_owned(),
            index: index.to_owned(),
            message,
            source: Box::new(err),
        };
    }
    QueryError::Sdk {
        message,
        code,
        request_id: crate::aws::request_id(&err),
        source: Box::new(err),
    }
}

/// Whether DescribeTable shows that `table` has no index named `index` (false when it cannot
/// tell: the error is then reported as DynamoDB gave it).
async fn lacks_index(client: &aws_sdk_dynamodb::Client, table: &str, index: &str) -> bool {
    match client.describe_table().table_name(table).send().await {
        Ok(output) => output.table().is_some_and(|t| !has_index(t, index)),
        Err(e) => {
            tracing::debug!(table, error = %crate::aws::describe_error(&e), "cannot describe the table");
            false
        }
    }
}

/// Whether a table has a global or local secondary index named `index`.
fn has_index(table: &TableDescription, index: &str) -> bool {
    let global = table
        .global_secondary_indexes()
        .iter()
        .any(|i| i.index_name() == Some(index));
    global
        || table
            .local_secondary_indexes()
            .iter()
            .any(|i| i.index_name() == Some(index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_match_exactly() {
        let item = |name: Option<&str>, arn: &str| {
            let mut m = HashMap::from([("userArn".to_owned(), AttributeValue::S(arn.into()))]);
            if let Some(n) = name {
                m.insert("userName".into(), AttributeValue::S(n.into()));
            }
            m
        };
        let role = item(
            Some("ops-admin"),
            "arn:aws:sts::1:assumed-role/ops-admin/alice@example.com",
        );
        assert!(matches_user_name(&role, "ops-admin"));
        assert!(matches_user_name(&role, "alice@example.com"));
        assert!(!matches_user_name(&role, "alice"));
        assert!(!matches_user_name(&role, "ops"));
        assert!(matches_user_name(
            &item(None, "arn:aws:iam::1:user/bob"),
            "bob"
        ));
    }
}

#[cfg(test)]
mod sdk {
    //! The query runner against the SDK's own mock layer.
    use super::*;
    use crate::dynamodb::plan::{BY_USER, QueryTarget};
    use crate::dynamodb::testing::{REQUEST_ID, ddb_error};
    use aws_sdk_dynamodb::Client;
    use aws_sdk_dynamodb::config::http::HttpResponse;
    use aws_sdk_dynamodb::operation::describe_table::DescribeTableOutput;
    use aws_sdk_dynamodb::types::GlobalSecondaryIndexDescription;
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

    /// What DynamoDB (and DynamoDB Local) answers a query on an index the table lacks.
    fn no_such_index() -> HttpResponse {
        ddb_error(
            400,
            "ValidationException",
            "The table does not have the specified index: byUser",
        )
    }

    /// A table whose description lists these global secondary indexes.
    fn described_with(indexes: &'static [&'static str]) -> Rule {
        mock!(Client::describe_table).then_output(move || {
            let table = TableDescription::builder()
                .table_name("events")
                .set_global_secondary_indexes(Some(
                    indexes
                        .iter()
                        .map(|name| {
                            GlobalSecondaryIndexDescription::builder()
                                .index_name(*name)
                                .build()
                        })
                        .collect(),
                ))
                .build();
            DescribeTableOutput::builder().table(table).build()
        })
    }

    async fn query_user(rules: &[&Rule]) -> QueryError {
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, rules);
        let spec = QuerySpec::new(QueryTarget::User("arn:aws:iam::1:user/bob".into()));
        query(&client, "events", &spec)
            .await
            .expect_err("the query fails")
    }

    #[tokio::test]
    async fn a_missing_index_confirmed_by_describe_table_says_to_deploy_the_template() {
        let rule = mock!(Client::query).then_http_response(no_such_index);
        let described = described_with(&["byEventName"]);
        let err = query_user(&[&rule, &described]).await;
        let QueryError::MissingIndex { table, index, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!((table.as_str(), index.as_str()), ("events", BY_USER));
        assert_eq!(described.num_calls(), 1);
        assert_eq!(
            err.to_string(),
            format!(
                "ValidationException: The table does not have the specified index: byUser \
                 (request id {REQUEST_ID}) (table events has no byUser index: deploy the current \
                 template.yaml)"
            )
        );
        assert!(std::error::Error::source(&err).is_some());
    }

    #[tokio::test]
    async fn an_invalid_query_on_an_index_the_table_has_is_reported_as_it_is() {
        let rule = mock!(Client::query).then_http_response(no_such_index);
        let described = described_with(&["byEventName", "byUser"]);
        let err = query_user(&[&rule, &described]).await;
        let QueryError::Sdk {
            code, request_id, ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(
            (code.as_deref(), request_id.as_deref()),
            (Some("ValidationException"), Some(REQUEST_ID))
        );
        assert!(!err.to_string().contains("template.yaml"), "{err}");
    }

    #[tokio::test]
    async fn when_the_table_cannot_be_described_the_error_is_reported_as_it_is() {
        let rule = mock!(Client::query).then_http_response(no_such_index);
        let denied = mock!(Client::describe_table)
            .then_http_response(|| ddb_error(400, "AccessDeniedException", "not allowed"));
        let err = query_user(&[&rule, &denied]).await;
        assert!(matches!(err, QueryError::Sdk { .. }), "{err:?}");
        assert_eq!(denied.num_calls(), 1);
    }
}
