//! `charity tx KIND ...`: one subcommand per transaction kind, with
//! amounts in yuan (converted exactly to fen), dates as `YYYY-MM-DD`
//! (China time) or RFC 3339, and evidence given as files that are hashed
//! here (only the hash goes on the chain).

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use charity_ledger::hex::{Hash, PublicKey};
use charity_ledger::ids::{CampaignId, LineName, Region};
use charity_ledger::kinds::*;
use charity_ledger::org_id::OrgId;
use charity_ledger::TxKind;
use charity_sdk::amount;
use clap::Subcommand;
use serde::de::DeserializeOwned;

/// The transaction kinds.
#[derive(Subcommand, Debug)]
pub enum TxCommand {
    /// A regulator admits an organisation.
    RegisterOrg {
        #[arg(long)]
        org_id: String,
        #[arg(long)]
        name: String,
        /// regulator, charity, platform or auditor.
        #[arg(long)]
        role: String,
        #[arg(long)]
        public_fundraising: bool,
        /// A signing key (64 hex); repeat for several.
        #[arg(long = "key-pub", required = true)]
        keys: Vec<String>,
        /// 6-digit administrative division code.
        #[arg(long)]
        region: String,
    },
    /// A regulator suspends, restores or re-keys an organisation.
    UpdateOrg {
        #[arg(long)]
        org_id: String,
        /// active, suspended or revoked.
        #[arg(long)]
        status: String,
        #[arg(long)]
        public_fundraising: Option<bool>,
        #[arg(long)]
        add_key: Vec<String>,
        #[arg(long)]
        remove_key: Vec<String>,
    },
    /// A charity files a campaign.
    FileCampaign {
        #[arg(long)]
        campaign: String,
        #[arg(long)]
        title: String,
        #[arg(long)]
        description: String,
        /// Yuan.
        #[arg(long)]
        target: String,
        /// YYYY-MM-DD (China time, start of day) or RFC 3339.
        #[arg(long)]
        starts: String,
        /// YYYY-MM-DD (China time, end of day) or RFC 3339.
        #[arg(long)]
        ends: String,
        #[arg(long)]
        region: String,
        #[arg(long)]
        beneficiaries: String,
        /// NAME:CATEGORY:YUAN, e.g. meals:program:420000.00; repeat.
        #[arg(long = "line", required = true)]
        lines: Vec<String>,
        /// A platform's credit code; repeat.
        #[arg(long = "platform")]
        platforms: Vec<String>,
        #[arg(long)]
        leftover_plan: String,
        #[arg(long)]
        emergency: bool,
    },
    /// A regulator approves (or with --reject rejects) a filing.
    ApproveCampaign {
        #[arg(long)]
        campaign: String,
        #[arg(long)]
        filing_no: String,
        #[arg(long)]
        reject: bool,
        #[arg(long)]
        note: Option<String>,
    },
    /// Records a donation (a platform the campaign lists, or its charity).
    Donation {
        #[arg(long)]
        campaign: String,
        /// Yuan.
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        #[arg(long)]
        donor_code: String,
        #[arg(long, default_value = "wechat_pay")]
        channel: String,
        /// The payment reference; only its hash goes on the chain.
        #[arg(long)]
        payment_ref: String,
        /// When received (default now).
        #[arg(long)]
        received: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        restricted_line: Option<String>,
    },
    /// A charity pays out of a campaign.
    Disbursement {
        #[arg(long)]
        campaign: String,
        /// Yuan.
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        /// program, management or fundraising.
        #[arg(long)]
        category: String,
        #[arg(long)]
        line: String,
        /// org, campaign, vendor or person.
        #[arg(long)]
        recipient_kind: String,
        #[arg(long)]
        recipient_id: Option<String>,
        /// A person's name masked, e.g. 张*明.
        #[arg(long)]
        recipient_name: String,
        #[arg(long)]
        purpose: String,
        /// FILE or FILE=TITLE; the file is hashed here; repeat.
        #[arg(long)]
        evidence: Vec<String>,
    },
    /// Returns unallocated money of one donation.
    Refund {
        #[arg(long)]
        donation: String,
        /// Yuan.
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        #[arg(long)]
        reason: String,
    },
    /// A charity publishes progress.
    ProgressReport {
        #[arg(long)]
        campaign: String,
        #[arg(long)]
        title: String,
        #[arg(long)]
        body: String,
        /// FILE or FILE=TITLE; repeat.
        #[arg(long)]
        evidence: Vec<String>,
    },
    /// Closes a campaign with its final report.
    CloseCampaign {
        #[arg(long)]
        campaign: String,
        #[arg(long)]
        summary: String,
    },
    /// A public correction of one's own earlier transaction.
    Correction {
        #[arg(long)]
        target_tx: String,
        #[arg(long)]
        note: String,
    },
    /// A regulator's or auditor's finding on a tx, campaign or organisation.
    AuditNote {
        #[arg(long)]
        subject: String,
        /// info, warning or critical.
        #[arg(long)]
        severity: String,
        #[arg(long)]
        finding: String,
    },
    /// A regulator sets the validators from the next height.
    SetValidators {
        /// PUBKEY:POWER:ORG_ID; repeat.
        #[arg(long = "validator", required = true)]
        validators: Vec<String>,
    },
}

