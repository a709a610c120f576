//! Stateful validation and the state transition of one transaction.
//!
//! Every handler checks all of its rules before it writes anything, so a
//! rejected transaction leaves the overlay exactly as it found it and the
//! proposer can skip it and go on with the next.

use crate::donor::Donor;
use crate::error::TxError;
use crate::hex::{Hash, PublicKey};
use crate::ids::{CampaignId, LineName};
use crate::json::MAX_SAFE_INTEGER;
use crate::kinds::*;
use crate::kv::{KvError, KvRead};
use crate::org_id::OrgId;
use crate::overlay::{encode_record, Overlay};
use crate::records::*;
use crate::schema::{self, Key};
use crate::tx::{Transaction, TxKind};
use crate::validate::{parse_subject, Subject};
use crate::validators::ValidatorSet;

/// How long after a campaign's window closes donations received within the
/// window may still be recorded (offline and bank transfers reconcile late):
/// 30 days.
pub const LATE_RECORDING_GRACE_MS: u64 = 30 * 24 * 3600 * 1000;

/// A transaction could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// The transaction breaks a rule.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// The state could not be read.
    #[error(transparent)]
    Kv(#[from] KvError),
}

/// Applies transactions of one block to an overlay over committed state.
pub struct Executor<'a, R: KvRead> {
    kv: &'a R,
    ov: Overlay,
    height: u64,
    time: u64,
    next_validators: Option<ValidatorSet>,
}

fn key_org(id: &OrgId) -> Vec<u8> {
    Key::new(schema::ORG).id(id.as_str()).build()
}
fn key_owner(k: &PublicKey) -> Vec<u8> {
    Key::new(schema::KEY_OWNER).raw(k.as_bytes()).build()
}
fn key_campaign(id: &CampaignId) -> Vec<u8> {
    Key::new(schema::CAMPAIGN).id(id.as_str()).build()
}
fn key_donation(id: &Hash) -> Vec<u8> {
    Key::new(schema::DONATION).hash(id).build()
}
fn key_disbursement(id: &Hash) -> Vec<u8> {
    Key::new(schema::DISBURSEMENT).hash(id).build()
}
fn key_tx(id: &Hash) -> Vec<u8> {
    Key::new(schema::TX).hash(id).build()
}
/// The open-donation queue of a campaign's line (`None`: unrestricted).
pub(crate) fn queue_prefix(c: &CampaignId, line: Option<&LineName>) -> Key {
    Key::new(schema::OPEN_DONATION)
        .id(c.as_str())
        .id(line.map_or("", |l| l.as_str()))
}

fn add(a: u64, b: u64, what: impl FnOnce() -> String) -> Result<u64, TxError> {
    a.checked_add(b)
        .filter(|s| *s <= MAX_SAFE_INTEGER)
        .ok_or_else(|| TxError::AmountOverflow { what: what() })
}

fn role_error(kind: &'static str, required: &'static str, org: &OrgRecord) -> TxError {
    TxError::WrongRole {
        kind,
        required,
        org_id: org.org_id.clone(),
        role: org.role.as_str(),
    }
}

impl<'a, R: KvRead> Executor<'a, R> {
    /// Starts executing block `height` at `time` over committed state `kv`.
    pub fn new(kv: &'a R, height: u64, time: u64) -> Self {
        Executor {
            kv,
            ov: Overlay::default(),
            height,
            time,
            next_validators: None,
        }
    }

    /// The validator set a `set_validators` in this block installs for the
    /// next height, if any.
    pub fn next_validators(&self) -> Option<&ValidatorSet> {
        self.next_validators.as_ref()
    }

    /// The changes so far.
    pub fn into_overlay(self) -> Overlay {
        self.ov
    }

    /// Adds a raw write (block-level records).
    pub fn put_raw(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.ov.raw.put(key, value);
    }

    fn org(&mut self, id: &OrgId) -> Result<Option<OrgRecord>, KvError> {
        Ok(self.ov.orgs.get(self.kv, &key_org(id))?.cloned())
    }

    fn campaign(&mut self, id: &CampaignId) -> Result<CampaignRecord, ExecError> {
        match self.ov.campaigns.get(self.kv, &key_campaign(id))? {
            Some(c) => Ok(c.clone()),
            None => Err(TxError::UnknownCampaign {
                campaign_id: id.clone(),
            }
            .into()),
        }
    }

