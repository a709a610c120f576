//! `charity-node bench`: a network of validator processes on this machine
//! takes signed donations over HTTP from concurrent clients for a fixed
//! time; prints committed transactions per second, submit-to-commit
//! latency, each node's peak memory, and, in the same run, the machine's
//! raw Ed25519 verification rates with the ratio.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use charity_ledger::hex::Hash;
use charity_ledger::ids::{CampaignId, LineName, Region};
use charity_ledger::kinds::{
    ApproveCampaign, BudgetLine, Category, Donation, FileCampaign, OrgRole, RegisterOrg,
};
use charity_ledger::org_id::OrgId;
use charity_ledger::{Genesis, Keypair, Transaction, TxKind};
use charity_sdk::client::{Client, ClientError};

use crate::demo::scenario;
use crate::network::{testnet, Validators};
use charity_node::consensus::node::genesis_path;

/// What to measure.
pub struct BenchOptions {
    /// Validator processes.
    pub validators: usize,
    /// How long the clients submit.
    pub duration: Duration,
    /// Concurrent HTTP clients.
    pub clients: usize,
}

/// Runs the benchmark and prints its figures.
pub fn bench(o: &BenchOptions) -> Result<()> {
    let dir = tempfile::tempdir().context("a temporary directory")?;
    let net = testnet(o.validators, 0, dir.path(), 0, Duration::from_millis(200))?;
    let mut validators = Validators::start(&net.homes)?;
    let clients: Vec<Client> = net
        .http
        .iter()
        .map(|a| Client::new(&format!("http://{a}")))
        .collect();
    validators.wait_ready(&clients, Duration::from_secs(120))?;
    let genesis = Genesis::decode(&std::fs::read(genesis_path(&net.homes[0]))?)
        .map_err(|e| anyhow!("{e}"))?;
    let regulator = charity_sdk::keys::load(&dir.path().join("regulator.key"))?;
    let setup = Setup::new(&genesis, &regulator, &clients[0])?;
    println!(
        "charity-node bench: {} validator processes on loopback; {} HTTP clients submit signed donations for {} s",
        o.validators,
        o.clients,
        o.duration.as_secs()
    );

    let sent: Mutex<HashMap<Hash, Instant>> = Mutex::new(HashMap::new());
    let latencies: Mutex<Vec<Duration>> = Mutex::new(Vec::new());
    let accepted = AtomicU64::new(0);
    let refused = AtomicU64::new(0);
    // The first refusal other than a full pool, to say why.
    let first_error: Mutex<Option<String>> = Mutex::new(None);
    let submitting = AtomicBool::new(true);
    let start_height = height(&clients[0])?;
    let window = Instant::now();
    let mut committed_in_window = 0u64;
    let mut drained_at = None;
    std::thread::scope(|s| -> Result<()> {
        for w in 0..o.clients {
            let (setup, sent, accepted, refused, submitting, first_error) = (
                &setup,
                &sent,
                &accepted,
                &refused,
                &submitting,
                &first_error,
            );
            let client = Client::new(&format!("http://{}", net.http[w % net.http.len()]));
            s.spawn(move || {
                let mut n = 0u64;
                while submitting.load(Ordering::Relaxed) {
                    n += 1;
                    let note = |e: String| {
                        if let Ok(mut f) = first_error.lock() {
                            f.get_or_insert(e);
                        }
                    };
                    let t = match setup.donation(w as u64 * 1_000_000_000 + n) {
                        Ok(t) => t,
                        Err(e) => {
                            note(format!("signing a donation: {e}"));
                            break;
                        }
                    };
                    let id = t.id();
                    // Registered before it is sent: the block holding it
                    // may be seen before `submit` returns.
                    if let Ok(mut m) = sent.lock() {
                        m.insert(id, Instant::now());
                    }
                    match client.submit(&t) {
                        Ok(_) => {
                            accepted.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        Err(ClientError::Api { status: 503, .. }) => {
                            // The pool is full: the node says so; back off.
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        Err(e) => note(e.to_string()),
                    }
                    refused.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut m) = sent.lock() {
                        m.remove(&id);
                    }
                }
            });
        }
        // Follow the chain on node 0: each committed transaction's
        // latency is the time from its submission to the poll that first
        // sees its block (polls every 20 ms).
        let mut seen = start_height;
        loop {
            let now_height = height(&clients[0])?;
            while seen < now_height {
                seen += 1;
                let b = clients[0].get_json(&format!("/v1/blocks/{seen}"))?;
                let ids = b["tx_ids"].as_array().cloned().unwrap_or_default();
                let now = Instant::now();
                let mut m = sent.lock().map_err(|_| anyhow!("a client thread failed"))?;
                let mut l = latencies
                    .lock()
                    .map_err(|_| anyhow!("a client thread failed"))?;
                for id in ids {
                    let Some(id) = id.as_str().and_then(|s| Hash::parse(s).ok()) else {
                        continue;
                    };
                    if let Some(at) = m.remove(&id) {
                        l.push(now - at);
                        if submitting.load(Ordering::Relaxed) {
                            committed_in_window += 1;
                        }
                    }
                }
            }
            if submitting.load(Ordering::Relaxed) && window.elapsed() >= o.duration {
                submitting.store(false, Ordering::Relaxed);
            }
            if !submitting.load(Ordering::Relaxed) {
                let pending = sent.lock().map(|m| m.len()).unwrap_or(0);
                if pending == 0 {
                    drained_at = Some(window.elapsed());
                    break;
                }
                if window.elapsed() > o.duration + Duration::from_secs(120) {
                    println!("{pending} accepted transactions were not committed within 120 s after the clients stopped");
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    })?;
    let blocks = height(&clients[0])?.saturating_sub(start_height);
    // A validator that died during the run would make every figure wrong.
    validators.check_running()?;
    let peaks: Vec<String> = validators
        .pids()
        .into_iter()
        .map(|pid| peak_memory(pid).map_or_else(|| "?".into(), |kib| format!("{} MiB", kib / 1024)))
        .collect();
    drop(validators);

    let mut l = latencies
        .into_inner()
        .map_err(|_| anyhow!("a thread failed"))?;
    l.sort();
    let pct = |p: usize| {
        l.get((l.len() * p / 100).min(l.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1_000.0)
    };
    let secs = o.duration.as_secs_f64();
    let rate = committed_in_window as f64 / secs;
    let all = l.len();
    println!(
        "submitted: {} accepted, {} refused (503 mempool_full and other errors)",
        accepted.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed)
    );
    if let Some(e) = first_error.into_inner().ok().flatten() {
        println!("first refusal other than a full pool: {e}");
    }
    println!(
        "committed: {rate:.0} tx/s sustained ({committed_in_window} in the {secs:.0} s window); {all} in all, the last {}; {blocks} blocks ({:.0} tx/block)",
        drained_at.map_or_else(
            || "not all committed".to_string(),
            |d| format!("{:.1} s after the start", d.as_secs_f64())
        ),
        all as f64 / blocks.max(1) as f64
    );
    println!(
        "submit-to-commit latency: p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms (max {:.0} ms)",
        pct(50),
        pct(90),
        pct(99),
        l.last().map_or(0.0, |d| d.as_secs_f64() * 1_000.0)
    );
    println!("peak memory (VmHWM) per node: {}", peaks.join(", "));
    let (batch, strict) = raw_ed25519();
    println!(
        "raw Ed25519 on all cores: batch {batch:.0} sig/s, verify_strict {strict:.0} sig/s; ratio committed / batch {:.3}, committed / verify_strict {:.3}",
        rate / batch,
        rate / strict
    );
    println!(
        "target: 5000 committed tx/s with p99 under 2 s -> {}",
        if rate >= 5_000.0 && pct(99) < 2_000.0 {
            "met"
        } else {
            "missed"
        }
    );
    Ok(())
}

fn height(c: &Client) -> Result<u64> {
    Ok(c.get_json("/v1/status")?["height"].as_u64().unwrap_or(0))
}

/// A process's peak resident memory in KiB, from `/proc` (Linux).
fn peak_memory(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Ed25519 verifications per second on every core: in batches of 128 (as
/// the audit checks them) and one by one with `verify_strict` (as
/// validators do).
fn raw_ed25519() -> (f64, f64) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let key = Keypair::from_seed(&[7u8; 32]);
    let msgs: Vec<[u8; 32]> = (0..128u32)
        .map(|i| charity_ledger::crypto::sha256(&i.to_be_bytes()).0)
        .collect();
    let sigs: Vec<_> = msgs.iter().map(|m| key.sign(m)).collect();
    let items: Vec<_> = msgs
        .iter()
        .zip(&sigs)
        .map(|(m, s)| (key.public(), m.as_slice(), s))
        .collect();
    let cache = charity_ledger::crypto::KeyCache::new([key.public()].iter());
    let rounds = 200;
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..rounds {
                    assert!(cache.verify_batch(&items), "a valid batch");
                }
            });
        }
    });
    let batch = (threads * rounds * items.len()) as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..rounds / 4 {
                    for (k, m, sig) in &items {
                        assert!(cache.verify(k, m, sig).is_ok(), "a valid signature");
                    }
                }
            });
        }
    });
    let strict = (threads * rounds / 4 * items.len()) as f64 / t.elapsed().as_secs_f64();
    (batch, strict)
}

