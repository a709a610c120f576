//! Full re-verification of a stored chain from genesis.
//!
//! [`replay`] trusts nothing in the store but the genesis it was created
//! with: it re-executes every block on a fresh state (every signature, rule
//! and allocation), checks every header field and commit certificate
//! against the validator set then in force, and finally compares the state
//! it computed with the state the store holds, key by key. The report names
//! the first height, transaction and field that disagree.

use crate::block::Block;
use crate::chain::{self, BlockError};
use crate::genesis::Genesis;
use crate::hex::Hash;
use crate::kv::MemKv;
use crate::schema;
use crate::store::{Store, StoreError};
use crate::vote::{verify_commit, CommitCertificate};

/// Where an audit reads a chain from: a node's own store, or a node's API
/// that the auditor does not trust. Everything it returns is re-verified.
pub trait ChainSource {
    /// Why a read failed.
    type Error: std::fmt::Display;
    /// The height the source claims to have.
    fn height(&self) -> Result<u64, Self::Error>;
    /// Block `height`: header and transactions in order.
    fn block(&self, height: u64) -> Result<Block, Self::Error>;
    /// The hash the source claims for block `height`.
    fn block_hash(&self, height: u64) -> Result<Hash, Self::Error>;
    /// Block `height`'s commit certificate.
    fn commit(&self, height: u64) -> Result<CommitCertificate, Self::Error>;
}

impl ChainSource for Store {
    type Error = StoreError;
    fn height(&self) -> Result<u64, StoreError> {
        Ok(self.tip().height)
    }
    fn block(&self, height: u64) -> Result<Block, StoreError> {
        Store::block(self, height)?.ok_or_else(|| StoreError::NotFound(format!("block {height}")))
    }
    fn block_hash(&self, height: u64) -> Result<Hash, StoreError> {
        Store::block_hash(self, height)?
            .ok_or_else(|| StoreError::NotFound(format!("block hash {height}")))
    }
    fn commit(&self, height: u64) -> Result<CommitCertificate, StoreError> {
        self.commit_certificate(height)
    }
}

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
        error: String,
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

/// A replay in progress: the state and tip computed so far from genesis.
pub struct Replay {
    state: MemKv,
    tip: crate::records::ChainTip,
    /// Blocks replayed.
    pub blocks: u64,
    /// Transactions replayed.
    pub transactions: u64,
}

impl Replay {
    /// The state right after `genesis`.
    pub fn new(genesis: &Genesis) -> Result<Self, AuditError> {
        let (writes, tip) = chain::genesis_writes(genesis).map_err(StoreError::from)?;
        let mut state = MemKv::new();
        state.apply(writes);
        Ok(Replay {
            state,
            tip,
            blocks: 0,
            transactions: 0,
        })
    }

    /// The height replayed so far.
    pub fn height(&self) -> u64 {
        self.tip.height
    }

    /// The replayed state.
    pub fn state(&self) -> &MemKv {
        &self.state
    }

    /// Re-executes the next block and checks the hash the source claims
    /// for it and its commit certificate against the validators in force.
    pub fn apply(
        &mut self,
        block: &Block,
        claimed_hash: &Hash,
        commit: &CommitCertificate,
    ) -> Result<(), AuditError> {
        let height = self.tip.height + 1;
        let effects =
            chain::execute_block_with(&self.state, &self.tip, block, chain::Signatures::Batched)
                .map_err(|error| AuditError::InvalidBlock { height, error })?;
        if *claimed_hash != effects.block_hash {
            return Err(AuditError::HashMismatch {
                height,
                stored: claimed_hash.to_hex(),
                computed: effects.block_hash.to_hex(),
            });
        }
        verify_commit(
            &self.tip.chain_id,
            height,
            &effects.block_hash,
            commit,
            &self.tip.next_validators,
        )
        .map_err(|e| AuditError::BadCommit {
            height,
            error: e.to_string(),
        })?;
        self.transactions += block.txs.len() as u64;
        self.blocks += 1;
        let mut writes = effects.writes;
        writes.push((
            crate::schema::Key::new(schema::COMMIT).u64(height).build(),
            Some(crate::json::canonical(commit).map_err(StoreError::from)?),
        ));
        self.state.apply(writes);
        self.tip = effects.tip;
        Ok(())
    }

