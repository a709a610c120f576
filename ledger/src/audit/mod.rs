//! Full re-verification of a stored chain from genesis.
//!
//! [`replay`] trusts nothing in the store but the genesis it was created
//! with: it re-executes every block on a fresh state (every signature, rule
//! and allocation), checks every header field and commit certificate
//! against the validator set then in force, and finally compares the state
//! it computed with the state the store holds, key by key. The report names
//! the first height, transaction and field that disagree.

mod state;

use std::collections::HashMap;
use std::sync::Mutex;

use rayon::prelude::*;

use crate::block::Block;
use crate::chain::{self, BlockError};
use crate::genesis::Genesis;
use crate::hex::Hash;
use crate::kv::{MemKv, Write};
use crate::records::CommittedTx;
use crate::schema::{self, Key};
use crate::store::{Store, StoreError};
use crate::vote::{self, verify_commit_prechecked, CommitCertificate};
use state::{Merged, Replayed, SortedLog, SplitState};

/// The stored row of each transaction of a block (its `TX` entry), in
/// block order, as the store handed them out (without a copy).
pub type TxRows = Vec<sled::IVec>;

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
    /// Block `height`, and, from a source that is a store, the stored row
    /// of each of its transactions (their `TX` entries, in block order).
    /// The replay compares each row with the one it writes as it goes,
    /// rather than holding the rows (most of a chain's bytes) for the
    /// state comparison at the end. Sources without rows return `None`.
    fn block_and_rows(&self, height: u64) -> Result<(Block, Option<TxRows>), Self::Error> {
        Ok((self.block(height)?, None))
    }
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

/// How a replay holds the state it computes.
enum State {
    /// All in one map, every table readable (for callers that query it).
    Whole(MemKv),
    /// What execution reads in a map, the rest in a log kept only for the
    /// comparison with a store (see [`state`]).
    Split(SplitState),
}

impl State {
    fn apply(&mut self, writes: Vec<crate::kv::Write>) {
        match self {
            State::Whole(kv) => kv.apply(writes),
            State::Split(s) => s.apply(writes),
        }
    }

    /// The whole state: a map, and the log of the tables it does not hold.
    fn finish(self) -> (MemKv, SortedLog) {
        match self {
            State::Whole(kv) => (kv, SortedLog::default()),
            State::Split(s) => s.finish(),
        }
    }
}

/// A replay in progress: the state and tip computed so far from genesis.
pub struct Replay {
    state: State,
    tip: crate::records::ChainTip,
    /// Blocks replayed.
    pub blocks: u64,
    /// Transactions replayed.
    pub transactions: u64,
    /// Transaction rows compared with the source's as the blocks were
    /// replayed (see [`ChainSource::block_and_rows`]).
    pub rows_compared: u64,
}

impl Replay {
    /// The state right after `genesis`.
    pub fn new(genesis: &Genesis) -> Result<Self, AuditError> {
        Self::starting(genesis, State::Whole(MemKv::new()))
    }

    /// The state right after `genesis`, held as a store audit holds it:
    /// only the tables execution reads can be queried ([`Replay::state`]);
    /// the rest is kept, compactly, for a comparison with a store. `txs`
    /// is the number of transactions the chain is expected to hold (room
    /// is made for them up front).
    pub fn for_comparison(genesis: &Genesis, txs: usize) -> Result<Self, AuditError> {
        Self::starting(genesis, State::Split(SplitState::with_capacity(txs)))
    }

    fn starting(genesis: &Genesis, mut state: State) -> Result<Self, AuditError> {
        let (writes, tip) = chain::genesis_writes(genesis).map_err(StoreError::from)?;
        state.apply(writes);
        Ok(Replay {
            state,
            tip,
            blocks: 0,
            transactions: 0,
            rows_compared: 0,
        })
    }

    /// The height replayed so far.
    pub fn height(&self) -> u64 {
        self.tip.height
    }

    /// The block time of the last block replayed (of genesis before any).
    pub fn time(&self) -> u64 {
        self.tip.time
    }

