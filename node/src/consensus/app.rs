//! The application side of consensus: answers every message of the engine.
//!
//! - As proposer it builds a block from the mempool (waiting, within the
//!   propose timeout, for a first transaction or the heartbeat) and streams
//!   it as parts: an init, the block's bytes in pieces, and a fin signed by
//!   the proposer over the proposal.
//! - As validator it reassembles streams, checks the fin signature of the
//!   expected proposer, rebuilds the block and re-executes it on its own
//!   state ([`charity_ledger::execute_block`]): an invalid block, a wrong
//!   proposer or a time too far ahead of this node's clock is `Invalid`, and
//!   the engine votes nil.
//! - On a decision it re-executes the block, stores it with the commit
//!   certificate in one atomic, flushed write, announces it to the API's
//!   events stream and mempool, and starts the next height.
//! - For value sync it serves stored blocks with their certificates and
//!   accepts synced ones (the engine checks their certificates).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use charity_ledger::chain::{build_block_with, execute_block_with, Signatures};
use charity_ledger::hex::Hash;
use charity_ledger::{execute_block, BlockEffects, Keypair, Store};
use malachitebft_app_channel::app::engine::host::Next;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::core::{
    CommitCertificate, CommitSignature, Round, SigningProvider as _, Validity, Value as _,
};
use malachitebft_app_channel::app::types::sync::RawDecidedValue;
use malachitebft_app_channel::app::types::{LocallyProposedValue, ProposedValue};
use malachitebft_app_channel::{AppMsg, Channels, NetworkMsg};

use super::codec::{decode_block, encode_block};
use super::context::{
    ledger_commit, proposal_sign_bytes, Address, BlockId, BlockValue, CharityContext, Height,
    Proposal, ProposalPart, Signer, ValidatorSet,
};
use super::streams::Streams;
use crate::api::{ApiState, BlockEvent};

/// Bytes of block per data part.
const PART_BYTES: usize = 256 * 1024;
/// Transactions in a block, at most.
const BLOCK_TXS: usize = 2_000;
/// How far a proposed block's time may be ahead of this node's clock.
const MAX_CLOCK_SKEW_MS: u64 = 5_000;

/// Settings of the application.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Longest wait for a first transaction before proposing an empty
    /// block (the heartbeat).
    pub heartbeat: Duration,
    /// Wait after the first transaction, to fill the block.
    pub linger: Duration,
    /// Fault injection for tests: propose blocks that carry a transaction
    /// no validator accepts (set by `CHARITY_FAULT=invalid-proposals`).
    pub propose_invalid: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            heartbeat: Duration::from_secs(10),
            linger: Duration::from_millis(200),
            propose_invalid: false,
        }
    }
}

/// The application's state.
pub struct App {
    ctx: CharityContext,
    signer: Signer,
    address: Address,
    store: Arc<RwLock<Store>>,
    api: ApiState,
    settings: Settings,
    streams: Streams,
    /// Proposals seen or built, by height, round and value.
    proposals: BTreeMap<(u64, i64), Vec<ProposedValue<CharityContext>>>,
    /// What committing each block this node built or validated writes, by
    /// block hash: a decided block is then stored without executing it a
    /// second time (its signatures and rules were checked on the same
    /// parent state, which the block hash names).
    executed: std::sync::Mutex<HashMap<Hash, BlockEffects>>,
    height: Height,
    round: Round,
    clock: Arc<dyn Fn() -> u64 + Send + Sync>,
}

/// Why the application stopped.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The store failed.
    #[error("the store failed: {0}")]
    Store(String),
    /// The engine went away.
    #[error("the consensus engine stopped")]
    EngineGone,
}

fn store_err(e: impl std::fmt::Display) -> AppError {
    AppError::Store(e.to_string())
}

impl App {
    /// An application over `store`, signing with `key`, serving `api`.
    pub fn new(
        chain_id: &str,
        key: Keypair,
        store: Arc<RwLock<Store>>,
        api: ApiState,
        settings: Settings,
    ) -> Self {
        let address = Address(key.public());
        let clock = api.clock.clone();
        App {
            ctx: CharityContext::new(chain_id),
            signer: Signer::new(chain_id, key),
            address,
            store,
            api,
            settings,
            streams: Streams::default(),
            proposals: BTreeMap::new(),
            executed: std::sync::Mutex::new(HashMap::new()),
            height: Height(1),
            round: Round::Nil,
            clock,
        }
    }

