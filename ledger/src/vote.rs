//! Vote sign-bytes and commit certificates (design, "Votes and commits (wire)").

use serde::{Deserialize, Serialize};

use crate::crypto::{self, VOTE_DOMAIN};
use crate::hex::{Hash, PublicKey, Signature};
use crate::validators::{PowerEntry, ValidatorSet};

/// The most signatures a commit may carry.
pub const MAX_COMMIT_SIGNATURES: usize = 256;

/// Which step of Tendermint a vote belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteType {
    /// First voting step.
    Prevote = 1,
    /// Second voting step; a block is committed by precommits.
    Precommit = 2,
}

/// The bytes a validator signs for a vote:
/// `"charity-ledger/v1/vote\n" || u8 len(chain_id) || chain_id || u64be height
/// || u32be round || u8 type || 32 bytes block_hash (zeros for nil)`.
///
/// `chain_id` is at most 255 bytes (genesis limits it to 64).
pub fn vote_sign_bytes(
    chain_id: &str,
    height: u64,
    round: u32,
    vote_type: VoteType,
    block_hash: Option<&Hash>,
) -> Vec<u8> {
    let id = chain_id.as_bytes();
    let id = &id[..id.len().min(255)];
    let mut out = Vec::with_capacity(VOTE_DOMAIN.len() + 1 + id.len() + 8 + 4 + 1 + 32);
    out.extend_from_slice(VOTE_DOMAIN);
    out.push(id.len() as u8);
    out.extend_from_slice(id);
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&round.to_be_bytes());
    out.push(vote_type as u8);
    out.extend_from_slice(block_hash.map_or(&[0u8; 32], |h| h.as_bytes()));
    out
}

/// One precommit signature in a commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitSignature {
    /// The validator's key.
    pub validator: PublicKey,
    /// Its signature over the precommit sign-bytes.
    pub sig: Signature,
}

/// Proof that a block was decided: precommits of more than 2/3 of the power.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitCertificate {
    /// The round in which the block was decided.
    pub round: u32,
    /// The precommit signatures.
    pub signatures: Vec<CommitSignature>,
}

/// Why a commit does not prove a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    /// Too many signatures.
    #[error("commit carries {0} signatures, the limit is {MAX_COMMIT_SIGNATURES}")]
    TooManySignatures(usize),
    /// A signer not in the validator set.
    #[error("commit is signed by {0}, which is not a validator at this height")]
    UnknownValidator(PublicKey),
    /// A validator counted twice.
    #[error("validator {0} signs the commit twice")]
    DuplicateValidator(PublicKey),
    /// A signature that does not verify.
    #[error("precommit signature of {0} does not verify")]
    BadSignature(PublicKey),
    /// Not enough power.
    #[error("commit carries {signed} of {total} voting power; more than 2/3 is needed")]
    InsufficientPower {
        /// Power that signed.
        signed: u64,
        /// Total power.
        total: u64,
    },
}

impl CommitError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            CommitError::TooManySignatures(_) => "commit_too_many_signatures",
            CommitError::UnknownValidator(_) => "commit_unknown_validator",
            CommitError::DuplicateValidator(_) => "commit_duplicate_validator",
            CommitError::BadSignature(_) => "commit_bad_signature",
            CommitError::InsufficientPower { .. } => "commit_insufficient_power",
        }
    }
}

/// Checks that `commit` proves `block_hash` at `height` under `validators`:
/// every signature is a distinct validator's valid precommit (verified with
/// `verify_strict`), and together they carry more than 2/3 of the power.
pub fn verify_commit(
    chain_id: &str,
    height: u64,
    block_hash: &Hash,
    commit: &CommitCertificate,
    validators: &ValidatorSet,
) -> Result<(), CommitError> {
    check_commit(
        chain_id,
        height,
        block_hash,
        commit,
        |k| validators.get(k).map(|v| v.power),
        validators.total_power(),
    )
}

/// [`verify_commit`] against a published `{pubkey, power}` list, as a
/// witness or a receipt holds it.
pub fn verify_commit_list(
    chain_id: &str,
    height: u64,
    block_hash: &Hash,
    commit: &CommitCertificate,
    validators: &[PowerEntry],
) -> Result<(), CommitError> {
    let total = validators
        .iter()
        .fold(0u64, |t, v| t.saturating_add(v.power));
    check_commit(
        chain_id,
        height,
        block_hash,
        commit,
        |k| validators.iter().find(|v| &v.pubkey == k).map(|v| v.power),
        total,
    )
}

fn check_commit(
    chain_id: &str,
    height: u64,
    block_hash: &Hash,
    commit: &CommitCertificate,
    power_of: impl Fn(&PublicKey) -> Option<u64>,
    total: u64,
) -> Result<(), CommitError> {
    if commit.signatures.len() > MAX_COMMIT_SIGNATURES {
        return Err(CommitError::TooManySignatures(commit.signatures.len()));
    }
    let msg = vote_sign_bytes(
        chain_id,
        height,
        commit.round,
        VoteType::Precommit,
        Some(block_hash),
    );
    let mut seen = std::collections::BTreeSet::new();
    let mut signed: u64 = 0;
    for s in &commit.signatures {
        let power = power_of(&s.validator).ok_or(CommitError::UnknownValidator(s.validator))?;
        if !seen.insert(s.validator) {
            return Err(CommitError::DuplicateValidator(s.validator));
        }
        crypto::verify(&s.validator, &msg, &s.sig)
            .map_err(|_| CommitError::BadSignature(s.validator))?;
        signed = signed.saturating_add(power);
    }
    if u128::from(signed) * 3 <= u128::from(total) * 2 {
        return Err(CommitError::InsufficientPower { signed, total });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_bytes_layout() {
        let h = Hash::from([0xab; 32]);
        let b = vote_sign_bytes("demo", 258, 3, VoteType::Precommit, Some(&h));
        let mut expect = b"charity-ledger/v1/vote\n".to_vec();
        expect.push(4);
        expect.extend_from_slice(b"demo");
        expect.extend_from_slice(&[0, 0, 0, 0, 0, 0, 1, 2]);
        expect.extend_from_slice(&[0, 0, 0, 3]);
        expect.push(2);
        expect.extend_from_slice(&[0xab; 32]);
        assert_eq!(b, expect);
        let nil = vote_sign_bytes("demo", 1, 0, VoteType::Prevote, None);
        assert_eq!(
            &nil[nil.len() - 33..],
            &[&[1u8][..], &[0u8; 32][..]].concat()[..]
        );
    }
}