/// A wire enum value from its snake_case name.
fn wire<T: DeserializeOwned>(what: &str, s: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| anyhow!("{what} {s:?} is not one of the allowed values"))
}

fn org(s: &str) -> Result<OrgId> {
    OrgId::parse(s).map_err(|e| anyhow!("{e}"))
}

fn campaign(s: &str) -> Result<CampaignId> {
    CampaignId::parse(s).map_err(|e| anyhow!("campaign {s:?}: {e}"))
}

fn line(s: &str) -> Result<LineName> {
    LineName::parse(s).map_err(|e| anyhow!("line {s:?}: {e}"))
}

fn key(s: &str) -> Result<PublicKey> {
    PublicKey::parse(s).map_err(|e| anyhow!("key {s:?}: {e}"))
}

fn yuan(s: &str) -> Result<u64> {
    amount::parse_yuan(s).map_err(|e| anyhow!("{e}"))
}

fn region(s: &str) -> Result<Region> {
    Region::parse(s).map_err(|e| anyhow!("region {s:?}: {e}"))
}

/// A time: `YYYY-MM-DD` is the start (or with `end_of_day` the last
/// millisecond) of that day in China time; otherwise RFC 3339.
pub fn time(s: &str, end_of_day: bool) -> Result<u64> {
    use chrono::{FixedOffset, NaiveDate, TimeZone};
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let tz = FixedOffset::east_opt(8 * 3600).ok_or_else(|| anyhow!("time zone"))?;
        let start = d
            .and_hms_opt(0, 0, 0)
            .and_then(|t| tz.from_local_datetime(&t).single())
            .ok_or_else(|| anyhow!("date {s:?} is out of range"))?;
        let ms = u64::try_from(start.timestamp_millis())
            .map_err(|_| anyhow!("date {s:?} is before 1970"))?;
        return Ok(if end_of_day { ms + 86_400_000 - 1 } else { ms });
    }
    let t = chrono::DateTime::parse_from_rfc3339(s)
        .map_err(|_| anyhow!("{s:?} is neither YYYY-MM-DD nor RFC 3339"))?;
    u64::try_from(t.timestamp_millis()).map_err(|_| anyhow!("{s:?} is before 1970"))
}

fn evidence(list: &[String]) -> Result<Vec<Evidence>> {
    list.iter()
        .map(|e| {
            let (file, title) = match e.split_once('=') {
                Some((f, t)) => (PathBuf::from(f), t.to_owned()),
                None => {
                    let f = PathBuf::from(e);
                    let t = f
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| e.clone());
                    (f, t)
                }
            };
            let bytes = std::fs::read(&file)
                .with_context(|| format!("reading evidence {}", file.display()))?;
            let media_type = match file.extension().and_then(|x| x.to_str()).unwrap_or("") {
                "pdf" => "application/pdf",
                "jpg" | "jpeg" => "image/jpeg",
                "png" => "image/png",
                "txt" => "text/plain; charset=utf-8",
                _ => "application/octet-stream",
            };
            Ok(Evidence {
                sha256: charity_ledger::crypto::sha256(&bytes),
                title,
                media_type: media_type.into(),
                uri: None,
            })
        })
        .collect()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The transaction kind a subcommand describes.
