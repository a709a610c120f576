//! Hashing with domain tags, and Ed25519 signing and verification.
//!
//! Every hash and signature is domain-separated by its own tag (design,
//! "Identities", "Transactions", "Blocks", "Votes and commits"), and every
//! signature is checked with ed25519-dalek's `verify_strict`, the one rule
//! shared by the node, the sdk and the browser.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::hex::{Hash, PublicKey, Signature};

/// Domain tag of transaction ids.
pub const TX_DOMAIN: &[u8] = b"charity-ledger/v1/tx\n";
/// Domain tag of block hashes.
pub const BLOCK_DOMAIN: &[u8] = b"charity-ledger/v1/block\n";
/// Domain tag of the genesis hash.
pub const GENESIS_DOMAIN: &[u8] = b"charity-ledger/v1/genesis\n";
/// Domain tag of validator-set hashes.
pub const VALIDATORS_DOMAIN: &[u8] = b"charity-ledger/v1/validators\n";
/// Domain tag of vote sign-bytes.
pub const VOTE_DOMAIN: &[u8] = b"charity-ledger/v1/vote\n";

/// SHA-256 of `domain || data`.
pub fn tagged_hash(domain: &[u8], data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(domain);
    h.update(data);
    Hash::from(<[u8; 32]>::from(h.finalize()))
}

/// Plain SHA-256 (evidence files, payment references).
pub fn sha256(data: &[u8]) -> Hash {
    Hash::from(<[u8; 32]>::from(Sha256::digest(data)))
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The public key is not a valid Ed25519 point.
    #[error("public key {0} is not a valid Ed25519 key")]
    BadKey(PublicKey),
    /// The signature does not verify (strictly) under the key.
    #[error("signature does not verify under key {0}")]
    Mismatch(PublicKey),
}

impl SignatureError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            SignatureError::BadKey(_) => "invalid_public_key",
            SignatureError::Mismatch(_) => "bad_signature",
        }
    }
}

/// Verifies `sig` over `msg` under `key` with `verify_strict`.
pub fn verify(key: &PublicKey, msg: &[u8], sig: &Signature) -> Result<(), SignatureError> {
    let vk = VerifyingKey::from_bytes(key.as_bytes()).map_err(|_| SignatureError::BadKey(*key))?;
    let sig = ed25519_dalek::Signature::from_bytes(sig.as_bytes());
    vk.verify_strict(msg, &sig)
        .map_err(|_| SignatureError::Mismatch(*key))
}

/// Public keys decoded once for many signature checks (a block's
/// transactions come from few signers, and decoding a key costs about a
/// sixth of a verification).
#[derive(Default)]
pub struct KeyCache {
    keys: std::collections::HashMap<PublicKey, Option<VerifyingKey>>,
}

impl KeyCache {
    /// Decodes every key in `keys` once.
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a PublicKey>) -> Self {
        let mut c = KeyCache::default();
        for k in keys {
            c.keys
                .entry(*k)
                .or_insert_with(|| VerifyingKey::from_bytes(k.as_bytes()).ok());
        }
        c
    }

    /// [`verify`], with the key decoded from the cache when it is there.
    pub fn verify(
        &self,
        key: &PublicKey,
        msg: &[u8],
        sig: &Signature,
    ) -> Result<(), SignatureError> {
        match self.keys.get(key) {
            Some(Some(vk)) => {
                let s = ed25519_dalek::Signature::from_bytes(sig.as_bytes());
                vk.verify_strict(msg, &s)
                    .map_err(|_| SignatureError::Mismatch(*key))
            }
            Some(None) => Err(SignatureError::BadKey(*key)),
            None => verify(key, msg, sig),
        }
    }
}

/// An Ed25519 key pair. The secret never leaves this type except through
/// [`Keypair::secret_bytes`], for writing a key file.
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
}

impl Keypair {
    /// Builds a key pair from a 32-byte secret seed. The caller supplies the
    /// randomness: this crate has none.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Keypair {
            signing: SigningKey::from_bytes(seed),
        }
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        PublicKey::from(self.signing.verifying_key().to_bytes())
    }

    /// The 32-byte secret seed.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// Signs `msg`.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature::from(self.signing.sign(msg).to_bytes())
    }
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keypair({})", self.public())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_strictly() {
        let k = Keypair::from_seed(&[7u8; 32]);
        let sig = k.sign(b"hello");
        assert!(verify(&k.public(), b"hello", &sig).is_ok());
        assert_eq!(
            verify(&k.public(), b"hellp", &sig).unwrap_err().code(),
            "bad_signature"
        );
    }

    #[test]
    fn small_order_key_is_refused() {
        // The identity point (a small-order key): verify_strict rejects it.
        let mut id = [0u8; 32];
        id[0] = 1;
        let k = PublicKey::from(id);
        let sig = Signature::ZERO;
        assert!(verify(&k, b"x", &sig).is_err());
    }

    #[test]
    fn key_cache_agrees_with_verify() {
        let k = Keypair::from_seed(&[3u8; 32]);
        let mut id = [0u8; 32];
        id[0] = 1;
        let small = PublicKey::from(id);
        let not_a_point = PublicKey::from([0xff; 32]);
        let cache = KeyCache::new([&k.public(), &small, &not_a_point]);
        let sig = k.sign(b"m");
        for (key, msg) in [
            (k.public(), &b"m"[..]),
            (k.public(), b"x"),
            (small, b"m"),
            (not_a_point, b"m"),
        ] {
            assert_eq!(cache.verify(&key, msg, &sig), verify(&key, msg, &sig));
        }
        // A key not in the cache is decoded on the spot.
        let other = Keypair::from_seed(&[4u8; 32]);
        assert!(cache
            .verify(&other.public(), b"m", &other.sign(b"m"))
            .is_ok());
    }

    #[test]
    fn empty_hash_is_sha256_of_nothing() {
        assert_eq!(
            sha256(b"").to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
