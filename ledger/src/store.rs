//! The block store on sled: blocks, commit certificates, transactions,
//! state and indexes in one ordered keyspace.
//!
//! One block's writes go in one sled batch, flushed before [`Store::commit`]
//! returns, so a crash leaves either the whole block or none of it. Opening
//! a store re-checks every stored block against its hashes and refuses a
//! store that disagrees, naming the height and the hashes.

use std::path::Path;

use rayon::prelude::*;

use crate::block::{Block, Header};
use crate::chain::{self, BlockEffects, BlockError};
use crate::crypto::{tagged_hash, BLOCK_DOMAIN};
use crate::genesis::{Genesis, GenesisError};
use crate::hex::Hash;
use crate::json::{self, EncodeError};
use crate::kv::{Entry, KvError, KvRead, Write};
use crate::merkle::{self, Frontier, NodeSource};
use crate::overlay::{decode_record, encode_record};
use crate::receipt::Receipt;
use crate::records::{ChainTip, CommittedTx, TxLocation};
use crate::schema::{self, Key};
use crate::tx::Transaction;
use crate::validators::ValidatorSet;
use crate::vote::{verify_commit, CommitCertificate, CommitError};

/// Why the store cannot do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed.
    #[error("storage I/O: {0}")]
    Io(#[from] sled::Error),
    /// A read failed.
    #[error(transparent)]
    Kv(#[from] KvError),
    /// The store has no genesis.
    #[error("the store at {0} has no chain; initialise it with a genesis file")]
    NotInitialised(String),
    /// The store belongs to another network.
    #[error("the store holds genesis {stored}, not the given genesis {given}")]
    GenesisMismatch {
        /// Stored genesis hash.
        stored: Hash,
        /// Given genesis hash.
        given: Hash,
    },
    /// The stored data disagrees with its hashes.
    #[error("store is corrupt at height {height}: {what}: stored {stored}, computed {computed}")]
    Corrupt {
        /// The height where it disagrees.
        height: u64,
        /// What disagrees.
        what: String,
        /// The stored value.
        stored: String,
        /// The value computed from the data.
        computed: String,
    },
    /// A block does not follow the tip.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// A commit does not prove the block.
    #[error("commit for height {height} does not verify: {error}")]
    Commit {
        /// Height.
        height: u64,
        /// Why.
        error: CommitError,
    },
    /// Genesis is unusable.
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    /// Encoding failed.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// Not found.
    #[error("{0} not found")]
    NotFound(String),
    /// A request outside what exists.
    #[error("{0}")]
    BadRequest(String),
    /// The store's files are damaged (truncated, overwritten) beyond what
    /// sled's recovery can read.
    #[error("the store at {path} is damaged and cannot be opened ({reason}); restore it from a backup, or start the node on an empty store to sync the chain from its peers")]
    Damaged {
        /// The store's directory.
        path: String,
        /// What sled's recovery ran into.
        reason: String,
    },
}

impl StoreError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Io(_) => "storage_io",
            StoreError::Kv(e) => e.code(),
            StoreError::NotInitialised(_) => "not_initialised",
            StoreError::GenesisMismatch { .. } => "genesis_mismatch",
            StoreError::Corrupt { .. } => "store_corrupt",
            StoreError::Block(e) => e.code(),
            StoreError::Commit { error, .. } => error.code(),
            StoreError::Genesis(_) => "invalid_genesis",
            StoreError::Encode(_) => "encoding_failed",
            StoreError::NotFound(_) => "not_found",
            StoreError::BadRequest(_) => "bad_request",
            StoreError::Damaged { .. } => "store_damaged",
        }
    }
}

fn io(e: sled::Error) -> KvError {
    KvError::Io(e.to_string())
}

