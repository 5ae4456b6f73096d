//! Self-tests of the harness: the local servers answer, and the helpers round-trip.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;

use crate::stack;

#[tokio::test]
async fn local_s3_round_trips_an_object() {
    let bucket = stack::fresh_bucket().await;
    stack::put_object(&bucket, "a b/c+d.json.gz", b"hello".to_vec()).await;
    let got = stack::s3()
        .await
        .get_object()
        .bucket(&bucket)
        .key("a b/c+d.json.gz")
        .send()
        .await
        .expect("get_object")
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes();
    assert_eq!(&got[..], b"hello");
}

#[tokio::test]
async fn fresh_table_has_the_template_key_schema_and_scan_all_converts_types() {
    let table = stack::fresh_table().await;
    let client = stack::dynamodb().await;
    client
        .put_item()
        .table_name(&table)
        .item("groupName", AttributeValue::S("g".into()))
        .item("eventKey", AttributeValue::S("k".into()))
        .item("n", AttributeValue::N("42".into()))
        .item("f", AttributeValue::N("1.5".into()))
        .item("b", AttributeValue::Bool(true))
        .item("z", AttributeValue::Null(true))
        .item("ss", AttributeValue::Ss(vec!["x".into(), "y".into()]))
        .item(
            "m",
            AttributeValue::M(
                [(
                    "l".to_owned(),
                    AttributeValue::L(vec![AttributeValue::S("e".into())]),
                )]
                .into_iter()
                .collect(),
            ),
        )
        .send()
        .await
        .expect("put_item");
    let mut items = stack::scan_all(&table).await;
    assert_eq!(items.len(), 1);
    let mut item = items.remove(0);
    // SS order is not guaranteed by DynamoDB.
    item["ss"]
        .as_array_mut()
        .expect("ss")
        .sort_by_key(ToString::to_string);
    assert_eq!(
        item,
        json!({"groupName":"g","eventKey":"k","n":42,"f":1.5,"b":true,"z":null,
               "ss":["x","y"],"m":{"l":["e"]}})
    );
}

#[tokio::test]
async fn fresh_table_has_the_template_indexes() {
    type Index = (String, Vec<(String, String)>, String);
    let table = stack::fresh_table().await;
    let d = stack::dynamodb()
        .await
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .expect("describe_table");
    let mut indexes: Vec<Index> = d
        .table()
        .expect("table")
        .global_secondary_indexes()
        .iter()
        .map(|i| {
            (
                i.index_name().unwrap_or_default().to_owned(),
                i.key_schema()
                    .iter()
                    .map(|k| {
                        (
                            k.attribute_name().to_owned(),
                            k.key_type().as_str().to_owned(),
                        )
                    })
                    .collect(),
                i.projection()
                    .and_then(|p| p.projection_type())
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
            )
        })
        .collect();
    indexes.sort();
    let kv = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        indexes,
        vec![
            (
                "byEventName".to_owned(),
                vec![kv("eventName", "HASH"), kv("eventKey", "RANGE")],
                "ALL".to_owned()
            ),
            (
                "byUser".to_owned(),
                vec![kv("userArn", "HASH"), kv("eventKey", "RANGE")],
                "ALL".to_owned()
            ),
        ]
    );
}
