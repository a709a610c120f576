//! Consensus with the Malachite BFT engine (Tendermint over libp2p).
//!
//! This module holds the ledger's side of the engine's application
//! interface. [`context`] maps the ledger's types onto the engine's traits:
//! the value is a block identified by its `block_hash`, and votes sign the
//! design's vote bytes, so the certificates the engine gathers are the
//! ledger's commit certificates.
//!
//! Still to come here: the codecs for the network and the write-ahead log,
//! the application loop that answers the engine's messages (proposing from
//! the mempool, re-validating proposals, storing decided blocks, serving and
//! applying synced blocks), and the node's `init`/`testnet`/`run` commands.

pub mod app;
pub mod codec;
pub mod context;
pub mod node;
pub mod streams;

pub use context::{
    ledger_commit, Address, BlockId, BlockValue, CharityContext, Ed25519, Height, Proposal,
    ProposalPart, Signer, Validator, ValidatorSet, Vote,
};
