//! A development chain: a whole network's validators in one process.
//!
//! [`DevChain`] builds blocks from transactions, signs their precommits with
//! every validator key it holds and commits them, with no consensus engine
//! and no network. Tests, benchmarks and tools use it to produce real,
//! fully signed and verifiable chains; nodes use the consensus engine
//! instead.

use crate::chain::{self, BlockEffects, BuiltBlock};
use crate::crypto::Keypair;
use crate::error::TxError;
use crate::genesis::{Genesis, GenesisRegulator};
use crate::hex::Hash;
use crate::ids::Region;
use crate::kinds::ValidatorEntry;
use crate::kv::{KvRead, MemKv};
use crate::org_id::{OrgId, OrgIdError};
use crate::records::ChainTip;
use crate::store::{Store, StoreError};
use crate::tx::Transaction;
use crate::vote::{vote_sign_bytes, CommitCertificate, CommitSignature, VoteType};

/// Where committed blocks go.
pub trait Backend {
    /// The committed state.
    type Kv: KvRead;
    /// Reads committed state.
    fn kv(&self) -> &Self::Kv;
    /// The tip.
    fn tip(&self) -> &ChainTip;
    /// Commits an executed block.
    fn commit(&mut self, effects: BlockEffects, cert: &CommitCertificate)
        -> Result<(), StoreError>;
}

/// Committed state held in memory.
#[derive(Clone, Debug)]
pub struct MemBackend {
    /// The state.
    pub kv: MemKv,
    /// The tip.
    pub tip: ChainTip,
}

impl MemBackend {
    /// The state right after genesis.
    pub fn new(genesis: &Genesis) -> Result<Self, StoreError> {
        let (writes, tip) = chain::genesis_writes(genesis)?;
        let mut kv = MemKv::new();
        kv.apply(writes);
        Ok(MemBackend { kv, tip })
    }
}

impl Backend for MemBackend {
    type Kv = MemKv;
    fn kv(&self) -> &MemKv {
        &self.kv
    }
    fn tip(&self) -> &ChainTip {
        &self.tip
    }
    fn commit(
        &mut self,
        effects: BlockEffects,
        _cert: &CommitCertificate,
    ) -> Result<(), StoreError> {
        self.kv.apply(effects.writes);
        self.tip = effects.tip;
        Ok(())
    }
}

impl Backend for Store {
    type Kv = sled::Tree;
    fn kv(&self) -> &sled::Tree {
        Store::kv(self)
    }
    fn tip(&self) -> &ChainTip {
        Store::tip(self)
    }
    fn commit(
        &mut self,
        effects: BlockEffects,
        cert: &CommitCertificate,
    ) -> Result<(), StoreError> {
        Store::commit(self, effects, cert)
    }
}

/// Signs a commit certificate for `block_hash` with every key in `keys`.
pub fn sign_commit(
    chain_id: &str,
    height: u64,
    round: u32,
    block_hash: &Hash,
    keys: &[Keypair],
) -> CommitCertificate {
    let msg = vote_sign_bytes(
        chain_id,
        height,
        round,
        VoteType::Precommit,
        Some(block_hash),
    );
    CommitCertificate {
        round,
        signatures: keys
            .iter()
            .map(|k| CommitSignature {
                validator: k.public(),
                sig: k.sign(&msg),
            })
            .collect(),
    }
}

/// A block committed by a [`DevChain`].
#[derive(Clone, Debug)]
pub struct Committed {
    /// The block, its effects and the transactions left out.
    pub built: BuiltBlock,
    /// Its commit certificate.
    pub commit: CommitCertificate,
}

impl Committed {
    /// Fails with the first left-out transaction's error, if any.
    pub fn all_accepted(&self) -> Result<(), (Hash, TxError)> {
        match self.built.rejected.first() {
            Some(r) => Err(r.clone()),
            None => Ok(()),
        }
    }
}

/// A chain whose validators all live in this process.
pub struct DevChain<B: Backend> {
    /// Where blocks go.
    pub backend: B,
    validators: Vec<Keypair>,
}

impl<B: Backend> DevChain<B> {
    /// A dev chain committing to `backend`, signing with `validators`.
    pub fn new(backend: B, validators: Vec<Keypair>) -> Self {
        DevChain {
            backend,
            validators,
        }
    }

    /// The tip.
    pub fn tip(&self) -> &ChainTip {
        self.backend.tip()
    }

    /// Signs (and proposes) later blocks with `validators`: after a
    /// committed `set_validators`, the keys of the new set.
    pub fn set_signers(&mut self, validators: Vec<Keypair>) {
        self.validators = validators;
    }

    /// Builds a block at `time` from `txs` (leaving out invalid ones),
    /// signs it with every validator and commits it.
    pub fn commit_block(
        &mut self,
        txs: Vec<Transaction>,
        time: u64,
    ) -> Result<Committed, StoreError> {
        let tip = self.backend.tip().clone();
        let time = time.max(tip.time + 1);
        let proposer = self
            .validators
            .get((tip.height as usize) % self.validators.len().max(1))
            .map(|k| k.public())
            .ok_or_else(|| {
                StoreError::BadRequest("a dev chain needs at least one validator".into())
            })?;
        let built = chain::build_block(self.backend.kv(), &tip, txs, time, proposer)?;
        let commit = sign_commit(
            &tip.chain_id,
            tip.height + 1,
            0,
            &built.effects.block_hash,
            &self.validators,
        );
        self.backend.commit(built.effects.clone(), &commit)?;
        Ok(Committed { built, commit })
    }
}

/// A deterministic key pair for fixtures: the seed is `label`'s SHA-256.
pub fn key(label: &str) -> Keypair {
    Keypair::from_seed(&crate::crypto::sha256(label.as_bytes()).0)
}

/// A valid credit code built from a 17-character body.
pub fn org_id(body17: &str) -> Result<OrgId, OrgIdError> {
    OrgId::from_parts(body17)
}

/// A genesis with one regulator running every validator (fixture networks).
pub fn genesis(
    chain_id: &str,
    genesis_time: u64,
    regulator: &OrgId,
    regulator_key: &Keypair,
    validators: &[Keypair],
) -> Result<Genesis, StoreError> {
    let region = Region::parse("440100").map_err(|e| StoreError::BadRequest(e.to_string()))?;
    let g = Genesis {
        chain_id: chain_id.to_owned(),
        currency: "CNY".into(),
        genesis_time,
        regulators: vec![GenesisRegulator {
            org_id: regulator.clone(),
            name: "广州市民政局".into(),
            region,
            keys: vec![regulator_key.public()],
        }],
        validators: validators
            .iter()
            .map(|k| ValidatorEntry {
                pubkey: k.public(),
                power: 10,
                org_id: regulator.clone(),
            })
            .collect(),
    };
    g.check()?;
    Ok(g)
}

/// Signs a transaction of `kind` for `chain_id` with `key`; `nonce`
/// distinguishes otherwise equal bodies.
pub fn tx(
    chain_id: &str,
    key: &Keypair,
    nonce: u64,
    kind: crate::tx::TxKind,
) -> Result<Transaction, crate::json::EncodeError> {
    Transaction::sign(
        crate::tx::TxBody {
            chain_id: chain_id.to_owned(),
            signer: key.public(),
            nonce: crate::hex::Nonce::from(nonce.to_be_bytes()),
            created_at: 0,
            kind,
        },
        key,
    )
}
