//! `charity-node demo`: a local network's history with realistic data.
//!
//! Builds (or reopens) the demo chain under the data directory: the
//! organisations and campaigns of [`scenario`], a year of donations over
//! several channels, spending with evidence documents, a grant from one
//! charity's campaign to another's, progress reports and a refund; every
//! block signed by the four validators. It then prints what a donor, a
//! charity and a regulator would look at, and keeps adding donations at a
//! gentle rate until interrupted.

pub mod scenario;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use charity_ledger::dev::{Committed, DevChain};
use charity_ledger::donor::Donor;
use charity_ledger::hex::{Hash, Nonce};
use charity_ledger::ids::{CampaignId, LineName};
use charity_ledger::kinds::*;
use charity_ledger::org_id::OrgId;
use charity_ledger::records::CampaignStatus;
use charity_ledger::store::Store;
use charity_ledger::trace::TraceNode;
use charity_ledger::tx::{Transaction, TxBody, TxKind};
use charity_ledger::{query, receipt, Keypair};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use scenario::{Cast, Document, Plan, DAY, YEAR_START};

/// Options of the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Where the chain and the evidence documents live.
    pub data_dir: PathBuf,
    /// Keep adding donations until interrupted.
    pub live: bool,
    /// Seconds between rounds of new donations.
    pub live_interval: Duration,
    /// Stop after this many rounds of new donations (none: until Ctrl-C).
    pub live_blocks: Option<u64>,
    /// Port of the HTTP API (0: any free port).
    pub base_port: u16,
}

/// Formats fen as yuan with two decimals and thousands separators.
pub fn yuan(fen: u64) -> String {
    charity_sdk::amount::format_yuan(fen)
}

/// A date in China Standard Time.
pub fn date(ms: u64) -> String {
    charity_ledger::time::date(ms)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

struct Builder<'a> {
    chain: DevChain<Store>,
    cast: &'a Cast,
    rng: StdRng,
    nonce: u64,
    payments: u64,
    docs: Vec<Document>,
    li_donation: Option<Hash>,
}

impl Builder<'_> {
    fn tx(&mut self, key: &Keypair, kind: TxKind) -> Result<Transaction> {
        self.nonce += 1;
        Ok(Transaction::sign(
            TxBody {
                chain_id: scenario::CHAIN_ID.into(),
                signer: key.public(),
                nonce: Nonce::from(self.nonce.to_be_bytes()),
                created_at: self.chain.tip().time,
                kind,
            },
            key,
        )?)
    }

    fn commit(&mut self, txs: Vec<Transaction>, time: u64) -> Result<Committed> {
        let c = self.chain.commit_block(txs, time)?;
        if let Some((id, e)) = c.built.rejected.first() {
            // The scenario is built to be valid: a rejection is a bug in it.
            anyhow::bail!("demo transaction {id} was rejected: {}: {e}", e.code());
        }
        Ok(c)
    }

    fn campaign_charity(&self, owner: usize) -> &Org {
        self.cast.registered()[owner]
    }

    /// What a disbursement on `line` may spend now: money usable for the
    /// line, within its remaining budget.
    fn spendable(&self, campaign: &CampaignId, line: &str) -> Result<u64> {
        let Some(c) = query::campaign(self.chain.backend.kv(), campaign)? else {
            return Ok(0);
        };
        let line = LineName::parse(line)?;
        let budget = c.line(&line).map_or(0, |b| b.amount);
        let spent = c.spent_by_line.get(&line).copied().unwrap_or(0);
        let usable = c.restricted_unallocated.get(&line).copied().unwrap_or(0)
            + c.unrestricted_unallocated();
        Ok(usable.min(budget.saturating_sub(spent)))
    }

    #[allow(clippy::too_many_arguments)]
    fn disburse(
        &mut self,
        out: &mut Vec<Transaction>,
        owner: usize,
        campaign: &str,
        line: &str,
        planned_yuan: u64,
        recipient: Recipient,
        purpose: &str,
        docs: Vec<Document>,
    ) -> Result<()> {
        let id = scenario::campaign_id(campaign)?;
        let amount = self.spendable(&id, line)?.min(planned_yuan * 100);
        if amount == 0 {
            return Ok(());
        }
        let plan_category = scenario::plans()
            .into_iter()
            .find(|(_, p)| p.id == campaign)
            .and_then(|(_, p)| {
                p.lines
                    .into_iter()
                    .find(|l| l.name == line)
                    .map(|l| l.category)
            })
            .unwrap_or(Category::Program);
        let evidence = docs.iter().map(Document::evidence).collect();
        self.docs.extend(docs);
        let key = self.campaign_charity(owner).key.clone();
        let t = self.tx(
            &key,
            TxKind::Disbursement(Disbursement {
                campaign_id: id,
                amount,
                category: plan_category,
                line: LineName::parse(line)?,
                recipient,
                purpose: purpose.into(),
                evidence,
            }),
        )?;
        out.push(t);
        Ok(())
    }
}

