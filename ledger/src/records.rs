//! The state's records: what the chain knows about organisations, campaigns,
//! donations, disbursements, refunds, and where each transaction sits.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::donor::Donor;
use crate::hex::{Hash, PublicKey};
use crate::ids::{CampaignId, LineName, Region};
use crate::kinds::{BudgetLine, Category, OrgRole, OrgStatus, Recipient};
use crate::merkle::Frontier;
use crate::org_id::OrgId;
use crate::validators::ValidatorSet;

/// A registered organisation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRecord {
    /// Credit code.
    pub org_id: OrgId,
    /// Name.
    pub name: String,
    /// Role.
    pub role: OrgRole,
    /// Holds the public-fundraising qualification.
    pub public_fundraising: bool,
    /// Administrative division.
    pub region: Region,
    /// Whether it may sign.
    pub status: OrgStatus,
    /// Active keys, sorted.
    pub keys: Vec<PublicKey>,
    /// Height of registration (0 for genesis).
    pub registered_height: u64,
    /// The registering transaction (none for genesis regulators).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_tx: Option<Hash>,
}

/// Where a campaign is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// Filed, awaiting the regulator.
    Pending,
    /// Approved: takes donations in its window.
    Approved,
    /// Rejected by the regulator.
    Rejected,
    /// Closed: no more donations.
    Closed,
}

impl CampaignStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Pending => "pending",
            CampaignStatus::Approved => "approved",
            CampaignStatus::Rejected => "rejected",
            CampaignStatus::Closed => "closed",
        }
    }
}

/// A campaign with its running totals. All amounts are fen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignRecord {
    /// Id.
    pub campaign_id: CampaignId,
    /// The charity running it.
    pub charity: OrgId,
    /// Title.
    pub title: String,
    /// Purpose.
    pub description: String,
    /// Target.
    pub target: u64,
    /// Window start (ms).
    pub starts_at: u64,
    /// Window end (ms).
    pub ends_at: u64,
    /// Where it spends.
    pub region: Region,
    /// Who benefits.
    pub beneficiaries: String,
    /// Budget lines.
    pub budget: Vec<BudgetLine>,
    /// Platforms allowed to record donations.
    pub platforms: Vec<OrgId>,
    /// Plan for leftover money.
    pub leftover_plan: String,
    /// Emergency campaign.
    pub emergency: bool,
    /// Status.
    pub status: CampaignStatus,
    /// Filing number once approved or rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filing_no: Option<String>,
    /// The filing transaction.
    pub filed_tx: Hash,
    /// Block time of filing.
    pub filed_at: u64,
    /// Block time of approval or rejection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<u64>,
    /// Block time of closing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<u64>,
    /// Money in: donations and grants received.
    pub raised: u64,
    /// Of `raised`, grants from other campaigns.
    pub granted_in: u64,
    /// Money out: disbursements (grants included).
    pub spent: u64,
    /// Of `spent`, grants to other campaigns.
    pub granted_out: u64,
    /// Refunded to donors.
    pub refunded: u64,
    /// Restricted money not yet allocated, per line.
    pub restricted_unallocated: BTreeMap<LineName, u64>,
    /// Spent per budget line.
    pub spent_by_line: BTreeMap<LineName, u64>,
    /// Donations received (count).
    pub donation_count: u64,
    /// Disbursements made (count).
    pub disbursement_count: u64,
    /// Progress reports published (count).
    pub report_count: u64,
    /// Block time of the last progress report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_report_at: Option<u64>,
}

impl CampaignRecord {
    /// Money received and neither spent nor refunded.
    pub fn unallocated(&self) -> u64 {
        self.raised
            .saturating_sub(self.spent)
            .saturating_sub(self.refunded)
    }

    /// Unallocated money that no donor restricted to a line.
    pub fn unrestricted_unallocated(&self) -> u64 {
        let restricted: u64 = self.restricted_unallocated.values().sum();
        self.unallocated().saturating_sub(restricted)
    }

    /// The budget line named `line`.
    pub fn line(&self, line: &LineName) -> Option<&BudgetLine> {
        self.budget.iter().find(|b| &b.line == line)
    }
}

/// A donation (or a grant received from another campaign).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DonationRecord {
    /// Its id: the donation tx, or for a grant the granting disbursement.
    pub donation_id: Hash,
    /// The receiving campaign.
    pub campaign_id: CampaignId,
    /// Amount.
    pub amount: u64,
    /// Donor tag, or `campaign:<id>` for a grant.
    pub donor: Donor,
    /// Public name the donor chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Restricted to this budget line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restricted_line: Option<LineName>,
    /// Payment channel (`grant` for grants).
    pub channel: String,
    /// The organisation that recorded it.
    pub recorder: OrgId,
    /// When the money was received (ms).
    pub received_at: u64,
    /// Block height.
    pub height: u64,
    /// Index in the block.
    pub index: u32,
    /// Block time.
    pub time: u64,
    /// Order within the campaign.
    pub seq: u64,
    /// Allocated to disbursements so far.
    pub allocated: u64,
    /// Refunded so far.
    pub refunded: u64,
}

