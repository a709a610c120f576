//! Client library for charity-ledger: what a charity's back office, a
//! fundraising platform or a sceptical donor needs without the consensus
//! engine. It re-exports the ledger's verification so that a receipt is
//! checked by exactly the code every node runs.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use charity_ledger::receipt::{verify_receipt, Receipt, ReceiptError};