impl KvRead for sled::Tree {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        sled::Tree::get(self, key)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(io)
    }
    fn contains(&self, key: &[u8]) -> Result<bool, KvError> {
        sled::Tree::contains_key(self, key).map_err(io)
    }
    fn first_in(&self, start: &[u8], end: &[u8]) -> Result<Option<Entry>, KvError> {
        if start >= end {
            return Ok(None);
        }
        match self.range(start..end).next() {
            None => Ok(None),
            Some(r) => r.map(|(k, v)| Some((k.to_vec(), v.to_vec()))).map_err(io),
        }
    }
    fn last_in(&self, start: &[u8], end: &[u8]) -> Result<Option<Entry>, KvError> {
        if start >= end {
            return Ok(None);
        }
        match self.range(start..end).next_back() {
            None => Ok(None),
            Some(r) => r.map(|(k, v)| Some((k.to_vec(), v.to_vec()))).map_err(io),
        }
    }
    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Entry>, KvError> {
        if start >= end {
            return Ok(Vec::new());
        }
        self.range(start..end)
            .take(limit)
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(io))
            .collect()
    }
}

/// Reads stored RFC 6962 nodes for proofs.
struct LogNodes<'a>(&'a sled::Tree);

impl NodeSource for LogNodes<'_> {
    type Error = KvError;
    fn node(&self, level: u8, index: u64) -> Result<[u8; 32], KvError> {
        let missing = |reason: &str| KvError::Corrupt {
            key: format!("log node {level}/{index}"),
            reason: reason.into(),
        };
        // The node is completed by the block holding its last leaf: the
        // entry with the greatest first leaf at or below that leaf.
        let last = index
            .checked_add(1)
            .and_then(|n| n.checked_shl(u32::from(level)))
            .and_then(|n| n.checked_sub(1))
            .ok_or_else(|| missing("index out of range"))?;
        let start = Key::new(schema::LOG_NODES).build();
        let end = Key::new(schema::LOG_NODES)
            .u64(last.saturating_add(1))
            .build();
        let (_, nodes) = self
            .0
            .last_in(&start, &end)?
            .ok_or_else(|| missing("no block holds it"))?;
        chain::find_log_node(&nodes, level, index).ok_or_else(|| missing("missing"))
    }
}

/// How long opening waits for a store that is still being closed.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Decodes the transaction in the stored record of transaction `id` (its
/// `TX` entry). The location in front of it is skipped, not decoded: it is
/// checked where it is read ([`CommittedTx::decode`]), and an audit
/// compares the whole record with the one it replays.
pub(crate) fn decode_tx(id: &Hash, stored: &[u8]) -> Result<Transaction, StoreError> {
    CommittedTx::location_part(stored)
        .and_then(|location| stored.get(location.len()..))
        .ok_or_else(|| "truncated location".to_string())
        .and_then(|tx| Transaction::from_stored_with_id(tx, id).map_err(|e| e.to_string()))
        .map_err(|reason| {
            StoreError::Kv(KvError::Corrupt {
                key: format!("transaction {id}"),
                reason,
            })
        })
}

/// Opens the sled database under `path`, without sled's periodic flusher
/// (every commit flushes explicitly).
///
/// sled releases its file lock only when its background I/O threads have
/// let go of a store that was just dropped, which can take a moment after
/// the drop returns. Opening therefore waits, for at most five seconds, for
/// a lock held by a store that is closing; a store held open by another
/// process is still refused with sled's error after that.
pub fn open_db(path: &Path) -> Result<sled::Db, StoreError> {
    open_db_with_cache(path, NODE_CACHE)
}

/// sled's page cache for a running node: sled's own default, 1 GiB.
const NODE_CACHE: u64 = 1 << 30;

/// sled's page cache for an audit, which reads every entry about once and
/// in order (see `audit::BlockReader`): the same as a running node's.
/// Leaves are read once either way; a cache that keeps the tree's inner
/// nodes and the leaves the parallel comparison walks side by side saves
/// re-reading them, and a larger one evicts (and frees) less. On the audit
/// benchmark's chain of a million transactions, 256 MiB instead of 64 MiB
/// took the state comparison from 4.5-4.8 s to 4.1-4.4 s for 80-170 MB
/// more at the peak; with mimalloc kept off transparent huge pages, 1 GiB
/// instead of 256 MiB took it from 4.8-5.5 s to 4.2-4.9 s (paired runs,
/// the same hour) for about 600 MB more (2.2 GB -> 2.8 GB at the peak).
const AUDIT_CACHE: u64 = NODE_CACHE;

