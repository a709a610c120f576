//! `charity witness` against a simulated node: it accepts honest growth,
//! refuses a checkpoint the validators did not sign, and detects a node
//! that serves a history inconsistent with the checkpoint it saved,
//! printing both checkpoints and exiting 2.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use charity_ledger::dev::{self, DevChain};
use charity_ledger::ids::Region;
use charity_ledger::kinds::{OrgRole, RegisterOrg};
use charity_ledger::{Keypair, Store, TxKind};
use serde_json::{json, Value};

const CHAIN: &str = "charity-witness-test";
const T0: u64 = 1_767_225_600_000;

fn validators() -> Vec<Keypair> {
    (0..4)
        .map(|i| dev::key(&format!("w-validator-{i}")))
        .collect()
}

/// The regulator registering the charity `body17` under `name`, with the
/// key labelled `key`.
fn registration(body17: &str, name: &str, key: &str, nonce: u64) -> charity_ledger::Transaction {
    let kind = TxKind::RegisterOrg(RegisterOrg {
        org_id: dev::org_id(body17).unwrap(),
        name: name.into(),
        role: OrgRole::Charity,
        public_fundraising: false,
        keys: vec![dev::key(key).public()],
        region: Region::parse("440100").unwrap(),
    });
    dev::tx(CHAIN, &dev::key("w-regulator"), nonce, kind).unwrap()
}

/// A chain of `blocks` blocks of two registrations each; `label` makes
/// histories differ.
fn chain(dir: &Path, label: &str, blocks: u64, signers: Vec<Keypair>) -> DevChain<Store> {
    let regulator = dev::key("w-regulator");
    let reg_id = dev::org_id("11440100MB0000001").unwrap();
    let genesis = dev::genesis(CHAIN, T0, &reg_id, &regulator, &validators()).unwrap();
    let store = Store::open_or_init(dir, &genesis).unwrap();
    let mut c = DevChain::new(store, signers);
    let mut n = 0u64;
    for b in 0..blocks {
        let txs = (0..2)
            .map(|_| {
                n += 1;
                registration(
                    &format!("52440100MJ{n:07}"),
                    &format!("{label} 慈善会 {n}"),
                    &format!("{label}-{n}"),
                    n,
                )
            })
            .collect();
        c.commit_block(txs, T0 + (b + 1) * 1_000).unwrap();
    }
    c
}

type Served = Arc<Mutex<DevChain<Store>>>;
type Current = Arc<Mutex<Served>>;

fn current(s: &Current) -> Served {
    s.lock().unwrap().clone()
}

async fn genesis(State(s): State<Current>) -> Json<Value> {
    let c = current(&s);
    let g = serde_json::to_value(c.lock().unwrap().backend.genesis()).unwrap();
    Json(g)
}

async fn checkpoint(State(s): State<Current>) -> Json<Value> {
    let c = current(&s);
    let c = c.lock().unwrap();
    let st = &c.backend;
    let h = st.tip().height;
    Json(
        json!({"header": st.header(h).unwrap().unwrap(), "commit": st.commit_certificate(h).unwrap()}),
    )
}

#[derive(serde::Deserialize)]
struct Sizes {
    from: u64,
    to: u64,
}

async fn consistency(State(s): State<Current>, Query(q): Query<Sizes>) -> Json<Value> {
    let c = current(&s);
    let proof = c
        .lock()
        .unwrap()
        .backend
        .log_consistency(q.from, q.to)
        .unwrap();
    Json(json!({"from": q.from, "to": q.to, "proof": proof}))
}

async fn block(
    State(s): State<Current>,
    axum::extract::Path(h): axum::extract::Path<u64>,
) -> Json<Value> {
    let c = current(&s);
    let c = c.lock().unwrap();
    let st = &c.backend;
    Json(json!({
        "header": st.header(h).unwrap().unwrap(),
        "commit": st.commit_certificate(h).unwrap(),
        "tx_ids": st.block_tx_ids(h).unwrap(),
    }))
}

