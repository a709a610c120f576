//! One row per rejection code: a description, a transaction, the code it
//! must be rejected with. Every row is checked against the same fixture
//! state, without committing.

mod common;

use charity_ledger::dev;
use charity_ledger::hex::{Hash, PublicKey};
use charity_ledger::kinds::*;
use charity_ledger::tx::{Transaction, TxKind};
use common::*;

type W = World<charity_ledger::dev::MemBackend>;

struct Row {
    what: &'static str,
    tx: Transaction,
    code: &'static str,
}

fn vendor() -> Recipient {
    W::vendor()
}

#[test]
fn every_rejection_code_has_a_rule_that_fires() {
    let mut w = W::new();
    // Some money and history to refer to.
    let don = w.donation(&lunch(), 1_000_00, &code(1), None);
    let donation_id = w.commit_one(&w.platform.key.clone(), don);
    let grant_kind = w.disbursement(&lunch(), 100_00, "meals", W::grant_to(&flood()));
    let grant_id = w.commit_one(&w.charity.key.clone(), grant_kind);
    let closed = cid("closed-campaign");
    let mut file = FileCampaign {
        campaign_id: closed.clone(),
        title: "已结束".into(),
        description: "d".into(),
        target: 100_00,
        starts_at: T0,
        ends_at: T0 + DAY,
        region: region(),
        beneficiaries: "b".into(),
        budget: vec![BudgetLine {
            line: line("meals"),
            category: Category::Program,
            amount: 100_00,
        }],
        platforms: vec![],
        leftover_plan: "l".into(),
        emergency: None,
    };
    w.commit_one(&w.charity.key.clone(), TxKind::FileCampaign(file.clone()));
    let pending = cid("pending-campaign");
    file.campaign_id = pending.clone();
    w.commit_one(&w.charity.key.clone(), TxKind::FileCampaign(file.clone()));
    w.commit_one(
        &w.regulator.key.clone(),
        TxKind::ApproveCampaign(ApproveCampaign {
            campaign_id: closed.clone(),
            approved: true,
            filing_no: "F-1".into(),
            note: None,
        }),
    );
    w.commit_one(
        &w.charity.key.clone(),
        TxKind::CloseCampaign(CloseCampaign {
            campaign_id: closed.clone(),
            summary: "结束".into(),
        }),
    );

    let reg = w.regulator.key.clone();
    let charity = w.charity.key.clone();
    let platform = w.platform.key.clone();
    let platform2 = w.platform2.key.clone();
    let stranger = dev::key("stranger");
    let donate = |w: &W, amount| w.donation(&lunch(), amount, &code(2), None);
    let register = |org_id: &str, key: PublicKey| {
        let org_id = if org_id.len() == 18 {
            charity_ledger::org_id::OrgId::parse(org_id).unwrap()
        } else {
            oid(org_id)
        };
        TxKind::RegisterOrg(RegisterOrg {
            org_id,
            name: "新组织".into(),
            role: OrgRole::Charity,
            public_fundraising: true,
            keys: vec![key],
            region: region(),
        })
    };
    let mut rows: Vec<Row> = Vec::new();
    let mut row = |what, tx, code| rows.push(Row { what, tx, code });

    // Stateless.
    let mut t = w.tx(&charity, donate(&w, 100));
    t = Transaction::from_parts(
        charity_ledger::TxBody {
            chain_id: "other-chain".into(),
            ..t.body().clone()
        },
        *t.sig(),
    )
    .unwrap();
    row("chain id of another network", t, "wrong_chain");
    let good = w.tx(&charity, donate(&w, 100));
    let forged = Transaction::from_parts(
        good.body().clone(),
        charity_ledger::Signature::from([7u8; 64]),
    )
    .unwrap();
    row("signature by nobody", forged, "bad_signature");
    let mut id_point = [0u8; 32];
    id_point[0] = 1;
    row(
        "small-order key in a registration",
        w.tx(
            &reg,
            register("53440100MJ0000099", PublicKey::from(id_point)),
        ),
        "invalid_public_key",
    );
    let mut k = match register("53440100MJ0000099", dev::key("x").public()) {
        TxKind::RegisterOrg(k) => k,
        _ => unreachable!(),
    };
    k.name = " ".into();
    row(
        "blank organisation name",
        w.tx(&reg, TxKind::RegisterOrg(k.clone())),
        "empty_field",
    );
    k.name = "名".repeat(201);
    row(
        "name over 200 characters",
        w.tx(&reg, TxKind::RegisterOrg(k.clone())),
        "field_too_long",
    );
    k.name = "新组织".into();
    k.keys = (0..9)
        .map(|i| dev::key(&format!("k{i}")).public())
        .collect();
    row(
        "nine keys",
        w.tx(&reg, TxKind::RegisterOrg(k.clone())),
        "too_many_items",
    );
    k.keys = vec![dev::key("k").public(), dev::key("k").public()];
    row(
        "same key twice",
        w.tx(&reg, TxKind::RegisterOrg(k.clone())),
        "duplicate_item",
    );
    row(
        "zero donation",
        w.tx(&platform, donate(&w, 0)),
        "zero_amount",
    );
    let mut f2 = file.clone();
    f2.campaign_id = cid("bad-window");
    f2.ends_at = f2.starts_at;
    row(
        "window ends when it starts",
        w.tx(&charity, TxKind::FileCampaign(f2.clone())),
        "invalid_window",
    );
    f2.ends_at = T0 + DAY;
    f2.target = 50_00;
    row(
        "budget above target",
        w.tx(&charity, TxKind::FileCampaign(f2.clone())),
        "budget_over_target",
    );
    f2.target = 100_00;
    f2.budget = vec![
        BudgetLine {
            line: line("a"),
            category: Category::Program,
            amount: (1 << 53) - 1,
        },
        BudgetLine {
            line: line("b"),
            category: Category::Program,
            amount: 10,
        },
    ];
    row(
        "budget total overflows",
        w.tx(&charity, TxKind::FileCampaign(f2.clone())),
        "amount_overflow",
    );
    let mut d = match donate(&w, 100) {
        TxKind::Donation(d) => d,
        _ => unreachable!(),
    };
    d.channel = "WeChat Pay".into();
    row(
        "channel with spaces",
        w.tx(&platform, TxKind::Donation(d.clone())),
        "invalid_channel",
    );
    let person_with_id = Recipient {
        kind: RecipientKind::Person,
        id: Some("440102199001011234".into()),
        name: "张*明".into(),
    };
    row(
        "a person's id on chain",
        w.tx(
            &charity,
            w.disbursement(&lunch(), 10, "meals", person_with_id),
        ),
        "invalid_recipient",
    );
    row(
        "audit note about nothing nameable",
        w.tx(
            &reg,
            TxKind::AuditNote(AuditNote {
                subject: "Not A Subject!".into(),
                severity: Severity::Info,
                finding: "f".into(),
            }),
        ),
        "invalid_subject",
    );
    row(
        "empty validator set",
        w.tx(
            &reg,
            TxKind::SetValidators(SetValidators { validators: vec![] }),
        ),
        "invalid_validator_set",
    );

    // Stateful.
    let committed = w.chain.backend.kv.clone();
    let _ = committed;
    let don_tx = {
        // Re-sign the committed donation's exact body: same id.
        let t = charity_ledger::query::donation(&w.chain.backend.kv, &donation_id)
            .unwrap()
            .unwrap();
        assert_eq!(t.donation_id, donation_id);
        let stored = w
            .chain
            .backend
            .kv
            .entries()
            .find(|(k, _)| {
                k.len() == 33 && k[0] == charity_ledger::schema::TX && k[1..] == donation_id.0
            })
            .map(|(_, v)| v.to_vec())
            .unwrap();
        let c = charity_ledger::records::CommittedTx::decode(&stored).unwrap();
        Transaction::from_stored(c.stored).unwrap()
    };
    row("the same transaction again", don_tx, "duplicate_tx");
    row(
        "signed by an unknown key",
        w.tx(&stranger, donate(&w, 100)),
        "unknown_signer",
    );
    row(
        "registration by a charity",
        w.tx(
            &charity,
            register("53440100MJ0000099", dev::key("n").public()),
        ),
        "wrong_role",
    );
    row(
        "organisation registered twice",
        w.tx(
            &reg,
            register(w.charity.id.as_str(), dev::key("n").public()),
        ),
        "org_exists",
    );
    row(
        "key of another organisation",
        w.tx(&reg, register("53440100MJ0000099", w.charity.key.public())),
        "key_in_use",
    );
    let upd = |org: &Org, status, add: Option<Vec<PublicKey>>, remove: Option<Vec<PublicKey>>| {
        TxKind::UpdateOrg(UpdateOrg {
            org_id: org.id.clone(),
            status,
            public_fundraising: None,
            add_keys: add,
            remove_keys: remove,
        })
    };
    let ghost = Org {
        id: oid("53440100MJ0000098"),
        key: dev::key("ghost"),
    };
    row(
        "update of an unregistered organisation",
        w.tx(&reg, upd(&ghost, OrgStatus::Active, None, None)),
        "unknown_org",
    );
    row(
        "removing a key it does not have",
        w.tx(
            &reg,
            upd(
                &w.charity,
                OrgStatus::Active,
                None,
                Some(vec![dev::key("nope").public()]),
            ),
        ),
        "unknown_key",
    );
    row(
        "removing its only key",
        w.tx(
            &reg,
            upd(
                &w.charity,
                OrgStatus::Active,
                None,
                Some(vec![w.charity.key.public()]),
            ),
        ),
        "no_keys_left",
    );
    let mut f3 = file.clone();
    f3.campaign_id = lunch();
    row(
        "campaign id taken",
        w.tx(&charity, TxKind::FileCampaign(f3.clone())),
        "campaign_exists",
    );
    f3.campaign_id = cid("no-qualification");
    row(
        "charity without qualification",
        w.tx(&w.nofund.key.clone(), TxKind::FileCampaign(f3.clone())),
        "no_public_fundraising",
    );
    f3.platforms = vec![w.charity2.id.clone()];
    row(
        "a charity listed as platform",
        w.tx(&charity, TxKind::FileCampaign(f3.clone())),
        "not_a_platform",
    );
    row(
        "donation to nowhere",
        w.tx(&platform, w.donation(&cid("no-such"), 100, &code(3), None)),
        "unknown_campaign",
    );
    row(
        "approving an approved campaign",
        w.tx(
            &reg,
            TxKind::ApproveCampaign(ApproveCampaign {
                campaign_id: lunch(),
                approved: true,
                filing_no: "x".into(),
                note: None,
            }),
        ),
        "campaign_not_pending",
    );
    row(
        "donation to a pending campaign",
        w.tx(&charity, w.donation(&pending, 100, &code(3), None)),
        "campaign_not_open",
    );
    let mut early = match donate(&w, 100) {
        TxKind::Donation(d) => d,
        _ => unreachable!(),
    };
    early.received_at = T0 - 1;
    row(
        "received before the window",
        w.tx(&platform, TxKind::Donation(early.clone())),
        "outside_window",
    );
    early.received_at = w.time + 10 * DAY;
    row(
        "received after the block",
        w.tx(&platform, TxKind::Donation(early.clone())),
        "received_in_future",
    );
    row(
        "platform not listed",
        w.tx(&platform2, donate(&w, 100)),
        "platform_not_listed",
    );
    row(
        "another charity records a donation",
        w.tx(&w.charity2.key.clone(), donate(&w, 100)),
        "not_campaign_charity",
    );
    row(
        "restricted to a line that does not exist",
        w.tx(&platform, w.donation(&lunch(), 100, &code(3), Some("toys"))),
        "unknown_budget_line",
    );
    let mut wrong_cat = match w.disbursement(&lunch(), 10, "meals", vendor()) {
        TxKind::Disbursement(d) => d,
        _ => unreachable!(),
    };
    wrong_cat.category = Category::Management;
    row(
        "category differs from the line's",
        w.tx(&charity, TxKind::Disbursement(wrong_cat)),
        "category_mismatch",
    );
    row(
        "more than the line's budget",
        w.tx(
            &charity,
            w.disbursement(&lunch(), 20_000_01, "fundraising-cost", vendor()),
        ),
        "budget_line_exceeded",
    );
    row(
        "more than the campaign holds",
        w.tx(
            &charity,
            w.disbursement(&lunch(), 5_000_00, "meals", vendor()),
        ),
        "insufficient_funds",
    );
    row(
        "grant to itself",
        w.tx(
            &charity,
            w.disbursement(&lunch(), 10, "meals", W::grant_to(&lunch())),
        ),
        "self_grant",
    );
    let refund = |id: Hash, amount| {
        TxKind::Refund(Refund {
            donation_id: id,
            amount,
            reason: "捐赠人申请退款".into(),
        })
    };
    row(
        "refund of an unknown donation",
        w.tx(&platform, refund(Hash::from([9u8; 32]), 1)),
        "unknown_donation",
    );
    row(
        "refund above the unallocated remainder",
        w.tx(&platform, refund(donation_id, 1_000_00)),
        "refund_exceeds_unallocated",
    );
    row(
        "refund of a grant",
        w.tx(&w.charity2.key.clone(), refund(grant_id, 1)),
        "grant_not_refundable",
    );
    row(
        "refund by an unrelated platform",
        w.tx(&platform2, refund(donation_id, 1)),
        "not_donation_recorder",
    );
    row(
        "correction of nothing",
        w.tx(
            &charity,
            TxKind::Correction(Correction {
                target_tx: Hash::from([5u8; 32]),
                note: "n".into(),
            }),
        ),
        "unknown_tx",
    );
    row(
        "correction of someone else's transaction",
        w.tx(
            &charity,
            TxKind::Correction(Correction {
                target_tx: donation_id,
                note: "n".into(),
            }),
        ),
        "not_original_signer",
    );
    row(
        "audit note about an unknown campaign",
        w.tx(
            &w.auditor.key.clone(),
            TxKind::AuditNote(AuditNote {
                subject: "no-such-campaign".into(),
                severity: Severity::Warning,
                finding: "f".into(),
            }),
        ),
        "unknown_subject",
    );
    let late = match w.donation(&closed, 100, &code(4), None) {
        TxKind::Donation(d) => d,
        _ => unreachable!(),
    };
    let _ = late;

    let mut seen = std::collections::BTreeSet::new();
    for r in &rows {
        assert_eq!(w.check(&r.tx), Err(r.code), "{}", r.what);
        seen.insert(r.code);
    }

    // Suspension takes effect for the suspended organisation's next tx.
    w.commit_one(&reg, upd(&w.platform2, OrgStatus::Suspended, None, None));
    let p2 = w.platform2.key.clone();
    let t = w.tx(&p2, donate(&w, 100));
    assert_eq!(w.check(&t), Err("org_not_active"));
    seen.insert("org_not_active");

    // Past the recording deadline of the lunch campaign.
    let mut tl = W::new();
    let d = tl.donation(&lunch(), 100, &code(5), None);
    tl.time = T0 + 240 * DAY + charity_ledger::exec::LATE_RECORDING_GRACE_MS + 1;
    let late_tx = tl.tx(&tl.platform.key.clone(), d);
    assert_eq!(tl.check(&late_tx), Err("recorded_too_late"));
    seen.insert("recorded_too_late");

    // Every code of TxError (other than decoding, tested below) has a row.
    let all = [
        "wrong_chain",
        "bad_signature",
        "invalid_public_key",
        "empty_field",
        "field_too_long",
        "too_many_items",
        "duplicate_item",
        "zero_amount",
        "amount_overflow",
        "invalid_window",
        "budget_over_target",
        "invalid_channel",
        "invalid_recipient",
        "invalid_subject",
        "invalid_validator_set",
        "duplicate_tx",
        "unknown_signer",
        "org_not_active",
        "wrong_role",
        "no_public_fundraising",
        "org_exists",
        "unknown_org",
        "key_in_use",
        "unknown_key",
        "no_keys_left",
        "campaign_exists",
        "unknown_campaign",
        "campaign_not_pending",
        "campaign_not_open",
        "outside_window",
        "received_in_future",
        "recorded_too_late",
        "not_campaign_charity",
        "platform_not_listed",
        "not_a_platform",
        "unknown_budget_line",
        "category_mismatch",
        "budget_line_exceeded",
        "insufficient_funds",
        "unknown_donation",
        "refund_exceeds_unallocated",
        "grant_not_refundable",
        "not_donation_recorder",
        "unknown_tx",
        "not_original_signer",
        "unknown_subject",
        "self_grant",
    ];
    let missing: Vec<_> = all.iter().filter(|c| !seen.contains(*c)).collect();
    assert!(missing.is_empty(), "codes without a row: {missing:?}");
}