    /// The active organisation owning `signer`.
    fn signer_org(&mut self, signer: &PublicKey) -> Result<OrgRecord, ExecError> {
        let owner = self
            .ov
            .key_owners
            .get(self.kv, &key_owner(signer))?
            .cloned();
        let org = match owner {
            Some(o) => self.org(&o)?,
            None => None,
        };
        let Some(org) = org else {
            return Err(TxError::UnknownSigner { signer: *signer }.into());
        };
        if org.status != OrgStatus::Active {
            return Err(TxError::OrgNotActive {
                org_id: org.org_id.clone(),
                status: org.status.as_str(),
            }
            .into());
        }
        Ok(org)
    }

    /// True if `id` is already committed (or earlier in this block).
    pub fn is_committed(&mut self, id: &Hash) -> Result<bool, KvError> {
        Ok(self.ov.raw.get(self.kv, &key_tx(id))?.is_some())
    }

    /// Where a committed transaction is (or earlier in this block).
    fn location(&mut self, id: &Hash) -> Result<Option<TxLocation>, KvError> {
        let Some(bytes) = self.ov.raw.get(self.kv, &key_tx(id))? else {
            return Ok(None);
        };
        CommittedTx::decode(&bytes)
            .map(|c| Some(c.location))
            .map_err(|reason| KvError::Corrupt {
                key: format!("transaction {id}"),
                reason,
            })
    }

    /// Applies one transaction at position `index` of the block, or leaves
    /// the state untouched and says why not. Stateless checks (fields,
    /// signature) are the caller's, done before (in parallel).
    pub fn apply(&mut self, tx: &Transaction, index: u32) -> Result<(), ExecError> {
        let id = tx.id();
        if self.is_committed(&id)? {
            return Err(TxError::DuplicateTx { tx_id: id }.into());
        }
        let org = self.signer_org(&tx.body().signer)?;
        let kind = tx.kind().name();
        match tx.kind() {
            TxKind::RegisterOrg(k) => self.register_org(&org, kind, id, k)?,
            TxKind::UpdateOrg(k) => self.update_org(&org, kind, k)?,
            TxKind::FileCampaign(k) => self.file_campaign(&org, kind, id, k)?,
            TxKind::ApproveCampaign(k) => self.approve_campaign(&org, kind, k)?,
            TxKind::Donation(k) => self.donation(&org, id, index, k)?,
            TxKind::Disbursement(k) => self.disbursement(&org, id, index, k)?,
            TxKind::Refund(k) => self.refund(&org, id, index, k)?,
            TxKind::ProgressReport(k) => self.progress_report(&org, id, index, k)?,
            TxKind::CloseCampaign(k) => self.close_campaign(&org, id, index, k)?,
            TxKind::Correction(k) => self.correction(&org, id, index, k)?,
            TxKind::AuditNote(k) => self.audit_note(&org, kind, id, index, k)?,
            TxKind::SetValidators(k) => self.set_validators(&org, kind, k)?,
        }
        let location = TxLocation {
            height: self.height,
            index,
            org: org.org_id.clone(),
        };
        self.ov
            .raw
            .put(key_tx(&id), CommittedTx::encode(&location, &tx.to_stored()));
        Ok(())
    }

    fn register_org(
        &mut self,
        org: &OrgRecord,
        kind: &'static str,
        id: Hash,
        k: &RegisterOrg,
    ) -> Result<(), ExecError> {
        if org.role != OrgRole::Regulator {
            return Err(role_error(kind, "a regulator", org).into());
        }
        if self.org(&k.org_id)?.is_some() {
            return Err(TxError::OrgExists {
                org_id: k.org_id.clone(),
            }
            .into());
        }
        for key in &k.keys {
            if let Some(owner) = self.ov.key_owners.get(self.kv, &key_owner(key))? {
                return Err(TxError::KeyInUse {
                    key: *key,
                    org_id: owner.clone(),
                }
                .into());
            }
        }
        let mut keys = k.keys.clone();
        keys.sort();
        for key in &keys {
            self.ov.key_owners.put(key_owner(key), k.org_id.clone());
        }
        self.ov.orgs.put(
            key_org(&k.org_id),
            OrgRecord {
                org_id: k.org_id.clone(),
                name: k.name.clone(),
                role: k.role,
                public_fundraising: k.public_fundraising,
                region: k.region.clone(),
                status: OrgStatus::Active,
                keys,
                registered_height: self.height,
                registered_tx: Some(id),
            },
        );
        Ok(())
    }

