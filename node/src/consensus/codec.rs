//! How consensus messages travel between nodes and sit in the engine's
//! write-ahead log: each engine type is mirrored by a plain wire type and
//! encoded with postcard (compact, strict, bounded). Decoding untrusted
//! bytes never panics: sizes are bounded, rounds and heights are checked,
//! blocks are rebuilt and re-hashed from their canonical parts.

use bytes::Bytes;
use charity_ledger::block::Header;
use charity_ledger::hex::{Hash, PublicKey, Signature};
use charity_ledger::{Block, Transaction};
use malachitebft_app_channel::app::consensus::{LivenessMsg, ProposedValue, SignedConsensusMsg};
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::app::types::core::{
    CommitCertificate, CommitSignature, NilOrVal, PolkaCertificate, PolkaSignature, Round,
    RoundCertificate, RoundCertificateType, RoundSignature, SignedMessage, Validity, VoteType,
};
use malachitebft_app_channel::app::types::sync::{RawDecidedValue, Request, Response, Status};
use malachitebft_app_channel::app::types::PeerId;
use malachitebft_sync::{ValueRequest, ValueResponse};
use serde::{Deserialize, Serialize};

use super::context::{
    Address, BlockId, BlockValue, CharityContext, Height, Proposal, ProposalPart, Vote,
};

/// The largest message accepted (a block of up to 10,000 transactions of
/// up to 64 KiB would not fit, but the block builder keeps blocks far
/// smaller; parts carry slices of a block).
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// Why bytes could not be read as a message.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The bytes are not a well-formed message.
    #[error("malformed consensus message: {0}")]
    Malformed(String),
    /// The message is larger than [`MAX_MESSAGE`].
    #[error("consensus message of {0} bytes exceeds the limit")]
    TooLarge(usize),
}

fn malformed(e: impl std::fmt::Display) -> CodecError {
    CodecError::Malformed(e.to_string())
}

/// The codec for the network and the write-ahead log.
#[derive(Clone, Copy, Debug, Default)]
pub struct WireCodec;

