//! Amounts typed in yuan, converted exactly to fen (never through floating
//! point), and fen shown as yuan.

use charity_ledger::json::MAX_SAFE_INTEGER;

/// Why an amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid amount {input:?}: {reason}")]
pub struct AmountError {
    /// What was typed.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl AmountError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        "invalid_amount"
    }
}

/// Parses yuan like `100`, `100.5`, `100.50` or `1,234.56` into fen.
/// Refuses more than two decimals, signs, zero and anything above 2^53-1 fen.
pub fn parse_yuan(input: &str) -> Result<u64, AmountError> {
    let err = |reason| AmountError {
        input: input.chars().take(40).collect(),
        reason,
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err("empty"));
    }
    if s.starts_with('-') || s.starts_with('+') {
        return Err(err("amounts have no sign"));
    }
    let (whole, frac) = match s.split_once('.') {
        Some((w, f)) => (w, f),
        None => (s, ""),
    };
    if frac.len() > 2 {
        return Err(err("at most two decimals (fen)"));
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err("not a number"));
    }
    // Thousands separators are accepted only in groups of three.
    let groups: Vec<&str> = whole.split(',').collect();
    if groups
        .iter()
        .any(|g| g.is_empty() || !g.bytes().all(|b| b.is_ascii_digit()))
        || groups.iter().skip(1).any(|g| g.len() != 3)
    {
        return Err(err("not a number"));
    }
    let digits: String = groups.concat();
    let yuan: u64 = digits.parse().map_err(|_| err("too large"))?;
    let fen_part: u64 = match frac.len() {
        0 => 0,
        1 => u64::from(frac.as_bytes()[0] - b'0') * 10,
        _ => frac.parse().map_err(|_| err("not a number"))?,
    };
    let fen = yuan
        .checked_mul(100)
        .and_then(|f| f.checked_add(fen_part))
        .filter(|f| *f <= MAX_SAFE_INTEGER)
        .ok_or_else(|| err("too large"))?;
    if fen == 0 {
        return Err(err("must be at least 0.01"));
    }
    Ok(fen)
}

/// Fen as yuan with two decimals and thousands separators: `1,234.50`.
pub fn format_yuan(fen: u64) -> String {
    let whole = (fen / 100).to_string();
    let mut out = String::with_capacity(whole.len() + whole.len() / 3 + 3);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{out}.{:02}", fen % 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn exact_conversion() {
        assert_eq!(parse_yuan("100"), Ok(10_000));
        assert_eq!(parse_yuan("100.5"), Ok(10_050));
        assert_eq!(parse_yuan("100.50"), Ok(10_050));
        assert_eq!(parse_yuan("1,234.56"), Ok(123_456));
        assert_eq!(parse_yuan("0.01"), Ok(1));
        for bad in [
            "1.234",
            "-5",
            "+5",
            "",
            "abc",
            "1,23",
            "1.2.3",
            "0",
            "0.00",
            "90071992547409.92",
            "1e3",
            " . ",
        ] {
            assert!(parse_yuan(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_yuan("1.234").unwrap_err().to_string(),
            "invalid amount \"1.234\": at most two decimals (fen)"
        );
        assert_eq!(format_yuan(123_456), "1,234.56");
        assert_eq!(format_yuan(5), "0.05");
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(fen in 1u64..=MAX_SAFE_INTEGER) {
            prop_assert_eq!(parse_yuan(&format_yuan(fen)), Ok(fen));
        }
    }
}
