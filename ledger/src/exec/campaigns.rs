//! Campaigns and disclosures: filing, approval, progress reports, closing, corrections and audit notes.

use super::*;

impl<R: KvRead> Executor<'_, R> {
    pub(super) fn file_campaign(
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

    pub(super) fn approve_campaign(
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

    pub(super) fn progress_report(
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

    pub(super) fn close_campaign(
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

    pub(super) fn correction(
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

    pub(super) fn audit_note(
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
}
