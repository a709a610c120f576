//! CSV exports for regulators' spreadsheets: organisations, campaigns,
//! donations (donor tags only), disbursements and allocations.
//!
//! Files are UTF-8 with a byte-order mark, so that spreadsheet software
//! opens the Chinese text correctly; amounts are written both in fen
//! (exact) and in yuan with two decimals.

use crate::kv::{KvError, KvRead};
use crate::query;

/// The UTF-8 byte-order mark.
pub const BOM: &[u8] = b"\xef\xbb\xbf";

/// Which donations and disbursements an export takes: all, or those
/// recorded in one civil year in China Standard Time, the year the annual
/// figures count them in (`compliance`). Organisations and campaigns are
/// always exported whole.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Period {
    /// Everything on the chain.
    #[default]
    All,
    /// Recorded in this year.
    Year(i32),
}

impl Period {
    /// Whether a record of block time `ms` belongs.
    pub fn holds(self, ms: u64) -> bool {
        match self {
            Period::All => true,
            Period::Year(y) => crate::time::year(ms) == y,
        }
    }
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The state could not be read.
    #[error(transparent)]
    Kv(#[from] KvError),
    /// Writing CSV failed.
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
}

impl ExportError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            ExportError::Kv(e) => e.code(),
            ExportError::Csv(_) => "export_failed",
        }
    }
}