/// The organisations and the open campaign the donations go to.
struct Setup {
    chain_id: String,
    platform: Keypair,
    campaign: CampaignId,
}

impl Setup {
    /// Registers a charity and a platform, files and approves a campaign
    /// open now; waits until all of it is committed.
    fn new(genesis: &Genesis, regulator: &Keypair, node: &Client) -> Result<Self> {
        let chain_id = genesis.chain_id.clone();
        let charity = charity_sdk::keys::generate();
        let platform = charity_sdk::keys::generate();
        let charity_id = org_id("53440100MJB000001")?;
        let platform_id = org_id("91440100MAB000002")?;
        let campaign =
            CampaignId::parse("bench-school-lunch").map_err(|e| anyhow!("campaign id: {e}"))?;
        let region = Region::parse("440100").map_err(|e| anyhow!("region: {e}"))?;
        let register = |id: &OrgId, name: &str, role, key: &Keypair| {
            TxKind::RegisterOrg(RegisterOrg {
                org_id: id.clone(),
                name: name.into(),
                role,
                public_fundraising: role == OrgRole::Charity,
                keys: vec![key.public()],
                region: region.clone(),
            })
        };
        let now = genesis.genesis_time.max(now_ms());
        let steps = [
            (
                regulator,
                register(&charity_id, "基准测试慈善会", OrgRole::Charity, &charity),
            ),
            (
                regulator,
                register(
                    &platform_id,
                    "基准测试募捐平台",
                    OrgRole::Platform,
                    &platform,
                ),
            ),
            (
                &charity,
                TxKind::FileCampaign(FileCampaign {
                    campaign_id: campaign.clone(),
                    title: "基准测试：乡村学校午餐".into(),
                    description: "为基准测试筹集的午餐补助。".into(),
                    target: 100_000_000_000,
                    starts_at: now.saturating_sub(86_400_000),
                    ends_at: now + 365 * 86_400_000,
                    region: region.clone(),
                    beneficiaries: "乡村学校学生".into(),
                    budget: vec![BudgetLine {
                        line: LineName::parse("meals").map_err(|e| anyhow!("{e}"))?,
                        category: Category::Program,
                        amount: 100_000_000_000,
                    }],
                    platforms: vec![platform_id.clone()],
                    leftover_plan: "结余用于同类项目。".into(),
                    emergency: None,
                }),
            ),
            (
                regulator,
                TxKind::ApproveCampaign(ApproveCampaign {
                    campaign_id: campaign.clone(),
                    approved: true,
                    filing_no: "53440100MJB000001-BENCH".into(),
                    note: None,
                }),
            ),
        ];
        for (key, kind) in steps {
            let t = charity_sdk::tx::sign(&chain_id, key, kind).map_err(|e| anyhow!("{e}"))?;
            let id = node.submit(&t)?;
            node.wait_committed(&id, Duration::from_secs(60))?;
        }
        Ok(Setup {
            chain_id,
            platform,
            campaign,
        })
    }

    /// The `n`th donation, signed by the platform.
    fn donation(&self, n: u64) -> Result<Transaction> {
        let kind = TxKind::Donation(Donation {
            campaign_id: self.campaign.clone(),
            amount: 100_00 + (n % 7) * 1_000,
            donor_tag: scenario::donor_code(n % 100_000).tag(),
            display_name: None,
            restricted_line: None,
            channel: "wechat_pay".into(),
            payment_ref_hash: scenario::payment_ref(n),
            received_at: now_ms().saturating_sub(1_000),
        });
        charity_sdk::tx::sign(&self.chain_id, &self.platform, kind).map_err(|e| anyhow!("{e}"))
    }
}

fn org_id(body: &str) -> Result<OrgId> {
    charity_ledger::dev::org_id(body).map_err(|e| anyhow!("org id {body}: {e}"))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