    fn read(&self) -> Result<std::sync::RwLockReadGuard<'_, Store>, AppError> {
        self.store
            .read()
            .map_err(|_| AppError::Store("the store lock is poisoned".into()))
    }

    /// The validator set in force at `height`, if known.
    fn validators_at(&self, height: Height) -> Result<Option<ValidatorSet>, AppError> {
        let store = self.read()?;
        let tip = store.tip();
        if height.0 == tip.height + 1 {
            return Ok(Some(ValidatorSet::from_ledger(&tip.next_validators)));
        }
        if height.0 == 0 || height.0 > tip.height {
            return Ok(None);
        }
        store
            .validators_at(height.0)
            .map(|s| Some(ValidatorSet::from_ledger(&s)))
            .map_err(store_err)
    }

    fn next_set(&self) -> Result<(Height, ValidatorSet), AppError> {
        let store = self.read()?;
        let tip = store.tip();
        Ok((
            Height(tip.height + 1),
            ValidatorSet::from_ledger(&tip.next_validators),
        ))
    }

    fn remember(&mut self, p: ProposedValue<CharityContext>) {
        let list = self
            .proposals
            .entry((p.height.0, p.round.as_i64()))
            .or_default();
        if !list.iter().any(|q| q.value.id() == p.value.id()) {
            list.push(p);
        }
    }

    fn find(&self, height: Height, id: &BlockId) -> Option<&ProposedValue<CharityContext>> {
        self.proposals
            .range((height.0, i64::MIN)..=(height.0, i64::MAX))
            .flat_map(|(_, v)| v.iter())
            .find(|p| &p.value.id() == id)
    }

    /// Builds our block for `height`, waiting first for a transaction (at
    /// most the heartbeat, and never past the engine's timeout).
    async fn build(&mut self, height: Height, timeout: Duration) -> Result<BlockValue, AppError> {
        let wait = self
            .settings
            .heartbeat
            .min(timeout.saturating_sub(Duration::from_millis(500)));
        let mempool = self.api.mempool.clone();
        if tokio::time::timeout(wait, mempool.wait_for_transaction())
            .await
            .is_ok()
        {
            // A short linger lets a burst of submissions share the block.
            let linger = self.settings.linger.min(wait);
            tokio::time::sleep(linger).await;
        }
        let candidates = self.api.mempool.peek(BLOCK_TXS);
        let store = self.read()?;
        let tip = store.tip().clone();
        if tip.height + 1 != height.0 {
            return Err(AppError::Store(format!(
                "asked to propose height {height} while the store is at {}",
                tip.height
            )));
        }
        let time = (self.clock)().max(tip.time + 1);
        // The candidates come from our pool: their signatures were
        // verified when they arrived.
        let known = self.api.mempool.verified_among(&candidates);
        let vouch = |t: &charity_ledger::Transaction| known.contains(&t.id());
        let built = build_block_with(
            store.kv(),
            &tip,
            candidates,
            time,
            self.address.0,
            Signatures::StrictUnlessVerified(&vouch),
        )
        .map_err(store_err)?;
        drop(store);
        // What the block could not take will not become valid by waiting.
        let rejected: Vec<Hash> = built.rejected.iter().map(|(id, _)| *id).collect();
        self.api.mempool.remove(&rejected);
        let mut block = built.block;
        if self.settings.propose_invalid {
            corrupt(&mut block, self.ctx.chain_id(), height.0);
        } else {
            self.executed_block(built.effects);
        }
        BlockValue::new(block).map_err(store_err)
    }

    fn stream(
        &self,
        height: Height,
        round: Round,
        pol_round: Round,
        value: &BlockValue,
    ) -> Vec<StreamMessage<ProposalPart>> {
        let mut parts = vec![ProposalPart::Init {
            height,
            round,
            pol_round,
            proposer: self.address,
        }];
        match encode_block(value.block()) {
            Ok(bytes) => {
                for chunk in bytes.chunks(PART_BYTES) {
                    parts.push(ProposalPart::Data(chunk.to_vec()));
                }
            }
            Err(e) => {
                tracing::error!(%e, "cannot encode our own block");
                return Vec::new();
            }
        }
        let proposal = Proposal {
            height,
            round,
            value: value.clone(),
            pol_round,
            proposer: self.address,
        };
        let sig = self.signer.sign_proposal(proposal).signature;
        parts.push(ProposalPart::Fin(sig));
        let mut id = height.0.to_be_bytes().to_vec();
        id.extend_from_slice(&round.as_i64().to_be_bytes());
        id.extend_from_slice(self.address.0.as_bytes());
        let stream_id = StreamId::new(Bytes::from(id));
        let n = parts.len() as u64;
        let mut out: Vec<StreamMessage<ProposalPart>> = parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| StreamMessage::new(stream_id.clone(), i as u64, StreamContent::Data(p)))
            .collect();
        out.push(StreamMessage::new(stream_id, n, StreamContent::Fin));
        out
    }

    /// A complete stream: checks who sent it, rebuilds and validates the
    /// block. `None` if it cannot be judged (not a proposal at all).
    fn assemble(
        &mut self,
        parts: Vec<ProposalPart>,
    ) -> Result<Option<ProposedValue<CharityContext>>, AppError> {
        let mut it = parts.into_iter();
        let Some(ProposalPart::Init {
            height,
            round,
            pol_round,
            proposer,
        }) = it.next()
        else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        let mut fin = None;
        for p in it {
            match p {
                ProposalPart::Data(d) => bytes.extend_from_slice(&d),
                ProposalPart::Fin(s) => fin = Some(s),
                ProposalPart::Init { .. } => return Ok(None),
            }
        }
        let Some(fin) = fin else { return Ok(None) };
        let value = match decode_block(&bytes) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(%height, %round, %proposer, %e, "undecodable proposal");
                return Ok(None);
            }
        };
        let Some(set) = self.validators_at(height)? else {
            // A height far ahead: nothing to check it against yet.
            return Ok(None);
        };
        let expected = *malachitebft_app_channel::app::types::core::Validator::address(
            malachitebft_app_channel::app::types::core::Context::select_proposer(
                &self.ctx, &set, height, round,
            ),
        );
        let proposal = Proposal {
            height,
            round,
            value: value.clone(),
            pol_round,
            proposer,
        };
        let signed = charity_ledger::crypto::verify(
            &proposer.0,
            &proposal_sign_bytes(self.ctx.chain_id(), &proposal),
            &fin,
        )
        .is_ok();
        if proposer != expected || !signed {
            tracing::warn!(%height, %round, %proposer, "proposal from the wrong proposer or badly signed");
            return Ok(None);
        }
        let validity = self.validate(height, &value, &proposer)?;
        let pv = ProposedValue {
            height,
            round,
            valid_round: pol_round,
            proposer,
            value,
            validity,
        };
        self.remember(pv.clone());
        Ok(Some(pv))
    }

    /// Re-executes a proposed block on our state.
    fn validate(
        &self,
        height: Height,
        value: &BlockValue,
        proposer: &Address,
    ) -> Result<Validity, AppError> {
        let store = self.read()?;
        let tip = store.tip();
        if height.0 != tip.height + 1 {
            // Validated when its height starts (the engine asks again
            // through StartedRound).
            return Ok(Validity::Valid);
        }
        let block = value.block();
        if block.header.proposer != proposer.0 {
            tracing::warn!(%height, "the header names another proposer");
            return Ok(Validity::Invalid);
        }
        if block.header.time > (self.clock)().saturating_add(MAX_CLOCK_SKEW_MS) {
            tracing::warn!(%height, time = block.header.time, "block time is ahead of our clock");
            return Ok(Validity::Invalid);
        }
        // Transactions that reached our pool had their signatures
        // verified on arrival; only the others are checked here.
        let known = self.api.mempool.verified_among(&block.txs);
        let vouch = |t: &charity_ledger::Transaction| known.contains(&t.id());
        match execute_block_with(
            store.kv(),
            tip,
            block,
            Signatures::StrictUnlessVerified(&vouch),
        ) {
            Ok(effects) => {
                self.executed_block(effects);
                Ok(Validity::Valid)
            }
            Err(e) => {
                tracing::warn!(%height, %e, "invalid proposed block");
                Ok(Validity::Invalid)
            }
        }
    }

    /// Stores a decided block with its certificate and announces it.
    fn commit(&mut self, cert: &CommitCertificate<CharityContext>) -> Result<(), AppError> {
        let value = self
            .find(cert.height, &cert.value_id)
            .map(|p| p.value.clone())
            .ok_or_else(|| {
                AppError::Store(format!("no proposal for decided block {}", cert.value_id))
            })?;
        let commit = ledger_commit(cert).map_err(AppError::Store)?;
        let event = {
            let mut store = self
                .store
                .write()
                .map_err(|_| AppError::Store("the store lock is poisoned".into()))?;
            if store.tip().height >= cert.height.0 {
                // Already stored (e.g. replayed after a restart).
                return Ok(());
            }
            let tip = store.tip().clone();
            let known = self
                .executed
                .lock()
                .ok()
                .and_then(|mut m| m.remove(&cert.value_id.0))
                .filter(|e| {
                    e.header.height == tip.height + 1 && e.header.prev_hash == tip.block_hash
                });
            let effects = match known {
                Some(e) => e,
                None => execute_block(store.kv(), &tip, value.block()).map_err(store_err)?,
            };
            let event = BlockEvent {
                height: effects.header.height,
                hash: effects.block_hash,
                time: effects.header.time,
                tx_ids: value.block().tx_ids(),
            };
            store.commit(effects, &commit).map_err(store_err)?;
            event
        };
        tracing::info!(height = event.height, txs = event.tx_ids.len(), hash = %event.hash, "committed");
        self.api.committed(event);
        let h = cert.height.0;
        self.proposals.retain(|(ph, _), _| *ph > h);
        if let Ok(mut m) = self.executed.lock() {
            m.retain(|_, e| e.header.height > h);
        }
        Ok(())
    }

    /// Keeps what committing a block this node built or validated writes.
    fn executed_block(&self, effects: BlockEffects) {
        if let Ok(mut m) = self.executed.lock() {
            m.insert(effects.block_hash, effects);
        }
    }

    /// A stored block and its certificate, for a lagging peer.
    fn decided(&self, height: Height) -> Result<Option<RawDecidedValue<CharityContext>>, AppError> {
        let store = self.read()?;
        let Some(block) = store.block(height.0).map_err(store_err)? else {
            return Ok(None);
        };
        let Some(hash) = store.block_hash(height.0).map_err(store_err)? else {
            return Ok(None);
        };
        let cert = store.commit_certificate(height.0).map_err(store_err)?;
        let bytes = encode_block(&block).map_err(store_err)?;
        Ok(Some(RawDecidedValue::new(
            Bytes::from(bytes),
            CommitCertificate {
                height,
                round: Round::new(cert.round),
                value_id: BlockId(hash),
                commit_signatures: cert
                    .signatures
                    .iter()
                    .map(|s| CommitSignature::new(Address(s.validator), s.sig))
                    .collect(),
            },
        )))
    }
}