async fn receipt(
    State(s): State<Current>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Json<Value> {
    let c = current(&s);
    let c = c.lock().unwrap();
    let id = charity_ledger::Hash::parse(&id).unwrap();
    Json(serde_json::to_value(c.backend.receipt(&id).unwrap()).unwrap())
}

/// Serves whichever chain is current; returns its URL.
fn serve(current: Current) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = Router::new()
                .route("/v1/genesis", get(genesis))
                .route("/v1/checkpoint", get(checkpoint))
                .route("/v1/log/consistency", get(consistency))
                .route("/v1/blocks/{h}", get(block))
                .route("/v1/txs/{id}/receipt", get(receipt))
                .with_state(current);
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    format!("http://{}", rx.recv().unwrap())
}

fn witness(node: &str, state: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_charity"))
        .args(["--node", node, "witness", "--state"])
        .arg(state)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_witness_accepts_growth_and_catches_a_rewrite() {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let served = |c: DevChain<Store>| -> Served { Arc::new(Mutex::new(c)) };
    let honest = served(chain(dirs[0].path(), "honest", 3, validators()));
    let forked = served(chain(dirs[1].path(), "forked", 6, validators()));
    let shorter = served(chain(dirs[2].path(), "honest", 2, validators()));
    let impostors: Vec<Keypair> = (0..4).map(|i| dev::key(&format!("impostor-{i}"))).collect();
    let forged = served(chain(dirs[3].path(), "honest", 5, impostors));
    let now: Current = Arc::new(Mutex::new(honest.clone()));
    let node = serve(now.clone());
    let state_dir = tempfile::tempdir().unwrap();
    let state = state_dir.path().join("cp.json");

    // First run: the checkpoint is verified against genesis and saved.
    let (code, out, err) = witness(&node, &state);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("witness started: checkpoint at height 3"),
        "{out}"
    );

    // Honest growth is accepted.
    {
        let mut c = honest.lock().unwrap();
        let t = registration("52440100MJ9999999", "新登记的慈善会", "grown", 999);
        c.commit_block(vec![t], T0 + 60_000).unwrap();
    }
    let (code, out, err) = witness(&node, &state);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("consistent: height 3 → 4"), "{out}");
    let saved = std::fs::read_to_string(&state).unwrap();

    // A checkpoint the validators did not sign is refused, and the saved
    // checkpoint is kept.
    *now.lock().unwrap() = forged;
    let (code, out, err) = witness(&node, &state);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("witness_bad_checkpoint") && err.contains("not a validator"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&state).unwrap(), saved);

    // A history that does not extend the saved one is a rewrite: exit 2,
    // both checkpoints printed as evidence.
    for (rewrite, words) in [
        (forked, "is not a prefix of the log"),
        (shorter, "went back from height 4"),
    ] {
        *now.lock().unwrap() = rewrite;
        let (code, out, err) = witness(&node, &state);
        assert_eq!(code, 2, "{out}{err}");
        assert!(
            err.contains("HISTORY REWRITTEN") && err.contains(words),
            "{err}"
        );
        let evidence: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(evidence["saved"]["header"]["height"], 4);
        assert!(evidence["served"]["header"]["height"].is_u64());
        assert!(evidence["served"]["commit"]["signatures"].is_array());
        assert_eq!(std::fs::read_to_string(&state).unwrap(), saved);
    }
}

