//! A chain with deliberate violations raises exactly the expected flags.

mod common;

use charity_ledger::compliance::{annual_figures, flags, review, ComplianceConfig};
use charity_ledger::kinds::*;
use charity_ledger::tx::TxKind;
use common::*;

#[test]
fn deliberate_violations_raise_exactly_the_expected_flags() {
    let mut w = World::new();
    let p = w.platform.key.clone();
    let charity = w.charity.key.clone();

    // A large anonymous gift, and a named one that raises nothing.
    let big = w.donation(&lunch(), 60_000_00, &code(1), None);
    let big = w.commit_one(&p, big);
    let mut named = w.donation(&lunch(), 1_000_00, &code(2), None);
    if let TxKind::Donation(d) = &mut named {
        d.display_name = Some("张先生".into());
    }
    w.commit_one(&p, named);

    // Spending with and without evidence.
    let ok = w.disbursement(
        &lunch(),
        500_00,
        "meals",
        World::<charity_ledger::dev::MemBackend>::vendor(),
    );
    w.commit_one(&charity, ok);
    let mut bare = w.disbursement(
        &lunch(),
        300_00,
        "meals",
        World::<charity_ledger::dev::MemBackend>::vendor(),
    );
    if let TxKind::Disbursement(d) = &mut bare {
        d.evidence.clear();
    }
    let bare = w.commit_one(&charity, bare);

    // Received on the window's last days, recorded after it closed.
    w.time = T0 + 239 * DAY;
    let late = w.donation(&lunch(), 200_00, &code(3), None);
    w.time = T0 + 241 * DAY;
    let late = w.commit_one(&p, late);

    // The charity closes the campaign, then spends again.
    w.commit_one(
        &charity,
        TxKind::CloseCampaign(CloseCampaign {
            campaign_id: lunch(),
            summary: "项目结束".into(),
        }),
    );
    let after = w.disbursement(
        &lunch(),
        100_00,
        "meals",
        World::<charity_ledger::dev::MemBackend>::vendor(),
    );
    let after = w.commit_one(&charity, after);

    let now = T0 + 241 * DAY + 91 * DAY;
    let found = flags(&w.chain.backend.kv, &ComplianceConfig::at(now)).unwrap();
    let got: Vec<(String, Option<String>, Vec<String>)> = found
        .iter()
        .map(|f| {
            (
                f.rule.to_string(),
                f.campaign_id.clone(),
                f.txs.iter().map(|h| h.to_hex()).collect(),
            )
        })
        .collect();
    let lunch_filed = charity_ledger::query::campaign(&w.chain.backend.kv, &lunch())
        .unwrap()
        .unwrap()
        .filed_tx;
    let flood_filed = charity_ledger::query::campaign(&w.chain.backend.kv, &flood())
        .unwrap()
        .unwrap()
        .filed_tx;
    let l = Some(lunch().to_string());
    let f = Some(flood().to_string());
    let mut want = vec![
        // The fixture files its campaigns on the day they start.
        (
            "late_filing".to_string(),
            l.clone(),
            vec![lunch_filed.to_hex()],
        ),
        (
            "late_filing".to_string(),
            f.clone(),
            vec![flood_filed.to_hex()],
        ),
        (
            "large_anonymous_donation".to_string(),
            l.clone(),
            vec![big.to_hex()],
        ),
        (
            "disbursement_without_evidence".to_string(),
            l.clone(),
            vec![bare.to_hex()],
        ),
        (
            "donation_recorded_after_window".to_string(),
            l.clone(),
            vec![late.to_hex()],
        ),
        (
            "spending_after_close".to_string(),
            l.clone(),
            vec![after.to_hex()],
        ),
        // Closed but still holding money, with no report since approval.
        ("no_progress_report".to_string(), l.clone(), vec![]),
        // The flood campaign ended more than 3 months ago, never closed.
        (
            "no_closing_report".to_string(),
            f.clone(),
            vec![flood_filed.to_hex()],
        ),
    ];
    let mut got_sorted = got.clone();
    got_sorted.sort();
    want.sort();
    assert_eq!(got_sorted, want, "{found:#?}");
    // Every flag names its numbers and says what is wrong.
    assert!(found
        .iter()
        .all(|f| !f.numbers.is_empty() && !f.message.is_empty()));
}

