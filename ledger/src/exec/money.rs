//! Money: donations and grants received, disbursements with their allocation to donations, refunds.

use super::*;

impl<R: KvRead> Executor<'_, R> {
    /// Records money entering campaign `c` (a donation or a grant) and
    /// updates `c` in place; the caller stores `c`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn receive(
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

    pub(super) fn donation(
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
    pub(super) fn plan_allocation(
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

    pub(super) fn disbursement(
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

    pub(super) fn refund(
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
}