fn open_db_with_cache(path: &Path, cache_bytes: u64) -> Result<sled::Db, StoreError> {
    let started = std::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(5);
    loop {
        let config = sled::Config::new()
            .path(path)
            .flush_every_ms(None)
            .cache_capacity(cache_bytes);
        match recovering(path, || config.open())? {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && started.elapsed() < LOCK_WAIT =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(200));
            }
            other => return Ok(other?),
        }
    }
}

thread_local! {
    /// Set while this thread runs sled's recovery in [`recovering`]: a
    /// panic then is the store's damage, reported as an error, not printed.
    static RECOVERING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `open` (sled's open, which reads and recovers the store's log).
/// sled 0.34 panics on some damaged files (a log truncated mid-segment
/// indexes past its end) rather than returning an error: that panic is
/// caught and becomes [`StoreError::Damaged`], so that a damaged store is
/// a clear error with a code, never a crash with a backtrace.
fn recovering<T>(path: &Path, open: impl FnOnce() -> T) -> Result<T, StoreError> {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !RECOVERING.with(|r| r.get()) {
                previous(info);
            }
        }));
    });
    RECOVERING.with(|r| r.set(true));
    let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(open));
    RECOVERING.with(|r| r.set(false));
    opened.map_err(|payload| {
        let reason = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "its recovery failed".into());
        StoreError::Damaged {
            path: path.display().to_string(),
            reason: format!("sled's recovery failed: {reason}"),
        }
    })
}

/// A chain's blocks, state and indexes on disk.
pub struct Store {
    db: sled::Db,
    tree: sled::Tree,
    genesis: Genesis,
    tip: ChainTip,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Store(chain {}, height {})",
            self.tip.chain_id, self.tip.height
        )
    }
}

fn corrupt(
    height: u64,
    what: impl Into<String>,
    stored: impl Into<String>,
    computed: impl Into<String>,
) -> StoreError {
    StoreError::Corrupt {
        height,
        what: what.into(),
        stored: stored.into(),
        computed: computed.into(),
    }
}

/// A database whose files sled opened but in which it found no chain (or
/// a genesis without a tip).
fn recovered_no_chain(path: &Path) -> StoreError {
    StoreError::Damaged {
        path: path.display().to_string(),
        reason: "sled's recovery read no chain from its files".into(),
    }
}

impl Store {
    /// Opens the store at `path`, creating it from `genesis` if it is new.
    /// An existing store must hold the same genesis, and is verified.
    ///
    /// A store is new when `path` holds no database file. A database from
    /// whose files sled's recovery reads no chain is damaged, not new: it
    /// is refused and left as it is, never written over with a fresh chain
    /// (the operator decides whether to restore it or to sync anew).
    pub fn open_or_init(path: &Path, genesis: &Genesis) -> Result<Self, StoreError> {
        let new = !path.join("db").is_file();
        let db = open_db(path)?;
        let tree = db.open_tree("chain")?;
        let given = genesis.hash()?;
        if new {
            let (writes, _) = chain::genesis_writes(genesis)?;
            Self::write(&db, &tree, writes)?;
        }
        let store = Self::load(db, tree, path)?;
        let stored = store.genesis.hash()?;
        if stored != given {
            return Err(StoreError::GenesisMismatch { stored, given });
        }
        Ok(store)
    }

