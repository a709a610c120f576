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