#[test]
fn messages_name_the_values() {
    let mut w = W::new();
    let d = w.donation(&lunch(), 1_200_00, &code(1), None);
    w.commit_one(&w.platform.key.clone(), d);
    let t = w.tx(
        &w.charity.key.clone(),
        w.disbursement(&lunch(), 1_500_00, "meals", W::vendor()),
    );
    let tip = w.chain.tip().clone();
    let mut ex =
        charity_ledger::exec::Executor::new(&w.chain.backend.kv, tip.height + 1, w.time + 1);
    let err = ex.apply(&t, 0).unwrap_err().to_string();
    assert_eq!(
        err,
        "campaign rural-lunch-2026 has 120000 fen unallocated, disbursement asks 150000"
    );
}

#[test]
fn malformed_transactions_have_codes() {
    let mut w = W::new();
    let d = w.donation(&lunch(), 100, &code(1), None);
    let good = w.tx(&w.platform.key.clone(), d);
    let json = String::from_utf8(good.to_canonical_json().unwrap()).unwrap();
    assert_eq!(Transaction::decode(json.as_bytes()).unwrap(), good);
    let cases: Vec<(String, &str)> = vec![
        ("{not json".into(), "malformed_json"),
        (
            json.replace("\"kind\":\"donation\"", "\"kind\":\"gift\""),
            "unknown_kind",
        ),
        (
            json.replace("\"amount\":100", "\"amount\":100,\"extra\":1"),
            "unknown_field",
        ),
        (json.replace("\"amount\":100,", ""), "missing_field"),
        (
            json.replace("\"amount\":100", "\"amount\":1.5"),
            "float_not_allowed",
        ),
        (
            json.replace("\"amount\":100", "\"amount\":9007199254740992"),
            "integer_out_of_range",
        ),
        (
            json.replace("\"amount\":100", "\"amount\":-5"),
            "integer_out_of_range",
        ),
        (
            json.replace("\"amount\":100", "\"amount\":null"),
            "null_not_allowed",
        ),
        (
            json.replace("\"amount\":100", "\"amount\":100,\"amount\":100"),
            "duplicate_key",
        ),
        (
            json.replace(
                &good.body().signer.to_hex(),
                &good.body().signer.to_hex().to_uppercase(),
            ),
            "invalid_hex",
        ),
        (
            json.replace(&good.body().signer.to_hex(), "abcd"),
            "invalid_hex",
        ),
        (
            json.replace("\"amount\":100", "\"amount\":\"100\""),
            "invalid_field",
        ),
        (
            format!("{{\"body\":{{}},\"sig\":\"{}\",\"x\":1}}", "0".repeat(128)),
            "unknown_field",
        ),
        (format!("[{}]", "1,".repeat(70_000)), "too_large"),
    ];
    for (input, code) in cases {
        let err = Transaction::decode(input.as_bytes()).unwrap_err();
        assert_eq!(
            err.code(),
            code,
            "{}: {err}",
            &input[..input.len().min(120)]
        );
    }
}
