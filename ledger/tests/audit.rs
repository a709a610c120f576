//! Replaying a stored chain from genesis: an honest store passes; a store
//! whose state was edited behind the chain's back is caught and named.

mod common;

use charity_ledger::audit::{replay, AuditError};
use charity_ledger::schema::{self, Key};
use charity_ledger::store::{open_db, Store};
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
