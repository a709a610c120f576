//! Applied transactions per second: blocks of 1,000 donations and
//! disbursements, each fully executed as a validator does (parallel
//! signature checks, stateful rules, allocation, header computation) and
//! committed to sled with a flush; compared in the same run with raw
//! Ed25519 batch verification on this machine.
//!
//! Run: `cargo bench -p charity-ledger --bench apply` (BLOCKS=n to change
//! the number of blocks, default 30).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use charity_ledger::dev::MemBackend;
use charity_ledger::store::Store;
use charity_ledger::{Block, CommitCertificate};
use common::*;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rayon::prelude::*;

const TXS_PER_BLOCK: usize = 1_000;

fn main() {
    let blocks: usize = std::env::var("BLOCKS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    println!("charity-ledger apply benchmark: {blocks} blocks of {TXS_PER_BLOCK} transactions");
    println!("threads: {}", rayon::current_num_threads());

    // Prepare the chain in memory: fixture setup, then blocks of 900
    // donations and 100 disbursements, signed in advance.
    let prep = Instant::now();
    let mut w = World::<MemBackend>::new();
    let setup_height = w.chain.tip().height;
    let mut chain: Vec<(Block, CommitCertificate)> = Vec::new();
    let platform = w.platform.key.clone();
    let charity = w.charity.key.clone();
    let mut donor = 0u32;
    for _ in 0..blocks {
        let mut txs = Vec::with_capacity(TXS_PER_BLOCK);
        for i in 0..TXS_PER_BLOCK {
            let t = if i % 10 == 9 {
                let d = w.disbursement(&lunch(), 50_00, "meals", World::<MemBackend>::vendor());
                w.tx(&charity, d)
            } else {
                donor += 1;
                let d = w.donation(&lunch(), 100_00, &code(donor % 5_000), None);
                w.tx(&platform, d)
            };
            txs.push(t);
        }
        let c = w.commit(txs);
        assert!(
            c.built.rejected.is_empty(),
            "{:?}",
            c.built.rejected.first()
        );
        chain.push((c.built.block, c.commit));
    }
    println!("prepared in {:.1} s", prep.elapsed().as_secs_f64());

    // A fresh store at the same setup point, then apply every block as a
    // validator would.
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_or_init(dir.path(), &genesis()).expect("store");
    // Replay the fixture setup blocks (organisations, campaigns) untimed;
    // they are deterministic, so the chain prepared above extends them.
    let mut store = World::with_backend(store).chain.backend;
    assert_eq!(store.tip().height, setup_height);
    let start = Instant::now();
    let mut n = 0usize;
    for (block, commit) in &chain {
        store.apply_block(block, commit).expect("apply");
        n += block.txs.len();
    }
    let secs = start.elapsed().as_secs_f64();
    let applied = n as f64 / secs;
    println!("applied: {n} tx in {secs:.2} s = {applied:.0} tx/s (validate + verify_strict + allocate + sled commit with flush)");

    // Raw Ed25519 batch verification on all cores, same message sizes.
    let keys: Vec<SigningKey> = (0..64u8)
        .map(|i| SigningKey::from_bytes(&[i; 32]))
        .collect();
    let msgs: Vec<[u8; 32]> = (0..TXS_PER_BLOCK).map(|i| *blake(i)).collect();
    let sigs: Vec<_> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| keys[i % 64].sign(m))
        .collect();
    let vks: Vec<VerifyingKey> = (0..TXS_PER_BLOCK)
        .map(|i| keys[i % 64].verifying_key())
        .collect();
    let refs: Vec<&[u8]> = msgs.iter().map(|m| &m[..]).collect();
    let rounds = 40;
    let start = Instant::now();
    (0..rounds).into_par_iter().for_each(|_| {
        ed25519_dalek::verify_batch(&refs, &sigs, &vks).expect("batch verifies");
    });
    let batch = (rounds * TXS_PER_BLOCK) as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    (0..rounds).into_par_iter().for_each(|r| {
        for i in 0..TXS_PER_BLOCK {
            vks[i].verify_strict(&msgs[i], &sigs[i]).expect("verifies");
            let _ = r;
        }
    });
    let strict = (rounds * TXS_PER_BLOCK) as f64 / start.elapsed().as_secs_f64();
    println!("raw ed25519 batch verification, all cores: {batch:.0} sig/s");
    println!("raw ed25519 verify_strict, all cores: {strict:.0} sig/s");
    println!("ratio applied / batch verification: {:.2}", applied / batch);
    println!("ratio applied / verify_strict: {:.2}", applied / strict);
    println!(
        "target: 30000 applied tx/s -> {}",
        if applied >= 30_000.0 { "met" } else { "missed" }
    );
}

fn blake(i: usize) -> Box<[u8; 32]> {
    Box::new(charity_ledger::crypto::sha256(&i.to_be_bytes()).0)
}