    /// Reads and replays blocks from `source` up to `target`. A reader
    /// thread fetches and decodes the next blocks while this one executes.
    pub fn run<S: ChainSource + Sync>(
        &mut self,
        source: &S,
        target: u64,
        mut progress: impl FnMut(u64, u64, u64),
    ) -> Result<(), AuditError> {
        /// Blocks read ahead of the one executing, at most.
        const AHEAD: usize = 4;
        let first = self.tip.height + 1;
        if first > target {
            return Ok(());
        }
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel(AHEAD);
            scope.spawn(move || {
                for height in first..=target {
                    let read = (|| {
                        Ok((
                            source.block(height)?,
                            source.block_hash(height)?,
                            source.commit(height)?,
                        ))
                    })();
                    let read = read.map_err(|e: S::Error| AuditError::Unreadable {
                        height,
                        error: e.to_string(),
                    });
                    let failed = read.is_err();
                    // The executing side hung up: it found a fault.
                    if tx.send(read).is_err() || failed {
                        return;
                    }
                }
            });
            for height in first..=target {
                let (block, hash, commit) = rx.recv().map_err(|_| AuditError::Unreadable {
                    height,
                    error: "the reader stopped".into(),
                })??;
                self.apply(&block, &hash, &commit)?;
                progress(height, target, self.transactions);
            }
            Ok(())
        })
    }
}

/// Replays a chain from `genesis`, block by block from `source`, up to the
/// height the source claims; returns what it covered and the state it
/// computed. `progress(height, tip, transactions)` is called after each
/// block.
pub fn replay_source<S: ChainSource + Sync>(
    genesis: &Genesis,
    source: &S,
    progress: impl FnMut(u64, u64, u64),
) -> Result<(AuditReport, MemKv), AuditError> {
    let target = source.height().map_err(|e| AuditError::Unreadable {
        height: 0,
        error: e.to_string(),
    })?;
    let mut r = Replay::new(genesis)?;
    r.run(source, target, progress)?;
    Ok((
        AuditReport {
            blocks: r.blocks,
            transactions: r.transactions,
            state_entries: 0,
        },
        r.state,
    ))
}

/// Replays `store`'s chain from its genesis and compares everything,
/// including every entry of the stored state.
pub fn replay(
    store: &Store,
    progress: impl FnMut(u64, u64, u64),
) -> Result<AuditReport, AuditError> {
    let (report, state) = replay_source(store.genesis(), store, progress)?;
    let AuditReport {
        blocks,
        transactions,
        ..
    } = report;
    // Every entry of the replayed state must be stored as is, and the store
    // must hold nothing else: both are walked once, in key order, and the
    // first key where they differ is reported.
    let mut mine = state.entries().peekable();
    let mut entries = 0u64;
    for r in store.kv().iter() {
        let (k, v) = r.map_err(|e| StoreError::from(crate::kv::KvError::Io(e.to_string())))?;
        match mine.peek() {
            Some((mk, mv)) if mk.as_slice() < &k[..] => {
                return Err(AuditError::StateMismatch {
                    key: schema::describe(mk),
                    stored: short(None),
                    replayed: short(Some(mv)),
                })
            }
            Some((mk, mv)) if mk.as_slice() == &k[..] => {
                if mv.as_slice() != &v[..] {
                    return Err(AuditError::StateMismatch {
                        key: schema::describe(mk),
                        stored: short(Some(&v)),
                        replayed: short(Some(mv)),
                    });
                }
                mine.next();
                entries += 1;
            }
            _ => {
                return Err(AuditError::StateMismatch {
                    key: schema::describe(&k),
                    stored: short(Some(&v)),
                    replayed: short(None),
                })
            }
        }
    }
    if let Some((mk, mv)) = mine.next() {
        return Err(AuditError::StateMismatch {
            key: schema::describe(mk),
            stored: short(None),
            replayed: short(Some(mv)),
        });
    }
    Ok(AuditReport {
        blocks,
        transactions,
        state_entries: entries,
    })
}
