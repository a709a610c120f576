//! The witness: keeps the last checkpoint it saw of a chain and, each time
//! it runs, checks that the node's new checkpoint is signed by the
//! validators and extends the old one (an RFC 6962 consistency proof between
//! the two `log_root`s). A node that rewrote history cannot produce such a
//! proof; the witness then reports both checkpoints as evidence.
//!
//! When the validators change (`set_validators`), the new checkpoint names
//! a set the witness does not yet trust. It then finds the block where the
//! set changed, fetches the receipt of the `set_validators` transaction in
//! it and verifies that receipt against the set it trusts; only a change
//! the trusted validators committed is followed (design, "Receipts and
//! proofs", step 4). The node is trusted for nothing: the headers it serves
//! while searching only steer the search, and a wrong one ends in a refused
//! checkpoint, never in trusting a set nobody proved.

use std::path::Path;

use charity_ledger::block::Header;
use charity_ledger::hex::Hash;
use charity_ledger::merkle;
use charity_ledger::validators::{hash_power_list, PowerEntry};
use charity_ledger::vote::{verify_commit_list, CommitCertificate};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::Client;

/// A signed checkpoint: the latest header and its commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The header.
    pub header: Header,
    /// The commit certificate for it.
    pub commit: CommitCertificate,
}

/// What the witness keeps between runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessState {
    /// The genesis hash the chain was first seen with.
    pub genesis_hash: Hash,
    /// The validators trusted to sign checkpoints (`{pubkey, power}`).
    pub validators: Vec<PowerEntry>,
    /// The last checkpoint that checked out.
    pub checkpoint: Checkpoint,
}

/// What one run found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// First run: the checkpoint is signed and now kept.
    Started {
        /// Its height.
        height: u64,
    },
    /// The chain grew (or stayed) consistently.
    Extended {
        /// The old height.
        from: u64,
        /// The new height.
        to: u64,
        /// Heights from which a new validator set, proven by the receipt of
        /// its `set_validators` transaction, was followed.
        validator_changes: Vec<u64>,
    },
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// The node or the state file could not be read; nothing is concluded.
    #[error("{0}")]
    Unavailable(String),
    /// The node's checkpoint is not properly signed; it is not evidence of
    /// anything but a broken or lying node.
    #[error("the node's checkpoint at height {height} is not valid: {reason}")]
    BadCheckpoint {
        /// Its height.
        height: u64,
        /// Why.
        reason: String,
    },
    /// Two validly signed checkpoints that cannot both be true: history was
    /// rewritten.
    #[error("HISTORY REWRITTEN: {reason}")]
    Rewritten {
        /// What contradicts what.
        reason: String,
        /// The checkpoint kept from before.
        saved: Box<Checkpoint>,
        /// The contradicting checkpoint the node serves now.
        served: Box<Checkpoint>,
    },
    /// A chain checked against a witness's state starts from another
    /// genesis than the one the witness follows.
    #[error("the chain starts from genesis {found}, but the witness follows genesis {seen}")]
    OtherChain {
        /// The witness's genesis hash.
        seen: Hash,
        /// The chain's.
        found: Hash,
    },
    /// A chain checked against a witness's state ends below the checkpoint
    /// the witness saw: blocks it saw are missing.
    #[error("the chain ends at height {tip}, but the witness saw height {seen}: blocks it saw are missing (a store cut short or damaged, or a node that has not caught up)")]
    Behind {
        /// The witness's checkpoint height.
        seen: u64,
        /// The chain's height.
        tip: u64,
    },
    /// A chain checked against a witness's state holds another block at
    /// the witness's checkpoint height: history was rewritten.
    #[error(
        "HISTORY REWRITTEN: block {height} is {found} in this chain, but the witness saw {seen}"
    )]
    Diverged {
        /// The checkpoint height.
        height: u64,
        /// The block hash the witness saw.
        seen: Hash,
        /// The block hash in the chain.
        found: Hash,
    },
}

impl WitnessError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            WitnessError::Unavailable(_) => "witness_unavailable",
            WitnessError::BadCheckpoint { .. } => "witness_bad_checkpoint",
            WitnessError::Rewritten { .. } | WitnessError::Diverged { .. } => "history_rewritten",
            WitnessError::OtherChain { .. } => "witness_other_chain",
            WitnessError::Behind { .. } => "chain_behind_witness",
        }
    }
}

fn unavailable(e: impl std::fmt::Display) -> WitnessError {
    WitnessError::Unavailable(e.to_string())
}

