//! The README's first command, end to end: `charity-node demo` builds a
//! verifiable history, prints a donor's trace with a verified receipt, and
//! reuses its data directory on the next run.

use std::ffi::OsStr;
use std::process::Command;

fn demo(dir: &std::path::Path, extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_charity-node"))
        .arg("demo")
        .arg("--data-dir")
        .arg(dir)
        .args(extra)
        .output()
        .expect("run charity-node");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs `charity-node ARGS`; gives its exit code, stdout and stderr.
fn node(args: &[&OsStr]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_charity-node"))
        .args(args)
        .output()
        .expect("run charity-node");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn demo_builds_a_verifiable_history_and_reuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = demo(dir.path(), &["--no-live"]);
    assert!(
        first.contains("K7QF-2M9D-XR4T-8HWA-6PZN  (1 donation)"),
        "{first}"
    );
    assert!(first.contains("100.00 → 4 月第一批 12 所学校营养午餐食材与配送 (meals) paid to 某某餐饮有限公司 on 2026-04-02"), "{first}");
    assert!(
        first.contains("receipt verified: steps 1-4 passed"),
        "{first}"
    );
    for c in [
        "rural-lunch-2026",
        "scholarship-2026",
        "flood-relief-2026",
        "flood-rebuild-lechang",
        "elderly-care-winter",
    ] {
        assert!(first.contains(c), "campaign {c} missing: {first}");
    }
    // The evidence documents are written where the chain says.
    let invoice = std::fs::read(dir.path().join("evidence/lunch-invoice-2026-04.txt")).unwrap();
    assert!(!invoice.is_empty());

    // The chain re-verifies from genesis.
    let chain = dir.path().join("chain");
    let audit =
        |store: &std::path::Path| node(&["audit".as_ref(), "--store".as_ref(), store.as_os_str()]);
    let (code, text, _) = audit(&chain);
    assert!(code == Some(0) && text.contains("chain intact"), "{text}");
    let (code, _, err) = audit(&dir.path().join("no-such-store"));
    assert!(code != Some(0));
    assert!(err.contains("has no chain"));

    // A node's home works too (the demo's validators keep theirs under
    // DATA_DIR/node-<i>; here a home holding the history's store).
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::rename(dir.path().join("chain"), home.join("chain")).unwrap();
    let (code, text, err) = node(&["audit".as_ref(), "--home".as_ref(), home.as_os_str()]);
    assert!(code == Some(0) && text.contains("chain intact"), "{err}");
    std::fs::rename(home.join("chain"), dir.path().join("chain")).unwrap();

    // A store file cut short (a full disk, a bad copy) is audited as the
    // shorter chain sled recovers from it, or refused with a one-line error
    // and its code: never a crash. (Which of the two a cut gives depends on
    // where sled's threads happened to write; `ledger/tests/store.rs` makes
    // sure the cuts on which sled's recovery gives up are among them.)
    let len = std::fs::metadata(dir.path().join("chain/db"))
        .unwrap()
        .len();
    for k in 1..8 {
        let damaged = dir.path().join(format!("damaged-{k}"));
        std::fs::create_dir_all(damaged.join("blobs")).unwrap();
        for f in ["conf", "db"] {
            std::fs::copy(dir.path().join("chain").join(f), damaged.join(f)).unwrap();
        }
        std::fs::OpenOptions::new()
            .write(true)
            .open(damaged.join("db"))
            .unwrap()
            .set_len(len * k / 8)
            .unwrap();
        let (code, text, err) = audit(&damaged);
        assert!(!err.contains("panicked"), "{err}");
        match code {
            Some(0) => assert!(text.contains("chain intact"), "{text}"),
            Some(1) => assert!(
                err.starts_with("charity-node: ")
                    && err.contains("]: ")
                    && err.lines().count() == 1,
                "{err}"
            ),
            other => panic!("{other:?}: {err}"),
        }
    }

    // Against the state file of a witness that follows the chain, the audit
    // also proves the store holds the block the witness last saw, and
    // names a store that ends below it, a different block there, or
    // another chain.
    let (genesis, checkpoint) = {
        let store = charity_ledger::Store::open(&dir.path().join("chain")).unwrap();
        let at = store.tip().height - 10;
        (
            store.genesis().hash().unwrap(),
            charity_sdk::witness::Checkpoint {
                header: store.header(at).unwrap().unwrap(),
                commit: store.commit_certificate(at).unwrap(),
            },
        )
    };
    let witnessed = |edit: &dyn Fn(&mut charity_sdk::witness::WitnessState)| {
        let mut state = charity_sdk::witness::WitnessState {
            genesis_hash: genesis,
            validators: Vec::new(),
            checkpoint: checkpoint.clone(),
        };
        edit(&mut state);
        let file = dir.path().join("witness.json");
        charity_sdk::witness::save(&file, &state).unwrap();
        node(&[
            "audit".as_ref(),
            "--store".as_ref(),
            chain.as_os_str(),
            "--witness".as_ref(),
            file.as_os_str(),
        ])
    };
    let (code, text, err) = witnessed(&|_| {});
    assert_eq!(code, Some(0), "{err}");
    let seen = checkpoint.header.height;
    assert!(
        text.contains(&format!("the chain holds block {seen}, the checkpoint")),
        "{text}"
    );
    let height = seen + 10;
    for (edit, words) in [
        (
            Box::new(|s: &mut charity_sdk::witness::WitnessState| {
                s.checkpoint.header.height = height + 1;
            }) as Box<dyn Fn(&mut charity_sdk::witness::WitnessState)>,
            format!("[chain_behind_witness]: the chain ends at height {height}, but the witness saw height {}", height + 1),
        ),
        (
            Box::new(|s| s.checkpoint.header.time += 1),
            format!("[history_rewritten]: HISTORY REWRITTEN: block {seen} is"),
        ),
        (
            Box::new(|s| s.genesis_hash = charity_ledger::hex::Hash::from([7u8; 32])),
            "[witness_other_chain]".to_string(),
        ),
    ] {
        let (code, _, err) = witnessed(&*edit);
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains(&words), "{words}: {err}");
    }

    // The regulator's exports: all of it, then a year's for the
    // spreadsheet (the demo's history has disbursements in 2026 and none
    // in 2001).
    let export = |to: &std::path::Path, year: Option<&str>| {
        let mut args = vec![
            "export".as_ref(),
            "--store".as_ref(),
            chain.as_os_str(),
            "--out".as_ref(),
            to.as_os_str(),
        ];
        if let Some(y) = year {
            args.extend([OsStr::new("--year"), OsStr::new(y)]);
        }
        let (code, _, err) = node(&args);
        assert_eq!(code, Some(0), "{err}");
    };
    export(&dir.path().join("export"), None);
    let csv = std::fs::read(dir.path().join("export/campaigns.csv")).unwrap();
    assert!(csv.starts_with(b"\xef\xbb\xbf"));
    assert!(String::from_utf8(csv)
        .unwrap()
        .contains("乡村儿童营养午餐 2026"));
    let count = |dir: &std::path::Path| {
        let text = std::fs::read_to_string(dir.join("disbursements.csv")).unwrap();
        text.lines().count() - 1
    };
    let all = count(&dir.path().join("export"));
    for (year, expect_some) in [("2026", true), ("2001", false)] {
        let to = dir.path().join(format!("export-{year}"));
        export(&to, Some(year));
        let n = count(&to);
        assert_eq!(n > 0, expect_some, "{year}: {n} disbursements");
        assert!(n <= all, "{year}: {n} of {all}");
    }

    // The second run reopens (and so re-verifies) the same chain, starts
    // the four validators as processes and submits one round of donations
    // if a demo campaign is open today.
    let second = demo(
        dir.path(),
        &[
            "--live-blocks",
            "1",
            "--live-interval",
            "0",
            "--base-port",
            "0",
        ],
    );
    assert!(second.contains("reusing the demo chain"), "{second}");
    assert!(second.contains("HTTP API: http://127.0.0.1:"), "{second}");
    assert!(
        second.contains("4 validators running, each its own process"),
        "{second}"
    );
    assert!(second.contains("the chain is at height"), "{second}");
}