use scenario::Org;

fn vendor(name: &str) -> Recipient {
    Recipient {
        kind: RecipientKind::Vendor,
        id: None,
        name: name.into(),
    }
}

fn person(name: &str) -> Recipient {
    Recipient {
        kind: RecipientKind::Person,
        id: None,
        name: name.into(),
    }
}

const DISPLAY_NAMES: [&str; 8] = [
    "爱心人士",
    "张先生",
    "王女士",
    "陈同学",
    "某科技公司员工",
    "匿名",
    "刘家三口",
    "一位老师",
];

/// Builds the history from 2026-01-01 to the day before `until`.
fn build_history(b: &mut Builder<'_>, until: u64) -> Result<()> {
    let cast = b.cast;
    let last_day = until.saturating_sub(YEAR_START) / DAY;
    let last_day = last_day.saturating_sub(1).min(420);
    let at = |day: u64, hour: u64| YEAR_START + day * DAY + hour * 3_600_000;

    // Day 0: the bureaus admit the organisations.
    let mut txs = Vec::new();
    for o in cast.registered() {
        let kind = TxKind::RegisterOrg(RegisterOrg {
            org_id: o.id.clone(),
            name: o.name.into(),
            role: o.role,
            public_fundraising: o.public_fundraising,
            keys: vec![o.key.public()],
            region: charity_ledger::ids::Region::parse(o.region)?,
        });
        let t = b.tx(&cast.province_bureau.key.clone(), kind)?;
        txs.push(t);
    }
    b.commit(txs, at(2, 10))?;

    let plans = scenario::plans();
    let platforms = vec![cast.platform_a.id.clone(), cast.platform_b.id.clone()];
    let mut approved: BTreeMap<&str, bool> = BTreeMap::new();
    let mut donor_pool_next = 1000u64;
    let mut refund_candidate: Option<(Hash, u64, OrgId)> = None;
    println!(
        "building the demo history up to {} ...",
        date(at(last_day, 20))
    );

    for day in 3..=last_day {
        let mut txs = Vec::new();
        for (owner, p) in &plans {
            let filing_day = if p.emergency {
                p.window.0 + 2
            } else {
                p.window.0 - 15
            };
            let approval_day = if p.emergency {
                filing_day + 1
            } else {
                p.window.0 - 10
            };
            let key = b.campaign_charity(*owner).key.clone();
            if day == filing_day {
                let kind = scenario::file_campaign(p, platforms.clone())?;
                txs.push(b.tx(&key, kind)?);
            }
            if day == approval_day {
                let bureau = cast.city_bureau.key.clone();
                let filing_no = format!(
                    "{}A26{:03}",
                    &b.campaign_charity(*owner).id.as_str()[..10],
                    approval_day
                );
                let kind = TxKind::ApproveCampaign(ApproveCampaign {
                    campaign_id: scenario::campaign_id(p.id)?,
                    approved: true,
                    filing_no,
                    note: p
                        .emergency
                        .then(|| "紧急募捐，先行开展、事后补办备案手续".to_owned()),
                });
                txs.push(b.tx(&bureau, kind)?);
                approved.insert(p.id, true);
            }
            let open = approved.get(p.id).copied().unwrap_or(false)
                && day > approval_day
                && day >= p.window.0
                && day <= p.window.1;
            if open {
                donations_of_the_day(
                    b,
                    &mut txs,
                    *owner,
                    p,
                    day,
                    &mut donor_pool_next,
                    &mut refund_candidate,
                )?;
            }
        }
        spending_of_the_day(b, &mut txs, day)?;
        if day == 76 {
            if let Some((id, amount, recorder)) = refund_candidate.take() {
                let key = cast
                    .registered()
                    .into_iter()
                    .find(|o| o.id == recorder)
                    .map(|o| o.key.clone())
                    .unwrap_or_else(|| cast.platform_a.key.clone());
                let kind = TxKind::Refund(Refund {
                    donation_id: id,
                    amount,
                    reason: "捐赠人重复支付，申请退回".into(),
                });
                txs.push(b.tx(&key, kind)?);
            }
        }
        if day == 245 {
            // A bank transfer received on the window's last day, reconciled
            // and recorded three days after it closed: the regulator's pages
            // show it as recorded after the window.
            b.payments += 1;
            let kind = TxKind::Donation(Donation {
                campaign_id: scenario::campaign_id("rural-lunch-2026")?,
                amount: 5_000_00,
                donor_tag: scenario::donor_code(42).tag(),
                display_name: Some("某企业工会".into()),
                restricted_line: None,
                channel: "bank_transfer".into(),
                payment_ref_hash: scenario::payment_ref(b.payments),
                received_at: at(242, 15),
            });
            txs.push(b.tx(&cast.city_charity.key.clone(), kind)?);
        }
        if day == 200 {
            let kind = TxKind::AuditNote(AuditNote {
                subject: "rural-lunch-2026".into(),
                severity: Severity::Info,
                finding: "2026 年上半年专项审计：支出票据齐全，与链上记录一致。".into(),
            });
            txs.push(b.tx(&cast.auditor.key.clone(), kind)?);
        }
        if !txs.is_empty() {
            b.commit(txs, at(day, 20))?;
        }
        if day % 60 == 0 {
            let tip = b.chain.tip();
            println!(
                "  {}: height {}, {} transactions",
                date(at(day, 20)),
                tip.height,
                tip.log.size()
            );
        }
    }
    Ok(())
}

