//! Blocks as state transitions: genesis, executing a proposed or synced
//! block, and building a block from candidate transactions.
//!
//! [`execute_block`] is a function of the committed state and the block: it
//! returns the writes that commit it and the new tip, or the first reason
//! the block is invalid. Nothing is written until the caller commits.

use rayon::prelude::*;

use crate::block::{Block, Header, MAX_BLOCK_TXS};
use crate::error::TxError;
use crate::exec::{ExecError, Executor};
use crate::genesis::{Genesis, GenesisError};
use crate::hex::{Hash, PublicKey};
use crate::json::{self, EncodeError};
use crate::kinds::{OrgRole, OrgStatus};
use crate::kv::{KvError, KvRead, Write};
use crate::merkle;
use crate::overlay::encode_record;
use crate::records::{ChainTip, OrgRecord};
use crate::schema::{self, Key};
use crate::tx::Transaction;
use crate::validate;

/// Why a block cannot follow the tip.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// Another network's block.
    #[error("block is for chain {got:?}, this is {expected:?}")]
    WrongChain {
        /// This chain.
        expected: String,
        /// The block's.
        got: String,
    },
    /// Not the next height.
    #[error("block height {got}, expected {expected}")]
    WrongHeight {
        /// Next height.
        expected: u64,
        /// Given.
        got: u64,
    },
    /// Does not link to the tip.
    #[error("block {height} prev_hash {got}, expected {expected}")]
    PrevHashMismatch {
        /// Height.
        height: u64,
        /// The tip's hash.
        expected: Hash,
        /// Given.
        got: Hash,
    },
    /// Time did not move forward.
    #[error("block {height} time {got} is not after the previous block's {prev}")]
    TimeNotIncreasing {
        /// Height.
        height: u64,
        /// Previous time.
        prev: u64,
        /// Given.
        got: u64,
    },
    /// Too many transactions.
    #[error("block has {0} transactions, the limit is {MAX_BLOCK_TXS}")]
    TooManyTxs(usize),
    /// A header field disagrees with the block's content or the state.
    #[error("block {height} header field {field}: header says {header}, computed {computed}")]
    HeaderMismatch {
        /// Height.
        height: u64,
        /// Field name.
        field: &'static str,
        /// The header's value.
        header: String,
        /// The computed value.
        computed: String,
    },
    /// The proposer is not a validator.
    #[error("block {height} proposer {proposer} is not a validator")]
    UnknownProposer {
        /// Height.
        height: u64,
        /// Key.
        proposer: PublicKey,
    },
    /// A transaction is invalid.
    #[error("block {height} transaction {index} ({tx_id}) is invalid: {error}")]
    InvalidTx {
        /// Height.
        height: u64,
        /// Position.
        index: usize,
        /// Id.
        tx_id: Hash,
        /// Why.
        error: TxError,
    },
    /// State could not be read.
    #[error("block {height}: {error}")]
    Storage {
        /// Height.
        height: u64,
        /// The failure.
        error: KvError,
    },
    /// Encoding failed.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

impl BlockError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            BlockError::WrongChain { .. } => "wrong_chain",
            BlockError::WrongHeight { .. } => "wrong_height",
            BlockError::PrevHashMismatch { .. } => "prev_hash_mismatch",
            BlockError::TimeNotIncreasing { .. } => "time_not_increasing",
            BlockError::TooManyTxs(_) => "too_many_txs",
            BlockError::HeaderMismatch { .. } => "header_mismatch",
            BlockError::UnknownProposer { .. } => "unknown_proposer",
            BlockError::InvalidTx { .. } => "invalid_tx",
            BlockError::Storage { .. } => "storage",
            BlockError::Encode(_) => "encoding_failed",
        }
    }
}

