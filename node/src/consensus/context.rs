//! The ledger's types as the Malachite engine sees them: heights, validator
//! addresses (their public keys), the validator set, the value (a block,
//! identified by its `block_hash`), proposals and their streamed parts,
//! votes, and the signing scheme.
//!
//! Votes are signed over exactly the design's vote sign-bytes
//! ([`charity_ledger::vote::vote_sign_bytes`]) and checked with
//! `verify_strict`, so a commit certificate the engine gathers is, signature
//! for signature, the ledger's [`charity_ledger::CommitCertificate`].

use std::fmt;
use std::sync::Arc;

use charity_ledger::hex::{Hash, PublicKey, Signature};
use charity_ledger::vote::{vote_sign_bytes, VoteType as LedgerVoteType};
use charity_ledger::{crypto, Block, Keypair};
use malachitebft_core_types::{
    self as mc, NilOrVal, Round, SignedExtension, SignedMessage, VoteType, VotingPower,
};

/// A block height (from 1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl mc::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);

    fn increment_by(&self, n: u64) -> Self {
        Height(self.0.saturating_add(n))
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// A validator's address: its consensus public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(pub PublicKey);

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl mc::Address for Address {}

/// A validator with its voting power.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    address: Address,
    power: VotingPower,
}

impl Validator {
    /// A validator of `power` with consensus key `key`.
    pub fn new(key: PublicKey, power: VotingPower) -> Self {
        Validator {
            address: Address(key),
            power,
        }
    }
}

impl mc::Validator<CharityContext> for Validator {
    fn address(&self) -> &Address {
        &self.address
    }

    fn public_key(&self) -> &PublicKey {
        &self.address.0
    }

    fn voting_power(&self) -> VotingPower {
        self.power
    }
}

/// The validators in force at a height, sorted by key as the ledger keeps
/// them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    validators: Arc<Vec<Validator>>,
}

impl ValidatorSet {
    /// The engine's view of the ledger's set.
    pub fn from_ledger(set: &charity_ledger::validators::ValidatorSet) -> Self {
        let mut validators: Vec<Validator> = set
            .validators()
            .iter()
            .map(|v| Validator::new(v.pubkey, v.power))
            .collect();
        validators.sort_by_key(|v| v.address);
        ValidatorSet {
            validators: Arc::new(validators),
        }
    }

    /// The validators, sorted by key.
    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }
}

impl mc::ValidatorSet<CharityContext> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }

    fn total_voting_power(&self) -> VotingPower {
        self.validators
            .iter()
            .fold(0u64, |t, v| t.saturating_add(v.power))
    }

    fn get_by_address(&self, address: &Address) -> Option<&Validator> {
        self.validators
            .binary_search_by(|v| v.address.cmp(address))
            .ok()
            .and_then(|i| self.validators.get(i))
    }

    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

/// A block's id: its `block_hash`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockId(pub Hash);

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The consensus value: a block, with its hash computed once.
#[derive(Clone, Debug)]
pub struct BlockValue {
    id: BlockId,
    block: Arc<Block>,
}

impl BlockValue {
    /// Wraps `block`; fails if its header cannot be encoded.
    pub fn new(block: Block) -> Result<Self, charity_ledger::json::EncodeError> {
        let id = BlockId(block.header.hash()?);
        Ok(BlockValue {
            id,
            block: Arc::new(block),
        })
    }

    /// The block.
    pub fn block(&self) -> &Block {
        &self.block
    }
}

// Values are equal and ordered by their id: the id is the hash of the
// header, which commits to every transaction.
impl PartialEq for BlockValue {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for BlockValue {}

impl PartialOrd for BlockValue {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for BlockValue {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.id.cmp(&other.id)
    }
}

impl mc::Value for BlockValue {
    type Id = BlockId;

    fn id(&self) -> BlockId {
        self.id
    }
}

/// A proposal: the proposer's block for a height and round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// The block.
    pub value: BlockValue,
    /// The proof-of-lock round, if the value was locked earlier.
    pub pol_round: Round,
    /// The proposer.
    pub proposer: Address,
}

impl mc::Proposal<CharityContext> for Proposal {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &BlockValue {
        &self.value
    }

