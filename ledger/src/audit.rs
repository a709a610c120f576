//! Full re-verification of a stored chain from genesis.
//!
//! [`replay`] trusts nothing in the store but the genesis it was created
//! with: it re-executes every block on a fresh state (every signature, rule
//! and allocation), checks every header field and commit certificate
//! against the validator set then in force, and finally compares the state
//! it computed with the state the store holds, key by key. The report names
//! the first height, transaction and field that disagree.

use crate::chain::{self, BlockError};
use crate::kv::{KvRead, MemKv};
use crate::schema;
use crate::store::{Store, StoreError};
use crate::vote::verify_commit;

/// What a successful audit covered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditReport {
    /// Blocks re-verified.
    pub blocks: u64,
    /// Transactions re-verified.
    pub transactions: u64,
    /// State entries compared.
    pub state_entries: u64,
}

/// The first point where the stored chain disagrees with its replay.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A block could not be read.
    #[error("height {height}: cannot read the block: {error}")]
    Unreadable {
        /// Height.
        height: u64,
        /// Why.
        error: StoreError,
    },
    /// A block is invalid on replay (a transaction, a header field, linkage).
    #[error("height {height}: {error}")]
    InvalidBlock {
        /// Height.
        height: u64,
        /// What is wrong.
        error: BlockError,
    },
    /// The stored block hash is not the hash of the replayed header.
    #[error("height {height}: stored block hash {stored}, replayed header hashes to {computed}")]
    HashMismatch {
        /// Height.
        height: u64,
        /// Stored.
        stored: String,
        /// Computed.
        computed: String,
    },
    /// The commit certificate does not prove the block.
    #[error("height {height}: commit certificate: {error}")]
    BadCommit {
        /// Height.
        height: u64,
        /// Why.
        error: String,
    },
    /// The stored state differs from the replayed state.
    #[error("state differs at {key}: stored {stored}, replayed {replayed}")]
    StateMismatch {
        /// The entry, printable.
        key: String,
        /// Stored value (shortened).
        stored: String,
        /// Replayed value (shortened).
        replayed: String,
    },
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AuditError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            AuditError::Unreadable { .. } => "audit_unreadable_block",
            AuditError::InvalidBlock { .. } => "audit_invalid_block",
            AuditError::HashMismatch { .. } => "audit_hash_mismatch",
            AuditError::BadCommit { .. } => "audit_bad_commit",
            AuditError::StateMismatch { .. } => "audit_state_mismatch",
            AuditError::Store(e) => e.code(),
        }
    }
}

fn short(v: Option<&[u8]>) -> String {
    match v {
        None => "nothing".into(),
        Some(b) => {
            let s = String::from_utf8_lossy(b);
            s.chars().take(160).collect()
        }
    }
}

/// Replays `store`'s chain from its genesis and compares everything.
/// `progress(height, tip, transactions)` is called after each block.
pub fn replay(
    store: &Store,
    mut progress: impl FnMut(u64, u64, u64),
) -> Result<AuditReport, AuditError> {
    let (writes, mut tip) = chain::genesis_writes(store.genesis()).map_err(StoreError::from)?;
    let mut state = MemKv::new();
    state.apply(writes);
    let target = store.tip().height;
    let mut transactions = 0u64;
    for height in 1..=target {
        let block = match store.block(height) {
            Ok(Some(b)) => b,
            Ok(None) => {
                return Err(AuditError::Unreadable {
                    height,
                    error: StoreError::NotFound(format!("block {height}")),
                })
            }
            Err(error) => return Err(AuditError::Unreadable { height, error }),
        };
        let effects = chain::execute_block(&state, &tip, &block)
            .map_err(|error| AuditError::InvalidBlock { height, error })?;
        let stored = store
            .block_hash(height)
            .map_err(|error| AuditError::Unreadable { height, error })?;
        if stored != Some(effects.block_hash) {
            return Err(AuditError::HashMismatch {
                height,
                stored: stored.map_or("nothing".into(), |h| h.to_hex()),
                computed: effects.block_hash.to_hex(),
            });
        }
        let commit = store
            .commit_certificate(height)
            .map_err(|error| AuditError::Unreadable { height, error })?;
        verify_commit(
            &tip.chain_id,
            height,
            &effects.block_hash,
            &commit,
            &tip.next_validators,
        )
        .map_err(|e| AuditError::BadCommit {
            height,
            error: e.to_string(),
        })?;
        transactions += block.txs.len() as u64;
        let mut writes = effects.writes;
        writes.push((
            crate::schema::Key::new(schema::COMMIT).u64(height).build(),
            Some(crate::json::canonical(&commit).map_err(StoreError::from)?),
        ));
        state.apply(writes);
        tip = effects.tip;
        progress(height, target, transactions);
    }
    // Every entry of the replayed state must be stored as is, and the store
    // must hold nothing else.
    let stored = store.kv();
    let mut entries = 0u64;
    for (k, v) in state.entries() {
        let s = KvRead::get(stored, k).map_err(StoreError::from)?;
        if s.as_deref() != Some(v.as_slice()) {
            return Err(AuditError::StateMismatch {
                key: schema::describe(k),
                stored: short(s.as_deref()),
                replayed: short(Some(v)),
            });
        }
        entries += 1;
    }
    for r in stored.iter() {
        let (k, v) = r.map_err(StoreError::from)?;
        if KvRead::get(&state, &k).map_err(StoreError::from)?.is_none() {
            return Err(AuditError::StateMismatch {
                key: schema::describe(&k),
                stored: short(Some(&v)),
                replayed: short(None),
            });
        }
    }
    Ok(AuditReport {
        blocks: target,
        transactions,
        state_entries: entries,
    })
}
