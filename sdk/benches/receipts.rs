//! Receipts verified per second by the sdk (decoding the JSON document and
//! all four steps: the transaction's signature, the inclusion path, the
//! header hash and the validators' precommits), next to raw Ed25519
//! `verify_strict` calls per second on the same core in the same run.
//!
//! Run: `cargo bench -p charity-sdk --bench receipts` (RECEIPTS=n to change
//! the number of receipts, default 2,000).

use std::time::Instant;

use charity_ledger::dev::{self, DevChain};
use charity_ledger::ids::Region;
use charity_ledger::kinds::{OrgRole, RegisterOrg};
use charity_ledger::{Keypair, Store, TxKind};
use charity_sdk::verify;
use ed25519_dalek::{Signer, SigningKey};

const CHAIN: &str = "charity-receipt-bench";

fn main() {
    let n: usize = std::env::var("RECEIPTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000);
    let validators: Vec<Keypair> = (0..4)
        .map(|i| dev::key(&format!("rb-validator-{i}")))
        .collect();
    let regulator = dev::key("rb-regulator");
    let reg_id = dev::org_id("11440100MB0000001").expect("org id");
    let genesis =
        dev::genesis(CHAIN, 1_767_225_600_000, &reg_id, &regulator, &validators).expect("genesis");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_or_init(dir.path(), &genesis).expect("store");
    let mut chain = DevChain::new(store, validators.clone());
    let mut ids = Vec::with_capacity(n);
    let per_block = 250;
    let mut made = 0usize;
    while made < n {
        let txs: Vec<_> = (0..per_block.min(n - made))
            .map(|_| {
                made += 1;
                let kind = TxKind::RegisterOrg(RegisterOrg {
                    org_id: dev::org_id(&format!("52440100MJ{made:07}")).expect("org id"),
                    name: format!("慈善会 {made}"),
                    role: OrgRole::Charity,
                    public_fundraising: false,
                    keys: vec![dev::key(&format!("rb-{made}")).public()],
                    region: Region::parse("440100").expect("region"),
                });
                dev::tx(CHAIN, &regulator, made as u64, kind).expect("tx")
            })
            .collect();
        ids.extend(txs.iter().map(|t| t.id()));
        chain
            .commit_block(txs, 1_767_225_600_000 + made as u64 * 1_000)
            .expect("block");
    }
    let receipts: Vec<Vec<u8>> = ids
        .iter()
        .map(|id| serde_json::to_vec(&chain.backend.receipt(id).expect("receipt")).expect("json"))
        .collect();
    let trusted = genesis.validator_set().expect("set").public_list();
    println!(
        "charity-sdk receipt benchmark: {} receipts of {} bytes on average, {} validators",
        receipts.len(),
        receipts.iter().map(Vec::len).sum::<usize>() / receipts.len().max(1),
        trusted.len()
    );

    let t = Instant::now();
    for r in &receipts {
        verify::receipt_bytes(r, &trusted).expect("verifies");
    }
    let receipt_rate = receipts.len() as f64 / t.elapsed().as_secs_f64();

    let key = SigningKey::from_bytes(&[9u8; 32]);
    let vk = key.verifying_key();
    let sig = key.sign(b"yardstick");
    let raw_n = 20_000;
    let t = Instant::now();
    for _ in 0..raw_n {
        vk.verify_strict(b"yardstick", &sig).expect("verifies");
    }
    let raw_rate = raw_n as f64 / t.elapsed().as_secs_f64();
    let per_receipt = 1 + trusted.len();
    println!("receipts verified: {receipt_rate:.0}/s on one core");
    println!("raw Ed25519 verify_strict: {raw_rate:.0}/s on one core");
    println!(
        "ratio: {:.3} (a receipt needs {per_receipt} signature checks, so at most {:.3} is possible)",
        receipt_rate / raw_rate,
        1.0 / per_receipt as f64
    );
}
