//! The general parser, for every shape the structural scanner does not take: serde over the
//! decoded stream, one top-level value (or one array element) at a time, with the delivery
//! document's `Records` and a `lookup-events` page's `Events` streamed. Records are captured as
//! raw text by serde_json's iterative skipper: nesting costs no stack.

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::ops::ControlFlow;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::readers::{Capped, Meter, read_failure};
use super::{BUF_SIZE, Finish, Format, Limits, ParseError};
use crate::eventbridge::{self, Kind};

/// The caller said stop: raised through serde as an error, and told apart from the real ones
/// by the flag [`parse`] keeps.
#[derive(Debug)]
struct Stopped;

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stopped by the caller")
    }
}

/// A record callback of the parser: `Err(Stopped)` when the caller said stop.
trait OnRecord: FnMut(&RawValue) -> Result<(), Stopped> {}

impl<F: FnMut(&RawValue) -> Result<(), Stopped>> OnRecord for F {}

/// Parses the decoded stream `decoded` in the shapes of `format`, within `limits`, handing every
/// record to `pick` until it says stop.
pub(super) fn parse<R: Read>(
    decoded: R,
    format: Format,
    limits: &Limits,
    gzip: bool,
    pick: &mut impl FnMut(&[u8]) -> ControlFlow<()>,
) -> Result<Finish, ParseError> {
    let meter = Meter::new(limits);
    let reader = BufReader::with_capacity(BUF_SIZE, Capped::new(decoded, meter.clone()));
    let mut stopped = false;
    let hand_over = |r: &RawValue| match pick(r.get().as_bytes()) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => {
            stopped = true;
            Err(Stopped)
        }
    };
    let parsed = match format {
        Format::Delivery => parse_records(reader, &meter, hand_over),
        Format::Any => parse_any(reader, &meter, hand_over),
    };
    match parsed {
        Ok(_) => Ok(Finish::End),
        Err(_) if stopped => Ok(Finish::Stopped),
        Err(e) => Err(classify(e, gzip)),
    }
}

/// Parses the decoded delivery document from `reader`.
fn parse_records<R: BufRead, F: OnRecord>(
    reader: R,
    meter: &Meter,
    mut on_record: F,
) -> Result<u64, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let count = de::Deserializer::deserialize_map(
        &mut de,
        LogVisitor {
            on_record: &mut on_record,
            meter,
        },
    )?;
    de.end()?;
    Ok(count)
}

/// Separates I/O and decompression failures (the stream broke) from format errors (the bytes
/// are not what we expect), and limits from both.
fn classify(source: serde_json::Error, gzip: bool) -> ParseError {
    if source.is_io() {
        return read_failure(std::io::Error::from(source), gzip);
    }
    ParseError::Format {
        gzip,
        cause: source,
    }
}

/// Visits the top-level object, looking for `Records`.
struct LogVisitor<'f, F> {
    on_record: &'f mut F,
    meter: &'f Meter,
}

impl<'de, F: OnRecord> Visitor<'de> for LogVisitor<'_, F> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a CloudTrail delivery object {"Records":[...]}"#)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<u64, A::Error> {
        let mut records = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'_, str>>()? {
            if key == "Records" {
                if records.is_some() {
                    return Err(de::Error::duplicate_field("Records"));
                }
                records = Some(map.next_value_seed(ElementsSeed {
                    on_record: &mut *self.on_record,
                    meter: self.meter,
                    envelopes: false,
                })?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        records.ok_or_else(|| de::Error::missing_field("Records"))
    }
}

/// Reads every top-level JSON value of `reader` (JSON lines, concatenated documents or one
/// document) and hands the records each one holds to `on_record`.
fn parse_any<R: BufRead, F: OnRecord>(
    mut reader: R,
    meter: &Meter,
    mut on_record: F,
) -> Result<u64, serde_json::Error> {
    let mut count = 0;
    let mut values = 0;
    loop {
        // Skip the whitespace between values, and stop cleanly at the end.
        let first = loop {
            let buf = reader.fill_buf().map_err(serde_json::Error::io)?;
            match buf.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(at) => {
                    let byte = buf[at];
                    reader.consume(at);
                    break Some(byte);
                }
                None if buf.is_empty() => break None,
                None => {
                    let n = buf.len();
                    reader.consume(n);
                }
            }
        };
        let Some(first) = first else { break };
        values += 1;
        // A fresh deserializer per value: it reads the value's bytes and nothing after its
        // closing bracket, so the next value starts where this one ended.
        let mut de = serde_json::Deserializer::from_reader(&mut reader);
        count += match first {
            b'[' => de::Deserializer::deserialize_seq(
                &mut de,
                ElementsSeed {
                    on_record: &mut on_record,
                    meter,
                    envelopes: true,
                },
            )?,
            b'{' => {
                // A top-level object is one record unless it holds `Records` or `Events`.
                meter.record_starts(count + 1);
                let n = de::Deserializer::deserialize_map(
                    &mut de,
                    AnyDocument {
                        on_record: &mut on_record,
                        meter,
                    },
                )?;
                meter.records_end();
                n
            }
            _ => {
                return Err(de::Error::invalid_type(
                    de::Unexpected::Other("a value that is not an object or an array"),
                    &"CloudTrail records",
                ));
            }
        };
    }
    if values == 0 {
        return Err(de::Error::invalid_length(0, &"at least one JSON document"));
    }
    Ok(count)
}