    /// The hash of the last block replayed, as the replay computed it (the
    /// genesis hash before any).
    pub fn block_hash(&self) -> Hash {
        self.tip.block_hash
    }

    /// The replayed state. A transaction row that was compared with the
    /// source's as its block was replayed is held as its location part
    /// only ([`CommittedTx::location_part`]).
    pub fn state(&self) -> &MemKv {
        match &self.state {
            State::Whole(kv) => kv,
            State::Split(s) => s.read(),
        }
    }

    /// Re-executes the next block and checks the hash the source claims
    /// for it and its commit certificate against the validators in force.
    pub fn apply(
        &mut self,
        block: &Block,
        claimed_hash: &Hash,
        commit: &CommitCertificate,
    ) -> Result<(), AuditError> {
        let chain_id = &self.tip.chain_id;
        let checks = chain::Signatures::Batched.check(&block.txs, chain_id);
        let height = self.tip.height + 1;
        let commit_valid =
            vote::check_commit_signatures(chain_id, &[(height, claimed_hash, commit)]);
        let commit_valid = commit_valid.first().map_or(&[][..], Vec::as_slice);
        self.apply_checked(block, None, &checks, claimed_hash, commit, commit_valid)
    }

    /// [`Replay::apply`], with the block's stateless checks (fields and
    /// signatures, see [`chain::Signatures::check`]) already run, and its
    /// commit's signatures too (one flag each, see
    /// [`vote::check_commit_signatures`], worked out for the block's own
    /// height and `claimed_hash`).
    fn apply_checked(
        &mut self,
        block: &Block,
        rows: Option<&[sled::IVec]>,
        checks: &[Result<(), crate::error::TxError>],
        claimed_hash: &Hash,
        commit: &CommitCertificate,
        commit_valid: &[bool],
    ) -> Result<(), AuditError> {
        let height = self.tip.height + 1;
        let sigs = chain::Signatures::Prechecked(checks);
        let effects = match &self.state {
            State::Whole(kv) => chain::execute_block_with(kv, &self.tip, block, sigs),
            State::Split(s) => chain::execute_block_with(s, &self.tip, block, sigs),
        }
        .map_err(|error| AuditError::InvalidBlock { height, error })?;
        if *claimed_hash != effects.block_hash {
            return Err(AuditError::HashMismatch {
                height,
                stored: claimed_hash.to_hex(),
                computed: effects.block_hash.to_hex(),
            });
        }
        // The block is at `height` and hashes to the claimed hash (both
        // checked above): the flags are for this very precommit.
        verify_commit_prechecked(commit, &self.tip.next_validators, commit_valid).map_err(|e| {
            AuditError::BadCommit {
                height,
                error: e.to_string(),
            }
        })?;
        let mut writes = effects.writes;
        if let Some(rows) = rows {
            self.rows_compared += compare_rows(&mut writes, block, rows)?;
        }
        self.transactions += block.txs.len() as u64;
        self.blocks += 1;
        writes.push((
            Key::new(schema::COMMIT).u64(height).build(),
            Some(crate::json::canonical(commit).map_err(StoreError::from)?),
        ));
        self.state.apply(writes);
        self.tip = effects.tip;
        Ok(())
    }

