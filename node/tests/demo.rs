//! The README's first command, end to end: `charity-node demo` builds a
//! verifiable history, prints a donor's trace with a verified receipt, and
//! reuses its data directory on the next run.

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
    let out = Command::new(env!("CARGO_BIN_EXE_charity-node"))
        .args(["audit", "--store"])
        .arg(dir.path().join("chain"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("chain intact"),
        "{text}"
    );
    let missing = Command::new(env!("CARGO_BIN_EXE_charity-node"))
        .args(["audit", "--store"])
        .arg(dir.path().join("no-such-store"))
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("has no chain"));

    // A node's home works too (the demo's validators keep theirs under
    // DATA_DIR/node-<i>; here a home holding the history's store).
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::rename(dir.path().join("chain"), home.join("chain")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_charity-node"))
        .args(["audit", "--home"])
        .arg(&home)
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("chain intact"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(home.join("chain"), dir.path().join("chain")).unwrap();

    // A store file cut short (a full disk, a bad copy) is audited as the
    // shorter chain sled recovers from it, or refused with a one-line error
    // and its code, among them sled's recovery giving up: never a crash.
    let len = std::fs::metadata(dir.path().join("chain/db"))
        .unwrap()
        .len();
    let mut codes = Vec::new();
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
        let out = Command::new(env!("CARGO_BIN_EXE_charity-node"))
            .args(["audit", "--store"])
            .arg(&damaged)
            .output()
            .unwrap();
        let (text, err) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(!err.contains("panicked"), "{err}");
        match out.status.code() {
            Some(0) => assert!(text.contains("chain intact"), "{text}"),
            Some(1) => {
                let code = err.split('[').nth(1).and_then(|c| c.split(']').next());
                codes.push(code.unwrap_or_else(|| panic!("no code: {err}")).to_string());
            }
            other => panic!("{other:?}: {err}"),
        }
    }
    assert!(codes.iter().any(|c| c == "store_damaged"), "{codes:?}");

    // The regulator's exports: all of it, then a year's for the
    // spreadsheet (the demo's history has disbursements in 2026 and none
    // in 2001).
    let export = |to: &std::path::Path, year: Option<&str>| {
        let out = Command::new(env!("CARGO_BIN_EXE_charity-node"))
            .args(["export", "--store"])
            .arg(dir.path().join("chain"))
            .arg("--out")
            .arg(to)
            .args(year.map(|y| ["--year", y]).into_iter().flatten())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
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