#[test]
fn the_witness_follows_validator_changes_the_trusted_set_committed() {
    let dir = tempfile::tempdir().unwrap();
    let c = chain(dir.path(), "honest", 3, validators());
    let regulator = dev::key("w-regulator");
    let reg_id = dev::org_id("11440100MB0000001").unwrap();
    let served: Served = Arc::new(Mutex::new(c));
    let now: Current = Arc::new(Mutex::new(served.clone()));
    let node = serve(now.clone());
    let state_dir = tempfile::tempdir().unwrap();
    let state = state_dir.path().join("cp.json");
    let (code, out, err) = witness(&node, &state);
    assert_eq!(code, 0, "{out}{err}");
    let mut change_ids = Vec::new();

    // Two changes in a row: at height 4 the regulator hands consensus to
    // a new set, at height 7 to a third; blocks after each are signed by
    // the set in force.
    let sets: Vec<Vec<Keypair>> = ["next", "third"]
        .iter()
        .map(|l| (0..4).map(|i| dev::key(&format!("w-{l}-{i}"))).collect())
        .collect();
    {
        let mut guard = served.lock().unwrap();
        let c = &mut *guard;
        let mut nonce = 100;
        change_ids.clear();
        for set in &sets {
            nonce += 1;
            let kind = TxKind::SetValidators(charity_ledger::kinds::SetValidators {
                validators: set
                    .iter()
                    .map(|k| charity_ledger::kinds::ValidatorEntry {
                        pubkey: k.public(),
                        power: 10,
                        org_id: reg_id.clone(),
                    })
                    .collect(),
            });
            let t = dev::tx(CHAIN, &regulator, nonce, kind).unwrap();
            change_ids.push(t.id());
            let time = c.tip().time + 1_000;
            let done = c.commit_block(vec![t], time).unwrap();
            assert_eq!(done.built.rejected.len(), 0, "{:?}", done.built.rejected);
            c.set_signers(set.clone());
            for _ in 0..2 {
                let time = c.tip().time + 1_000;
                c.commit_block(vec![], time).unwrap();
            }
        }
        let late = registration("52440100MJ8888888", "换届后登记的慈善会", "late", 200);
        change_ids.push(late.id());
        let time = c.tip().time + 1_000;
        c.commit_block(vec![late], time).unwrap();
        assert_eq!(c.tip().height, 10);
        // Receipts saved for offline checks: the two changes and a
        // transaction committed under the third set.
        for (i, id) in change_ids.iter().enumerate() {
            let r = c.backend.receipt(id).unwrap();
            std::fs::write(
                state_dir.path().join(format!("r{i}.json")),
                serde_json::to_vec(&r).unwrap(),
            )
            .unwrap();
        }
        std::fs::write(
            state_dir.path().join("genesis.json"),
            serde_json::to_vec(c.backend.genesis()).unwrap(),
        )
        .unwrap();
    }
    let (code, out, err) = witness(&node, &state);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("consistent: height 3 → 10")
            && out.contains("validator set changes at height(s) 5, 8"),
        "{out}"
    );
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let trusted: Vec<String> = saved["validators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["pubkey"].as_str().unwrap().to_string())
        .collect();
    let mut third: Vec<String> = sets[1].iter().map(|k| k.public().to_string()).collect();
    third.sort();
    assert_eq!(trusted, third);

    // Offline, `receipt verify` follows the same changes from the genesis
    // file: with both change receipts the late transaction verifies;
    // without them, or with the second alone, it does not.
    let p = |name: &str| state_dir.path().join(name);
    let verify = |extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_charity"));
        cmd.args(["receipt", "verify"])
            .arg(p("r2.json"))
            .arg("--validators")
            .arg(p("genesis.json"));
        for c in extra {
            cmd.arg("--change").arg(p(c));
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (code, text) = verify(&["r1.json", "r0.json"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("verified: all four steps passed (block 10)"),
        "{text}"
    );
    let (code, text) = verify(&[]);
    assert_ne!(code, 0, "{text}");
    assert!(text.contains("step 4"), "{text}");
    let (code, text) = verify(&["r1.json"]);
    assert_ne!(code, 0, "{text}");
    assert!(
        text.contains("--change")
            && text.contains("does not verify against the validators in force"),
        "{text}"
    );

    // A chain whose checkpoint names a set no committed transaction made
    // (blocks signed by keys the witness never saw proven) is refused.
    let dir2 = tempfile::tempdir().unwrap();
    let impostors: Vec<Keypair> = (0..4).map(|i| dev::key(&format!("impostor-{i}"))).collect();
    let forged = chain(dir2.path(), "honest", 12, impostors);
    *now.lock().unwrap() = Arc::new(Mutex::new(forged));
    let before = std::fs::read_to_string(&state).unwrap();
    let (code, out, err) = witness(&node, &state);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("witness_bad_checkpoint") && err.contains("holds no set_validators"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&state).unwrap(), before);
}