/// Hands over the record one value stands for: an EventBridge envelope's `detail` (an API
/// call's CloudTrail record), a `lookup-events` entry's `CloudTrailEvent` text, or the value
/// itself (a record, or an Auto Scaling activity's envelope, which is handed over whole: its
/// `id`, `time` and group are outside its `detail`).
fn hand_over<F: OnRecord>(value: &RawValue, on_record: &mut F) -> Result<(), Stopped> {
    #[derive(serde::Deserialize)]
    struct Wrapper<'a> {
        // Any JSON, as before: a field of an unexpected type does not make the value a record.
        #[serde(rename = "detail-type", default)]
        detail_type: Option<serde_json::Value>,
        #[serde(default)]
        source: Option<serde_json::Value>,
        #[serde(borrow, default)]
        detail: Option<&'a RawValue>,
        #[serde(rename = "CloudTrailEvent", borrow, default)]
        cloudtrail_event: Option<std::borrow::Cow<'a, str>>,
    }
    if let Ok(w) = serde_json::from_str::<Wrapper<'_>>(value.get()) {
        if let Some(detail) = w.detail
            && w.detail_type.is_some()
        {
            let kind = eventbridge::kind(w.source.as_ref(), w.detail_type.as_ref());
            return on_record(if kind == Some(Kind::Activity) {
                value
            } else {
                detail
            });
        }
        if let Some(text) = w.cloudtrail_event
            && let Ok(record) = serde_json::from_str::<Box<RawValue>>(&text)
        {
            return on_record(&record);
        }
    }
    on_record(value)
}

/// A top-level object of any shape: a delivery document (its `Records` streamed), a
/// `lookup-events` page (its `Events` streamed), or one record or envelope, rebuilt from its
/// members once they have all been read.
struct AnyDocument<'f, F> {
    on_record: &'f mut F,
    meter: &'f Meter,
}

impl<'de, F: OnRecord> Visitor<'de> for AnyDocument<'_, F> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a CloudTrail record or a document holding records")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<u64, A::Error> {
        let mut streamed: Option<u64> = None;
        let mut members: Vec<(String, Box<RawValue>)> = Vec::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'_, str>>()? {
            if (key == "Records" || key == "Events") && streamed.is_none() {
                self.meter.records_end();
                streamed = Some(map.next_value_seed(ElementsSeed {
                    on_record: &mut *self.on_record,
                    meter: self.meter,
                    envelopes: true,
                })?);
            } else {
                let value = map.next_value::<Box<RawValue>>()?;
                members.push((key.into_owned(), value));
            }
        }
        if let Some(count) = streamed {
            return Ok(count);
        }
        let mut text = String::from("{");
        for (i, (key, value)) in members.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&serde_json::to_string(key).map_err(de::Error::custom)?);
            text.push(':');
            text.push_str(value.get());
        }
        text.push('}');
        let record = RawValue::from_string(text).map_err(de::Error::custom)?;
        hand_over(&record, self.on_record).map_err(de::Error::custom)?;
        Ok(1)
    }
}

/// Streams an array whose elements are records (or, when asked, envelopes of records), one
/// at a time.
struct ElementsSeed<'f, F> {
    on_record: &'f mut F,
    meter: &'f Meter,
    /// Unwrap EventBridge and `lookup-events` envelopes (not in a delivery file's `Records`).
    envelopes: bool,
}

