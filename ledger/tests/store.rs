//! The sled store: reopening gives exactly the committed state; a flipped
//! byte anywhere in a stored block is refused with the height named; a
//! truncated or overwritten file is an error with a code or a shorter
//! chain that re-verifies, never a panic; receipts and log proofs from the
//! store verify.

mod common;

use charity_ledger::hex::Hash;
use charity_ledger::merkle;
use charity_ledger::receipt::{verify_receipt, Receipt};
use charity_ledger::schema::{self, Key};
use charity_ledger::store::{Store, StoreError};
use common::*;

fn build(dir: &std::path::Path) -> (Vec<Hash>, u64) {
    let store = Store::open_or_init(dir, &genesis()).unwrap();
    let mut w = World::with_backend(store);
    let mut ids = Vec::new();
    let p = w.platform.key.clone();
    for i in 0..5u32 {
        let txs = (0..7)
            .map(|j| {
                let k = w.donation(
                    &lunch(),
                    100 + u64::from(i * 10 + j),
                    &code(i * 10 + j),
                    None,
                );
                w.tx(&p, k)
            })
            .collect::<Vec<_>>();
        ids.extend(txs.iter().map(|t| t.id()));
        w.commit(txs).all_accepted().unwrap();
    }
    let d = w.disbursement(&lunch(), 300, "meals", World::<Store>::vendor());
    ids.push(w.commit_one(&w.charity.key.clone(), d));
    let h = w.chain.tip().height;
    (ids, h)
}

fn dump(dir: &std::path::Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let db = charity_ledger::store::open_db(dir).unwrap();
    let t = db.open_tree("chain").unwrap();
    t.iter()
        .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
        .collect()
}

#[test]
fn reopened_store_equals_the_store_before() {
    let dir = tempfile::tempdir().unwrap();
    let (_, height) = build(dir.path());
    let before = dump(dir.path());
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.tip().height, height);
    let tip = s.tip().clone();
    drop(s);
    assert_eq!(dump(dir.path()), before);
    let s = Store::open_or_init(dir.path(), &genesis()).unwrap();
    assert_eq!(s.tip(), &tip);
}

fn flip(dir: &std::path::Path, key: &[u8], at: usize) {
    let db = charity_ledger::store::open_db(dir).unwrap();
    let t = db.open_tree("chain").unwrap();
    let mut v = t.get(key).unwrap().unwrap().to_vec();
    let at = at % v.len();
    v[at] ^= 0x01;
    t.insert(key, v).unwrap();
    db.flush().unwrap();
}

#[test]
fn a_flipped_byte_in_a_stored_block_is_refused() {
    // Every byte position class: header, tx id list, a transaction, commit.
    type KeyOf = Box<dyn Fn(&[Hash]) -> Vec<u8>>;
    let targets: Vec<(KeyOf, usize, &str)> = vec![
        (
            Box::new(|_| Key::new(schema::HEADER).u64(3).build()),
            40,
            "height 3",
        ),
        (
            Box::new(|_| Key::new(schema::BLOCK_TXS).u64(2).build()),
            5,
            "height 2",
        ),
        // Heights 1-3 are the fixture's set-up; ids[10] is in the second
        // block of donations.
        (
            Box::new(|ids| Key::new(schema::TX).hash(&ids[10]).build()),
            100,
            "height 5",
        ),
        (
            Box::new(|_| Key::new(schema::COMMIT).u64(4).build()),
            60,
            "height 4",
        ),
        // The log nodes completed by height 6, whose first leaf is 24 (10
        // set-up transactions, then blocks of 7).
        (
            Box::new(|_| Key::new(schema::LOG_NODES).u64(24).build()),
            50,
            "height 6",
        ),
        (
            Box::new(|_| Key::new(schema::BLOCK_HASH).u64(5).build()),
            0,
            "height 5",
        ),
    ];
    for (key, at, expect) in targets {
        let dir = tempfile::tempdir().unwrap();
        let (ids, _) = build(dir.path());
        let k = key(&ids);
        flip(dir.path(), &k, at);
        let err = Store::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(expect), "{msg} should name {expect}");
        assert_eq!(err.code(), "store_corrupt");
    }
}

#[test]
fn receipts_verify_and_fail_on_any_changed_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (ids, _) = build(dir.path());
    let s = Store::open(dir.path()).unwrap();
    let trusted = genesis().validator_set().unwrap().public_list();
    let r = s.receipt(&ids[12]).unwrap();
    verify_receipt(&r, &trusted).unwrap();
    let bytes = serde_json::to_vec(&r).unwrap();
    let back = Receipt::decode(&bytes).unwrap();
    assert_eq!(back, r);
    // Change every byte in turn (within what keeps it text): each change
    // must make decoding or verification fail.
    let mut checked = 0;
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] = match b[i] {
            b'0'..=b'8' => b[i] + 1,
            b'9' => b'0',
            b'a'..=b'e' => b[i] + 1,
            b'f' => b'a',
            _ => continue,
        };
        if let Ok(r2) = Receipt::decode(&b) {
            assert!(
                verify_receipt(&r2, &trusted).is_err(),
                "byte {i} changed and still verifies"
            );
        }
        checked += 1;
    }
    assert!(checked > 500);
    // The wrong trusted set is refused at step 4.
    let other = vec![charity_ledger::validators::PowerEntry {
        pubkey: charity_ledger::dev::key("x").public(),
        power: 1,
    }];
    assert_eq!(verify_receipt(&r, &other).unwrap_err().step, 4);
}

