//! What callers log ([`Event`]), what a line holds ([`Record`]), the line format and its hash.
//!
//! A record is one line of JSON, written by hand (not through a serializer) so that its bytes are
//! fully determined by the record: members in the order `seq`, `time`, `prev`, `event`, then the
//! event's fields in the order they were added, no whitespace. The hash chain covers those exact
//! bytes, so the format must never depend on a library's formatting choices.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Longest record line accepted, in bytes, not counting its newline.
///
/// Appends over the limit are refused; readers stop at a longer line instead of buffering it,
/// so a corrupted or hostile file cannot make a reader allocate without bound.
pub const MAX_RECORD_LEN: usize = 64 * 1024;

/// The `prev` of the first record: 64 zeros (there is no line before it to hash).
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Member names owned by the record itself; events cannot use them as field names.
pub const RESERVED_NAMES: [&str; 4] = ["seq", "time", "prev", "event"];

/// Longest event or field name, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// The value of one event field: a JSON string, integer or boolean.
///
/// Deliberately no floats (NaN has no JSON form), arrays or objects: records stay flat so that
/// statistics and `grep` can use them without a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    Str(String),
    U64(u64),
    I64(i64),
    Bool(bool),
}

impl From<&str> for FieldValue {
    fn from(v: &str) -> Self {
        FieldValue::Str(v.to_owned())
    }
}
impl From<String> for FieldValue {
    fn from(v: String) -> Self {
        FieldValue::Str(v)
    }
}
impl From<&String> for FieldValue {
    fn from(v: &String) -> Self {
        FieldValue::Str(v.clone())
    }
}
impl From<bool> for FieldValue {
    fn from(v: bool) -> Self {
        FieldValue::Bool(v)
    }
}
impl From<std::net::SocketAddr> for FieldValue {
    fn from(v: std::net::SocketAddr) -> Self {
        FieldValue::Str(v.to_string())
    }
}
impl From<std::net::IpAddr> for FieldValue {
    fn from(v: std::net::IpAddr) -> Self {
        FieldValue::Str(v.to_string())
    }
}
macro_rules! from_unsigned {
    ($($t:ty),*) => {$(
        impl From<$t> for FieldValue {
            fn from(v: $t) -> Self {
                FieldValue::U64(u64::from(v))
            }
        }
    )*};
}
macro_rules! from_signed {
    ($($t:ty),*) => {$(
        impl From<$t> for FieldValue {
            fn from(v: $t) -> Self {
                FieldValue::I64(i64::from(v))
            }
        }
    )*};
}
from_unsigned!(u8, u16, u32, u64);
from_signed!(i8, i16, i32, i64);
impl From<usize> for FieldValue {
    fn from(v: usize) -> Self {
        // usize is at most 64 bits on every platform Rust supports for this daemon.
        FieldValue::U64(v as u64)
    }
}

impl FieldValue {
    /// The JSON text of this value, exactly as it appears in a line.
    fn push_json(&self, out: &mut String) {
        match self {
            FieldValue::Str(s) => push_json_str(out, s),
            FieldValue::U64(n) => out.push_str(&n.to_string()),
            FieldValue::I64(n) => out.push_str(&n.to_string()),
            FieldValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        }
    }
}

/// Something that happened and must be recorded: an event name plus flat fields.
///
/// ```
/// use burnstand_audit::Event;
/// let e = Event::new("auth.fail")
///     .field("peer", "127.0.0.1:5000")
///     .field("reason", "ticket expired")
///     .field("bytes", 123u64);
/// assert_eq!(e.name(), "auth.fail");
/// ```
///
/// **Never log secrets.** Callers must not pass Kerberos tokens, session keys, passwords or
/// disc payload bytes as field values: the audit log is kept for years, copied for review and
/// readable by auditors. Log principals, peers, image *digests*, sizes and outcomes.
///
/// Names are checked when the event is appended, not here, so that building an event never
/// fails: event and field names must be 1 to [`MAX_NAME_LEN`] ASCII letters, digits, `.`, `_`
/// or `-` starting with a letter; field names must not be one of [`RESERVED_NAMES`] and must not
/// repeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    name: String,
    fields: Vec<(String, FieldValue)>,
}

