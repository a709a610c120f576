//! Auditing a chain over a node's API, trusting nothing the node says.
//!
//! The auditor pins a genesis (a file, or the hash it expects), reads every
//! block with its transactions and commit certificate, and re-executes the
//! chain with the ledger's own rules ([`charity_ledger::audit::Replay`]):
//! every signature, rule, allocation, header field, block hash and commit.
//! Then it compares what the node publishes (organisations, campaigns with
//! their totals, donations, disbursements and allocations) with the state
//! it computed itself. The first disagreement is reported with its height,
//! transaction or record, and field.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use charity_ledger::audit::{AuditError, ChainSource, Replay};
use charity_ledger::block::Header;
use charity_ledger::hex::Hash;
use charity_ledger::kv::MemKv;
use charity_ledger::{query, Block, CommitCertificate, Genesis, Transaction};
use serde::Deserialize;
use serde_json::Value;

use crate::client::{Client, ClientError, HEIGHT_HEADER};
use crate::witness::{self, WitnessError, WitnessState};

/// Why an audit over the API failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiAuditError {
    /// The node could not be read, or answered with something that is not
    /// what the API promises.
    #[error("{0}")]
    Node(String),
    /// The genesis the node serves is not the pinned one.
    #[error("the node's genesis hashes to {served}, but {pinned} was pinned")]
    GenesisMismatch {
        /// What the node serves.
        served: Hash,
        /// What the auditor expects.
        pinned: Hash,
    },
    /// The chain does not re-verify.
    #[error("{0}")]
    Chain(#[from] AuditError),
    /// The chain re-verified, but does not hold what a witness saw.
    #[error("{0}")]
    Witness(#[from] WitnessError),
    /// The node publishes state that differs from the replayed state at
    /// the height it says the answer was read at.
    #[error("at height {height} the node publishes {what} = {published}, but the replay computes {computed}")]
    StateMismatch {
        /// The height both were compared at.
        height: u64,
        /// Which record and field.
        what: String,
        /// What the node says.
        published: String,
        /// What the replay computed.
        computed: String,
    },
}

impl ApiAuditError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiAuditError::Node(_) => "audit_node_unreadable",
            ApiAuditError::GenesisMismatch { .. } => "audit_genesis_mismatch",
            ApiAuditError::Chain(e) => e.code(),
            ApiAuditError::Witness(e) => e.code(),
            ApiAuditError::StateMismatch { .. } => "audit_state_mismatch",
        }
    }
}

impl From<ClientError> for ApiAuditError {
    fn from(e: ClientError) -> Self {
        ApiAuditError::Node(e.to_string())
    }
}

/// What a passed audit covered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiAuditReport {
    /// The genesis hash the chain was verified from.
    pub genesis_hash: Hash,
    /// Blocks re-verified.
    pub blocks: u64,
    /// Transactions re-verified.
    pub transactions: u64,
    /// Published records compared with the replay.
    pub records: u64,
}

/// A node's API as a source of blocks.
///
/// Blocks are fetched ahead, several at once: a replay asks for them one
/// after the other, and one request at a time would make the audit wait a
/// round trip (two, with the transactions) for every block, most of its
/// time on a quiet chain's many small blocks over a network. Nothing past
/// the height the replay is running to is fetched. A block whose header
/// counts no transactions is fetched without asking for its (empty) list:
/// the replay recomputes the header from the transactions it has, so a
/// header that hid some would not hash to the block's hash, which the
/// commit signs. A block whose fetch ahead failed is asked for again,
/// alone, when the replay reaches it, and only that answer counts. The
/// block being replayed stays among them until the next is asked for,
/// since its header, hash and commit come in one answer.
struct ApiSource<'a> {
    client: &'a Client,
    /// Blocks fetched ahead, by height, with what went wrong fetching one.
    ahead: Mutex<BTreeMap<u64, Result<Arc<Fetched>, String>>>,
    /// The height the replay is running to: nothing past it is fetched.
    limit: AtomicU64,
}