impl DonationRecord {
    /// Neither allocated nor refunded.
    pub fn unallocated(&self) -> u64 {
        self.amount
            .saturating_sub(self.allocated)
            .saturating_sub(self.refunded)
    }

    /// True for money granted by another campaign.
    pub fn is_grant(&self) -> bool {
        matches!(self.donor, Donor::Campaign(_))
    }
}

/// A disbursement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisbursementRecord {
    /// Its tx id.
    pub disbursement_id: Hash,
    /// The paying campaign.
    pub campaign_id: CampaignId,
    /// Amount.
    pub amount: u64,
    /// Category.
    pub category: Category,
    /// Budget line.
    pub line: LineName,
    /// Who was paid.
    pub recipient: Recipient,
    /// What for.
    pub purpose: String,
    /// Evidence items cited.
    pub evidence_count: u32,
    /// Block height.
    pub height: u64,
    /// Index in the block.
    pub index: u32,
    /// Block time.
    pub time: u64,
    /// For a grant, the receiving campaign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_to: Option<CampaignId>,
    /// How many donations it was allocated to.
    pub allocation_count: u32,
}

/// One row of the allocation of a disbursement to a donation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationRow {
    /// The disbursement.
    pub disbursement_id: Hash,
    /// The donation.
    pub donation_id: Hash,
    /// Fen of the donation paid out by the disbursement.
    pub amount: u64,
}

/// A refund.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRecord {
    /// Its tx id.
    pub refund_id: Hash,
    /// The refunded donation.
    pub donation_id: Hash,
    /// Its campaign.
    pub campaign_id: CampaignId,
    /// Amount.
    pub amount: u64,
    /// Why.
    pub reason: String,
    /// Block height.
    pub height: u64,
    /// Block time.
    pub time: u64,
}

/// Where a committed transaction is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxLocation {
    /// Block height.
    pub height: u64,
    /// Index in the block.
    pub index: u32,
    /// The signer's organisation.
    pub org: OrgId,
}

/// The stored form of a committed transaction: where it is, who signed it,
/// and its bytes (signature, then the canonical body), in one entry:
/// `u64be height || u32be index || u8 len || org id || sig || body`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedTx<'a> {
    /// Where it is.
    pub location: TxLocation,
    /// `sig || canonical body`, as [`crate::tx::Transaction::to_stored`].
    pub stored: &'a [u8],
}

impl<'a> CommittedTx<'a> {
    /// Encodes a committed transaction.
    pub fn encode(location: &TxLocation, stored: &[u8]) -> Vec<u8> {
        let org = location.org.as_str().as_bytes();
        let mut out = Vec::with_capacity(13 + org.len() + stored.len());
        out.extend_from_slice(&location.height.to_be_bytes());
        out.extend_from_slice(&location.index.to_be_bytes());
        out.push(org.len() as u8);
        out.extend_from_slice(org);
        out.extend_from_slice(stored);
        out
    }

    /// The leading part of stored bytes that says where the transaction
    /// is and who signed it, without the transaction: what execution reads
    /// back of a committed row. `None` if the bytes are too short to hold
    /// it.
    pub fn location_part(bytes: &[u8]) -> Option<&[u8]> {
        let len = usize::from(*bytes.get(12)?);
        bytes.get(..13 + len)
    }

    /// Decodes the stored bytes, or says why they are not a committed tx.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, String> {
        let height = bytes
            .get(..8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes)
            .ok_or("truncated height")?;
        let index = bytes
            .get(8..12)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
            .ok_or("truncated index")?;
        let len = usize::from(*bytes.get(12).ok_or("truncated organisation")?);
        let org = bytes
            .get(13..13 + len)
            .and_then(|b| std::str::from_utf8(b).ok())
            .ok_or("truncated organisation")?;
        let org = OrgId::parse(org).map_err(|e| e.to_string())?;
        let stored = bytes.get(13 + len..).ok_or("truncated transaction")?;
        Ok(CommittedTx {
            location: TxLocation { height, index, org },
            stored,
        })
    }
}

/// The head of the chain, and what the next block builds on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainTip {
    /// Network.
    pub chain_id: String,
    /// Height of the last block (0 before the first).
    pub height: u64,
    /// Its time (the genesis time before the first block).
    pub time: u64,
    /// Its hash (the genesis hash before the first block).
    pub block_hash: Hash,
    /// The transaction log so far.
    pub log: Frontier,
    /// The validator set in force for the next height.
    pub next_validators: ValidatorSet,
}
