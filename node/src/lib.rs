//! The charity-ledger node: the mempool and the HTTP API over a node's
//! store. Consensus over libp2p and block sync come next; the `demo` and
//! `audit` commands live in the binary.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod api;
pub mod consensus;
pub mod gossip;
pub mod mempool;
