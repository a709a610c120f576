//! Decoders never panic on hostile input: random bytes, and valid documents
//! with random bytes changed, come back as values or as errors with codes.

mod common;

use charity_ledger::genesis::Genesis;
use charity_ledger::receipt::Receipt;
use charity_ledger::tx::Transaction;
use common::*;
use proptest::prelude::*;

fn sample_tx() -> Vec<u8> {
    static SAMPLE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    SAMPLE
        .get_or_init(|| {
            let mut w = World::new();
            let d = w.donation(&lunch(), 100, &code(1), Some("meals"));
            w.tx(&w.platform.key.clone(), d)
                .to_canonical_json()
                .unwrap()
        })
        .clone()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_refused_with_a_code(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Err(e) = Transaction::decode(&bytes) {
            prop_assert!(!e.code().is_empty());
        }
        let _ = Receipt::decode(&bytes);
        let _ = Genesis::decode(&bytes);
    }

    #[test]
    fn mutated_transactions_never_panic(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut bytes = sample_tx();
        for (i, b) in edits {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        match Transaction::decode(&bytes) {
            Ok(t) => {
                // Whatever decodes re-encodes canonically and decodes again.
                let again = t.to_canonical_json().unwrap();
                prop_assert_eq!(Transaction::decode(&again).unwrap(), t);
            }
            Err(e) => prop_assert!(!e.code().is_empty()),
        }
    }
}

#[test]
fn deeply_nested_input_is_refused() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert_eq!(
        Transaction::decode(deep.as_bytes()).unwrap_err().code(),
        "malformed_json"
    );
}