/// A block executed against the tip, ready to commit.
#[derive(Debug, Clone)]
pub struct BlockEffects {
    /// The header.
    pub header: Header,
    /// Its hash.
    pub block_hash: Hash,
    /// The tip after this block.
    pub tip: ChainTip,
    /// Every write that commits it (state, indexes, log nodes, header,
    /// tx ids, transactions, tip), except the commit certificate.
    pub writes: Vec<Write>,
}

/// The state before the first block: the genesis regulators, the first
/// validator set, and the tip that block 1 builds on.
pub fn genesis_writes(g: &Genesis) -> Result<(Vec<Write>, ChainTip), GenesisError> {
    g.check()?;
    let set = g.validator_set()?;
    let mut w: Vec<Write> = Vec::new();
    for r in &g.regulators {
        let mut keys = r.keys.clone();
        keys.sort();
        for k in &keys {
            w.push((
                Key::new(schema::KEY_OWNER).raw(k.as_bytes()).build(),
                Some(encode_record(&r.org_id)),
            ));
        }
        w.push((
            Key::new(schema::ORG).id(r.org_id.as_str()).build(),
            Some(encode_record(&OrgRecord {
                org_id: r.org_id.clone(),
                name: r.name.clone(),
                role: OrgRole::Regulator,
                public_fundraising: false,
                region: r.region.clone(),
                status: OrgStatus::Active,
                keys,
                registered_height: 0,
                registered_tx: None,
            })),
        ));
    }
    w.push((
        Key::new(schema::VALIDATORS).u64(1).build(),
        Some(encode_record(&set)),
    ));
    w.push((schema::META_GENESIS.to_vec(), Some(json::canonical(g)?)));
    let tip = ChainTip {
        chain_id: g.chain_id.clone(),
        height: 0,
        time: g.genesis_time,
        block_hash: g.hash()?,
        log: merkle::Frontier::default(),
        next_validators: set,
    };
    w.push((schema::META_TIP.to_vec(), Some(encode_record(&tip))));
    Ok((w, tip))
}

fn storage(height: u64) -> impl Fn(KvError) -> BlockError {
    move |error| BlockError::Storage { height, error }
}

/// Runs the stateless checks of every transaction in parallel; the first
/// failure in block order wins, so every node reports the same one. The
/// signature of a transaction `verified` vouches for is not checked again.
fn check_all_stateless(
    txs: &[Transaction],
    chain_id: &str,
    verified: &(dyn Fn(&Transaction) -> bool + Sync),
) -> Vec<Result<(), TxError>> {
    let keys = crate::crypto::KeyCache::new(txs.iter().map(|t| &t.body().signer));
    txs.par_iter()
        .map(|tx| {
            validate::check_fields(tx, chain_id)?;
            if verified(tx) {
                return Ok(());
            }
            validate::check_signature_cached(tx, &keys)
        })
        .collect()
}

/// Transactions per signature batch: large enough that a batch costs
/// little more per signature than one of a thousand, small enough that a
/// block's batches spread over the cores.
const SIG_BATCH: usize = 128;

/// Signatures per batch when whole blocks are checked side by side on the
/// cores: an Ed25519 batch of a thousand costs about a fifth less per
/// signature than one of 128 (and a failed batch is re-checked one by one,
/// so it is not made larger still).
const SIG_BATCH_WHOLE: usize = 1_024;

