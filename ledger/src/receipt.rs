//! Receipts: everything needed to verify one transaction with no trust in
//! the server, and the one function that verifies them (design, "Receipts
//! and proofs (wire)"). The sdk and the browser mirror [`verify_receipt`].

use serde::{Deserialize, Serialize};

use crate::block::Header;
use crate::crypto;
use crate::hex::Hash;
use crate::json::{self, DecodeError};
use crate::merkle;
use crate::tx::Transaction;
use crate::validators::{hash_power_list, PowerEntry};
use crate::vote::{vote_sign_bytes, CommitCertificate, VoteType};

/// The largest receipt document accepted.
pub const MAX_RECEIPT_BYTES: usize = 256 * 1024;

/// A transaction receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The transaction.
    pub tx: Transaction,
    /// Its id.
    pub tx_id: Hash,
    /// The block height.
    pub height: u64,
    /// Position in the block.
    pub index: u64,
    /// The block header.
    pub header: Header,
    /// Inclusion path from the tx to `header.tx_root`.
    pub inclusion: Vec<Hash>,
    /// The block's commit certificate.
    pub commit: CommitCertificate,
    /// The validator set in force at `height`.
    pub validators: Vec<PowerEntry>,
}

impl Receipt {
    /// Decodes a receipt strictly.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        json::from_slice(bytes, MAX_RECEIPT_BYTES)
    }
}

/// The failure of one verification step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("step {step} ({}) failed: {reason}", step_name(*step))]
pub struct ReceiptError {
    /// 1 to 4, as the design numbers the steps.
    pub step: u8,
    /// Stable code.
    pub code: &'static str,
    /// What disagreed.
    pub reason: String,
}

/// What each step checks, in words.
pub fn step_name(step: u8) -> &'static str {
    match step {
        1 => "transaction id and signature",
        2 => "inclusion in the block",
        3 => "block hash and commit",
        _ => "validator set",
    }
}

fn fail(step: u8, code: &'static str, reason: impl Into<String>) -> ReceiptError {
    ReceiptError {
        step,
        code,
        reason: reason.into(),
    }
}

/// Verifies a receipt by the design's four steps, against the validator set
/// the caller trusts at the receipt's height (from genesis and verified
/// `set_validators` transactions).
///
/// 1. `tx_id` is the hash of JCS(tx.body) and tx.sig verifies under the signer.
/// 2. The inclusion path takes leaf(tx_id) at `index` of `tx_count` to `tx_root`.
/// 3. The header hashes to the block hash, the validators hash to
///    `validators_hash`, and the precommits for (height, round, block_hash)
///    carry more than 2/3 of the power.
/// 4. The receipt's validators are the trusted ones.
pub fn verify_receipt(receipt: &Receipt, trusted: &[PowerEntry]) -> Result<Hash, ReceiptError> {
    // Step 1.
    let tx = &receipt.tx;
    if tx.id() != receipt.tx_id {
        return Err(fail(
            1,
            "tx_id_mismatch",
            format!("body hashes to {}, receipt says {}", tx.id(), receipt.tx_id),
        ));
    }
    crypto::verify(&tx.body().signer, tx.id().as_bytes(), tx.sig())
        .map_err(|e| fail(1, "bad_signature", e.to_string()))?;
    if tx.body().chain_id != receipt.header.chain_id {
        return Err(fail(
            1,
            "wrong_chain",
            format!(
                "transaction is for {:?}, block for {:?}",
                tx.body().chain_id,
                receipt.header.chain_id
            ),
        ));
    }
    // Step 2.
    let h = &receipt.header;
    if receipt.height != h.height {
        return Err(fail(
            2,
            "height_mismatch",
            format!(
                "receipt height {} but header height {}",
                receipt.height, h.height
            ),
        ));
    }
    merkle::verify_inclusion(
        receipt.tx_id.as_bytes(),
        receipt.index,
        h.tx_count,
        &receipt.inclusion.iter().map(|x| x.0).collect::<Vec<_>>(),
        h.tx_root.as_bytes(),
    )
    .map_err(|e| {
        fail(
            2,
            e.code(),
            format!(
                "tx {} at index {} of {}: {e}",
                receipt.tx_id, receipt.index, h.tx_count
            ),
        )
    })?;
    // Step 3.
    let block_hash = h
        .hash()
        .map_err(|e| fail(3, "encoding_failed", e.to_string()))?;
    let vhash = hash_power_list(&receipt.validators)
        .map_err(|e| fail(3, "encoding_failed", e.to_string()))?;
    if vhash != h.validators_hash {
        return Err(fail(
            3,
            "validators_hash_mismatch",
            format!(
                "validators hash to {vhash}, header says {}",
                h.validators_hash
            ),
        ));
    }
    let msg = vote_sign_bytes(
        &h.chain_id,
        h.height,
        receipt.commit.round,
        VoteType::Precommit,
        Some(&block_hash),
    );
    let total: u128 = receipt.validators.iter().map(|v| u128::from(v.power)).sum();
    let mut signed: u128 = 0;
    let mut seen = std::collections::BTreeSet::new();
    for s in &receipt.commit.signatures {
        let Some(v) = receipt.validators.iter().find(|v| v.pubkey == s.validator) else {
            return Err(fail(
                3,
                "commit_unknown_validator",
                format!("{} is not in the validator set", s.validator),
            ));
        };
        if !seen.insert(s.validator) {
            return Err(fail(
                3,
                "commit_duplicate_validator",
                format!("{} signs twice", s.validator),
            ));
        }
        crypto::verify(&s.validator, &msg, &s.sig).map_err(|_| {
            fail(
                3,
                "commit_bad_signature",
                format!(
                    "precommit of {} for block {block_hash} does not verify",
                    s.validator
                ),
            )
        })?;
        signed += u128::from(v.power);
    }
    if signed * 3 <= total * 2 {
        return Err(fail(
            3,
            "commit_insufficient_power",
            format!("precommits carry {signed} of {total} power; more than 2/3 is needed"),
        ));
    }
    // Step 4.
    let mut given = receipt.validators.clone();
    let mut want = trusted.to_vec();
    given.sort_by_key(|v| v.pubkey);
    want.sort_by_key(|v| v.pubkey);
    if given != want {
        return Err(fail(
            4,
            "untrusted_validators",
            "the receipt's validator set is not the trusted set for this height",
        ));
    }
    Ok(block_hash)
}
