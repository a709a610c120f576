//! Fixed-length byte strings written as lowercase hex on the wire.
//!
//! The design fixes binary values to lowercase hex of an exact length;
//! upper-case digits, odd lengths and wrong lengths are decoding errors, so
//! that every value has exactly one textual form (and one hash).

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// `N` raw bytes, encoded as `2 * N` lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HexBytes<const N: usize>(pub [u8; N]);

/// A SHA-256 digest: transaction ids, block hashes, evidence hashes.
pub type Hash = HexBytes<32>;
/// An Ed25519 public key (32 bytes, 64 hex characters).
pub type PublicKey = HexBytes<32>;
/// An Ed25519 signature (64 bytes, 128 hex characters).
pub type Signature = HexBytes<64>;
/// A transaction nonce (8 bytes, 16 hex characters).
pub type Nonce = HexBytes<8>;

/// Why a hex string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// The string does not have exactly `2 * N` characters.
    #[error("expected {expected} hex characters, got {got}")]
    WrongLength {
        /// Characters expected.
        expected: usize,
        /// Characters given.
        got: usize,
    },
    /// A character outside `0-9a-f`.
    #[error("invalid hex character {ch:?} at position {position} (only lowercase 0-9a-f)")]
    BadCharacter {
        /// Zero-based position of the character.
        position: usize,
        /// The character found.
        ch: char,
    },
}

impl HexError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        "invalid_hex"
    }
}

const DIGITS: &[u8; 16] = b"0123456789abcdef";

fn nibble(position: usize, c: u8) -> Result<u8, HexError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(HexError::BadCharacter {
            position,
            ch: char::from(c),
        }),
    }
}

impl<const N: usize> HexBytes<N> {
    /// All zero bytes.
    pub const ZERO: Self = HexBytes([0u8; N]);

    /// Parses exactly `2 * N` lowercase hex characters.
    pub fn parse(s: &str) -> Result<Self, HexError> {
        let b = s.as_bytes();
        if b.len() != 2 * N {
            return Err(HexError::WrongLength {
                expected: 2 * N,
                got: s.chars().count(),
            });
        }
        let mut out = [0u8; N];
        for (i, pair) in b.chunks_exact(2).enumerate() {
            out[i] = (nibble(2 * i, pair[0])? << 4) | nibble(2 * i + 1, pair[1])?;
        }
        Ok(HexBytes(out))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; N] {
        &self.0
    }

    /// Lowercase hex form.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(2 * N);
        for byte in self.0 {
            s.push(char::from(DIGITS[usize::from(byte >> 4)]));
            s.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
        }
        s
    }

    /// The first eight hex characters, for logs and short displays.
    pub fn short(&self) -> String {
        let mut s = self.to_hex();
        s.truncate(8);
        s
    }
}

impl<const N: usize> Default for HexBytes<N> {
    fn default() -> Self {
        Self::ZERO
    }
}

impl<const N: usize> From<[u8; N]> for HexBytes<N> {
    fn from(b: [u8; N]) -> Self {
        HexBytes(b)
    }
}

impl<const N: usize> fmt::Display for HexBytes<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl<const N: usize> fmt::Debug for HexBytes<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl<const N: usize> std::str::FromStr for HexBytes<N> {
    type Err = HexError;
    fn from_str(s: &str) -> Result<Self, HexError> {
        Self::parse(s)
    }
}

impl<const N: usize> Serialize for HexBytes<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

struct HexVisitor<const N: usize>;

impl<'de, const N: usize> Visitor<'de> for HexVisitor<N> {
    type Value = HexBytes<N>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} lowercase hex characters", 2 * N)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        HexBytes::parse(v).map_err(|e| E::custom(format_args!("invalid hex: {e}")))
    }
}

impl<'de, const N: usize> Deserialize<'de> for HexBytes<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(HexVisitor::<N>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_upper_case_and_wrong_length() {
        assert!(matches!(
            Hash::parse(&"A".repeat(64)),
            Err(HexError::BadCharacter { position: 0, .. })
        ));
        assert!(matches!(
            Hash::parse("ab"),
            Err(HexError::WrongLength {
                expected: 64,
                got: 2
            })
        ));
        assert!(Nonce::parse("00112233445566ff").is_ok());
    }

    proptest! {
        #[test]
        fn round_trips(bytes in any::<[u8; 32]>()) {
            let h = Hash::from(bytes);
            prop_assert_eq!(Hash::parse(&h.to_hex()).unwrap(), h);
            let json = serde_json::to_string(&h).unwrap();
            prop_assert_eq!(serde_json::from_str::<Hash>(&json).unwrap(), h);
        }
    }
}
