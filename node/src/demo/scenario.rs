//! The demo network's people and money: regulators, charities, platforms,
//! five campaigns of different kinds, and a year of donations, spending,
//! a grant between charities, progress reports and a refund.
//!
//! Everything is derived from fixed labels and a seeded generator, so a demo
//! data directory can be rebuilt identically and its donor codes printed
//! again. Credit codes pass the GB 32100-2015 check.

use anyhow::{anyhow, Context, Result};
use charity_ledger::crypto::sha256;
use charity_ledger::dev;
use charity_ledger::donor::DonorCode;
use charity_ledger::genesis::{Genesis, GenesisRegulator};
use charity_ledger::hex::Hash;
use charity_ledger::ids::{CampaignId, LineName, Region};
use charity_ledger::kinds::*;
use charity_ledger::org_id::OrgId;
use charity_ledger::Keypair;

/// The chain id of the demo network.
pub const CHAIN_ID: &str = "charity-demo";
/// 2026-01-01T00:00:00+08:00 in Unix milliseconds.
pub const YEAR_START: u64 = 1_767_196_800_000;
/// One day in milliseconds.
pub const DAY: u64 = 86_400_000;

/// An organisation of the demo with its signing key.
pub struct Org {
    /// Credit code.
    pub id: OrgId,
    /// Name.
    pub name: &'static str,
    /// Role.
    pub role: OrgRole,
    /// Public-fundraising qualification.
    pub public_fundraising: bool,
    /// Region code.
    pub region: &'static str,
    /// Its key (derived from a fixed label: this is demo data).
    pub key: Keypair,
}

fn org(
    body17: &str,
    name: &'static str,
    role: OrgRole,
    pf: bool,
    region: &'static str,
) -> Result<Org> {
    Ok(Org {
        id: OrgId::from_parts(body17)?,
        name,
        role,
        public_fundraising: pf,
        region,
        key: dev::key(&format!("demo/{body17}")),
    })
}

/// Every organisation of the demo.
pub struct Cast {
    /// 广东省民政厅.
    pub province_bureau: Org,
    /// 广州市民政局.
    pub city_bureau: Org,
    /// 广州市慈善会 (runs the school lunches).
    pub city_charity: Org,
    /// 广东省青少年发展基金会 (scholarships).
    pub youth_foundation: Org,
    /// 广东省扶贫济困基金会 (flood relief; grants to the county).
    pub relief_foundation: Org,
    /// 乐昌市慈善会 (county charity rebuilding after the flood).
    pub county_charity: Org,
    /// 广州市老年福利基金会 (elderly care).
    pub elderly_foundation: Org,
    /// 善联公益平台.
    pub platform_a: Org,
    /// 爱心筹公益平台.
    pub platform_b: Org,
    /// 广州正信会计师事务所.
    pub auditor: Org,
    /// Validator keys: two bureaus and two charities run one each.
    pub validators: Vec<(Keypair, OrgId)>,
}

impl Cast {
    /// Builds the cast.
    pub fn new() -> Result<Self> {
        let c = Cast {
            province_bureau: org(
                "11440000MB2C30018",
                "广东省民政厅",
                OrgRole::Regulator,
                false,
                "440000",
            )?,
            city_bureau: org(
                "11440100MB2C90415",
                "广州市民政局",
                OrgRole::Regulator,
                false,
                "440100",
            )?,
            city_charity: org(
                "51440100MJ0164572",
                "广州市慈善会",
                OrgRole::Charity,
                true,
                "440100",
            )?,
            youth_foundation: org(
                "53440000MJ0175063",
                "广东省青少年发展基金会",
                OrgRole::Charity,
                true,
                "440000",
            )?,
            relief_foundation: org(
                "53440000MJ0198722",
                "广东省扶贫济困基金会",
                OrgRole::Charity,
                true,
                "440000",
            )?,
            county_charity: org(
                "51440281MJ0201936",
                "乐昌市慈善会",
                OrgRole::Charity,
                true,
                "440281",
            )?,
            elderly_foundation: org(
                "53440100MJ0214427",
                "广州市老年福利基金会",
                OrgRole::Charity,
                true,
                "440100",
            )?,
            platform_a: org(
                "91440300MA5G2Q7K3",
                "善联公益平台",
                OrgRole::Platform,
                false,
                "440300",
            )?,
            platform_b: org(
                "91330100MA2H8C4P1",
                "爱心筹公益平台",
                OrgRole::Platform,
                false,
                "330100",
            )?,
            auditor: org(
                "31440000MD0315786",
                "广州正信会计师事务所",
                OrgRole::Auditor,
                false,
                "440100",
            )?,
            validators: Vec::new(),
        };
        let validators = [
            &c.province_bureau.id,
            &c.city_bureau.id,
            &c.city_charity.id,
            &c.relief_foundation.id,
        ]
        .iter()
        .map(|o| (dev::key(&format!("demo/validator/{o}")), (*o).clone()))
        .collect();
        Ok(Cast { validators, ..c })
    }

