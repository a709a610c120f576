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
/// sixth of a verification), with whether each is of small order.
#[derive(Default)]
pub struct KeyCache {
    keys: std::collections::HashMap<PublicKey, Option<(VerifyingKey, bool)>>,
}

impl KeyCache {
    /// Decodes every key in `keys` once.
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a PublicKey>) -> Self {
        let mut c = KeyCache::default();
        for k in keys {
            c.keys.entry(*k).or_insert_with(|| {
                VerifyingKey::from_bytes(k.as_bytes())
                    .ok()
                    .map(|vk| (vk, vk.is_weak()))
            });
        }
        c
    }

    /// Verifies many signatures in one Ed25519 batch (one multiscalar
    /// multiplication, about three times cheaper per signature than one by
    /// one). `true` means every signature is valid; `false` means at least
    /// one is not, and the caller finds which with [`KeyCache::verify`].
    ///
    /// Before the batch, every item is held to the parts of `verify_strict`
    /// that a batch does not check: the key is a point not of small order,
    /// and `R` is a canonical encoding of a point not of small order (the
    /// batch checks that `S` is canonical). What remains different is the
    /// equation: a batch with random weights accepts, with overwhelming
    /// probability, exactly the signatures valid under RFC 8032's
    /// cofactored equation, while `verify_strict` is cofactorless. The two
    /// differ only for a signature whose signer deliberately put a
    /// small-order component into `R`; such a signature proves the key
    /// holder signed, but one verifier may accept it and another refuse it.
    pub fn verify_batch(&self, items: &[(PublicKey, &[u8], &Signature)]) -> bool {
        let mut msgs = Vec::with_capacity(items.len());
        let mut sigs = Vec::with_capacity(items.len());
        let mut keys = Vec::with_capacity(items.len());
        for (key, msg, sig) in items {
            let (vk, weak) = match self.keys.get(key) {
                Some(Some(decoded)) => *decoded,
                Some(None) => return false,
                None => match VerifyingKey::from_bytes(key.as_bytes()) {
                    Ok(vk) => (vk, vk.is_weak()),
                    Err(_) => return false,
                },
            };
            if weak {
                return false;
            }
            let bytes = sig.as_bytes();
            let mut r = [0u8; 32];
            r.copy_from_slice(&bytes[..32]);
            if !canonical_point_encoding(&r) || small_order_encodings().contains(&r) {
                return false;
            }
            msgs.push(*msg);
            sigs.push(ed25519_dalek::Signature::from_bytes(bytes));
            keys.push(vk);
        }
        ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok()
    }

    /// [`verify`], with the key decoded from the cache when it is there.
    pub fn verify(
        &self,
        key: &PublicKey,
        msg: &[u8],
        sig: &Signature,
    ) -> Result<(), SignatureError> {
        match self.keys.get(key) {
            Some(Some((vk, _))) => {
                let s = ed25519_dalek::Signature::from_bytes(sig.as_bytes());
                vk.verify_strict(msg, &s)
                    .map_err(|_| SignatureError::Mismatch(*key))
            }
            Some(None) => Err(SignatureError::BadKey(*key)),
            None => verify(key, msg, sig),
        }
    }
}

/// Whether a point encoding's y coordinate is below the field prime
/// 2^255 - 19 (the sign bit aside). `verify_strict` compares `R` with a
/// recomputed, canonical encoding, so it refuses any other.
fn canonical_point_encoding(b: &[u8; 32]) -> bool {
    // y >= p exactly when the low 255 bits are 0x7fff..ffed or above.
    if b[31] & 0x7f != 0x7f || b[1..31].iter().any(|&x| x != 0xff) {
        return true;
    }
    b[0] < 0xed
}

