//! Audit throughput: transactions fully re-verified per second when a
//! stored chain is replayed from genesis (every signature, rule,
//! allocation, header field and commit, then the state compared entry by
//! entry), next to raw Ed25519 verification on all cores in the same run,
//! to the audit's own stateless checks (its signature batches) alone, and
//! to its replay with the blocks already in memory (what the audit would
//! make with a store that cost nothing to read and compare). Then the
//! audit of a quiet chain, blocks without transactions, in blocks a
//! second, and of a chain of small blocks (2,000 blocks of ten
//! donations).
//!
//! Run: `cargo bench -p charity-ledger --bench audit` (TXS=n to change the
//! chain's size, default 1,000,000; blocks of 1,000; CHAIN=dir keeps the
//! built chain in `dir` and reuses it on the next run; QUIET=n blocks in
//! the quiet chain, default 20,000).

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// As in the `charity-node` and `charity` binaries that run audits.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use charity_ledger::audit::{replay, ChainSource, Replay, TxRows};
use charity_ledger::records::CommittedTx;
use charity_ledger::schema::{self, Key};
use charity_ledger::store::Store;
use charity_ledger::vote::CommitCertificate;
use charity_ledger::{Block, Hash, Header, Transaction};
use common::*;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rayon::prelude::*;

fn main() {
    let txs: usize = std::env::var("TXS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let blocks = txs.div_ceil(1_000);
    println!(
        "charity-ledger audit benchmark: a chain of {} transactions in blocks of 1,000",
        blocks * 1_000
    );
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = match std::env::var_os("CHAIN") {
        Some(d) => std::path::PathBuf::from(d),
        None => tmp.path().to_path_buf(),
    };
    let marker = dir.join("bench-txs");
    let reuse = std::fs::read_to_string(&marker).is_ok_and(|s| s == txs.to_string());
    let build = Instant::now();
    if reuse {
        println!("reusing the chain in {}", dir.display());
    } else {
        // Only a chain this bench built (it has the marker) or an empty
        // directory is replaced: CHAIN may name any directory.
        let empty = std::fs::read_dir(&dir).map_or(true, |mut d| d.next().is_none());
        if !empty && !marker.exists() {
            eprintln!(
                "CHAIN={} is not empty and holds no chain built by this bench; not touching it",
                dir.display()
            );
            std::process::exit(2);
        }
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open_or_init(&dir, &genesis()).expect("store");
        let mut w = World::with_backend(store);
        let platform = w.platform.key.clone();
        let charity = w.charity.key.clone();
        let mut donor = 0u32;
        for b in 0..blocks {
            let batch: Vec<_> = (0..1_000)
                .map(|i| {
                    if i % 10 == 9 {
                        let d = w.disbursement(&lunch(), 1_00, "meals", World::<Store>::vendor());
                        w.tx(&charity, d)
                    } else {
                        donor += 1;
                        let d = w.donation(&lunch(), 100_00, &code(donor % 50_000), None);
                        w.tx(&platform, d)
                    }
                })
                .collect();
            let c = w.commit(batch);
            assert!(
                c.built.rejected.is_empty(),
                "{:?}",
                c.built.rejected.first()
            );
            if (b + 1) % 100 == 0 {
                println!("  built {} blocks", b + 1);
            }
        }
    }
    if !reuse {
        std::fs::write(&marker, txs.to_string()).expect("marker");
    }
    println!("built in {:.1} s", build.elapsed().as_secs_f64());

    // The machine's own limit, measured before the store is opened so that
    // the store's background threads do not weigh on it.
    let keys: Vec<SigningKey> = (0..64u8)
        .map(|i| SigningKey::from_bytes(&[i; 32]))
        .collect();
    let msgs: Vec<[u8; 32]> = (0..1_000usize)
        .map(|i| charity_ledger::crypto::sha256(&i.to_be_bytes()).0)
        .collect();
    let sigs: Vec<_> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| keys[i % 64].sign(m))
        .collect();
    let vks: Vec<VerifyingKey> = (0..1_000).map(|i| keys[i % 64].verifying_key()).collect();
    let refs: Vec<&[u8]> = msgs.iter().map(|m| &m[..]).collect();
    // About a second of batches (a shorter run is at the mercy of the
    // machine's moment), and a second or so of single verifications.
    let batch_rounds = 200;
    let t = Instant::now();
    (0..batch_rounds).into_par_iter().for_each(|_| {
        ed25519_dalek::verify_batch(&refs, &sigs, &vks).expect("batch verifies");
    });
    let batch = (batch_rounds * 1_000) as f64 / t.elapsed().as_secs_f64();
    let rounds = 40;
    let t = Instant::now();
    (0..rounds).into_par_iter().for_each(|_| {
        for i in 0..1_000 {
            vks[i].verify_strict(&msgs[i], &sigs[i]).expect("verifies");
        }
    });
    let strict = (rounds * 1_000) as f64 / t.elapsed().as_secs_f64();

    // The figure is the audit's own work, not the disk's: the store's
    // files are read once first, so that the page cache holds them as it
    // does for a running node's store. COLD=1 skips this (and then a store
    // the page cache has dropped is read from disk during the audit).
    if std::env::var_os("COLD").is_none() {
        let t = Instant::now();
        let bytes = read_all(&dir);
        println!(
            "store files read once before timing ({} MB in {:.1} s; COLD=1 skips this)",
            bytes >> 20,
            t.elapsed().as_secs_f64()
        );
    }

    // Timed as `charity-node audit --store` runs it: open the store (no
    // pass of its own over the blocks: the replay re-verifies them), replay
    // every block from genesis, compare the state.
    let start = Instant::now();
    let store = Store::open_unverified(&dir).expect("reopen");
    let opened = start.elapsed().as_secs_f64();
    let mut replayed = start;
    let report = replay(&store, |height, tip, _| {
        if height == tip {
            replayed = Instant::now();
        }
    })
    .expect("the chain is intact");
    let secs = start.elapsed().as_secs_f64();
    let replay_secs = (replayed - start).as_secs_f64();
    let rate = report.transactions as f64 / secs;
    println!(
        "audit: {} transactions in {} blocks re-verified in {secs:.1} s = {rate:.0} tx/s ({} state entries compared)",
        report.transactions, report.blocks, report.state_entries
    );
    println!(
        "  of which opening the store {opened:.1} s, replaying the blocks {:.1} s, comparing the state {:.1} s",
        replay_secs - opened,
        secs - replay_secs
    );

    // The audit's own stateless checks alone (fields, and signatures in
    // its batches, which group the terms of repeated keys), as the replay
    // runs them: a few blocks at a time, one per core. Nothing is read,
    // executed or compared while the clock runs. The audit cannot go
    // faster than this; the rest of its time is storage, decoding,
    // execution and the state comparison.
    let workers = rayon::current_num_threads().max(1) as u64;
    let chain_id = store.tip().chain_id.clone();
    let (tip, mut height) = (store.tip().height, 1);
    let (mut checking, mut checked) = (std::time::Duration::ZERO, 0usize);
    while height <= tip {
        let group: Vec<_> = (height..=tip.min(height + workers - 1))
            .map(|h| store.block(h).expect("read").expect("stored block"))
            .collect();
        height += group.len() as u64;
        let txs: Vec<&[charity_ledger::Transaction]> =
            group.iter().map(|b| b.txs.as_slice()).collect();
        let t = Instant::now();
        let checks = charity_ledger::chain::check_blocks_batched(&txs, &chain_id);
        checking += t.elapsed();
        assert!(checks.iter().flatten().all(Result::is_ok), "a check failed");
        checked += txs.iter().map(|t| t.len()).sum::<usize>();
    }
    let alone = checked as f64 / checking.as_secs_f64();
    println!(
        "the audit's stateless checks alone, all cores: {alone:.0} tx/s ({:.1} s, {:.0}% of the audit's time)",
        checking.as_secs_f64(),
        100.0 * checking.as_secs_f64() / secs
    );

    // The replay with its blocks already in memory: decoding, checks,
    // execution and the comparison of each transaction's row, as the
    // audit runs them, but nothing read from the store while the clock
    // runs and no state comparison after. However fast a store were to
    // read and compare, the audit could not go faster than this.
    let memory = InMemory::read(&store);
    let t = Instant::now();
    let mut r = Replay::for_comparison(store.genesis(), checked).expect("genesis");
    r.run(&memory, tip, |_, _, _| {})
        .expect("the chain is intact");
    let in_memory_secs = t.elapsed().as_secs_f64();
    assert_eq!(r.transactions, report.transactions);
    let in_memory = r.transactions as f64 / in_memory_secs;
    println!(
        "the replay alone, its blocks already in memory (decoding, checks, execution; no store reads, no state comparison), all cores: {in_memory:.0} tx/s ({in_memory_secs:.1} s)"
    );

    // A quiet chain: blocks without transactions, as the heartbeat makes
    // them (one every 10 s, 8,640 a day, when nothing is submitted). Each
    // costs the audit its header, its commit (a signature of each of the
    // four validators) and its state entries.
    let quiet_blocks: u64 = std::env::var("QUIET")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let quiet_dir = tempfile::tempdir().expect("temp dir");
    let mut w =
        World::with_backend(Store::open_or_init(quiet_dir.path(), &genesis()).expect("store"));
    for _ in 0..quiet_blocks {
        w.commit(Vec::new());
    }
    drop(w);
    let t = Instant::now();
    let quiet = Store::open_unverified(quiet_dir.path()).expect("reopen");
    let quiet_report = replay(&quiet, |_, _, _| {}).expect("the quiet chain is intact");
    let quiet_secs = t.elapsed().as_secs_f64();
    let quiet_rate = quiet_report.blocks as f64 / quiet_secs;
    println!(
        "audit of a quiet chain: {} blocks without transactions in {quiet_secs:.1} s = {quiet_rate:.0} blocks/s ({:.0} commit signatures/s)",
        quiet_report.blocks,
        quiet_rate * validators().len() as f64
    );

    // A chain of small blocks, as steady light traffic makes them: ten
    // donations each.
    let small_blocks: u32 = 2_000;
    let small_dir = tempfile::tempdir().expect("temp dir");
    let mut w =
        World::with_backend(Store::open_or_init(small_dir.path(), &genesis()).expect("store"));
    let platform = w.platform.key.clone();
    for b in 0..small_blocks {
        let txs = (0..10)
            .map(|i| {
                let d = w.donation(&lunch(), 100_00, &code((b * 10 + i) % 50_000), None);
                w.tx(&platform, d)
            })
            .collect();
        w.commit(txs);
    }
    drop(w);
    let t = Instant::now();
    let small = Store::open_unverified(small_dir.path()).expect("reopen");
    let small_report = replay(&small, |_, _, _| {}).expect("the small blocks' chain is intact");
    let small_secs = t.elapsed().as_secs_f64();
    println!(
        "audit of a chain of small blocks: {} transactions in {} blocks in {small_secs:.1} s = {:.0} tx/s",
        small_report.transactions,
        small_report.blocks,
        small_report.transactions as f64 / small_secs
    );

    println!("raw ed25519 batch verification, all cores: {batch:.0} sig/s; verify_strict: {strict:.0} sig/s");
    println!(
        "ratio audit / batch verification: {:.2}; audit / verify_strict: {:.2}; audit / its checks alone: {:.2}; audit / its replay in memory: {:.2}; quiet chain's commit signatures / batch verification: {:.2}",
        rate / batch,
        rate / strict,
        rate / alone,
        rate / in_memory,
        quiet_rate * validators().len() as f64 / batch
    );
    println!(
        "target: 60000 audited tx/s -> {}",
        if rate >= 60_000.0 { "met" } else { "missed" }
    );
}

