//! Shared fixtures for charity-ledger's integration tests.
#![forbid(unsafe_code)]