    /// Reads and replays blocks from `source` up to `target`, in a
    /// pipeline: a reader thread fetches and decodes the next blocks, a
    /// checker runs their stateless checks (fields, and the signatures of
    /// their transactions and of their commits, in batches on all cores),
    /// and this thread executes them in order.
    pub fn run<S: ChainSource + Sync>(
        &mut self,
        source: &S,
        target: u64,
        mut progress: impl FnMut(u64, u64, u64),
    ) -> Result<(), AuditError> {
        /// Runs of blocks each stage may hold ahead of the next, at most.
        const AHEAD: usize = 4;
        /// The reader hands consecutive blocks on together, in a run that
        /// ends at the first block that brings it to this many
        /// transactions (so a large block is a run alone) ...
        const RUN_TXS: usize = 256;
        /// ... or at this many blocks. A quiet chain's blocks hold few
        /// transactions or none (one comes at least every heartbeat), and
        /// the signatures of their commits, from the same few validators,
        /// verify far faster many at a time than block by block.
        const RUN_BLOCKS: usize = 64;
        let first = self.tip.height + 1;
        if first > target {
            return Ok(());
        }
        type Read = (Block, Option<TxRows>, Hash, CommitCertificate);
        type Checked = (Read, Vec<Result<(), crate::error::TxError>>, Vec<bool>);
        let chain_id = self.tip.chain_id.clone();
        std::thread::scope(|scope| {
            let (read_tx, read_rx) =
                std::sync::mpsc::sync_channel::<Result<Vec<Read>, AuditError>>(AHEAD);
            let (checked_tx, checked_rx) =
                std::sync::mpsc::sync_channel::<Result<Vec<Checked>, AuditError>>(AHEAD);
            scope.spawn(move || {
                let (mut run, mut run_txs) = (Vec::new(), 0);
                for height in first..=target {
                    let read = (|| -> Result<Read, S::Error> {
                        let (block, rows) = source.block_and_rows(height)?;
                        Ok((
                            block,
                            rows,
                            source.block_hash(height)?,
                            source.commit(height)?,
                        ))
                    })();
                    // A send fails when the next stage hung up: a fault was
                    // found.
                    match read {
                        Ok(read) => {
                            run_txs += read.0.txs.len();
                            run.push(read);
                            let full = run_txs >= RUN_TXS || run.len() >= RUN_BLOCKS;
                            if full || height == target {
                                run_txs = 0;
                                if read_tx.send(Ok(std::mem::take(&mut run))).is_err() {
                                    return;
                                }
                            }
                        }
                        Err(e) => {
                            // The blocks read before it first, so that the
                            // failure is reported at its height.
                            if !run.is_empty() && read_tx.send(Ok(run)).is_err() {
                                return;
                            }
                            let _ = read_tx.send(Err(AuditError::Unreadable {
                                height,
                                error: e.to_string(),
                            }));
                            return;
                        }
                    }
                }
            });
            scope.spawn(move || {
                // Blocks are checked one per core, side by side, each in
                // as few signature batches as it takes: the checker waits
                // for as many runs as there are cores (fewer only at the
                // end of the stream), one large block each or many small
                // ones. A block checked alone would be split into small
                // batches to spread it over the cores, which costs about a
                // third more per signature. The commits' signatures of all
                // the blocks are checked together. The reader stops after
                // a failed read, so a failure ends the stream.
                let workers = rayon::current_num_threads().max(1);
                let mut failed = None;
                while failed.is_none() {
                    let Ok(first) = read_rx.recv() else { return };
                    let mut runs = Vec::with_capacity(workers);
                    let mut next = Some(first);
                    while let Some(r) = next.take() {
                        match r {
                            Ok(run) => runs.push(run),
                            Err(e) => failed = Some(e),
                        }
                        if failed.is_none() && runs.len() < workers {
                            next = read_rx.recv().ok();
                        }
                    }
                    let reads: Vec<&Read> = runs.iter().flatten().collect();
                    let txs: Vec<&[crate::tx::Transaction]> =
                        reads.iter().map(|r| r.0.txs.as_slice()).collect();
                    let checks = chain::check_blocks_batched(&txs, &chain_id);
                    // Each commit's signatures, for the block's height and
                    // the hash claimed for it: the executor uses the flags
                    // only once it has found the block at that height and
                    // hashing to that hash.
                    let commits: Vec<(u64, &Hash, &CommitCertificate)> = reads
                        .iter()
                        .map(|(block, _, hash, commit)| (block.header.height, hash, commit))
                        .collect();
                    let commit_checks = vote::check_commit_signatures(&chain_id, &commits);
                    let mut checked = checks.into_iter().zip(commit_checks);
                    for run in runs {
                        let run: Vec<Checked> = run
                            .into_iter()
                            .zip(&mut checked)
                            .map(|(read, (checks, valid))| (read, checks, valid))
                            .collect();
                        if checked_tx.send(Ok(run)).is_err() {
                            return;
                        }
                    }
                }
                if let Some(e) = failed {
                    let _ = checked_tx.send(Err(e));
                }
            });
            while self.tip.height < target {
                let run = checked_rx.recv().map_err(|_| AuditError::Unreadable {
                    height: self.tip.height + 1,
                    error: "the reader stopped".into(),
                })??;
                for ((block, rows, hash, commit), checks, commit_valid) in run {
                    self.apply_checked(
                        &block,
                        rows.as_deref(),
                        &checks,
                        &hash,
                        &commit,
                        &commit_valid,
                    )?;
                    progress(self.tip.height, target, self.transactions);
                }
            }
            Ok(())
        })
    }
}

