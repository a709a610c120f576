//! Compliance flags computed from the chain, for regulators.
//!
//! Each flag names its rule, the organisation or campaign, the numbers, and
//! the transactions involved. The thresholds of the annual ratios are in one
//! table, [`RATIO_RULES`], with their source, so they can be updated when
//! the rules change. The time of the check comes in as an argument: this
//! crate has no clock.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::hex::Hash;
use crate::kinds::Category;
use crate::kv::{KvError, KvRead};
use crate::org_id::OrgId;
use crate::query;
use crate::records::{CampaignRecord, CampaignStatus, DonationRecord, OrgRecord};

/// How serious a flag is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagSeverity {
    /// Worth a look.
    Notice,
    /// A rule is probably broken.
    Warning,
    /// A rule is broken.
    Violation,
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Flag {
    /// Stable rule code, e.g. `late_filing`.
    pub rule: &'static str,
    /// How serious.
    pub severity: FlagSeverity,
    /// The organisation concerned.
    pub org_id: OrgId,
    /// The campaign concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<String>,
    /// The numbers behind the finding (fen, milliseconds, basis points).
    pub numbers: BTreeMap<&'static str, u64>,
    /// The transactions involved.
    pub txs: Vec<Hash>,
    /// What is wrong, in words.
    pub message: String,
}

/// Annual spending rules for one kind of organisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RatioRule {
    /// Which organisations: the credit code's second character (3:
    /// foundation (基金会), 1: social group (社会团体), 2: social service
    /// organisation (社会服务机构)) and the public-fundraising qualification.
    pub org_type: char,
    /// Holds the public-fundraising qualification.
    pub public_fundraising: bool,
    /// Charitable-activity spending at least this share (basis points) of
    /// the previous year's income.
    pub min_program_bp: u64,
    /// Management costs at most this share (basis points) of the year's
    /// total spending.
    pub max_management_bp: u64,
}

/// The annual ratios of the Charity Law (慈善法, art. 60 / 2023 art. 61) and
/// of the Ministry of Civil Affairs, Ministry of Finance and State Taxation
/// Administration's 2016 rules on charitable organisations' annual
/// charitable-activity spending and management costs (《关于慈善组织开展慈善
/// 活动年度支出和管理费用的规定》), articles 6 and 7, for organisations with
/// the public-fundraising qualification. Organisations without it are
/// measured against their net assets (articles 8-10), which the chain does
/// not record; they are not flagged here.
pub const RATIO_RULES: [RatioRule; 3] = [
    RatioRule {
        org_type: '3',
        public_fundraising: true,
        min_program_bp: 7_000,
        max_management_bp: 1_000,
    },
    RatioRule {
        org_type: '1',
        public_fundraising: true,
        min_program_bp: 7_000,
        max_management_bp: 1_300,
    },
    RatioRule {
        org_type: '2',
        public_fundraising: true,
        min_program_bp: 7_000,
        max_management_bp: 1_300,
    },
];

/// Management costs below this (200,000.00 yuan) are exempt from the
/// management-cost ratio (2016 rules, article 11).
pub const MANAGEMENT_EXEMPT_BELOW: u64 = 200_000_00;

/// What the check may be tuned with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComplianceConfig {
    /// The moment of the check (ms); the chain's latest block time, usually.
    pub now: u64,
    /// Longest silence without a progress report while holding money.
    pub report_interval_ms: u64,
    /// A single donation without a display name above this is flagged.
    pub large_anonymous_fen: u64,
}

impl ComplianceConfig {
    /// The defaults: reports at least every 90 days, anonymous donations
    /// above 50,000.00 yuan flagged.
    pub fn at(now: u64) -> Self {
        ComplianceConfig {
            now,
            report_interval_ms: 90 * DAY,
            large_anonymous_fen: 50_000_00,
        }
    }
}

const DAY: u64 = 86_400_000;
/// Filing is due 10 days before a campaign starts (an emergency campaign:
/// within 10 days after it starts), 慈善组织公开募捐管理办法 art. 10-11.
const FILING_LEAD: u64 = 10 * DAY;
/// A closing report is due within 3 months of a campaign's end.
const CLOSING_REPORT_DUE: u64 = 90 * DAY;

/// The civil year (China Standard Time) of a Unix-millisecond time.
pub fn year_of(ms: u64) -> i32 {
    crate::time::year(ms)
}

