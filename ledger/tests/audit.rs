//! Replaying a stored chain from genesis: an honest store passes; a store
//! whose state was edited behind the chain's back is caught and named; a
//! source serving a changed amount, a removed transaction, a forged commit
//! or a swapped block is caught at that height with the reason; so is a
//! stored transaction missing from its table or listed in two blocks.

mod common;

use charity_ledger::audit::{replay, replay_source, AuditError, ChainSource};
use charity_ledger::dev;
use charity_ledger::hex::Hash;
use charity_ledger::schema::{self, Key};
use charity_ledger::store::{open_db, Store};
use charity_ledger::{Block, CommitCertificate, Keypair, Transaction};
use common::*;

fn build(dir: &std::path::Path) -> charity_ledger::hex::Hash {
    let store = Store::open_or_init(dir, &genesis()).unwrap();
    let mut w = World::with_backend(store);
    let p = w.platform.key.clone();
    let mut first = None;
    for i in 0..3u32 {
        let txs: Vec<_> = (0..5)
            .map(|j| {
                let k = w.donation(&lunch(), 1_000 + u64::from(j), &code(i * 5 + j), None);
                w.tx(&p, k)
            })
            .collect();
        first.get_or_insert(txs[0].id());
        w.commit(txs).all_accepted().unwrap();
    }
    let d = w.disbursement(&lunch(), 2_500, "meals", World::<Store>::vendor());
    w.commit_one(&w.charity.key.clone(), d);
    first.unwrap()
}

#[test]
fn an_honest_store_replays_to_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let store = Store::open(dir.path()).unwrap();
    let mut seen = Vec::new();
    let report = replay(&store, |h, tip, _| seen.push((h, tip))).unwrap();
    assert_eq!(report.blocks, store.tip().height);
    assert_eq!(report.transactions, store.tip().log.size());
    // Every stored entry was compared, transaction rows included.
    assert_eq!(report.state_entries, store.kv().len() as u64);
    assert_eq!(seen.last(), Some(&(store.tip().height, store.tip().height)));
}

#[test]
fn an_edited_donation_record_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let id = build(dir.path());
    {
        // Raise the recorded amount of a donation in the state, leaving the
        // signed transaction alone: the hashes still check out on open.
        let db = open_db(dir.path()).unwrap();
        let t = db.open_tree("chain").unwrap();
        let key = Key::new(schema::DONATION).hash(&id).build();
        let v = String::from_utf8(t.get(&key).unwrap().unwrap().to_vec()).unwrap();
        let edited = v.replace("\"amount\":1000,", "\"amount\":100000,");
        assert_ne!(v, edited);
        t.insert(&key, edited.as_bytes()).unwrap();
        db.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let err = replay(&store, |_, _, _| {}).unwrap_err();
    assert!(matches!(err, AuditError::StateMismatch { .. }), "{err}");
    assert_eq!(err.code(), "audit_state_mismatch");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("state differs at donation {id}")),
        "{msg}"
    );
    assert!(
        msg.contains("\"amount\":100000") && msg.contains("\"amount\":1000,"),
        "{msg}"
    );
}

/// Edits the stored state behind the chain's back.
/// The height at which transaction `id` was committed in the store at `dir`.
fn height_of(dir: &std::path::Path, id: &Hash) -> u64 {
    Store::open(dir)
        .unwrap()
        .tx_location(id)
        .unwrap()
        .unwrap()
        .height
}

fn edit_state(dir: &std::path::Path, edit: impl FnOnce(&sled::Tree)) {
    let db = open_db(dir).unwrap();
    let t = db.open_tree("chain").unwrap();
    edit(&t);
    db.flush().unwrap();
}