fn donations_of_the_day(
    b: &mut Builder<'_>,
    txs: &mut Vec<Transaction>,
    owner: usize,
    p: &Plan,
    day: u64,
    next_donor: &mut u64,
    refund_candidate: &mut Option<(Hash, u64, OrgId)>,
) -> Result<()> {
    let cast = b.cast;
    let campaign = scenario::campaign_id(p.id)?;
    let n = b.rng.gen_range(0..=2 * p.daily_donations);
    for _ in 0..n {
        let donor = if b.rng.gen_bool(0.7) {
            b.rng.gen_range(1..600)
        } else {
            *next_donor += 1;
            *next_donor
        };
        let factor = [20u64, 50, 100, 100, 100, 200, 500, 1000][b.rng.gen_range(0..8)];
        let amount = p.typical_gift * factor / 100;
        let channel = [
            "wechat_pay",
            "wechat_pay",
            "alipay",
            "alipay",
            "bank_transfer",
            "cash",
        ][b.rng.gen_range(0..6)];
        let (key, recorder) = match channel {
            "bank_transfer" | "cash" => {
                let o = b.campaign_charity(owner);
                (o.key.clone(), o.id.clone())
            }
            _ if b.rng.gen_bool(0.5) => (cast.platform_a.key.clone(), cast.platform_a.id.clone()),
            _ => (cast.platform_b.key.clone(), cast.platform_b.id.clone()),
        };
        let restricted = if b.rng.gen_bool(0.1) {
            p.lines
                .iter()
                .find(|l| l.category == Category::Program)
                .map(|l| l.name)
        } else {
            None
        };
        let display_name = b
            .rng
            .gen_bool(0.15)
            .then(|| DISPLAY_NAMES[b.rng.gen_range(0..DISPLAY_NAMES.len())].to_owned());
        b.payments += 1;
        let received_at = YEAR_START + day * DAY + b.rng.gen_range(8 * 3_600_000..19 * 3_600_000);
        let kind = TxKind::Donation(Donation {
            campaign_id: campaign.clone(),
            amount,
            donor_tag: scenario::donor_code(donor).tag(),
            display_name,
            restricted_line: restricted.map(LineName::parse).transpose()?,
            channel: channel.into(),
            payment_ref_hash: scenario::payment_ref(b.payments),
            received_at,
        });
        let t = b.tx(&key, kind)?;
        if day == 72 && refund_candidate.is_none() && p.id == "rural-lunch-2026" {
            *refund_candidate = Some((t.id(), amount, recorder));
        }
        txs.push(t);
    }
    // 李女士 gives 100.00 yuan for school lunches on 2026-03-12.
    if p.id == "rural-lunch-2026" && day == 70 {
        b.payments += 1;
        let kind = TxKind::Donation(Donation {
            campaign_id: campaign,
            amount: 100_00,
            donor_tag: scenario::donor_code(0).tag(),
            display_name: None,
            restricted_line: None,
            channel: "wechat_pay".into(),
            payment_ref_hash: scenario::payment_ref(b.payments),
            received_at: YEAR_START + day * DAY + 10 * 3_600_000,
        });
        let t = b.tx(&cast.platform_a.key.clone(), kind)?;
        b.li_donation = Some(t.id());
        txs.push(t);
    }
    Ok(())
}

