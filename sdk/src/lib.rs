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
//! A charity pays out of a campaign, citing its invoice by hash:
//!
//! ```no_run
//! use charity_ledger::kinds::{Category, Disbursement, Evidence, Recipient, RecipientKind};
//! use charity_ledger::TxKind;
//! use charity_sdk::{amount, client::Client, keys, tx};
//! # fn main() -> anyhow::Result<()> {
//! let node = Client::new("http://127.0.0.1:8080");
//! let key = keys::load(std::path::Path::new("charity.key"))?;
//! let invoice = std::fs::read("invoice-2026-04.pdf")?;
//! let kind = TxKind::Disbursement(Disbursement {
//!     campaign_id: "rural-lunch-2026".parse()?,
//!     amount: amount::parse_yuan("38000.00")?,
//!     category: Category::Program,
//!     line: "meals".parse()?,
//!     recipient: Recipient { kind: RecipientKind::Vendor, id: None, name: "某某餐饮有限公司".into() },
//!     purpose: "4 月营养午餐食材与配送".into(),
//!     evidence: vec![Evidence {
//!         sha256: charity_ledger::crypto::sha256(&invoice),
//!         title: "增值税发票".into(),
//!         media_type: "application/pdf".into(),
//!         uri: None,
//!     }],
//! });
//! let t = tx::sign(&node.chain_id()?, &key, kind)?;
//! let height = node.wait_committed(&node.submit(&t)?, std::time::Duration::from_secs(30))?;
//! println!("committed in block {height}");
//! # Ok(()) }
//! ```
//!
//! A sceptic keeps a checkpoint and checks that the chain only grows (what
//! `charity witness` does from cron):
//!
//! ```no_run
//! use charity_sdk::{client::Client, witness};
//! # fn main() -> anyhow::Result<()> {
//! let node = Client::new("http://127.0.0.1:8080");
//! let path = std::path::Path::new("cp.json");
//! match witness::run(&node, witness::load(path)?) {
//!     Ok((outcome, state)) => { witness::save(path, &state)?; println!("{outcome:?}"); }
//!     Err(e) => eprintln!("{e}"),
//! }
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
pub mod exports;
pub mod import;
pub mod keys;
pub mod tx;
pub mod verify;
pub mod witness;

pub use charity_ledger::receipt::{verify_receipt, Receipt, ReceiptError};