impl<'de, F: OnRecord> DeserializeSeed<'de> for ElementsSeed<'_, F> {
    type Value = u64;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<u64, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F: OnRecord> Visitor<'de> for ElementsSeed<'_, F> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of CloudTrail records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut count = 0;
        self.meter.record_starts(1);
        while let Some(element) = seq.next_element::<Box<RawValue>>()? {
            self.meter.records_end();
            let handed = if self.envelopes {
                hand_over(&element, self.on_record)
            } else {
                (self.on_record)(&element)
            };
            handed.map_err(de::Error::custom)?;
            count += 1;
            self.meter.record_starts(count + 1);
        }
        self.meter.records_end();
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{gzip, read_all};
    use super::*;

    fn collect_any(input: &[u8]) -> Result<Vec<String>, ParseError> {
        read_all(input, Format::Any, &Limits::default()).map(|(_, seen)| seen)
    }

    #[test]
    fn any_format_takes_the_shapes_people_have_on_disk() {
        let a = r#"{"eventName":"A","eventID":"1"}"#;
        let b = r#"{"eventName":"B","eventID":"2"}"#;
        let cases: Vec<(&str, String)> = vec![
            ("delivery", format!(r#"{{"Records":[{a},{b}]}}"#)),
            (
                "delivery, Records last",
                format!(r#"{{"x":{{"y":[1]}},"Records":[{a},{b}]}}"#),
            ),
            ("bare array", format!("[{a},\n{b}]")),
            ("JSON lines", format!("{a}\n{b}\n")),
            (
                "JSON lines, CRLF and blank lines",
                format!("\r\n{a}\r\n\r\n{b}\r\n"),
            ),
            ("concatenated", format!("{a}{b}")),
            (
                "two delivery documents",
                format!(r#"{{"Records":[{a}]}} {{"Records":[{b}]}}"#),
            ),
            (
                "EventBridge envelopes",
                format!(
                    r#"{{"version":"0","detail-type":"AWS API Call via CloudTrail","source":"aws.autoscaling","detail":{a}}}{{"detail-type":"AWS API Call via CloudTrail","detail":{b}}}"#
                ),
            ),
            (
                "lookup-events",
                format!(
                    r#"{{"Events":[{{"EventId":"1","CloudTrailEvent":{}}},{{"EventId":"2","CloudTrailEvent":{}}}],"NextToken":"t"}}"#,
                    serde_json::to_string(a).expect("json"),
                    serde_json::to_string(b).expect("json")
                ),
            ),
            (
                "array of envelopes",
                format!(r#"[{{"detail-type":"x","detail":{a}}},{b}]"#),
            ),
        ];
        for (what, text) in cases {
            let seen = collect_any(text.as_bytes()).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(seen, [a, b], "{what}");
            let seen =
                collect_any(&gzip(text.as_bytes())).unwrap_or_else(|e| panic!("{what} (gz): {e}"));
            assert_eq!(seen, [a, b], "{what} (gzip)");
        }
    }

    #[test]
    fn an_auto_scaling_activity_envelope_is_handed_over_whole() {
        let activity = r#"{"source":"aws.autoscaling","detail-type":"EC2 Instance Launch Successful","id":"1","detail":{"AutoScalingGroupName":"g"}}"#;
        let call = r#"{"eventName":"A","eventID":"2"}"#;
        let other = r#"{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":{"state":"running"}}"#;
        let text = format!(
            r#"{activity}{{"source":"aws.autoscaling","detail-type":"AWS API Call via CloudTrail","detail":{call}}}{other}"#
        );
        let seen = collect_any(text.as_bytes()).expect("parses");
        assert_eq!(seen, [activity, call, r#"{"state":"running"}"#]);
    }

    #[test]
    fn a_single_record_is_handed_over_whole() {
        let one = r#"{ "eventName" : "A", "n": [1, {"x": null}], "s": "a\"b" }"#;
        let seen = collect_any(one.as_bytes()).expect("parses");
        assert_eq!(seen.len(), 1);
        let back: serde_json::Value = serde_json::from_str(&seen[0]).expect("json");
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(one).expect("json")
        );
    }

    #[test]
    fn any_format_still_rejects_what_is_not_json_records() {
        for bad in [
            &b"   \n "[..],
            b"not json",
            b"42",
            br#""text""#,
            br#"{"a":1} trailing"#,
            br#"[{"a":1}"#,
        ] {
            let err = collect_any(bad).expect_err("must fail");
            assert!(
                matches!(err, ParseError::Format { .. } | ParseError::Read { .. }),
                "{}: {err}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(matches!(collect_any(b""), Err(ParseError::Empty)));
        // The strict reader the Lambda uses does not take these shapes.
        for other in [&br#"[{"a":1}]"#[..], br#"{"a":1}"#] {
            assert!(read_all(other, Format::Delivery, &Limits::default()).is_err());
        }
    }
}