/// Compares the transaction rows a replayed block writes with the rows
/// the source stores for its transactions (`rows`, in block order), and
/// keeps only each row's location part in `writes`. Returns the rows
/// compared.
fn compare_rows(
    writes: &mut [Write],
    block: &Block,
    rows: &[sled::IVec],
) -> Result<u64, AuditError> {
    if rows.len() != block.txs.len() {
        return Err(AuditError::Unreadable {
            height: block.header.height,
            error: format!(
                "{} transaction rows for {} transactions",
                rows.len(),
                block.txs.len()
            ),
        });
    }
    // By id, for a binary search: a block's thousand ids sort faster than
    // they hash into a map. Ids are compared by their first eight bytes
    // first, which all but settles it, rather than by a call comparing
    // all 32.
    let mut stored: Vec<(IdOrder, &[u8])> = block
        .txs
        .iter()
        .zip(rows)
        .map(|(tx, row)| (id_order(&tx.id().0), row.as_ref()))
        .collect();
    stored.sort_unstable_by_key(|s| s.0);
    let mut compared = 0;
    for (key, value) in writes.iter_mut() {
        let (Some(&schema::TX), Some(value)) = (key.first(), value.as_mut()) else {
            continue;
        };
        let Some(id) = key.get(1..).and_then(|b| <&[u8; 32]>::try_from(b).ok()) else {
            continue;
        };
        let wanted = id_order(id);
        let row = stored
            .binary_search_by(|(x, _)| x.cmp(&wanted))
            .ok()
            .and_then(|at| stored.get(at))
            .map(|(_, row)| *row);
        if row != Some(value.as_slice()) {
            return Err(AuditError::StateMismatch {
                key: schema::describe(key),
                stored: short(row),
                replayed: short(Some(value)),
            });
        }
        if let Some(part) = CommittedTx::location_part(value) {
            *value = part.to_vec();
        }
        compared += 1;
    }
    Ok(compared)
}

/// An id as a sort key: its first eight bytes as a number, then all of
/// it. Ordered exactly as the ids are.
type IdOrder = (u64, [u8; 32]);

fn id_order(id: &[u8; 32]) -> IdOrder {
    let [a, b, c, d, e, f, g, h, ..] = *id;
    (u64::from_be_bytes([a, b, c, d, e, f, g, h]), *id)
}

/// Replays `source` from where `r` stands up to the height it claims.
fn replay_to_tip<S: ChainSource + Sync>(
    mut r: Replay,
    source: &S,
    progress: impl FnMut(u64, u64, u64),
) -> Result<Replay, AuditError> {
    let target = source.height().map_err(|e| AuditError::Unreadable {
        height: 0,
        error: e.to_string(),
    })?;
    r.run(source, target, progress)?;
    Ok(r)
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
    let r = replay_to_tip(Replay::new(genesis)?, source, progress)?;
    let report = AuditReport {
        blocks: r.blocks,
        transactions: r.transactions,
        state_entries: r.rows_compared,
    };
    let (state, _) = r.state.finish();
    Ok((report, state))
}