    fn update_org(
        &mut self,
        org: &OrgRecord,
        kind: &'static str,
        k: &UpdateOrg,
    ) -> Result<(), ExecError> {
        if org.role != OrgRole::Regulator {
            return Err(role_error(kind, "a regulator", org).into());
        }
        let Some(mut target) = self.org(&k.org_id)? else {
            return Err(TxError::UnknownOrg {
                org_id: k.org_id.clone(),
            }
            .into());
        };
        let remove = k.remove_keys.clone().unwrap_or_default();
        let add = k.add_keys.clone().unwrap_or_default();
        for key in &remove {
            if !target.keys.contains(key) {
                return Err(TxError::UnknownKey {
                    key: *key,
                    org_id: k.org_id.clone(),
                }
                .into());
            }
        }
        for key in &add {
            if let Some(owner) = self.ov.key_owners.get(self.kv, &key_owner(key))? {
                return Err(TxError::KeyInUse {
                    key: *key,
                    org_id: owner.clone(),
                }
                .into());
            }
        }
        target.keys.retain(|x| !remove.contains(x));
        target.keys.extend(add.iter().copied());
        target.keys.sort();
        if target.keys.is_empty() {
            return Err(TxError::NoKeysLeft {
                org_id: k.org_id.clone(),
            }
            .into());
        }
        for key in &remove {
            self.ov.key_owners.delete(key_owner(key));
        }
        for key in &add {
            self.ov.key_owners.put(key_owner(key), k.org_id.clone());
        }
        target.status = k.status;
        if let Some(pf) = k.public_fundraising {
            target.public_fundraising = pf;
        }
        self.ov.orgs.put(key_org(&k.org_id), target);
        Ok(())
    }

    fn file_campaign(
        &mut self,
        org: &OrgRecord,
        kind: &'static str,
        id: Hash,
        k: &FileCampaign,
    ) -> Result<(), ExecError> {
        if org.role != OrgRole::Charity {
            return Err(role_error(kind, "a charity", org).into());
        }
        if !org.public_fundraising {
            return Err(TxError::NoPublicFundraising {
                org_id: org.org_id.clone(),
            }
            .into());
        }
        if self
            .ov
            .campaigns
            .get(self.kv, &key_campaign(&k.campaign_id))?
            .is_some()
        {
            return Err(TxError::CampaignExists {
                campaign_id: k.campaign_id.clone(),
            }
            .into());
        }
        for p in &k.platforms {
            match self.org(p)? {
                Some(o) if o.role == OrgRole::Platform && o.status == OrgStatus::Active => {}
                _ => return Err(TxError::NotAPlatform { org_id: p.clone() }.into()),
            }
        }
        self.ov.campaigns.put(
            key_campaign(&k.campaign_id),
            CampaignRecord {
                campaign_id: k.campaign_id.clone(),
                charity: org.org_id.clone(),
                title: k.title.clone(),
                description: k.description.clone(),
                target: k.target,
                starts_at: k.starts_at,
                ends_at: k.ends_at,
                region: k.region.clone(),
                beneficiaries: k.beneficiaries.clone(),
                budget: k.budget.clone(),
                platforms: k.platforms.clone(),
                leftover_plan: k.leftover_plan.clone(),
                emergency: k.emergency.unwrap_or(false),
                status: CampaignStatus::Pending,
                filing_no: None,
                filed_tx: id,
                filed_at: self.time,
                decided_at: None,
                closed_at: None,
                raised: 0,
                granted_in: 0,
                spent: 0,
                granted_out: 0,
                refunded: 0,
                restricted_unallocated: Default::default(),
                spent_by_line: Default::default(),
                donation_count: 0,
                disbursement_count: 0,
                report_count: 0,
                last_report_at: None,
            },
        );
        self.ov.raw.put(
            Key::new(schema::ORG_CAMPAIGNS)
                .id(org.org_id.as_str())
                .id(k.campaign_id.as_str())
                .build(),
            Vec::new(),
        );
        Ok(())
    }

