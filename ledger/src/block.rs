//! Block headers and blocks (design, "Blocks (wire)").

use serde::{Deserialize, Serialize};

use crate::crypto::{tagged_hash, BLOCK_DOMAIN};
use crate::hex::{Hash, PublicKey};
use crate::json::{self, EncodeError};
use crate::tx::Transaction;

/// The most transactions one block may hold.
pub const MAX_BLOCK_TXS: usize = 10_000;

/// A block header; `block_hash` is the hash of its JCS bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Network.
    pub chain_id: String,
    /// Height, from 1.
    pub height: u64,
    /// Block time (ms), strictly increasing.
    pub time: u64,
    /// Previous block's hash; the genesis hash for height 1.
    pub prev_hash: Hash,
    /// The proposing validator.
    pub proposer: PublicKey,
    /// Transactions in the block.
    pub tx_count: u64,
    /// RFC 6962 root over the block's tx ids.
    pub tx_root: Hash,
    /// Transactions ever committed, including this block's.
    pub log_size: u64,
    /// RFC 6962 root over every tx id ever committed.
    pub log_root: Hash,
    /// Hash of the validator set in force at this height.
    pub validators_hash: Hash,
    /// Reserved for a later state commitment; absent until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_root: Option<Hash>,
}

impl Header {
    /// `SHA-256("charity-ledger/v1/block\n" || JCS(header))`.
    pub fn hash(&self) -> Result<Hash, EncodeError> {
        Ok(tagged_hash(BLOCK_DOMAIN, &json::canonical(self)?))
    }
}

/// A header with its transactions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// The transactions, in order.
    pub txs: Vec<Transaction>,
}

impl Block {
    /// The ids of the block's transactions, in order.
    pub fn tx_ids(&self) -> Vec<Hash> {
        self.txs.iter().map(|t| t.id()).collect()
    }
}