/// A chain read into memory: each block's header, hash, commit and the
/// stored row of each of its transactions. A block is handed out once,
/// its rows decoded on all cores as the audit's store reader decodes them.
struct InMemory {
    blocks: Vec<Mutex<Option<StoredBlock>>>,
    hashes: Vec<Hash>,
    commits: Vec<CommitCertificate>,
}

/// A block's header, its transactions' ids and their stored rows.
type StoredBlock = (Header, Vec<Hash>, TxRows);

impl InMemory {
    fn read(store: &Store) -> Self {
        let table = [schema::TX];
        let after = [schema::TX + 1];
        let mut rows: HashMap<Vec<u8>, sled::IVec> = store
            .kv()
            .range(&table[..]..&after[..])
            .map(|row| {
                let (k, v) = row.expect("stored row");
                (k.to_vec(), v)
            })
            .collect();
        let tip = store.tip().height;
        let mut m = InMemory {
            blocks: Vec::new(),
            hashes: Vec::new(),
            commits: Vec::new(),
        };
        for h in 1..=tip {
            let header = store.header(h).expect("read").expect("stored header");
            let ids = store.block_tx_ids(h).expect("block's ids");
            let block_rows = ids
                .iter()
                .map(|id| {
                    rows.remove(&Key::new(schema::TX).hash(id).build())
                        .expect("stored transaction")
                })
                .collect();
            m.blocks.push(Mutex::new(Some((header, ids, block_rows))));
            m.hashes
                .push(store.block_hash(h).expect("read").expect("stored hash"));
            m.commits
                .push(store.commit_certificate(h).expect("stored commit"));
        }
        m
    }