    fn approve_campaign(
        &mut self,
        org: &OrgRecord,
        kind: &'static str,
        k: &ApproveCampaign,
    ) -> Result<(), ExecError> {
        if org.role != OrgRole::Regulator {
            return Err(role_error(kind, "a regulator", org).into());
        }
        let mut c = self.campaign(&k.campaign_id)?;
        if c.status != CampaignStatus::Pending {
            return Err(TxError::CampaignNotPending {
                campaign_id: c.campaign_id,
                status: c.status.as_str(),
            }
            .into());
        }
        c.status = if k.approved {
            CampaignStatus::Approved
        } else {
            CampaignStatus::Rejected
        };
        c.filing_no = Some(k.filing_no.clone());
        c.decided_at = Some(self.time);
        self.ov.campaigns.put(key_campaign(&k.campaign_id), c);
        Ok(())
    }

    /// Records money entering campaign `c` (a donation or a grant) and
    /// updates `c` in place; the caller stores `c`.
    #[allow(clippy::too_many_arguments)]
    fn receive(
        &mut self,
        c: &mut CampaignRecord,
        donation_id: Hash,
        index: u32,
        amount: u64,
        donor: Donor,
        display_name: Option<String>,
        restricted_line: Option<LineName>,
        channel: String,
        recorder: OrgId,
        received_at: u64,
    ) -> Result<(), ExecError> {
        let raised = add(c.raised, amount, || {
            format!("campaign {} raised", c.campaign_id)
        })?;
        let seq = c.donation_count;
        c.raised = raised;
        c.donation_count += 1;
        if let Some(line) = &restricted_line {
            *c.restricted_unallocated.entry(line.clone()).or_insert(0) += amount;
        }
        if donor.is_campaign() {
            c.granted_in = c.granted_in.saturating_add(amount);
        }
        self.ov.raw.put(
            queue_prefix(&c.campaign_id, restricted_line.as_ref())
                .u64(seq)
                .build(),
            donation_id.as_bytes().to_vec(),
        );
        self.ov.raw.put(
            Key::new(schema::CAMPAIGN_DONATIONS)
                .id(c.campaign_id.as_str())
                .u64(seq)
                .build(),
            donation_id.as_bytes().to_vec(),
        );
        self.ov.raw.put(
            Key::new(schema::DONOR_DONATIONS)
                .id(&donor.to_string())
                .u64(self.height)
                .u32(index)
                .build(),
            donation_id.as_bytes().to_vec(),
        );
        self.ov.donations.put(
            key_donation(&donation_id),
            DonationRecord {
                donation_id,
                campaign_id: c.campaign_id.clone(),
                amount,
                donor,
                display_name,
                restricted_line,
                channel,
                recorder,
                received_at,
                height: self.height,
                index,
                time: self.time,
                seq,
                allocated: 0,
                refunded: 0,
            },
        );
        Ok(())
    }

    fn donation(
        &mut self,
        org: &OrgRecord,
        id: Hash,
        index: u32,
        k: &Donation,
    ) -> Result<(), ExecError> {
        let mut c = self.campaign(&k.campaign_id)?;
        if c.status != CampaignStatus::Approved {
            return Err(TxError::CampaignNotOpen {
                campaign_id: c.campaign_id,
                status: c.status.as_str(),
            }
            .into());
        }
        if org.org_id != c.charity {
            if org.role != OrgRole::Platform {
                return Err(TxError::NotCampaignCharity {
                    campaign_id: c.campaign_id,
                    org_id: org.org_id.clone(),
                    charity: c.charity,
                }
                .into());
            }
            if !c.platforms.contains(&org.org_id) {
                return Err(TxError::PlatformNotListed {
                    campaign_id: c.campaign_id,
                    org_id: org.org_id.clone(),
                }
                .into());
            }
        }
        if k.received_at < c.starts_at || k.received_at > c.ends_at {
            return Err(TxError::OutsideWindow {
                campaign_id: c.campaign_id,
                received_at: k.received_at,
                starts_at: c.starts_at,
                ends_at: c.ends_at,
            }
            .into());
        }
        if k.received_at > self.time {
            return Err(TxError::ReceivedInFuture {
                received_at: k.received_at,
                block_time: self.time,
            }
            .into());
        }
        let deadline = c.ends_at.saturating_add(LATE_RECORDING_GRACE_MS);
        if self.time > deadline {
            return Err(TxError::RecordedTooLate {
                campaign_id: c.campaign_id,
                ends_at: c.ends_at,
                deadline,
                block_time: self.time,
            }
            .into());
        }
        if let Some(line) = &k.restricted_line {
            if c.line(line).is_none() {
                return Err(TxError::UnknownBudgetLine {
                    campaign_id: c.campaign_id,
                    line: line.clone(),
                }
                .into());
            }
        }
        self.receive(
            &mut c,
            id,
            index,
            k.amount,
            Donor::Tag(k.donor_tag.clone()),
            k.display_name.clone(),
            k.restricted_line.clone(),
            k.channel.clone(),
            org.org_id.clone(),
            k.received_at,
        )?;
        self.ov.campaigns.put(key_campaign(&k.campaign_id), c);
        Ok(())
    }

