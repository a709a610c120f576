//! An IATI-style activities file (IATI Activity Standard 2.03): one
//! activity per campaign, donations received as incoming funds, grants to
//! other campaigns as disbursements and payments to suppliers and people as
//! expenditure.

use std::io::Write as _;

use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;

use crate::kv::{KvError, KvRead};
use crate::query;
use crate::records::CampaignStatus;
use crate::time::{date, datetime};

/// Why the file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum IatiError {
    /// The state could not be read.
    #[error(transparent)]
    Kv(#[from] KvError),
    /// Writing XML failed.
    #[error("writing IATI XML: {0}")]
    Xml(String),
}

impl IatiError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            IatiError::Kv(e) => e.code(),
            IatiError::Xml(_) => "export_failed",
        }
    }
}

impl From<std::io::Error> for IatiError {
    fn from(e: std::io::Error) -> Self {
        IatiError::Xml(e.to_string())
    }
}

fn yuan(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// The IATI identifier of an organisation: `CN-USCC-<credit code>`.
pub fn org_ref(org: &str) -> String {
    format!("CN-USCC-{org}")
}

type W = Writer<Vec<u8>>;

/// Writes the activities file for every approved or closed campaign, as of
/// `generated_at` (ms; the chain's latest block time).
pub fn activities<R: KvRead>(kv: &R, generated_at: u64) -> Result<Vec<u8>, IatiError> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    let xml = |e: std::io::Error| IatiError::Xml(e.to_string());
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
        .map_err(xml)?;
    let campaigns = query::campaigns(kv, usize::MAX)?;
    let mut result: Result<(), IatiError> = Ok(());
    w.create_element("iati-activities")
        .with_attribute(("version", "2.03"))
        .with_attribute(("generated-datetime", datetime(generated_at).as_str()))
        .write_inner_content(|w| {
            for c in &campaigns {
                if !matches!(c.status, CampaignStatus::Approved | CampaignStatus::Closed) {
                    continue;
                }
                if let Err(e) = activity(kv, w, c) {
                    result = Err(e);
                    break;
                }
            }
            Ok(())
        })
        .map_err(xml)?;
    result?;
    let mut out = w.into_inner();
    out.write_all(b"\n")?;
    Ok(out)
}