    fn take_value(self) -> BlockValue {
        self.value
    }

    fn pol_round(&self) -> Round {
        self.pol_round
    }

    fn validator_address(&self) -> &Address {
        &self.proposer
    }
}

/// A part of a streamed proposal: the init (who proposes what where), the
/// block's header and transactions in data parts, and the fin carrying the
/// proposer's signature over the hash of everything before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposalPart {
    /// Who proposes, at which height and round.
    Init {
        /// Height.
        height: Height,
        /// Round.
        round: Round,
        /// Proof-of-lock round.
        pol_round: Round,
        /// The proposer.
        proposer: Address,
    },
    /// A piece of the block: its canonical bytes, in order.
    Data(Vec<u8>),
    /// The proposer's signature over the parts before it.
    Fin(Signature),
}

impl mc::ProposalPart<CharityContext> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, ProposalPart::Init { .. })
    }

    fn is_last(&self) -> bool {
        matches!(self, ProposalPart::Fin(_))
    }
}

/// A prevote or precommit.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Vote {
    /// Prevote or precommit.
    pub vote_type: VoteType,
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// The block voted for, or nil.
    pub value: NilOrVal<BlockId>,
    /// Who votes.
    pub validator: Address,
}

impl Vote {
    /// The design's vote sign-bytes for this vote under `chain_id`; `None`
    /// for a vote whose round is nil (never signed).
    pub fn sign_bytes(&self, chain_id: &str) -> Option<Vec<u8>> {
        let round = self.round.as_u32()?;
        let vote_type = match self.vote_type {
            VoteType::Prevote => LedgerVoteType::Prevote,
            VoteType::Precommit => LedgerVoteType::Precommit,
        };
        let block = match &self.value {
            NilOrVal::Nil => None,
            NilOrVal::Val(id) => Some(&id.0),
        };
        Some(vote_sign_bytes(
            chain_id,
            self.height.0,
            round,
            vote_type,
            block,
        ))
    }
}

impl mc::Vote<CharityContext> for Vote {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &NilOrVal<BlockId> {
        &self.value
    }

    fn take_value(self) -> NilOrVal<BlockId> {
        self.value
    }

    fn vote_type(&self) -> VoteType {
        self.vote_type
    }

    fn validator_address(&self) -> &Address {
        &self.validator
    }

    // The ledger uses no vote extensions.
    fn extension(&self) -> Option<&SignedExtension<CharityContext>> {
        None
    }

    fn take_extension(&mut self) -> Option<SignedExtension<CharityContext>> {
        None
    }

    fn extend(self, _extension: SignedExtension<CharityContext>) -> Self {
        self
    }
}

/// Ed25519 as the ledger uses it: `verify_strict` everywhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ed25519;

impl mc::SigningScheme for Ed25519 {
    type DecodingError = String;
    type Signature = Signature;
    type PublicKey = PublicKey;
    type PrivateKey = Keypair;

    fn decode_signature(bytes: &[u8]) -> Result<Signature, String> {
        <[u8; 64]>::try_from(bytes)
            .map(Signature::from)
            .map_err(|_| format!("a signature is 64 bytes, not {}", bytes.len()))
    }

    fn encode_signature(signature: &Signature) -> Vec<u8> {
        signature.as_bytes().to_vec()
    }
}

/// The engine's context for one chain.
#[derive(Clone, Debug)]
pub struct CharityContext {
    chain_id: Arc<str>,
}

impl CharityContext {
    /// The context of chain `chain_id`.
    pub fn new(chain_id: &str) -> Self {
        CharityContext {
            chain_id: chain_id.into(),
        }
    }

    /// The chain id.
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }
}

impl mc::Context for CharityContext {
    type Address = Address;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Value = BlockValue;
    type Vote = Vote;
    type Extension = Vec<u8>;
    type SigningScheme = Ed25519;