fn encode<T: Serialize>(v: &T) -> Result<Bytes, CodecError> {
    let b = postcard::to_stdvec(v).map_err(malformed)?;
    if b.len() > MAX_MESSAGE {
        return Err(CodecError::TooLarge(b.len()));
    }
    Ok(Bytes::from(b))
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, CodecError> {
    if bytes.len() > MAX_MESSAGE {
        return Err(CodecError::TooLarge(bytes.len()));
    }
    let (v, rest) = postcard::take_from_bytes(bytes).map_err(malformed)?;
    if !rest.is_empty() {
        return Err(malformed(format!("{} trailing bytes", rest.len())));
    }
    Ok(v)
}

/// A round on the wire: `None` is nil.
fn round_out(r: Round) -> Option<u32> {
    r.as_u32()
}

fn round_in(r: Option<u32>) -> Round {
    Round::from(r)
}

/// A block as bytes: its header's canonical JSON and its transactions in
/// stored form (signature then canonical body).
#[derive(Serialize, Deserialize)]
struct WireBlock {
    header: Vec<u8>,
    txs: Vec<Vec<u8>>,
}

/// The canonical bytes of a block, as proposal parts and synced values
/// carry it.
pub fn encode_block(block: &Block) -> Result<Vec<u8>, CodecError> {
    let header = charity_ledger::json::canonical(&block.header).map_err(malformed)?;
    let txs = block.txs.iter().map(Transaction::to_stored).collect();
    postcard::to_stdvec(&WireBlock { header, txs }).map_err(malformed)
}

/// Rebuilds a block from [`encode_block`]'s bytes, strictly.
pub fn decode_block(bytes: &[u8]) -> Result<BlockValue, CodecError> {
    let w: WireBlock = decode(bytes)?;
    let header: Header =
        charity_ledger::json::from_slice(&w.header, 64 * 1024).map_err(malformed)?;
    if header.tx_count != w.txs.len() as u64 {
        return Err(malformed(format!(
            "the header counts {} transactions, the block has {}",
            header.tx_count,
            w.txs.len()
        )));
    }
    let txs = w
        .txs
        .iter()
        .map(|t| Transaction::from_stored(t).map_err(malformed))
        .collect::<Result<Vec<_>, _>>()?;
    BlockValue::new(Block { header, txs }).map_err(malformed)
}

#[derive(Serialize, Deserialize)]
struct WireVote {
    precommit: bool,
    height: u64,
    round: Option<u32>,
    value: Option<Hash>,
    validator: PublicKey,
}

impl WireVote {
    fn from(v: &Vote) -> Self {
        WireVote {
            precommit: v.vote_type == VoteType::Precommit,
            height: v.height.0,
            round: round_out(v.round),
            value: match v.value {
                NilOrVal::Nil => None,
                NilOrVal::Val(id) => Some(id.0),
            },
            validator: v.validator.0,
        }
    }

    fn into_vote(self) -> Vote {
        Vote {
            vote_type: if self.precommit {
                VoteType::Precommit
            } else {
                VoteType::Prevote
            },
            height: Height(self.height),
            round: round_in(self.round),
            value: self
                .value
                .map_or(NilOrVal::Nil, |h| NilOrVal::Val(BlockId(h))),
            validator: Address(self.validator),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct WireProposal {
    height: u64,
    round: Option<u32>,
    pol_round: Option<u32>,
    block: Vec<u8>,
    proposer: PublicKey,
}

impl WireProposal {
    fn from(p: &Proposal) -> Result<Self, CodecError> {
        Ok(WireProposal {
            height: p.height.0,
            round: round_out(p.round),
            pol_round: round_out(p.pol_round),
            block: encode_block(p.value.block())?,
            proposer: p.proposer.0,
        })
    }

    fn into_proposal(self) -> Result<Proposal, CodecError> {
        Ok(Proposal {
            height: Height(self.height),
            round: round_in(self.round),
            pol_round: round_in(self.pol_round),
            value: decode_block(&self.block)?,
            proposer: Address(self.proposer),
        })
    }
}

#[derive(Serialize, Deserialize)]
enum WirePart {
    Init {
        height: u64,
        round: Option<u32>,
        pol_round: Option<u32>,
        proposer: PublicKey,
    },
    Data(Vec<u8>),
    Fin(Signature),
}

impl WirePart {
    fn from(p: &ProposalPart) -> Self {
        match p {
            ProposalPart::Init {
                height,
                round,
                pol_round,
                proposer,
            } => WirePart::Init {
                height: height.0,
                round: round_out(*round),
                pol_round: round_out(*pol_round),
                proposer: proposer.0,
            },
            ProposalPart::Data(d) => WirePart::Data(d.clone()),
            ProposalPart::Fin(s) => WirePart::Fin(*s),
        }
    }

    fn into_part(self) -> ProposalPart {
        match self {
            WirePart::Init {
                height,
                round,
                pol_round,
                proposer,
            } => ProposalPart::Init {
                height: Height(height),
                round: round_in(round),
                pol_round: round_in(pol_round),
                proposer: Address(proposer),
            },
            WirePart::Data(d) => ProposalPart::Data(d),
            WirePart::Fin(s) => ProposalPart::Fin(s),
        }
    }
}

#[derive(Serialize, Deserialize)]
enum WireConsensus {
    Vote(WireVote, Signature),
    Proposal(WireProposal, Signature),
}

#[derive(Serialize, Deserialize)]
struct WireCert {
    height: u64,
    round: Option<u32>,
    value: Hash,
    signatures: Vec<(PublicKey, Signature)>,
}

#[derive(Serialize, Deserialize)]
struct WireRoundSig {
    precommit: bool,
    value: Option<Hash>,
    validator: PublicKey,
    sig: Signature,
}

#[derive(Serialize, Deserialize)]
enum WireLiveness {
    Vote(WireVote, Signature),
    Polka(WireCert),
    Round {
        height: u64,
        round: Option<u32>,
        precommit: bool,
        signatures: Vec<WireRoundSig>,
    },
}

#[derive(Serialize, Deserialize)]
struct WireStream {
    stream_id: Vec<u8>,
    sequence: u64,
    part: Option<WirePart>,
}

#[derive(Serialize, Deserialize)]
struct WireStatus {
    peer: Vec<u8>,
    tip: u64,
    min: u64,
}

#[derive(Serialize, Deserialize)]
struct WireResponse {
    height: u64,
    value: Option<(Vec<u8>, WireCert)>,
}

#[derive(Serialize, Deserialize)]
struct WireProposed {
    height: u64,
    round: Option<u32>,
    valid_round: Option<u32>,
    proposer: PublicKey,
    block: Vec<u8>,
    valid: bool,
}

fn cert_out(c: &CommitCertificate<CharityContext>) -> WireCert {
    WireCert {
        height: c.height.0,
        round: round_out(c.round),
        value: c.value_id.0,
        signatures: c
            .commit_signatures
            .iter()
            .map(|s| (s.address.0, s.signature))
            .collect(),
    }
}

fn cert_in(w: WireCert) -> CommitCertificate<CharityContext> {
    CommitCertificate {
        height: Height(w.height),
        round: round_in(w.round),
        value_id: BlockId(w.value),
        commit_signatures: w
            .signatures
            .into_iter()
            .map(|(a, s)| CommitSignature::new(Address(a), s))
            .collect(),
    }
}

impl Codec<ProposalPart> for WireCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<ProposalPart, CodecError> {
        Ok(decode::<WirePart>(&bytes)?.into_part())
    }

    fn encode(&self, msg: &ProposalPart) -> Result<Bytes, CodecError> {
        encode(&WirePart::from(msg))
    }
}

impl Codec<SignedConsensusMsg<CharityContext>> for WireCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<SignedConsensusMsg<CharityContext>, CodecError> {
        Ok(match decode::<WireConsensus>(&bytes)? {
            WireConsensus::Vote(v, s) => {
                SignedConsensusMsg::Vote(SignedMessage::new(v.into_vote(), s))
            }
            WireConsensus::Proposal(p, s) => {
                SignedConsensusMsg::Proposal(SignedMessage::new(p.into_proposal()?, s))
            }
        })
    }

    fn encode(&self, msg: &SignedConsensusMsg<CharityContext>) -> Result<Bytes, CodecError> {
        encode(&match msg {
            SignedConsensusMsg::Vote(v) => {
                WireConsensus::Vote(WireVote::from(&v.message), v.signature)
            }
            SignedConsensusMsg::Proposal(p) => {
                WireConsensus::Proposal(WireProposal::from(&p.message)?, p.signature)
            }
        })
    }
}

impl Codec<LivenessMsg<CharityContext>> for WireCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<LivenessMsg<CharityContext>, CodecError> {
        Ok(match decode::<WireLiveness>(&bytes)? {
            WireLiveness::Vote(v, s) => LivenessMsg::Vote(SignedMessage::new(v.into_vote(), s)),
            WireLiveness::Polka(c) => LivenessMsg::PolkaCertificate(PolkaCertificate {
                height: Height(c.height),
                round: round_in(c.round),
                value_id: BlockId(c.value),
                polka_signatures: c
                    .signatures
                    .into_iter()
                    .map(|(a, s)| PolkaSignature::new(Address(a), s))
                    .collect(),
            }),
            WireLiveness::Round {
                height,
                round,
                precommit,
                signatures,
            } => LivenessMsg::SkipRoundCertificate(RoundCertificate {
                height: Height(height),
                round: round_in(round),
                cert_type: if precommit {
                    RoundCertificateType::Precommit
                } else {
                    RoundCertificateType::Skip
                },
                round_signatures: signatures
                    .into_iter()
                    .map(|r| {
                        RoundSignature::new(
                            if r.precommit {
                                VoteType::Precommit
                            } else {
                                VoteType::Prevote
                            },
                            r.value.map_or(NilOrVal::Nil, |h| NilOrVal::Val(BlockId(h))),
                            Address(r.validator),
                            r.sig,
                        )
                    })
                    .collect(),
            }),
        })
    }

    fn encode(&self, msg: &LivenessMsg<CharityContext>) -> Result<Bytes, CodecError> {
        encode(&match msg {
            LivenessMsg::Vote(v) => WireLiveness::Vote(WireVote::from(&v.message), v.signature),
            LivenessMsg::PolkaCertificate(c) => WireLiveness::Polka(WireCert {
                height: c.height.0,
                round: round_out(c.round),
                value: c.value_id.0,
                signatures: c
                    .polka_signatures
                    .iter()
                    .map(|s| (s.address.0, s.signature))
                    .collect(),
            }),
            LivenessMsg::SkipRoundCertificate(c) => WireLiveness::Round {
                height: c.height.0,
                round: round_out(c.round),
                precommit: matches!(c.cert_type, RoundCertificateType::Precommit),
                signatures: c
                    .round_signatures
                    .iter()
                    .map(|r| WireRoundSig {
                        precommit: r.vote_type == VoteType::Precommit,
                        value: match r.value_id {
                            NilOrVal::Nil => None,
                            NilOrVal::Val(id) => Some(id.0),
                        },
                        validator: r.address.0,
                        sig: r.signature,
                    })
                    .collect(),
            },
        })
    }
}

impl Codec<StreamMessage<ProposalPart>> for WireCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<StreamMessage<ProposalPart>, CodecError> {
        let w: WireStream = decode(&bytes)?;
        let content = match w.part {
            None => StreamContent::Fin,
            Some(p) => StreamContent::Data(p.into_part()),
        };
        Ok(StreamMessage::new(
            StreamId::new(Bytes::from(w.stream_id)),
            w.sequence,
            content,
        ))
    }

    fn encode(&self, msg: &StreamMessage<ProposalPart>) -> Result<Bytes, CodecError> {
        let part = match &msg.content {
            StreamContent::Fin => None,
            StreamContent::Data(p) => Some(WirePart::from(p)),
        };
        encode(&WireStream {
            stream_id: msg.stream_id.to_bytes().to_vec(),
            sequence: msg.sequence,
            part,
        })
    }
}

