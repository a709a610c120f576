//! `Signatures::StrictUnlessVerified` skips only the signatures its caller
//! vouches for: with nothing vouched for it judges a block exactly as
//! `Strict` does, vouching for valid transactions changes nothing, and a
//! forged signature nobody vouched for is still refused. Blocks checked
//! together in large batches (the audit) are judged as one by one.

mod common;

use charity_ledger::chain::{build_block_with, execute_block_with, Signatures};
use charity_ledger::dev::Backend;
use charity_ledger::tx::Transaction;
use common::*;

type W = World<charity_ledger::dev::MemBackend>;

#[test]
fn only_vouched_signatures_are_skipped() {
    let mut w = W::new();
    let platform = w.platform.key.clone();
    let goods: Vec<Transaction> = (0..5)
        .map(|i| {
            let d = w.donation(&lunch(), 100_00 + i, &code(i as u32 + 1), None);
            w.tx(&platform, d)
        })
        .collect();
    let d = w.donation(&lunch(), 300_00, &code(99), None);
    let template = w.tx(&platform, d);
    let forged = Transaction::from_parts(
        template.body().clone(),
        charity_ledger::Signature::from([7u8; 64]),
    )
    .unwrap();
    let mut candidates = goods.clone();
    candidates.insert(2, forged.clone());
    let kv = w.chain.backend.kv();
    let tip = w.chain.tip().clone();
    let proposer = w.validators[0].public();
    let time = tip.time + 1_000;
    let good_ids: Vec<_> = goods.iter().map(|t| t.id()).collect();
    let vouch_goods = |t: &Transaction| good_ids.contains(&t.id());

    let strict = build_block_with(
        kv,
        &tip,
        candidates.clone(),
        time,
        proposer,
        Signatures::Strict,
    )
    .unwrap();
    let nothing = build_block_with(
        kv,
        &tip,
        candidates.clone(),
        time,
        proposer,
        Signatures::StrictUnlessVerified(&|_| false),
    )
    .unwrap();
    let vouched = build_block_with(
        kv,
        &tip,
        candidates.clone(),
        time,
        proposer,
        Signatures::StrictUnlessVerified(&vouch_goods),
    )
    .unwrap();
    for built in [&strict, &nothing, &vouched] {
        assert_eq!(built.rejected.len(), 1);
        assert_eq!(built.rejected[0].0, forged.id());
        assert_eq!(built.rejected[0].1.code(), "bad_signature");
        assert_eq!(built.effects.block_hash, strict.effects.block_hash);
    }

    // A block carrying the forged transaction is refused unless someone
    // vouches for it: the skip really skips, so the caller must only vouch
    // for what it verified itself.
    let mut bad = strict.block.clone();
    bad.txs.insert(0, forged.clone());
    for sigs in [
        Signatures::Strict,
        Signatures::StrictUnlessVerified(&vouch_goods),
    ] {
        match execute_block_with(kv, &tip, &bad, sigs).unwrap_err() {
            charity_ledger::BlockError::InvalidTx {
                index,
                tx_id,
                error,
                ..
            } => {
                assert_eq!((index, tx_id), (0, forged.id()));
                assert_eq!(error.code(), "bad_signature");
            }
            e => panic!("refused for another reason: {e}"),
        }
    }
    let good_block = execute_block_with(
        kv,
        &tip,
        &strict.block,
        Signatures::StrictUnlessVerified(&vouch_goods),
    )
    .unwrap();
    assert_eq!(good_block.block_hash, strict.effects.block_hash);
}

#[test]
fn blocks_checked_together_are_judged_as_one_by_one() {
    // `check_blocks_batched` verifies whole blocks side by side in large
    // batches; a failing batch is re-checked one by one, so every block's
    // results are exactly `Strict`'s.
    let mut w = W::new();
    let platform = w.platform.key.clone();
    let mut block = |from: u32, n: u32| -> Vec<Transaction> {
        (from..from + n)
            .map(|i| {
                let d = w.donation(&lunch(), 100_00 + u64::from(i), &code(i + 1), None);
                w.tx(&platform, d)
            })
            .collect()
    };
    let honest = block(0, 300);
    let mut forged_in = block(300, 300);
    let t = forged_in[170].clone();
    forged_in[170] =
        Transaction::from_parts(t.body().clone(), charity_ledger::Signature::from([7u8; 64]))
            .unwrap();
    let also_honest = block(600, 5);
    let chain_id = w.chain.tip().chain_id.clone();
    let blocks: Vec<&[Transaction]> = vec![&honest, &forged_in, &also_honest];
    let together = charity_ledger::chain::check_blocks_batched(&blocks, &chain_id);
    assert_eq!(together.len(), 3);
    for (txs, got) in blocks.iter().zip(&together) {
        assert_eq!(*got, Signatures::Strict.check(txs, &chain_id));
    }
    let bad: Vec<usize> = together[1]
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_err())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(bad, vec![170]);
    assert!(together[0].iter().chain(&together[2]).all(|r| r.is_ok()));
    // One block alone goes through the same path as `Batched`.
    let alone = charity_ledger::chain::check_blocks_batched(&blocks[1..2], &chain_id);
    assert_eq!(alone[0], together[1]);
}

#[test]
fn many_small_blocks_checked_together_are_judged_as_one_by_one() {
    // Many small blocks (and empty ones) are checked together, in one list
    // cut into a batch per core; each block still gets its own results.
    let mut w = W::new();
    let platform = w.platform.key.clone();
    let charity = w.charity.key.clone();
    let mut small: Vec<Vec<Transaction>> = Vec::new();
    for b in 0..40u32 {
        let txs = match b % 4 {
            0 => Vec::new(),
            1 => {
                let d = w.disbursement(&lunch(), 1_00, "meals", W::vendor());
                vec![w.tx(&charity, d)]
            }
            _ => (0..3)
                .map(|i| {
                    let d = w.donation(&lunch(), 100_00, &code(b * 10 + i + 1), None);
                    w.tx(&platform, d)
                })
                .collect(),
        };
        small.push(txs);
    }
    let t = small[22][1].clone();
    small[22][1] =
        Transaction::from_parts(t.body().clone(), charity_ledger::Signature::from([9u8; 64]))
            .unwrap();
    let chain_id = w.chain.tip().chain_id.clone();
    let blocks: Vec<&[Transaction]> = small.iter().map(Vec::as_slice).collect();
    let together = charity_ledger::chain::check_blocks_batched(&blocks, &chain_id);
    assert_eq!(together.len(), blocks.len());
    for (txs, got) in blocks.iter().zip(&together) {
        assert_eq!(*got, Signatures::Strict.check(txs, &chain_id));
    }
    let bad: Vec<(usize, usize)> = together
        .iter()
        .enumerate()
        .flat_map(|(b, r)| r.iter().enumerate().map(move |(i, r)| (b, i, r.is_err())))
        .filter(|(_, _, bad)| *bad)
        .map(|(b, i, _)| (b, i))
        .collect();
    assert_eq!(bad, vec![(22, 1)]);
}