fn flag(
    rule: &'static str,
    severity: FlagSeverity,
    c: &CampaignRecord,
    numbers: &[(&'static str, u64)],
    txs: Vec<Hash>,
    message: String,
) -> Flag {
    Flag {
        rule,
        severity,
        org_id: c.charity.clone(),
        campaign_id: Some(c.campaign_id.to_string()),
        numbers: numbers.iter().copied().collect(),
        txs,
        message,
    }
}

/// One organisation's money in one civil year (fen), as the annual ratios
/// count it: income by block time of the donation (grants received
/// included), spending by block time of the disbursement and its category.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Annual {
    /// Donations and grants received.
    pub income: u64,
    /// Charitable-activity (program) spending.
    pub program: u64,
    /// Management costs.
    pub management: u64,
    /// Fundraising costs.
    pub fundraising: u64,
}

impl Annual {
    /// All spending.
    pub fn total_spending(&self) -> u64 {
        self.program + self.management + self.fundraising
    }

    /// Counts `amount` of spending in `category`.
    fn spend(&mut self, category: Category, amount: u64) {
        match category {
            Category::Program => self.program += amount,
            Category::Management => self.management += amount,
            Category::Fundraising => self.fundraising += amount,
        }
    }
}

/// The ratio rule that applies to an organisation, if any.
pub fn ratio_rule(org: &OrgRecord) -> Option<&'static RatioRule> {
    let org_type = org.org_id.as_str().chars().nth(1).unwrap_or(' ');
    RATIO_RULES
        .iter()
        .find(|r| r.org_type == org_type && r.public_fundraising == org.public_fundraising)
}

/// An organisation's income and spending per year, over all its campaigns.
pub fn annual_figures<R: KvRead>(kv: &R, org: &OrgId) -> Result<BTreeMap<i32, Annual>, KvError> {
    let mut out: BTreeMap<i32, Annual> = BTreeMap::new();
    for id in query::org_campaigns(kv, org, usize::MAX)? {
        for d in query::campaign_donations(kv, &id, 0, usize::MAX)? {
            out.entry(year_of(d.time)).or_default().income += d.amount;
        }
        for x in query::campaign_disbursements(kv, &id, usize::MAX)? {
            out.entry(year_of(x.time))
                .or_default()
                .spend(x.category, x.amount);
        }
    }
    Ok(out)
}

/// Every flag the chain raises at `cfg.now`, sorted by organisation, rule
/// and campaign.
pub fn flags<R: KvRead>(kv: &R, cfg: &ComplianceConfig) -> Result<Vec<Flag>, KvError> {
    review(kv, cfg).map(|r| r.flags)
}

/// What a regulator's overview shows: every flag, and every
/// organisation's [`annual_figures`], from one pass over the chain's
/// state.
#[derive(Clone, Debug, Default)]
pub struct Review {
    /// Every flag, sorted as [`flags`] sorts them.
    pub flags: Vec<Flag>,
    /// Each organisation's money per civil year (organisations that have
    /// neither income nor spending are absent).
    pub annual: BTreeMap<OrgId, BTreeMap<i32, Annual>>,
}