/// Test fault: adds a registration signed by a key no organisation holds,
/// with the header's transaction count and root made to match, so the
/// block is well formed but breaks the ledger's rules.
fn corrupt(block: &mut charity_ledger::Block, chain_id: &str, height: u64) {
    let stranger = Keypair::from_seed(&[0x5a; 32]);
    let kind = charity_ledger::TxKind::AuditNote(charity_ledger::kinds::AuditNote {
        subject: "fault-injection".into(),
        severity: charity_ledger::kinds::Severity::Info,
        finding: format!("an invalid transaction proposed at height {height}"),
    });
    let body = charity_ledger::TxBody {
        chain_id: chain_id.to_owned(),
        signer: stranger.public(),
        nonce: charity_ledger::hex::Nonce::from(height.to_be_bytes()),
        created_at: block.header.time,
        kind,
    };
    if let Ok(tx) = charity_ledger::Transaction::sign(body, &stranger) {
        block.txs.push(tx);
        block.header.tx_count = block.txs.len() as u64;
        let ids: Vec<[u8; 32]> = block.txs.iter().map(|t| t.id().0).collect();
        block.header.tx_root = Hash::from(charity_ledger::merkle::root(&ids));
    }
}

/// Answers the engine until it stops.
pub async fn run(app: &mut App, channels: &mut Channels<CharityContext>) -> Result<(), AppError> {
    while let Some(msg) = channels.consensus.recv().await {
        match msg {
            AppMsg::ConsensusReady { reply } => {
                let (h, set) = app.next_set()?;
                tracing::info!(height = %h, "consensus ready");
                let _ = reply.send((h, set));
            }
            AppMsg::StartedRound {
                height,
                round,
                proposer,
                reply_value,
                ..
            } => {
                app.height = height;
                app.round = round;
                tracing::debug!(%height, %round, %proposer, "round started");
                // Proposals that arrived before this height started are
                // validated now, on the state they build on.
                let mut ready = Vec::new();
                if let Some(list) = app.proposals.get(&(height.0, round.as_i64())).cloned() {
                    for mut p in list {
                        p.validity = app.validate(height, &p.value, &p.proposer)?;
                        ready.push(p);
                    }
                }
                if let Some(list) = app.proposals.get_mut(&(height.0, round.as_i64())) {
                    *list = ready.clone();
                }
                let _ = reply_value.send(ready);
            }
            AppMsg::GetValue {
                height,
                round,
                timeout,
                reply,
            } => {
                let existing = app
                    .proposals
                    .get(&(height.0, round.as_i64()))
                    .and_then(|l| l.iter().find(|p| p.proposer == app.address))
                    .map(|p| p.value.clone());
                let value = match existing {
                    Some(v) => v,
                    None => app.build(height, timeout).await?,
                };
                app.remember(ProposedValue {
                    height,
                    round,
                    valid_round: Round::Nil,
                    proposer: app.address,
                    value: value.clone(),
                    validity: Validity::Valid,
                });
                let _ = reply.send(LocallyProposedValue::new(height, round, value.clone()));
                for m in app.stream(height, round, Round::Nil, &value) {
                    if channels
                        .network
                        .send(NetworkMsg::PublishProposalPart(m))
                        .await
                        .is_err()
                    {
                        return Err(AppError::EngineGone);
                    }
                }
            }
            AppMsg::ExtendVote { reply, .. } => {
                let _ = reply.send(None);
            }
            AppMsg::VerifyVoteExtension { reply, .. } => {
                let _ = reply.send(Ok(()));
            }
            AppMsg::ReceivedProposalPart { from, part, reply } => {
                let value = match app.streams.insert(from, part) {
                    Some(parts) => app.assemble(parts)?,
                    None => None,
                };
                let _ = reply.send(value);
            }
            AppMsg::GetValidatorSet { height, reply } => {
                let _ = reply.send(app.validators_at(height)?);
            }
            AppMsg::Decided {
                certificate, reply, ..
            } => {
                let next = match app.commit(&certificate) {
                    Ok(()) => {
                        let (h, set) = app.next_set()?;
                        Next::Start(h, set)
                    }
                    Err(e) => {
                        tracing::error!(%e, height = %certificate.height, "could not store the decided block");
                        let (h, set) = app.next_set()?;
                        Next::Restart(h, set)
                    }
                };
                let _ = reply.send(next);
            }
            AppMsg::GetDecidedValue { height, reply } => {
                let _ = reply.send(app.decided(height)?);
            }
            AppMsg::GetHistoryMinHeight { reply } => {
                let _ = reply.send(Height(1));
            }
            AppMsg::ProcessSyncedValue {
                height,
                round,
                proposer,
                value_bytes,
                reply,
            } => {
                // The engine verifies the certificate that came with it;
                // the block is re-executed when it is committed.
                let pv = decode_block(&value_bytes).ok().map(|value| ProposedValue {
                    height,
                    round,
                    valid_round: Round::Nil,
                    proposer,
                    value,
                    validity: Validity::Valid,
                });
                if let Some(p) = &pv {
                    app.remember(p.clone());
                }
                let _ = reply.send(pv);
            }
            AppMsg::RestreamProposal {
                height,
                round,
                valid_round,
                value_id,
                ..
            } => {
                let at = if valid_round == Round::Nil {
                    round
                } else {
                    valid_round
                };
                let value = app
                    .proposals
                    .get(&(height.0, at.as_i64()))
                    .and_then(|l| l.iter().find(|p| p.value.id() == value_id))
                    .map(|p| p.value.clone());
                if let Some(v) = value {
                    for m in app.stream(height, round, valid_round, &v) {
                        if channels
                            .network
                            .send(NetworkMsg::PublishProposalPart(m))
                            .await
                            .is_err()
                        {
                            return Err(AppError::EngineGone);
                        }
                    }
                }
            }
        }
    }
    Err(AppError::EngineGone)
}