#[test]
fn a_missing_or_extra_entry_is_named_first_in_key_order() {
    // The comparison runs over key ranges in parallel; wherever the
    // differences fall, the first one in key order is reported.
    let dir = tempfile::tempdir().unwrap();
    let id = build(dir.path());
    edit_state(dir.path(), |t| {
        t.remove(Key::new(schema::DONATION).hash(&id).build())
            .unwrap();
        t.insert([0xfe, 1], b"planted last".as_slice()).unwrap();
    });
    let err = replay(&Store::open(dir.path()).unwrap(), |_, _, _| {}).unwrap_err();
    assert_eq!(err.code(), "audit_state_mismatch");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "state differs at donation {id}: stored nothing, replayed {{"
        )),
        "{msg}"
    );

    // Entries before and after everything the replay wrote.
    let planted = |entries: &[&[u8]]| -> String {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path());
        edit_state(dir.path(), |t| {
            for k in entries {
                t.insert(*k, format!("planted {}", k[0]).as_bytes())
                    .unwrap();
            }
        });
        replay(&Store::open(dir.path()).unwrap(), |_, _, _| {})
            .unwrap_err()
            .to_string()
    };
    let msg = planted(&[&[0x00, 7], &[0xfe, 1]]);
    assert!(
        msg.ends_with(": stored planted 0, replayed nothing"),
        "{msg}"
    );
    let msg = planted(&[&[0xfe, 1]]);
    assert!(
        msg.ends_with(": stored planted 254, replayed nothing"),
        "{msg}"
    );
}

/// A source that serves the stored chain with one lie in it.
struct Lying<'a> {
    store: &'a Store,
    at: u64,
    lie: Lie,
}

#[derive(Clone, Copy)]
enum Lie {
    /// A donation's amount changed (its signature no longer matches).
    Amount,
    /// One transaction left out of the block.
    RemovedTx,
    /// The header re-signed by keys that are not the validators, with the
    /// header's hash recomputed.
    ForgedCommit,
    /// The next block served in place of this one.
    Swapped,
}

impl ChainSource for Lying<'_> {
    type Error = charity_ledger::StoreError;
    fn height(&self) -> Result<u64, Self::Error> {
        Ok(self.store.tip().height)
    }
    fn block(&self, h: u64) -> Result<Block, Self::Error> {
        let mut b = ChainSource::block(self.store, h)?;
        if h == self.at {
            match self.lie {
                Lie::Amount => {
                    let tx = &b.txs[1];
                    let mut v = tx.to_value().unwrap();
                    let a = v["body"]["amount"].as_u64().unwrap();
                    v["body"]["amount"] = (a + 100).into();
                    b.txs[1] = Transaction::from_value(v).unwrap();
                }
                Lie::RemovedTx => {
                    b.txs.remove(2);
                }
                Lie::ForgedCommit => {}
                Lie::Swapped => b = ChainSource::block(self.store, h + 1)?,
            }
        }
        Ok(b)
    }
    fn block_hash(&self, h: u64) -> Result<Hash, Self::Error> {
        match self.lie {
            Lie::Swapped if h == self.at => ChainSource::block_hash(self.store, h + 1),
            _ => ChainSource::block_hash(self.store, h),
        }
    }
    fn commit(&self, h: u64) -> Result<CommitCertificate, Self::Error> {
        if h == self.at && matches!(self.lie, Lie::ForgedCommit) {
            let hash = ChainSource::block_hash(self.store, h)?;
            let impostors: Vec<Keypair> =
                (0..4).map(|i| dev::key(&format!("impostor-{i}"))).collect();
            return Ok(dev::sign_commit(CHAIN, h, 0, &hash, &impostors));
        }
        ChainSource::commit(self.store, h)
    }
}

#[test]
fn each_kind_of_tampering_is_named_with_its_height_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let store = Store::open(dir.path()).unwrap();
    // The honest source passes.
    let (report, _) = replay_source(store.genesis(), &store, |_, _, _| {}).unwrap();
    assert_eq!(report.blocks, store.tip().height);
    // The three donation blocks are the last four but one.
    let at = store.tip().height - 2;
    for (lie, code, words) in [
        (
            Lie::Amount,
            "audit_invalid_block",
            "signature does not verify",
        ),
        (
            Lie::RemovedTx,
            "audit_invalid_block",
            "header field tx_count: header says 5, computed 4",
        ),
        (
            Lie::ForgedCommit,
            "audit_bad_commit",
            "which is not a validator at this height",
        ),
        (
            Lie::Swapped,
            "audit_invalid_block",
            "block height 6, expected 5",
        ),
    ] {
        let source = Lying {
            store: &store,
            at,
            lie,
        };
        let err = replay_source(store.genesis(), &source, |_, _, _| {}).unwrap_err();
        let msg = err.to_string();
        assert_eq!(err.code(), code, "{msg}");
        assert!(msg.starts_with(&format!("height {at}: ")), "{msg}");
        assert!(msg.contains(words), "{msg}");
    }
}