/// [`check_all_stateless`] with the signatures verified in batches of
/// `batch`; a batch that fails is checked again one by one, so the results
/// are those of [`check_all_stateless`].
fn check_all_stateless_batched<T: std::borrow::Borrow<Transaction> + Sync>(
    txs: &[T],
    chain_id: &str,
    batch: usize,
) -> Vec<Result<(), TxError>> {
    let keys = crate::crypto::KeyCache::new(txs.iter().map(|t| &t.borrow().body().signer));
    txs.par_chunks(batch.max(1))
        .flat_map_iter(|chunk| {
            let fields: Vec<Result<(), TxError>> = chunk
                .iter()
                .map(|tx| validate::check_fields(tx.borrow(), chain_id))
                .collect();
            let ids: Vec<Hash> = chunk.iter().map(|t| t.borrow().id()).collect();
            let items: Vec<_> = chunk
                .iter()
                .zip(&ids)
                .map(|(t, id)| {
                    let t = t.borrow();
                    (t.body().signer, id.as_bytes().as_slice(), t.sig())
                })
                .collect();
            let all_valid = keys.verify_batch(&items);
            chunk
                .iter()
                .zip(fields)
                .map(|(tx, f)| {
                    f?;
                    if all_valid {
                        Ok(())
                    } else {
                        validate::check_signature_cached(tx.borrow(), &keys)
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

struct Assembled {
    header: Header,
    block_hash: Hash,
    tip: ChainTip,
    writes: Vec<Write>,
}

/// Computes the header of the transactions executed by `ex` and the writes
/// that commit them.
fn assemble<R: KvRead>(
    tip: &ChainTip,
    ex: Executor<'_, R>,
    txs: &[Transaction],
    height: u64,
    time: u64,
    proposer: PublicKey,
) -> Result<Assembled, BlockError> {
    let ids: Vec<[u8; 32]> = txs.iter().map(|t| t.id().0).collect();
    let tx_root = Hash::from(merkle::root(&ids));
    let mut log = tip.log.clone();
    let mut log_nodes = Vec::new();
    for id in &ids {
        log_nodes.extend(log.append(id));
    }
    let next_validators = ex
        .next_validators()
        .cloned()
        .unwrap_or_else(|| tip.next_validators.clone());
    let header = Header {
        chain_id: tip.chain_id.clone(),
        height,
        time,
        prev_hash: tip.block_hash,
        proposer,
        tx_count: ids.len() as u64,
        tx_root,
        log_size: log.size(),
        log_root: Hash::from(log.root()),
        validators_hash: tip.next_validators.hash()?,
        state_root: None,
    };
    let block_hash = header.hash()?;
    let new_tip = ChainTip {
        chain_id: tip.chain_id.clone(),
        height,
        time,
        block_hash,
        log,
        next_validators,
    };
    let mut writes = ex.into_overlay().into_writes();
    if !log_nodes.is_empty() {
        writes.push((
            Key::new(schema::LOG_NODES).u64(tip.log.size()).build(),
            Some(encode_log_nodes(log_nodes)),
        ));
    }
    writes.push((
        Key::new(schema::HEADER).u64(height).build(),
        Some(json::canonical(&header)?),
    ));
    writes.push((
        Key::new(schema::BLOCK_HASH).u64(height).build(),
        Some(block_hash.as_bytes().to_vec()),
    ));
    writes.push((
        Key::new(schema::BLOCK_TXS).u64(height).build(),
        Some(ids.concat()),
    ));
    writes.push((schema::META_TIP.to_vec(), Some(encode_record(&new_tip))));
    Ok(Assembled {
        header,
        block_hash,
        tip: new_tip,
        writes,
    })
}

/// One stored log node: level, index, hash.
pub const LOG_NODE_BYTES: usize = 1 + 8 + 32;

/// Encodes the log nodes a block completed, sorted by (level, index) so a
/// reader can binary-search them.
pub fn encode_log_nodes(mut nodes: Vec<(u8, u64, [u8; 32])>) -> Vec<u8> {
    nodes.sort_unstable_by_key(|(l, i, _)| (*l, *i));
    let mut out = Vec::with_capacity(nodes.len() * LOG_NODE_BYTES);
    for (l, i, h) in nodes {
        out.push(l);
        out.extend_from_slice(&i.to_be_bytes());
        out.extend_from_slice(&h);
    }
    out
}

/// Finds node (level, index) in a block's encoded log nodes.
pub fn find_log_node(encoded: &[u8], level: u8, index: u64) -> Option<[u8; 32]> {
    if encoded.len() % LOG_NODE_BYTES != 0 {
        return None;
    }
    let n = encoded.len() / LOG_NODE_BYTES;
    let key_at = |k: usize| -> Option<(u8, u64)> {
        let r = encoded.get(k * LOG_NODE_BYTES..(k + 1) * LOG_NODE_BYTES)?;
        Some((r[0], u64::from_be_bytes(r[1..9].try_into().ok()?)))
    };
    let (mut lo, mut hi) = (0usize, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        match key_at(mid)?.cmp(&(level, index)) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => {
                let r = encoded.get(mid * LOG_NODE_BYTES + 9..(mid + 1) * LOG_NODE_BYTES)?;
                return r.try_into().ok();
            }
        }
    }
    None
}

/// How a block's transaction signatures are checked.
#[derive(Clone, Copy)]
pub enum Signatures<'a> {
    /// Each with `verify_strict`, on all cores: what validators do.
    Strict,
    /// As [`Signatures::Strict`], except for transactions for which the
    /// function says this very transaction (same id, same signature bytes)
    /// already passed `verify_strict` here, e.g. on arrival in a node's
    /// pool. The outcome is the same as `Strict`'s; only the repeated work
    /// is saved.
    StrictUnlessVerified(&'a (dyn Fn(&Transaction) -> bool + Sync)),
    /// In Ed25519 batches on all cores, about three times cheaper; a batch
    /// that fails is re-checked one by one, so a failure is reported as
    /// [`Signatures::Strict`] reports it. See
    /// [`crate::crypto::KeyCache::verify_batch`] for the one case where
    /// the two may differ.
    Batched,
    /// The stateless checks of these very transactions (fields and
    /// signatures), already run by [`Signatures::check`], e.g. ahead of
    /// execution in a pipeline: one result per transaction, in order. A
    /// list of another length is ignored and the checks are run again,
    /// strictly.
    Prechecked(&'a [Result<(), TxError>]),
}

impl Signatures<'_> {
    /// The stateless checks of `txs` on chain `chain_id` (fields and
    /// signatures), one result per transaction in order, with the
    /// signatures checked as `self` says.
    pub fn check(self, txs: &[Transaction], chain_id: &str) -> Vec<Result<(), TxError>> {
        match self {
            Signatures::Strict => check_all_stateless(txs, chain_id, &|_| false),
            Signatures::StrictUnlessVerified(known) => check_all_stateless(txs, chain_id, known),
            Signatures::Batched => check_all_stateless_batched(txs, chain_id, SIG_BATCH),
            Signatures::Prechecked(done) if done.len() == txs.len() => done.to_vec(),
            Signatures::Prechecked(_) => check_all_stateless(txs, chain_id, &|_| false),
        }
    }
}

/// The stateless checks of several blocks' transactions, as
/// [`Signatures::Batched`] gives them block by block, one list per block.
/// With more than one block, the blocks are spread over the cores and each
/// is verified in as few batches as possible, which costs less per
/// signature than splitting every block over the cores.
///
/// Blocks smaller than a batch per core (a quiet chain's) are checked
/// together: their transactions in one list, cut into a batch per core,
/// and the results handed back block by block. A batch's results do not
/// depend on what else is in it (a failing batch is re-checked one by
/// one), so each block's are the same either way.
pub fn check_blocks_batched(
    blocks: &[&[Transaction]],
    chain_id: &str,
) -> Vec<Vec<Result<(), TxError>>> {
    let workers = rayon::current_num_threads().max(1);
    let total: usize = blocks.iter().map(|b| b.len()).sum();
    match blocks {
        [one] => vec![Signatures::Batched.check(one, chain_id)],
        _ if blocks.len() > workers && total < SIG_BATCH_WHOLE * workers => {
            let all: Vec<&Transaction> = blocks.iter().flat_map(|b| b.iter()).collect();
            let results = check_all_stateless_batched(&all, chain_id, total.div_ceil(workers));
            let mut rest = results.into_iter();
            blocks
                .iter()
                .map(|b| rest.by_ref().take(b.len()).collect())
                .collect()
        }
        _ => blocks
            .par_iter()
            .map(|txs| check_all_stateless_batched(txs, chain_id, SIG_BATCH_WHOLE))
            .collect(),
    }
}

/// Checks a block against the tip and the committed state, and returns what
/// committing it writes. Every rule of the design is checked: linkage,
/// height, time, proposer, every transaction (stateless and stateful, in
/// order), and every computed header field.
pub fn execute_block<R: KvRead + Sync>(
    kv: &R,
    tip: &ChainTip,
    block: &Block,
) -> Result<BlockEffects, BlockError> {
    execute_block_with(kv, tip, block, Signatures::Strict)
}

/// [`execute_block`], with the signatures checked as `sigs` says.
pub fn execute_block_with<R: KvRead + Sync>(
    kv: &R,
    tip: &ChainTip,
    block: &Block,
    sigs: Signatures<'_>,
) -> Result<BlockEffects, BlockError> {
    let h = &block.header;
    if h.chain_id != tip.chain_id {
        return Err(BlockError::WrongChain {
            expected: tip.chain_id.clone(),
            got: h.chain_id.clone(),
        });
    }
    if h.height != tip.height + 1 {
        return Err(BlockError::WrongHeight {
            expected: tip.height + 1,
            got: h.height,
        });
    }
    if h.prev_hash != tip.block_hash {
        return Err(BlockError::PrevHashMismatch {
            height: h.height,
            expected: tip.block_hash,
            got: h.prev_hash,
        });
    }
    if h.time <= tip.time {
        return Err(BlockError::TimeNotIncreasing {
            height: h.height,
            prev: tip.time,
            got: h.time,
        });
    }
    if block.txs.len() > MAX_BLOCK_TXS {
        return Err(BlockError::TooManyTxs(block.txs.len()));
    }
    if tip.next_validators.get(&h.proposer).is_none() {
        return Err(BlockError::UnknownProposer {
            height: h.height,
            proposer: h.proposer,
        });
    }
    // Signatures are checked on all cores while the transactions execute in
    // order; the block is judged by the first failure in block order, a
    // stateless failure before a stateful one at the same index, so every
    // node reports the same reason.
    let execute = || {
        let mut ex = Executor::new(kv, h.height, h.time);
        for (index, tx) in block.txs.iter().enumerate() {
            let pos = u32::try_from(index).unwrap_or(u32::MAX);
            if let Err(e) = ex.apply(tx, pos) {
                return (ex, Some((index, e)));
            }
        }
        (ex, None)
    };
    let (checks, (ex, failed)) = match sigs {
        Signatures::Prechecked(done) if done.len() == block.txs.len() => {
            (std::borrow::Cow::Borrowed(done), execute())
        }
        _ => {
            let (checks, executed) = rayon::join(|| sigs.check(&block.txs, &tip.chain_id), execute);
            (std::borrow::Cow::Owned(checks), executed)
        }
    };
    let invalid = |index: usize, error: TxError| BlockError::InvalidTx {
        height: h.height,
        index,
        tx_id: block.txs.get(index).map(|t| t.id()).unwrap_or_default(),
        error,
    };
    let first_stateless = checks
        .iter()
        .enumerate()
        .find_map(|(i, c)| c.as_ref().err().map(|e| (i, e.clone())));
    match (first_stateless, failed) {
        (Some((i, e)), None) => return Err(invalid(i, e)),
        (Some((i, e)), Some((j, _))) if i <= j => return Err(invalid(i, e)),
        (_, Some((j, ExecError::Tx(e)))) => return Err(invalid(j, e)),
        (_, Some((_, ExecError::Kv(e)))) => return Err(storage(h.height)(e)),
        (None, None) => {}
    }
    let a = assemble(tip, ex, &block.txs, h.height, h.time, h.proposer)?;
    let mismatch = |field: &'static str, header: String, computed: String| {
        Err(BlockError::HeaderMismatch {
            height: h.height,
            field,
            header,
            computed,
        })
    };
    let c = &a.header;
    if h.tx_count != c.tx_count {
        return mismatch("tx_count", h.tx_count.to_string(), c.tx_count.to_string());
    }
    if h.tx_root != c.tx_root {
        return mismatch("tx_root", h.tx_root.to_hex(), c.tx_root.to_hex());
    }
    if h.log_size != c.log_size {
        return mismatch("log_size", h.log_size.to_string(), c.log_size.to_string());
    }
    if h.log_root != c.log_root {
        return mismatch("log_root", h.log_root.to_hex(), c.log_root.to_hex());
    }
    if h.validators_hash != c.validators_hash {
        return mismatch(
            "validators_hash",
            h.validators_hash.to_hex(),
            c.validators_hash.to_hex(),
        );
    }
    if h.state_root.is_some() {
        return mismatch(
            "state_root",
            format!("{:?}", h.state_root),
            "absent (reserved)".into(),
        );
    }
    Ok(BlockEffects {
        header: a.header,
        block_hash: a.block_hash,
        tip: a.tip,
        writes: a.writes,
    })
}

/// A block built from candidates, and the candidates left out with why.
#[derive(Debug, Clone)]
pub struct BuiltBlock {
    /// The block.
    pub block: Block,
    /// What committing it writes.
    pub effects: BlockEffects,
    /// Candidates that were not valid here, with the reason.
    pub rejected: Vec<(Hash, TxError)>,
}

/// Builds the next block from `candidates` in order, leaving out (and
/// reporting) each transaction that is invalid at this point, up to
/// [`MAX_BLOCK_TXS`] transactions.
pub fn build_block<R: KvRead>(
    kv: &R,
    tip: &ChainTip,
    candidates: Vec<Transaction>,
    time: u64,
    proposer: PublicKey,
) -> Result<BuiltBlock, BlockError> {
    build_block_with(kv, tip, candidates, time, proposer, Signatures::Strict)
}

/// [`build_block`], with the candidates' signatures checked as `sigs`
/// says.
pub fn build_block_with<R: KvRead>(
    kv: &R,
    tip: &ChainTip,
    candidates: Vec<Transaction>,
    time: u64,
    proposer: PublicKey,
    sigs: Signatures<'_>,
) -> Result<BuiltBlock, BlockError> {
    let height = tip.height + 1;
    if time <= tip.time {
        return Err(BlockError::TimeNotIncreasing {
            height,
            prev: tip.time,
            got: time,
        });
    }
    let checks = sigs.check(&candidates, &tip.chain_id);
    let mut ex = Executor::new(kv, height, time);
    let mut txs = Vec::new();
    let mut rejected = Vec::new();
    for (tx, check) in candidates.into_iter().zip(checks) {
        if txs.len() >= MAX_BLOCK_TXS {
            break;
        }
        if let Err(e) = check {
            rejected.push((tx.id(), e));
            continue;
        }
        let pos = u32::try_from(txs.len()).map_err(|_| BlockError::TooManyTxs(txs.len()))?;
        match ex.apply(&tx, pos) {
            Ok(()) => txs.push(tx),
            Err(ExecError::Tx(e)) => rejected.push((tx.id(), e)),
            Err(ExecError::Kv(e)) => return Err(storage(height)(e)),
        }
    }
    let a = assemble(tip, ex, &txs, height, time, proposer)?;
    Ok(BuiltBlock {
        block: Block {
            header: a.header.clone(),
            txs,
        },
        effects: BlockEffects {
            header: a.header,
            block_hash: a.block_hash,
            tip: a.tip,
            writes: a.writes,
        },
        rejected,
    })
}

/// Reads the tip of committed state.
pub fn read_tip<R: KvRead>(kv: &R) -> Result<Option<ChainTip>, KvError> {
    match kv.get(schema::META_TIP)? {
        None => Ok(None),
        Some(b) => crate::overlay::decode_record(schema::META_TIP, &b).map(Some),
    }
}
