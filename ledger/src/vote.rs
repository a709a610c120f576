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
    let msg = precommit_bytes(chain_id, height, block_hash, commit);
    check_commit(
        commit,
        |k| validators.get(k).map(|v| v.power),
        validators.total_power(),
        |s| crypto::verify(&s.validator, &msg, &s.sig).is_ok(),
    )
}

/// [`verify_commit`], with the validity of each of the commit's signatures
/// already worked out: `valid[i]` says whether signature `i` is a valid
/// precommit of this block (as [`check_commit_signatures`] gives it for
/// the same height and block hash). Everything else is checked here, in
/// the same order as [`verify_commit`] checks it, so a commit is refused
/// with the same error. A signature without a flag is not valid.
pub fn verify_commit_prechecked(
    commit: &CommitCertificate,
    validators: &ValidatorSet,
    valid: &[bool],
) -> Result<(), CommitError> {
    let mut flags = valid.iter();
    check_commit(
        commit,
        |k| validators.get(k).map(|v| v.power),
        validators.total_power(),
        |_| flags.next().copied().unwrap_or(false),
    )
}

/// Which signatures of many commits are valid precommits, for the height
/// and block hash given with each: one flag per signature, in order (none
/// for a commit over [`MAX_COMMIT_SIGNATURES`], which
/// [`verify_commit_prechecked`] refuses before looking at a flag).
///
/// The signatures of all the commits are verified together, in one
/// Ed25519 batch per core ([`crypto::KeyCache::verify_batch`]: a chain's
/// few validators sign every commit, so their terms add up). Only a batch
/// that fails is verified again one signature at a time, with
/// `verify_strict`, to find which. A batch's verdict is `verify_batch`'s,
/// the same the audit gives transactions: it differs from
/// `verify_strict`'s only for a signature whose signer deliberately put a
/// small-order component into `R`.
pub fn check_commit_signatures(
    chain_id: &str,
    commits: &[(u64, &Hash, &CommitCertificate)],
) -> Vec<Vec<bool>> {
    use rayon::prelude::*;
    let checked = |c: &CommitCertificate| c.signatures.len() <= MAX_COMMIT_SIGNATURES;
    let msgs: Vec<Vec<u8>> = commits
        .iter()
        .map(|(height, hash, c)| precommit_bytes(chain_id, *height, hash, c))
        .collect();
    let items: Vec<(PublicKey, &[u8], &Signature)> = commits
        .iter()
        .zip(&msgs)
        .filter(|((_, _, c), _)| checked(c))
        .flat_map(|((_, _, c), msg)| {
            c.signatures
                .iter()
                .map(move |s| (s.validator, msg.as_slice(), &s.sig))
        })
        .collect();
    let per_core = items
        .len()
        .div_ceil(rayon::current_num_threads().max(1))
        .max(1);
    let flags: Vec<bool> = items
        .par_chunks(per_core)
        .map(|batch| {
            let keys = crypto::KeyCache::new(batch.iter().map(|(k, _, _)| k));
            if keys.verify_batch(batch) {
                vec![true; batch.len()]
            } else {
                batch
                    .iter()
                    .map(|(k, msg, sig)| keys.verify(k, msg, sig).is_ok())
                    .collect()
            }
        })
        .collect::<Vec<_>>()
        .concat();
    let mut rest = flags.as_slice();
    commits
        .iter()
        .map(|(_, _, c)| {
            if !checked(c) {
                return Vec::new();
            }
            let (these, after) = rest.split_at(c.signatures.len().min(rest.len()));
            rest = after;
            these.to_vec()
        })
        .collect()
}

