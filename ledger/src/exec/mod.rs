//! Stateful validation and the state transition of one transaction.
//!
//! Every handler checks all of its rules before it writes anything, so a
//! rejected transaction leaves the overlay exactly as it found it and the
//! proposer can skip it and go on with the next.
//!
//! The handlers live beside this file by subject: organisations and
//! validators, campaigns and disclosures, and money (donations,
//! disbursements with their allocation, refunds).

mod campaigns;
mod money;
mod orgs;

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
        self.ov.raw.contains(self.kv, &key_tx(id))
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
}
