//! JSON the way charon (Go `encoding/json`) reads and writes it.
//!
//! Reading is lenient like Go's decoder: keys match case-insensitively, a
//! repeated key takes the last value, unknown keys are ignored, `null` leaves a
//! field at its zero value. Writing reproduces `json.MarshalIndent(v, "", " ")`
//! byte for byte: one-space indent, struct field order, HTML-safe escaping, no
//! trailing newline.

use base64::Engine as _;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::lock::cluster::error::ParseError;

/// A parsed JSON value that keeps object members in order, duplicates included.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JValue {
    Null,
    Bool(bool),
    /// A non-negative integer literal.
    Uint(u64),
    /// A negative integer literal.
    Int(i64),
    /// Any other number (fraction, exponent, or out of 64-bit range).
    Float,
    Str(String),
    Arr(Vec<JValue>),
    Obj(Vec<(String, JValue)>),
}

impl<'de> Deserialize<'de> for JValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JVisitor)
    }
}

struct JVisitor;

impl<'de> Visitor<'de> for JVisitor {
    type Value = JValue;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<JValue, E> {
        Ok(JValue::Bool(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<JValue, E> {
        Ok(JValue::Uint(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<JValue, E> {
        Ok(if v >= 0 {
            JValue::Uint(v.unsigned_abs())
        } else {
            JValue::Int(v)
        })
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<JValue, E> {
        Ok(JValue::Float)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<JValue, E> {
        Ok(JValue::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<JValue, E> {
        Ok(JValue::Str(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<JValue, E> {
        Ok(JValue::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<JValue, E> {
        Ok(JValue::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JValue, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(JValue::Arr(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JValue, A::Error> {
        let mut out = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, JValue>()? {
            out.push((k, v));
        }
        Ok(JValue::Obj(out))
    }
}

/// Parses bytes as one JSON document.
pub(crate) fn parse(bytes: &[u8]) -> Result<JValue, ParseError> {
    serde_json::from_slice(bytes).map_err(|e| ParseError::Json(e.to_string()))
}

impl JValue {
    fn type_name(&self) -> &'static str {
        match self {
            JValue::Null => "null",
            JValue::Bool(_) => "a bool",
            JValue::Uint(_) | JValue::Int(_) | JValue::Float => "a number",
            JValue::Str(_) => "a string",
            JValue::Arr(_) => "an array",
            JValue::Obj(_) => "an object",
        }
    }
}

/// Go's case folding for key matching, restricted to what can equal an ASCII key.
fn fold(c: char) -> char {
    match c {
        '\u{212A}' => 'k', // Kelvin sign folds to k
        '\u{017F}' => 's', // long s folds to s
        c => c.to_ascii_lowercase(),
    }
}

fn key_matches(key: &str, field: &str) -> bool {
    let mut a = key.chars().map(fold);
    let mut b = field.chars();
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x == y => {}
            _ => return false,
        }
    }
}

/// A JSON object being decoded into a struct, with its path for error messages.
pub(crate) struct Obj<'a> {
    members: &'a [(String, JValue)],
    pub(crate) path: String,
}

/// A JSON value with its path.
pub(crate) struct Field<'a> {
    pub(crate) value: &'a JValue,
    pub(crate) path: String,
}

impl<'a> Obj<'a> {
    /// Views `v` as an object; `null` reads as an empty object (Go zero value).
    pub(crate) fn new(v: &'a JValue, path: impl Into<String>) -> Result<Obj<'a>, ParseError> {
        let path = path.into();
        match v {
            JValue::Obj(m) => Ok(Obj { members: m, path }),
            JValue::Null => Ok(Obj { members: &[], path }),
            other => Err(ParseError::field(
                display_path(&path),
                format!("expected an object, got {}", other.type_name()),
            )),
        }
    }

    fn child_path(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// The member for `name`: the last one whose key folds to it, as Go picks.
    pub(crate) fn get(&self, name: &str) -> Option<Field<'a>> {
        self.members
            .iter()
            .rev()
            .find(|(k, _)| key_matches(k, name))
            .map(|(_, v)| Field {
                value: v,
                path: self.child_path(name),
            })
    }

    /// A field that may be missing or null (both give None).
    fn present(&self, name: &str) -> Option<Field<'a>> {
        self.get(name).filter(|f| !matches!(f.value, JValue::Null))
    }

    pub(crate) fn string(&self, name: &str) -> Result<String, ParseError> {
        match self.present(name) {
            None => Ok(String::new()),
            Some(f) => f.string(),
        }
    }

    pub(crate) fn uint(&self, name: &str) -> Result<u64, ParseError> {
        match self.present(name) {
            None => Ok(0),
            Some(f) => f.uint(),
        }
    }

    pub(crate) fn boolean(&self, name: &str) -> Result<bool, ParseError> {
        match self.present(name) {
            None => Ok(false),
            Some(f) => match f.value {
                JValue::Bool(b) => Ok(*b),
                other => Err(f.type_err("a bool", other)),
            },
        }
    }

    /// An `ethHex` field: optional `0x`, case-insensitive hex; null or missing is empty.
    pub(crate) fn hex(&self, name: &str) -> Result<Vec<u8>, ParseError> {
        match self.present(name) {
            None => Ok(Vec::new()),
            Some(f) => f.hex(),
        }
    }

    /// A Go `[]byte` field (standard base64); returns the bytes and whether it was null.
    pub(crate) fn base64(&self, name: &str) -> Result<(Vec<u8>, bool), ParseError> {
        match self.present(name) {
            None => Ok((Vec::new(), true)),
            Some(f) => f.base64().map(|b| (b, false)),
        }
    }

    /// An array field; missing or null gives None (Go nil slice).
    pub(crate) fn array(&self, name: &str) -> Result<Option<Vec<Field<'a>>>, ParseError> {
        match self.present(name) {
            None => Ok(None),
            Some(f) => f.array().map(Some),
        }
    }

    /// A nested object; missing or null reads as an empty object.
    pub(crate) fn object(&self, name: &str) -> Result<Obj<'a>, ParseError> {
        match self.get(name) {
            None => Ok(Obj {
                members: &[],
                path: self.child_path(name),
            }),
            Some(f) => Obj::new(f.value, f.path),
        }
    }
}

fn display_path(p: &str) -> String {
    if p.is_empty() {
        "(top level)".to_owned()
    } else {
        p.to_owned()
    }
}

impl<'a> Field<'a> {
    fn type_err(&self, want: &str, got: &JValue) -> ParseError {
        ParseError::field(
            display_path(&self.path),
            format!("expected {want}, got {}", got.type_name()),
        )
    }

    fn err(&self, reason: impl Into<String>) -> ParseError {
        ParseError::field(display_path(&self.path), reason)
    }

    pub(crate) fn string(&self) -> Result<String, ParseError> {
        match self.value {
            JValue::Str(s) => Ok(s.clone()),
            JValue::Null => Ok(String::new()),
            other => Err(self.type_err("a string", other)),
        }
    }

    pub(crate) fn uint(&self) -> Result<u64, ParseError> {
        match self.value {
            JValue::Uint(n) => Ok(*n),
            JValue::Null => Ok(0),
            JValue::Int(_) => Err(self.err("must not be negative")),
            JValue::Float => Err(self.err("expected an integer")),
            other => Err(self.type_err("a number", other)),
        }
    }

    /// A decimal integer inside a JSON string, as Go's `,string` option and
    /// `phase0.Gwei` read it.
    pub(crate) fn quoted_uint(&self) -> Result<u64, ParseError> {
        match self.value {
            JValue::Str(s) => parse_decimal(s)
                .ok_or_else(|| self.err(format!("{s:?} is not a decimal unsigned 64-bit integer"))),
            JValue::Null => Ok(0),
            other => Err(self.type_err("a quoted decimal string", other)),
        }
    }

    pub(crate) fn hex(&self) -> Result<Vec<u8>, ParseError> {
        match self.value {
            JValue::Str(s) => decode_hex(s).map_err(|e| self.err(e)),
            JValue::Null => Ok(Vec::new()),
            other => Err(self.type_err("a hex string", other)),
        }
    }

    pub(crate) fn base64(&self) -> Result<Vec<u8>, ParseError> {
        match self.value {
            JValue::Str(s) => decode_base64(s).map_err(|e| self.err(e)),
            JValue::Null => Ok(Vec::new()),
            other => Err(self.type_err("a base64 string", other)),
        }
    }

    pub(crate) fn array(&self) -> Result<Vec<Field<'a>>, ParseError> {
        match self.value {
            JValue::Arr(items) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, v)| Field {
                    value: v,
                    path: format!("{}[{i}]", self.path),
                })
                .collect()),
            JValue::Null => Ok(Vec::new()),
            other => Err(self.type_err("an array", other)),
        }
    }

    pub(crate) fn object(&self) -> Result<Obj<'a>, ParseError> {
        Obj::new(self.value, self.path.clone())
    }
}

fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Decodes charon's `ethHex`: an optional `0x` prefix, then hex of either case.
pub fn decode_hex(s: &str) -> Result<Vec<u8>, String> {
    let h = s.strip_prefix("0x").unwrap_or(s);
    hex::decode(h).map_err(|e| format!("invalid hex: {e}"))
}

/// Encodes bytes as charon's `to0xHex`: `0x` + lower-case hex, or `""` when empty.
pub fn to_0x_hex(b: &[u8]) -> String {
    if b.is_empty() {
        String::new()
    } else {
        format!("0x{}", hex::encode(b))
    }
}

const BASE64_STD: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical),
);

fn decode_base64(s: &str) -> Result<Vec<u8>, String> {
    // Go's decoder skips newlines inside base64 data.
    let cleaned: String = s.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    BASE64_STD
        .decode(cleaned)
        .map_err(|e| format!("invalid base64: {e}"))
}

/// A value to write, in Go struct field order.
#[derive(Debug, Clone)]
pub(crate) enum Out {
    Null,
    Bool(bool),
    Num(u64),
    Str(String),
    Arr(Vec<Out>),
    Obj(Vec<(&'static str, Out)>),
}

impl Out {
    pub(crate) fn hex(b: &[u8]) -> Out {
        Out::Str(to_0x_hex(b))
    }

    pub(crate) fn base64(b: &[u8], null: bool) -> Out {
        if null && b.is_empty() {
            Out::Null
        } else {
            Out::Str(base64::engine::general_purpose::STANDARD.encode(b))
        }
    }

    pub(crate) fn str(s: &str) -> Out {
        Out::Str(s.to_owned())
    }
}

/// Serialises like Go's `json.MarshalIndent(v, "", " ")`.
pub(crate) fn write_indented(v: &Out) -> Vec<u8> {
    let mut buf = Vec::with_capacity(4096);
    write_value(&mut buf, v, 0);
    buf
}

fn newline_indent(buf: &mut Vec<u8>, depth: usize) {
    buf.push(b'\n');
    buf.resize(buf.len() + depth, b' ');
}

fn write_value(buf: &mut Vec<u8>, v: &Out, depth: usize) {
    match v {
        Out::Null => buf.extend_from_slice(b"null"),
        Out::Bool(b) => buf.extend_from_slice(if *b { b"true" } else { b"false" }),
        Out::Num(n) => buf.extend_from_slice(n.to_string().as_bytes()),
        Out::Str(s) => write_string(buf, s),
        Out::Arr(items) => {
            if items.is_empty() {
                buf.extend_from_slice(b"[]");
                return;
            }
            buf.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                newline_indent(buf, depth + 1);
                write_value(buf, item, depth + 1);
            }
            newline_indent(buf, depth);
            buf.push(b']');
        }
        Out::Obj(members) => {
            if members.is_empty() {
                buf.extend_from_slice(b"{}");
                return;
            }
            buf.push(b'{');
            for (i, (k, item)) in members.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                newline_indent(buf, depth + 1);
                write_string(buf, k);
                buf.extend_from_slice(b": ");
                write_value(buf, item, depth + 1);
            }
            newline_indent(buf, depth);
            buf.push(b'}');
        }
    }
}

/// Go's HTML-safe string escaping.
fn write_string(buf: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    buf.push(b'"');
    for c in s.chars() {
        match c {
            '"' => buf.extend_from_slice(b"\\\""),
            '\\' => buf.extend_from_slice(b"\\\\"),
            '\n' => buf.extend_from_slice(b"\\n"),
            '\r' => buf.extend_from_slice(b"\\r"),
            '\t' => buf.extend_from_slice(b"\\t"),
            '\u{8}' => buf.extend_from_slice(b"\\b"),
            '\u{c}' => buf.extend_from_slice(b"\\f"),
            '<' | '>' | '&' | '\u{0}'..='\u{1f}' => {
                let b = c as u32 as u8;
                buf.extend_from_slice(b"\\u00");
                buf.push(HEX[usize::from(b >> 4)]);
                buf.push(HEX[usize::from(b & 0xf)]);
            }
            '\u{2028}' => buf.extend_from_slice(b"\\u2028"),
            '\u{2029}' => buf.extend_from_slice(b"\\u2029"),
            c => {
                let mut tmp = [0u8; 4];
                buf.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
            }
        }
    }
    buf.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_indent_format() {
        let v = Out::Obj(vec![
            ("a", Out::Arr(vec![])),
            ("b", Out::Obj(vec![])),
            ("c", Out::Arr(vec![Out::Num(1), Out::Null])),
            ("d", Out::Str("<x>&\"\\\n\u{1}\u{8}\u{2028}é".into())),
            ("e", Out::Bool(true)),
        ]);
        let got = String::from_utf8(write_indented(&v)).unwrap();
        assert_eq!(
            got,
            "{\n \"a\": [],\n \"b\": {},\n \"c\": [\n  1,\n  null\n ],\n \"d\": \"\\u003cx\\u003e\\u0026\\\"\\\\\\n\\u0001\\b\\u2028é\",\n \"e\": true\n}"
        );
    }

    #[test]
    fn lenient_reading() {
        let v = parse(br#"{"Name": "a", "nAmE": "b", "other": 1, "n": null, "K": 2}"#).unwrap();
        let o = Obj::new(&v, "").unwrap();
        assert_eq!(o.string("name").unwrap(), "b");
        assert_eq!(o.string("n").unwrap(), "");
        assert_eq!(o.string("missing").unwrap(), "");
        assert_eq!(o.uint("k").unwrap(), 2);
        assert!(o.string("other").is_err());
        let v = parse("{\"\u{212A}ey\": 5}".as_bytes()).unwrap();
        assert_eq!(Obj::new(&v, "").unwrap().uint("key").unwrap(), 5);
    }

    #[test]
    fn numbers_and_encodings() {
        let v =
            parse(br#"{"a": 1.0, "b": -1, "c": "12", "d": "0X12", "e": "0xAbCd", "f": "AQI="}"#)
                .unwrap();
        let o = Obj::new(&v, "").unwrap();
        assert!(o.uint("a").is_err());
        assert!(o.uint("b").is_err());
        assert!(o.uint("c").is_err());
        assert_eq!(o.get("c").unwrap().quoted_uint().unwrap(), 12);
        assert!(o.hex("d").is_err());
        assert_eq!(o.hex("e").unwrap(), vec![0xab, 0xcd]);
        assert_eq!(o.base64("f").unwrap(), (vec![1, 2], false));
        assert_eq!(o.base64("zz").unwrap(), (vec![], true));
        assert!(o.get("e").unwrap().quoted_uint().is_err());
    }
}
