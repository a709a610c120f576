//! Donor codes and donor tags (design, "Identities (wire)").
//!
//! A donor has no key and no name on the chain. The platform or charity
//! gives them a random donor code; the chain records only its tag,
//! `hex(SHA-256("charity-ledger/v1/donor\n" || code))`, where `code` is the
//! grouped form printed on the receipt, e.g. `K7QF-2M9D-XR4T-8HWA-6PZN`
//! (20 Crockford base32 characters, 100 random bits, in groups of four).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::crypto::tagged_hash;
use crate::ids::CampaignId;

/// Domain tag of donor tags.
pub const DONOR_TAG_DOMAIN: &[u8] = b"charity-ledger/v1/donor\n";

/// Crockford's base32 alphabet (no I, L, O, U).
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Characters in a code, without dashes.
pub const CODE_CHARS: usize = 20;

/// Why a donor code or tag was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DonorCodeError {
    /// A character outside the alphabet.
    #[error("donor code: character {ch:?} at position {position} is not allowed (use 0-9 and A-Z without U)")]
    BadCharacter {
        /// 1-based position among the code's characters.
        position: usize,
        /// The character.
        ch: char,
    },
    /// Not 20 characters.
    #[error("donor code has {got} characters, it needs 20 (five groups of four)")]
    WrongLength {
        /// Characters given (dashes and spaces not counted).
        got: usize,
    },
    /// A tag that is not 64 lowercase hex characters.
    #[error("donor tag {0:?} must be 64 lowercase hex characters")]
    BadTag(String),
    /// A donor that is neither a tag nor `campaign:<id>`.
    #[error("donor {0:?} is neither a donor tag nor campaign:<id>")]
    BadDonor(String),
}

impl DonorCodeError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            DonorCodeError::BadCharacter { .. } | DonorCodeError::WrongLength { .. } => {
                "invalid_donor_code"
            }
            DonorCodeError::BadTag(_) | DonorCodeError::BadDonor(_) => "invalid_donor_tag",
        }
    }
}

/// A donor code in its printed, grouped form.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DonorCode(String);

impl DonorCode {
    /// A code from 13 random bytes (the first 100 bits are used). The
    /// caller brings the randomness.
    pub fn from_entropy(bytes: &[u8; 13]) -> Self {
        let mut chars = Vec::with_capacity(CODE_CHARS);
        for i in 0..CODE_CHARS {
            let bit = i * 5;
            let (byte, shift) = (bit / 8, bit % 8);
            let hi = u16::from(bytes[byte]);
            let lo = u16::from(bytes.get(byte + 1).copied().unwrap_or(0));
            let v = ((hi << 8 | lo) >> (11 - shift)) & 0x1f;
            chars.push(ALPHABET[usize::from(v)]);
        }
        DonorCode(group(&chars))
    }

    /// Reads a code as a person types it: case, spaces and dashes do not
    /// matter, and O, I and L are read as 0, 1 and 1.
    pub fn parse(s: &str) -> Result<Self, DonorCodeError> {
        let mut chars = Vec::with_capacity(CODE_CHARS);
        for ch in s.chars() {
            if ch == '-' || ch.is_whitespace() {
                continue;
            }
            let c = match ch.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                c => c,
            };
            if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
                return Err(DonorCodeError::BadCharacter {
                    position: chars.len() + 1,
                    ch,
                });
            }
            chars.push(c as u8);
            if chars.len() > CODE_CHARS {
                break;
            }
        }
        if chars.len() != CODE_CHARS {
            return Err(DonorCodeError::WrongLength { got: chars.len() });
        }
        Ok(DonorCode(group(&chars)))
    }

    /// The grouped form, `XXXX-XXXX-XXXX-XXXX-XXXX`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tag recorded on the chain.
    pub fn tag(&self) -> DonorTag {
        DonorTag(tagged_hash(DONOR_TAG_DOMAIN, self.0.as_bytes()).to_hex())
    }
}

fn group(chars: &[u8]) -> String {
    chars
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

impl fmt::Display for DonorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DonorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A donor code is a bearer secret for the donor's privacy: keep it
        // out of logs.
        f.write_str("DonorCode(****)")
    }
}

/// A donor tag: 64 lowercase hex characters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct DonorTag(String);

