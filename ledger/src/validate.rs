//! Stateless validation: everything about a transaction that can be checked
//! without the chain's state (encoding ranges, sizes, signature, chain id).

use std::collections::BTreeSet;

use ed25519_dalek::VerifyingKey;

use crate::crypto;
use crate::error::TxError;
use crate::hex::PublicKey;
use crate::ids::CampaignId;
use crate::json::MAX_SAFE_INTEGER;
use crate::kinds::*;
use crate::org_id::OrgId;
use crate::tx::{Transaction, TxKind};
use crate::validators::ValidatorSet;

/// Longest name or title, in characters.
pub const MAX_NAME: usize = 200;
/// Longest free text, in characters.
pub const MAX_TEXT: usize = 10_000;
/// Longest short code (filing numbers, media types), in characters.
pub const MAX_CODE: usize = 100;
/// Longest URI, in characters.
pub const MAX_URI: usize = 1_000;
/// Most evidence items on one transaction.
pub const MAX_EVIDENCE: usize = 32;
/// Most budget lines of one campaign.
pub const MAX_BUDGET_LINES: usize = 64;
/// Most platforms one campaign lists.
pub const MAX_PLATFORMS: usize = 32;
/// Most keys in one organisation update or registration.
pub const MAX_KEYS: usize = 8;
/// Longest display name of a donor, in characters.
pub const MAX_DISPLAY_NAME: usize = 64;

fn text(field: &'static str, s: &str, max: usize, required: bool) -> Result<(), TxError> {
    if required && s.trim().is_empty() {
        return Err(TxError::EmptyField { field });
    }
    let len = s.chars().count();
    if len > max {
        return Err(TxError::FieldTooLong { field, len, max });
    }
    Ok(())
}

fn amount(field: &'static str, a: u64) -> Result<(), TxError> {
    if a == 0 {
        return Err(TxError::ZeroAmount { field });
    }
    Ok(())
}

fn keys(field: &'static str, ks: &[PublicKey], required: bool) -> Result<(), TxError> {
    if required && ks.is_empty() {
        return Err(TxError::EmptyField { field });
    }
    if ks.len() > MAX_KEYS {
        return Err(TxError::TooManyItems {
            field,
            len: ks.len(),
            max: MAX_KEYS,
        });
    }
    let mut seen = BTreeSet::new();
    for k in ks {
        if !seen.insert(k) {
            return Err(TxError::DuplicateItem {
                field,
                item: k.to_hex(),
            });
        }
        match VerifyingKey::from_bytes(k.as_bytes()) {
            Ok(vk) if !vk.is_weak() => {}
            _ => return Err(TxError::InvalidPublicKey { field, key: *k }),
        }
    }
    Ok(())
}

fn evidence(items: &[Evidence]) -> Result<(), TxError> {
    if items.len() > MAX_EVIDENCE {
        return Err(TxError::TooManyItems {
            field: "evidence",
            len: items.len(),
            max: MAX_EVIDENCE,
        });
    }
    for e in items {
        text("evidence.title", &e.title, MAX_NAME, true)?;
        text("evidence.media_type", &e.media_type, MAX_CODE, true)?;
        if let Some(u) = &e.uri {
            text("evidence.uri", u, MAX_URI, true)?;
        }
    }
    Ok(())
}

fn channel(c: &str) -> Result<(), TxError> {
    let ok = !c.is_empty()
        && c.len() <= 32
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok {
        return Err(TxError::InvalidChannel {
            channel: c.chars().take(40).collect(),
        });
    }
    Ok(())
}

fn recipient(r: &Recipient) -> Result<(), TxError> {
    text("recipient.name", &r.name, MAX_NAME, true)?;
    let bad = |reason: &str| {
        Err(TxError::InvalidRecipient {
            reason: reason.to_owned(),
        })
    };
    match (r.kind, &r.id) {
        (RecipientKind::Org, Some(id)) => match OrgId::parse(id) {
            Ok(_) => Ok(()),
            Err(e) => bad(&format!("org recipient id: {e}")),
        },
        (RecipientKind::Campaign, Some(id)) => match CampaignId::parse(id) {
            Ok(_) => Ok(()),
            Err(e) => bad(&format!("campaign recipient id: {e}")),
        },
        (RecipientKind::Org | RecipientKind::Campaign, None) => {
            bad("an org or campaign recipient needs an id")
        }
        (RecipientKind::Person, Some(_)) => {
            bad("a person's id never goes on chain; give only the masked name")
        }
        (RecipientKind::Vendor, Some(id)) => text("recipient.id", id, MAX_CODE, true),
        (RecipientKind::Vendor | RecipientKind::Person, None) => Ok(()),
    }
}

/// The subject of an audit note, as far as it can be told without state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A transaction id (64 lowercase hex; may also spell a campaign id).
    Tx(crate::hex::Hash),
    /// A campaign.
    Campaign(CampaignId),
    /// An organisation.
    Org(OrgId),
}

/// Reads an audit-note subject: a tx id, an organisation id or a campaign id.
pub fn parse_subject(s: &str) -> Result<Subject, TxError> {
    if let Ok(h) = crate::hex::Hash::parse(s) {
        return Ok(Subject::Tx(h));
    }
    if let Ok(o) = OrgId::parse(s) {
        return Ok(Subject::Org(o));
    }
    if let Ok(c) = CampaignId::parse(s) {
        return Ok(Subject::Campaign(c));
    }
    Err(TxError::InvalidSubject {
        subject: s.chars().take(80).collect(),
    })
}

