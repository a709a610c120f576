//! Small validated identifiers: campaign ids, budget-line names, regions.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: {rule}")]
pub struct IdError {
    /// Which kind of identifier.
    pub what: &'static str,
    /// The input (truncated to 80 characters).
    pub value: String,
    /// The rule it breaks.
    pub rule: &'static str,
}

impl IdError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self.what {
            "campaign id" => "invalid_campaign_id",
            "budget line" => "invalid_budget_line",
            _ => "invalid_region",
        }
    }
}

fn check(
    what: &'static str,
    s: &str,
    min: usize,
    max: usize,
    ok: impl Fn(u8) -> bool,
    rule: &'static str,
) -> Result<(), IdError> {
    if s.len() < min || s.len() > max || !s.bytes().all(ok) {
        return Err(IdError {
            what,
            value: s.chars().take(80).collect(),
            rule,
        });
    }
    Ok(())
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $min:expr, $max:expr, $ok:expr, $rule:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps `s`.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                check($what, s, $min, $max, $ok, $rule)?;
                Ok($name(s.to_owned()))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_id!(
    /// A campaign id chosen by its charity: 1 to 64 characters of `a-z`,
    /// `0-9` and `-`, unique on the chain.
    CampaignId,
    "campaign id",
    1,
    64,
    |b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-',
    "1 to 64 characters of a-z, 0-9 and -"
);

string_id!(
    /// A budget line's name within a campaign: 1 to 32 characters of `a-z`,
    /// `0-9`, `-` and `_`.
    LineName,
    "budget line",
    1,
    32,
    |b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_',
    "1 to 32 characters of a-z, 0-9, - and _"
);

string_id!(
    /// A six-digit administrative division code (行政区划代码, GB/T 2260).
    Region,
    "region",
    6,
    6,
    |b| b.is_ascii_digit(),
    "six digits (行政区划代码)"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn campaign_ids() {
        assert!(CampaignId::parse("rural-lunch-2026").is_ok());
        for bad in ["", "Rural", "a b", "x_y", &"a".repeat(65)] {
            assert_eq!(
                CampaignId::parse(bad).unwrap_err().code(),
                "invalid_campaign_id"
            );
        }
        assert!(serde_json::from_str::<CampaignId>("\"ok-1\"").is_ok());
        assert!(serde_json::from_str::<CampaignId>("\"NO\"").is_err());
    }

    #[test]
    fn regions_are_six_digits() {
        assert!(Region::parse("440100").is_ok());
        assert!(Region::parse("44010").is_err());
        assert!(Region::parse("44010a").is_err());
    }
}
