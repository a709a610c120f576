//! Strict JSON decoding and RFC 8785 canonical encoding.
//!
//! Everything that is hashed or signed is encoded with the JSON
//! Canonicalization Scheme (RFC 8785) through `serde_jcs`. Decoding is
//! strict, so that a value has one encoding and outside input cannot smuggle
//! in ambiguity: duplicate keys, floats, negative numbers, integers above
//! 2^53-1 (RFC 8785 section 3.2.2.3 / I-JSON), `null`, trailing bytes and
//! oversized documents are all refused with a stable code.

use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The largest integer the wire format allows (2^53 - 1, exact in IEEE 754
/// doubles and therefore in every JSON implementation and in browsers).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Why a JSON document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The document is larger than allowed.
    #[error("document is {len} bytes, the limit is {max}")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// Bytes allowed.
        max: usize,
    },
    /// Not JSON at all, or trailing bytes.
    #[error("malformed JSON: {0}")]
    Malformed(String),
    /// The same key twice in one object.
    #[error("duplicate key {0:?}")]
    DuplicateKey(String),
    /// A number with a fraction or exponent.
    #[error("floating point numbers are not allowed: {0}")]
    Float(String),
    /// An integer outside 0..=2^53-1.
    #[error("integer {0} is outside 0..=9007199254740991")]
    IntegerOutOfRange(String),
    /// A `null`: absent optional fields are omitted instead.
    #[error("null is not allowed; omit absent optional fields")]
    Null,
    /// An unknown transaction kind.
    #[error("unknown transaction kind {0:?}")]
    UnknownKind(String),
    /// A field that the type does not have.
    #[error("{0}")]
    UnknownField(String),
    /// A required field is missing.
    #[error("{0}")]
    MissingField(String),
    /// A binary value that is not exact lowercase hex.
    #[error("{0}")]
    InvalidHex(String),
    /// A value of the wrong type or shape.
    #[error("{0}")]
    Invalid(String),
}

impl DecodeError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::TooLarge { .. } => "too_large",
            DecodeError::Malformed(_) => "malformed_json",
            DecodeError::DuplicateKey(_) => "duplicate_key",
            DecodeError::Float(_) => "float_not_allowed",
            DecodeError::IntegerOutOfRange(_) => "integer_out_of_range",
            DecodeError::Null => "null_not_allowed",
            DecodeError::UnknownKind(_) => "unknown_kind",
            DecodeError::UnknownField(_) => "unknown_field",
            DecodeError::MissingField(_) => "missing_field",
            DecodeError::InvalidHex(_) => "invalid_hex",
            DecodeError::Invalid(_) => "invalid_field",
        }
    }

    /// Sorts a serde error message from typed decoding into a code.
    pub(crate) fn from_serde(e: &serde_json::Error) -> Self {
        let msg = e.to_string();
        // serde's own error messages are stable text; our visitors use the
        // prefixes below. Sorting by prefix keeps the codes typed at the edge.
        if msg.starts_with("unknown field") {
            DecodeError::UnknownField(msg)
        } else if msg.starts_with("missing field") {
            DecodeError::MissingField(msg)
        } else if msg.starts_with("unknown variant") && msg.contains("kind") {
            DecodeError::UnknownKind(msg)
        } else if msg.contains("invalid hex") {
            DecodeError::InvalidHex(msg)
        } else if let Some(rest) = msg.strip_prefix(DUPLICATE) {
            DecodeError::DuplicateKey(rest.to_owned())
        } else if msg.starts_with("duplicate field") {
            DecodeError::DuplicateKey(msg)
        } else if let Some(rest) = msg.strip_prefix(FLOAT) {
            DecodeError::Float(rest.to_owned())
        } else if let Some(rest) = msg.strip_prefix(RANGE) {
            DecodeError::IntegerOutOfRange(rest.to_owned())
        } else if msg.starts_with(NULL) {
            DecodeError::Null
        } else if e.is_syntax() || e.is_eof() {
            DecodeError::Malformed(msg)
        } else {
            DecodeError::Invalid(msg)
        }
    }
}

