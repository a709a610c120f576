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
    keys: std::collections::HashMap<PublicKey, Option<DecodedKey>>,
}

/// A key as a batch uses it.
struct DecodedKey {
    vk: VerifyingKey,
    /// Of small order (`verify_strict` refuses such keys).
    weak: bool,
    /// Whether the point lies in the prime-order subgroup (no small-order
    /// component). Worked out the first time the key signs more than one
    /// signature of a batch, the only time it matters.
    torsion_free: std::sync::OnceLock<bool>,
}

impl DecodedKey {
    fn new(key: &PublicKey) -> Option<Self> {
        VerifyingKey::from_bytes(key.as_bytes())
            .ok()
            .map(|vk| DecodedKey {
                vk,
                weak: vk.is_weak(),
                torsion_free: std::sync::OnceLock::new(),
            })
    }

    fn torsion_free(&self) -> bool {
        *self
            .torsion_free
            .get_or_init(|| self.vk.to_edwards().is_torsion_free())
    }
}

/// The weights' source once the transcript has absorbed the batch: it adds
/// nothing, so the weights are a function of the batch alone (as in
/// ed25519-dalek's `verify_batch`), and every verifier of a batch reaches
/// the same verdict.
struct NoEntropy;

impl rand_core::RngCore for NoEntropy {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, _dest: &mut [u8]) {}
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for NoEntropy {}