    /// Round robin over the validators sorted by key, starting at the
    /// height: every validator computes the same proposer.
    fn select_proposer<'a>(
        &self,
        validator_set: &'a ValidatorSet,
        height: Height,
        round: Round,
    ) -> &'a Validator {
        let n = validator_set.validators.len().max(1) as u64;
        let r = u64::try_from(round.as_i64()).unwrap_or(0);
        let i = (height.0.saturating_sub(1).wrapping_add(r) % n) as usize;
        // The engine never runs with an empty set (genesis requires one);
        // index 0 exists whenever the modulus is taken over a real count.
        &validator_set.validators[i.min(validator_set.validators.len().saturating_sub(1))]
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: BlockValue,
        pol_round: Round,
        address: Address,
    ) -> Proposal {
        Proposal {
            height,
            round,
            value,
            pol_round,
            proposer: address,
        }
    }

    fn new_prevote(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<BlockId>,
        address: Address,
    ) -> Vote {
        Vote {
            vote_type: VoteType::Prevote,
            height,
            round,
            value: value_id,
            validator: address,
        }
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<BlockId>,
        address: Address,
    ) -> Vote {
        Vote {
            vote_type: VoteType::Precommit,
            height,
            round,
            value: value_id,
            validator: address,
        }
    }
}

/// Domain tags of what only the nodes sign to each other (proposals and
/// their parts); votes use the design's `charity-ledger/v1/vote` bytes.
const PROPOSAL_DOMAIN: &[u8] = b"charity-ledger/v1/proposal\n";
const PART_DOMAIN: &[u8] = b"charity-ledger/v1/proposal-part\n";
const EXTENSION_DOMAIN: &[u8] = b"charity-ledger/v1/vote-extension\n";

fn with_chain(domain: &[u8], chain_id: &str, rest: &[u8]) -> Vec<u8> {
    let id = chain_id.as_bytes();
    let id = &id[..id.len().min(255)];
    let mut out = Vec::with_capacity(domain.len() + 1 + id.len() + rest.len());
    out.extend_from_slice(domain);
    out.push(id.len() as u8);
    out.extend_from_slice(id);
    out.extend_from_slice(rest);
    out
}

fn round_bytes(r: Round) -> [u8; 8] {
    r.as_i64().to_be_bytes()
}

/// The bytes a proposer signs for a proposal.
pub fn proposal_sign_bytes(chain_id: &str, p: &Proposal) -> Vec<u8> {
    let mut rest = Vec::with_capacity(8 + 8 + 8 + 32 + 32);
    rest.extend_from_slice(&p.height.0.to_be_bytes());
    rest.extend_from_slice(&round_bytes(p.round));
    rest.extend_from_slice(&round_bytes(p.pol_round));
    rest.extend_from_slice(p.value.id.0.as_bytes());
    rest.extend_from_slice(p.proposer.0.as_bytes());
    with_chain(PROPOSAL_DOMAIN, chain_id, &rest)
}

/// The bytes a proposer signs for one streamed part: its own encoding.
pub fn part_sign_bytes(chain_id: &str, part: &ProposalPart) -> Vec<u8> {
    let rest = match part {
        ProposalPart::Init {
            height,
            round,
            pol_round,
            proposer,
        } => {
            let mut b = vec![0u8];
            b.extend_from_slice(&height.0.to_be_bytes());
            b.extend_from_slice(&round_bytes(*round));
            b.extend_from_slice(&round_bytes(*pol_round));
            b.extend_from_slice(proposer.0.as_bytes());
            b
        }
        ProposalPart::Data(d) => {
            let mut b = vec![1u8];
            b.extend_from_slice(d);
            b
        }
        ProposalPart::Fin(sig) => {
            let mut b = vec![2u8];
            b.extend_from_slice(sig.as_bytes());
            b
        }
    };
    with_chain(PART_DOMAIN, chain_id, &rest)
}

/// Signs and verifies for one validator.
pub struct Signer {
    chain_id: Arc<str>,
    key: Keypair,
}

impl Signer {
    /// A signer for `chain_id` with `key`.
    pub fn new(chain_id: &str, key: Keypair) -> Self {
        Signer {
            chain_id: chain_id.into(),
            key,
        }
    }

    fn verify(&self, bytes: Option<Vec<u8>>, signature: &Signature, key: &PublicKey) -> bool {
        bytes.is_some_and(|b| crypto::verify(key, &b, signature).is_ok())
    }
}