#[test]
fn a_store_opened_for_audit_unverified_is_still_checked_block_by_block() {
    // `charity-node audit` opens the store without its own pass over the
    // blocks; the replay must catch what that pass would have.
    let dir = tempfile::tempdir().unwrap();
    let id = build(dir.path());
    let height = height_of(dir.path(), &id);
    edit_state(dir.path(), |t| {
        let key = Key::new(schema::TX).hash(&id).build();
        let v = t.get(&key).unwrap().unwrap().to_vec();
        let edited = String::from_utf8_lossy(&v).replace("\"amount\":1000,", "\"amount\":9000,");
        assert_ne!(edited.as_bytes(), &v[..]);
        t.insert(&key, edited.as_bytes()).unwrap();
    });
    assert!(Store::open(dir.path()).is_err());
    let store = Store::open_unverified(dir.path()).unwrap();
    let err = replay(&store, |_, _, _| {}).unwrap_err();
    assert_eq!(err.code(), "audit_unreadable_block", "{err}");
    assert!(
        err.to_string().starts_with(&format!("height {height}: ")),
        "{err}"
    );

    // A header changed behind its stored hash.
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    edit_state(dir.path(), |t| {
        let key = Key::new(schema::HEADER).u64(2).build();
        let mut h: serde_json::Value =
            serde_json::from_slice(&t.get(&key).unwrap().unwrap()).unwrap();
        let count = h["tx_count"].as_u64().unwrap();
        h["tx_count"] = (count + 1).into();
        t.insert(&key, serde_json::to_vec(&h).unwrap()).unwrap();
    });
    assert!(Store::open(dir.path()).is_err());
    let err = replay(&Store::open_unverified(dir.path()).unwrap(), |_, _, _| {}).unwrap_err();
    assert!(err.to_string().starts_with("height 2: "), "{err}");
    assert_eq!(err.code(), "audit_invalid_block", "{err}");
}

#[test]
fn a_transaction_missing_from_the_table_or_listed_twice_fails_at_its_height() {
    // The replay reads the transaction table in one pass and hands each
    // record out when its block is read; a record the table lacks, or one
    // a block lists a second time, is read from the store as before and
    // fails at that block.
    let dir = tempfile::tempdir().unwrap();
    let id = build(dir.path());
    let height = height_of(dir.path(), &id);
    edit_state(dir.path(), |t| {
        t.remove(Key::new(schema::TX).hash(&id).build()).unwrap();
    });
    let err = replay(&Store::open_unverified(dir.path()).unwrap(), |_, _, _| {}).unwrap_err();
    assert_eq!(err.code(), "audit_unreadable_block", "{err}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("height {height}: cannot read the block: "))
            && msg.contains(&format!("transaction {id}")),
        "{msg}"
    );

    // The next block lists that first transaction again.
    let dir = tempfile::tempdir().unwrap();
    let id = build(dir.path());
    let next = height + 1;
    edit_state(dir.path(), |t| {
        let key = Key::new(schema::BLOCK_TXS).u64(next).build();
        let mut ids = t.get(&key).unwrap().unwrap().to_vec();
        ids.extend_from_slice(&id.0);
        t.insert(&key, ids).unwrap();
    });
    let err = replay(&Store::open_unverified(dir.path()).unwrap(), |_, _, _| {}).unwrap_err();
    assert_eq!(err.code(), "audit_invalid_block", "{err}");
    assert!(
        err.to_string().starts_with(&format!("height {next}: ")),
        "{err}"
    );
}