/// Loads the state file; `None` if it does not exist yet.
pub fn load(path: &Path) -> Result<Option<WitnessState>, WitnessError> {
    match std::fs::read(path) {
        Ok(bytes) => charity_ledger::json::from_slice(&bytes, 1024 * 1024)
            .map(Some)
            .map_err(|e| unavailable(format!("{} is not a witness state: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(unavailable(format!("reading {}: {e}", path.display()))),
    }
}

/// Loads a state file that must exist (to check a chain against).
pub fn load_existing(path: &Path) -> Result<WitnessState, WitnessError> {
    load(path)?.ok_or_else(|| unavailable(format!("{} holds no witness state", path.display())))
}

/// Saves the state file atomically (a temporary file renamed over it).
pub fn save(path: &Path, state: &WitnessState) -> Result<(), WitnessError> {
    let bytes = serde_json::to_vec_pretty(state).map_err(unavailable)?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)
        .map_err(|e| unavailable(format!("writing {}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| unavailable(format!("replacing {}: {e}", path.display())))
}

/// Checks that a chain re-verified from genesis holds what a witness saw:
/// the witness's genesis, at least its checkpoint's height, and at that
/// height the very block of its checkpoint. This is what tells a store cut
/// short (which re-verifies as a shorter chain) or a rewritten history
/// from the chain the witness saw. `genesis` and `tip` are the chain's
/// genesis hash and height, `hash_at(h)` its verified block hash at `h`.
/// Returns the checkpoint's height.
pub fn holds_checkpoint(
    state: &WitnessState,
    genesis: &Hash,
    tip: u64,
    hash_at: impl FnOnce(u64) -> Result<Option<Hash>, String>,
) -> Result<u64, WitnessError> {
    if &state.genesis_hash != genesis {
        return Err(WitnessError::OtherChain {
            seen: state.genesis_hash,
            found: *genesis,
        });
    }
    let header = &state.checkpoint.header;
    let seen = header.hash().map_err(unavailable)?;
    if tip < header.height {
        return Err(WitnessError::Behind {
            seen: header.height,
            tip,
        });
    }
    let found = hash_at(header.height)
        .map_err(unavailable)?
        .ok_or_else(|| unavailable(format!("the chain has no block {}", header.height)))?;
    if found != seen {
        return Err(WitnessError::Diverged {
            height: header.height,
            seen,
            found,
        });
    }
    Ok(header.height)
}

/// Checks that `cp` is signed by more than 2/3 of `validators`.
pub fn verify_checkpoint(cp: &Checkpoint, validators: &[PowerEntry]) -> Result<Hash, String> {
    let hash = cp.header.hash().map_err(|e| e.to_string())?;
    let vhash = hash_power_list(validators).map_err(|e| e.to_string())?;
    if vhash != cp.header.validators_hash {
        return Err(format!(
            "the header names validator set {}, the witness trusts {vhash} and no committed set_validators leads from one to the other",
            cp.header.validators_hash
        ));
    }
    verify_commit_list(
        &cp.header.chain_id,
        cp.header.height,
        &hash,
        &cp.commit,
        validators,
    )
    .map_err(|e| e.to_string())?;
    Ok(hash)
}

fn fetch_checkpoint(client: &Client) -> Result<Checkpoint, WitnessError> {
    decode_checkpoint(client.get_json("/v1/checkpoint").map_err(unavailable)?)
}

fn decode_checkpoint(v: Value) -> Result<Checkpoint, WitnessError> {
    serde_json::from_value(v)
        .map_err(|e| unavailable(format!("/v1/checkpoint does not decode: {e}")))
}

/// The checkpoint of a node that has reached `height` (the witness's last):
/// behind a load balancer, a node that lags is not taken for a chain that
/// went back. If none has, the node's own checkpoint, which the checks then
/// find short.
fn fetch_checkpoint_from(client: &Client, height: u64) -> Result<Checkpoint, WitnessError> {
    decode_checkpoint(
        client
            .get_json_reaching("/v1/checkpoint", height)
            .map_err(unavailable)?,
    )
}

fn proof(v: &Value) -> Result<Vec<[u8; 32]>, WitnessError> {
    v.get("proof")
        .and_then(Value::as_array)
        .ok_or_else(|| unavailable("/v1/log/consistency has no proof list"))?
        .iter()
        .map(|h| {
            h.as_str()
                .and_then(|s| Hash::parse(s).ok())
                .map(|h| h.0)
                .ok_or_else(|| unavailable("/v1/log/consistency: a proof entry is not 64 hex"))
        })
        .collect()
}

/// One witness run. On first run (`saved` is `None`) the node's genesis
/// fixes the validators; later runs trust only what was saved.
pub fn run(
    client: &Client,
    saved: Option<WitnessState>,
) -> Result<(Outcome, WitnessState), WitnessError> {
    let Some(saved) = saved else {
        let g = client.get_bytes("/v1/genesis").map_err(unavailable)?;
        let g = charity_ledger::Genesis::decode(&g)
            .map_err(|e| unavailable(format!("/v1/genesis: {e}")))?;
        let validators = g.validator_set().map_err(unavailable)?.public_list();
        let cp = fetch_checkpoint(client)?;
        verify_checkpoint(&cp, &validators).map_err(|reason| WitnessError::BadCheckpoint {
            height: cp.header.height,
            reason,
        })?;
        let height = cp.header.height;
        return Ok((
            Outcome::Started { height },
            WitnessState {
                genesis_hash: g.hash().map_err(unavailable)?,
                validators,
                checkpoint: cp,
            },
        ));
    };
    let new = fetch_checkpoint_from(client, saved.checkpoint.header.height)?;
    // Everything else is read from a node that has the new checkpoint.
    let client = &client.at_least(new.header.height);
    let (validators, validator_changes) = follow_validators(
        client,
        saved.validators.clone(),
        saved.checkpoint.header.height,
        &new.header,
    )?;
    let new_hash =
        verify_checkpoint(&new, &validators).map_err(|reason| WitnessError::BadCheckpoint {
            height: new.header.height,
            reason,
        })?;
    let old = &saved.checkpoint;
    let rewritten = |reason: String| WitnessError::Rewritten {
        reason,
        saved: Box::new(old.clone()),
        served: Box::new(new.clone()),
    };
    if new.header.chain_id != old.header.chain_id {
        return Err(rewritten(format!(
            "the chain id changed from {:?} to {:?}",
            old.header.chain_id, new.header.chain_id
        )));
    }
    let (o, n) = (&old.header, &new.header);
    if n.height < o.height || n.log_size < o.log_size {
        return Err(rewritten(format!(
            "the chain went back from height {} ({} transactions) to height {} ({} transactions)",
            o.height, o.log_size, n.height, n.log_size
        )));
    }
    if n.height == o.height {
        let old_hash = o.hash().map_err(unavailable)?;
        if old_hash != new_hash {
            return Err(rewritten(format!(
                "two different blocks signed at height {}: {old_hash} and {new_hash}",
                n.height
            )));
        }
    } else if o.log_size > 0 {
        let v = client
            .get_json(&format!(
                "/v1/log/consistency?from={}&to={}",
                o.log_size, n.log_size
            ))
            .map_err(unavailable)?;
        let p = proof(&v)?;
        merkle::verify_consistency(o.log_size, n.log_size, o.log_root.as_bytes(), n.log_root.as_bytes(), &p)
            .map_err(|e| {
                rewritten(format!(
                    "the log of {} transactions at height {} is not a prefix of the log of {} at height {}: {e}",
                    o.log_size, o.height, n.log_size, n.height
                ))
            })?;
    }
    let from = o.height;
    let to = n.height;
    Ok((
        Outcome::Extended {
            from,
            to,
            validator_changes,
        },
        WitnessState {
            checkpoint: new,
            validators,
            ..saved
        },
    ))
}

fn header_at(client: &Client, height: u64) -> Result<Header, WitnessError> {
    let v = client
        .get_json(&format!("/v1/blocks/{height}"))
        .map_err(unavailable)?;
    let header = v
        .get("header")
        .cloned()
        .ok_or_else(|| unavailable(format!("/v1/blocks/{height} has no header")))?;
    serde_json::from_value(header).map_err(|e| {
        unavailable(format!(
            "/v1/blocks/{height}: the header does not decode: {e}"
        ))
    })
}

/// The validator set in force at `target`'s height, reached from
/// `trusted` (in force at height `from`) through proven `set_validators`
/// changes; with the heights at which each change took effect.
fn follow_validators(
    client: &Client,
    mut trusted: Vec<PowerEntry>,
    mut from: u64,
    target: &Header,
) -> Result<(Vec<PowerEntry>, Vec<u64>), WitnessError> {
    let refused = |reason: String| WitnessError::BadCheckpoint {
        height: target.height,
        reason,
    };
    let mut changes = Vec::new();
    loop {
        let current = hash_power_list(&trusted).map_err(unavailable)?;
        if current == target.validators_hash || target.height <= from {
            // Either nothing changed, or the checkpoint is not ahead of the
            // saved one: the usual checks report what is wrong.
            return Ok((trusted, changes));
        }
        // The set in force at `lo` is `trusted`; at `hi` it is another.
        let (mut lo, mut hi) = (from, target.height);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if header_at(client, mid)?.validators_hash == current {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        // A set changes from the height after its set_validators
        // transaction: that transaction is in block `lo`.
        let ids = client
            .get_json(&format!("/v1/blocks/{lo}"))
            .map_err(unavailable)?
            .get("tx_ids")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| unavailable(format!("/v1/blocks/{lo} has no tx_ids")))?;
        let mut next = None;
        for id in &ids {
            let id = id
                .as_str()
                .and_then(|s| Hash::parse(s).ok())
                .ok_or_else(|| unavailable(format!("/v1/blocks/{lo}: a tx id is not 64 hex")))?;
            let (receipt, _) = client.receipt(&id).map_err(unavailable)?;
            if !matches!(receipt.tx.kind(), charity_ledger::TxKind::SetValidators(_)) {
                continue;
            }
            if receipt.height != lo {
                return Err(refused(format!(
                    "the receipt of {id} is for height {}, not {lo}",
                    receipt.height
                )));
            }
            // The last change in a block is the one in force after it.
            next = Some(crate::verify::validator_change(&receipt, &trusted).map_err(refused)?);
        }
        let Some(next) = next else {
            return Err(refused(format!(
                "the validators change at height {hi}, but block {lo} holds no set_validators transaction"
            )));
        };
        trusted = next;
        changes.push(hi);
        from = hi;
        let header = header_at(client, hi)?;
        if header.validators_hash != hash_power_list(&trusted).map_err(unavailable)? {
            return Err(refused(format!(
                "the header at height {hi} does not name the set the transaction at height {lo} set"
            )));
        }
    }
}
