//! Organisation ids: 18-character Unified Social Credit Codes
//! (统一社会信用代码, GB 32100-2015), check character validated.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// The code's alphabet (GB 32100-2015 table 1): digits and upper-case
/// letters without I, O, S, V and Z; a character's value is its position.
pub const ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Weights of positions 1 to 17: 3^(i-1) mod 31 (GB 32100-2015, 5.2).
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Why a credit code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrgIdError {
    /// Not 18 characters.
    #[error("credit code {input:?} has {got} characters, it needs 18")]
    WrongLength {
        /// The input (truncated).
        input: String,
        /// Characters given.
        got: usize,
    },
    /// A character outside the alphabet.
    #[error("credit code {input:?}: character {ch:?} at position {position} is not allowed (0-9 and A-Z without I, O, S, V, Z; upper case)")]
    BadCharacter {
        /// The input (truncated).
        input: String,
        /// 1-based position.
        position: usize,
        /// The character.
        ch: char,
    },
    /// Positions 3 to 8 are not a six-digit division code.
    #[error(
        "credit code {input:?}: positions 3-8 must be the six-digit administrative division code"
    )]
    BadDivision {
        /// The input.
        input: String,
    },
    /// The check character does not match.
    #[error("credit code {input:?}: check character is {got:?}, expected {expected:?}")]
    CheckMismatch {
        /// The input.
        input: String,
        /// The correct check character.
        expected: char,
        /// The one given.
        got: char,
    },
}

impl OrgIdError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        "invalid_org_id"
    }
}

fn value(c: char) -> Option<u32> {
    ALPHABET.find(c).map(|i| i as u32)
}

/// The check character for the first 17 characters of a code
/// (GB 32100-2015, 5.2: C18 = 31 - (sum of Ci * Wi mod 31), 31 mapping to 0).
pub fn check_character(first17: &str) -> Result<char, OrgIdError> {
    // The input is echoed in errors only; it is copied when one is made.
    let input = || first17.chars().take(40).collect::<String>();
    let n = first17.chars().count();
    if n != 17 {
        return Err(OrgIdError::WrongLength {
            input: input(),
            got: n + 1,
        });
    }
    let mut sum = 0u32;
    for (i, (c, w)) in first17.chars().zip(WEIGHTS).enumerate() {
        let v = value(c).ok_or_else(|| OrgIdError::BadCharacter {
            input: input(),
            position: i + 1,
            ch: c,
        })?;
        if (2..8).contains(&i) && !c.is_ascii_digit() {
            return Err(OrgIdError::BadDivision { input: input() });
        }
        sum += v * w;
    }
    let check = (31 - sum % 31) % 31;
    ALPHABET
        .chars()
        .nth(check as usize)
        .ok_or_else(|| OrgIdError::BadDivision { input: input() })
}

/// An organisation's Unified Social Credit Code.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct OrgId(String);

impl OrgId {
    /// Validates an 18-character code (exact, upper case).
    pub fn parse(s: &str) -> Result<Self, OrgIdError> {
        let n = s.chars().count();
        if n != 18 {
            return Err(OrgIdError::WrongLength {
                input: s.chars().take(40).collect(),
                got: n,
            });
        }
        let (body, last) = s.split_at(s.len() - s.chars().last().map_or(0, char::len_utf8));
        let expected = check_character(body).map_err(|e| match e {
            OrgIdError::WrongLength { .. } => OrgIdError::WrongLength {
                input: s.to_owned(),
                got: n,
            },
            other => other,
        })?;
        let got = last.chars().next().unwrap_or(' ');
        if value(got).is_none() {
            return Err(OrgIdError::BadCharacter {
                input: s.to_owned(),
                position: 18,
                ch: got,
            });
        }
        if got != expected {
            return Err(OrgIdError::CheckMismatch {
                input: s.to_owned(),
                expected,
                got,
            });
        }
        Ok(OrgId(s.to_owned()))
    }

    /// Builds a valid code from its first 17 characters.
    pub fn from_parts(first17: &str) -> Result<Self, OrgIdError> {
        let c = check_character(first17)?;
        Ok(OrgId(format!("{first17}{c}")))
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The six-digit administrative division (positions 3-8).
    pub fn division(&self) -> &str {
        self.0.get(2..8).unwrap_or_default()
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl std::str::FromStr for OrgId {
    type Err = OrgIdError;
    fn from_str(s: &str) -> Result<Self, OrgIdError> {
        Self::parse(s)
    }
}

impl<'de> Deserialize<'de> for OrgId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        OrgId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A second implementation, written from the standard's formula with
    /// explicit powers, to cross-check the table of weights.
    fn reference_check(body: &str) -> char {
        let alphabet: Vec<char> = ALPHABET.chars().collect();
        let mut sum = 0u64;
        for (i, c) in body.chars().enumerate() {
            let v = alphabet.iter().position(|x| *x == c).unwrap() as u64;
            sum += v * 3u64.pow(i as u32) % 31;
        }
        alphabet[((31 - sum % 31) % 31) as usize]
    }

    #[test]
    fn published_codes_verify() {
        // Codes printed on public registration certificates.
        for code in ["91350100M000100Y43", "911100001000013958"] {
            let body = &code[..17];
            assert_eq!(
                check_character(body).unwrap(),
                reference_check(body),
                "{code}"
            );
        }
        assert!(OrgId::parse("91350100M000100Y43").is_ok());
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(matches!(
            OrgId::parse("123"),
            Err(OrgIdError::WrongLength { got: 3, .. })
        ));
        assert!(matches!(
            OrgId::parse("91350100m000100Y43"),
            Err(OrgIdError::BadCharacter { position: 9, .. })
        ));
        assert!(matches!(
            OrgId::parse("9135A100M000100Y43"),
            Err(OrgIdError::BadDivision { .. })
        ));
        assert!(matches!(
            OrgId::parse("91350100M000100Y44"),
            Err(OrgIdError::CheckMismatch {
                expected: '3',
                got: '4',
                ..
            })
        ));
        assert_eq!(OrgId::parse("x").unwrap_err().code(), "invalid_org_id");
        assert!(serde_json::from_str::<OrgId>("\"91350100M000100Y44\"").is_err());
    }

    fn body() -> impl Strategy<Value = String> {
        let a: Vec<char> = ALPHABET.chars().collect();
        let d: Vec<char> = "0123456789".chars().collect();
        (
            proptest::collection::vec(proptest::sample::select(a.clone()), 2),
            proptest::collection::vec(proptest::sample::select(d), 6),
            proptest::collection::vec(proptest::sample::select(a), 9),
        )
            .prop_map(|(x, y, z)| x.into_iter().chain(y).chain(z).collect())
    }

    proptest! {
        #[test]
        fn built_codes_parse_and_catch_every_substitution(b in body(), pos in 0usize..18, pick in 0usize..31) {
            let id = OrgId::from_parts(&b).unwrap();
            prop_assert_eq!(id.as_str().chars().last().unwrap(), reference_check(&b));
            prop_assert!(OrgId::parse(id.as_str()).is_ok());
            // Any single substitution changes the weighted sum by a nonzero
            // multiple of a weight coprime to 31: always detected.
            let mut chars: Vec<char> = id.as_str().chars().collect();
            let new = ALPHABET.chars().nth(pick).unwrap();
            let division_ok = new.is_ascii_digit() || !(2..8).contains(&pos);
            if chars[pos] != new && division_ok {
                chars[pos] = new;
                let changed: String = chars.into_iter().collect();
                prop_assert!(OrgId::parse(&changed).is_err());
            }
        }
    }
}