    /// Plans which donations a disbursement of `amount` on `line` consumes:
    /// restricted to the line first, oldest first; then unrestricted, oldest
    /// first (design, "Allocation"). Reads only.
    fn plan_allocation(
        &mut self,
        c: &CampaignRecord,
        line: &LineName,
        amount: u64,
    ) -> Result<Vec<(Vec<u8>, Hash, u64)>, ExecError> {
        let mut plan = Vec::new();
        let mut left = amount;
        for queue in [Some(line), None] {
            let (mut from, end) = queue_prefix(&c.campaign_id, queue).prefix_range();
            while left > 0 {
                let Some((qkey, id)) = self.ov.raw.first_in(self.kv, &from, &end)? else {
                    break;
                };
                let id = <[u8; 32]>::try_from(id.as_slice())
                    .map(Hash::from)
                    .map_err(|_| KvError::Corrupt {
                        key: format!("open donation queue of {}", c.campaign_id),
                        reason: "value is not a 32-byte id".into(),
                    })?;
                let d = self
                    .ov
                    .donations
                    .get(self.kv, &key_donation(&id))?
                    .ok_or_else(|| KvError::Corrupt {
                        key: format!("donation {id}"),
                        reason: "queued donation is missing".into(),
                    })?;
                let take = d.unallocated().min(left);
                if take > 0 {
                    plan.push((qkey.clone(), id, take));
                    left -= take;
                }
                from = qkey;
                from.push(0);
            }
        }
        if left > 0 {
            // The totals said the money was there but the queues disagree:
            // refuse rather than allocate less than the amount.
            return Err(TxError::InsufficientFunds {
                campaign_id: c.campaign_id.clone(),
                available: amount - left,
                amount,
            }
            .into());
        }
        Ok(plan)
    }

