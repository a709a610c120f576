//! The charity-ledger explorer: the pages every node serves at `/`, so that
//! donors can follow their money and verify it in their own browser.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