/// One block's answers: the block, and its transactions (`None` for a
/// block whose header counts none).
struct Fetched {
    block: Value,
    txs: Option<Value>,
}

/// Blocks fetched at once, at most.
const FETCH_AHEAD: u64 = 8;

fn field<'v>(v: &'v Value, name: &str, what: &str) -> Result<&'v Value, String> {
    v.get(name).ok_or_else(|| format!("{what} has no {name:?}"))
}

impl<'a> ApiSource<'a> {
    fn new(client: &'a Client) -> Self {
        ApiSource {
            client,
            ahead: Mutex::new(BTreeMap::new()),
            limit: AtomicU64::new(0),
        }
    }

    /// Replays `replay` on to `target`, fetching no block past it.
    fn run(
        &self,
        replay: &mut Replay,
        target: u64,
        progress: impl FnMut(u64, u64, u64),
    ) -> Result<(), AuditError> {
        self.limit.store(target, Ordering::Relaxed);
        replay.run(self, target, progress)
    }

    /// Block `height`'s answers, from the blocks fetched ahead, fetching
    /// it and the next ones (up to the limit) first if it is not there.
    fn fetched(&self, height: u64) -> Result<Arc<Fetched>, String> {
        // The lock is only ever taken by the audit's reader thread.
        let mut ahead = self.ahead.lock().unwrap_or_else(|p| p.into_inner());
        // What is below is no longer wanted.
        *ahead = ahead.split_off(&height);
        if !ahead.contains_key(&height) {
            let limit = self.limit.load(Ordering::Relaxed).max(height);
            let last = limit.min(height.saturating_add(FETCH_AHEAD - 1));
            let fetched: Vec<(u64, Result<Arc<Fetched>, String>)> = std::thread::scope(|s| {
                let fetches: Vec<_> = (height..=last)
                    .map(|h| (h, s.spawn(move || self.fetch(h).map(Arc::new))))
                    .collect();
                fetches
                    .into_iter()
                    .map(|(h, f)| {
                        let f = f
                            .join()
                            .unwrap_or_else(|_| Err(format!("fetching block {h} failed")));
                        (h, f)
                    })
                    .collect()
            });
            ahead.extend(fetched);
        }
        if let Some(Ok(f)) = ahead.get(&height) {
            return Ok(f.clone());
        }
        // Asked again alone, as the first time it may have been asked
        // beside many others: behind a load balancer over nodes at
        // different heights, each of a read's few attempts must not all
        // land on a node that lags.
        let f = Arc::new(self.fetch(height)?);
        ahead.insert(height, Ok(f.clone()));
        Ok(f)
    }

    /// Fetches block `height` and, unless its header counts none, its
    /// transactions.
    fn fetch(&self, height: u64) -> Result<Fetched, String> {
        let client = self.client.at_least(height);
        let what = format!("/v1/blocks/{height}");
        let block = client.get_json(&what).map_err(|e| e.to_string())?;
        let count = field(&block, "header", &what)?
            .get("tx_count")
            .and_then(Value::as_u64);
        let txs = match count {
            Some(0) => None,
            _ => Some(
                client
                    .get_json(&format!("{what}/txs"))
                    .map_err(|e| e.to_string())?,
            ),
        };
        Ok(Fetched { block, txs })
    }

    /// The height of the chain, from a node that has reached `at_least`
    /// if one answers (several may, behind a load balancer); else the
    /// height a node gives, for the caller to find short.
    fn height_from(&self, at_least: u64) -> Result<u64, String> {
        status_height(self.client.get_json_reaching("/v1/status", at_least))
    }
}

/// The height in an answer of `/v1/status`.
fn status_height(status: Result<Value, ClientError>) -> Result<u64, String> {
    status
        .map_err(|e| e.to_string())?
        .get("height")
        .and_then(Value::as_u64)
        .ok_or_else(|| "/v1/status gives a height that is not a number".into())
}