impl mc::SigningProvider<CharityContext> for Signer {
    fn sign_vote(&self, vote: Vote) -> SignedMessage<CharityContext, Vote> {
        // A vote with a nil round is never produced by the engine; if it
        // were, its all-zero signature would simply fail verification.
        let sig = vote
            .sign_bytes(&self.chain_id)
            .map_or_else(|| Signature::from([0u8; 64]), |b| self.key.sign(&b));
        SignedMessage::new(vote, sig)
    }

    fn verify_signed_vote(
        &self,
        vote: &Vote,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> bool {
        self.verify(vote.sign_bytes(&self.chain_id), signature, public_key)
    }

    fn sign_proposal(&self, proposal: Proposal) -> SignedMessage<CharityContext, Proposal> {
        let sig = self
            .key
            .sign(&proposal_sign_bytes(&self.chain_id, &proposal));
        SignedMessage::new(proposal, sig)
    }

    fn verify_signed_proposal(
        &self,
        proposal: &Proposal,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> bool {
        self.verify(
            Some(proposal_sign_bytes(&self.chain_id, proposal)),
            signature,
            public_key,
        )
    }

    fn sign_proposal_part(
        &self,
        part: ProposalPart,
    ) -> SignedMessage<CharityContext, ProposalPart> {
        let sig = self.key.sign(&part_sign_bytes(&self.chain_id, &part));
        SignedMessage::new(part, sig)
    }

    fn verify_signed_proposal_part(
        &self,
        part: &ProposalPart,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> bool {
        self.verify(
            Some(part_sign_bytes(&self.chain_id, part)),
            signature,
            public_key,
        )
    }

    fn sign_vote_extension(&self, extension: Vec<u8>) -> SignedMessage<CharityContext, Vec<u8>> {
        let sig = self
            .key
            .sign(&with_chain(EXTENSION_DOMAIN, &self.chain_id, &extension));
        SignedMessage::new(extension, sig)
    }

    fn verify_signed_vote_extension(
        &self,
        extension: &Vec<u8>,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> bool {
        self.verify(
            Some(with_chain(EXTENSION_DOMAIN, &self.chain_id, extension)),
            signature,
            public_key,
        )
    }
}

/// The ledger's commit certificate for what the engine decided: the round
/// and each precommit's (validator, signature), which sign exactly the
/// design's vote bytes.
pub fn ledger_commit(
    cert: &mc::CommitCertificate<CharityContext>,
) -> Result<charity_ledger::CommitCertificate, String> {
    let round = cert
        .round
        .as_u32()
        .ok_or_else(|| "a commit certificate with a nil round".to_string())?;
    let mut signatures: Vec<charity_ledger::CommitSignature> = cert
        .commit_signatures
        .iter()
        .map(|s| charity_ledger::CommitSignature {
            validator: s.address.0,
            sig: s.signature,
        })
        .collect();
    signatures.sort_by_key(|s| s.validator);
    Ok(charity_ledger::CommitCertificate { round, signatures })
}

#[cfg(test)]
mod tests {
    use super::*;
    use charity_ledger::dev::{self, MemBackend};
    use charity_ledger::vote::verify_commit;
    use mc::{Context as _, SigningProvider as _, ValidatorSet as _, Value as _};

    const CHAIN: &str = "charity-consensus-test";

    fn setup() -> (Vec<Keypair>, charity_ledger::Genesis) {
        let keys: Vec<Keypair> = (0..4).map(|i| dev::key(&format!("cv-{i}"))).collect();
        let reg = dev::key("cv-regulator");
        let reg_id = dev::org_id("11440100MB0000001").unwrap();
        let g = dev::genesis(CHAIN, 1_767_225_600_000, &reg_id, &reg, &keys).unwrap();
        (keys, g)
    }

    #[test]
    fn votes_sign_the_design_bytes_and_certificates_verify_in_the_ledger() {
        let (keys, genesis) = setup();
        let ledger_set = genesis.validator_set().unwrap();
        let set = ValidatorSet::from_ledger(&ledger_set);
        assert_eq!(set.count(), 4);
        assert_eq!(set.total_voting_power(), 40);
        let backend = MemBackend::new(&genesis).unwrap();
        let tip = mc_tip(&backend);
        let built = charity_ledger::build_block(
            backend_kv(&backend),
            &tip,
            Vec::new(),
            tip.time + 1,
            keys[0].public(),
        )
        .unwrap();
        let value = BlockValue::new(built.block).unwrap();
        assert_eq!(value.id().0, built.effects.block_hash);

        let ctx = CharityContext::new(CHAIN);
        let h = Height(1);
        let round = Round::new(2);
        let signed: Vec<_> = keys
            .iter()
            .take(3)
            .map(|k| {
                let vote =
                    ctx.new_precommit(h, round, NilOrVal::Val(value.id()), Address(k.public()));
                Signer::new(CHAIN, k.clone()).sign_vote(vote)
            })
            .collect();
        // The signature is over the design's bytes.
        let bytes = vote_sign_bytes(
            CHAIN,
            1,
            2,
            LedgerVoteType::Precommit,
            Some(&built.effects.block_hash),
        );
        crypto::verify(&keys[0].public(), &bytes, &signed[0].signature).unwrap();
        let checker = Signer::new(CHAIN, keys[3].clone());
        assert!(checker.verify_signed_vote(
            &signed[0].message,
            &signed[0].signature,
            &keys[0].public()
        ));
        // The same signature does not verify for another round, another
        // chain, or another key.
        let mut other = signed[0].message.clone();
        other.round = Round::new(3);
        assert!(!checker.verify_signed_vote(&other, &signed[0].signature, &keys[0].public()));
        assert!(
            !Signer::new("other-chain", keys[3].clone()).verify_signed_vote(
                &signed[0].message,
                &signed[0].signature,
                &keys[0].public()
            )
        );
        assert!(!checker.verify_signed_vote(
            &signed[0].message,
            &signed[0].signature,
            &keys[1].public()
        ));

        // Three of four precommits make a certificate the ledger accepts.
        let cert = mc::CommitCertificate::new(h, round, value.id(), signed.clone());
        let ours = ledger_commit(&cert).unwrap();
        assert_eq!(ours.round, 2);
        assert_eq!(ours.signatures.len(), 3);
        verify_commit(CHAIN, 1, &built.effects.block_hash, &ours, &ledger_set).unwrap();
        // Two are not enough.
        let short = mc::CommitCertificate::new(h, round, value.id(), signed[..2].to_vec());
        assert!(verify_commit(
            CHAIN,
            1,
            &built.effects.block_hash,
            &ledger_commit(&short).unwrap(),
            &ledger_set
        )
        .is_err());
    }

    #[test]
    fn proposers_rotate_and_parts_are_signed() {
        let (keys, genesis) = setup();
        let set = ValidatorSet::from_ledger(&genesis.validator_set().unwrap());
        let ctx = CharityContext::new(CHAIN);
        let proposers: Vec<Address> = (1..=4)
            .map(|h| *mc::Validator::address(ctx.select_proposer(&set, Height(h), Round::new(0))))
            .collect();
        let mut distinct = proposers.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            4,
            "each validator proposes once in four heights"
        );
        assert_eq!(
            ctx.select_proposer(&set, Height(1), Round::new(1)),
            ctx.select_proposer(&set, Height(2), Round::new(0))
        );
        let s = Signer::new(CHAIN, keys[0].clone());
        let part = ProposalPart::Data(b"block bytes".to_vec());
        let signed = s.sign_proposal_part(part.clone());
        assert!(s.verify_signed_proposal_part(&part, &signed.signature, &keys[0].public()));
        assert!(!s.verify_signed_proposal_part(
            &ProposalPart::Data(b"other bytes".to_vec()),
            &signed.signature,
            &keys[0].public()
        ));
        assert!(set.get_by_address(&Address(keys[2].public())).is_some());
        assert!(set
            .get_by_address(&Address(dev::key("stranger").public()))
            .is_none());
    }

    fn mc_tip(b: &MemBackend) -> charity_ledger::records::ChainTip {
        charity_ledger::dev::Backend::tip(b).clone()
    }

    fn backend_kv(b: &MemBackend) -> &charity_ledger::kv::MemKv {
        charity_ledger::dev::Backend::kv(b)
    }
}
