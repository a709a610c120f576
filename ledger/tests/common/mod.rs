//! A small fixture network for the ledger's tests and benchmarks: one
//! regulator, two charities with public-fundraising qualification and one
//! without, two platforms, an auditor, and two approved campaigns.
#![allow(dead_code)]

use charity_ledger::dev::{self, Backend, Committed, DevChain, MemBackend};
use charity_ledger::donor::DonorCode;
use charity_ledger::exec::{ExecError, Executor};
use charity_ledger::hex::Hash;
use charity_ledger::ids::{CampaignId, LineName, Region};
use charity_ledger::kinds::*;
use charity_ledger::org_id::OrgId;
use charity_ledger::tx::{Transaction, TxKind};
use charity_ledger::{validate, Keypair};

/// 2026-01-01T00:00:00Z.
pub const T0: u64 = 1_767_225_600_000;
pub const DAY: u64 = 86_400_000;
pub const CHAIN: &str = "charity-test";

pub fn oid(body: &str) -> OrgId {
    dev::org_id(body).unwrap()
}
pub fn cid(s: &str) -> CampaignId {
    CampaignId::parse(s).unwrap()
}
pub fn line(s: &str) -> LineName {
    LineName::parse(s).unwrap()
}
pub fn region() -> Region {
    Region::parse("440100").unwrap()
}

pub struct Org {
    pub id: OrgId,
    pub key: Keypair,
}

fn org(body: &str, label: &str) -> Org {
    Org {
        id: oid(body),
        key: dev::key(label),
    }
}

pub struct World<B: Backend> {
    pub chain: DevChain<B>,
    pub validators: Vec<Keypair>,
    pub regulator: Org,
    pub charity: Org,
    pub charity2: Org,
    pub nofund: Org,
    pub platform: Org,
    pub platform2: Org,
    pub auditor: Org,
    pub nonce: u64,
    pub time: u64,
}

pub fn validators() -> Vec<Keypair> {
    (0..4)
        .map(|i| dev::key(&format!("validator-{i}")))
        .collect()
}

pub fn regulator() -> Org {
    org("11440100MB0000001", "regulator")
}

pub fn genesis() -> charity_ledger::Genesis {
    let r = regulator();
    dev::genesis(CHAIN, T0 - DAY, &r.id, &r.key, &validators()).unwrap()
}

pub fn lunch() -> CampaignId {
    cid("rural-lunch-2026")
}
pub fn flood() -> CampaignId {
    cid("flood-rebuild-2026")
}

impl World<MemBackend> {
    pub fn new() -> Self {
        Self::with_backend(MemBackend::new(&genesis()).unwrap())
    }
}

impl<B: Backend> World<B> {
    pub fn with_backend(backend: B) -> Self {
        let mut w = World {
            chain: DevChain::new(backend, validators()),
            validators: validators(),
            regulator: regulator(),
            charity: org("53440100MJ0000001", "charity"),
            charity2: org("53440300MJ0000002", "charity2"),
            nofund: org("52440100MJ0000003", "nofund"),
            platform: org("91440300MA0000004", "platform"),
            platform2: org("91110000MA0000005", "platform2"),
            auditor: org("31440000MD0000006", "auditor"),
            nonce: 0,
            time: T0,
        };
        if w.chain.tip().height > 0 {
            return w;
        }
        let reg = |o: &Org, name: &str, role: OrgRole, pf: bool| {
            TxKind::RegisterOrg(RegisterOrg {
                org_id: o.id.clone(),
                name: name.into(),
                role,
                public_fundraising: pf,
                keys: vec![o.key.public()],
                region: region(),
            })
        };
        let kinds = vec![
            reg(&w.charity, "广州市慈善会", OrgRole::Charity, true),
            reg(&w.charity2, "深圳市某县慈善会", OrgRole::Charity, true),
            reg(&w.nofund, "某社区基金会", OrgRole::Charity, false),
            reg(&w.platform, "某公益平台", OrgRole::Platform, false),
            reg(&w.platform2, "另一公益平台", OrgRole::Platform, false),
            reg(&w.auditor, "某会计师事务所", OrgRole::Auditor, false),
        ];
        let txs = kinds
            .into_iter()
            .map(|k| w.tx(&w.regulator.key.clone(), k))
            .collect();
        w.commit(txs).all_accepted().unwrap();
        let file = |id: CampaignId, platforms: Vec<OrgId>| {
            TxKind::FileCampaign(FileCampaign {
                campaign_id: id,
                title: "乡村儿童营养午餐 2026".into(),
                description: "为山区学校提供营养午餐".into(),
                target: 500_000_00,
                starts_at: T0,
                ends_at: T0 + 240 * DAY,
                region: region(),
                beneficiaries: "12 所乡村小学的学生".into(),
                budget: vec![
                    BudgetLine {
                        line: line("meals"),
                        category: Category::Program,
                        amount: 420_000_00,
                    },
                    BudgetLine {
                        line: line("kitchen-equipment"),
                        category: Category::Program,
                        amount: 60_000_00,
                    },
                    BudgetLine {
                        line: line("fundraising-cost"),
                        category: Category::Fundraising,
                        amount: 20_000_00,
                    },
                ],
                platforms,
                leftover_plan: "结余转入下一年度同类项目".into(),
                emergency: None,
            })
        };
        let t1 = w.tx(
            &w.charity.key.clone(),
            file(lunch(), vec![w.platform.id.clone()]),
        );
        let t2 = w.tx(&w.charity2.key.clone(), file(flood(), vec![]));
        w.commit(vec![t1, t2]).all_accepted().unwrap();
        let approve = |id: CampaignId| {
            TxKind::ApproveCampaign(ApproveCampaign {
                campaign_id: id,
                approved: true,
                filing_no: "53440100MJ0000001A26001".into(),
                note: None,
            })
        };
        let a1 = w.tx(&w.regulator.key.clone(), approve(lunch()));
        let a2 = w.tx(&w.regulator.key.clone(), approve(flood()));
        w.commit(vec![a1, a2]).all_accepted().unwrap();
        w
    }