    /// The genesis of the demo network: the two bureaus, four validators.
    pub fn genesis(&self) -> Result<Genesis> {
        let reg = |o: &Org| -> Result<GenesisRegulator> {
            Ok(GenesisRegulator {
                org_id: o.id.clone(),
                name: o.name.into(),
                region: Region::parse(o.region)?,
                keys: vec![o.key.public()],
            })
        };
        let g = Genesis {
            chain_id: CHAIN_ID.into(),
            currency: "CNY".into(),
            genesis_time: YEAR_START,
            regulators: vec![reg(&self.province_bureau)?, reg(&self.city_bureau)?],
            validators: self
                .validators
                .iter()
                .map(|(k, o)| ValidatorEntry {
                    pubkey: k.public(),
                    power: 10,
                    org_id: o.clone(),
                })
                .collect(),
        };
        g.check()?;
        Ok(g)
    }

    /// The organisations registered in the first block.
    pub fn registered(&self) -> Vec<&Org> {
        vec![
            &self.city_charity,
            &self.youth_foundation,
            &self.relief_foundation,
            &self.county_charity,
            &self.elderly_foundation,
            &self.platform_a,
            &self.platform_b,
            &self.auditor,
        ]
    }
}

/// A budget line of a campaign plan.
pub struct Line {
    /// Name.
    pub name: &'static str,
    /// Category.
    pub category: Category,
    /// Budget in fen.
    pub amount: u64,
}

/// A campaign of the demo and how it raises and spends.
pub struct Plan {
    /// Id.
    pub id: &'static str,
    /// Title.
    pub title: &'static str,
    /// Purpose.
    pub description: &'static str,
    /// Who benefits.
    pub beneficiaries: &'static str,
    /// Region.
    pub region: &'static str,
    /// First and last day of the window (days since 2026-01-01).
    pub window: (u64, u64),
    /// Emergency fundraising (filed after it starts).
    pub emergency: bool,
    /// Budget lines.
    pub lines: Vec<Line>,
    /// Donations per day while open (average).
    pub daily_donations: u64,
    /// The typical gift in fen.
    pub typical_gift: u64,
}

/// The campaigns, with the index of the charity running each in
/// [`Cast::registered`] order.
pub fn plans() -> Vec<(usize, Plan)> {
    use Category::*;
    let l = |name, category, yuan: u64| Line {
        name,
        category,
        amount: yuan * 100,
    };
    vec![
        (
            0,
            Plan {
                id: "rural-lunch-2026",
                title: "乡村儿童营养午餐 2026",
                description:
                    "为粤北山区 12 所乡村小学的学生提供每日营养午餐，并为学校食堂添置厨房设备。",
                beneficiaries: "粤北山区 12 所乡村小学约 2,400 名学生",
                region: "440200",
                window: (59, 242),
                emergency: false,
                lines: vec![
                    l("meals", Program, 420_000),
                    l("kitchen-equipment", Program, 60_000),
                    l("fundraising-cost", Fundraising, 20_000),
                ],
                daily_donations: 8,
                typical_gift: 100_00,
            },
        ),
        (
            1,
            Plan {
                id: "scholarship-2026",
                title: "寒门学子助学金 2026",
                description: "资助家庭经济困难的高中生和大学新生完成学业，每人每学年 3,000 元。",
                beneficiaries: "广东省内家庭经济困难学生约 90 名",
                region: "440000",
                window: (120, 364),
                emergency: false,
                lines: vec![
                    l("scholarships", Program, 280_000),
                    l("management", Management, 20_000),
                ],
                daily_donations: 3,
                typical_gift: 100_00,
            },
        ),
        (
            2,
            Plan {
                id: "flood-relief-2026",
                title: "粤北洪灾紧急救援",
                description:
                    "为受洪灾影响的群众提供食品、饮用水、帐篷等紧急物资，并支持受灾县灾后重建。",
                beneficiaries: "韶关、清远受灾群众",
                region: "440200",
                window: (166, 272),
                emergency: true,
                lines: vec![
                    l("emergency-supplies", Program, 600_000),
                    l("reconstruction-grants", Program, 350_000),
                    l("fundraising-cost", Fundraising, 50_000),
                ],
                daily_donations: 14,
                typical_gift: 150_00,
            },
        ),
        (
            3,
            Plan {
                id: "flood-rebuild-lechang",
                title: "乐昌灾后重建",
                description: "修复洪灾损毁的村道、桥梁和农户住房。",
                beneficiaries: "乐昌市受灾村庄",
                region: "440281",
                window: (181, 546),
                emergency: false,
                lines: vec![
                    l("building-materials", Program, 300_000),
                    l("labour", Program, 150_000),
                ],
                daily_donations: 1,
                typical_gift: 100_00,
            },
        ),
        (
            4,
            Plan {
                id: "elderly-care-winter",
                title: "长者冬季关爱行动",
                description: "为独居和困难长者送去冬季餐食、取暖用品，并组织志愿者上门探访。",
                beneficiaries: "广州市独居及困难长者约 1,500 人",
                region: "440100",
                window: (273, 454),
                emergency: false,
                lines: vec![
                    l("meals", Program, 150_000),
                    l("heating", Program, 80_000),
                    l("visits", Program, 20_000),
                ],
                daily_donations: 6,
                typical_gift: 50_00,
            },
        ),
    ]
}