impl Event {
    /// A new event with no fields, e.g. `"auth.ok"`, `"bind"`, `"burn.end"`.
    pub fn new(name: impl Into<String>) -> Self {
        Event {
            name: name.into(),
            fields: Vec::new(),
        }
    }

    /// Adds a field; fields appear in the line in the order they are added.
    #[must_use]
    pub fn field(mut self, name: impl Into<String>, value: impl Into<FieldValue>) -> Self {
        self.fields.push((name.into(), value.into()));
        self
    }

    /// The event name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The fields, in insertion order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &FieldValue)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Checks the names; called by every append before anything is written.
    pub(crate) fn validate(&self) -> Result<()> {
        if !valid_name(&self.name) {
            return Err(Error::InvalidEventName {
                name: self.name.clone(),
            });
        }
        for (i, (field, _)) in self.fields.iter().enumerate() {
            if RESERVED_NAMES.contains(&field.as_str()) {
                return Err(Error::ReservedField {
                    event: self.name.clone(),
                    field: field.clone(),
                });
            }
            if !valid_name(field) {
                return Err(Error::InvalidFieldName {
                    event: self.name.clone(),
                    field: field.clone(),
                });
            }
            if self.fields[..i].iter().any(|(earlier, _)| earlier == field) {
                return Err(Error::DuplicateField {
                    event: self.name.clone(),
                    field: field.clone(),
                });
            }
        }
        Ok(())
    }
}

fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(first) if first.is_ascii_alphabetic() => {}
        _ => return false,
    }
    name.len() <= MAX_NAME_LEN
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

fn push_json_str(out: &mut String, s: &str) {
    // Value's Display is serde_json's compact serializer: standard escaping, UTF-8 kept as is.
    out.push_str(&Value::String(s.to_owned()).to_string());
}

/// Renders the line (without newline) for a validated event. Refuses lines over the limit.
pub(crate) fn render_line(seq: u64, time: &str, prev: &str, event: &Event) -> Result<String> {
    let mut line = String::with_capacity(160);
    line.push_str("{\"seq\":");
    line.push_str(&seq.to_string());
    line.push_str(",\"time\":");
    push_json_str(&mut line, time);
    line.push_str(",\"prev\":");
    push_json_str(&mut line, prev);
    line.push_str(",\"event\":");
    push_json_str(&mut line, &event.name);
    for (name, value) in &event.fields {
        line.push(',');
        push_json_str(&mut line, name);
        line.push(':');
        value.push_json(&mut line);
    }
    line.push('}');
    if line.len() > MAX_RECORD_LEN {
        return Err(Error::RecordTooLong {
            event: event.name.clone(),
            len: line.len(),
            max: MAX_RECORD_LEN,
        });
    }
    Ok(line)
}

/// SHA-256 of a line's exact bytes (without its newline), as 64 lowercase hex digits: the
/// value the next record carries as `prev`.
pub fn line_hash(line: &[u8]) -> String {
    hex::encode(Sha256::digest(line))
}

/// The current time as an RFC 3339 UTC timestamp with milliseconds, e.g.
/// `2026-11-22T04:30:00.123Z`.
pub(crate) fn now_rfc3339() -> Result<String> {
    let now = SystemTime::now();
    // humantime panics on times before the epoch and fails after year 9999: check first.
    if now.duration_since(UNIX_EPOCH).is_err() {
        return Err(Error::Clock);
    }
    let mut out = String::with_capacity(24);
    std::fmt::Write::write_fmt(
        &mut out,
        format_args!("{}", humantime::format_rfc3339_millis(now)),
    )
    .map_err(|_| Error::Clock)?;
    Ok(out)
}

/// One record read back from a log.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Position in the log, from 1, without gaps.
    pub seq: u64,
    /// When the record was appended: RFC 3339 UTC, as written (e.g. `2026-11-22T04:30:00.123Z`).
    /// Taken from the system clock, so it is not guaranteed monotonic; `seq` is the order.
    pub time: String,
    /// SHA-256 (hex) of the previous line, or [`GENESIS_PREV`] for the first record.
    pub prev: String,
    /// The event name, e.g. `auth.ok`.
    pub event: String,
    /// The event's fields in the order they were written: strings, numbers and booleans.
    pub fields: Map<String, Value>,
}