fn spending_of_the_day(b: &mut Builder<'_>, txs: &mut Vec<Transaction>, day: u64) -> Result<()> {
    let cast = b.cast;
    let doc = |file: &str, title: &str, body: &str| Document::new(file, title, body);
    let report = |b: &mut Builder<'_>,
                  owner: usize,
                  campaign: &str,
                  title: &str,
                  body: &str,
                  docs: Vec<Document>|
     -> Result<Transaction> {
        let evidence = docs.iter().map(Document::evidence).collect();
        b.docs.extend(docs);
        let key = b.campaign_charity(owner).key.clone();
        b.tx(
            &key,
            TxKind::ProgressReport(ProgressReport {
                campaign_id: scenario::campaign_id(campaign)?,
                title: title.into(),
                body: body.into(),
                evidence,
            }),
        )
    };
    match day {
        91 => b.disburse(
            txs,
            0,
            "rural-lunch-2026",
            "meals",
            38_000,
            vendor("某某餐饮有限公司"),
            "4 月第一批 12 所学校营养午餐食材与配送",
            vec![doc(
                "lunch-invoice-2026-04.txt",
                "增值税发票 No.44012600-2026040201",
                "某某餐饮有限公司\n营养午餐食材及配送服务\n金额：38,000.00 元",
            )],
        )?,
        94 => {
            let t = report(
                b,
                0,
                "rural-lunch-2026",
                "第一批 12 所学校开餐",
                "4 月 7 日起，12 所乡村小学的 2,400 名学生每天吃上了热腾腾的营养午餐。",
                vec![
                    doc(
                        "lunch-photo-school-1.txt",
                        "开餐照片：乐昌市某小学食堂",
                        "照片说明：学生在食堂就餐。",
                    ),
                    doc(
                        "lunch-photo-school-2.txt",
                        "开餐照片：乳源县某小学",
                        "照片说明：午餐配餐现场。",
                    ),
                ],
            )?;
            txs.push(t);
        }
        100 => b.disburse(
            txs,
            0,
            "rural-lunch-2026",
            "fundraising-cost",
            3_000,
            vendor("善联公益平台技术服务"),
            "募捐信息平台技术服务费",
            vec![doc(
                "platform-fee-2026-04.txt",
                "技术服务费发票",
                "善联公益平台\n金额：3,000.00 元",
            )],
        )?,
        120 => b.disburse(
            txs,
            0,
            "rural-lunch-2026",
            "kitchen-equipment",
            45_000,
            vendor("广州某厨具设备有限公司"),
            "12 所学校食堂蒸饭柜、消毒柜",
            vec![
                doc(
                    "kitchen-contract.txt",
                    "采购合同 GZCS-2026-031",
                    "蒸饭柜 12 台，消毒柜 12 台",
                ),
                doc(
                    "kitchen-invoice.txt",
                    "增值税发票 No.44012600-2026043003",
                    "金额：45,000.00 元",
                ),
            ],
        )?,
        150 | 181 | 212 => b.disburse(
            txs,
            0,
            "rural-lunch-2026",
            "meals",
            40_000,
            vendor("某某餐饮有限公司"),
            "营养午餐食材与配送（月度）",
            vec![doc(
                &format!("lunch-invoice-day{day}.txt"),
                &format!("增值税发票 No.44012600-2026{day:04}"),
                "营养午餐食材及配送服务",
            )],
        )?,
        172 => b.disburse(
            txs,
            2,
            "flood-relief-2026",
            "emergency-supplies",
            150_000,
            vendor("韶关某物资供应公司"),
            "饮用水、方便食品、帐篷等首批救灾物资",
            vec![doc(
                "relief-supplies-1.txt",
                "物资采购清单及发票",
                "饮用水 5,000 箱；帐篷 300 顶",
            )],
        )?,
        176 => {
            let t = report(
                b,
                2,
                "flood-relief-2026",
                "首批救灾物资已送达",
                "首批物资已送达乐昌、乳源 8 个安置点。",
                vec![doc(
                    "relief-photo-1.txt",
                    "物资发放现场照片",
                    "安置点发放现场",
                )],
            )?;
            txs.push(t);
        }
        185 => b.disburse(
            txs,
            2,
            "flood-relief-2026",
            "emergency-supplies",
            120_000,
            vendor("清远某物资供应公司"),
            "第二批救灾物资",
            vec![doc(
                "relief-supplies-2.txt",
                "第二批物资发票",
                "棉被、药品、净水片",
            )],
        )?,
        201 => b.disburse(
            txs,
            2,
            "flood-relief-2026",
            "reconstruction-grants",
            200_000,
            Recipient {
                kind: RecipientKind::Campaign,
                id: Some("flood-rebuild-lechang".into()),
                name: cast.county_charity.name.into(),
            },
            "资助乐昌灾后重建项目",
            vec![doc(
                "grant-agreement.txt",
                "资助协议 GDFP-2026-017",
                "资助金额：200,000.00 元",
            )],
        )?,
        205 => b.disburse(
            txs,
            2,
            "flood-relief-2026",
            "fundraising-cost",
            8_000,
            vendor("爱心筹公益平台技术服务"),
            "平台技术服务费",
            vec![],
        )?,
        215 => b.disburse(
            txs,
            3,
            "flood-rebuild-lechang",
            "building-materials",
            125_000,
            vendor("乐昌某建材有限公司"),
            "水泥、钢筋、预制板（村道及桥梁修复）",
            vec![doc(
                "rebuild-materials.txt",
                "建材采购发票 No.44028100-2026080301",
                "金额：125,000.00 元",
            )],
        )?,
        240 => b.disburse(
            txs,
            3,
            "flood-rebuild-lechang",
            "labour",
            40_000,
            vendor("乐昌某建筑劳务公司"),
            "村道修复人工费",
            vec![doc("rebuild-labour.txt", "劳务合同及结算单", "人工费结算")],
        )?,
        244 => {
            let t = report(
                b,
                3,
                "flood-rebuild-lechang",
                "村道和两座便桥修复完成",
                "3 公里村道和两座便桥已恢复通行。",
                vec![doc("rebuild-photo.txt", "修复后的便桥", "照片说明")],
            )?;
            txs.push(t);
        }
        246 => {
            for (i, name) in ["陈*华", "李*婷", "黄*强", "吴*敏", "林*杰"]
                .iter()
                .enumerate()
            {
                b.disburse(
                    txs,
                    1,
                    "scholarship-2026",
                    "scholarships",
                    3_000,
                    person(name),
                    "2026 学年助学金",
                    vec![doc(
                        &format!("scholarship-{i}.txt"),
                        "助学金申请及公示材料",
                        "家庭经济困难认定材料（已脱敏）",
                    )],
                )?;
            }
            b.disburse(
                txs,
                1,
                "scholarship-2026",
                "scholarships",
                45_000,
                vendor("批量发放：15 名受助学生"),
                "2026 学年助学金（第二批）",
                vec![doc(
                    "scholarship-batch.txt",
                    "受助学生名单公示（已脱敏）",
                    "15 名",
                )],
            )?;
        }
        250 => b.disburse(
            txs,
            1,
            "scholarship-2026",
            "management",
            2_000,
            vendor("项目评审与回访"),
            "项目管理费用",
            vec![],
        )?,
        290 | 320 => b.disburse(
            txs,
            4,
            "elderly-care-winter",
            "meals",
            20_000,
            vendor("广州某社区长者饭堂"),
            "独居长者冬季助餐",
            vec![doc(
                &format!("elderly-meals-{day}.txt"),
                "助餐服务结算单",
                "长者助餐",
            )],
        )?,
        300 => b.disburse(
            txs,
            4,
            "elderly-care-winter",
            "heating",
            15_000,
            vendor("广州某家电商行"),
            "电暖器、棉被",
            vec![doc("elderly-heating.txt", "采购发票", "电暖器 150 台")],
        )?,
        305 => {
            let t = report(
                b,
                4,
                "elderly-care-winter",
                "首批 300 位长者收到冬季关爱包",
                "志愿者已上门探访 300 位独居长者。",
                vec![doc("elderly-photo.txt", "上门探访照片", "照片说明")],
            )?;
            txs.push(t);
        }
        _ => {}
    }
    Ok(())
}