/// The bytes each signature of `commit` signs: a precommit of
/// `block_hash` at `height` in the commit's round.
fn precommit_bytes(
    chain_id: &str,
    height: u64,
    block_hash: &Hash,
    commit: &CommitCertificate,
) -> Vec<u8> {
    vote_sign_bytes(
        chain_id,
        height,
        commit.round,
        VoteType::Precommit,
        Some(block_hash),
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
    let msg = precommit_bytes(chain_id, height, block_hash, commit);
    check_commit(
        commit,
        |k| validators.iter().find(|v| &v.pubkey == k).map(|v| v.power),
        total,
        |s| crypto::verify(&s.validator, &msg, &s.sig).is_ok(),
    )
}

/// The checks of a commit, with `valid` saying whether each signature, in
/// order, is a valid precommit of the block.
fn check_commit(
    commit: &CommitCertificate,
    power_of: impl Fn(&PublicKey) -> Option<u64>,
    total: u64,
    mut valid: impl FnMut(&CommitSignature) -> bool,
) -> Result<(), CommitError> {
    if commit.signatures.len() > MAX_COMMIT_SIGNATURES {
        return Err(CommitError::TooManySignatures(commit.signatures.len()));
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut signed: u64 = 0;
    for s in &commit.signatures {
        let power = power_of(&s.validator).ok_or(CommitError::UnknownValidator(s.validator))?;
        if !seen.insert(s.validator) {
            return Err(CommitError::DuplicateValidator(s.validator));
        }
        if !valid(s) {
            return Err(CommitError::BadSignature(s.validator));
        }
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

    fn validator_set(keys: &[crate::Keypair], powers: &[u64]) -> ValidatorSet {
        let org = crate::org_id::OrgId::from_parts("11440100MB0000001").unwrap();
        ValidatorSet::new(
            keys.iter()
                .zip(powers)
                .map(|(k, &power)| crate::kinds::ValidatorEntry {
                    pubkey: k.public(),
                    power,
                    org_id: org.clone(),
                })
                .collect(),
        )
        .unwrap()
    }

    /// Checked together in batches, many commits, some of them broken in
    /// every way a commit can be, each get the verdict `verify_commit`
    /// gives it alone, with the same error.
    #[test]
    fn commits_checked_in_batches_get_the_verdicts_they_get_alone() {
        let keys: Vec<_> = (0..5)
            .map(|i| crate::dev::key(&format!("validator-{i}")))
            .collect();
        let outsider = crate::dev::key("outsider");
        let set = validator_set(&keys[..4], &[1, 1, 1, 1]);
        let hash = |h: u64| crate::crypto::sha256(&h.to_be_bytes());
        let mut commits = Vec::new();
        for height in 1..=60u64 {
            let mut c = crate::dev::sign_commit("demo", height, 0, &hash(height), &keys[..4]);
            match height % 10 {
                // A signature changed in one byte: of its `R`, then of `S`.
                1 => c.signatures[2].sig.0[5] ^= 1,
                2 => c.signatures[0].sig.0[40] ^= 0x10,
                // Signed over another block, or another round.
                3 => c = crate::dev::sign_commit("demo", height, 0, &hash(0), &keys[..4]),
                4 => c.round = 1,
                // A signer that is not a validator, one that signs twice,
                // too little power, too many signatures.
                5 => {
                    c = crate::dev::sign_commit(
                        "demo",
                        height,
                        0,
                        &hash(height),
                        &[keys[0].clone(), outsider.clone(), keys[1].clone()],
                    )
                }
                6 => c.signatures[3] = c.signatures[1].clone(),
                7 => c.signatures.truncate(2),
                8 => {
                    let extra = c.signatures[0].clone();
                    c.signatures.resize(MAX_COMMIT_SIGNATURES + 1, extra);
                }
                // A key that is not a point.
                9 => c.signatures[1].validator = PublicKey::from([0xff; 32]),
                _ => {}
            }
            commits.push((height, hash(height), c));
        }
        let items: Vec<(u64, &Hash, &CommitCertificate)> =
            commits.iter().map(|(h, hash, c)| (*h, hash, c)).collect();
        let flags = check_commit_signatures("demo", &items);
        assert_eq!(flags.len(), commits.len());
        let mut refused = std::collections::BTreeSet::new();
        for ((height, hash, c), valid) in commits.iter().zip(&flags) {
            let alone = verify_commit("demo", *height, hash, c, &set);
            let batched = verify_commit_prechecked(c, &set, valid);
            assert_eq!(batched, alone, "height {height}");
            if let Err(e) = alone {
                refused.insert(e.code());
            } else {
                assert!(valid.iter().all(|&v| v), "height {height}");
            }
        }
        assert_eq!(
            refused.into_iter().collect::<Vec<_>>(),
            [
                "commit_bad_signature",
                "commit_duplicate_validator",
                "commit_insufficient_power",
                "commit_too_many_signatures",
                "commit_unknown_validator",
            ]
        );
        // A flag missing is a signature not valid.
        let (height, hash, c) = &commits[9];
        assert!(verify_commit("demo", *height, hash, c, &set).is_ok());
        assert_eq!(
            verify_commit_prechecked(c, &set, &[true, true]),
            Err(CommitError::BadSignature(c.signatures[2].validator))
        );
    }
}
