//! Building and signing transactions: the common fields (chain id, a random
//! nonce, the creation time) are filled in here.

use charity_ledger::donor::DonorCode;
use charity_ledger::hex::Nonce;
use charity_ledger::ids::CampaignId;
use charity_ledger::json::EncodeError;
use charity_ledger::kinds::Donation;
use charity_ledger::tx::{Transaction, TxBody, TxKind};
use charity_ledger::Keypair;
use rand_core::{OsRng, RngCore};

/// Why a transaction could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A field is invalid.
    #[error("{0}")]
    Invalid(String),
    /// Encoding failed.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Signs `kind` for `chain_id` with `key`, with a random nonce and the
/// current time.
pub fn sign(chain_id: &str, key: &Keypair, kind: TxKind) -> Result<Transaction, BuildError> {
    let mut nonce = [0u8; 8];
    OsRng.fill_bytes(&mut nonce);
    Ok(Transaction::sign(
        TxBody {
            chain_id: chain_id.to_owned(),
            signer: key.public(),
            nonce: Nonce::from(nonce),
            created_at: now_ms(),
            kind,
        },
        key,
    )?)
}

/// A new donor code from the operating system's randomness.
pub fn new_donor_code() -> DonorCode {
    let mut e = [0u8; 13];
    OsRng.fill_bytes(&mut e);
    DonorCode::from_entropy(&e)
}

/// A donation of `amount` fen received now; the payment reference is
/// hashed, never sent.
pub fn donation(
    chain_id: &str,
    key: &Keypair,
    campaign: &str,
    amount: u64,
    donor: &DonorCode,
    channel: &str,
    payment_ref: &str,
) -> Result<Transaction, BuildError> {
    let campaign_id =
        CampaignId::parse(campaign).map_err(|e| BuildError::Invalid(e.to_string()))?;
    sign(
        chain_id,
        key,
        TxKind::Donation(Donation {
            campaign_id,
            amount,
            donor_tag: donor.tag(),
            display_name: None,
            restricted_line: None,
            channel: channel.to_owned(),
            payment_ref_hash: charity_ledger::crypto::sha256(payment_ref.as_bytes()),
            received_at: now_ms(),
        }),
    )
}
