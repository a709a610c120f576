//! Decoding a stored body straight into its types.
//!
//! A block's transactions are decoded from the store on every read of a
//! block and, in an audit, a million times over. [`parse_strict`] builds a
//! JSON value and the types are then decoded from it: two passes and an
//! allocation for every key and string. This decodes the body's bytes once,
//! into its types, and checks the strict rules on the way: the scalar rules
//! (no `null`, no floats, integers in 0..=2^53-1) in one pass over the
//! bytes first ([`json::check_scalars`]), duplicate keys as the objects are
//! read (the kinds' structs refuse a field seen twice, and the body's own
//! fields are checked here), syntax and trailing bytes by the decoder.
//!
//! It accepts exactly the bodies `TxBody::from_value(parse_strict(..))`
//! accepts, and decodes them to the same body; a property test holds the
//! two to that. Errors can be worded differently (the first rule broken is
//! found in a different order).
//!
//! [`parse_strict`]: crate::json::parse_strict

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{TxBody, TxKind, MAX_TX_BYTES};
use crate::hex::{Nonce, PublicKey};
use crate::json::{self, DecodeError};

/// Decodes a body's bytes, under the strict rules, into a body.
pub(super) fn body(bytes: &[u8]) -> Result<TxBody, DecodeError> {
    json::check_len(bytes, MAX_TX_BYTES)?;
    json::check_scalars(bytes)?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parts = de::Deserializer::deserialize_map(&mut de, PartsVisitor)
        .map_err(|e| DecodeError::from_serde(&e))?;
    de.end()
        .map_err(|e| DecodeError::Malformed(e.to_string()))?;
    let missing = |f: &str| DecodeError::MissingField(format!("missing field `{f}`"));
    let KindName(name) = parts.kind.ok_or_else(|| missing("kind"))?;
    let kind = TxKind::from_fields(&name, Fields(parts.rest))
        .map_err(|e| DecodeError::from_serde(&e))?
        .ok_or_else(|| DecodeError::UnknownKind(name.chars().take(64).collect()))?;
    Ok(TxBody {
        chain_id: parts.chain_id.ok_or_else(|| missing("chain_id"))?,
        signer: parts.signer.ok_or_else(|| missing("signer"))?,
        nonce: parts.nonce.ok_or_else(|| missing("nonce"))?,
        created_at: parts.created_at.ok_or_else(|| missing("created_at"))?,
        kind,
    })
}

/// A body's top level: its common fields decoded, its kind's name, and its
/// kind's fields still as text.
struct Parts<'de> {
    chain_id: Option<String>,
    signer: Option<PublicKey>,
    nonce: Option<Nonce>,
    created_at: Option<u64>,
    kind: Option<KindName<'de>>,
    rest: Vec<(Cow<'de, str>, &'de RawValue)>,
}

struct PartsVisitor;

/// Fills `slot` with the map's next value, unless a value with the same
/// key filled it already.
fn once<'de, T: Deserialize<'de>, A: MapAccess<'de>>(
    slot: &mut Option<T>,
    map: &mut A,
    key: &str,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(json::duplicate_key(key));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

impl<'de> Visitor<'de> for PartsVisitor {
    type Value = Parts<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a transaction body object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parts<'de>, A::Error> {
        let mut parts = Parts {
            chain_id: None,
            signer: None,
            nonce: None,
            created_at: None,
            kind: None,
            rest: Vec::with_capacity(8),
        };
        while let Some(Text(key)) = map.next_key()? {
            match key.as_ref() {
                "chain_id" => once(&mut parts.chain_id, &mut map, &key)?,
                "signer" => once(&mut parts.signer, &mut map, &key)?,
                "nonce" => once(&mut parts.nonce, &mut map, &key)?,
                "created_at" => once(&mut parts.created_at, &mut map, &key)?,
                "kind" => once(&mut parts.kind, &mut map, &key)?,
                _ => {
                    if parts.rest.iter().any(|(k, _)| *k == key) {
                        return Err(json::duplicate_key(&key));
                    }
                    let value = map.next_value()?;
                    parts.rest.push((key, value));
                }
            }
        }
        Ok(parts)
    }
}

/// A string, borrowed from the input where it has no escapes.
struct Text<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(TextVisitor("a string"))
    }
}

/// The value of `kind`, which must be a string.
struct KindName<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for KindName<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor("`kind` to be a string"))
            .map(|t| KindName(t.0))
    }
}