#[test]
fn log_proofs_from_the_store_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (ids, height) = build(dir.path());
    let s = Store::open(dir.path()).unwrap();
    let headers: Vec<_> = (1..=height)
        .map(|h| s.header(h).unwrap().unwrap())
        .collect();
    for a in &headers {
        for b in &headers {
            if a.log_size == 0 || a.log_size > b.log_size {
                continue;
            }
            let p = s.log_consistency(a.log_size, b.log_size).unwrap();
            let p: Vec<[u8; 32]> = p.iter().map(|h| h.0).collect();
            merkle::verify_consistency(a.log_size, b.log_size, &a.log_root.0, &b.log_root.0, &p)
                .unwrap();
        }
    }
    let last = headers.last().unwrap();
    for id in &ids {
        let (index, p) = s.log_inclusion(id, last.log_size).unwrap();
        let p: Vec<[u8; 32]> = p.iter().map(|h| h.0).collect();
        merkle::verify_inclusion(&id.0, index, last.log_size, &p, &last.log_root.0).unwrap();
    }
}

/// Copies the store's directory (sled's files) from `from` into `to`.
fn copy_store(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_store(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn a_truncated_or_overwritten_store_file_is_an_error_never_a_panic() {
    // A store of several of sled's log segments (512 KiB each): 2,000
    // donations in 20 blocks.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_or_init(dir.path(), &genesis()).unwrap();
    let mut w = World::with_backend(store);
    let p = w.platform.key.clone();
    for b in 0..20u32 {
        let txs = (0..100)
            .map(|i| {
                let d = w.donation(&lunch(), 100_00, &code(b * 100 + i), None);
                w.tx(&p, d)
            })
            .collect();
        w.commit(txs).all_accepted().unwrap();
    }
    let height = w.chain.tip().height;
    drop(w);
    let len = std::fs::metadata(dir.path().join("db")).unwrap().len();
    assert!(len > 4 << 20, "{len} bytes");
    let mut damaged = 0;
    let mut codes = std::collections::BTreeSet::new();
    // sled's layout on disk varies from run to run with its threads'
    // timing, and so does what each cut does: many cuts.
    for (i, cut) in (1..16u64).map(|k| len * k / 16).enumerate() {
        for overwrite in [false, true] {
            let copy = tempfile::tempdir().unwrap();
            copy_store(dir.path(), copy.path());
            let db = copy.path().join("db");
            if overwrite {
                // 4 KiB of garbage at the cut, the file's length kept.
                let mut bytes = std::fs::read(&db).unwrap();
                let end = (cut as usize + 4096).min(bytes.len());
                for (j, b) in bytes[cut as usize..end].iter_mut().enumerate() {
                    *b = (j * 131 + i * 7) as u8;
                }
                std::fs::write(&db, bytes).unwrap();
            } else {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&db)
                    .unwrap()
                    .set_len(cut)
                    .unwrap();
            }
            // Opened and audited: an error with a code, or a chain that
            // re-verifies: sled's recovery keeps the log up to its first
            // unreadable entry, so a cut log is a shorter chain, whole.
            // A node starting on the copy gets the same store, or an
            // error: never a fresh chain written over the damaged one.
            let again = tempfile::tempdir().unwrap();
            copy_store(copy.path(), again.path());
            let started = Store::open_or_init(again.path(), &genesis()).is_ok();
            let opened = Store::open_unverified(copy.path());
            assert!(
                opened.is_ok() || !started,
                "cut {cut}, {overwrite}: a new chain went over a damaged one"
            );
            let outcome = opened.and_then(|s| {
                charity_ledger::audit::replay(&s, |_, _, _| {})
                    .map_err(|e| StoreError::BadRequest(format!("{} {e}", e.code())))
            });
            match outcome {
                Ok(report) => assert!(report.blocks <= height, "cut {cut}, {overwrite}"),
                Err(e) => {
                    damaged += 1;
                    assert!(!e.code().is_empty() && !e.to_string().is_empty());
                    codes.insert(e.code());
                }
            }
        }
    }
    assert!(damaged > 0, "no damage was noticed");
    // sled's recovery panics on some truncations, and recovers an empty
    // tree from others: both are this error, never "no chain here yet".
    assert!(codes.contains("store_damaged"), "{codes:?}");
    assert!(!codes.contains("not_initialised"), "{codes:?}");

    // A directory that holds no store is not made into one by opening it.
    let empty = tempfile::tempdir().unwrap();
    let err = Store::open_unverified(empty.path()).unwrap_err();
    assert_eq!(err.code(), "not_initialised");
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);
}

#[test]
fn a_database_without_a_chain_is_refused_and_left_as_it_is() {
    // What sled recovers from files that lost their first write: a
    // database, and no chain in it.
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        db.open_tree("chain").unwrap();
        db.insert(b"left by sled", &b"before the damage"[..])
            .unwrap();
        db.flush().unwrap();
    }
    for open in [
        Store::open_or_init(dir.path(), &genesis()),
        Store::open_unverified(dir.path()),
        Store::open(dir.path()),
    ] {
        let Err(err) = open else {
            panic!("a database without a chain was opened")
        };
        assert_eq!(err.code(), "store_damaged", "{err}");
        assert!(err.to_string().contains("read no chain"), "{err}");
    }
    // Nothing was written: no genesis went in, the old entry stays.
    let db = sled::open(dir.path()).unwrap();
    assert!(db.open_tree("chain").unwrap().is_empty());
    assert!(db.get(b"left by sled").unwrap().is_some());
    drop(db);

    // A directory without a database is a new store.
    let new = tempfile::tempdir().unwrap();
    let store = Store::open_or_init(new.path(), &genesis()).unwrap();
    assert_eq!(store.tip().height, 0);
}