impl DonorTag {
    /// Validates exactly 64 lowercase hex characters.
    pub fn parse(s: &str) -> Result<Self, DonorCodeError> {
        if s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(DonorTag(s.to_owned()))
        } else {
            Err(DonorCodeError::BadTag(s.chars().take(80).collect()))
        }
    }

    /// The tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DonorTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DonorTag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DonorTag::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Who gave money: a donor (by tag), or another campaign (a grant), written
/// `campaign:<id>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Donor {
    /// A person or organisation known by their donor tag.
    Tag(DonorTag),
    /// A campaign that granted money.
    Campaign(CampaignId),
}

impl Donor {
    /// Reads a tag or `campaign:<id>`.
    pub fn parse(s: &str) -> Result<Self, DonorCodeError> {
        if let Some(id) = s.strip_prefix("campaign:") {
            return CampaignId::parse(id)
                .map(Donor::Campaign)
                .map_err(|_| DonorCodeError::BadDonor(s.chars().take(80).collect()));
        }
        DonorTag::parse(s).map(Donor::Tag)
    }

    /// True for a grant from another campaign.
    pub fn is_campaign(&self) -> bool {
        matches!(self, Donor::Campaign(_))
    }
}

impl fmt::Display for Donor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Donor::Tag(t) => f.write_str(t.as_str()),
            Donor::Campaign(c) => write!(f, "campaign:{c}"),
        }
    }
}

impl Serialize for Donor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Donor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Donor::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_tag() {
        // printf 'charity-ledger/v1/donor\nK7QF-2M9D-XR4T-8HWA-6PZN' | sha256sum
        let c = DonorCode::parse("K7QF-2M9D-XR4T-8HWA-6PZN").unwrap();
        assert_eq!(
            c.tag().as_str(),
            "e63d62d45013351a3cc73ad62b6a7ecee3ca53cabaf6a489e1e7056005bdbee5"
        );
    }

    #[test]
    fn typed_codes_are_read_leniently() {
        let want = "K7QF-2M9D-XR4T-8HWA-6PZN";
        for typed in [
            "k7qf 2m9d xr4t 8hwa 6pzn",
            "K7QF2M9DXR4T8HWA6PZN",
            "k7qf-2m9d-xr4t-8hwa-6pzn ",
        ] {
            assert_eq!(DonorCode::parse(typed).unwrap().as_str(), want, "{typed}");
        }
        assert_eq!(
            DonorCode::parse("oooo-iiii-llll-0000-1111")
                .unwrap()
                .as_str(),
            "0000-1111-1111-0000-1111"
        );
        assert!(matches!(
            DonorCode::parse("K7QF-2M9D"),
            Err(DonorCodeError::WrongLength { got: 8 })
        ));
        assert!(matches!(
            DonorCode::parse("U7QF-2M9D-XR4T-8HWA-6PZN"),
            Err(DonorCodeError::BadCharacter {
                position: 1,
                ch: 'U'
            })
        ));
        assert_eq!(
            DonorCode::parse("!").unwrap_err().code(),
            "invalid_donor_code"
        );
    }

    #[test]
    fn donors_round_trip_as_strings() {
        let t = DonorCode::parse("K7QF-2M9D-XR4T-8HWA-6PZN").unwrap().tag();
        let d = Donor::Tag(t.clone());
        assert_eq!(Donor::parse(&d.to_string()).unwrap(), d);
        let g = Donor::parse("campaign:flood-rebuild-xx").unwrap();
        assert_eq!(g.to_string(), "campaign:flood-rebuild-xx");
        assert!(Donor::parse("campaign:BAD").is_err());
        assert!(DonorTag::parse(&t.as_str().to_uppercase()).is_err());
    }

    proptest! {
        #[test]
        fn entropy_codes_round_trip(e in any::<[u8; 13]>(), f in any::<[u8; 13]>()) {
            let c = DonorCode::from_entropy(&e);
            prop_assert_eq!(c.as_str().len(), 24);
            prop_assert_eq!(DonorCode::parse(c.as_str()).unwrap(), c.clone());
            prop_assert_eq!(DonorCode::parse(&c.as_str().to_lowercase()).unwrap().tag(), c.tag());
            // Different first 100 bits give different codes.
            let mut f2 = f;
            f2[12] = (f2[12] & 0x0f) | (e[12] & 0xf0);
            if e[..12] != f2[..12] || (e[12] & 0xf0) != (f2[12] & 0xf0) {
                prop_assert_ne!(DonorCode::from_entropy(&e), DonorCode::from_entropy(&f2));
            }
        }
    }
}
