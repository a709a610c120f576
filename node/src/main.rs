//! `charity-node`: runs a charity-ledger node.
fn main() {}
