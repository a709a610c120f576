//! Golden vectors: the exact bytes and hashes of a transaction, a header, a
//! vote, a validator set and a donor tag. Outside verifiers (the browser, a
//! regulator's script) depend on these bytes: a change here is a format
//! change and needs a new version of the domain tags.

use charity_ledger::block::Header;
use charity_ledger::crypto::Keypair;
use charity_ledger::donor::DonorCode;
use charity_ledger::hex::{Hash, Nonce};
use charity_ledger::ids::{CampaignId, LineName};
use charity_ledger::kinds::{Donation, ValidatorEntry};
use charity_ledger::org_id::OrgId;
use charity_ledger::tx::{Transaction, TxBody, TxKind};
use charity_ledger::validators::ValidatorSet;
use charity_ledger::vote::{vote_sign_bytes, VoteType};

fn key() -> Keypair {
    Keypair::from_seed(&[1u8; 32])
}

fn donation() -> Transaction {
    let body = TxBody {
        chain_id: "charity-golden".into(),
        signer: key().public(),
        nonce: Nonce::from([0, 0, 0, 0, 0, 0, 0, 42]),
        created_at: 1_773_280_800_000,
        kind: TxKind::Donation(Donation {
            campaign_id: CampaignId::parse("rural-lunch-2026").unwrap(),
            amount: 100_00,
            donor_tag: DonorCode::parse("K7QF-2M9D-XR4T-8HWA-6PZN").unwrap().tag(),
            display_name: Some("李女士".into()),
            restricted_line: Some(LineName::parse("meals").unwrap()),
            channel: "wechat_pay".into(),
            payment_ref_hash: Hash::from([0xab; 32]),
            received_at: 1_773_280_000_000,
        }),
    };
    Transaction::sign(body, &key()).unwrap()
}

#[test]
fn transaction_bytes_id_and_signature() {
    let t = donation();
    assert_eq!(
        String::from_utf8(t.body_bytes().to_vec()).unwrap(),
        concat!(
            r#"{"amount":10000,"campaign_id":"rural-lunch-2026","chain_id":"charity-golden","channel":"wechat_pay","#,
            r#""created_at":1773280800000,"display_name":"李女士","#,
            r#""donor_tag":"e63d62d45013351a3cc73ad62b6a7ecee3ca53cabaf6a489e1e7056005bdbee5","#,
            r#""kind":"donation","nonce":"000000000000002a","#,
            r#""payment_ref_hash":"abababababababababababababababababababababababababababababababab","#,
            r#""received_at":1773280000000,"restricted_line":"meals","#,
            r#""signer":"8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"}"#
        )
    );
    assert_eq!(t.id().to_hex(), GOLDEN_TX_ID);
    assert_eq!(t.sig().to_hex(), GOLDEN_TX_SIG);
    // Ed25519 is deterministic, and the decoder gives back the same value.
    let wire = t.to_canonical_json().unwrap();
    assert_eq!(Transaction::decode(&wire).unwrap(), t);
}

#[test]
fn header_vote_and_validator_set() {
    let set = ValidatorSet::new(vec![ValidatorEntry {
        pubkey: key().public(),
        power: 10,
        org_id: OrgId::parse("91350100M000100Y43").unwrap(),
    }])
    .unwrap();
    assert_eq!(set.hash().unwrap().to_hex(), GOLDEN_VALIDATORS_HASH);
    let h = Header {
        chain_id: "charity-golden".into(),
        height: 7,
        time: 1_773_280_900_000,
        prev_hash: Hash::from([0x11; 32]),
        proposer: key().public(),
        tx_count: 1,
        tx_root: Hash::from(charity_ledger::merkle::root(&[donation().id().0])),
        log_size: 30,
        log_root: Hash::from([0x22; 32]),
        validators_hash: set.hash().unwrap(),
        state_root: None,
    };
    assert_eq!(h.hash().unwrap().to_hex(), GOLDEN_BLOCK_HASH);
    let vote = vote_sign_bytes(
        "charity-golden",
        7,
        1,
        VoteType::Precommit,
        Some(&h.hash().unwrap()),
    );
    let hex: String = vote.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, GOLDEN_VOTE_BYTES);
}

// Cross-checked with an independent implementation (Python hashlib and
// json.dumps(sort_keys=True, separators=(",", ":"))) of the design's rules.
const GOLDEN_TX_ID: &str = "411ff4ee0712a4b7a1f202934077f15a691ef169e2ba5bfa287502f7486b44d3";
const GOLDEN_TX_SIG: &str = "d69f08eeeee98400276927094040bb6db7985aaa987b59bc1a8b4f76f4596b16d233e4fb4fe83edd1efccf28f7b7db03e185106ce7d4737de124404c83f78208";
const GOLDEN_VALIDATORS_HASH: &str =
    "57a64082cf79f7ca269abfd87b496931320ba9f2bf27db1aa25a4bbb965af57e";
const GOLDEN_BLOCK_HASH: &str = "56eef5d9158927909cb177d6c5ade00fea24b77f62b4fccd752df2c85fe45133";
const GOLDEN_VOTE_BYTES: &str = "636861726974792d6c65646765722f76312f766f74650a0e636861726974792d676f6c64656e0000000000000007000000010256eef5d9158927909cb177d6c5ade00fea24b77f62b4fccd752df2c85fe45133";