/// Yuan with two decimals, no separators (spreadsheets parse it).
fn yuan(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

fn writer() -> csv::Writer<Vec<u8>> {
    csv::Writer::from_writer(BOM.to_vec())
}

fn finish(w: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, ExportError> {
    w.into_inner()
        .map_err(|e| ExportError::Csv(e.into_error().into()))
}

/// `organisations.csv`.
pub fn organisations<R: KvRead>(kv: &R) -> Result<Vec<u8>, ExportError> {
    let mut w = writer();
    w.write_record([
        "org_id",
        "name",
        "role",
        "public_fundraising",
        "region",
        "status",
        "registered_height",
    ])?;
    for o in query::orgs(kv, usize::MAX)? {
        w.write_record([
            o.org_id.as_str(),
            &o.name,
            o.role.as_str(),
            if o.public_fundraising {
                "true"
            } else {
                "false"
            },
            o.region.as_str(),
            o.status.as_str(),
            &o.registered_height.to_string(),
        ])?;
    }
    finish(w)
}

/// `campaigns.csv`.
pub fn campaigns<R: KvRead>(kv: &R) -> Result<Vec<u8>, ExportError> {
    let mut w = writer();
    w.write_record([
        "campaign_id",
        "charity",
        "title",
        "status",
        "filing_no",
        "starts_at",
        "ends_at",
        "target_fen",
        "raised_fen",
        "spent_fen",
        "refunded_fen",
        "unallocated_fen",
        "raised_yuan",
        "spent_yuan",
        "donations",
    ])?;
    for c in query::campaigns(kv, usize::MAX)? {
        w.write_record([
            c.campaign_id.as_str(),
            c.charity.as_str(),
            &c.title,
            c.status.as_str(),
            c.filing_no.as_deref().unwrap_or(""),
            &c.starts_at.to_string(),
            &c.ends_at.to_string(),
            &c.target.to_string(),
            &c.raised.to_string(),
            &c.spent.to_string(),
            &c.refunded.to_string(),
            &c.unallocated().to_string(),
            &yuan(c.raised),
            &yuan(c.spent),
            &c.donation_count.to_string(),
        ])?;
    }
    finish(w)
}

/// `donations.csv`: donor tags only, never codes or names beyond the
/// public display name the donor chose.
pub fn donations<R: KvRead>(kv: &R) -> Result<Vec<u8>, ExportError> {
    donations_in(kv, Period::All)
}

/// `donations.csv` of the donations recorded in `period`.
pub fn donations_in<R: KvRead>(kv: &R, period: Period) -> Result<Vec<u8>, ExportError> {
    let mut w = writer();
    w.write_record([
        "donation_id",
        "campaign_id",
        "donor",
        "display_name",
        "amount_fen",
        "amount_yuan",
        "channel",
        "restricted_line",
        "recorder",
        "received_at",
        "height",
        "allocated_fen",
        "refunded_fen",
    ])?;
    for c in query::campaigns(kv, usize::MAX)? {
        for d in query::campaign_donations(kv, &c.campaign_id, 0, usize::MAX)? {
            if !period.holds(d.time) {
                continue;
            }
            w.write_record([
                &d.donation_id.to_hex(),
                d.campaign_id.as_str(),
                &d.donor.to_string(),
                d.display_name.as_deref().unwrap_or(""),
                &d.amount.to_string(),
                &yuan(d.amount),
                &d.channel,
                &d.restricted_line
                    .as_ref()
                    .map_or(String::new(), |l| l.to_string()),
                d.recorder.as_str(),
                &d.received_at.to_string(),
                &d.height.to_string(),
                &d.allocated.to_string(),
                &d.refunded.to_string(),
            ])?;
        }
    }
    finish(w)
}

/// `disbursements.csv`.
pub fn disbursements<R: KvRead>(kv: &R) -> Result<Vec<u8>, ExportError> {
    disbursements_in(kv, Period::All)
}

/// `disbursements.csv` of the disbursements recorded in `period`.
pub fn disbursements_in<R: KvRead>(kv: &R, period: Period) -> Result<Vec<u8>, ExportError> {
    let mut w = writer();
    w.write_record([
        "disbursement_id",
        "campaign_id",
        "amount_fen",
        "amount_yuan",
        "category",
        "line",
        "recipient_kind",
        "recipient_id",
        "recipient_name",
        "purpose",
        "evidence_count",
        "time",
        "height",
        "grant_to",
    ])?;
    for c in query::campaigns(kv, usize::MAX)? {
        for x in query::campaign_disbursements(kv, &c.campaign_id, usize::MAX)? {
            if !period.holds(x.time) {
                continue;
            }
            let kind = serde_json::to_value(x.recipient.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            w.write_record([
                &x.disbursement_id.to_hex(),
                x.campaign_id.as_str(),
                &x.amount.to_string(),
                &yuan(x.amount),
                x.category.as_str(),
                x.line.as_str(),
                &kind,
                x.recipient.id.as_deref().unwrap_or(""),
                &x.recipient.name,
                &x.purpose,
                &x.evidence_count.to_string(),
                &x.time.to_string(),
                &x.height.to_string(),
                &x.grant_to.as_ref().map_or(String::new(), |g| g.to_string()),
            ])?;
        }
    }
    finish(w)
}

/// `allocations.csv`: which donation paid for which disbursement, to the fen.
pub fn allocations<R: KvRead>(kv: &R) -> Result<Vec<u8>, ExportError> {
    allocations_in(kv, Period::All)
}

/// `allocations.csv` of the disbursements recorded in `period`.
pub fn allocations_in<R: KvRead>(kv: &R, period: Period) -> Result<Vec<u8>, ExportError> {
    let mut w = writer();
    w.write_record([
        "disbursement_id",
        "donation_id",
        "amount_fen",
        "amount_yuan",
    ])?;
    for c in query::campaigns(kv, usize::MAX)? {
        for x in query::campaign_disbursements(kv, &c.campaign_id, usize::MAX)? {
            if !period.holds(x.time) {
                continue;
            }
            for r in query::allocations_of_disbursement(kv, &x.disbursement_id, usize::MAX)? {
                w.write_record([
                    &r.disbursement_id.to_hex(),
                    &r.donation_id.to_hex(),
                    &r.amount.to_string(),
                    &yuan(r.amount),
                ])?;
            }
        }
    }
    finish(w)
}

/// Every export, by file name.
pub fn all<R: KvRead>(kv: &R) -> Result<Vec<(&'static str, Vec<u8>)>, ExportError> {
    all_in(kv, Period::All)
}

/// Every export, by file name, with the donations, disbursements and
/// allocations of `period`.
pub fn all_in<R: KvRead>(
    kv: &R,
    period: Period,
) -> Result<Vec<(&'static str, Vec<u8>)>, ExportError> {
    Ok(vec![
        ("organisations.csv", organisations(kv)?),
        ("campaigns.csv", campaigns(kv)?),
        ("donations.csv", donations_in(kv, period)?),
        ("disbursements.csv", disbursements_in(kv, period)?),
        ("allocations.csv", allocations_in(kv, period)?),
    ])
}

#[cfg(test)]
mod tests {
    use super::Period;

    #[test]
    fn a_year_turns_at_midnight_in_china() {
        // 2026-01-01T00:00:00+08:00 is 2025-12-31T16:00:00Z.
        let new_year = 1_767_196_800_000;
        assert!(Period::Year(2026).holds(new_year));
        assert!(!Period::Year(2026).holds(new_year - 1));
        assert!(Period::Year(2025).holds(new_year - 1));
        assert!(Period::All.holds(new_year - 1));
    }
}