pub fn build(cmd: TxCommand) -> Result<TxKind> {
    Ok(match cmd {
        TxCommand::RegisterOrg {
            org_id,
            name,
            role,
            public_fundraising,
            keys,
            region: r,
        } => TxKind::RegisterOrg(RegisterOrg {
            org_id: org(&org_id)?,
            name,
            role: wire("role", &role)?,
            public_fundraising,
            keys: keys.iter().map(|k| key(k)).collect::<Result<_>>()?,
            region: region(&r)?,
        }),
        TxCommand::UpdateOrg {
            org_id,
            status,
            public_fundraising,
            add_key,
            remove_key,
        } => TxKind::UpdateOrg(UpdateOrg {
            org_id: org(&org_id)?,
            status: wire("status", &status)?,
            public_fundraising,
            add_keys: (!add_key.is_empty())
                .then(|| add_key.iter().map(|k| key(k)).collect::<Result<_>>())
                .transpose()?,
            remove_keys: (!remove_key.is_empty())
                .then(|| remove_key.iter().map(|k| key(k)).collect::<Result<_>>())
                .transpose()?,
        }),
        TxCommand::FileCampaign {
            campaign: c,
            title,
            description,
            target,
            starts,
            ends,
            region: r,
            beneficiaries,
            lines,
            platforms,
            leftover_plan,
            emergency,
        } => {
            let budget = lines
                .iter()
                .map(|l| {
                    let mut parts = l.splitn(3, ':');
                    match (parts.next(), parts.next(), parts.next()) {
                        (Some(n), Some(c), Some(a)) => Ok(BudgetLine {
                            line: line(n)?,
                            category: wire("category", c)?,
                            amount: yuan(a)?,
                        }),
                        _ => bail!("budget line {l:?} is not NAME:CATEGORY:YUAN"),
                    }
                })
                .collect::<Result<_>>()?;
            TxKind::FileCampaign(FileCampaign {
                campaign_id: campaign(&c)?,
                title,
                description,
                target: yuan(&target)?,
                starts_at: time(&starts, false)?,
                ends_at: time(&ends, true)?,
                region: region(&r)?,
                beneficiaries,
                budget,
                platforms: platforms.iter().map(|p| org(p)).collect::<Result<_>>()?,
                leftover_plan,
                emergency: emergency.then_some(true),
            })
        }
        TxCommand::ApproveCampaign {
            campaign: c,
            filing_no,
            reject,
            note,
        } => TxKind::ApproveCampaign(ApproveCampaign {
            campaign_id: campaign(&c)?,
            approved: !reject,
            filing_no,
            note,
        }),
        TxCommand::Donation {
            campaign: c,
            amount,
            donor_code,
            channel,
            payment_ref,
            received,
            display_name,
            restricted_line,
        } => TxKind::Donation(Donation {
            campaign_id: campaign(&c)?,
            amount: yuan(&amount)?,
            donor_tag: charity_ledger::donor::DonorCode::parse(&donor_code)?.tag(),
            display_name,
            restricted_line: restricted_line.as_deref().map(line).transpose()?,
            channel,
            payment_ref_hash: charity_ledger::crypto::sha256(payment_ref.as_bytes()),
            received_at: match received {
                Some(r) => time(&r, false)?,
                None => now_ms(),
            },
        }),
        TxCommand::Disbursement {
            campaign: c,
            amount,
            category,
            line: l,
            recipient_kind,
            recipient_id,
            recipient_name,
            purpose,
            evidence: ev,
        } => TxKind::Disbursement(Disbursement {
            campaign_id: campaign(&c)?,
            amount: yuan(&amount)?,
            category: wire("category", &category)?,
            line: line(&l)?,
            recipient: Recipient {
                kind: wire("recipient kind", &recipient_kind)?,
                id: recipient_id,
                name: recipient_name,
            },
            purpose,
            evidence: evidence(&ev)?,
        }),
        TxCommand::Refund {
            donation,
            amount,
            reason,
        } => TxKind::Refund(Refund {
            donation_id: Hash::parse(&donation).map_err(|e| anyhow!("donation {e}"))?,
            amount: yuan(&amount)?,
            reason,
        }),
        TxCommand::ProgressReport {
            campaign: c,
            title,
            body,
            evidence: ev,
        } => TxKind::ProgressReport(ProgressReport {
            campaign_id: campaign(&c)?,
            title,
            body,
            evidence: evidence(&ev)?,
        }),
        TxCommand::CloseCampaign {
            campaign: c,
            summary,
        } => TxKind::CloseCampaign(CloseCampaign {
            campaign_id: campaign(&c)?,
            summary,
        }),
        TxCommand::Correction { target_tx, note } => TxKind::Correction(Correction {
            target_tx: Hash::parse(&target_tx).map_err(|e| anyhow!("target_tx {e}"))?,
            note,
        }),
        TxCommand::AuditNote {
            subject,
            severity,
            finding,
        } => TxKind::AuditNote(AuditNote {
            subject,
            severity: wire("severity", &severity)?,
            finding,
        }),
        TxCommand::SetValidators { validators } => TxKind::SetValidators(SetValidators {
            validators: validators
                .iter()
                .map(|v| {
                    let mut p = v.splitn(3, ':');
                    match (p.next(), p.next(), p.next()) {
                        (Some(k), Some(power), Some(o)) => Ok(ValidatorEntry {
                            pubkey: key(k)?,
                            power: power
                                .parse()
                                .map_err(|_| anyhow!("power {power:?} is not a whole number"))?,
                            org_id: org(o)?,
                        }),
                        _ => bail!("validator {v:?} is not PUBKEY:POWER:ORG_ID"),
                    }
                })
                .collect::<Result<_>>()?,
        }),
    })
}
