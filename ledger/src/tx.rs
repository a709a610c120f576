//! Transactions: the signed body, its canonical bytes, `tx_id` and signature
//! (design, "Transactions (wire)").

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::crypto::{tagged_hash, Keypair, TX_DOMAIN};
use crate::error::TxError;
use crate::hex::{Hash, Nonce, PublicKey, Signature};
use crate::json::{self, DecodeError, EncodeError};
use crate::kinds::*;

mod stored;

/// A transaction id: `SHA-256("charity-ledger/v1/tx\n" || JCS(body))`.
pub type TxId = Hash;

/// The largest encoded transaction a node accepts (64 KiB).
pub const MAX_TX_BYTES: usize = 64 * 1024;

/// Bytes of the canonical wire form besides the body: `{"body":`,
/// `,"sig":"`, 128 hex digits and `"}`.
const WIRE_OVERHEAD: usize = 8 + 8 + 128 + 2;

/// The kind-specific part of a body, tagged by `kind`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum TxKind {
    RegisterOrg(RegisterOrg),
    UpdateOrg(UpdateOrg),
    FileCampaign(FileCampaign),
    ApproveCampaign(ApproveCampaign),
    Donation(Donation),
    Disbursement(Disbursement),
    Refund(Refund),
    ProgressReport(ProgressReport),
    CloseCampaign(CloseCampaign),
    Correction(Correction),
    AuditNote(AuditNote),
    SetValidators(SetValidators),
}

impl TxKind {
    /// The wire name of the kind.
    pub fn name(&self) -> &'static str {
        match self {
            TxKind::RegisterOrg(_) => "register_org",
            TxKind::UpdateOrg(_) => "update_org",
            TxKind::FileCampaign(_) => "file_campaign",
            TxKind::ApproveCampaign(_) => "approve_campaign",
            TxKind::Donation(_) => "donation",
            TxKind::Disbursement(_) => "disbursement",
            TxKind::Refund(_) => "refund",
            TxKind::ProgressReport(_) => "progress_report",
            TxKind::CloseCampaign(_) => "close_campaign",
            TxKind::Correction(_) => "correction",
            TxKind::AuditNote(_) => "audit_note",
            TxKind::SetValidators(_) => "set_validators",
        }
    }
}

impl TxKind {
    /// Decodes a kind's own fields (a body without its common fields and
    /// `kind`) as the kind named `name`; `None` if no kind has that name.
    fn from_fields<'de, D: serde::Deserializer<'de>>(
        name: &str,
        fields: D,
    ) -> Result<Option<Self>, D::Error> {
        Ok(Some(match name {
            "register_org" => TxKind::RegisterOrg(RegisterOrg::deserialize(fields)?),
            "update_org" => TxKind::UpdateOrg(UpdateOrg::deserialize(fields)?),
            "file_campaign" => TxKind::FileCampaign(FileCampaign::deserialize(fields)?),
            "approve_campaign" => TxKind::ApproveCampaign(ApproveCampaign::deserialize(fields)?),
            "donation" => TxKind::Donation(Donation::deserialize(fields)?),
            "disbursement" => TxKind::Disbursement(Disbursement::deserialize(fields)?),
            "refund" => TxKind::Refund(Refund::deserialize(fields)?),
            "progress_report" => TxKind::ProgressReport(ProgressReport::deserialize(fields)?),
            "close_campaign" => TxKind::CloseCampaign(CloseCampaign::deserialize(fields)?),
            "correction" => TxKind::Correction(Correction::deserialize(fields)?),
            "audit_note" => TxKind::AuditNote(AuditNote::deserialize(fields)?),
            "set_validators" => TxKind::SetValidators(SetValidators::deserialize(fields)?),
            _ => return Ok(None),
        }))
    }
}

/// The signed part of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxBody {
    /// The network this transaction is for.
    pub chain_id: String,
    /// The signing key.
    pub signer: PublicKey,
    /// Makes otherwise equal bodies distinct.
    pub nonce: Nonce,
    /// When the submitter created it (ms); informational.
    pub created_at: u64,
    /// What it does.
    pub kind: TxKind,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Common {
    chain_id: String,
    signer: PublicKey,
    nonce: Nonce,
    created_at: u64,
}

const COMMON_FIELDS: [&str; 4] = ["chain_id", "signer", "nonce", "created_at"];

impl TxBody {
    /// The body as a JSON object (common fields and kind fields side by side).
    pub fn to_value(&self) -> Result<Value, EncodeError> {
        let mut v = serde_json::to_value(&self.kind).map_err(|e| EncodeError(e.to_string()))?;
        let Value::Object(map) = &mut v else {
            return Err(EncodeError("transaction kind is not an object".into()));
        };
        map.insert("chain_id".into(), Value::String(self.chain_id.clone()));
        map.insert("signer".into(), Value::String(self.signer.to_hex()));
        map.insert("nonce".into(), Value::String(self.nonce.to_hex()));
        map.insert("created_at".into(), Value::from(self.created_at));
        Ok(v)
    }

