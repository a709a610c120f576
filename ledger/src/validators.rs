//! Validator sets and their hash (design, "Blocks (wire)").

use serde::{Deserialize, Serialize};

use crate::crypto::{tagged_hash, VALIDATORS_DOMAIN};
use crate::error::TxError;
use crate::hex::{Hash, PublicKey};
use crate::json::{self, EncodeError};
use crate::kinds::ValidatorEntry;

/// The most validators a set may have.
pub const MAX_VALIDATORS: usize = 256;

/// The validators in force at some height, sorted by public key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ValidatorSet {
    validators: Vec<ValidatorEntry>,
}

#[derive(Serialize)]
struct HashedValidator<'a> {
    pubkey: &'a PublicKey,
    power: u64,
}

impl ValidatorSet {
    /// Builds a set, checking it can run consensus: 1 to 256 validators,
    /// distinct keys, positive powers whose total fits 2^53-1.
    pub fn new(mut validators: Vec<ValidatorEntry>) -> Result<Self, TxError> {
        let invalid = |reason: String| TxError::InvalidValidatorSet { reason };
        if validators.is_empty() {
            return Err(invalid("the set is empty".into()));
        }
        if validators.len() > MAX_VALIDATORS {
            return Err(TxError::TooManyItems {
                field: "validators",
                len: validators.len(),
                max: MAX_VALIDATORS,
            });
        }
        validators.sort_by_key(|v| v.pubkey);
        let mut total: u64 = 0;
        for (i, v) in validators.iter().enumerate() {
            if v.power == 0 {
                return Err(invalid(format!("validator {} has power 0", v.pubkey)));
            }
            if i > 0 && validators[i - 1].pubkey == v.pubkey {
                return Err(TxError::DuplicateItem {
                    field: "validators",
                    item: v.pubkey.to_hex(),
                });
            }
            total = total
                .checked_add(v.power)
                .filter(|t| *t <= json::MAX_SAFE_INTEGER)
                .ok_or_else(|| invalid("total power exceeds 2^53-1".into()))?;
        }
        Ok(ValidatorSet { validators })
    }

    /// The validators, sorted by public key.
    pub fn validators(&self) -> &[ValidatorEntry] {
        &self.validators
    }

    /// The sum of all voting power.
    pub fn total_power(&self) -> u64 {
        self.validators.iter().map(|v| v.power).sum()
    }

    /// The entry of `key`, if it is a validator.
    pub fn get(&self, key: &PublicKey) -> Option<&ValidatorEntry> {
        self.validators
            .binary_search_by(|v| v.pubkey.cmp(key))
            .ok()
            .and_then(|i| self.validators.get(i))
    }

    /// `{"pubkey", "power"}` pairs as hashed and as published in receipts.
    pub fn public_list(&self) -> Vec<PowerEntry> {
        self.validators
            .iter()
            .map(|v| PowerEntry {
                pubkey: v.pubkey,
                power: v.power,
            })
            .collect()
    }

    /// `SHA-256("charity-ledger/v1/validators\n" || JCS([{pubkey, power}]))`.
    pub fn hash(&self) -> Result<Hash, EncodeError> {
        let list: Vec<HashedValidator<'_>> = self
            .validators
            .iter()
            .map(|v| HashedValidator {
                pubkey: &v.pubkey,
                power: v.power,
            })
            .collect();
        Ok(tagged_hash(VALIDATORS_DOMAIN, &json::canonical(&list)?))
    }
}

/// A validator as receipts publish it: key and power.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerEntry {
    /// Consensus key.
    pub pubkey: PublicKey,
    /// Voting power.
    pub power: u64,
}

/// Hash of a published `{pubkey, power}` list, sorted by key as the design
/// requires (a list out of order hashes differently and fails to match).
pub fn hash_power_list(list: &[PowerEntry]) -> Result<Hash, EncodeError> {
    Ok(tagged_hash(VALIDATORS_DOMAIN, &json::canonical(list)?))
}