/// Every 32-byte string that decodes to a point of small order: the eight
/// torsion points, each with either sign bit, and the non-canonical
/// encodings y + p where those fit in 255 bits. Built once, from the
/// curve's own constants, and kept only where decoding confirms it.
fn small_order_encodings() -> &'static [[u8; 32]] {
    static SET: std::sync::OnceLock<Vec<[u8; 32]>> = std::sync::OnceLock::new();
    SET.get_or_init(|| {
        use curve25519_dalek::edwards::CompressedEdwardsY;
        // p = 2^255 - 19, little-endian.
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        let mut out = Vec::new();
        for t in curve25519_dalek::constants::EIGHT_TORSION.iter() {
            let enc = t.compress().to_bytes();
            for sign in [0u8, 0x80] {
                let mut e = enc;
                e[31] = (e[31] & 0x7f) | sign;
                out.push(e);
                // y + p, if it stays below 2^255.
                let mut sum = [0u8; 32];
                let mut carry = 0u16;
                for i in 0..32 {
                    let a = if i == 31 { enc[31] & 0x7f } else { enc[i] };
                    let v = u16::from(a) + u16::from(p[i]) + carry;
                    sum[i] = (v & 0xff) as u8;
                    carry = v >> 8;
                }
                if carry == 0 && sum[31] & 0x80 == 0 {
                    sum[31] |= sign;
                    out.push(sum);
                }
            }
        }
        out.retain(|e| {
            CompressedEdwardsY(*e)
                .decompress()
                .is_some_and(|pt| pt.is_small_order())
        });
        out.sort();
        out.dedup();
        out
    })
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
    fn small_order_encodings_are_every_encoding_of_a_torsion_point() {
        use curve25519_dalek::edwards::CompressedEdwardsY;
        let set = small_order_encodings();
        for e in set {
            let p = CompressedEdwardsY(*e).decompress().unwrap();
            assert!(p.is_small_order());
        }
        // Every torsion point's canonical encoding is there, and so is the
        // identity's non-canonical one (y = p + 1).
        for t in curve25519_dalek::constants::EIGHT_TORSION.iter() {
            assert!(set.contains(&t.compress().to_bytes()));
        }
        let mut p_plus_1 = [0xffu8; 32];
        p_plus_1[0] = 0xee;
        p_plus_1[31] = 0x7f;
        assert!(set.contains(&p_plus_1));
        assert!(!canonical_point_encoding(&p_plus_1));
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(canonical_point_encoding(&one));
    }

    #[test]
    fn a_batch_refuses_what_verify_strict_refuses_before_its_equation() {
        let k = Keypair::from_seed(&[5u8; 32]);
        let cache = KeyCache::new([&k.public()]);
        let good = k.sign(b"m");
        // R replaced by the identity, canonical and not.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut p_plus_1 = [0xffu8; 32];
        p_plus_1[0] = 0xee;
        p_plus_1[31] = 0x7f;
        for r in [identity, p_plus_1] {
            let mut b = *good.as_bytes();
            b[..32].copy_from_slice(&r);
            let sig = Signature::from(b);
            assert!(verify(&k.public(), b"m", &sig).is_err());
            assert!(!cache.verify_batch(&[(k.public(), &b"m"[..], &sig)]));
        }
        // S not reduced: S + l.
        let mut b = *good.as_bytes();
        // l = 2^252 + 27742317777372353535851937790883648493, little-endian.
        let mut l = [0u8; 32];
        l[..16].copy_from_slice(&[
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14,
        ]);
        l[31] = 0x10;
        let mut carry = 0u16;
        for i in 0..32 {
            let v = u16::from(b[32 + i]) + u16::from(l[i]) + carry;
            b[32 + i] = (v & 0xff) as u8;
            carry = v >> 8;
        }
        let sig = Signature::from(b);
        assert!(verify(&k.public(), b"m", &sig).is_err());
        assert!(!cache.verify_batch(&[(k.public(), &b"m"[..], &sig)]));
        // A small-order key.
        let small = PublicKey::from(identity);
        assert!(!KeyCache::new([&small]).verify_batch(&[(small, &b"m"[..], &good)]));
        assert!(cache.verify_batch(&[(k.public(), &b"m"[..], &good)]));
        assert!(cache.verify_batch(&[]));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// A batch passes exactly when every signature passes
        /// `verify_strict`, with or without one changed byte.
        #[test]
        fn a_batch_agrees_with_verify_strict(
            n in 1usize..24,
            change in proptest::option::of((0usize..24, 0usize..96, 1u8..=255)),
        ) {
            let keys: Vec<Keypair> = (0..3u8).map(|i| Keypair::from_seed(&[i + 10; 32])).collect();
            let mut msgs: Vec<[u8; 32]> = (0..n).map(|i| sha256(&i.to_be_bytes()).0).collect();
            let mut sigs: Vec<Signature> = msgs
                .iter()
                .enumerate()
                .map(|(i, m)| keys[i % 3].sign(m))
                .collect();
            if let Some((i, at, x)) = change {
                let i = i % n;
                if at < 64 {
                    let mut b = *sigs[i].as_bytes();
                    b[at] ^= x;
                    sigs[i] = Signature::from(b);
                } else {
                    msgs[i][at - 64] ^= x;
                }
            }
            let pubs: Vec<PublicKey> = keys.iter().map(|k| k.public()).collect();
            let cache = KeyCache::new(pubs.iter());
            let items: Vec<_> = (0..n)
                .map(|i| (pubs[i % 3], &msgs[i][..], &sigs[i]))
                .collect();
            let strict = items.iter().all(|(k, m, s)| verify(k, m, s).is_ok());
            proptest::prop_assert_eq!(cache.verify_batch(&items), strict);
            proptest::prop_assert_eq!(strict, change.is_none());
        }
    }

    #[test]
    fn empty_hash_is_sha256_of_nothing() {
        assert_eq!(
            sha256(b"").to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
