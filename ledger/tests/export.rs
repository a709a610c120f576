//! CSV exports open with correct Chinese text and add up.

mod common;

use charity_ledger::export;
use charity_ledger::tx::TxKind;
use common::*;

fn rows(bytes: &[u8]) -> Vec<Vec<String>> {
    assert!(bytes.starts_with(export::BOM), "no byte-order mark");
    let mut r = csv::Reader::from_reader(&bytes[export::BOM.len()..]);
    r.records()
        .map(|x| x.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[test]
fn exports_keep_chinese_text_and_add_up() {
    let mut w = World::new();
    let p = w.platform.key.clone();
    let mut named = w.donation(&lunch(), 1_234_56, &code(1), None);
    if let TxKind::Donation(d) = &mut named {
        d.display_name = Some("张先生, \"老师\"".into());
    }
    let named = w.commit_one(&p, named);
    let plain = w.donation(&lunch(), 500_00, &code(2), None);
    w.commit_one(&p, plain);
    let g = w.disbursement(
        &lunch(),
        1_500_00,
        "meals",
        World::<charity_ledger::dev::MemBackend>::grant_to(&flood()),
    );
    let g = w.commit_one(&w.charity.key.clone(), g);
    let kv = &w.chain.backend.kv;

    let orgs = rows(&export::organisations(kv).unwrap());
    assert!(orgs.iter().any(|r| r[1] == "广州市慈善会"));
    let campaigns = rows(&export::campaigns(kv).unwrap());
    let lunch_row = campaigns
        .iter()
        .find(|r| r[0] == "rural-lunch-2026")
        .unwrap();
    assert_eq!(lunch_row[2], "乡村儿童营养午餐 2026");
    assert_eq!(lunch_row[12], "1734.56");

    let donations = rows(&export::donations(kv).unwrap());
    // Two donations to lunch, and the grant received by flood.
    assert_eq!(donations.len(), 3);
    let n = donations.iter().find(|r| r[0] == named.to_hex()).unwrap();
    assert_eq!(n[3], "张先生, \"老师\"");
    assert_eq!(n[5], "1234.56");
    assert!(donations
        .iter()
        .any(|r| r[0] == g.to_hex() && r[2] == "campaign:rural-lunch-2026"));

    let allocations = rows(&export::allocations(kv).unwrap());
    let total: u64 = allocations
        .iter()
        .filter(|r| r[0] == g.to_hex())
        .map(|r| r[2].parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 1_500_00);
    let disb = rows(&export::disbursements(kv).unwrap());
    assert_eq!(disb.len(), 1);
    assert_eq!(disb[0][13], "flood-rebuild-2026");

    // Everything here is recorded in 2026 (China Standard Time): the 2026
    // export is the whole; the 2025 one keeps the organisations and
    // campaigns and no money.
    let whole = export::all(kv).unwrap();
    assert_eq!(
        export::all_in(kv, export::Period::Year(2026)).unwrap(),
        whole
    );
    let before = export::all_in(kv, export::Period::Year(2025)).unwrap();
    assert_eq!(before.len(), whole.len());
    for ((name, b), (_, w)) in before.iter().zip(&whole) {
        match *name {
            "organisations.csv" | "campaigns.csv" => assert_eq!(b, w, "{name}"),
            _ => assert!(rows(b).is_empty() && !rows(w).is_empty(), "{name}"),
        }
    }
}