const DUPLICATE: &str = "strict json: duplicate key ";
const FLOAT: &str = "strict json: float ";
const RANGE: &str = "strict json: integer out of range ";
const NULL: &str = "strict json: null";

/// A JSON value that passed the strict rules.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        if v > MAX_SAFE_INTEGER {
            return Err(E::custom(format_args!("{RANGE}{v}")));
        }
        Ok(Value::from(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        match u64::try_from(v) {
            Ok(u) => self.visit_u64(u),
            Err(_) => Err(E::custom(format_args!("{RANGE}{v}"))),
        }
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Err(E::custom(format_args!("{FLOAT}{v}")))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Err(E::custom(NULL))
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Err(E::custom(NULL))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let StrictValue(v) = map.next_value()?;
            // One search of the map, not one to check and one to insert.
            match out.entry(key) {
                serde_json::map::Entry::Vacant(e) => {
                    e.insert(v);
                }
                serde_json::map::Entry::Occupied(e) => {
                    let key = e.key();
                    return Err(de::Error::custom(format_args!("{DUPLICATE}{key:?}")));
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// Parses `bytes` as one strict JSON value of at most `max_len` bytes.
pub fn parse_strict(bytes: &[u8], max_len: usize) -> Result<Value, DecodeError> {
    check_len(bytes, max_len)?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let StrictValue(v) =
        StrictValue::deserialize(&mut de).map_err(|e| DecodeError::from_serde(&e))?;
    de.end()
        .map_err(|e| DecodeError::Malformed(e.to_string()))?;
    Ok(v)
}

/// Refuses a document longer than `max_len` bytes.
pub(crate) fn check_len(bytes: &[u8], max_len: usize) -> Result<(), DecodeError> {
    if bytes.len() > max_len {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max: max_len,
        });
    }
    Ok(())
}

/// The error a strict decoder gives for a second `key` in one object.
pub(crate) fn duplicate_key<E: de::Error>(key: &str) -> E {
    E::custom(format_args!("{DUPLICATE}{key:?}"))
}

/// Checks, in one pass over the bytes and without building anything, the
/// strict rules about scalars that a typed decoder does not check: no
/// `null`, and every number a non-negative integer of at most 2^53-1.
///
/// Everything else (syntax, trailing bytes, duplicate keys, types) is left
/// to the typed decoder that must follow. On JSON the decoder accepts, this
/// refuses exactly what [`parse_strict`] refuses for those rules; on bytes
/// that are not JSON it may return `Ok` and leave the error to the decoder,
/// or refuse them itself.
pub(crate) fn check_scalars(bytes: &[u8]) -> Result<(), DecodeError> {
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => {
                // A string: skip to its closing quote (an escape takes the
                // byte after the backslash with it).
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return Ok(()),
                        Some(b'\\') => i += 2,
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            b'n' => return Err(DecodeError::Null),
            b'-' | b'.' | b'0'..=b'9' => {
                let start = i;
                while bytes
                    .get(i)
                    .is_some_and(|c| matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                {
                    i += 1;
                }
                let token = bytes.get(start..i).unwrap_or_default();
                let text = || String::from_utf8_lossy(token).into_owned();
                if token.iter().any(|c| matches!(c, b'.' | b'e' | b'E')) {
                    return Err(DecodeError::Float(text()));
                }
                // Digits only (a sign or a stray `+` is out of range or not
                // JSON); more digits than u64 holds is out of range too.
                let value = token.iter().try_fold(0u64, |n, c| {
                    n.checked_mul(10)?
                        .checked_add(u64::from(c.checked_sub(b'0').filter(|d| *d <= 9)?))
                });
                if value.is_none_or(|v| v > MAX_SAFE_INTEGER) {
                    return Err(DecodeError::IntegerOutOfRange(text()));
                }
            }
            // `true` and `false` hold an `e`; skip the word.
            b't' | b'f' => {
                while bytes.get(i).is_some_and(u8::is_ascii_alphabetic) {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Decodes a typed value from an already strict-checked JSON value.
pub fn from_value<T: DeserializeOwned>(v: Value) -> Result<T, DecodeError> {
    serde_json::from_value(v).map_err(|e| DecodeError::from_serde(&e))
}

/// Parses `bytes` strictly and decodes it as `T`.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8], max_len: usize) -> Result<T, DecodeError> {
    from_value(parse_strict(bytes, max_len)?)
}

/// Why a value could not be canonicalised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("canonical JSON encoding failed: {0}")]
pub struct EncodeError(pub String);

impl EncodeError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        "encoding_failed"
    }
}

/// RFC 8785 (JCS) bytes of `value`.
pub fn canonical<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, EncodeError> {
    serde_jcs::to_vec(value).map_err(|e| EncodeError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strict_rules_have_codes() {
        let cases: &[(&str, &str)] = &[
            (r#"{"a":1,"a":2}"#, "duplicate_key"),
            (r#"{"a":{"b":1,"b":1}}"#, "duplicate_key"),
            (r#"{"a":1.5}"#, "float_not_allowed"),
            (r#"{"a":1e3}"#, "float_not_allowed"),
            (r#"{"a":-1}"#, "integer_out_of_range"),
            (r#"{"a":9007199254740992}"#, "integer_out_of_range"),
            (r#"{"a":99999999999999999999999}"#, "float_not_allowed"),
            (r#"{"a":null}"#, "null_not_allowed"),
            (r#"{"a":1} x"#, "malformed_json"),
            (r#"{"a":"#, "malformed_json"),
            ("", "malformed_json"),
        ];
        for (input, code) in cases {
            let err = parse_strict(input.as_bytes(), 1024).unwrap_err();
            assert_eq!(err.code(), *code, "{input}: {err}");
        }
        assert_eq!(
            parse_strict(br#"{"a":9007199254740991}"#, 1024).unwrap(),
            json!({"a": 9007199254740991u64})
        );
        assert_eq!(parse_strict(b"[1,2,3]", 3).unwrap_err().code(), "too_large");
    }

    /// RFC 8785 section 3.2.3: property sorting by UTF-16 code units.
    #[test]
    fn rfc8785_sorting_example() {
        let input = "{\"\\u20ac\": \"Euro Sign\", \"\\r\": \"Carriage Return\", \"\\ufb33\": \"Hebrew Letter Dalet With Dagesh\", \"1\": \"One\", \"\\ud83d\\ude00\": \"Emoji: Grinning Face\", \"\\u0080\": \"Control\", \"\\u00f6\": \"Latin Small Letter O With Diaeresis\"}";
        let v = parse_strict(input.as_bytes(), 4096).unwrap();
        let out = String::from_utf8(canonical(&v).unwrap()).unwrap();
        let values: Vec<&str> = out
            .split('"')
            .filter(|s| {
                [
                    "Carriage Return",
                    "One",
                    "Control",
                    "Latin Small Letter O With Diaeresis",
                    "Euro Sign",
                    "Emoji: Grinning Face",
                    "Hebrew Letter Dalet With Dagesh",
                ]
                .contains(s)
            })
            .collect();
        assert_eq!(
            values,
            [
                "Carriage Return",
                "One",
                "Control",
                "Latin Small Letter O With Diaeresis",
                "Euro Sign",
                "Emoji: Grinning Face",
                "Hebrew Letter Dalet With Dagesh"
            ]
        );
    }

    /// RFC 8785 section 3.2.2 / appendix: the sample with literals, strings
    /// and escapes (numbers restricted to the integers this format allows).
    #[test]
    fn rfc8785_string_and_literal_example() {
        let input = r#"{
            "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
            "literals": [true, false],
            "numbers": [333333333, 0, 4, 9007199254740991]
        }"#;
        let v = parse_strict(input.as_bytes(), 4096).unwrap();
        let out = String::from_utf8(canonical(&v).unwrap()).unwrap();
        assert_eq!(
            out,
            "{\"literals\":[true,false],\"numbers\":[333333333,0,4,9007199254740991],\"string\":\"€$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}"
        );
    }

    #[test]
    fn chinese_text_is_kept_as_utf8() {
        let v = json!({"title": "乡村儿童营养午餐", "a": 1});
        assert_eq!(
            String::from_utf8(canonical(&v).unwrap()).unwrap(),
            "{\"a\":1,\"title\":\"乡村儿童营养午餐\"}"
        );
    }
}