/// Reads a store's blocks for a replay.
///
/// A block's transactions are stored under their ids, scattered over the
/// key space, so reading blocks one by one costs a random read per
/// transaction (most of an audit's reading time on a long chain, and a
/// cache the size of the transaction table to make it bearable). This
/// reads the transaction table once, in key order and on all cores, and
/// hands each record out, and lets it go, when its block is read. The
/// bytes are the ones [`Store::block`] would read, decoded the same way;
/// a block naming a transaction the table lacks (or one already handed
/// out) reads it from the store as before, and fails as before. The rows
/// go to the replay with their blocks ([`ChainSource::block_and_rows`]),
/// and what no block took is reported after it, so the state comparison
/// does not read the table a second time.
struct BlockReader<'a> {
    store: &'a Store,
    /// Stored `TX` records by id, in shards by the id's first byte. The
    /// bytes are the store's own (sled copies each value out of its page
    /// once); holding them here copies nothing.
    txs: Vec<Mutex<HashMap<Hash, sled::IVec>>>,
    /// Entries of the table whose key is not a transaction id.
    strays: Vec<(Vec<u8>, Vec<u8>)>,
}

const READER_SHARDS: usize = 16;
/// Transactions decoded together on one core: enough that handing a
/// chunk to a core costs little beside decoding it.
const DECODE_CHUNK: usize = 64;
/// How many values of an id's first byte each shard holds.
const SHARD_WIDTH: usize = 256 / READER_SHARDS;