struct TextVisitor(&'static str);

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(v)))
    }
}

/// A kind's fields, keys decoded and values still as text, read as a map
/// by the kind's own decoder: each value is decoded from its text when the
/// decoder asks for it, into the type the decoder asks for.
struct Fields<'de>(Vec<(Cow<'de, str>, &'de RawValue)>);

impl<'de> de::Deserializer<'de> for Fields<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(FieldsAccess {
            fields: self.0.into_iter(),
            value: None,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct FieldsAccess<'de> {
    fields: std::vec::IntoIter<(Cow<'de, str>, &'de RawValue)>,
    value: Option<&'de RawValue>,
}

impl<'de> MapAccess<'de> for FieldsAccess<'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let Some((key, value)) = self.fields.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        seed.deserialize(key.into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let raw = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("a value was asked for before its key"))?;
        let mut de = serde_json::Deserializer::from_str(raw.get());
        let value = seed.deserialize(&mut de)?;
        de.end()?;
        Ok(value)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.fields.len())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::*;
    use crate::json::parse_strict;

    /// What the value-based decoder, the reference, makes of `bytes`.
    fn reference(bytes: &[u8]) -> Result<TxBody, DecodeError> {
        TxBody::from_value(parse_strict(bytes, MAX_TX_BYTES)?)
    }

    /// Canonical bodies of every kind, with and without their optional
    /// fields, nested objects and lists, and text that needs escapes.
    fn corpus() -> Vec<Vec<u8>> {
        let key = crate::crypto::Keypair::from_seed(&[7; 32])
            .public()
            .to_hex();
        let other = crate::crypto::Keypair::from_seed(&[8; 32])
            .public()
            .to_hex();
        let org = crate::dev::org_id("53440100MJ0000098")
            .map(|o| o.as_str().to_owned())
            .unwrap_or_default();
        let hash = "ab".repeat(32);
        let evidence = json!([{"sha256": hash, "title": "发票 \"第1号\"", "media_type": "application/pdf", "uri": "https://example.org/a\\b"}, {"sha256": hash, "title": "照片", "media_type": "image/jpeg"}]);
        let kinds: Vec<Value> = vec![
            json!({"kind": "register_org", "org_id": org, "name": "广州市慈善会", "role": "charity", "public_fundraising": true, "keys": [key, other], "region": "440100"}),
            json!({"kind": "update_org", "org_id": org, "status": "suspended"}),
            json!({"kind": "update_org", "org_id": org, "status": "active", "public_fundraising": false, "add_keys": [other], "remove_keys": []}),
            json!({"kind": "file_campaign", "campaign_id": "lunch-2026", "title": "午餐", "description": "line\nbreak\ttab \u{1}", "target": 9_007_199_254_740_991u64, "starts_at": 0, "ends_at": 1_767_225_600_000u64, "region": "440100", "beneficiaries": "学生", "budget": [{"line": "meals", "category": "program", "amount": 100}, {"line": "admin_1", "category": "management", "amount": 5}], "platforms": [org], "leftover_plan": "转入下一期"}),
            json!({"kind": "file_campaign", "campaign_id": "flood", "title": "t", "description": "", "target": 1, "starts_at": 1, "ends_at": 2, "region": "440100", "beneficiaries": "b", "budget": [], "platforms": [], "leftover_plan": "p", "emergency": true}),
            json!({"kind": "approve_campaign", "campaign_id": "lunch-2026", "approved": true, "filing_no": "53440100MJ0000098A26001"}),
            json!({"kind": "approve_campaign", "campaign_id": "lunch-2026", "approved": false, "filing_no": "x", "note": "材料不全"}),
            json!({"kind": "donation", "campaign_id": "lunch-2026", "amount": 10_000, "donor_tag": hash, "channel": "wechat", "payment_ref_hash": hash, "received_at": 5}),
            json!({"kind": "donation", "campaign_id": "lunch-2026", "amount": 1, "donor_tag": hash, "display_name": "张三", "restricted_line": "meals", "channel": "alipay", "payment_ref_hash": hash, "received_at": 0}),
            json!({"kind": "disbursement", "campaign_id": "lunch-2026", "amount": 300, "category": "program", "line": "meals", "recipient": {"kind": "vendor", "id": org, "name": "食堂"}, "purpose": "午餐", "evidence": evidence}),
            json!({"kind": "disbursement", "campaign_id": "lunch-2026", "amount": 300, "category": "fundraising", "line": "meals", "recipient": {"kind": "person", "name": "李四"}, "purpose": "p", "evidence": []}),
            json!({"kind": "refund", "donation_id": hash, "amount": 2, "reason": "重复支付"}),
            json!({"kind": "progress_report", "campaign_id": "lunch-2026", "title": "第一周", "body": "已送出 300 份", "evidence": evidence}),
            json!({"kind": "close_campaign", "campaign_id": "lunch-2026", "summary": "结项"}),
            json!({"kind": "correction", "target_tx": hash, "note": "金额更正"}),
            json!({"kind": "audit_note", "subject": org, "severity": "critical", "finding": "未按期公开"}),
            json!({"kind": "set_validators", "validators": [{"pubkey": key, "power": 10, "org_id": org}, {"pubkey": other, "power": 1, "org_id": org}]}),
        ];
        kinds
            .into_iter()
            .map(|mut v| {
                if let Value::Object(m) = &mut v {
                    m.insert("chain_id".into(), json!("charity-test"));
                    m.insert("signer".into(), json!(key));
                    m.insert("nonce".into(), json!("0011223344556677"));
                    m.insert("created_at".into(), json!(1_767_225_600_000u64));
                }
                json::canonical(&v).unwrap_or_default()
            })
            .collect()
    }

    fn same(bytes: &[u8]) -> Result<(), TestCaseError> {
        match (body(bytes), reference(bytes)) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(_), Err(_)) => {}
            (fast, slow) => prop_assert!(
                false,
                "{:?}: decoded {:?}, reference {:?}",
                String::from_utf8_lossy(bytes),
                fast,
                slow
            ),
        }
        Ok(())
    }

    #[test]
    fn every_corpus_body_decodes_as_the_reference_decodes_it() {
        let corpus = corpus();
        assert_eq!(corpus.len(), 17);
        for bytes in &corpus {
            let decoded = body(bytes).unwrap();
            assert_eq!(decoded, reference(bytes).unwrap());
            // And it is the body those bytes are the encoding of.
            assert_eq!(&decoded.canonical().unwrap(), bytes);
        }
    }

    /// Bodies each breaking one strict rule, refused by both decoders.
    #[test]
    fn each_strict_rule_is_kept() {
        let base = String::from_utf8(corpus().swap_remove(7)).unwrap();
        let cases = [
            ("\"amount\":10000", "\"amount\":10000.0"),
            ("\"amount\":10000", "\"amount\":1e4"),
            ("\"amount\":10000", "\"amount\":-1"),
            ("\"amount\":10000", "\"amount\":-0"),
            ("\"amount\":10000", "\"amount\":9007199254740992"),
            ("\"amount\":10000", "\"amount\":18446744073709551616"),
            ("\"amount\":10000", "\"amount\":010000"),
            ("\"amount\":10000", "\"amount\":null"),
            ("\"amount\":10000", "\"amount\":10000,\"display_name\":null"),
            ("\"amount\":10000", "\"amount\":10000,\"amount\":10000"),
            ("\"amount\":10000", "\"amount\":10000,\"amo\\u0075nt\":1"),
            ("\"amount\":10000", "\"amount\":10000,\"extra\":1"),
            ("\"amount\":10000", "\"amount\":\"10000\""),
            (
                "\"kind\":\"donation\"",
                "\"kind\":\"donation\",\"kind\":\"donation\"",
            ),
            ("\"kind\":\"donation\"", "\"kind\":5"),
            ("\"kind\":\"donation\"", "\"kind\":\"refund\""),
            ("\"kind\":\"donation\"", "\"kind\":\"no_such_kind\""),
            ("\"kind\":\"donation\",", ""),
            (
                "\"nonce\":\"0011223344556677\"",
                "\"nonce\":\"0011223344556677\",\"nonce\":\"0011223344556677\"",
            ),
            ("\"chain_id\":\"charity-test\",", ""),
            ("\"created_at\":1767225600000", "\"created_at\":true"),
        ];
        for (from, to) in cases {
            assert!(base.contains(from), "{from}");
            let bad = base.replacen(from, to, 1);
            let (fast, slow) = (body(bad.as_bytes()), reference(bad.as_bytes()));
            assert!(fast.is_err() && slow.is_err(), "{bad}: {fast:?} / {slow:?}");
        }
        for bad in [
            "",
            "[]",
            "5",
            "null",
            "{}",
            "{\"kind\":\"donation\"} x",
            &format!("{base}{{"),
        ] {
            assert!(body(bad.as_bytes()).is_err(), "{bad}");
        }
        // Whitespace around the document is JSON, and an escaped key is
        // the key it spells, in both.
        same(format!(" {base}\n").as_bytes()).unwrap();
        let escaped = base.replacen("\"channel\"", "\"ch\\u0061nnel\"", 1);
        same(escaped.as_bytes()).unwrap();
        assert!(body(escaped.as_bytes()).is_ok());
        assert_eq!(
            body(&vec![b' '; MAX_TX_BYTES + 1]).unwrap_err().code(),
            "too_large"
        );
    }

    /// Tokens spliced in: each breaks a rule, or changes a value, or is
    /// harmless, and the two decoders must agree either way.
    const TOKENS: [&str; 22] = [
        "null",
        "-1",
        "-0",
        "1.5",
        "1e3",
        "9007199254740991",
        "9007199254740992",
        "true",
        "false",
        "\"\"",
        "\"\\u0000\"",
        "\"\\ud800\"",
        "{}",
        "[]",
        "[null]",
        "{\"a\":1}",
        ",",
        ":",
        "\"kind\":\"donation\",",
        "\"amount\":1,",
        "\\",
        "\"",
    ];

    /// Values put in place of a part of a body, or under a new key.
    fn token(i: usize) -> Value {
        let tokens = [
            json!(null),
            json!(-1),
            json!(1.5),
            json!(9_007_199_254_740_991u64),
            json!(9_007_199_254_740_992u64),
            json!(u64::MAX),
            json!(0),
            json!(true),
            json!("meals"),
            json!("ab".repeat(32)),
            json!({}),
            json!([]),
            json!([null]),
            json!([0]),
            json!({"a": 1}),
            json!({"kind": "vendor", "name": "n"}),
        ];
        tokens[i % tokens.len()].clone()
    }

    /// Keys a new entry is put under: each kind's fields, the common ones,
    /// and one no type has.
    const KEYS: [&str; 10] = [
        "amount",
        "kind",
        "display_name",
        "note",
        "emergency",
        "id",
        "nonce",
        "evidence",
        "uri",
        "zz",
    ];

    /// Every place in `v`, as a JSON pointer.
    fn places(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    places(x, format!("{at}/{k}"), out);
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    places(x, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
        out.push(at);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

        /// Parts of a valid body replaced, or entries added, with values
        /// that keep it JSON: what one decoder accepts, the other accepts,
        /// as the same body.
        #[test]
        fn changed_values_are_decoded_as_the_reference_decodes_them(
            which in 0usize..17,
            changes in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..64, any::<bool>()), 1..3),
        ) {
            let bytes = corpus().swap_remove(which);
            let mut v: Value = serde_json::from_slice(&bytes).unwrap_or_default();
            for (place, t, add) in changes {
                let mut all = Vec::new();
                places(&v, String::new(), &mut all);
                let at = place.get(&all).clone();
                let Some(target) = v.pointer_mut(&at) else { continue };
                match (add, target) {
                    (true, Value::Object(m)) => {
                        m.insert(KEYS[t % KEYS.len()].into(), token(t / KEYS.len()));
                    }
                    (_, target) => *target = token(t),
                }
            }
            let changed = serde_json::to_vec(&v).unwrap_or_default();
            same(&changed)?;
        }

        #[test]
        fn changed_bytes_are_decoded_as_the_reference_decodes_them(
            which in 0usize..17,
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let mut bytes = corpus().swap_remove(which);
            for (at, b) in edits {
                let at = at.index(bytes.len());
                bytes[at] = b;
            }
            same(&bytes)?;
        }

        #[test]
        fn spliced_tokens_are_decoded_as_the_reference_decodes_them(
            which in 0usize..17,
            splices in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..TOKENS.len(), 0usize..8), 1..3),
        ) {
            let mut bytes = corpus().swap_remove(which);
            for (at, token, cut) in splices {
                let at = at.index(bytes.len());
                let end = (at + cut).min(bytes.len());
                bytes.splice(at..end, TOKENS[token].bytes());
            }
            same(&bytes)?;
        }
    }
}