#[test]
fn annual_charitable_spending_is_measured_against_last_years_income() {
    let mut w = World::new();
    let p = w.platform.key.clone();
    let charity = w.charity.key.clone();
    // 2026: 10,000.00 yuan in.
    let d = w.donation(&lunch(), 10_000_00, &code(1), None);
    w.commit_one(&p, d);
    // 2027 (the campaign's window is over, spending goes on): 6,000.00 on
    // the programme, below 70% of 2026's income.
    w.time = T0 + 366 * DAY;
    for _ in 0..2 {
        let x = w.disbursement(
            &lunch(),
            3_000_00,
            "meals",
            World::<charity_ledger::dev::MemBackend>::vendor(),
        );
        w.commit_one(&charity, x);
    }
    let ratio = |w: &World<charity_ledger::dev::MemBackend>, now| {
        flags(&w.chain.backend.kv, &ComplianceConfig::at(now))
            .unwrap()
            .into_iter()
            .filter(|f| f.rule == "program_spending_ratio")
            .collect::<Vec<_>>()
    };
    // Judged only once the year is over.
    assert!(ratio(&w, T0 + 400 * DAY).is_empty());
    let found = ratio(&w, T0 + 2 * 365 * DAY + 2 * DAY);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].org_id, w.charity.id);
    assert_eq!(found[0].numbers["year"], 2027);
    assert_eq!(found[0].numbers["program_spending"], 6_000_00);
    assert_eq!(found[0].numbers["previous_year_income"], 10_000_00);
    // With 7,000.00 spent, the minimum is met.
    let x = w.disbursement(
        &lunch(),
        1_000_00,
        "meals",
        World::<charity_ledger::dev::MemBackend>::vendor(),
    );
    w.commit_one(&charity, x);
    assert!(ratio(&w, T0 + 2 * 365 * DAY + 2 * DAY).is_empty());

    // The regulator's overview, from one pass over the donations, holds
    // the same figures as the per-organisation reads (its flags are the
    // ones `flags` returns, checked above and in the test before).
    let kv = &w.chain.backend.kv;
    let cfg = ComplianceConfig::at(T0 + 2 * 365 * DAY + 2 * DAY);
    let r = review(kv, &cfg).unwrap();
    let mine = annual_figures(kv, &w.charity.id).unwrap();
    assert_eq!(r.annual.get(&w.charity.id), Some(&mine));
    assert_eq!(mine[&2026].income, 10_000_00);
    assert_eq!(mine[&2027].program, 7_000_00);
    for org in charity_ledger::query::orgs(kv, usize::MAX).unwrap() {
        let theirs = annual_figures(kv, &org.org_id).unwrap();
        assert_eq!(
            r.annual.get(&org.org_id).cloned().unwrap_or_default(),
            theirs
        );
    }
}

#[test]
fn management_costs_are_measured_against_the_years_spending() {
    let mut w = World::new();
    let p = w.platform.key.clone();
    let charity = w.charity.key.clone();
    let admin = cid("admin-2026");
    let file = TxKind::FileCampaign(FileCampaign {
        campaign_id: admin.clone(),
        title: "行政支持 2026".into(),
        description: "项目与管理费用".into(),
        target: 3_000_000_00,
        starts_at: T0,
        ends_at: T0 + 240 * DAY,
        region: region(),
        beneficiaries: "受助学生".into(),
        budget: vec![
            BudgetLine {
                line: line("programme"),
                category: Category::Program,
                amount: 2_000_000_00,
            },
            BudgetLine {
                line: line("office"),
                category: Category::Management,
                amount: 300_000_00,
            },
        ],
        platforms: vec![w.platform.id.clone()],
        leftover_plan: "结余转入下一年度同类项目".into(),
        emergency: None,
    });
    w.commit_one(&charity, file);
    let approve = TxKind::ApproveCampaign(ApproveCampaign {
        campaign_id: admin.clone(),
        approved: true,
        filing_no: "53440100MJ0000001A26002".into(),
        note: None,
    });
    w.commit_one(&w.regulator.key.clone(), approve);
    let d = w.donation(&admin, 2_500_000_00, &code(1), None);
    w.commit_one(&p, d);
    // 2027: 1,000,000.00 on the programme and 250,000.00 on the office:
    // management a fifth of the year's spending, above the 10% limit and
    // not exempt (200,000.00 or more).
    w.time = T0 + 366 * DAY;
    for (line_name, category, amount) in [
        ("programme", Category::Program, 1_000_000_00),
        ("office", Category::Management, 250_000_00),
    ] {
        let x = TxKind::Disbursement(Disbursement {
            campaign_id: admin.clone(),
            amount,
            category,
            line: line(line_name),
            recipient: World::<charity_ledger::dev::MemBackend>::vendor(),
            purpose: "年度支出".into(),
            evidence: vec![Evidence {
                sha256: charity_ledger::crypto::sha256(b"invoice"),
                title: "发票".into(),
                media_type: "application/pdf".into(),
                uri: None,
            }],
        });
        w.commit_one(&charity, x);
    }
    let management = |now| {
        flags(&w.chain.backend.kv, &ComplianceConfig::at(now))
            .unwrap()
            .into_iter()
            .filter(|f| f.rule == "management_cost_ratio")
            .collect::<Vec<_>>()
    };
    // Judged only once the year is over.
    assert!(management(T0 + 400 * DAY).is_empty());
    let found = management(T0 + 2 * 365 * DAY + 2 * DAY);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].org_id, w.charity.id);
    assert_eq!(found[0].numbers["year"], 2027);
    assert_eq!(found[0].numbers["management"], 250_000_00);
    assert_eq!(found[0].numbers["total_spending"], 1_250_000_00);
    assert_eq!(found[0].numbers["maximum_bp"], 1_000);
}
