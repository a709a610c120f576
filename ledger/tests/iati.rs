//! The IATI activities export validates against the IATI 2.03 activity
//! schema (with xmllint), and carries the chain's money.

mod common;

use std::path::PathBuf;
use std::process::Command;

use charity_ledger::iati;
use charity_ledger::tx::TxKind;
use common::*;

/// The schema, fetched by `.ci/iati-schema.sh` (run here if missing).
fn schema() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dest = root.join("target/iati-schema");
    let xsd = dest.join("2-03/iati-activities-schema.xsd");
    if !xsd.exists() {
        let status = Command::new("bash")
            .arg(root.join(".ci/iati-schema.sh"))
            .arg(&dest)
            .status()
            .expect("run .ci/iati-schema.sh");
        assert!(
            status.success(),
            "fetching the IATI schema failed (needs pip and the PyPI registry)"
        );
    }
    xsd
}

#[test]
fn activities_validate_against_the_iati_schema() {
    let mut w = World::new();
    let p = w.platform.key.clone();
    let mut d = w.donation(&lunch(), 1_000_00, &code(1), None);
    if let TxKind::Donation(x) = &mut d {
        x.display_name = Some("<张> & \"李\"".into());
    }
    w.commit_one(&p, d);
    let g = w.disbursement(
        &lunch(),
        400_00,
        "meals",
        World::<charity_ledger::dev::MemBackend>::grant_to(&flood()),
    );
    w.commit_one(&w.charity.key.clone(), g);
    let v = w.disbursement(
        &lunch(),
        100_00,
        "meals",
        World::<charity_ledger::dev::MemBackend>::vendor(),
    );
    w.commit_one(&w.charity.key.clone(), v);

    let xml = iati::activities(&w.chain.backend.kv, w.chain.tip().time).unwrap();
    let text = String::from_utf8(xml.clone()).unwrap();
    assert_eq!(text.matches("<iati-activity ").count(), 2);
    assert!(
        text.contains("&lt;张&gt; &amp; &quot;李&quot;")
            || text.contains("&lt;张&gt; &amp; \"李\""),
        "{text}"
    );
    assert!(
        text.contains("<transaction-type code=\"3\"/>"),
        "the grant is a disbursement"
    );
    assert!(
        text.contains("<transaction-type code=\"4\"/>"),
        "the vendor payment is expenditure"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("activities.xml");
    std::fs::write(&file, &xml).unwrap();
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema())
        .arg(&file)
        .output()
        .expect("xmllint is needed (Debian package libxml2-utils; .ci/run installs it)");
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && msg.contains("validates"), "{msg}");
}