    pub fn tx(&mut self, key: &Keypair, kind: TxKind) -> Transaction {
        self.nonce += 1;
        dev::tx(CHAIN, key, self.nonce, kind).unwrap()
    }

    /// Commits a block one second after the last.
    pub fn commit(&mut self, txs: Vec<Transaction>) -> Committed {
        self.time += 1000;
        let c = self.chain.commit_block(txs, self.time).unwrap();
        self.time = self.chain.tip().time;
        c
    }

    /// Runs every check on `tx` against the current state without
    /// committing it: the code of the first rule it breaks.
    pub fn check(&self, tx: &Transaction) -> Result<(), &'static str> {
        validate::check_stateless(tx, CHAIN).map_err(|e| e.code())?;
        let tip = self.chain.tip();
        let mut ex = Executor::new(self.chain.backend.kv(), tip.height + 1, self.time + 1000);
        ex.apply(tx, 0).map_err(|e| match e {
            ExecError::Tx(t) => t.code(),
            ExecError::Kv(k) => k.code(),
        })
    }

    pub fn donation(
        &self,
        campaign: &CampaignId,
        amount: u64,
        code: &str,
        restricted: Option<&str>,
    ) -> TxKind {
        TxKind::Donation(Donation {
            campaign_id: campaign.clone(),
            amount,
            donor_tag: DonorCode::parse(code).unwrap().tag(),
            display_name: None,
            restricted_line: restricted.map(line),
            channel: "wechat_pay".into(),
            payment_ref_hash: charity_ledger::crypto::sha256(
                format!("pay-{}-{amount}", self.nonce).as_bytes(),
            ),
            received_at: self.time,
        })
    }

    pub fn disbursement(
        &self,
        campaign: &CampaignId,
        amount: u64,
        line_name: &str,
        recipient: Recipient,
    ) -> TxKind {
        let category = if line_name == "fundraising-cost" {
            Category::Fundraising
        } else {
            Category::Program
        };
        TxKind::Disbursement(Disbursement {
            campaign_id: campaign.clone(),
            amount,
            category,
            line: line(line_name),
            recipient,
            purpose: "营养午餐食材".into(),
            evidence: vec![Evidence {
                sha256: charity_ledger::crypto::sha256(b"invoice"),
                title: "发票".into(),
                media_type: "application/pdf".into(),
                uri: None,
            }],
        })
    }

    pub fn vendor() -> Recipient {
        Recipient {
            kind: RecipientKind::Vendor,
            id: None,
            name: "某某餐饮有限公司".into(),
        }
    }

    pub fn grant_to(c: &CampaignId) -> Recipient {
        Recipient {
            kind: RecipientKind::Campaign,
            id: Some(c.to_string()),
            name: "某县慈善会".into(),
        }
    }

    /// Commits one transaction and returns its id; panics if rejected.
    pub fn commit_one(&mut self, key: &Keypair, kind: TxKind) -> Hash {
        let t = self.tx(key, kind);
        let id = t.id();
        self.commit(vec![t]).all_accepted().unwrap();
        id
    }
}

/// Donor codes for fixtures.
pub fn code(i: u32) -> String {
    let mut e = [0u8; 13];
    e[..4].copy_from_slice(&i.to_be_bytes());
    DonorCode::from_entropy(&e).to_string()
}
