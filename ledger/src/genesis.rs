//! The genesis file that starts a network (design, "Genesis (wire)").

use serde::{Deserialize, Serialize};

use crate::crypto::{tagged_hash, GENESIS_DOMAIN};
use crate::error::TxError;
use crate::hex::{Hash, PublicKey};
use crate::ids::Region;
use crate::json::{self, DecodeError, EncodeError};
use crate::kinds::ValidatorEntry;
use crate::org_id::OrgId;
use crate::validators::ValidatorSet;

/// The largest genesis file accepted.
pub const MAX_GENESIS_BYTES: usize = 1024 * 1024;

/// A regulator admitted at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisRegulator {
    /// Credit code.
    pub org_id: OrgId,
    /// Name.
    pub name: String,
    /// Administrative division.
    pub region: Region,
    /// Signing keys.
    pub keys: Vec<PublicKey>,
}

/// The genesis document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// Network name.
    pub chain_id: String,
    /// Currency of all amounts (`CNY`).
    pub currency: String,
    /// Start time (ms); block 1's time must be later.
    pub genesis_time: u64,
    /// The first regulators.
    pub regulators: Vec<GenesisRegulator>,
    /// The first validators.
    pub validators: Vec<ValidatorEntry>,
}

/// Why a genesis document is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// Malformed.
    #[error("genesis: {0}")]
    Decode(#[from] DecodeError),
    /// Encoding failed.
    #[error("genesis: {0}")]
    Encode(#[from] EncodeError),
    /// Inconsistent content.
    #[error("genesis: {0}")]
    Invalid(String),
    /// Bad validator set.
    #[error("genesis: {0}")]
    Validators(#[from] TxError),
}

impl Genesis {
    /// Parses and checks a genesis file.
    pub fn decode(bytes: &[u8]) -> Result<Self, GenesisError> {
        let g: Genesis = json::from_slice(bytes, MAX_GENESIS_BYTES)?;
        g.check()?;
        Ok(g)
    }

    /// Checks the document is usable: a chain id, at least one regulator
    /// with keys, and a validator set that can run consensus. Validators may
    /// belong to organisations registered later (a charity running a
    /// validator from the start is registered in the first blocks).
    pub fn check(&self) -> Result<(), GenesisError> {
        if self.chain_id.is_empty() || self.chain_id.len() > 64 {
            return Err(GenesisError::Invalid(
                "chain_id must have 1 to 64 bytes".into(),
            ));
        }
        if self.regulators.is_empty() {
            return Err(GenesisError::Invalid(
                "at least one regulator is needed".into(),
            ));
        }
        let mut keys = std::collections::BTreeSet::new();
        let mut orgs = std::collections::BTreeSet::new();
        for r in &self.regulators {
            if !orgs.insert(&r.org_id) {
                return Err(GenesisError::Invalid(format!(
                    "regulator {} is listed twice",
                    r.org_id
                )));
            }
            if r.keys.is_empty() {
                return Err(GenesisError::Invalid(format!(
                    "regulator {} has no keys",
                    r.org_id
                )));
            }
            for k in &r.keys {
                if !keys.insert(*k) {
                    return Err(GenesisError::Invalid(format!("key {k} is listed twice")));
                }
            }
        }
        ValidatorSet::new(self.validators.clone())?;
        Ok(())
    }

    /// The first validator set.
    pub fn validator_set(&self) -> Result<ValidatorSet, GenesisError> {
        Ok(ValidatorSet::new(self.validators.clone())?)
    }

    /// `SHA-256("charity-ledger/v1/genesis\n" || JCS(genesis))`: block 1's
    /// `prev_hash`, and what a verifier pins.
    pub fn hash(&self) -> Result<Hash, EncodeError> {
        Ok(tagged_hash(GENESIS_DOMAIN, &json::canonical(self)?))
    }
}