impl KeyCache {
    /// Decodes every key in `keys` once.
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a PublicKey>) -> Self {
        let mut c = KeyCache::default();
        for k in keys {
            c.keys.entry(*k).or_insert_with(|| DecodedKey::new(k));
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
    ///
    /// The batch equation is ed25519-dalek's `verify_batch`, with the same
    /// weights (drawn from a transcript of the batch), with one change that
    /// leaves its value as it is: the terms of one key are added into one.
    /// `-(sum z_i s_i) B + sum z_i R_i + sum z_i h_i A_i` becomes
    /// `... + sum over keys A of (sum of z_i h_i signed by A) A`, so a batch
    /// from a few signers multiplies about half as many points. Scalars are
    /// reduced modulo the group order, so the two are the same point only
    /// where `A` has no small-order component; the terms of a key that has
    /// one are kept apart, as in `verify_batch`. The verdict is therefore
    /// always `verify_batch`'s (tested against it, mixed-order keys
    /// included).
    pub fn verify_batch(&self, items: &[(PublicKey, &[u8], &Signature)]) -> bool {
        use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
        use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
        use curve25519_dalek::scalar::Scalar;
        use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
        use sha2::Sha512;

        let n = items.len();
        // Keys not in the cache are decoded here, once per batch.
        let mut uncached: std::collections::HashMap<PublicKey, Option<DecodedKey>> =
            std::collections::HashMap::new();
        for (key, _, _) in items {
            if !self.keys.contains_key(key) {
                uncached.entry(*key).or_insert_with(|| DecodedKey::new(key));
            }
        }
        let mut decoded = Vec::with_capacity(n);
        let mut hrams = Vec::with_capacity(n);
        let mut rs = Vec::with_capacity(n);
        for (key, msg, sig) in items {
            let Some(Some(d)) = self.keys.get(key).or_else(|| uncached.get(key)) else {
                return false;
            };
            if d.weak {
                return false;
            }
            let bytes = sig.as_bytes();
            let mut r = [0u8; 32];
            r.copy_from_slice(&bytes[..32]);
            if !canonical_point_encoding(&r) || small_order_encodings().contains(&r) {
                return false;
            }
            let Some(point) = CompressedEdwardsY(r).decompress() else {
                return false;
            };
            let mut h = Sha512::new();
            h.update(r);
            h.update(key.as_bytes());
            h.update(msg);
            hrams.push(<[u8; 64]>::from(h.finalize()));
            rs.push(point);
            decoded.push(d);
        }
        // The weights, exactly as `verify_batch` draws them.
        let mut transcript = merlin::Transcript::new(b"ed25519 batch verification");
        for hram in &hrams {
            transcript.append_message(b"hram", hram);
        }
        for (_, _, sig) in items {
            transcript.append_message(b"sig.s", &sig.as_bytes()[32..]);
        }
        let mut rng = transcript.build_rng().finalize(&mut NoEntropy);
        let mut b_coefficient = Scalar::ZERO;
        let mut zs = Vec::with_capacity(n);
        // The key terms: one per key that has no small-order component and
        // signs more than one item, one per item otherwise.
        let mut signs: std::collections::HashMap<&PublicKey, usize> =
            std::collections::HashMap::new();
        for (key, _, _) in items {
            *signs.entry(key).or_default() += 1;
        }
        let mut shared: std::collections::HashMap<&PublicKey, usize> =
            std::collections::HashMap::new();
        let mut key_scalars: Vec<Scalar> = Vec::new();
        let mut key_points: Vec<EdwardsPoint> = Vec::new();
        for (((key, _, sig), hram), d) in items.iter().zip(&hrams).zip(&decoded) {
            let mut w = [0u8; 16];
            rand_core::RngCore::fill_bytes(&mut rng, &mut w);
            let z = Scalar::from(u128::from_le_bytes(w));
            let mut s = [0u8; 32];
            s.copy_from_slice(&sig.as_bytes()[32..]);
            let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s)) else {
                return false;
            };
            b_coefficient += z * s;
            let zh = z * Scalar::from_bytes_mod_order_wide(hram);
            zs.push(z);
            let many = signs.get(key).is_some_and(|&c| c > 1);
            if many && d.torsion_free() {
                match shared.get(key) {
                    Some(&at) => {
                        if let Some(c) = key_scalars.get_mut(at) {
                            *c += zh;
                        }
                    }
                    None => {
                        shared.insert(key, key_scalars.len());
                        key_scalars.push(zh);
                        key_points.push(d.vk.to_edwards());
                    }
                }
            } else {
                key_scalars.push(zh);
                key_points.push(d.vk.to_edwards());
            }
        }
        let sum = EdwardsPoint::vartime_multiscalar_mul(
            std::iter::once(-b_coefficient).chain(zs).chain(key_scalars),
            std::iter::once(ED25519_BASEPOINT_POINT)
                .chain(rs)
                .chain(key_points),
        );
        sum.is_identity()
    }

    /// [`verify`], with the key decoded from the cache when it is there.
    pub fn verify(
        &self,
        key: &PublicKey,
        msg: &[u8],
        sig: &Signature,
    ) -> Result<(), SignatureError> {
        match self.keys.get(key) {
            Some(Some(d)) => {
                let s = ed25519_dalek::Signature::from_bytes(sig.as_bytes());
                d.vk.verify_strict(msg, &s)
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

    /// A key with a small-order component, `a B + T` (T of order 8), and
    /// signatures under it that `verify_strict` accepts: `R = r B - j T`
    /// with `r` tried until `h = H(R || A || m)` is `j` modulo 8, so that
    /// the small-order parts cancel in `s B = R + h A`.
    struct MixedKey {
        a: curve25519_dalek::scalar::Scalar,
        public: PublicKey,
    }

    impl MixedKey {
        fn new(seed: u64) -> Self {
            use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
            let a = curve25519_dalek::scalar::Scalar::from(seed.wrapping_mul(7919) + 3);
            let point = ED25519_BASEPOINT_POINT * a + EIGHT_TORSION[1];
            MixedKey {
                a,
                public: PublicKey::from(point.compress().to_bytes()),
            }
        }

        fn sign(&self, msg: &[u8]) -> Signature {
            use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
            use curve25519_dalek::scalar::Scalar;
            for k in 1u64.. {
                let r = Scalar::from(k) * Scalar::from(0x1234_5678_9abc_def1u64);
                let j = (k % 8) as u8;
                let big_r = ED25519_BASEPOINT_POINT * r - EIGHT_TORSION[1] * Scalar::from(j);
                let big_r = big_r.compress().to_bytes();
                let mut h = sha2::Sha512::new();
                h.update(big_r);
                h.update(self.public.as_bytes());
                h.update(msg);
                let h = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
                if h.as_bytes()[0] % 8 == j {
                    let s = r + h * self.a;
                    let mut b = [0u8; 64];
                    b[..32].copy_from_slice(&big_r);
                    b[32..].copy_from_slice(s.as_bytes());
                    return Signature::from(b);
                }
            }
            unreachable!("some r fits")
        }
    }

    #[test]
    fn a_key_with_a_small_order_part_signs_what_verify_strict_accepts() {
        let k = MixedKey::new(1);
        let vk = VerifyingKey::from_bytes(k.public.as_bytes()).unwrap();
        assert!(!vk.is_weak());
        assert!(!vk.to_edwards().is_torsion_free());
        let sig = k.sign(b"m");
        assert!(verify(&k.public, b"m", &sig).is_ok());
        assert!(verify(&k.public, b"x", &sig).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Adding a key's terms into one never changes the verdict of
        /// ed25519-dalek's batch equation, whichever keys sign (keys with
        /// a small-order component among them) and whatever is changed.
        #[test]
        fn a_batch_reaches_the_verdict_of_dalek_verify_batch(
            signers in proptest::collection::vec(0usize..4, 1..40),
            change in proptest::option::of((0usize..40, 0usize..96, 1u8..=255)),
        ) {
            let n = signers.len();
            let normal: Vec<Keypair> = (0..2u8).map(|i| Keypair::from_seed(&[i + 40; 32])).collect();
            let mixed: Vec<MixedKey> = (0..2u64).map(MixedKey::new).collect();
            let pubs: Vec<PublicKey> = normal
                .iter()
                .map(|k| k.public())
                .chain(mixed.iter().map(|k| k.public))
                .collect();
            let mut msgs: Vec<[u8; 32]> = (0..n).map(|i| sha256(&i.to_be_bytes()).0).collect();
            let mut sigs: Vec<Signature> = msgs
                .iter()
                .zip(&signers)
                .map(|(m, &k)| match k {
                    0 | 1 => normal[k].sign(m),
                    _ => mixed[k - 2].sign(m),
                })
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
            let cache = KeyCache::new(pubs.iter());
            let items: Vec<_> = (0..n)
                .map(|i| (pubs[signers[i]], &msgs[i][..], &sigs[i]))
                .collect();
            let refs: Vec<&[u8]> = msgs.iter().map(|m| &m[..]).collect();
            let dalek_sigs: Vec<_> = sigs
                .iter()
                .map(|s| ed25519_dalek::Signature::from_bytes(s.as_bytes()))
                .collect();
            let vks: Vec<VerifyingKey> = signers
                .iter()
                .map(|&k| VerifyingKey::from_bytes(pubs[k].as_bytes()).unwrap())
                .collect();
            let dalek = ed25519_dalek::verify_batch(&refs, &dalek_sigs, &vks).is_ok();
            // What the batch refuses before its equation (see verify_batch).
            let prechecked = sigs.iter().all(|s| {
                let mut r = [0u8; 32];
                r.copy_from_slice(&s.as_bytes()[..32]);
                canonical_point_encoding(&r) && !small_order_encodings().contains(&r)
            });
            proptest::prop_assert_eq!(cache.verify_batch(&items), dalek && prechecked);
            // Every valid signature verifies one by one, mixed keys too.
            if change.is_none() {
                proptest::prop_assert!(items.iter().all(|(k, m, s)| verify(k, m, s).is_ok()));
            }
        }
    }

    #[test]
    fn a_batch_from_one_signer_with_a_bad_signature_fails() {
        // Many signatures of one key share one term; a wrong one among
        // them still fails the batch, wherever it is.
        let k = Keypair::from_seed(&[60; 32]);
        let cache = KeyCache::new([&k.public()]);
        let msgs: Vec<[u8; 32]> = (0..200u32).map(|i| sha256(&i.to_be_bytes()).0).collect();
        let sigs: Vec<Signature> = msgs.iter().map(|m| k.sign(m)).collect();
        let items: Vec<_> = msgs
            .iter()
            .zip(&sigs)
            .map(|(m, s)| (k.public(), &m[..], s))
            .collect();
        assert!(cache.verify_batch(&items));
        for bad in [0, 99, 199] {
            let mut items = items.clone();
            items[bad].1 = &msgs[(bad + 1) % 200][..];
            assert!(!cache.verify_batch(&items), "item {bad}");
        }
        // A key not in the cache is decoded for the batch.
        assert!(KeyCache::default().verify_batch(&items));
    }

    #[test]
    fn empty_hash_is_sha256_of_nothing() {
        assert_eq!(
            sha256(b"").to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