#[test]
fn a_transaction_row_is_compared_as_its_block_is_replayed() {
    // The rows of the transaction table are compared while the replay
    // goes, not at the end: a row whose location was edited is named.
    let dir = tempfile::tempdir().unwrap();
    let id = build(dir.path());
    let key = Key::new(schema::TX).hash(&id).build();
    edit_state(dir.path(), |t| {
        let mut row = t.get(&key).unwrap().unwrap().to_vec();
        // The big-endian index follows the 8-byte height.
        row[11] ^= 1;
        t.insert(&key, row).unwrap();
    });
    let err = replay(&Store::open(dir.path()).unwrap(), |_, _, _| {}).unwrap_err();
    assert_eq!(err.code(), "audit_state_mismatch", "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("state differs at transaction {id}: stored ")),
        "{err}"
    );
    // So is one whose organisation is no longer an organisation id (not
    // even UTF-8): the transaction after it still decodes, and the row is
    // compared whole.
    let dir = tempfile::tempdir().unwrap();
    let id = build(dir.path());
    let key = Key::new(schema::TX).hash(&id).build();
    edit_state(dir.path(), |t| {
        let mut row = t.get(&key).unwrap().unwrap().to_vec();
        // The organisation id follows its length byte at 12.
        row[13] = 0xff;
        t.insert(&key, row).unwrap();
    });
    // (Opening the store checks its rows too; the audit opens it without.)
    assert!(Store::open(dir.path()).is_err());
    let err = replay(&Store::open_unverified(dir.path()).unwrap(), |_, _, _| {}).unwrap_err();
    assert_eq!(err.code(), "audit_state_mismatch", "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("state differs at transaction {id}: stored ")),
        "{err}"
    );

    // A row no block lists, and a key in the table that is no id, are
    // named as stored and not replayed, first in key order.
    let planted = |keys: &[Vec<u8>]| -> String {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path());
        edit_state(dir.path(), |t| {
            for k in keys {
                t.insert(k.as_slice(), b"planted row".as_slice()).unwrap();
            }
        });
        replay(&Store::open(dir.path()).unwrap(), |_, _, _| {})
            .unwrap_err()
            .to_string()
    };
    let unlisted = Hash::from([0xee; 32]);
    let row = Key::new(schema::TX).hash(&unlisted).build();
    let stray = vec![schema::TX, 0xff];
    let msg = planted(&[row.clone(), stray.clone()]);
    assert_eq!(
        msg,
        format!("state differs at transaction {unlisted}: stored planted row, replayed nothing")
    );
    assert_eq!(
        planted(&[stray]),
        "state differs at transaction ff: stored planted row, replayed nothing"
    );
    // An entry of a table before the transaction table comes first.
    let header = Key::new(schema::HEADER).u64(99).build();
    assert_eq!(
        planted(&[row, header]),
        "state differs at header height 99: stored planted row, replayed nothing"
    );
}

#[test]
fn an_edited_record_held_by_its_digest_is_named_with_both_sides() {
    // The audit holds long values of the tables execution only writes as
    // their SHA-256; an edited one is still caught and named, with the
    // stored value and the digest of the replayed one.
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let mut edited = None;
    edit_state(dir.path(), |t| {
        let (key, row) = t
            .scan_prefix([schema::ALLOC_BY_DISBURSEMENT])
            .next()
            .unwrap()
            .unwrap();
        let row = String::from_utf8(row.to_vec()).unwrap();
        let changed = row.replacen("\"amount\":", "\"amount\":1", 1);
        assert_ne!(row, changed);
        t.insert(&key, changed.as_bytes()).unwrap();
        edited = Some((key.to_vec(), row, changed));
    });
    let (key, row, changed) = edited.unwrap();
    let err = replay(&Store::open(dir.path()).unwrap(), |_, _, _| {}).unwrap_err();
    assert_eq!(err.code(), "audit_state_mismatch");
    assert_eq!(
        err.to_string(),
        format!(
            "state differs at {}: stored {}, replayed a value of SHA-256 {}",
            schema::describe(&key),
            // Reports shorten values to 160 characters.
            changed.chars().take(160).collect::<String>(),
            charity_ledger::crypto::sha256(row.as_bytes()).to_hex()
        )
    );
}