    /// Opens an existing store and verifies it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let store = Self::open_with_cache(path, NODE_CACHE)?;
        store.verify()?;
        Ok(store)
    }

    /// Opens an existing store without [`Store::verify`]'s pass over every
    /// block: for [`crate::audit::replay`], which re-verifies all of it and
    /// more, and names the first fault more precisely. Anything else should
    /// use [`Store::open`]. Its page cache is sized for a replay's one pass
    /// in order, not for a node's random reads.
    pub fn open_unverified(path: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(path, AUDIT_CACHE)
    }

    fn open_with_cache(path: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        // No database file: not a store (and none is created here).
        if !path.join("db").is_file() {
            return Err(StoreError::NotInitialised(path.display().to_string()));
        }
        let db = open_db_with_cache(path, cache_bytes)?;
        let tree = db.open_tree("chain")?;
        Self::read(db, tree, path)
    }

    fn load(db: sled::Db, tree: sled::Tree, path: &Path) -> Result<Self, StoreError> {
        let store = Self::read(db, tree, path)?;
        store.verify()?;
        Ok(store)
    }

    /// The store's genesis and tip, unverified. A store is created with
    /// both in its first write, so a database without them lost even that:
    /// its log was cut or overwritten before it, and sled recovered an
    /// empty tree.
    fn read(db: sled::Db, tree: sled::Tree, path: &Path) -> Result<Self, StoreError> {
        let Some(g) = KvRead::get(&tree, schema::META_GENESIS)? else {
            return Err(recovered_no_chain(path));
        };
        let genesis = Genesis::decode(&g)?;
        let tip = chain::read_tip(&tree)?.ok_or_else(|| recovered_no_chain(path))?;
        Ok(Store {
            db,
            tree,
            genesis,
            tip,
        })
    }

    fn write(db: &sled::Db, tree: &sled::Tree, writes: Vec<Write>) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (k, v) in writes {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        tree.apply_batch(batch)?;
        db.flush()?;
        Ok(())
    }

    /// Re-checks every stored block: each header's bytes hash to the stored
    /// block hash and link to the previous one, the tx ids hash to
    /// `tx_root` and extend the log to `log_root`, each transaction's bytes
    /// hash to its id, each commit verifies against the validators then in
    /// force, and the tip agrees with the last block.
    pub fn verify(&self) -> Result<(), StoreError> {
        let mut prev = self.genesis.hash()?;
        let mut log = Frontier::default();
        let mut prev_time = self.genesis.genesis_time;
        for height in 1..=self.tip.height {
            let (header, hash) = self.verified_header(height)?;
            if header.prev_hash != prev {
                return Err(corrupt(
                    height,
                    "prev_hash",
                    header.prev_hash.to_hex(),
                    prev.to_hex(),
                ));
            }
            if header.time <= prev_time {
                return Err(corrupt(
                    height,
                    "time",
                    header.time.to_string(),
                    format!("> {prev_time}"),
                ));
            }
            let ids = self.block_tx_ids(height)?;
            if ids.len() as u64 != header.tx_count {
                return Err(corrupt(
                    height,
                    "tx_count",
                    header.tx_count.to_string(),
                    ids.len().to_string(),
                ));
            }
            let raw: Vec<[u8; 32]> = ids.iter().map(|h| h.0).collect();
            let root = Hash::from(merkle::root(&raw));
            if root != header.tx_root {
                return Err(corrupt(
                    height,
                    "tx_root",
                    header.tx_root.to_hex(),
                    root.to_hex(),
                ));
            }
            let first_leaf = log.size();
            let mut nodes = Vec::new();
            for id in &raw {
                nodes.extend(log.append(id));
            }
            if !nodes.is_empty() {
                let key = Key::new(schema::LOG_NODES).u64(first_leaf).build();
                let stored = KvRead::get(&self.tree, &key)?.unwrap_or_default();
                if stored != chain::encode_log_nodes(nodes) {
                    return Err(corrupt(
                        height,
                        "log nodes",
                        format!("{} bytes", stored.len()),
                        "the nodes of the block's tx ids",
                    ));
                }
            }
            let log_root = Hash::from(log.root());
            if log.size() != header.log_size || log_root != header.log_root {
                return Err(corrupt(
                    height,
                    "log_root",
                    format!("{} at {}", header.log_root, header.log_size),
                    format!("{} at {}", log_root, log.size()),
                ));
            }
            let bad = ids
                .par_iter()
                .map(|id| -> Result<Option<(Hash, String)>, KvError> {
                    let key = Key::new(schema::TX).hash(id).build();
                    Ok(match KvRead::get(&self.tree, &key)? {
                        None => Some((*id, "missing".into())),
                        Some(b) => match CommittedTx::decode(&b)
                            .ok()
                            .filter(|c| c.location.height == height)
                            .and_then(|c| Transaction::stored_id(c.stored))
                        {
                            Some(h) if h == *id => None,
                            Some(h) => Some((*id, h.to_hex())),
                            None => Some((*id, "undecodable".into())),
                        },
                    })
                })
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .flatten()
                .next();
            if let Some((id, computed)) = bad {
                return Err(corrupt(
                    height,
                    format!("transaction {id}"),
                    id.to_hex(),
                    computed,
                ));
            }
            let commit = self.commit_certificate(height)?;
            let set = self.validators_at(height)?;
            verify_commit(&header.chain_id, height, &hash, &commit, &set)
                .map_err(|e| corrupt(height, "commit certificate", hash.to_hex(), e.to_string()))?;
            prev = hash;
            prev_time = header.time;
        }
        if self.tip.block_hash != prev || self.tip.log != log {
            return Err(corrupt(
                self.tip.height,
                "tip",
                self.tip.block_hash.to_hex(),
                prev.to_hex(),
            ));
        }
        Ok(())
    }

    /// The header at `height`, checked against the stored block hash.
    fn verified_header(&self, height: u64) -> Result<(Header, Hash), StoreError> {
        let bytes = KvRead::get(&self.tree, &Key::new(schema::HEADER).u64(height).build())?
            .ok_or_else(|| corrupt(height, "header", "missing", "-"))?;
        let stored = KvRead::get(
            &self.tree,
            &Key::new(schema::BLOCK_HASH).u64(height).build(),
        )?
        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .map(Hash::from)
        .ok_or_else(|| corrupt(height, "block hash", "missing", "-"))?;
        let computed = tagged_hash(BLOCK_DOMAIN, &bytes);
        if computed != stored {
            return Err(corrupt(
                height,
                "block hash",
                stored.to_hex(),
                computed.to_hex(),
            ));
        }
        let header: Header = json::from_slice(&bytes, 64 * 1024)
            .map_err(|e| corrupt(height, "header", stored.to_hex(), e.to_string()))?;
        if header.height != height {
            return Err(corrupt(
                height,
                "header height",
                header.height.to_string(),
                height.to_string(),
            ));
        }
        Ok((header, stored))
    }

    /// The genesis document.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The tip.
    pub fn tip(&self) -> &ChainTip {
        &self.tip
    }

    /// The committed state, for reads and for executing the next block.
    pub fn kv(&self) -> &sled::Tree {
        &self.tree
    }

    /// Executes `block` against the tip (every rule), checks `commit`
    /// against the validators in force, and commits it.
    pub fn apply_block(
        &mut self,
        block: &Block,
        commit: &CommitCertificate,
    ) -> Result<Hash, StoreError> {
        let effects = chain::execute_block(&self.tree, &self.tip, block)?;
        verify_commit(
            &effects.header.chain_id,
            effects.header.height,
            &effects.block_hash,
            commit,
            &self.tip.next_validators,
        )
        .map_err(|error| StoreError::Commit {
            height: effects.header.height,
            error,
        })?;
        let hash = effects.block_hash;
        self.commit(effects, commit)?;
        Ok(hash)
    }

    /// Commits an executed block with its certificate: one atomic batch,
    /// flushed before returning. The caller has checked the certificate.
    pub fn commit(
        &mut self,
        effects: BlockEffects,
        commit: &CommitCertificate,
    ) -> Result<(), StoreError> {
        if effects.header.height != self.tip.height + 1
            || effects.header.prev_hash != self.tip.block_hash
        {
            return Err(StoreError::Block(BlockError::WrongHeight {
                expected: self.tip.height + 1,
                got: effects.header.height,
            }));
        }
        let mut writes = effects.writes;
        writes.push((
            Key::new(schema::COMMIT).u64(effects.header.height).build(),
            Some(json::canonical(commit)?),
        ));
        Self::write(&self.db, &self.tree, writes)?;
        self.tip = effects.tip;
        Ok(())
    }

    /// The header at `height`.
    pub fn header(&self, height: u64) -> Result<Option<Header>, StoreError> {
        let key = Key::new(schema::HEADER).u64(height).build();
        match KvRead::get(&self.tree, &key)? {
            None => Ok(None),
            Some(b) => Ok(Some(json::from_slice(&b, 64 * 1024).map_err(|e| {
                KvError::Corrupt {
                    key: format!("header {height}"),
                    reason: e.to_string(),
                }
            })?)),
        }
    }

    /// The block hash at `height`.
    pub fn block_hash(&self, height: u64) -> Result<Option<Hash>, StoreError> {
        let key = Key::new(schema::BLOCK_HASH).u64(height).build();
        Ok(KvRead::get(&self.tree, &key)?
            .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
            .map(Hash::from))
    }

    /// The commit certificate of `height`.
    pub fn commit_certificate(&self, height: u64) -> Result<CommitCertificate, StoreError> {
        let key = Key::new(schema::COMMIT).u64(height).build();
        let b = KvRead::get(&self.tree, &key)?
            .ok_or_else(|| StoreError::NotFound(format!("commit of block {height}")))?;
        json::from_slice(&b, 1024 * 1024).map_err(|e| {
            StoreError::Kv(KvError::Corrupt {
                key: format!("commit {height}"),
                reason: e.to_string(),
            })
        })
    }

    /// The tx ids of block `height`, in order.
    pub fn block_tx_ids(&self, height: u64) -> Result<Vec<Hash>, StoreError> {
        let key = Key::new(schema::BLOCK_TXS).u64(height).build();
        let b = KvRead::get(&self.tree, &key)?
            .ok_or_else(|| StoreError::NotFound(format!("block {height}")))?;
        if b.len() % 32 != 0 {
            return Err(corrupt(
                height,
                "tx id list",
                format!("{} bytes", b.len()),
                "a multiple of 32",
            ));
        }
        Ok(b.chunks_exact(32)
            .filter_map(|c| <[u8; 32]>::try_from(c).ok())
            .map(Hash::from)
            .collect())
    }

    /// The whole block at `height`.
    pub fn block(&self, height: u64) -> Result<Option<Block>, StoreError> {
        let Some(header) = self.header(height)? else {
            return Ok(None);
        };
        let txs = self
            .block_tx_ids(height)?
            .iter()
            .map(|id| {
                self.tx(id)?
                    .ok_or_else(|| StoreError::NotFound(format!("transaction {id}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Block { header, txs }))
    }

    /// A committed transaction.
    pub fn tx(&self, id: &Hash) -> Result<Option<Transaction>, StoreError> {
        let key = Key::new(schema::TX).hash(id).build();
        match KvRead::get(&self.tree, &key)? {
            None => Ok(None),
            Some(b) => decode_tx(id, &b).map(Some),
        }
    }

    /// Where a transaction was committed.
    pub fn tx_location(&self, id: &Hash) -> Result<Option<TxLocation>, StoreError> {
        let key = Key::new(schema::TX).hash(id).build();
        match KvRead::get(&self.tree, &key)? {
            None => Ok(None),
            Some(b) => CommittedTx::decode(&b)
                .map(|c| Some(c.location))
                .map_err(|reason| {
                    StoreError::Kv(KvError::Corrupt {
                        key: format!("transaction {id}"),
                        reason,
                    })
                }),
        }
    }

    /// The validator set in force at `height`.
    pub fn validators_at(&self, height: u64) -> Result<ValidatorSet, StoreError> {
        let start = Key::new(schema::VALIDATORS).build();
        let end = Key::new(schema::VALIDATORS)
            .u64(height.saturating_add(1))
            .build();
        let (k, v) = self
            .tree
            .last_in(&start, &end)?
            .ok_or_else(|| StoreError::NotFound(format!("validator set at height {height}")))?;
        Ok(decode_record(&k, &v)?)
    }

    /// Every validator set the chain has had, oldest first: the height it
    /// applies from, the set, and the `set_validators` transaction that
    /// made it (none for genesis's).
    pub fn validator_history(&self) -> Result<Vec<(u64, ValidatorSet, Option<Hash>)>, StoreError> {
        let start = Key::new(schema::VALIDATORS).build();
        let end = Key::new(schema::VALIDATORS).u64(u64::MAX).build();
        let mut out = Vec::new();
        for r in self.tree.range(start..end) {
            let (k, v) = r?;
            let from = k
                .get(1..9)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| {
                    StoreError::NotFound("a validator-set key without a height".into())
                })?;
            let set: ValidatorSet = decode_record(&k, &v)?;
            let mut tx = None;
            if from > 1 {
                for id in self.block_tx_ids(from - 1)? {
                    if let Some(t) = self.tx(&id)? {
                        if matches!(t.kind(), crate::tx::TxKind::SetValidators(_)) {
                            tx = Some(id);
                        }
                    }
                }
            }
            out.push((from, set, tx));
        }
        Ok(out)
    }

    /// A receipt for a committed transaction (design, "Receipts and proofs").
    pub fn receipt(&self, id: &Hash) -> Result<Receipt, StoreError> {
        let loc = self
            .tx_location(id)?
            .ok_or_else(|| StoreError::NotFound(format!("transaction {id}")))?;
        let tx = self
            .tx(id)?
            .ok_or_else(|| StoreError::NotFound(format!("transaction {id}")))?;
        let header = self
            .header(loc.height)?
            .ok_or_else(|| StoreError::NotFound(format!("block {}", loc.height)))?;
        let mut tree = merkle::MemoryTree::new();
        for h in self.block_tx_ids(loc.height)? {
            tree.push(&h.0);
        }
        let inclusion = merkle::inclusion_proof(&tree, u64::from(loc.index), header.tx_count)
            .map_err(|e| corrupt(loc.height, "inclusion proof", id.to_hex(), e.to_string()))?
            .into_iter()
            .map(Hash::from)
            .collect();
        Ok(Receipt {
            tx,
            tx_id: *id,
            height: loc.height,
            index: u64::from(loc.index),
            header,
            inclusion,
            commit: self.commit_certificate(loc.height)?,
            validators: self.validators_at(loc.height)?.public_list(),
        })
    }

    /// An RFC 6962 inclusion proof of `id` in the log of size `size`:
    /// the leaf index and the path.
    pub fn log_inclusion(&self, id: &Hash, size: u64) -> Result<(u64, Vec<Hash>), StoreError> {
        let loc = self
            .tx_location(id)?
            .ok_or_else(|| StoreError::NotFound(format!("transaction {id}")))?;
        if size > self.tip.log.size() {
            return Err(StoreError::BadRequest(format!(
                "log size {size} is beyond the current size {}",
                self.tip.log.size()
            )));
        }
        // The leaf index: transactions before this block, plus the position.
        let before = match loc.height {
            1 => 0,
            h => self
                .header(h - 1)?
                .map(|x| x.log_size)
                .ok_or_else(|| StoreError::NotFound(format!("block {}", h - 1)))?,
        };
        let index = before + u64::from(loc.index);
        let proof = merkle::inclusion_proof(&LogNodes(&self.tree), index, size)
            .map_err(|e| StoreError::BadRequest(e.to_string()))?;
        Ok((index, proof.into_iter().map(Hash::from).collect()))
    }

    /// An RFC 6962 consistency proof between log sizes `from` and `to`.
    pub fn log_consistency(&self, from: u64, to: u64) -> Result<Vec<Hash>, StoreError> {
        if to > self.tip.log.size() {
            return Err(StoreError::BadRequest(format!(
                "log size {to} is beyond the current size {}",
                self.tip.log.size()
            )));
        }
        let proof = merkle::consistency_proof(&LogNodes(&self.tree), from, to)
            .map_err(|e| StoreError::BadRequest(e.to_string()))?;
        Ok(proof.into_iter().map(Hash::from).collect())
    }

    /// Encodes a record the way the store does (for tests and tools).
    pub fn encode<V: serde::Serialize>(v: &V) -> Vec<u8> {
        encode_record(v)
    }
}