impl Codec<Status<CharityContext>> for WireCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<Status<CharityContext>, CodecError> {
        let w: WireStatus = decode(&bytes)?;
        Ok(Status {
            peer_id: PeerId::from_bytes(&w.peer).map_err(malformed)?,
            tip_height: Height(w.tip),
            history_min_height: Height(w.min),
        })
    }

    fn encode(&self, msg: &Status<CharityContext>) -> Result<Bytes, CodecError> {
        encode(&WireStatus {
            peer: msg.peer_id.to_bytes(),
            tip: msg.tip_height.0,
            min: msg.history_min_height.0,
        })
    }
}

impl Codec<Request<CharityContext>> for WireCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<Request<CharityContext>, CodecError> {
        let h: u64 = decode(&bytes)?;
        Ok(Request::ValueRequest(ValueRequest::new(Height(h))))
    }

    fn encode(&self, msg: &Request<CharityContext>) -> Result<Bytes, CodecError> {
        match msg {
            Request::ValueRequest(r) => encode(&r.height.0),
        }
    }
}

impl Codec<Response<CharityContext>> for WireCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<Response<CharityContext>, CodecError> {
        let w: WireResponse = decode(&bytes)?;
        Ok(Response::ValueResponse(ValueResponse::new(
            Height(w.height),
            w.value
                .map(|(b, c)| RawDecidedValue::new(Bytes::from(b), cert_in(c))),
        )))
    }

    fn encode(&self, msg: &Response<CharityContext>) -> Result<Bytes, CodecError> {
        match msg {
            Response::ValueResponse(r) => encode(&WireResponse {
                height: r.height.0,
                value: r
                    .value
                    .as_ref()
                    .map(|v| (v.value_bytes.to_vec(), cert_out(&v.certificate))),
            }),
        }
    }
}