impl ChainSource for ApiSource<'_> {
    type Error = String;

    fn height(&self) -> Result<u64, String> {
        status_height(self.client.get_json("/v1/status"))
    }

    fn block(&self, height: u64) -> Result<Block, String> {
        let what = format!("/v1/blocks/{height}");
        let f = self.fetched(height)?;
        let header = Header::deserialize(field(&f.block, "header", &what)?)
            .map_err(|e| format!("{what}: the header does not decode: {e}"))?;
        let Some(t) = &f.txs else {
            return Ok(Block {
                header,
                txs: Vec::new(),
            });
        };
        let what = format!("/v1/blocks/{height}/txs");
        let txs = field(t, "txs", &what)?
            .as_array()
            .ok_or_else(|| format!("{what}: txs is not a list"))?
            .iter()
            .enumerate()
            .map(|(i, tx)| {
                Transaction::from_value(tx.clone())
                    .map_err(|e| format!("{what}: transaction {i} does not decode: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Block { header, txs })
    }

    fn block_hash(&self, height: u64) -> Result<Hash, String> {
        let what = format!("/v1/blocks/{height}");
        let f = self.fetched(height)?;
        field(&f.block, "hash", &what)?
            .as_str()
            .and_then(|s| Hash::parse(s).ok())
            .ok_or_else(|| format!("{what}: the hash is not 64 hex characters"))
    }

    fn commit(&self, height: u64) -> Result<CommitCertificate, String> {
        let what = format!("/v1/blocks/{height}");
        let f = self.fetched(height)?;
        CommitCertificate::deserialize(field(&f.block, "commit", &what)?)
            .map_err(|e| format!("{what}: the commit does not decode: {e}"))
    }
}

/// The genesis to verify from: `pinned_file` if given, else the node's,
/// which must then hash to `pinned_hash` if that is given.
pub fn genesis(
    client: &Client,
    pinned_file: Option<&[u8]>,
    pinned_hash: Option<&Hash>,
) -> Result<Genesis, ApiAuditError> {
    let served = client.get_bytes("/v1/genesis")?;
    let served = Genesis::decode(&served)
        .map_err(|e| ApiAuditError::Node(format!("/v1/genesis does not decode: {e}")))?;
    let served_hash = served
        .hash()
        .map_err(|e| ApiAuditError::Node(e.to_string()))?;
    let pinned = match pinned_file {
        Some(bytes) => Some(
            Genesis::decode(bytes)
                .map_err(|e| ApiAuditError::Node(format!("the genesis file does not decode: {e}")))?
                .hash()
                .map_err(|e| ApiAuditError::Node(e.to_string()))?,
        ),
        None => pinned_hash.copied(),
    };
    if let Some(pinned) = pinned {
        if pinned != served_hash {
            return Err(ApiAuditError::GenesisMismatch {
                served: served_hash,
                pinned,
            });
        }
    }
    Ok(served)
}

/// Audits the chain served at `client` from `genesis`. `progress(height,
/// target, transactions)` is called after each block.
pub fn audit(
    client: &Client,
    genesis: &Genesis,
    progress: impl FnMut(u64, u64, u64),
) -> Result<ApiAuditReport, ApiAuditError> {
    audit_replayed(client, genesis, progress).map(|(report, _)| report)
}

/// [`audit`], also giving the replay it ended with: the state recomputed
/// from genesis, which matched what the node publishes, to read from
/// (exports, for instance) without trusting the node for any of it.
pub fn audit_replayed(
    client: &Client,
    genesis: &Genesis,
    progress: impl FnMut(u64, u64, u64),
) -> Result<(ApiAuditReport, Replay), ApiAuditError> {
    audit_stopping(client, genesis, None, progress).map(|(report, replay, _, _)| (report, replay))
}

/// [`audit_replayed`], and then that the chain it re-verified holds the
/// block `witness` last saw ([`witness::holds_checkpoint`]): a node
/// serving a chain cut short, or another history, fails even where every
/// block it serves re-verifies. Also gives the checkpoint's height.
pub fn audit_witnessed(
    client: &Client,
    genesis: &Genesis,
    witness: &WitnessState,
    progress: impl FnMut(u64, u64, u64),
) -> Result<(ApiAuditReport, Replay, u64), ApiAuditError> {
    let seen = witness.checkpoint.header.height;
    // `tip` is the chain's height when the audit began: the witness's
    // checkpoint was taken before, so a node serving that chain had
    // reached it.
    let (report, replay, tip, hash) = audit_stopping(client, genesis, Some(seen), progress)?;
    let height = witness::holds_checkpoint(witness, &report.genesis_hash, tip, |_| Ok(hash))?;
    Ok((report, replay, height))
}

/// The audit, with the replay stopping on its way at height `stop` (if the
/// chain reaches it): gives also the chain's height when the audit began
/// and the block hash the replay computed at `stop`.
fn audit_stopping(
    client: &Client,
    genesis: &Genesis,
    stop: Option<u64>,
    mut progress: impl FnMut(u64, u64, u64),
) -> Result<(ApiAuditReport, Replay, u64, Option<Hash>), ApiAuditError> {
    let source = &ApiSource::new(client);
    let mut replay = Replay::new(genesis)?;
    let target = match stop {
        Some(stop) => source.height_from(stop),
        None => source.height(),
    }
    .map_err(ApiAuditError::Node)?;
    let mut stopped = None;
    if let Some(stop) = stop.filter(|s| *s <= target) {
        source.run(&mut replay, stop, &mut progress)?;
        stopped = Some(replay.block_hash());
    }
    source.run(&mut replay, target, &mut progress)?;
    // The node may go on committing while its state is compared: each
    // answer says the height it was read at, and is compared with the
    // replay carried on to exactly that height.
    let mut chase = Chase {
        source,
        replay,
        progress,
    };
    let records = compare(&mut chase)?;
    let replay = chase.replay;
    let report = ApiAuditReport {
        genesis_hash: genesis
            .hash()
            .map_err(|e| ApiAuditError::Node(e.to_string()))?,
        blocks: replay.blocks,
        transactions: replay.transactions,
        records,
    };
    Ok((report, replay, target, stopped))
}

/// The replay, carried on block by block to the height of each answer it
/// is compared with.
struct Chase<'a, P> {
    source: &'a ApiSource<'a>,
    replay: Replay,
    progress: P,
}

impl<P: FnMut(u64, u64, u64)> Chase<'_, P> {
    /// GETs `path`, asking for an answer read at the replay's height or
    /// later, carries the replay on to the height the answer was read at,
    /// and returns the answer with that height. A node's chain only grows,
    /// so an answer read below a block already served (or one without its
    /// height) is refused.
    fn get(&mut self, path: &str) -> Result<(Value, u64), ApiAuditError> {
        let (v, height) = self
            .source
            .client
            .at_least(self.replay.height())
            .get_json_at(path)?;
        let height = height.ok_or_else(|| {
            ApiAuditError::Node(format!(
                "{path}: the answer does not say which height it was read at (no {HEIGHT_HEADER} header)"
            ))
        })?;
        if height < self.replay.height() {
            return Err(ApiAuditError::Node(format!(
                "{path} was answered at height {height}, after the node had served block {}",
                self.replay.height()
            )));
        }
        self.source
            .run(&mut self.replay, height, &mut self.progress)?;
        Ok((v, height))
    }

    /// The replayed state at the height of the last answer.
    fn state(&self) -> &MemKv {
        self.replay.state()
    }
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, ApiAuditError> {
    serde_json::to_value(v).map_err(|e| ApiAuditError::Node(e.to_string()))
}

/// The first path where two JSON documents differ, with both values.
fn first_difference(
    path: &str,
    published: &Value,
    computed: &Value,
) -> Option<(String, String, String)> {
    match (published, computed) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, bv) in b {
                let av = a.get(k).unwrap_or(&Value::Null);
                if let Some(d) = first_difference(&format!("{path}.{k}"), av, bv) {
                    return Some(d);
                }
            }
            a.keys()
                .find(|k| !b.contains_key(*k))
                .map(|k| (format!("{path}.{k}"), a[k].to_string(), "nothing".into()))
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (av, bv)) in a.iter().zip(b).enumerate() {
                if let Some(d) = first_difference(&format!("{path}[{i}]"), av, bv) {
                    return Some(d);
                }
            }
            (a.len() != b.len()).then(|| {
                (
                    format!("{path} (length)"),
                    a.len().to_string(),
                    b.len().to_string(),
                )
            })
        }
        (a, b) if a == b => None,
        (a, b) => Some((path.to_string(), a.to_string(), b.to_string())),
    }
}

