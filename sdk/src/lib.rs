//! Client library for charity-ledger: what a charity's back office, a
//! fundraising platform or a sceptical donor needs, without the consensus
//! engine. Receipts are checked by exactly the code every node runs
//! ([`charity_ledger::receipt::verify_receipt`]).
//!
//! A platform records a donation and hands the donor a code:
//!
//! ```no_run
//! use charity_sdk::{amount, client::Client, keys, tx};
//! use charity_ledger::donor::DonorCode;
//! # fn main() -> anyhow::Result<()> {
//! let node = Client::new("http://127.0.0.1:8080");
//! let key = keys::load(std::path::Path::new("platform.key"))?;
//! let code = tx::new_donor_code();
//! let t = tx::donation(&node.chain_id()?, &key, "rural-lunch-2026", amount::parse_yuan("100.00")?,
//!     &code, "wechat_pay", "payment-ref-20260312-0001")?;
//! let id = node.submit(&t)?;
//! println!("donor code {code}, donation {id}");
//! # Ok(()) }
//! ```
//!
//! A regulator re-verifies the whole chain over a node's API, trusting
//! only the genesis they pinned:
//!
//! ```no_run
//! use charity_sdk::{audit, client::Client};
//! # fn main() -> anyhow::Result<()> {
//! let node = Client::new("http://127.0.0.1:8080");
//! let genesis = audit::genesis(&node, Some(&std::fs::read("genesis.json")?), None)?;
//! let report = audit::audit(&node, &genesis, |_height, _tip, _txs| {})?;
//! println!("{} blocks, {} transactions re-verified", report.blocks, report.transactions);
//! # Ok(()) }
//! ```
//!
//! A donor checks a receipt offline against the validators they trust:
//!
//! ```
//! use charity_sdk::verify;
//! # fn check(receipt_json: &[u8], trusted: &[charity_ledger::validators::PowerEntry]) {
//! match verify::receipt_bytes(receipt_json, trusted) {
//!     Ok(block) => println!("verified in block {block}"),
//!     Err(e) => println!("not verified: {e}"),
//! }
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod amount;
pub mod audit;
pub mod client;
pub mod import;
pub mod keys;
pub mod tx;
pub mod verify;
pub mod witness;

pub use charity_ledger::receipt::{verify_receipt, Receipt, ReceiptError};