impl<'a> BlockReader<'a> {
    fn new(store: &'a Store) -> Result<Self, StoreError> {
        // Room for the transactions the tip claims (ids are spread evenly
        // over the shards; a little slack for the unevenness), so no map
        // grows and copies itself while it is filled. A tip that lies
        // only costs a map that grows after all, or unused address space.
        let claimed = usize::try_from(store.tip().log.size()).unwrap_or(usize::MAX);
        let per_shard =
            (claimed.min(state::MAX_RESERVED_TXS) / READER_SHARDS).saturating_mul(17) / 16;
        let txs = (0..READER_SHARDS)
            .into_par_iter()
            .map(|shard| {
                // Ids follow the table byte; a shard holds the ids whose
                // first byte falls in its sixteenth.
                let lo = [schema::TX, (shard * SHARD_WIDTH) as u8];
                let rows = if shard + 1 < READER_SHARDS {
                    let hi = [schema::TX, ((shard + 1) * SHARD_WIDTH) as u8];
                    store.kv().range(lo..hi)
                } else {
                    store.kv().range(&lo[..]..&[schema::TX + 1][..])
                };
                let mut map = HashMap::with_capacity(per_shard);
                let mut strays = Vec::new();
                for row in rows {
                    let (k, v) = row?;
                    match k.get(1..).and_then(|b| <[u8; 32]>::try_from(b).ok()) {
                        Some(id) => {
                            map.insert(Hash::from(id), v);
                        }
                        None => strays.push((k.to_vec(), v.to_vec())),
                    }
                }
                Ok((Mutex::new(map), strays))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let (txs, strays): (Vec<_>, Vec<_>) = txs.into_iter().unzip();
        Ok(BlockReader {
            store,
            txs,
            strays: strays.concat(),
        })
    }

    /// The entries of the table no block took, as far as a comparison
    /// needs them, in key order: every key that is not a transaction id
    /// (the replay may write such keys too, and they are compared), and
    /// the first stored transaction no block lists (no replayed entry has
    /// an id key any more, so it is where the comparison stops).
    fn left(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        // Shards hold consecutive id ranges, in order.
        let unlisted = self.txs.iter().find_map(|shard| {
            let map = shard.lock().unwrap_or_else(|p| p.into_inner());
            map.iter()
                .min_by_key(|(id, _)| id.0)
                .map(|(id, row)| (Key::new(schema::TX).hash(id).build(), row.to_vec()))
        });
        let mut left: Vec<_> = self.strays.iter().cloned().chain(unlisted).collect();
        left.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        left
    }

    /// The stored record of `id`, if the table held it and it was not
    /// taken yet.
    fn take(&self, id: &Hash) -> Option<sled::IVec> {
        let shard = self.txs.get(usize::from(id.0[0]) / SHARD_WIDTH)?;
        // A poisoned shard only means a reader panicked; the map is whole.
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(id)
    }
}

impl ChainSource for BlockReader<'_> {
    type Error = StoreError;
    fn height(&self) -> Result<u64, StoreError> {
        ChainSource::height(self.store)
    }
    fn block(&self, height: u64) -> Result<Block, StoreError> {
        self.block_and_rows(height).map(|(block, _)| block)
    }
    fn block_and_rows(&self, height: u64) -> Result<(Block, Option<TxRows>), StoreError> {
        let header = self
            .store
            .header(height)?
            .ok_or_else(|| StoreError::NotFound(format!("block {height}")))?;
        let ids = self.store.block_tx_ids(height)?;
        let mut rows = Vec::with_capacity(ids.len());
        for id in &ids {
            let row = match self.take(id) {
                Some(row) => row,
                None => self
                    .store
                    .kv()
                    .get(Key::new(schema::TX).hash(id).build())?
                    .ok_or_else(|| StoreError::NotFound(format!("transaction {id}")))?,
            };
            rows.push(row);
        }
        // Decoding (the hash of each body, and its strict JSON) is most of
        // the work of reading a block; it is spread over the cores, beside
        // the signature checks of the blocks read before. The first failure
        // in block order is the one reported.
        let decoded: Vec<Result<crate::tx::Transaction, StoreError>> = ids
            .par_iter()
            .zip(rows.par_iter())
            .with_min_len(DECODE_CHUNK)
            .map(|(id, row)| crate::store::decode_tx(id, row))
            .collect();
        let txs = decoded.into_iter().collect::<Result<Vec<_>, _>>()?;
        Ok((Block { header, txs }, Some(rows)))
    }
    fn block_hash(&self, height: u64) -> Result<Hash, StoreError> {
        ChainSource::block_hash(self.store, height)
    }
    fn commit(&self, height: u64) -> Result<CommitCertificate, StoreError> {
        self.store.commit_certificate(height)
    }
}

/// Replays `store`'s chain from its genesis and compares everything,
/// including every entry of the stored state.
pub fn replay(
    store: &Store,
    progress: impl FnMut(u64, u64, u64),
) -> Result<AuditReport, AuditError> {
    let reader = BlockReader::new(store)?;
    let txs = usize::try_from(store.tip().log.size()).unwrap_or(usize::MAX);
    let r = replay_to_tip(
        Replay::for_comparison(store.genesis(), txs)?,
        &reader,
        progress,
    )?;
    let (blocks, transactions, rows) = (r.blocks, r.transactions, r.rows_compared);
    let (read, log) = r.state.finish();
    // The reader handed every block its rows, so every transaction row
    // was compared during the replay.
    let entries = compare_state(&read, &log, store.kv(), &reader.left())?;
    Ok(AuditReport {
        blocks,
        transactions,
        state_entries: entries + rows,
    })
}

/// Key ranges the state comparison is split into, to spread it over the
/// cores.
const COMPARE_RANGES: usize = 64;

/// Compares the replayed state with the stored one: every replayed entry
/// must be stored as is, and the store must hold nothing else. The key
/// space is cut into ranges at keys of the replayed state; the ranges are
/// walked in parallel, each both sides at once in key order, and the first
/// difference in key order is reported. The transaction table, whose rows
/// were compared during the replay, is not read again: what is left of it
/// replayed is compared with `left`, what the store's reader has left of
/// it ([`BlockReader::left`]). Returns the entries compared.
fn compare_state(
    read: &MemKv,
    log: &SortedLog,
    stored: &sled::Tree,
    left: &[(Vec<u8>, Vec<u8>)],
) -> Result<u64, AuditError> {
    let step = ((read.len() + log.len()) / COMPARE_RANGES).max(1);
    let (table, after) = ([schema::TX], [schema::TX + 1]);
    let in_table = |k: &[u8]| k > &table[..] && k < &after[..];
    let held = read.entries().map(|(k, v)| (k, Replayed::Bytes(v)));
    let mut cuts: Vec<&[u8]> = Merged::new(held, log.range(None, None))
        .step_by(step)
        .skip(1)
        .map(|(k, _)| k)
        .filter(|k| !in_table(k))
        .collect();
    cuts.extend([&table[..], &after[..]]);
    cuts.sort_unstable();
    cuts.dedup();
    // Range i runs from cut i-1 (or the start) to cut i (or the end).
    let counted = (0..=cuts.len())
        .into_par_iter()
        .map(|i| {
            let lo = i.checked_sub(1).and_then(|j| cuts.get(j).copied());
            let hi = cuts.get(i).copied();
            let mine = Merged::new(
                read.range(lo, hi).map(|(k, v)| (k, Replayed::Bytes(v))),
                log.range(lo, hi),
            );
            if lo == Some(&table[..]) {
                let theirs = left.iter().map(|(k, v)| Ok((&k[..], &v[..])));
                return compare_entries(mine, theirs);
            }
            let theirs: sled::Iter = match (lo, hi) {
                (Some(l), Some(h)) => stored.range(l..h),
                (Some(l), None) => stored.range(l..),
                (None, Some(h)) => stored.range(..h),
                (None, None) => stored.iter(),
            };
            compare_entries(
                mine,
                theirs.map(|r| {
                    r.map_err(|e| StoreError::from(crate::kv::KvError::Io(e.to_string())).into())
                }),
            )
        })
        .collect::<Vec<_>>();
    let mut entries = 0u64;
    for c in counted {
        entries += c?;
    }
    Ok(entries)
}

/// Compares replayed entries with stored ones, both in key order: each
/// must be the other's. Returns the entries compared, or the first
/// difference in key order.
fn compare_entries<'a, K, V>(
    mine: impl Iterator<Item = (&'a [u8], Replayed<'a>)>,
    theirs: impl Iterator<Item = Result<(K, V), AuditError>>,
) -> Result<u64, AuditError>
where
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let mut mine = mine.peekable();
    let mut entries = 0u64;
    for r in theirs {
        let (k, v) = r?;
        let (k, v) = (k.as_ref(), v.as_ref());
        match mine.peek() {
            Some((mk, mv)) if *mk < k => {
                return Err(AuditError::StateMismatch {
                    key: schema::describe(mk),
                    stored: short(None),
                    replayed: shown(mv),
                })
            }
            Some((mk, mv)) if *mk == k => {
                if !mv.matches(v) {
                    return Err(AuditError::StateMismatch {
                        key: schema::describe(mk),
                        stored: short(Some(v)),
                        replayed: shown(mv),
                    });
                }
                mine.next();
                entries += 1;
            }
            _ => {
                return Err(AuditError::StateMismatch {
                    key: schema::describe(k),
                    stored: short(Some(v)),
                    replayed: short(None),
                })
            }
        }
    }
    if let Some((mk, mv)) = mine.next() {
        return Err(AuditError::StateMismatch {
            key: schema::describe(mk),
            stored: short(None),
            replayed: shown(&mv),
        });
    }
    Ok(entries)
}