    fn disbursement(
        &mut self,
        org: &OrgRecord,
        id: Hash,
        index: u32,
        k: &Disbursement,
    ) -> Result<(), ExecError> {
        let mut c = self.campaign(&k.campaign_id)?;
        if org.org_id != c.charity {
            return Err(TxError::NotCampaignCharity {
                campaign_id: c.campaign_id,
                org_id: org.org_id.clone(),
                charity: c.charity,
            }
            .into());
        }
        // Spending continues after a campaign closes (leftover money goes
        // where the leftover plan says), but never before approval.
        if !matches!(c.status, CampaignStatus::Approved | CampaignStatus::Closed) {
            return Err(TxError::CampaignNotOpen {
                campaign_id: c.campaign_id,
                status: c.status.as_str(),
            }
            .into());
        }
        let Some(budget_line) = c.line(&k.line).cloned() else {
            return Err(TxError::UnknownBudgetLine {
                campaign_id: c.campaign_id,
                line: k.line.clone(),
            }
            .into());
        };
        if budget_line.category != k.category {
            return Err(TxError::CategoryMismatch {
                line: k.line.clone(),
                expected: budget_line.category.as_str(),
                got: k.category.as_str(),
            }
            .into());
        }
        let spent_line = c.spent_by_line.get(&k.line).copied().unwrap_or(0);
        if spent_line.saturating_add(k.amount) > budget_line.amount {
            return Err(TxError::BudgetLineExceeded {
                campaign_id: c.campaign_id,
                line: k.line.clone(),
                budget: budget_line.amount,
                spent: spent_line,
                amount: k.amount,
            }
            .into());
        }
        let restricted = c.restricted_unallocated.get(&k.line).copied().unwrap_or(0);
        let available = restricted.saturating_add(c.unrestricted_unallocated());
        if available < k.amount {
            return Err(TxError::InsufficientFunds {
                campaign_id: c.campaign_id,
                available,
                amount: k.amount,
            }
            .into());
        }
        // A grant: the recipient campaign must exist and be open.
        let mut grant_target = None;
        if k.recipient.kind == RecipientKind::Campaign {
            let target_id = CampaignId::parse(k.recipient.id.as_deref().unwrap_or_default())
                .map_err(|e| TxError::InvalidRecipient {
                    reason: e.to_string(),
                })?;
            if target_id == c.campaign_id {
                return Err(TxError::SelfGrant {
                    campaign_id: target_id,
                }
                .into());
            }
            let t = self.campaign(&target_id)?;
            if t.status != CampaignStatus::Approved {
                return Err(TxError::CampaignNotOpen {
                    campaign_id: target_id,
                    status: t.status.as_str(),
                }
                .into());
            }
            add(t.raised, k.amount, || {
                format!("campaign {} raised", t.campaign_id)
            })?;
            grant_target = Some(t);
        }
        let plan = self.plan_allocation(&c, &k.line, k.amount)?;

        // All checks passed: write.
        let mut from_restricted = 0u64;
        for (n, (qkey, donation_id, take)) in plan.iter().enumerate() {
            let dkey = key_donation(donation_id);
            if let Some(d) = self.ov.donations.get_mut(self.kv, &dkey)? {
                d.allocated += take;
                if d.restricted_line.is_some() {
                    from_restricted += take;
                }
                if d.unallocated() == 0 {
                    self.ov.raw.delete(qkey.clone());
                }
            }
            let row = encode_record(&AllocationRow {
                disbursement_id: id,
                donation_id: *donation_id,
                amount: *take,
            });
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            self.ov.raw.put(
                Key::new(schema::ALLOC_BY_DONATION)
                    .hash(donation_id)
                    .u64(self.height)
                    .u32(index)
                    .build(),
                row.clone(),
            );
            self.ov.raw.put(
                Key::new(schema::ALLOC_BY_DISBURSEMENT)
                    .hash(&id)
                    .u32(n)
                    .build(),
                row,
            );
        }
        if from_restricted > 0 {
            if let Some(r) = c.restricted_unallocated.get_mut(&k.line) {
                *r = r.saturating_sub(from_restricted);
                if *r == 0 {
                    c.restricted_unallocated.remove(&k.line);
                }
            }
        }
        c.spent += k.amount;
        *c.spent_by_line.entry(k.line.clone()).or_insert(0) += k.amount;
        c.disbursement_count += 1;
        if grant_target.is_some() {
            c.granted_out += k.amount;
        }
        for e in &k.evidence {
            self.ov.raw.put(
                Key::new(schema::EVIDENCE)
                    .hash(&e.sha256)
                    .u64(self.height)
                    .u32(index)
                    .build(),
                id.as_bytes().to_vec(),
            );
        }
        self.ov.raw.put(
            Key::new(schema::CAMPAIGN_DISBURSEMENTS)
                .id(c.campaign_id.as_str())
                .u64(self.height)
                .u32(index)
                .build(),
            id.as_bytes().to_vec(),
        );
        self.ov.disbursements.put(
            key_disbursement(&id),
            DisbursementRecord {
                disbursement_id: id,
                campaign_id: c.campaign_id.clone(),
                amount: k.amount,
                category: k.category,
                line: k.line.clone(),
                recipient: k.recipient.clone(),
                purpose: k.purpose.clone(),
                evidence_count: u32::try_from(k.evidence.len()).unwrap_or(u32::MAX),
                height: self.height,
                index,
                time: self.time,
                grant_to: grant_target.as_ref().map(|t| t.campaign_id.clone()),
                allocation_count: u32::try_from(plan.len()).unwrap_or(u32::MAX),
            },
        );
        let source = c.campaign_id.clone();
        self.ov.campaigns.put(key_campaign(&source), c);
        if let Some(mut t) = grant_target {
            self.receive(
                &mut t,
                id,
                index,
                k.amount,
                Donor::Campaign(source.clone()),
                None,
                None,
                "grant".into(),
                org.org_id.clone(),
                self.time,
            )?;
            self.ov
                .campaigns
                .put(key_campaign(&t.campaign_id.clone()), t);
        }
        Ok(())
    }