    /// Decodes a body from a strict-checked JSON object.
    pub fn from_value(v: Value) -> Result<Self, DecodeError> {
        let Value::Object(mut map) = v else {
            return Err(DecodeError::Invalid(
                "transaction body must be an object".into(),
            ));
        };
        let mut common = Map::new();
        for f in COMMON_FIELDS {
            if let Some(x) = map.remove(f) {
                common.insert(f.into(), x);
            }
        }
        let common: Common = json::from_value(Value::Object(common))?;
        let name = match map.remove("kind") {
            None => return Err(DecodeError::MissingField("missing field `kind`".into())),
            Some(Value::String(k)) => k,
            Some(_) => return Err(DecodeError::Invalid("`kind` must be a string".into())),
        };
        // The kind's own fields are what is left. Decoding them straight
        // into the kind's struct is `TxKind`'s tagged decoding without
        // serde's intermediate copy of the whole object.
        let kind = TxKind::from_fields(&name, Value::Object(map))
            .map_err(|e| DecodeError::from_serde(&e))?
            .ok_or_else(|| DecodeError::UnknownKind(name.chars().take(64).collect()))?;
        Ok(TxBody {
            chain_id: common.chain_id,
            signer: common.signer,
            nonce: common.nonce,
            created_at: common.created_at,
            kind,
        })
    }

    /// RFC 8785 bytes of the body.
    pub fn canonical(&self) -> Result<Vec<u8>, EncodeError> {
        json::canonical(&self.to_value()?)
    }
}

/// Every kind's wire name.
pub const KINDS: [&str; 12] = [
    "register_org",
    "update_org",
    "file_campaign",
    "approve_campaign",
    "donation",
    "disbursement",
    "refund",
    "progress_report",
    "close_campaign",
    "correction",
    "audit_note",
    "set_validators",
];

/// A signed transaction, with its canonical body bytes and id computed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    body: TxBody,
    sig: Signature,
    body_bytes: Vec<u8>,
    id: TxId,
}

impl Transaction {
    /// Signs `body` with `key`: `sig = Ed25519(key, tx_id)`.
    pub fn sign(body: TxBody, key: &Keypair) -> Result<Self, EncodeError> {
        let body_bytes = body.canonical()?;
        let id = tagged_hash(TX_DOMAIN, &body_bytes);
        let sig = key.sign(id.as_bytes());
        Ok(Transaction {
            body,
            sig,
            body_bytes,
            id,
        })
    }

    /// Assembles a transaction from a body and a given signature (which is
    /// not checked here: see [`crate::validate`]).
    pub fn from_parts(body: TxBody, sig: Signature) -> Result<Self, EncodeError> {
        let body_bytes = body.canonical()?;
        let id = tagged_hash(TX_DOMAIN, &body_bytes);
        Ok(Transaction {
            body,
            sig,
            body_bytes,
            id,
        })
    }