fn activity<R: KvRead>(
    kv: &R,
    w: &mut W,
    c: &crate::records::CampaignRecord,
) -> Result<(), IatiError> {
    let charity = query::org(kv, &c.charity)?;
    let charity_name = charity
        .as_ref()
        .map_or(c.charity.to_string(), |o| o.name.clone());
    let org = org_ref(c.charity.as_str());
    let donations = query::campaign_donations(kv, &c.campaign_id, 0, usize::MAX)?;
    let disbursements = query::campaign_disbursements(kv, &c.campaign_id, usize::MAX)?;
    let status = if c.status == CampaignStatus::Closed {
        "3"
    } else {
        "2"
    };
    let last = donations
        .iter()
        .map(|d| d.time)
        .chain(disbursements.iter().map(|d| d.time))
        .max()
        .unwrap_or(c.filed_at);
    let inner = |w: &mut W| -> std::io::Result<()> {
        let text = |w: &mut W, tag: &str, s: &str| -> std::io::Result<()> {
            w.create_element(tag)
                .write_text_content(BytesText::new(s))?;
            Ok(())
        };
        text(w, "iati-identifier", &format!("{org}-{}", c.campaign_id))?;
        w.create_element("reporting-org")
            .with_attribute(("ref", org.as_str()))
            .with_attribute(("type", "22"))
            .write_inner_content(|w| {
                w.create_element("narrative")
                    .write_text_content(BytesText::new(&charity_name))?;
                Ok(())
            })?;
        for (tag, s) in [
            ("title", c.title.as_str()),
            ("description", c.description.as_str()),
        ] {
            w.create_element(tag).write_inner_content(|w| {
                w.create_element("narrative")
                    .write_text_content(BytesText::new(s))?;
                Ok(())
            })?;
        }
        for role in ["2", "4"] {
            w.create_element("participating-org")
                .with_attribute(("ref", org.as_str()))
                .with_attribute(("role", role))
                .write_inner_content(|w| {
                    w.create_element("narrative")
                        .write_text_content(BytesText::new(&charity_name))?;
                    Ok(())
                })?;
        }
        w.create_element("activity-status")
            .with_attribute(("code", status))
            .write_empty()?;
        for (kind, at) in [("1", c.starts_at), ("3", c.ends_at)] {
            w.create_element("activity-date")
                .with_attribute(("type", kind))
                .with_attribute(("iso-date", date(at).as_str()))
                .write_empty()?;
        }
        w.create_element("recipient-country")
            .with_attribute(("code", "CN"))
            .with_attribute(("percentage", "100"))
            .write_empty()?;
        w.create_element("budget")
            .with_attribute(("type", "1"))
            .with_attribute(("status", "1"))
            .write_inner_content(|w| {
                w.create_element("period-start")
                    .with_attribute(("iso-date", date(c.starts_at).as_str()))
                    .write_empty()?;
                w.create_element("period-end")
                    .with_attribute(("iso-date", date(c.ends_at).as_str()))
                    .write_empty()?;
                w.create_element("value")
                    .with_attribute(("currency", "CNY"))
                    .with_attribute(("value-date", date(c.starts_at).as_str()))
                    .write_text_content(BytesText::new(&yuan(c.target)))?;
                Ok(())
            })?;
        for d in &donations {
            w.create_element("transaction")
                .with_attribute(("ref", d.donation_id.to_hex().as_str()))
                .write_inner_content(|w| {
                    w.create_element("transaction-type")
                        .with_attribute(("code", "1"))
                        .write_empty()?;
                    w.create_element("transaction-date")
                        .with_attribute(("iso-date", date(d.received_at).as_str()))
                        .write_empty()?;
                    w.create_element("value")
                        .with_attribute(("currency", "CNY"))
                        .with_attribute(("value-date", date(d.received_at).as_str()))
                        .write_text_content(BytesText::new(&yuan(d.amount)))?;
                    w.create_element("provider-org").write_inner_content(|w| {
                        let who = d
                            .display_name
                            .clone()
                            .unwrap_or_else(|| d.donor.to_string());
                        w.create_element("narrative")
                            .write_text_content(BytesText::new(&who))?;
                        Ok(())
                    })?;
                    Ok(())
                })?;
        }
        for x in &disbursements {
            let kind = if x.grant_to.is_some() { "3" } else { "4" };
            w.create_element("transaction")
                .with_attribute(("ref", x.disbursement_id.to_hex().as_str()))
                .write_inner_content(|w| {
                    w.create_element("transaction-type")
                        .with_attribute(("code", kind))
                        .write_empty()?;
                    w.create_element("transaction-date")
                        .with_attribute(("iso-date", date(x.time).as_str()))
                        .write_empty()?;
                    w.create_element("value")
                        .with_attribute(("currency", "CNY"))
                        .with_attribute(("value-date", date(x.time).as_str()))
                        .write_text_content(BytesText::new(&yuan(x.amount)))?;
                    w.create_element("description").write_inner_content(|w| {
                        w.create_element("narrative")
                            .write_text_content(BytesText::new(&x.purpose))?;
                        Ok(())
                    })?;
                    w.create_element("receiver-org").write_inner_content(|w| {
                        w.create_element("narrative")
                            .write_text_content(BytesText::new(&x.recipient.name))?;
                        Ok(())
                    })?;
                    Ok(())
                })?;
        }
        Ok(())
    };
    w.create_element("iati-activity")
        .with_attribute(("last-updated-datetime", datetime(last).as_str()))
        .with_attribute(("xml:lang", "zh"))
        .with_attribute(("default-currency", "CNY"))
        .write_inner_content(inner)
        .map_err(|e| IatiError::Xml(e.to_string()))?;
    Ok(())
}
