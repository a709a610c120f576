//! The `charity` binary: offline receipt verification that fails with the
//! step named after any changed byte, and one-line errors for bad input.

use std::process::Command;

use charity_ledger::dev::{self, DevChain};
use charity_ledger::donor::DonorCode;
use charity_ledger::ids::{CampaignId, LineName, Region};
use charity_ledger::kinds::*;
use charity_ledger::tx::TxKind;
use charity_ledger::Store;

fn charity(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_charity"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A store with one committed donation; returns its receipt and genesis.
fn chain(dir: &std::path::Path) -> (Vec<u8>, Vec<u8>) {
    let vals: Vec<_> = (0..4).map(|i| dev::key(&format!("v{i}"))).collect();
    let reg = dev::key("reg");
    let reg_id = dev::org_id("11440100MB0000001").unwrap();
    let t0 = 1_767_225_600_000u64;
    let g = dev::genesis("charity-cli", t0, &reg_id, &reg, &vals).unwrap();
    let store = Store::open_or_init(&dir.join("chain"), &g).unwrap();
    let mut c = DevChain::new(store, vals);
    let ch = dev::key("charity");
    let mut n = 0;
    let mut tx = |k: &charity_ledger::Keypair, kind| {
        n += 1;
        dev::tx("charity-cli", k, n, kind).unwrap()
    };
    let lunch = CampaignId::parse("lunch").unwrap();
    let reg_tx = tx(
        &reg,
        TxKind::RegisterOrg(RegisterOrg {
            org_id: dev::org_id("53440100MJ0000001").unwrap(),
            name: "慈善会".into(),
            role: OrgRole::Charity,
            public_fundraising: true,
            keys: vec![ch.public()],
            region: Region::parse("440100").unwrap(),
        }),
    );
    c.commit_block(vec![reg_tx], t0 + 1)
        .unwrap()
        .all_accepted()
        .unwrap();
    let file = tx(
        &ch,
        TxKind::FileCampaign(FileCampaign {
            campaign_id: lunch.clone(),
            title: "午餐".into(),
            description: "d".into(),
            target: 100_000,
            starts_at: t0,
            ends_at: t0 + 86_400_000 * 100,
            region: Region::parse("440100").unwrap(),
            beneficiaries: "b".into(),
            budget: vec![BudgetLine {
                line: LineName::parse("meals").unwrap(),
                category: Category::Program,
                amount: 100_000,
            }],
            platforms: vec![],
            leftover_plan: "l".into(),
            emergency: None,
        }),
    );
    c.commit_block(vec![file], t0 + 2)
        .unwrap()
        .all_accepted()
        .unwrap();
    let approve = tx(
        &reg,
        TxKind::ApproveCampaign(ApproveCampaign {
            campaign_id: lunch.clone(),
            approved: true,
            filing_no: "F".into(),
            note: None,
        }),
    );
    c.commit_block(vec![approve], t0 + 3)
        .unwrap()
        .all_accepted()
        .unwrap();
    let d = tx(
        &ch,
        TxKind::Donation(Donation {
            campaign_id: lunch,
            amount: 100_00,
            donor_tag: DonorCode::parse("K7QF-2M9D-XR4T-8HWA-6PZN").unwrap().tag(),
            display_name: None,
            restricted_line: None,
            channel: "cash".into(),
            payment_ref_hash: charity_ledger::Hash::from([3; 32]),
            received_at: t0 + 4,
        }),
    );
    let id = d.id();
    c.commit_block(vec![d], t0 + 5)
        .unwrap()
        .all_accepted()
        .unwrap();
    let r = c.backend.receipt(&id).unwrap();
    (
        serde_json::to_vec(&r).unwrap(),
        serde_json::to_vec(&g).unwrap(),
    )
}

#[test]
fn receipt_verify_is_offline_and_names_the_failed_step() {
    let dir = tempfile::tempdir().unwrap();
    let (receipt, genesis) = chain(dir.path());
    let rf = dir.path().join("receipt.json");
    let gf = dir.path().join("genesis.json");
    std::fs::write(&rf, &receipt).unwrap();
    std::fs::write(&gf, &genesis).unwrap();
    let (ok, out, err) = charity(&[
        "receipt",
        "verify",
        rf.to_str().unwrap(),
        "--validators",
        gf.to_str().unwrap(),
    ]);
    assert!(
        ok && out.contains("verified: all four steps passed"),
        "{out}{err}"
    );

    // Change each hex digit in turn: every change fails with a named step.
    let mut failures = 0;
    for i in (0..receipt.len()).step_by(3) {
        let mut b = receipt.clone();
        b[i] = match b[i] {
            b'0'..=b'8' | b'a'..=b'e' => b[i] + 1,
            b'9' => b'0',
            b'f' => b'a',
            _ => continue,
        };
        if i % 60 != 0 {
            // The library check covers every byte; the binary a sample.
            assert!(
                charity_sdk::verify::receipt_bytes(
                    &b,
                    &charity_sdk::verify::trusted_validators(&genesis).unwrap()
                )
                .is_err(),
                "byte {i}"
            );
            continue;
        }
        std::fs::write(&rf, &b).unwrap();
        let (ok, _, err) = charity(&[
            "receipt",
            "verify",
            rf.to_str().unwrap(),
            "--validators",
            gf.to_str().unwrap(),
        ]);
        assert!(!ok, "byte {i} changed and the receipt still verifies");
        assert!(
            err.starts_with("charity: receipt") && err.contains("step") && err.lines().count() == 1,
            "{err}"
        );
        failures += 1;
    }
    assert!(failures > 5);
}

#[test]
fn bad_input_is_one_line_and_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key");
    let (ok, _, _) = charity(&["keygen", "--out", key.to_str().unwrap()]);
    assert!(ok);
    for (amount, says) in [("1.234", "at most two decimals"), ("-5", "no sign")] {
        let (ok, _, err) = charity(&[
            "--node",
            "http://127.0.0.1:9",
            "donate",
            "--key",
            key.to_str().unwrap(),
            "--campaign",
            "lunch",
            "--amount",
            amount,
            "--payment-ref",
            "r",
        ]);
        assert!(
            !ok && err.contains(says) && err.lines().count() == 1,
            "{err}"
        );
    }
    let (ok, _, err) = charity(&["--node", "http://127.0.0.1:9", "status"]);
    assert!(
        !ok && err.contains("cannot reach the node") && err.lines().count() == 1,
        "{err}"
    );
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, b"{not a receipt").unwrap();
    let (ok, _, err) = charity(&[
        "receipt",
        "verify",
        garbage.to_str().unwrap(),
        "--validators",
        garbage.to_str().unwrap(),
    ]);
    assert!(!ok && err.lines().count() == 1, "{err}");
}

/// The sdk must build without the consensus engine or libp2p: a charity's
/// back office depends on it alone.
#[test]
fn the_sdk_pulls_in_neither_libp2p_nor_malachite() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "charity-sdk",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.contains("charity-ledger"), "{tree}");
    for banned in ["libp2p", "malachite", "charity-node"] {
        assert!(
            !tree.contains(banned),
            "charity-sdk depends on {banned}:\n{tree}"
        );
    }
}
