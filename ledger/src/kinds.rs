//! The fields of each transaction kind (design, "Transactions (wire)").
//!
//! Every struct refuses unknown fields; optional fields are omitted when
//! absent, never written as `null`.

use serde::{Deserialize, Serialize};

use crate::donor::DonorTag;
use crate::hex::{Hash, PublicKey};
use crate::ids::{CampaignId, LineName, Region};
use crate::org_id::OrgId;

/// What an organisation is on the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgRole {
    /// A civil-affairs bureau (民政部门).
    Regulator,
    /// A charitable organisation (慈善组织).
    Charity,
    /// An internet fundraising platform (募捐平台).
    Platform,
    /// An independent auditor.
    Auditor,
}

impl OrgRole {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrgRole::Regulator => "regulator",
            OrgRole::Charity => "charity",
            OrgRole::Platform => "platform",
            OrgRole::Auditor => "auditor",
        }
    }
}

/// Whether an organisation may sign transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgStatus {
    /// May sign.
    Active,
    /// Temporarily barred by a regulator.
    Suspended,
    /// Permanently barred.
    Revoked,
}

impl OrgStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrgStatus::Active => "active",
            OrgStatus::Suspended => "suspended",
            OrgStatus::Revoked => "revoked",
        }
    }
}

/// Spending category, as the Charity Law's ratios count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Charitable activity (慈善活动支出).
    Program,
    /// Management cost (管理费用).
    Management,
    /// Fundraising cost (募捐成本).
    Fundraising,
}

impl Category {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Program => "program",
            Category::Management => "management",
            Category::Fundraising => "fundraising",
        }
    }
}

/// Who receives a disbursement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientKind {
    /// A registered organisation (`id` is its credit code).
    Org,
    /// Another campaign on the chain: a grant (`id` is its campaign id).
    Campaign,
    /// A company paid for goods or services.
    Vendor,
    /// A person; `name` masked by the submitter, no id on chain.
    Person,
}

/// How serious an audit finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// For the record.
    Info,
    /// Needs the organisation's attention.
    Warning,
    /// A serious breach.
    Critical,
}

/// `register_org`: a regulator admits an organisation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterOrg {
    /// Unified Social Credit Code.
    pub org_id: OrgId,
    /// Registered name.
    pub name: String,
    /// Role on the network.
    pub role: OrgRole,
    /// Holds the public-fundraising qualification (公开募捐资格).
    pub public_fundraising: bool,
    /// Keys that may sign for it.
    pub keys: Vec<PublicKey>,
    /// Administrative division of registration.
    pub region: Region,
}

/// `update_org`: suspends, restores or re-keys an organisation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrg {
    /// The organisation.
    pub org_id: OrgId,
    /// Its new status.
    pub status: OrgStatus,
    /// New public-fundraising qualification, if it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_fundraising: Option<bool>,
    /// Keys to add.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_keys: Option<Vec<PublicKey>>,
    /// Keys to remove.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_keys: Option<Vec<PublicKey>>,
}

/// One line of a campaign budget.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetLine {
    /// The line's name, referenced by restricted donations and disbursements.
    pub line: LineName,
    /// What kind of spending it is.
    pub category: Category,
    /// Budgeted amount in fen.
    pub amount: u64,
}

/// `file_campaign`: a charity files a fundraising campaign (备案).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCampaign {
    /// Chosen id, unique on the chain.
    pub campaign_id: CampaignId,
    /// Title.
    pub title: String,
    /// Purpose and plan.
    pub description: String,
    /// Fundraising target in fen.
    pub target: u64,
    /// Start of the fundraising window (ms).
    pub starts_at: u64,
    /// End of the fundraising window (ms).
    pub ends_at: u64,
    /// Where the money is spent.
    pub region: Region,
    /// Who benefits.
    pub beneficiaries: String,
    /// Budget lines.
    pub budget: Vec<BudgetLine>,
    /// Platforms that may record donations for it.
    pub platforms: Vec<OrgId>,
    /// What happens to money left at the end (剩余财产处理).
    pub leftover_plan: String,
    /// Emergency fundraising (may be filed after it starts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emergency: Option<bool>,
}

/// `approve_campaign`: a regulator approves or rejects a filing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveCampaign {
    /// The campaign.
    pub campaign_id: CampaignId,
    /// Approved (true) or rejected (false).
    pub approved: bool,
    /// The filing number (备案编号).
    pub filing_no: String,
    /// Remarks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `donation`: funds into a campaign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Donation {
    /// The campaign.
    pub campaign_id: CampaignId,
    /// Amount in fen.
    pub amount: u64,
    /// The donor's tag (hash of the donor code).
    pub donor_tag: DonorTag,
    /// A public name the donor chose to show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The budget line the donor restricted the gift to (定向捐赠).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restricted_line: Option<LineName>,
    /// Payment channel, e.g. `wechat_pay`, `alipay`, `bank_transfer`.
    pub channel: String,
    /// SHA-256 of the payment reference, so a payment can be matched without
    /// publishing it.
    pub payment_ref_hash: Hash,
    /// When the money was received (ms).
    pub received_at: u64,
}

/// Who a disbursement pays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    /// Kind of recipient.
    pub kind: RecipientKind,
    /// Credit code (org), campaign id (campaign), optional for vendors,
    /// absent for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Name; a person's masked by the submitter.
    pub name: String,
}

/// A document cited by its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// SHA-256 of the file.
    pub sha256: Hash,
    /// What it is (invoice, contract, photo).
    pub title: String,
    /// Its media type, e.g. `application/pdf`.
    pub media_type: String,
    /// Where it is published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
}

/// `disbursement`: funds out of a campaign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disbursement {
    /// The campaign paying.
    pub campaign_id: CampaignId,
    /// Amount in fen.
    pub amount: u64,
    /// Spending category.
    pub category: Category,
    /// Budget line.
    pub line: LineName,
    /// Who is paid.
    pub recipient: Recipient,
    /// What for.
    pub purpose: String,
    /// Invoices, contracts, photos.
    pub evidence: Vec<Evidence>,
}

/// `refund`: returns unallocated funds of one donation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refund {
    /// The donation's tx id.
    pub donation_id: Hash,
    /// Amount in fen.
    pub amount: u64,
    /// Why.
    pub reason: String,
}

/// `progress_report`: project progress disclosure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgressReport {
    /// The campaign.
    pub campaign_id: CampaignId,
    /// Title.
    pub title: String,
    /// Text.
    pub body: String,
    /// Photos, documents.
    pub evidence: Vec<Evidence>,
}

/// `close_campaign`: no more donations; final report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseCampaign {
    /// The campaign.
    pub campaign_id: CampaignId,
    /// Final report.
    pub summary: String,
}

/// `correction`: a public correction notice (更正说明) on an earlier tx.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Correction {
    /// The corrected transaction.
    pub target_tx: Hash,
    /// What is corrected.
    pub note: String,
}

/// `audit_note`: a regulator's or auditor's finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditNote {
    /// A tx id, campaign id or organisation id.
    pub subject: String,
    /// How serious.
    pub severity: Severity,
    /// The finding.
    pub finding: String,
}

/// One validator of a `set_validators` transaction or genesis.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorEntry {
    /// Consensus key.
    pub pubkey: PublicKey,
    /// Voting power.
    pub power: u64,
    /// The organisation running it.
    pub org_id: OrgId,
}

/// `set_validators`: the consensus set from the next height.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetValidators {
    /// The new set.
    pub validators: Vec<ValidatorEntry>,
}