impl Record {
    /// Parses one line of a log (as a station hands it out in a receipt). Checks the shape
    /// only; where the line sits in a chain is [`crate::verify`]'s business.
    pub fn parse_line(line: &[u8]) -> std::result::Result<Record, String> {
        parse_record(line).map_err(|e| match e {
            ParseError::Json(text) | ParseError::Malformed(text) => text,
        })
    }

    /// `time` as a [`SystemTime`] (always `Some` for records that passed verification).
    pub fn timestamp(&self) -> Option<SystemTime> {
        humantime::parse_rfc3339(&self.time).ok()
    }

    /// A field's value.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.fields.get(field)
    }

    /// A string field's value.
    pub fn get_str(&self, field: &str) -> Option<&str> {
        self.fields.get(field).and_then(Value::as_str)
    }

    /// An unsigned integer field's value.
    pub fn get_u64(&self, field: &str) -> Option<u64> {
        self.fields.get(field).and_then(Value::as_u64)
    }
}

/// Why a line is not a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// Not JSON at all (or not UTF-8).
    Json(String),
    /// JSON, but not shaped like a record.
    Malformed(String),
}

/// Parses one line (without newline) into a record, checking its shape but not the chain.
pub(crate) fn parse_record(line: &[u8]) -> Result<Record, ParseError> {
    let value: Value = serde_json::from_slice(line).map_err(|e| ParseError::Json(e.to_string()))?;
    let Value::Object(members) = value else {
        return Err(ParseError::Malformed("it is not a JSON object".into()));
    };
    let malformed = |what: &str| ParseError::Malformed(what.to_owned());
    let (mut seq, mut time, mut prev, mut event) = (None, None, None, None);
    let mut fields = Map::new();
    for (name, value) in members {
        match name.as_str() {
            "seq" => seq = Some(value),
            "time" => time = Some(value),
            "prev" => prev = Some(value),
            "event" => event = Some(value),
            _ => {
                if !matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
                    return Err(ParseError::Malformed(format!(
                        "field {name:?} is not a string, number or boolean"
                    )));
                }
                fields.insert(name, value);
            }
        }
    }
    let seq = seq
        .ok_or_else(|| malformed("\"seq\" is missing"))?
        .as_u64()
        .filter(|&s| s >= 1)
        .ok_or_else(|| malformed("\"seq\" is not a positive integer"))?;
    let time = match time.ok_or_else(|| malformed("\"time\" is missing"))? {
        Value::String(t) if humantime::parse_rfc3339(&t).is_ok() => t,
        _ => return Err(malformed("\"time\" is not an RFC 3339 UTC timestamp")),
    };
    let prev = match prev.ok_or_else(|| malformed("\"prev\" is missing"))? {
        Value::String(p)
            if p.len() == 64 && p.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
        {
            p
        }
        _ => return Err(malformed("\"prev\" is not 64 lowercase hex digits")),
    };
    let event = match event.ok_or_else(|| malformed("\"event\" is missing"))? {
        Value::String(e) if !e.is_empty() => e,
        _ => return Err(malformed("\"event\" is not a non-empty string")),
    };
    Ok(Record {
        seq,
        time,
        prev,
        event,
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "2026-11-22T04:30:00.123Z";

    #[test]
    fn line_has_fixed_member_order_and_no_whitespace() {
        let e = Event::new("auth.fail")
            .field("peer", "127.0.0.1:5000")
            .field("bytes", 123u64)
            .field("delta", -4i32)
            .field("ok", false);
        let line = render_line(7, T, GENESIS_PREV, &e).unwrap();
        assert_eq!(
            line,
            format!(
                "{{\"seq\":7,\"time\":\"{T}\",\"prev\":\"{GENESIS_PREV}\",\"event\":\"auth.fail\",\
                 \"peer\":\"127.0.0.1:5000\",\"bytes\":123,\"delta\":-4,\"ok\":false}}"
            )
        );
    }

    #[test]
    fn strings_are_escaped_and_parse_back_in_order() {
        let nasty = "quote\" backslash\\ newline\n tab\t nul\0 é ☃";
        let e = Event::new("x").field("z", nasty).field("a", 1u8);
        let line = render_line(1, T, GENESIS_PREV, &e).unwrap();
        assert!(!line.contains('\n'));
        let r = parse_record(line.as_bytes()).unwrap();
        assert_eq!(r.seq, 1);
        assert_eq!(r.time, T);
        assert_eq!(r.prev, GENESIS_PREV);
        assert_eq!(r.event, "x");
        assert_eq!(r.get_str("z"), Some(nasty));
        let keys: Vec<&str> = r.fields.keys().map(String::as_str).collect();
        assert_eq!(keys, ["z", "a"], "fields keep insertion order");
        assert!(r.timestamp().is_some());
    }

    #[test]
    fn hash_is_sha256_hex_of_the_exact_bytes() {
        assert_eq!(
            line_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(line_hash(b""), line_hash(&[]));
    }

    #[test]
    fn names_are_validated() {
        assert!(Event::new("burn.end")
            .field("image_sha256", "x")
            .validate()
            .is_ok());
        assert!(matches!(
            Event::new("").validate(),
            Err(Error::InvalidEventName { .. })
        ));
        assert!(matches!(
            Event::new("a b").validate(),
            Err(Error::InvalidEventName { .. })
        ));
        assert!(matches!(
            Event::new(".x").validate(),
            Err(Error::InvalidEventName { .. })
        ));
        assert!(matches!(
            Event::new("x".repeat(MAX_NAME_LEN + 1)).validate(),
            Err(Error::InvalidEventName { .. })
        ));
        for reserved in RESERVED_NAMES {
            assert!(matches!(
                Event::new("x").field(reserved, 1u8).validate(),
                Err(Error::ReservedField { .. })
            ));
        }
        assert!(matches!(
            Event::new("x").field("a\"", 1u8).validate(),
            Err(Error::InvalidFieldName { .. })
        ));
        assert!(matches!(
            Event::new("x").field("a", 1u8).field("a", 2u8).validate(),
            Err(Error::DuplicateField { .. })
        ));
    }

    #[test]
    fn over_long_line_is_refused() {
        let e = Event::new("x").field("blob", "a".repeat(MAX_RECORD_LEN));
        assert!(matches!(
            render_line(1, T, GENESIS_PREV, &e),
            Err(Error::RecordTooLong {
                max: MAX_RECORD_LEN,
                ..
            })
        ));
    }

    #[test]
    fn parse_rejects_wrong_shapes() {
        let ok = format!("\"time\":\"{T}\",\"prev\":\"{GENESIS_PREV}\",\"event\":\"e\"");
        let cases = [
            "[1]".to_owned(),
            format!("{{{ok}}}"),
            format!("{{\"seq\":0,{ok}}}"),
            format!("{{\"seq\":-1,{ok}}}"),
            format!("{{\"seq\":1.5,{ok}}}"),
            format!("{{\"seq\":1,{ok},\"f\":[1]}}"),
            format!("{{\"seq\":1,{ok},\"f\":null}}"),
            format!(
                "{{\"seq\":1,\"time\":\"yesterday\",\"prev\":\"{GENESIS_PREV}\",\"event\":\"e\"}}"
            ),
            format!("{{\"seq\":1,\"time\":\"{T}\",\"prev\":\"00\",\"event\":\"e\"}}"),
            format!(
                "{{\"seq\":1,\"time\":\"{T}\",\"prev\":\"{}\",\"event\":\"e\"}}",
                "A".repeat(64)
            ),
            format!("{{\"seq\":1,\"time\":\"{T}\",\"prev\":\"{GENESIS_PREV}\",\"event\":\"\"}}"),
        ];
        for case in &cases {
            assert!(
                matches!(parse_record(case.as_bytes()), Err(ParseError::Malformed(_))),
                "{case}"
            );
        }
        assert!(matches!(
            parse_record(b"{\"seq\":"),
            Err(ParseError::Json(_))
        ));
        assert!(matches!(
            parse_record(b"{\"seq\":1,\"x\":\"\xff\"}"),
            Err(ParseError::Json(_))
        ));
        assert!(parse_record(format!("{{\"seq\":1,{ok}}}").as_bytes()).is_ok());
    }

    #[test]
    fn now_is_rfc3339_millis_utc() {
        let t = now_rfc3339().unwrap();
        assert_eq!(t.len(), 24, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T' && t.as_bytes()[19] == b'.');
        assert!(humantime::parse_rfc3339(&t).is_ok());
    }
}