fn print_node(n: &TraceNode, depth: usize) {
    let pad = "    ".repeat(depth + 1);
    for s in &n.spent {
        let d = &s.disbursement;
        match &s.grant {
            Some(g) => {
                println!(
                    "{pad}{} → grant to {} / {} on {}",
                    yuan(s.amount),
                    d.recipient.name,
                    g.campaign_id,
                    date(d.time)
                );
                print_node(g, depth + 1);
            }
            None => println!(
                "{pad}{} → {} ({}) paid to {} on {}{}",
                yuan(s.amount),
                d.purpose,
                d.line,
                d.recipient.name,
                date(d.time),
                if d.evidence_count > 0 {
                    format!(", {} evidence document(s)", d.evidence_count)
                } else {
                    String::new()
                }
            ),
        }
    }
    if n.unspent > 0 {
        println!("{pad}{} not yet spent (尚未使用)", yuan(n.unspent));
    }
    if n.refunded > 0 {
        println!("{pad}{} refunded", yuan(n.refunded));
    }
}

fn summary(store: &Store, cast: &Cast, data_dir: &Path) -> Result<()> {
    let kv = store.kv();
    let tip = store.tip();
    println!();
    println!(
        "charity-ledger demo: chain {}, height {}, {} transactions, data in {}",
        tip.chain_id,
        tip.height,
        tip.log.size(),
        data_dir.display()
    );
    println!("validators: {}", cast.validators.len());
    for (k, o) in &cast.validators {
        let name = query::org(kv, o)?
            .map(|r| r.name)
            .unwrap_or_else(|| o.to_string());
        println!("  {} {}", k.public().short(), name);
    }
    println!();
    println!(
        "{:<24} {:<22} {:>14} {:>14} {:>14} {:>7}",
        "campaign", "status", "raised", "spent", "unallocated", "gifts"
    );
    for c in query::campaigns(kv, 100)? {
        let status = match c.status {
            CampaignStatus::Approved => {
                format!("approved {}", c.filing_no.clone().unwrap_or_default())
            }
            s => s.as_str().to_owned(),
        };
        println!(
            "{:<24} {:<22} {:>14} {:>14} {:>14} {:>7}",
            c.campaign_id.as_str(),
            truncate(&status, 22),
            yuan(c.raised),
            yuan(c.spent),
            yuan(c.unallocated()),
            c.donation_count
        );
    }
    println!();
    println!("donor codes to try (the explorer's 我的捐赠 takes them):");
    for i in [0u64, 1, 2, 3, 7] {
        let code = scenario::donor_code(i);
        let n = query::donor_donations(kv, &Donor::Tag(code.tag()), 1000)?.len();
        if n > 0 {
            println!("  {code}  ({n} donation{})", if n == 1 { "" } else { "s" });
        }
    }
    let li = query::donor_donations(kv, &Donor::Tag(scenario::donor_code(0).tag()), 10)?;
    if let Some(d) = li.first() {
        println!();
        println!(
            "where 李女士's {} of {} went (donation {}):",
            yuan(d.amount),
            date(d.time),
            d.donation_id.short()
        );
        let t = query::trace(kv, &d.donation_id)?;
        print_node(&t.root, 0);
        let r = store.receipt(&d.donation_id)?;
        let trusted = store.validators_at(r.height)?.public_list();
        match receipt::verify_receipt(&r, &trusted) {
            Ok(h) => println!(
                "    receipt verified: steps 1-4 passed (block {} {}, {} validator signatures)",
                r.height,
                h.short(),
                r.commit.signatures.len()
            ),
            Err(e) => println!("    receipt did NOT verify: {e}"),
        }
    }
    println!();
    println!(
        "evidence documents cited on the chain: {}",
        data_dir.join("evidence").display()
    );
    Ok(())
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn write_docs(dir: &Path, docs: &[Document]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for d in docs {
        let path = dir.join(&d.file_name);
        std::fs::write(&path, &d.bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Writes the demo organisations' signing keys (owner-readable only), so
/// that the `charity` command line can act as them against the demo.
fn write_keys(dir: &Path, cast: &Cast) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let named = [
        ("platform-a.key", &cast.platform_a),
        ("platform-b.key", &cast.platform_b),
        ("city-charity.key", &cast.city_charity),
        ("city-bureau.key", &cast.city_bureau),
        ("auditor.key", &cast.auditor),
    ];
    for (file, org) in named {
        let path = dir.join(file);
        if !path.exists() {
            charity_sdk::keys::save(&org.key, &path)
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}

/// Runs the demo.
pub fn run(opts: &DemoOptions) -> Result<()> {
    let cast = Cast::new()?;
    let genesis = cast.genesis()?;
    std::fs::create_dir_all(&opts.data_dir)
        .with_context(|| format!("creating {}", opts.data_dir.display()))?;
    let store_path = opts.data_dir.join("chain");
    let store = Store::open_or_init(&store_path, &genesis)
        .with_context(|| format!("opening the demo chain at {}", store_path.display()))?;
    let keys: Vec<Keypair> = cast.validators.iter().map(|(k, _)| k.clone()).collect();
    let mut b = Builder {
        chain: DevChain::new(store, keys),
        cast: &cast,
        rng: StdRng::seed_from_u64(2026),
        nonce: 0,
        payments: 0,
        docs: Vec::new(),
        li_donation: None,
    };
    if b.chain.tip().height == 0 {
        build_history(&mut b, now_ms())?;
        write_docs(&opts.data_dir.join("evidence"), &b.docs)?;
        write_keys(&opts.data_dir.join("keys"), &cast)?;
    } else {
        b.nonce = b.chain.tip().log.size() + 1_000_000;
    }
    // After a first live run the validators' chains are ahead of the
    // history: report from node 0's.
    let node0 = charity_node::consensus::node::store_path(&opts.data_dir.join("node-0"));
    if b.chain.tip().height > 0 && node0.exists() && b.docs.is_empty() {
        let live = Store::open(&node0)
            .with_context(|| format!("opening the validators' chain at {}", node0.display()))?;
        println!(
            "reusing the demo chain in {} (height {}); delete {} to start afresh",
            node0.display(),
            live.tip().height,
            opts.data_dir.display()
        );
        b.nonce = live.tip().log.size() + 1_000_000;
        summary(&live, &cast, &opts.data_dir)?;
    } else {
        if b.docs.is_empty() {
            println!(
                "reusing the demo chain in {} (height {}); delete the directory to start afresh",
                store_path.display(),
                b.chain.tip().height
            );
        }
        summary(&b.chain.backend, &cast, &opts.data_dir)?;
    }
    if opts.live {
        let Builder {
            chain,
            rng,
            nonce,
            payments,
            ..
        } = b;
        // Close the history's store before the nodes copy and open it.
        drop(chain);
        live(
            Live {
                rng,
                nonce,
                payments,
            },
            &cast,
            &genesis,
            opts,
        )?;
    }
    Ok(())
}

/// The live demo's own state: what it needs to make new donations.
struct Live {
    rng: StdRng,
    nonce: u64,
    payments: u64,
}

/// Copies a directory tree (the history's store, into a node's home).
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Tries to start the validators this many times when their ports are
/// the system's choice.
const START_ATTEMPTS: usize = 3;

/// Writes the validators' homes (copying the demo's chain into any that
/// has none), starts one process per home and waits until each answers.
///
/// With `--base-port 0` the ports are picked free but bound only later,
/// by the validators; another program can take one in between. A failed
/// start is then reported and tried again with other ports (the homes
/// and chains stay). With a port of the user's choosing it is an error.
fn start_validators(
    keys: &[Keypair],
    genesis: &charity_ledger::Genesis,
    opts: &DemoOptions,
) -> Result<(
    crate::network::Testnet,
    crate::network::Validators,
    Vec<charity_sdk::client::Client>,
)> {
    let mut attempt = 1;
    loop {
        let net = crate::network::write_homes(
            &opts.data_dir,
            genesis,
            keys,
            opts.base_port,
            Duration::from_secs(3),
        )?;
        for home in &net.homes {
            let chain = charity_node::consensus::node::store_path(home);
            if !chain.exists() {
                copy_dir(&opts.data_dir.join("chain"), &chain)?;
            }
        }
        // The validators stop when the demo's end of their stdin closes,
        // however the demo ends.
        let mut network = crate::network::Validators::start(&net.homes)?;
        let clients: Vec<charity_sdk::client::Client> = net
            .http
            .iter()
            .map(|a| charity_sdk::client::Client::new(&format!("http://{a}")))
            .collect();
        match network.wait_ready(&clients, Duration::from_secs(120)) {
            Ok(()) => return Ok((net, network, clients)),
            // Only a validator that exited (most likely because another
            // process took one of its ports first) is started again; one
            // that runs but does not answer is reported as it is.
            Err(e)
                if opts.base_port == 0
                    && attempt < START_ATTEMPTS
                    && e.is::<crate::network::ValidatorExited>() =>
            {
                eprintln!("{e:#}");
                eprintln!("starting the validators again on other ports");
                // Dropping stops the ones that did start.
                drop(network);
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Starts the four validators, each its own process with its own home
/// under the data directory, then submits new donations to them at a
/// gentle rate until interrupted.
fn live(
    mut l: Live,
    cast: &Cast,
    genesis: &charity_ledger::Genesis,
    opts: &DemoOptions,
) -> Result<()> {
    let keys: Vec<Keypair> = cast.validators.iter().map(|(k, _)| k.clone()).collect();
    let (net, mut network, clients) = start_validators(&keys, genesis, opts)?;
    let addr = net.http[0];
    println!();
    println!(
        "{} validators running, each its own process (logs: {}/node-*/node.log)",
        net.homes.len(),
        opts.data_dir.display()
    );
    for (i, a) in net.http.iter().enumerate() {
        println!("  node-{i}: http://{a}/");
    }
    println!("explorer: http://{addr}/  (我的捐赠: http://{addr}/donor)");
    println!("HTTP API: http://{addr}/v1/status (campaigns: http://{addr}/v1/campaigns)");
    let now = now_ms();
    let open: Vec<Plan> = scenario::plans()
        .into_iter()
        .map(|(_, p)| p)
        .filter(|p| {
            let start = YEAR_START + p.window.0 * DAY;
            let end = YEAR_START + (p.window.1 + 1) * DAY - 1;
            start <= now && now <= end
        })
        .collect();
    if open.is_empty() {
        println!("no demo campaign is open today; only transactions submitted over HTTP are added");
    }
    println!(
        "submitting new donations every {} s; Ctrl-C stops the demo and its validators",
        opts.live_interval.as_secs()
    );
    let mut rounds = 0u64;
    let mut next_donor = 5_000 + l.nonce;
    loop {
        if opts.live_blocks.is_some_and(|n| rounds >= n) {
            return Ok(());
        }
        std::thread::sleep(opts.live_interval);
        network.check_running()?;
        let now = now_ms();
        let mut sent = 0usize;
        for p in &open {
            let campaign = scenario::campaign_id(p.id)?;
            for _ in 0..l.rng.gen_range(1..=3) {
                next_donor += 1;
                l.payments += 1;
                l.nonce += 1;
                let amount = p.typical_gift * [50u64, 100, 100, 200][l.rng.gen_range(0..4)] / 100;
                let key = if l.rng.gen_bool(0.5) {
                    &cast.platform_a.key
                } else {
                    &cast.platform_b.key
                };
                let tx = Transaction::sign(
                    TxBody {
                        chain_id: scenario::CHAIN_ID.into(),
                        signer: key.public(),
                        nonce: Nonce::from(l.nonce.to_be_bytes()),
                        created_at: now,
                        kind: TxKind::Donation(Donation {
                            campaign_id: campaign.clone(),
                            amount,
                            donor_tag: scenario::donor_code(next_donor).tag(),
                            display_name: None,
                            restricted_line: None,
                            channel: "wechat_pay".into(),
                            payment_ref_hash: scenario::payment_ref(l.payments + 10_000_000),
                            received_at: now.saturating_sub(1_000),
                        }),
                    },
                    key,
                )?;
                let node = &clients[l.rng.gen_range(0..clients.len())];
                match node.submit(&tx) {
                    Ok(_) => sent += 1,
                    Err(e) => eprintln!("charity-node demo: a donation was not accepted: {e}"),
                }
            }
        }
        rounds += 1;
        let height = clients[0]
            .get_json("/v1/status")
            .ok()
            .and_then(|s| s["height"].as_u64())
            .unwrap_or(0);
        println!("  submitted {sent} donation(s); the chain is at height {height}");
    }
}
