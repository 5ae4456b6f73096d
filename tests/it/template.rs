//! The SAM template: it passes the infra lint (cfn-lint, sam validate --lint, the lint of the
//! transformed template, IAM checks), and the table's key schema is the item model's.

use serde_json::json;

use crate::stack;

#[test]
fn template_passes_the_infra_lint() {
    let out = stack::template_tool(&["lint", "template.yaml"]);
    assert!(
        out.status.success(),
        "`infra/.venv/bin/python infra/template_tool.py lint template.yaml` failed ({}):\n\
         --- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn table_key_schema_is_group_name_and_event_key() {
    let schema = stack::key_schema();
    let mut keys: Vec<_> = schema["KeySchema"].as_array().expect("KeySchema").clone();
    keys.sort_by_key(|k| k["KeyType"].as_str().map(str::to_owned));
    assert_eq!(
        keys,
        vec![
            json!({"AttributeName": "groupName", "KeyType": "HASH"}),
            json!({"AttributeName": "eventKey", "KeyType": "RANGE"}),
        ],
        "key schema: {schema}"
    );
    let defs = schema["AttributeDefinitions"]
        .as_array()
        .expect("AttributeDefinitions");
    for (name, ty) in [("groupName", "S"), ("eventKey", "S")] {
        assert!(
            defs.contains(&json!({"AttributeName": name, "AttributeType": ty})),
            "{name} must be defined as {ty}: {schema}"
        );
    }
}

/// The CLI's cross-group queries name these indexes and their keys (`dynamodb::BY_EVENT_NAME`,
/// `dynamodb::BY_USER`); the template must keep them, projecting every attribute.
#[test]
fn table_has_the_query_indexes() {
    let schema = stack::key_schema();
    let mut indexes: Vec<serde_json::Value> = schema["GlobalSecondaryIndexes"]
        .as_array()
        .unwrap_or_else(|| panic!("the table has no GlobalSecondaryIndexes: {schema}"))
        .iter()
        .map(|i| json!({"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}))
        .collect();
    indexes.sort_by_key(|i| i["IndexName"].as_str().map(str::to_owned));
    assert_eq!(
        indexes,
        vec![
            json!({"IndexName": asg_trail::dynamodb::BY_EVENT_NAME,
                   "KeySchema": [{"AttributeName": "eventName", "KeyType": "HASH"},
                                 {"AttributeName": "eventKey", "KeyType": "RANGE"}],
                   "Projection": {"ProjectionType": "ALL"}}),
            json!({"IndexName": asg_trail::dynamodb::BY_USER,
                   "KeySchema": [{"AttributeName": "userArn", "KeyType": "HASH"},
                                 {"AttributeName": "eventKey", "KeyType": "RANGE"}],
                   "Projection": {"ProjectionType": "ALL"}}),
        ]
    );
}