fn same(height: u64, what: &str, published: &Value, computed: &Value) -> Result<(), ApiAuditError> {
    match first_difference(what, published, computed) {
        None => Ok(()),
        Some((what, published, computed)) => Err(ApiAuditError::StateMismatch {
            height,
            what,
            published,
            computed,
        }),
    }
}

/// Compares what the node publishes with the replayed state, each answer
/// at the height it was read at; returns the number of records compared.
fn compare<P: FnMut(u64, u64, u64)>(chase: &mut Chase<'_, P>) -> Result<u64, ApiAuditError> {
    let kv_err = |e: charity_ledger::kv::KvError| ApiAuditError::Node(e.to_string());
    let mut records = 0u64;
    let (published, height) = chase.get("/v1/orgs")?;
    let orgs = query::orgs(chase.state(), usize::MAX).map_err(kv_err)?;
    same(height, "orgs", &published, &to_value(&orgs)?)?;
    records += orgs.len() as u64;
    let (published, height) = chase.get("/v1/campaigns")?;
    let campaigns = query::campaigns(chase.state(), usize::MAX).map_err(kv_err)?;
    same(height, "campaigns", &published, &to_value(&campaigns)?)?;
    records += campaigns.len() as u64;
    for c in &campaigns {
        let id = &c.campaign_id;
        // Donations, page by page.
        let mut from = 0u64;
        loop {
            let (page, height) =
                chase.get(&format!("/v1/campaigns/{id}?from_seq={from}&limit=1000"))?;
            let state = chase.state();
            let mine = query::campaign_donations(state, id, from, 1_000).map_err(kv_err)?;
            same(
                height,
                &format!("campaign {id} donations from {from}"),
                page.get("donations").unwrap_or(&Value::Null),
                &to_value(&mine)?,
            )?;
            records += mine.len() as u64;
            if from == 0 {
                // Disbursements and their allocations come whole with
                // every page; compare them once.
                let mut list = Vec::new();
                for d in query::campaign_disbursements(state, id, usize::MAX).map_err(kv_err)? {
                    let allocations =
                        query::allocations_of_disbursement(state, &d.disbursement_id, usize::MAX)
                            .map_err(kv_err)?;
                    records += 1 + allocations.len() as u64;
                    list.push(serde_json::json!({
                        "disbursement": to_value(&d)?,
                        "allocations": to_value(&allocations)?,
                    }));
                }
                same(
                    height,
                    &format!("campaign {id} disbursements"),
                    page.get("disbursements").unwrap_or(&Value::Null),
                    &Value::Array(list),
                )?;
            }
            match mine.last() {
                Some(d) if mine.len() == 1_000 => from = d.seq + 1,
                _ => break,
            }
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_difference_is_named_by_its_path() {
        let a = json!({"c": [{"raised": 100, "spent": 5}], "x": 1});
        let b = json!({"c": [{"raised": 101, "spent": 5}], "x": 1});
        assert_eq!(
            first_difference("campaigns", &a, &b),
            Some(("campaigns.c[0].raised".into(), "100".into(), "101".into()))
        );
        assert_eq!(first_difference("x", &a, &a), None);
        let short = json!([1, 2]);
        let long = json!([1, 2, 3]);
        assert_eq!(
            first_difference("l", &short, &long).map(|d| d.0),
            Some("l (length)".into())
        );
        let extra = json!({"a": 1, "b": 2});
        let fewer = json!({"a": 1});
        assert_eq!(
            first_difference("o", &extra, &fewer).map(|d| d.0),
            Some("o.b".into())
        );
    }
}