    /// Decodes `{"body": {...}, "sig": "..."}` from untrusted bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, TxError> {
        if bytes.len() > MAX_TX_BYTES {
            return Err(TxError::TooLarge {
                len: bytes.len(),
                max: MAX_TX_BYTES,
            });
        }
        Self::from_value(json::parse_strict(bytes, MAX_TX_BYTES)?)
    }

    /// Decodes a transaction from a strict-checked JSON value.
    pub fn from_value(v: Value) -> Result<Self, TxError> {
        let Value::Object(mut map) = v else {
            return Err(DecodeError::Invalid("transaction must be an object".into()).into());
        };
        let body = map
            .remove("body")
            .ok_or_else(|| DecodeError::MissingField("missing field `body`".into()))?;
        let sig = map
            .remove("sig")
            .ok_or_else(|| DecodeError::MissingField("missing field `sig`".into()))?;
        if let Some(k) = map.keys().next() {
            return Err(DecodeError::UnknownField(format!("unknown field `{k}`")).into());
        }
        let sig: Signature = json::from_value(sig)?;
        let body = TxBody::from_value(body)?;
        let tx = Self::from_parts(body, sig).map_err(|e| DecodeError::Invalid(e.0))?;
        // The canonical wire form is `{"body":<body>,"sig":"<128 hex>"}`.
        let len = tx.body_bytes.len() + WIRE_OVERHEAD;
        if len > MAX_TX_BYTES {
            return Err(TxError::TooLarge {
                len,
                max: MAX_TX_BYTES,
            });
        }
        Ok(tx)
    }

    /// The body.
    pub fn body(&self) -> &TxBody {
        &self.body
    }

    /// The kind-specific fields.
    pub fn kind(&self) -> &TxKind {
        &self.body.kind
    }

    /// The signature.
    pub fn sig(&self) -> &Signature {
        &self.sig
    }

    /// The transaction id.
    pub fn id(&self) -> TxId {
        self.id
    }

    /// RFC 8785 bytes of the body (what `tx_id` hashes).
    pub fn body_bytes(&self) -> &[u8] {
        &self.body_bytes
    }

    /// `{"body": ..., "sig": ...}` as a JSON value.
    pub fn to_value(&self) -> Result<Value, EncodeError> {
        let mut m = Map::new();
        m.insert("body".into(), self.body.to_value()?);
        m.insert("sig".into(), Value::String(self.sig.to_hex()));
        Ok(Value::Object(m))
    }

    /// RFC 8785 bytes of `{"body", "sig"}`: the wire form.
    pub fn to_canonical_json(&self) -> Result<Vec<u8>, EncodeError> {
        json::canonical(&self.to_value()?)
    }

    /// The compact stored form: 64 signature bytes, then the canonical body.
    pub fn to_stored(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.body_bytes.len());
        out.extend_from_slice(self.sig.as_bytes());
        out.extend_from_slice(&self.body_bytes);
        out
    }

    /// The id of a stored transaction, without decoding it.
    pub fn stored_id(stored: &[u8]) -> Option<TxId> {
        stored.get(64..).map(|b| tagged_hash(TX_DOMAIN, b))
    }

    /// Decodes the stored form of the transaction whose id is `id`: the
    /// bytes must hash to `id`. That id was computed from canonical bytes
    /// when the transaction was accepted, so bytes that hash to it are
    /// those bytes, and the body is not canonicalised again.
    pub fn from_stored_with_id(stored: &[u8], id: &TxId) -> Result<Self, TxError> {
        let (sig, body_bytes) = stored
            .split_first_chunk::<64>()
            .ok_or_else(|| DecodeError::Malformed("stored transaction is truncated".into()))?;
        let computed = tagged_hash(TX_DOMAIN, body_bytes);
        if computed != *id {
            return Err(DecodeError::Invalid(format!(
                "stored transaction hashes to {computed}, not to its id {id}"
            ))
            .into());
        }
        let body = stored::body(body_bytes)?;
        Ok(Transaction {
            body,
            sig: Signature::from(*sig),
            body_bytes: body_bytes.to_vec(),
            id: computed,
        })
    }

    /// Decodes the stored form; its body must still be canonical.
    pub fn from_stored(stored: &[u8]) -> Result<Self, TxError> {
        let (sig, body) = stored
            .split_first_chunk::<64>()
            .ok_or_else(|| DecodeError::Malformed("stored transaction is truncated".into()))?;
        let body = TxBody::from_value(json::parse_strict(body, MAX_TX_BYTES)?)?;
        let tx =
            Self::from_parts(body, Signature::from(*sig)).map_err(|e| DecodeError::Invalid(e.0))?;
        if tx.body_bytes.as_slice() != &stored[64..] {
            return Err(
                DecodeError::Invalid("stored transaction body is not canonical".into()).into(),
            );
        }
        Ok(tx)
    }
}

impl Serialize for Transaction {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value()
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Transaction {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Transaction::from_value(v).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body's common fields, valid, with `kind` and one field no kind
    /// has.
    fn body_of_kind(kind: &str) -> Value {
        let key = crate::crypto::Keypair::from_seed(&[7; 32]);
        serde_json::json!({
            "chain_id": "c",
            "signer": key.public().to_hex(),
            "nonce": "0011223344556677",
            "created_at": 1,
            "kind": kind,
            "zz_no_such_field": 1,
        })
    }

    #[test]
    fn every_kind_name_is_decoded_as_its_kind() {
        for name in KINDS {
            let err = TxBody::from_value(body_of_kind(name)).unwrap_err();
            // The kind was recognised: what fails is its own fields.
            assert!(
                matches!(
                    err,
                    DecodeError::UnknownField(_) | DecodeError::MissingField(_)
                ),
                "{name}: {err:?}"
            );
        }
        let err = TxBody::from_value(body_of_kind("no_such_kind")).unwrap_err();
        assert_eq!(err.code(), "unknown_kind");
        let mut no_kind = body_of_kind("x");
        no_kind.as_object_mut().unwrap().remove("kind");
        assert_eq!(
            TxBody::from_value(no_kind).unwrap_err().code(),
            "missing_field"
        );
        let mut bad_kind = body_of_kind("x");
        bad_kind["kind"] = Value::from(5);
        assert_eq!(
            TxBody::from_value(bad_kind).unwrap_err().code(),
            "invalid_field"
        );
    }
}