/// The budget lines of a plan as the ledger's type.
pub fn budget(p: &Plan) -> Result<Vec<BudgetLine>> {
    p.lines
        .iter()
        .map(|l| {
            Ok(BudgetLine {
                line: LineName::parse(l.name)?,
                category: l.category,
                amount: l.amount,
            })
        })
        .collect()
}

/// The filing transaction of a plan.
pub fn file_campaign(p: &Plan, platforms: Vec<OrgId>) -> Result<TxKind> {
    let target = p.lines.iter().map(|l| l.amount).sum();
    Ok(TxKind::FileCampaign(FileCampaign {
        campaign_id: CampaignId::parse(p.id)?,
        title: p.title.into(),
        description: p.description.into(),
        target,
        starts_at: YEAR_START + p.window.0 * DAY,
        ends_at: YEAR_START + (p.window.1 + 1) * DAY - 1,
        region: Region::parse(p.region)?,
        beneficiaries: p.beneficiaries.into(),
        budget: budget(p)?,
        platforms,
        leftover_plan: "项目结余资金经理事会决议后用于同类慈善项目，并向社会公开。".into(),
        emergency: p.emergency.then_some(true),
    }))
}

use charity_ledger::tx::TxKind;

/// A demo evidence document: its bytes are written to the data directory
/// so that a person can check it against the chain.
pub struct Document {
    /// File name.
    pub file_name: String,
    /// Title.
    pub title: String,
    /// Content.
    pub bytes: Vec<u8>,
}

impl Document {
    /// A text document standing in for a scanned invoice, contract or photo.
    pub fn new(file_name: &str, title: &str, body: &str) -> Self {
        Document {
            file_name: file_name.into(),
            title: title.into(),
            bytes: format!("{title}\n\n{body}\n").into_bytes(),
        }
    }

    /// The evidence item citing it.
    pub fn evidence(&self) -> Evidence {
        Evidence {
            sha256: sha256(&self.bytes),
            title: self.title.clone(),
            media_type: "text/plain; charset=utf-8".into(),
            uri: Some(format!("evidence/{}", self.file_name)),
        }
    }
}

/// A donor of the demo: the code printed on their receipt.
pub fn donor_code(i: u64) -> DonorCode {
    if i == 0 {
        // 李女士 of the journeys.
        if let Ok(c) = DonorCode::parse("K7QF-2M9D-XR4T-8HWA-6PZN") {
            return c;
        }
    }
    let h = sha256(format!("demo/donor/{i}").as_bytes());
    let mut e = [0u8; 13];
    e.copy_from_slice(&h.0[..13]);
    DonorCode::from_entropy(&e)
}

/// A payment reference's hash (the reference itself stays with the payer).
pub fn payment_ref(n: u64) -> Hash {
    sha256(format!("demo/payment/{n}").as_bytes())
}

/// Parses a campaign id of the plans.
pub fn campaign_id(s: &str) -> Result<CampaignId> {
    CampaignId::parse(s)
        .map_err(|e| anyhow!(e))
        .context("demo campaign id")
}
