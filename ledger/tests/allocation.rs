//! Property tests: allocation conserves money, per donation and per
//! campaign, and every trace adds up to the fen.

mod common;

use charity_ledger::dev::MemBackend;
use charity_ledger::kinds::*;
use charity_ledger::query;
use charity_ledger::trace::{trace, TraceNode};
use charity_ledger::tx::TxKind;
use common::*;
use proptest::prelude::*;

type W = World<MemBackend>;

#[derive(Clone, Debug)]
enum Op {
    Donate {
        flood: bool,
        amount: u64,
        line: Option<&'static str>,
        donor: u32,
    },
    Spend {
        flood: bool,
        amount: u64,
        line: &'static str,
        grant: bool,
    },
    Refund {
        pick: usize,
        amount: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let line = prop_oneof![
        Just(None),
        Just(Some("meals")),
        Just(Some("kitchen-equipment"))
    ];
    let spend_line = prop_oneof![
        Just("meals"),
        Just("kitchen-equipment"),
        Just("fundraising-cost")
    ];
    prop_oneof![
        4 => (any::<bool>(), 1u64..50_000, line, 0u32..6)
            .prop_map(|(flood, amount, line, donor)| Op::Donate { flood, amount, line, donor }),
        3 => (any::<bool>(), 1u64..80_000, spend_line, any::<bool>())
            .prop_map(|(flood, amount, line, grant)| Op::Spend { flood, amount, line, grant }),
        1 => (any::<usize>(), 1u64..20_000).prop_map(|(pick, amount)| Op::Refund { pick, amount }),
    ]
}

fn check_node(n: &TraceNode) {
    let spent: u64 = n.spent.iter().map(|s| s.amount).sum();
    assert_eq!(
        spent + n.unspent + n.refunded,
        n.amount,
        "trace node {} does not add up",
        n.donation_id
    );
    for s in &n.spent {
        if let Some(g) = &s.grant {
            assert_eq!(g.amount, s.amount);
            check_node(g);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn allocation_conserves_money(ops in proptest::collection::vec(op(), 1..60), block_size in 1usize..6) {
        let w = run(ops, block_size);
        check_conservation(&w)?;
    }
}

/// Commits `ops` in blocks of `block_size`.
fn run(ops: Vec<Op>, block_size: usize) -> W {
    let mut w = W::new();
    let mut donations = Vec::new();
    let mut pending = Vec::new();
    for op in ops {
        let (key, kind) = match op {
            Op::Donate {
                flood: f,
                amount,
                line,
                donor,
            } => {
                let c = if f { flood() } else { lunch() };
                let key = if f {
                    w.charity2.key.clone()
                } else {
                    w.platform.key.clone()
                };
                (key, w.donation(&c, amount, &code(donor), line))
            }
            Op::Spend {
                flood: f,
                amount,
                line,
                grant,
            } => {
                let (c, other, key) = if f {
                    (flood(), lunch(), w.charity2.key.clone())
                } else {
                    (lunch(), flood(), w.charity.key.clone())
                };
                let r = if grant {
                    W::grant_to(&other)
                } else {
                    W::vendor()
                };
                (key, w.disbursement(&c, amount, line, r))
            }
            Op::Refund { pick, amount } => {
                if donations.is_empty() {
                    continue;
                }
                let id = donations[pick % donations.len()];
                (
                    w.platform.key.clone(),
                    TxKind::Refund(Refund {
                        donation_id: id,
                        amount,
                        reason: "退款".into(),
                    }),
                )
            }
        };
        let t = w.tx(&key, kind);
        pending.push(t);
        if pending.len() >= block_size {
            let c = w.commit(std::mem::take(&mut pending));
            for t in &c.built.block.txs {
                if matches!(t.kind(), TxKind::Donation(_)) {
                    donations.push(t.id());
                }
            }
        }
    }
    w.commit(pending);
    w
}

fn check_conservation(w: &W) -> Result<(), TestCaseError> {
    let kv = &w.chain.backend.kv;
    for c in [lunch(), flood()] {
        let rec = query::campaign(kv, &c).unwrap().unwrap();
        let ds = query::campaign_donations(kv, &c, 0, usize::MAX).unwrap();
        let disb = query::campaign_disbursements(kv, &c, usize::MAX).unwrap();
        let refunds = query::campaign_refunds(kv, &c, usize::MAX).unwrap();
        prop_assert_eq!(rec.raised, ds.iter().map(|d| d.amount).sum::<u64>());
        prop_assert_eq!(rec.spent, disb.iter().map(|d| d.amount).sum::<u64>());
        prop_assert_eq!(rec.refunded, refunds.iter().map(|r| r.amount).sum::<u64>());
        prop_assert_eq!(
            rec.unallocated(),
            ds.iter().map(|d| d.unallocated()).sum::<u64>()
        );
        prop_assert_eq!(rec.raised, rec.spent + rec.refunded + rec.unallocated());
        let restricted: u64 = ds
            .iter()
            .filter(|d| d.restricted_line.is_some())
            .map(|d| d.unallocated())
            .sum();
        prop_assert_eq!(restricted, rec.restricted_unallocated.values().sum::<u64>());
        for d in &ds {
            let rows = query::allocations_of_donation(kv, &d.donation_id, usize::MAX).unwrap();
            prop_assert_eq!(rows.iter().map(|r| r.amount).sum::<u64>(), d.allocated);
            prop_assert_eq!(d.allocated + d.refunded + d.unallocated(), d.amount);
            let t = trace(kv, &d.donation_id).unwrap();
            check_node(&t.root);
            prop_assert_eq!(
                t.root.final_spent()
                    + t.root.total_unspent()
                    + t.root.refunded
                    + t.root
                        .spent
                        .iter()
                        .filter_map(|s| s.grant.as_ref())
                        .map(sum_refunded)
                        .sum::<u64>(),
                d.amount
            );
        }
        for x in &disb {
            let rows =
                query::allocations_of_disbursement(kv, &x.disbursement_id, usize::MAX).unwrap();
            prop_assert_eq!(rows.iter().map(|r| r.amount).sum::<u64>(), x.amount);
        }
    }
    Ok(())
}

/// The same seeded scenario, run twice, gives the same blocks and the same
/// state, byte for byte.
#[test]
fn the_same_scenario_gives_the_same_chain() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let ops = proptest::collection::vec(op(), 200)
        .new_tree(&mut runner)
        .unwrap()
        .current();
    let a = run(ops.clone(), 4);
    let b = run(ops, 4);
    assert_eq!(a.chain.tip(), b.chain.tip());
    assert_eq!(a.chain.backend.kv, b.chain.backend.kv);
    assert!(a.chain.tip().log.size() > 100);
    check_conservation(&a).unwrap();
}

fn sum_refunded(n: &TraceNode) -> u64 {
    n.refunded
        + n.spent
            .iter()
            .filter_map(|s| s.grant.as_ref())
            .map(sum_refunded)
            .sum::<u64>()
}

#[test]
fn restricted_donations_are_consumed_first_then_oldest() {
    let mut w = W::new();
    let p = w.platform.key.clone();
    let a = w.donation(&lunch(), 100_00, &code(1), None);
    let a = w.commit_one(&p, a);
    let b = w.donation(&lunch(), 50_00, &code(2), Some("kitchen-equipment"));
    let b = w.commit_one(&p, b);
    let c = w.donation(&lunch(), 70_00, &code(3), None);
    let c = w.commit_one(&p, c);
    let d = w.disbursement(&lunch(), 120_00, "kitchen-equipment", W::vendor());
    let d = w.commit_one(&w.charity.key.clone(), d);
    let kv = &w.chain.backend.kv;
    let rows = query::allocations_of_disbursement(kv, &d, 10).unwrap();
    let got: Vec<_> = rows.iter().map(|r| (r.donation_id, r.amount)).collect();
    assert_eq!(got, vec![(b, 50_00), (a, 70_00)]);
    // A meals disbursement may not touch kitchen-restricted money: 100.00
    // unrestricted is left, and 20.00 restricted to the kitchen.
    let k = w.donation(&lunch(), 20_00, &code(4), Some("kitchen-equipment"));
    let k = w.commit_one(&p, k);
    let e = w.disbursement(&lunch(), 100_01, "meals", W::vendor());
    let t = w.tx(&w.charity.key.clone(), e);
    assert_eq!(w.check(&t), Err("insufficient_funds"));
    let e = w.disbursement(&lunch(), 100_00, "meals", W::vendor());
    let e = w.commit_one(&w.charity.key.clone(), e);
    let rows = query::allocations_of_disbursement(&w.chain.backend.kv, &e, 10).unwrap();
    let got: Vec<_> = rows.iter().map(|r| (r.donation_id, r.amount)).collect();
    assert_eq!(got, vec![(a, 30_00), (c, 70_00)]);
    let left = query::donation(&w.chain.backend.kv, &k).unwrap().unwrap();
    assert_eq!(left.unallocated(), 20_00);
}

#[test]
fn a_grant_is_traced_to_the_fen() {
    // The journey: 50.00 yuan of a foundation's donor follows a grant;
    // the county charity spends 62.5% of the grant.
    let mut w = W::new();
    let p = w.platform.key.clone();
    let mine = w.donation(&lunch(), 50_00, &code(1), None);
    let mine = w.commit_one(&p, mine);
    let other = w.donation(&lunch(), 150_00, &code(2), None);
    w.commit_one(&p, other);
    let g = w.disbursement(&lunch(), 200_00, "meals", W::grant_to(&flood()));
    w.commit_one(&w.charity.key.clone(), g);
    let s = w.disbursement(&flood(), 125_00, "kitchen-equipment", W::vendor());
    w.commit_one(&w.charity2.key.clone(), s);
    let t = trace(&w.chain.backend.kv, &mine).unwrap();
    assert_eq!(t.root.spent.len(), 1);
    let hop = t.root.spent[0].grant.as_ref().unwrap();
    assert_eq!(hop.campaign_id, flood());
    assert_eq!(hop.amount, 50_00);
    assert_eq!(hop.spent[0].amount, 31_25);
    assert_eq!(hop.unspent, 18_75);
    assert_eq!(t.root.final_spent() + t.root.total_unspent(), 50_00);
}
