//! Small view values the templates print: amounts in yuan, times, hashes
//! with a short form, labels of the ledger's enums.

use charity_ledger::kinds::{Category, OrgRole, OrgStatus, RecipientKind};
use charity_ledger::records::CampaignStatus;

use crate::i18n::{Lang, Text};

/// An amount in yuan with two decimals and thousands separators:
/// `1,234.56 元` in Chinese, `¥1,234.56` in English.
pub fn yuan(fen: u64, lang: Lang) -> String {
    let number = grouped(fen);
    match lang {
        Lang::Zh => format!("{number} 元"),
        Lang::En => format!("¥{number}"),
    }
}

/// `1,234.56` from fen, exactly (integer arithmetic only).
pub fn grouped(fen: u64) -> String {
    charity_sdk::amount::format_yuan(fen)
}

/// `part` as a whole percentage of `whole`, for bars (0 when `whole` is 0,
/// capped at 100).
pub fn percent(part: u64, whole: u64) -> u64 {
    if whole == 0 {
        return 0;
    }
    (u128::from(part) * 100 / u128::from(whole)).min(100) as u64
}

/// A ratio in basis points as `12.34%`.
pub fn basis_points(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "—".into();
    }
    let bp = u128::from(part) * 10_000 / u128::from(whole);
    format!("{}.{:02}%", bp / 100, bp % 100)
}

/// A hash or key: the full hex for copying and links, and a short form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashView {
    /// All of it.
    pub full: String,
    /// The first 10 and last 4 characters.
    pub short: String,
}

impl HashView {
    /// From anything printable as hex.
    pub fn new(h: impl std::fmt::Display) -> Self {
        let full = h.to_string();
        let short = if full.len() > 16 {
            format!(
                "{}…{}",
                full.get(..10).unwrap_or(&full),
                full.get(full.len() - 4..).unwrap_or("")
            )
        } else {
            full.clone()
        };
        HashView { full, short }
    }
}

/// A block time: Beijing time for readers without JavaScript; the script
/// turns `ms` into the viewer's local time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeView {
    /// Unix milliseconds.
    pub ms: u64,
    /// `2026-03-12 10:00`.
    pub text: String,
    /// `2026-03-12`.
    pub date: String,
    /// RFC 3339.
    pub iso: String,
}

impl TimeView {
    /// From Unix milliseconds.
    pub fn new(ms: u64) -> Self {
        let iso = charity_ledger::time::datetime(ms);
        let text = charity_ledger::time::china_time(ms)
            .map_or_else(|| iso.clone(), |t| t.format("%Y-%m-%d %H:%M").to_string());
        TimeView {
            ms,
            text,
            date: charity_ledger::time::date(ms),
            iso,
        }
    }
}

/// The label of a campaign status, and a CSS class for its badge.
pub fn campaign_status(s: CampaignStatus, t: &Text) -> (&'static str, &'static str) {
    match s {
        CampaignStatus::Pending => (t.status_pending, "pending"),
        CampaignStatus::Approved => (t.status_approved, "approved"),
        CampaignStatus::Rejected => (t.status_rejected, "rejected"),
        CampaignStatus::Closed => (t.status_closed, "closed"),
    }
}

/// The label of a spending category.
pub fn category(c: Category, t: &Text) -> &'static str {
    match c {
        Category::Program => t.cat_program,
        Category::Management => t.cat_management,
        Category::Fundraising => t.cat_fundraising,
    }
}

/// The label of an organisation's role.
pub fn role(r: OrgRole, t: &Text) -> &'static str {
    match r {
        OrgRole::Regulator => t.role_regulator,
        OrgRole::Charity => t.role_charity,
        OrgRole::Platform => t.role_platform,
        OrgRole::Auditor => t.role_auditor,
    }
}

/// The label of an organisation's status.
pub fn org_status(s: OrgStatus, t: &Text) -> &'static str {
    match s {
        OrgStatus::Active => t.org_status_active,
        OrgStatus::Suspended => t.org_status_suspended,
        OrgStatus::Revoked => t.org_status_revoked,
    }
}

/// The explorer link for a disbursement's recipient, if it has a page.
pub fn recipient_link(kind: RecipientKind, id: Option<&str>) -> Option<String> {
    match (kind, id) {
        (RecipientKind::Campaign, Some(id)) => Some(format!("/campaigns/{id}")),
        (RecipientKind::Org, Some(id)) => Some(format!("/orgs/{id}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_are_grouped_with_two_decimals() {
        assert_eq!(grouped(0), "0.00");
        assert_eq!(grouped(5), "0.05");
        assert_eq!(grouped(10_000), "100.00");
        assert_eq!(grouped(123_456_789), "1,234,567.89");
        assert_eq!(grouped(100_000_000), "1,000,000.00");
        assert_eq!(grouped(u64::MAX), "184,467,440,737,095,516.15");
        assert_eq!(yuan(3_760, Lang::Zh), "37.60 元");
        assert_eq!(yuan(50_000_000, Lang::En), "¥500,000.00");
    }

    #[test]
    fn percentages_and_ratios_are_integer_and_capped() {
        assert_eq!(percent(1, 3), 33);
        assert_eq!(percent(5, 0), 0);
        assert_eq!(percent(7, 5), 100);
        assert_eq!(basis_points(7, 10), "70.00%");
        assert_eq!(basis_points(1, 3), "33.33%");
        assert_eq!(basis_points(1, 0), "—");
    }

    #[test]
    fn hashes_have_a_short_form() {
        let h = HashView::new("0123456789abcdef0123456789abcdef");
        assert_eq!(h.short, "0123456789…cdef");
        assert_eq!(HashView::new("abc").short, "abc");
    }
}