/// Every flag the chain raises at `cfg.now`, and each organisation's
/// annual figures. Donations are read in one pass over their table in key
/// order (following each campaign's index instead costs a random read
/// per donation: most of a quarter of a minute for a million of them on a
/// store opened for an audit); the flags are sorted at the end, so the
/// order of reading does not show.
pub fn review<R: KvRead>(kv: &R, cfg: &ComplianceConfig) -> Result<Review, KvError> {
    let mut out = Vec::new();
    // Income and spending per organisation and year: the figures the
    // ratios are judged on, and the ones the review returns.
    let mut annual: BTreeMap<OrgId, BTreeMap<i32, Annual>> = BTreeMap::new();
    let campaigns = query::campaigns(kv, usize::MAX)?;
    let by_id: std::collections::HashMap<&str, &CampaignRecord> = campaigns
        .iter()
        .map(|c| (c.campaign_id.as_str(), c))
        .collect();
    query::each_donation(kv, |d| {
        let c = by_id
            .get(d.campaign_id.as_str())
            .ok_or_else(|| KvError::Corrupt {
                key: format!("donation {}", d.donation_id),
                reason: format!("its campaign {} is not stored", d.campaign_id),
            })?;
        year_entry(&mut annual, &c.charity, d.time).income += d.amount;
        donation_flags(cfg, c, &d, &mut out);
        Ok(())
    })?;
    for c in &campaigns {
        campaign_flags(kv, cfg, c, &mut out, &mut annual)?;
    }
    for org in query::orgs(kv, usize::MAX)? {
        let (Some(rule), Some(figures)) = (ratio_rule(&org), annual.get(&org.org_id)) else {
            continue;
        };
        // Only completed years are judged: each year with spending, and
        // each year after one with income (amounts are never zero).
        let this_year = year_of(cfg.now);
        let years: std::collections::BTreeSet<i32> = figures
            .iter()
            .flat_map(|(y, a)| {
                [
                    (a.total_spending() > 0).then_some(*y),
                    (a.income > 0).then_some(*y + 1),
                ]
            })
            .flatten()
            .filter(|y| *y < this_year)
            .collect();
        for year in years {
            let a = figures.get(&year).copied().unwrap_or_default();
            let (program, management, total) = (a.program, a.management, a.total_spending());
            let prev_income = figures.get(&(year - 1)).map_or(0, |p| p.income);
            let nums = |extra: &[(&'static str, u64)]| -> BTreeMap<&'static str, u64> {
                let mut m: BTreeMap<&'static str, u64> = extra.iter().copied().collect();
                m.insert("year", u64::try_from(year).unwrap_or(0));
                m
            };
            if prev_income > 0
                && u128::from(program) * 10_000
                    < u128::from(prev_income) * u128::from(rule.min_program_bp)
            {
                out.push(Flag {
                    rule: "program_spending_ratio",
                    severity: FlagSeverity::Violation,
                    org_id: org.org_id.clone(),
                    campaign_id: None,
                    numbers: nums(&[("program_spending", program), ("previous_year_income", prev_income), ("minimum_bp", rule.min_program_bp)]),
                    txs: Vec::new(),
                    message: format!(
                        "{year}: charitable spending {program} fen is below {}% of {}'s income of {prev_income} fen",
                        rule.min_program_bp / 100,
                        year - 1
                    ),
                });
            }
            if management >= MANAGEMENT_EXEMPT_BELOW
                && u128::from(management) * 10_000
                    > u128::from(total) * u128::from(rule.max_management_bp)
            {
                out.push(Flag {
                    rule: "management_cost_ratio",
                    severity: FlagSeverity::Violation,
                    org_id: org.org_id.clone(),
                    campaign_id: None,
                    numbers: nums(&[("management", management), ("total_spending", total), ("maximum_bp", rule.max_management_bp)]),
                    txs: Vec::new(),
                    message: format!(
                        "{year}: management costs {management} fen exceed {}% of total spending {total} fen",
                        rule.max_management_bp / 100
                    ),
                });
            }
        }
    }
    out.sort_by(|a, b| {
        (&a.org_id, a.rule, &a.campaign_id, &a.txs).cmp(&(
            &b.org_id,
            b.rule,
            &b.campaign_id,
            &b.txs,
        ))
    });
    Ok(Review { flags: out, annual })
}

/// `org`'s figures for the civil year of block time `time`.
fn year_entry<'a>(
    annual: &'a mut BTreeMap<OrgId, BTreeMap<i32, Annual>>,
    org: &OrgId,
    time: u64,
) -> &'a mut Annual {
    annual
        .entry(org.clone())
        .or_default()
        .entry(year_of(time))
        .or_default()
}