    fn at(height: u64) -> usize {
        usize::try_from(height - 1).expect("height")
    }
}

impl ChainSource for InMemory {
    type Error = String;
    fn height(&self) -> Result<u64, String> {
        Ok(self.blocks.len() as u64)
    }
    fn block(&self, height: u64) -> Result<Block, String> {
        self.block_and_rows(height).map(|(block, _)| block)
    }
    fn block_and_rows(&self, height: u64) -> Result<(Block, Option<TxRows>), String> {
        let (header, ids, rows) = self.blocks[Self::at(height)]
            .lock()
            .expect("lock")
            .take()
            .ok_or("handed out already")?;
        let txs = ids
            .par_iter()
            .zip(rows.par_iter())
            .with_min_len(64)
            .map(|(id, row)| {
                let location = CommittedTx::location_part(row).ok_or("no location")?;
                Transaction::from_stored_with_id(&row[location.len()..], id)
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok((Block { header, txs }, Some(rows)))
    }
    fn block_hash(&self, height: u64) -> Result<Hash, String> {
        Ok(self.hashes[Self::at(height)])
    }
    fn commit(&self, height: u64) -> Result<CommitCertificate, String> {
        Ok(self.commits[Self::at(height)].clone())
    }
}

/// Reads every file under `dir` (into nothing); returns the bytes read.
fn read_all(dir: &std::path::Path) -> u64 {
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir).expect("store directory").flatten() {
        let path = entry.path();
        if path.is_dir() {
            bytes += read_all(&path);
        } else if let Ok(mut f) = std::fs::File::open(&path) {
            bytes += std::io::copy(&mut f, &mut std::io::sink()).unwrap_or(0);
        }
    }
    bytes
}
