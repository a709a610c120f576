//! The deterministic core of charity-ledger.
//!
//! Everything a node, the sdk or an auditor must compute identically lives
//! here: types and their canonical encoding, hashing and signatures,
//! stateless and stateful validation, the state machine with its allocation
//! of disbursements to donations, RFC 6962 Merkle proofs, commit and receipt
//! verification, and the block store on sled. There is no clock, no
//! randomness and no networking in this crate: time and random bytes come in
//! as arguments.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod audit;
pub mod block;
pub mod chain;
pub mod compliance;
pub mod crypto;
pub mod dev;
pub mod donor;
pub mod error;
pub mod exec;
pub mod export;
pub mod genesis;
pub mod hex;
pub mod iati;
pub mod ids;
pub mod json;
pub mod kinds;
pub mod kv;
pub mod merkle;
pub mod org_id;
pub mod overlay;
pub mod query;
pub mod receipt;
pub mod records;
pub mod schema;
pub mod store;
pub mod time;
pub mod trace;
pub mod tx;
pub mod validate;
pub mod validators;
pub mod vote;

pub use block::{Block, Header};
pub use chain::{build_block, execute_block, BlockEffects, BlockError, BuiltBlock};
pub use crypto::Keypair;
pub use error::TxError;
pub use genesis::Genesis;
pub use hex::{Hash, PublicKey, Signature};
pub use receipt::{verify_receipt, Receipt};
pub use store::{Store, StoreError};
pub use tx::{Transaction, TxBody, TxId, TxKind};
pub use vote::{CommitCertificate, CommitSignature};