    fn refund(
        &mut self,
        org: &OrgRecord,
        id: Hash,
        index: u32,
        k: &Refund,
    ) -> Result<(), ExecError> {
        let dkey = key_donation(&k.donation_id);
        let Some(d) = self.ov.donations.get(self.kv, &dkey)?.cloned() else {
            return Err(TxError::UnknownDonation {
                donation_id: k.donation_id,
            }
            .into());
        };
        if d.is_grant() {
            return Err(TxError::GrantNotRefundable {
                donation_id: k.donation_id,
            }
            .into());
        }
        let mut c = self.campaign(&d.campaign_id)?;
        if org.org_id != d.recorder && org.org_id != c.charity {
            return Err(TxError::NotDonationRecorder {
                donation_id: k.donation_id,
                org_id: org.org_id.clone(),
            }
            .into());
        }
        if k.amount > d.unallocated() {
            return Err(TxError::RefundExceedsUnallocated {
                donation_id: k.donation_id,
                unallocated: d.unallocated(),
                amount: k.amount,
            }
            .into());
        }
        let mut d = d;
        d.refunded += k.amount;
        if d.unallocated() == 0 {
            self.ov.raw.delete(
                queue_prefix(&d.campaign_id, d.restricted_line.as_ref())
                    .u64(d.seq)
                    .build(),
            );
        }
        if let Some(line) = &d.restricted_line {
            if let Some(r) = c.restricted_unallocated.get_mut(line) {
                *r = r.saturating_sub(k.amount);
                if *r == 0 {
                    c.restricted_unallocated.remove(line);
                }
            }
        }
        c.refunded += k.amount;
        self.ov.raw.put(
            Key::new(schema::REFUND).hash(&id).build(),
            encode_record(&RefundRecord {
                refund_id: id,
                donation_id: k.donation_id,
                campaign_id: c.campaign_id.clone(),
                amount: k.amount,
                reason: k.reason.clone(),
                height: self.height,
                time: self.time,
            }),
        );
        self.ov.raw.put(
            Key::new(schema::CAMPAIGN_REFUNDS)
                .id(c.campaign_id.as_str())
                .u64(self.height)
                .u32(index)
                .build(),
            id.as_bytes().to_vec(),
        );
        self.ov.donations.put(dkey, d);
        self.ov
            .campaigns
            .put(key_campaign(&c.campaign_id.clone()), c);
        Ok(())
    }

    fn campaign_of_charity(
        &mut self,
        org: &OrgRecord,
        id: &CampaignId,
    ) -> Result<CampaignRecord, ExecError> {
        let c = self.campaign(id)?;
        if org.org_id != c.charity {
            return Err(TxError::NotCampaignCharity {
                campaign_id: c.campaign_id,
                org_id: org.org_id.clone(),
                charity: c.charity,
            }
            .into());
        }
        Ok(c)
    }

    fn report_index(&mut self, c: &CampaignId, id: Hash, index: u32) {
        self.ov.raw.put(
            Key::new(schema::CAMPAIGN_REPORTS)
                .id(c.as_str())
                .u64(self.height)
                .u32(index)
                .build(),
            id.as_bytes().to_vec(),
        );
    }

    fn progress_report(
        &mut self,
        org: &OrgRecord,
        id: Hash,
        index: u32,
        k: &ProgressReport,
    ) -> Result<(), ExecError> {
        let mut c = self.campaign_of_charity(org, &k.campaign_id)?;
        if !matches!(c.status, CampaignStatus::Approved | CampaignStatus::Closed) {
            return Err(TxError::CampaignNotOpen {
                campaign_id: c.campaign_id,
                status: c.status.as_str(),
            }
            .into());
        }
        c.report_count += 1;
        c.last_report_at = Some(self.time);
        for e in &k.evidence {
            self.ov.raw.put(
                Key::new(schema::EVIDENCE)
                    .hash(&e.sha256)
                    .u64(self.height)
                    .u32(index)
                    .build(),
                id.as_bytes().to_vec(),
            );
        }
        self.report_index(&k.campaign_id, id, index);
        self.ov.campaigns.put(key_campaign(&k.campaign_id), c);
        Ok(())
    }

