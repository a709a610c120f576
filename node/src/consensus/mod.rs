//! Consensus with the Malachite BFT engine (Tendermint over libp2p).
//!
//! This module holds the ledger's side of the engine's application
//! interface. [`context`] maps the ledger's types onto the engine's traits:
//! the value is a block identified by its `block_hash`, and votes sign the
//! design's vote bytes, so the certificates the engine gathers are the
//! ledger's commit certificates.
//!
//! [`codec`] encodes the engine's messages for the network and the
//! write-ahead log; [`app`] answers the engine's requests (proposing from
//! the mempool, re-validating proposals, storing decided blocks, serving
//! and applying synced blocks) which [`host`] carries to it; [`node`]
//! starts a node from its home directory, wiring the engine's actors to
//! the node's own network (`crate::p2p`).

pub mod app;
pub mod codec;
pub mod context;
pub mod host;
pub mod node;
pub mod streams;

pub use context::{
    ledger_commit, Address, BlockId, BlockValue, CharityContext, Ed25519, Height, Proposal,
    ProposalPart, Signer, Validator, ValidatorSet, Vote,
};