/// A replayed value for a report: shortened, or, where the audit held only
/// its digest, that.
fn shown(v: &Replayed<'_>) -> String {
    match v {
        Replayed::Bytes(b) => short(Some(b)),
        Replayed::Digest(d) => match <[u8; 32]>::try_from(*d) {
            Ok(d) => format!("a value of SHA-256 {}", Hash::from(d).to_hex()),
            Err(_) => short(Some(d)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_left_of_the_transaction_table_is_compared_on_both_sides() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let stored = db.open_tree("chain").unwrap();
        let stray = vec![schema::TX, 0xff];
        let mut read = MemKv::new();
        read.apply(vec![(stray.clone(), Some(b"replayed".to_vec()))]);
        let log = SortedLog::default();
        // Replayed, and nothing like it left in the store's table.
        let err = compare_state(&read, &log, &stored, &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "state differs at transaction ff: stored nothing, replayed replayed"
        );
        // Left in the store's table as replayed: compared, and counted.
        let left = vec![(stray.clone(), b"replayed".to_vec())];
        assert_eq!(compare_state(&read, &log, &stored, &left).unwrap(), 1);
        // Left with another value.
        let left = vec![(stray, b"stored".to_vec())];
        let err = compare_state(&read, &log, &stored, &left).unwrap_err();
        assert_eq!(
            err.to_string(),
            "state differs at transaction ff: stored stored, replayed replayed"
        );
    }
}