    fn close_campaign(
        &mut self,
        org: &OrgRecord,
        id: Hash,
        index: u32,
        k: &CloseCampaign,
    ) -> Result<(), ExecError> {
        let mut c = if org.role == OrgRole::Regulator {
            self.campaign(&k.campaign_id)?
        } else {
            self.campaign_of_charity(org, &k.campaign_id)?
        };
        if c.status != CampaignStatus::Approved {
            return Err(TxError::CampaignNotOpen {
                campaign_id: c.campaign_id,
                status: c.status.as_str(),
            }
            .into());
        }
        c.status = CampaignStatus::Closed;
        c.closed_at = Some(self.time);
        self.report_index(&k.campaign_id, id, index);
        self.ov.campaigns.put(key_campaign(&k.campaign_id), c);
        Ok(())
    }

    fn note_index(&mut self, subject: &str, id: Hash, index: u32) {
        self.ov.raw.put(
            Key::new(schema::SUBJECT_NOTES)
                .id(subject)
                .u64(self.height)
                .u32(index)
                .build(),
            id.as_bytes().to_vec(),
        );
    }

    fn correction(
        &mut self,
        org: &OrgRecord,
        id: Hash,
        index: u32,
        k: &Correction,
    ) -> Result<(), ExecError> {
        let Some(loc) = self.location(&k.target_tx)? else {
            return Err(TxError::UnknownTx { tx_id: k.target_tx }.into());
        };
        if loc.org != org.org_id {
            return Err(TxError::NotOriginalSigner {
                tx_id: k.target_tx,
                org_id: org.org_id.clone(),
                original: loc.org,
            }
            .into());
        }
        self.note_index(&k.target_tx.to_hex(), id, index);
        Ok(())
    }

    fn audit_note(
        &mut self,
        org: &OrgRecord,
        kind: &'static str,
        id: Hash,
        index: u32,
        k: &AuditNote,
    ) -> Result<(), ExecError> {
        if !matches!(org.role, OrgRole::Regulator | OrgRole::Auditor) {
            return Err(role_error(kind, "a regulator or an auditor", org).into());
        }
        let known = match parse_subject(&k.subject)? {
            Subject::Tx(h) => {
                self.is_committed(&h)?
                    || match CampaignId::parse(&k.subject) {
                        Ok(c) => self.ov.campaigns.get(self.kv, &key_campaign(&c))?.is_some(),
                        Err(_) => false,
                    }
            }
            Subject::Org(o) => self.org(&o)?.is_some(),
            Subject::Campaign(c) => self.ov.campaigns.get(self.kv, &key_campaign(&c))?.is_some(),
        };
        if !known {
            return Err(TxError::UnknownSubject {
                subject: k.subject.clone(),
            }
            .into());
        }
        self.note_index(&k.subject, id, index);
        Ok(())
    }

    fn set_validators(
        &mut self,
        org: &OrgRecord,
        kind: &'static str,
        k: &SetValidators,
    ) -> Result<(), ExecError> {
        if org.role != OrgRole::Regulator {
            return Err(role_error(kind, "a regulator", org).into());
        }
        for v in &k.validators {
            match self.org(&v.org_id)? {
                None => {
                    return Err(TxError::UnknownOrg {
                        org_id: v.org_id.clone(),
                    }
                    .into())
                }
                Some(o) if o.status != OrgStatus::Active => {
                    return Err(TxError::OrgNotActive {
                        org_id: o.org_id,
                        status: o.status.as_str(),
                    }
                    .into())
                }
                Some(_) => {}
            }
        }
        let set = ValidatorSet::new(k.validators.clone())?;
        self.ov.raw.put(
            Key::new(schema::VALIDATORS).u64(self.height + 1).build(),
            encode_record(&set),
        );
        self.next_validators = Some(set);
        Ok(())
    }
}
