//! Offline verification: nothing here talks to a node.

use charity_ledger::hex::Hash;
use charity_ledger::receipt::{verify_receipt, Receipt, ReceiptError};
use charity_ledger::validators::PowerEntry;
use charity_ledger::Genesis;

/// Verifies a receipt document against the validators the caller trusts;
/// the error names the failed step (0: the document does not decode).
pub fn receipt_bytes(bytes: &[u8], trusted: &[PowerEntry]) -> Result<u64, ReceiptError> {
    let r = Receipt::decode(bytes).map_err(|e| ReceiptError {
        step: 0,
        code: "malformed_receipt",
        reason: e.to_string(),
    })?;
    let _: Hash = verify_receipt(&r, trusted)?;
    Ok(r.height)
}

/// The validators a verifier trusts from a file: a genesis document, or a
/// JSON list of `{pubkey, power}`.
pub fn trusted_validators(bytes: &[u8]) -> Result<Vec<PowerEntry>, String> {
    if let Ok(g) = Genesis::decode(bytes) {
        return g
            .validator_set()
            .map(|s| s.public_list())
            .map_err(|e| e.to_string());
    }
    charity_ledger::json::from_slice::<Vec<PowerEntry>>(bytes, 1024 * 1024)
        .map_err(|e| format!("neither a genesis file nor a list of {{pubkey, power}}: {e}"))
}

/// Verifies the receipt of a `set_validators` transaction against the set
/// in force at its height (`trusted`) and returns the set it puts in force
/// from the next height, as `{pubkey, power}` sorted by key.
pub fn validator_change(
    receipt: &Receipt,
    trusted: &[PowerEntry],
) -> Result<Vec<PowerEntry>, String> {
    let charity_ledger::TxKind::SetValidators(k) = receipt.tx.kind() else {
        return Err(format!(
            "{} is a {} transaction, not set_validators",
            receipt.tx_id,
            receipt.tx.kind().name()
        ));
    };
    verify_receipt(receipt, trusted).map_err(|e| {
        format!(
            "the set_validators transaction {} at height {} does not verify against the validators in force there: {e}",
            receipt.tx_id, receipt.height
        )
    })?;
    charity_ledger::validators::ValidatorSet::new(k.validators.clone())
        .map(|s| s.public_list())
        .map_err(|e| format!("the set_validators transaction {}: {e}", receipt.tx_id))
}

/// The validators in force at `height`: `genesis_set`, then each change
/// in `changes` (receipts of `set_validators` transactions, in any order)
/// that takes effect at or before `height`, each verified against the set
/// in force when it was committed.
pub fn validators_at(
    genesis_set: Vec<PowerEntry>,
    changes: &[Receipt],
    height: u64,
) -> Result<Vec<PowerEntry>, String> {
    let mut ordered: Vec<&Receipt> = changes.iter().collect();
    ordered.sort_by_key(|r| (r.height, r.index));
    let mut set = genesis_set;
    for r in ordered {
        if r.height >= height {
            break;
        }
        set = validator_change(r, &set)?;
    }
    Ok(set)
}