fn campaign_flags<R: KvRead>(
    kv: &R,
    cfg: &ComplianceConfig,
    c: &CampaignRecord,
    out: &mut Vec<Flag>,
    annual: &mut BTreeMap<OrgId, BTreeMap<i32, Annual>>,
) -> Result<(), KvError> {
    use FlagSeverity::*;
    // Filing in time.
    if c.emergency {
        if c.filed_at > c.starts_at.saturating_add(FILING_LEAD) {
            out.push(flag(
                "late_filing",
                Violation,
                c,
                &[("filed_at", c.filed_at), ("starts_at", c.starts_at)],
                vec![c.filed_tx],
                format!(
                    "emergency campaign {} was filed more than 10 days after it started",
                    c.campaign_id
                ),
            ));
        }
    } else if c.filed_at.saturating_add(FILING_LEAD) > c.starts_at {
        out.push(flag(
            "late_filing",
            Violation,
            c,
            &[("filed_at", c.filed_at), ("starts_at", c.starts_at)],
            vec![c.filed_tx],
            format!(
                "campaign {} was filed fewer than 10 days before it started",
                c.campaign_id
            ),
        ));
    }
    // A closing report within three months of the end.
    if c.status == CampaignStatus::Approved
        && cfg.now > c.ends_at.saturating_add(CLOSING_REPORT_DUE)
    {
        out.push(flag(
            "no_closing_report",
            Violation,
            c,
            &[("ends_at", c.ends_at), ("now", cfg.now)],
            vec![c.filed_tx],
            format!(
                "campaign {} ended more than 3 months ago and has no closing report",
                c.campaign_id
            ),
        ));
    }
    // Silence while holding money.
    if matches!(c.status, CampaignStatus::Approved | CampaignStatus::Closed) && c.unallocated() > 0
    {
        let since = c.last_report_at.or(c.decided_at).unwrap_or(c.filed_at);
        if cfg.now > since.saturating_add(cfg.report_interval_ms) {
            out.push(flag(
                "no_progress_report",
                Warning,
                c,
                &[
                    ("last_report_at", since),
                    ("unallocated", c.unallocated()),
                    ("interval_ms", cfg.report_interval_ms),
                ],
                Vec::new(),
                format!(
                    "campaign {} holds {} fen and has published no progress report for {} days",
                    c.campaign_id,
                    c.unallocated(),
                    (cfg.now - since) / DAY
                ),
            ));
        }
    }
    let mut spent_by_line: BTreeMap<String, u64> = BTreeMap::new();
    for x in query::campaign_disbursements(kv, &c.campaign_id, usize::MAX)? {
        year_entry(annual, &c.charity, x.time).spend(x.category, x.amount);
        let spent = spent_by_line.entry(x.line.to_string()).or_insert(0);
        *spent += x.amount;
        if let Some(b) = c.line(&x.line) {
            if *spent > b.amount {
                out.push(flag(
                    "budget_line_exceeded",
                    Violation,
                    c,
                    &[("budget", b.amount), ("spent", *spent)],
                    vec![x.disbursement_id],
                    format!(
                        "spending on line {} of {} exceeds its budget",
                        x.line, c.campaign_id
                    ),
                ));
            }
        }
        if x.evidence_count == 0 {
            out.push(flag(
                "disbursement_without_evidence",
                Warning,
                c,
                &[("amount", x.amount)],
                vec![x.disbursement_id],
                format!(
                    "disbursement {} of {} fen from {} cites no evidence",
                    x.disbursement_id.short(),
                    x.amount,
                    c.campaign_id
                ),
            ));
        }
        if c.closed_at.is_some_and(|t| x.time > t) && x.grant_to.is_none() {
            out.push(flag(
                "spending_after_close",
                Warning,
                c,
                &[
                    ("amount", x.amount),
                    ("closed_at", c.closed_at.unwrap_or(0)),
                ],
                vec![x.disbursement_id],
                format!(
                    "disbursement {} from {} was made after the campaign closed",
                    x.disbursement_id.short(),
                    c.campaign_id
                ),
            ));
        }
    }
    Ok(())
}

/// The flags one donation raises (none for a grant between campaigns).
fn donation_flags(
    cfg: &ComplianceConfig,
    c: &CampaignRecord,
    d: &DonationRecord,
    out: &mut Vec<Flag>,
) {
    use FlagSeverity::*;
    if d.is_grant() {
        return;
    }
    if d.time < c.starts_at || d.received_at > c.ends_at || d.received_at < c.starts_at {
        out.push(flag(
            "donation_outside_window",
            Violation,
            c,
            &[
                ("received_at", d.received_at),
                ("starts_at", c.starts_at),
                ("ends_at", c.ends_at),
            ],
            vec![d.donation_id],
            format!(
                "donation {} to {} was received outside the approved window",
                d.donation_id.short(),
                c.campaign_id
            ),
        ));
    } else if d.time > c.ends_at {
        out.push(flag(
            "donation_recorded_after_window",
            Notice,
            c,
            &[
                ("received_at", d.received_at),
                ("recorded_at", d.time),
                ("ends_at", c.ends_at),
            ],
            vec![d.donation_id],
            format!(
                "donation {} to {} was recorded after the window closed",
                d.donation_id.short(),
                c.campaign_id
            ),
        ));
    }
    if d.recorder != c.charity && !c.platforms.contains(&d.recorder) {
        out.push(flag(
            "platform_not_listed",
            Violation,
            c,
            &[("amount", d.amount)],
            vec![d.donation_id],
            format!(
                "donation {} was recorded by {}, which campaign {} does not list",
                d.donation_id.short(),
                d.recorder,
                c.campaign_id
            ),
        ));
    }
    if d.display_name.is_none() && d.amount > cfg.large_anonymous_fen {
        out.push(flag(
            "large_anonymous_donation",
            Notice,
            c,
            &[("amount", d.amount), ("threshold", cfg.large_anonymous_fen)],
            vec![d.donation_id],
            format!(
                "anonymous donation of {} fen to {}",
                d.amount, c.campaign_id
            ),
        ));
    }
}