/// Checks everything that needs no state, except the signature: chain id,
/// sizes, ranges and shapes of every field.
pub fn check_fields(tx: &Transaction, chain_id: &str) -> Result<(), TxError> {
    let body = tx.body();
    if body.chain_id != chain_id {
        return Err(TxError::WrongChain {
            expected: chain_id.to_owned(),
            got: body.chain_id.chars().take(64).collect(),
        });
    }
    match &body.kind {
        TxKind::RegisterOrg(k) => {
            text("name", &k.name, MAX_NAME, true)?;
            keys("keys", &k.keys, true)
        }
        TxKind::UpdateOrg(k) => {
            keys("add_keys", k.add_keys.as_deref().unwrap_or_default(), false)?;
            keys(
                "remove_keys",
                k.remove_keys.as_deref().unwrap_or_default(),
                false,
            )
        }
        TxKind::FileCampaign(k) => {
            text("title", &k.title, MAX_NAME, true)?;
            text("description", &k.description, MAX_TEXT, true)?;
            text("beneficiaries", &k.beneficiaries, MAX_TEXT, true)?;
            text("leftover_plan", &k.leftover_plan, MAX_TEXT, true)?;
            amount("target", k.target)?;
            if k.starts_at >= k.ends_at {
                return Err(TxError::InvalidWindow {
                    starts_at: k.starts_at,
                    ends_at: k.ends_at,
                });
            }
            if k.budget.is_empty() {
                return Err(TxError::EmptyField { field: "budget" });
            }
            if k.budget.len() > MAX_BUDGET_LINES {
                return Err(TxError::TooManyItems {
                    field: "budget",
                    len: k.budget.len(),
                    max: MAX_BUDGET_LINES,
                });
            }
            let mut lines = BTreeSet::new();
            let mut total: u64 = 0;
            for b in &k.budget {
                if !lines.insert(&b.line) {
                    return Err(TxError::DuplicateItem {
                        field: "budget",
                        item: b.line.to_string(),
                    });
                }
                amount("budget.amount", b.amount)?;
                total = total
                    .checked_add(b.amount)
                    .filter(|t| *t <= MAX_SAFE_INTEGER)
                    .ok_or_else(|| TxError::AmountOverflow {
                        what: "budget total".into(),
                    })?;
            }
            if total > k.target {
                return Err(TxError::BudgetOverTarget {
                    budget: total,
                    target: k.target,
                });
            }
            if k.platforms.len() > MAX_PLATFORMS {
                return Err(TxError::TooManyItems {
                    field: "platforms",
                    len: k.platforms.len(),
                    max: MAX_PLATFORMS,
                });
            }
            let mut seen = BTreeSet::new();
            for p in &k.platforms {
                if !seen.insert(p) {
                    return Err(TxError::DuplicateItem {
                        field: "platforms",
                        item: p.to_string(),
                    });
                }
            }
            Ok(())
        }
        TxKind::ApproveCampaign(k) => {
            text("filing_no", &k.filing_no, MAX_CODE, k.approved)?;
            text(
                "note",
                k.note.as_deref().unwrap_or_default(),
                MAX_TEXT,
                false,
            )
        }
        TxKind::Donation(k) => {
            amount("amount", k.amount)?;
            channel(&k.channel)?;
            if let Some(n) = &k.display_name {
                text("display_name", n, MAX_DISPLAY_NAME, true)?;
            }
            Ok(())
        }
        TxKind::Disbursement(k) => {
            amount("amount", k.amount)?;
            text("purpose", &k.purpose, MAX_TEXT, true)?;
            recipient(&k.recipient)?;
            evidence(&k.evidence)
        }
        TxKind::Refund(k) => {
            amount("amount", k.amount)?;
            text("reason", &k.reason, MAX_TEXT, true)
        }
        TxKind::ProgressReport(k) => {
            text("title", &k.title, MAX_NAME, true)?;
            text("body", &k.body, MAX_TEXT, true)?;
            evidence(&k.evidence)
        }
        TxKind::CloseCampaign(k) => text("summary", &k.summary, MAX_TEXT, true),
        TxKind::Correction(k) => text("note", &k.note, MAX_TEXT, true),
        TxKind::AuditNote(k) => {
            text("finding", &k.finding, MAX_TEXT, true)?;
            parse_subject(&k.subject).map(|_| ())
        }
        TxKind::SetValidators(k) => {
            let ks: Vec<PublicKey> = k.validators.iter().map(|v| v.pubkey).collect();
            for key in &ks {
                match VerifyingKey::from_bytes(key.as_bytes()) {
                    Ok(vk) if !vk.is_weak() => {}
                    _ => {
                        return Err(TxError::InvalidPublicKey {
                            field: "validators",
                            key: *key,
                        })
                    }
                }
            }
            ValidatorSet::new(k.validators.clone()).map(|_| ())
        }
    }
}

/// Verifies the transaction's signature over its id with `verify_strict`.
pub fn check_signature(tx: &Transaction) -> Result<(), TxError> {
    let signer = tx.body().signer;
    crypto::verify(&signer, tx.id().as_bytes(), tx.sig())
        .map_err(|_| TxError::BadSignature { signer })
}

/// [`check_signature`] with keys decoded once per block.
pub fn check_signature_cached(tx: &Transaction, keys: &crypto::KeyCache) -> Result<(), TxError> {
    let signer = tx.body().signer;
    keys.verify(&signer, tx.id().as_bytes(), tx.sig())
        .map_err(|_| TxError::BadSignature { signer })
}

/// All stateless checks: fields, then signature.
pub fn check_stateless(tx: &Transaction, chain_id: &str) -> Result<(), TxError> {
    check_fields(tx, chain_id)?;
    check_signature(tx)
}
