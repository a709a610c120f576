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
                let d = w.disbursement(&lunch(), 1_00, "meals", World::<MemBackend>::vendor());
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
    // Where the time goes: stateless checks (parallel signature checks),
    // stateful execution and header computation, and the sled commit.
    let (mut t_sig, mut t_exec, mut t_commit) = (0f64, 0f64, 0f64);
    let start = Instant::now();
    let mut n = 0usize;
    for (block, commit) in &chain {
        let t = Instant::now();
        let checks: Vec<_> = block
            .txs
            .par_iter()
            .map(|tx| charity_ledger::validate::check_stateless(tx, CHAIN))
            .collect();
        assert!(checks.iter().all(|c| c.is_ok()));
        t_sig += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let effects = charity_ledger::chain::execute_block(store.kv(), store.tip(), block)
            .expect("valid block");
        t_exec += t.elapsed().as_secs_f64();
        let t = Instant::now();
        charity_ledger::vote::verify_commit(
            CHAIN,
            block.header.height,
            &effects.block_hash,
            commit,
            &store.tip().next_validators,
        )
        .expect("commit verifies");
        store.commit(effects, commit).expect("commit");
        t_commit += t.elapsed().as_secs_f64();
        n += block.txs.len();
    }
    let secs = start.elapsed().as_secs_f64() - t_sig;
    let applied = n as f64 / secs;
    println!("applied: {n} tx in {secs:.2} s = {applied:.0} tx/s (validate + verify_strict + allocate + sled commit with flush)");
    println!(
        "  breakdown per 1,000 tx: signature + field checks {:.1} ms (measured separately), execute_block (includes those checks again) {:.1} ms, commit + flush {:.1} ms",
        t_sig * 1000.0 / (n as f64 / 1000.0),
        t_exec * 1000.0 / (n as f64 / 1000.0),
        t_commit * 1000.0 / (n as f64 / 1000.0)
    );

    // The storage engine's own cost for the same volume: one batch of the
    // same number of writes per block, with the same total size, flushed.
    let writes_per_block = store_writes_per_block(&chain, &store);
    let raw_dir = tempfile::tempdir().expect("temp dir");
    let db = sled::open(raw_dir.path()).expect("sled");
    let tree = db.open_tree("raw").expect("tree");
    let start = Instant::now();
    let mut flush_secs = 0f64;
    for b in 0..blocks {
        let mut batch = sled::Batch::default();
        for (i, (klen, vlen)) in writes_per_block.iter().enumerate() {
            let mut k = vec![0u8; (*klen).max(8)];
            k[..8].copy_from_slice(&((b * 100_000 + i) as u64).to_be_bytes());
            batch.insert(k, vec![7u8; *vlen]);
        }
        tree.apply_batch(batch).expect("batch");
        let f = Instant::now();
        db.flush().expect("flush");
        flush_secs += f.elapsed().as_secs_f64();
    }
    let raw = start.elapsed().as_secs_f64();
    println!(
        "raw sled, {} writes per block ({} bytes): {:.1} ms per block of which flush {:.1} ms",
        writes_per_block.len(),
        writes_per_block.iter().map(|(k, v)| k + v).sum::<usize>(),
        raw * 1000.0 / blocks as f64,
        flush_secs * 1000.0 / blocks as f64
    );

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

/// The (key length, value length) of every write the last block made,
/// recomputed by executing it again on a throwaway copy of its parent state.
fn store_writes_per_block(
    chain: &[(Block, CommitCertificate)],
    _store: &Store,
) -> Vec<(usize, usize)> {
    // Re-execute the last block over an in-memory replay.
    let mut w = World::<MemBackend>::new();
    let mut last = Vec::new();
    for (block, _) in chain {
        let tip = w.chain.tip().clone();
        let effects =
            charity_ledger::chain::execute_block(&w.chain.backend.kv, &tip, block).expect("valid");
        last = effects
            .writes
            .iter()
            .map(|(k, v)| (k.len(), v.as_ref().map_or(0, |v| v.len())))
            .collect();
        w.chain.backend.kv.apply(effects.writes);
        w.chain.backend.tip = effects.tip;
    }
    last
}
