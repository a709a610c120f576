//! The charity-ledger node: consensus with the Malachite engine, the
//! permissioned peer-to-peer network, the mempool and the HTTP API over a
//! node's store; the test networks and the demo.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod api;
pub mod consensus;
pub mod mempool;
pub mod p2p;
