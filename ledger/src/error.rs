//! Why a transaction is rejected: one variant per rule, each with a stable
//! snake_case code and a message that names the values involved.

use crate::hex::{Hash, PublicKey};
use crate::ids::{CampaignId, LineName};
use crate::json::DecodeError;
use crate::org_id::OrgId;

/// A transaction rejection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// Malformed encoding.
    #[error("{0}")]
    Decode(#[from] DecodeError),
    /// The encoded transaction is too large.
    #[error("transaction is {len} bytes, the limit is {max}")]
    TooLarge {
        /// Bytes.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// Signed for another network.
    #[error("transaction is for chain {got:?}, this is {expected:?}")]
    WrongChain {
        /// This chain.
        expected: String,
        /// The transaction's chain.
        got: String,
    },
    /// The signature does not verify.
    #[error("signature does not verify under signer {signer}")]
    BadSignature {
        /// The named signer.
        signer: PublicKey,
    },
    /// A public key that is not a valid Ed25519 point.
    #[error("{field} contains {key}, which is not a valid Ed25519 public key")]
    InvalidPublicKey {
        /// Field.
        field: &'static str,
        /// Key.
        key: PublicKey,
    },
    /// A required text is empty.
    #[error("{field} must not be empty")]
    EmptyField {
        /// Field.
        field: &'static str,
    },
    /// A text is too long.
    #[error("{field} has {len} characters, the limit is {max}")]
    FieldTooLong {
        /// Field.
        field: &'static str,
        /// Characters.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// A list is too long.
    #[error("{field} has {len} items, the limit is {max}")]
    TooManyItems {
        /// Field.
        field: &'static str,
        /// Items.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// A list names the same item twice.
    #[error("{field} lists {item} twice")]
    DuplicateItem {
        /// Field.
        field: &'static str,
        /// The repeated item.
        item: String,
    },
    /// An amount of zero.
    #[error("{field} must be at least 1 fen")]
    ZeroAmount {
        /// Field.
        field: &'static str,
    },
    /// Sums that do not fit the wire range.
    #[error("{what} exceeds 2^53-1 fen")]
    AmountOverflow {
        /// What overflowed.
        what: String,
    },
    /// A campaign window that ends before it starts.
    #[error(
        "campaign window starts at {starts_at} and ends at {ends_at}; it must end after it starts"
    )]
    InvalidWindow {
        /// Start.
        starts_at: u64,
        /// End.
        ends_at: u64,
    },
    /// A budget larger than the target.
    #[error("budget lines add up to {budget} fen, more than the target of {target}")]
    BudgetOverTarget {
        /// Budget total.
        budget: u64,
        /// Target.
        target: u64,
    },
    /// A payment channel name that is not `a-z0-9_`, 1 to 32 characters.
    #[error("channel {channel:?} must be 1 to 32 characters of a-z, 0-9 and _")]
    InvalidChannel {
        /// Channel.
        channel: String,
    },
    /// A recipient that does not fit its kind.
    #[error("invalid recipient: {reason}")]
    InvalidRecipient {
        /// Why.
        reason: String,
    },
    /// An audit-note subject that is no tx id, campaign id or credit code.
    #[error("subject {subject:?} is neither a tx id, a campaign id nor a credit code")]
    InvalidSubject {
        /// Subject.
        subject: String,
    },
    /// A validator set that cannot run consensus.
    #[error("invalid validator set: {reason}")]
    InvalidValidatorSet {
        /// Why.
        reason: String,
    },

    /// The transaction is already on the chain.
    #[error("transaction {tx_id} is already committed")]
    DuplicateTx {
        /// Its id.
        tx_id: Hash,
    },
    /// The signer's key belongs to no organisation.
    #[error("signer {signer} is not an active key of any registered organisation")]
    UnknownSigner {
        /// Key.
        signer: PublicKey,
    },
    /// The signer's organisation may not sign now.
    #[error("organisation {org_id} is {status}")]
    OrgNotActive {
        /// Organisation.
        org_id: OrgId,
        /// Its status.
        status: &'static str,
    },
    /// The signer's organisation has the wrong role for this kind.
    #[error("{kind} must be signed by {required}; {org_id} is a {role}")]
    WrongRole {
        /// Transaction kind.
        kind: &'static str,
        /// Who may sign it.
        required: &'static str,
        /// Signer's organisation.
        org_id: OrgId,
        /// Its role.
        role: &'static str,
    },
    /// A charity without the public-fundraising qualification files a campaign.
    #[error("charity {org_id} does not hold the public-fundraising qualification")]
    NoPublicFundraising {
        /// Organisation.
        org_id: OrgId,
    },
    /// The organisation is already registered.
    #[error("organisation {org_id} is already registered")]
    OrgExists {
        /// Organisation.
        org_id: OrgId,
    },
    /// No such organisation.
    #[error("organisation {org_id} is not registered")]
    UnknownOrg {
        /// Organisation.
        org_id: OrgId,
    },
    /// A key already belongs to an organisation.
    #[error("key {key} already belongs to {org_id}")]
    KeyInUse {
        /// Key.
        key: PublicKey,
        /// Its owner.
        org_id: OrgId,
    },
    /// Removing a key the organisation does not have.
    #[error("key {key} is not a key of {org_id}")]
    UnknownKey {
        /// Key.
        key: PublicKey,
        /// Organisation.
        org_id: OrgId,
    },
    /// An update would leave an organisation without keys.
    #[error("organisation {org_id} would have no keys left")]
    NoKeysLeft {
        /// Organisation.
        org_id: OrgId,
    },
    /// The campaign id is taken.
    #[error("campaign {campaign_id} already exists")]
    CampaignExists {
        /// Campaign.
        campaign_id: CampaignId,
    },
    /// No such campaign.
    #[error("campaign {campaign_id} does not exist")]
    UnknownCampaign {
        /// Campaign.
        campaign_id: CampaignId,
    },
    /// Approving a campaign that is not awaiting approval.
    #[error("campaign {campaign_id} is {status}, not pending approval")]
    CampaignNotPending {
        /// Campaign.
        campaign_id: CampaignId,
        /// Its status.
        status: &'static str,
    },
    /// Using a campaign that is not approved and open.
    #[error("campaign {campaign_id} is {status}, not open")]
    CampaignNotOpen {
        /// Campaign.
        campaign_id: CampaignId,
        /// Its status.
        status: &'static str,
    },
    /// A donation received outside the approved window.
    #[error("donation received at {received_at} is outside campaign {campaign_id}'s window {starts_at}..={ends_at}")]
    OutsideWindow {
        /// Campaign.
        campaign_id: CampaignId,
        /// Received.
        received_at: u64,
        /// Window start.
        starts_at: u64,
        /// Window end.
        ends_at: u64,
    },
    /// A donation received after the block that records it.
    #[error("donation received at {received_at} is later than the block time {block_time}")]
    ReceivedInFuture {
        /// Received.
        received_at: u64,
        /// Block time.
        block_time: u64,
    },
    /// A donation recorded too long after its campaign's window closed.
    #[error("campaign {campaign_id} ended at {ends_at}; donations must be recorded by {deadline}, block time is {block_time}")]
    RecordedTooLate {
        /// Campaign.
        campaign_id: CampaignId,
        /// Window end.
        ends_at: u64,
        /// Last accepted block time.
        deadline: u64,
        /// Block time.
        block_time: u64,
    },
    /// Signed by an organisation other than the campaign's charity.
    #[error("campaign {campaign_id} belongs to {charity}, not to {org_id}")]
    NotCampaignCharity {
        /// Campaign.
        campaign_id: CampaignId,
        /// Signer's organisation.
        org_id: OrgId,
        /// The campaign's charity.
        charity: OrgId,
    },
    /// A platform records a donation for a campaign that does not list it.
    #[error("platform {org_id} is not listed by campaign {campaign_id}")]
    PlatformNotListed {
        /// Campaign.
        campaign_id: CampaignId,
        /// Platform.
        org_id: OrgId,
    },
    /// A campaign lists an organisation that is not an active platform.
    #[error("{org_id} is not a registered, active fundraising platform")]
    NotAPlatform {
        /// Organisation.
        org_id: OrgId,
    },
    /// A budget line the campaign does not have.
    #[error("campaign {campaign_id} has no budget line {line}")]
    UnknownBudgetLine {
        /// Campaign.
        campaign_id: CampaignId,
        /// Line.
        line: LineName,
    },
    /// A disbursement's category differs from its budget line's.
    #[error("budget line {line} is {expected} spending, the disbursement says {got}")]
    CategoryMismatch {
        /// Line.
        line: LineName,
        /// The line's category.
        expected: &'static str,
        /// The disbursement's category.
        got: &'static str,
    },
    /// Spending beyond a budget line.
    #[error("budget line {line} of campaign {campaign_id} has {budget} fen budgeted and {spent} spent; disbursement asks {amount}")]
    BudgetLineExceeded {
        /// Campaign.
        campaign_id: CampaignId,
        /// Line.
        line: LineName,
        /// Budgeted.
        budget: u64,
        /// Spent so far.
        spent: u64,
        /// Asked.
        amount: u64,
    },
    /// Not enough unallocated money.
    #[error("campaign {campaign_id} has {available} fen unallocated, disbursement asks {amount}")]
    InsufficientFunds {
        /// Campaign.
        campaign_id: CampaignId,
        /// Unallocated money usable for the line.
        available: u64,
        /// Asked.
        amount: u64,
    },
    /// No such donation.
    #[error("donation {donation_id} does not exist")]
    UnknownDonation {
        /// Donation.
        donation_id: Hash,
    },
    /// A refund larger than what is left of the donation.
    #[error("donation {donation_id} has {unallocated} fen unallocated, refund asks {amount}")]
    RefundExceedsUnallocated {
        /// Donation.
        donation_id: Hash,
        /// Unallocated.
        unallocated: u64,
        /// Asked.
        amount: u64,
    },
    /// A grant from another campaign cannot be refunded to a donor.
    #[error("donation {donation_id} is a grant from another campaign and cannot be refunded")]
    GrantNotRefundable {
        /// Donation.
        donation_id: Hash,
    },
    /// Refund signed by neither the recorder nor the campaign's charity.
    #[error("{org_id} neither recorded donation {donation_id} nor runs its campaign")]
    NotDonationRecorder {
        /// Donation.
        donation_id: Hash,
        /// Signer's organisation.
        org_id: OrgId,
    },
    /// A referenced transaction that is not on the chain.
    #[error("transaction {tx_id} is not on the chain")]
    UnknownTx {
        /// Id.
        tx_id: Hash,
    },
    /// A correction by someone other than the original signer.
    #[error("transaction {tx_id} was signed by {original}; {org_id} cannot correct it")]
    NotOriginalSigner {
        /// Corrected tx.
        tx_id: Hash,
        /// Signer's organisation.
        org_id: OrgId,
        /// Original signer's organisation.
        original: OrgId,
    },
    /// An audit note about something that is not on the chain.
    #[error("subject {subject} is not on the chain")]
    UnknownSubject {
        /// Subject.
        subject: String,
    },
    /// A campaign granting to itself.
    #[error("campaign {campaign_id} cannot grant to itself")]
    SelfGrant {
        /// Campaign.
        campaign_id: CampaignId,
    },
}

impl TxError {
    /// The stable snake_case code of this rejection.
    pub fn code(&self) -> &'static str {
        use TxError::*;
        match self {
            Decode(e) => e.code(),
            TooLarge { .. } => "too_large",
            WrongChain { .. } => "wrong_chain",
            BadSignature { .. } => "bad_signature",
            InvalidPublicKey { .. } => "invalid_public_key",
            EmptyField { .. } => "empty_field",
            FieldTooLong { .. } => "field_too_long",
            TooManyItems { .. } => "too_many_items",
            DuplicateItem { .. } => "duplicate_item",
            ZeroAmount { .. } => "zero_amount",
            AmountOverflow { .. } => "amount_overflow",
            InvalidWindow { .. } => "invalid_window",
            BudgetOverTarget { .. } => "budget_over_target",
            InvalidChannel { .. } => "invalid_channel",
            InvalidRecipient { .. } => "invalid_recipient",
            InvalidSubject { .. } => "invalid_subject",
            InvalidValidatorSet { .. } => "invalid_validator_set",
            DuplicateTx { .. } => "duplicate_tx",
            UnknownSigner { .. } => "unknown_signer",
            OrgNotActive { .. } => "org_not_active",
            WrongRole { .. } => "wrong_role",
            NoPublicFundraising { .. } => "no_public_fundraising",
            OrgExists { .. } => "org_exists",
            UnknownOrg { .. } => "unknown_org",
            KeyInUse { .. } => "key_in_use",
            UnknownKey { .. } => "unknown_key",
            NoKeysLeft { .. } => "no_keys_left",
            CampaignExists { .. } => "campaign_exists",
            UnknownCampaign { .. } => "unknown_campaign",
            CampaignNotPending { .. } => "campaign_not_pending",
            CampaignNotOpen { .. } => "campaign_not_open",
            OutsideWindow { .. } => "outside_window",
            ReceivedInFuture { .. } => "received_in_future",
            RecordedTooLate { .. } => "recorded_too_late",
            NotCampaignCharity { .. } => "not_campaign_charity",
            PlatformNotListed { .. } => "platform_not_listed",
            NotAPlatform { .. } => "not_a_platform",
            UnknownBudgetLine { .. } => "unknown_budget_line",
            CategoryMismatch { .. } => "category_mismatch",
            BudgetLineExceeded { .. } => "budget_line_exceeded",
            InsufficientFunds { .. } => "insufficient_funds",
            UnknownDonation { .. } => "unknown_donation",
            RefundExceedsUnallocated { .. } => "refund_exceeds_unallocated",
            GrantNotRefundable { .. } => "grant_not_refundable",
            NotDonationRecorder { .. } => "not_donation_recorder",
            UnknownTx { .. } => "unknown_tx",
            NotOriginalSigner { .. } => "not_original_signer",
            UnknownSubject { .. } => "unknown_subject",
            SelfGrant { .. } => "self_grant",
        }
    }

    /// The HTTP status class a node should answer with: 400 malformed,
    /// 403 role or signer, 409 duplicate, 413 too large, 422 rule broken.
    pub fn http_status(&self) -> u16 {
        use TxError::*;
        match self {
            Decode(DecodeError::TooLarge { .. }) | TooLarge { .. } => 413,
            Decode(_)
            | WrongChain { .. }
            | BadSignature { .. }
            | InvalidPublicKey { .. }
            | EmptyField { .. }
            | FieldTooLong { .. }
            | TooManyItems { .. }
            | DuplicateItem { .. }
            | ZeroAmount { .. }
            | InvalidWindow { .. }
            | BudgetOverTarget { .. }
            | InvalidChannel { .. }
            | InvalidRecipient { .. }
            | InvalidSubject { .. }
            | InvalidValidatorSet { .. } => 400,
            UnknownSigner { .. }
            | OrgNotActive { .. }
            | WrongRole { .. }
            | NoPublicFundraising { .. }
            | NotCampaignCharity { .. }
            | PlatformNotListed { .. }
            | NotDonationRecorder { .. }
            | NotOriginalSigner { .. } => 403,
            DuplicateTx { .. } => 409,
            _ => 422,
        }
    }
}