impl Codec<ProposedValue<CharityContext>> for WireCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<ProposedValue<CharityContext>, CodecError> {
        let w: WireProposed = decode(&bytes)?;
        Ok(ProposedValue {
            height: Height(w.height),
            round: round_in(w.round),
            valid_round: round_in(w.valid_round),
            proposer: Address(w.proposer),
            value: decode_block(&w.block)?,
            validity: Validity::from_bool(w.valid),
        })
    }

    fn encode(&self, msg: &ProposedValue<CharityContext>) -> Result<Bytes, CodecError> {
        encode(&WireProposed {
            height: msg.height.0,
            round: round_out(msg.round),
            valid_round: round_out(msg.valid_round),
            proposer: msg.proposer.0,
            block: encode_block(msg.value.block())?,
            valid: msg.validity.is_valid(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::context::Signer;
    use charity_ledger::dev::{self, Backend, MemBackend};
    use malachitebft_app_channel::app::types::core::{Context as _, SigningProvider as _};
    use proptest::prelude::*;

    const CHAIN: &str = "charity-codec-test";

    fn block() -> BlockValue {
        let keys: Vec<_> = (0..4).map(|i| dev::key(&format!("cc-{i}"))).collect();
        let reg = dev::key("cc-regulator");
        let reg_id = dev::org_id("11440100MB0000001").unwrap();
        let g = dev::genesis(CHAIN, 1_767_225_600_000, &reg_id, &reg, &keys).unwrap();
        let b = MemBackend::new(&g).unwrap();
        let tip = b.tip().clone();
        let tx = dev::tx(
            CHAIN,
            &reg,
            1,
            charity_ledger::TxKind::AuditNote(charity_ledger::kinds::AuditNote {
                subject: reg_id.to_string(),
                severity: charity_ledger::kinds::Severity::Info,
                finding: "例行检查".into(),
            }),
        )
        .unwrap();
        let built =
            charity_ledger::build_block(b.kv(), &tip, vec![tx], tip.time + 1, keys[0].public())
                .unwrap();
        BlockValue::new(built.block).unwrap()
    }

    fn round_trip<T>(v: &T) -> T
    where
        WireCodec: Codec<T, Error = CodecError>,
    {
        let c = WireCodec;
        c.decode(c.encode(v).unwrap()).unwrap()
    }

    #[test]
    fn messages_survive_the_wire() {
        let value = block();
        assert_eq!(value.block().txs.len(), 1);
        let again = decode_block(&encode_block(value.block()).unwrap()).unwrap();
        assert_eq!(again, value);
        assert_eq!(again.block(), value.block());

        let ctx = CharityContext::new(CHAIN);
        let key = dev::key("cc-0");
        let signer = Signer::new(CHAIN, key.clone());
        let vote = ctx.new_precommit(
            Height(7),
            Round::new(1),
            NilOrVal::Val(malachitebft_app_channel::app::types::core::Value::id(
                &value,
            )),
            Address(key.public()),
        );
        let signed = SignedConsensusMsg::Vote(signer.sign_vote(vote));
        assert_eq!(round_trip(&signed), signed);
        let nil = SignedConsensusMsg::Vote(signer.sign_vote(ctx.new_prevote(
            Height(7),
            Round::Nil,
            NilOrVal::Nil,
            Address(key.public()),
        )));
        assert_eq!(round_trip(&nil), nil);
        let proposal = SignedConsensusMsg::Proposal(signer.sign_proposal(ctx.new_proposal(
            Height(7),
            Round::new(0),
            value.clone(),
            Round::Nil,
            Address(key.public()),
        )));
        assert_eq!(round_trip(&proposal), proposal);

        let part = ProposalPart::Data(encode_block(value.block()).unwrap());
        assert_eq!(round_trip(&part), part);
        let stream = StreamMessage::new(
            StreamId::new(Bytes::from_static(b"s1")),
            3,
            StreamContent::Data(part),
        );
        assert_eq!(round_trip(&stream), stream);
        let fin: StreamMessage<ProposalPart> = StreamMessage::new(
            StreamId::new(Bytes::from_static(b"s1")),
            4,
            StreamContent::Fin,
        );
        assert_eq!(round_trip(&fin), fin);

        let pv = ProposedValue {
            height: Height(7),
            round: Round::new(0),
            valid_round: Round::Nil,
            proposer: Address(key.public()),
            value: value.clone(),
            validity: Validity::Valid,
        };
        assert_eq!(round_trip(&pv), pv);

        let cert = CommitCertificate {
            height: Height(7),
            round: Round::new(0),
            value_id: BlockId(Hash::from([9u8; 32])),
            commit_signatures: vec![CommitSignature::new(
                Address(key.public()),
                Signature::from([3u8; 64]),
            )],
        };
        let resp: Response<CharityContext> = Response::ValueResponse(ValueResponse::new(
            Height(7),
            Some(RawDecidedValue::new(Bytes::from_static(b"block"), cert)),
        ));
        assert_eq!(round_trip(&resp), resp);
        let req: Request<CharityContext> = Request::ValueRequest(ValueRequest::new(Height(9)));
        assert_eq!(round_trip(&req), req);
        let status = Status::<CharityContext> {
            peer_id: {
                let mut seed = [5u8; 32];
                let k =
                    malachitebft_app_channel::app::types::Keypair::ed25519_from_bytes(&mut seed)
                        .unwrap();
                PeerId::from_bytes(&k.public().to_peer_id().to_bytes()).unwrap()
            },
            tip_height: Height(10),
            history_min_height: Height(1),
        };
        let back = round_trip(&status);
        assert_eq!(
            (back.peer_id, back.tip_height),
            (status.peer_id, status.tip_height)
        );
    }

    #[test]
    fn a_block_whose_count_or_bytes_lie_is_refused() {
        let value = block();
        let mut w: WireBlock = postcard::from_bytes(&encode_block(value.block()).unwrap()).unwrap();
        w.txs.clear();
        let bytes = postcard::to_stdvec(&w).unwrap();
        assert!(decode_block(&bytes)
            .unwrap_err()
            .to_string()
            .contains("counts 1 transactions"));
        let mut bytes = encode_block(value.block()).unwrap();
        bytes.push(0);
        assert!(decode_block(&bytes).is_err(), "trailing bytes");
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let c = WireCodec;
            let b = Bytes::from(bytes.clone());
            let _ = <WireCodec as Codec<SignedConsensusMsg<CharityContext>>>::decode(&c, b.clone());
            let _ = <WireCodec as Codec<LivenessMsg<CharityContext>>>::decode(&c, b.clone());
            let _ = <WireCodec as Codec<StreamMessage<ProposalPart>>>::decode(&c, b.clone());
            let _ = <WireCodec as Codec<Status<CharityContext>>>::decode(&c, b.clone());
            let _ = <WireCodec as Codec<Response<CharityContext>>>::decode(&c, b.clone());
            let _ = <WireCodec as Codec<ProposedValue<CharityContext>>>::decode(&c, b);
            let _ = decode_block(&bytes);
        }
    }
}
