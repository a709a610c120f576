//! The `charity` command line against a real local node (`charity-node
//! demo` on loopback): every transaction kind round-trips; a receipt
//! fetched and saved verifies offline and fails after a changed byte; a
//! CSV import of 10,000 donations with bad rows submits exactly the good
//! ones, and a second run adds nothing, while an audit of the node from
//! genesis passes and writes the exports; bad input is a one-line error.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use charity_ledger::dev;
use serde_json::Value;

/// The node binary, built by cargo for this workspace.
fn node_binary() -> PathBuf {
    let out = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "-p",
            "charity-node",
            "--bin",
            "charity-node",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build");
    assert!(out.success(), "building charity-node failed");
    Path::new(env!("CARGO_BIN_EXE_charity")).with_file_name("charity-node")
}

struct Node {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node() -> Node {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(node_binary())
        .arg("demo")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--base-port", "0", "--live-interval", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("explorer: ") {
                let _ = tx.send(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or("")
                        .trim_end_matches('/')
                        .to_string(),
                );
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(180))
        .expect("the demo node started");
    Node { child, url, dir }
}

/// Runs `charity --node URL --json ARGS`; returns (success, stdout, stderr).
fn charity(node: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_charity"))
        .args(["--node", node, "--json"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A transaction through the CLI; returns its id once committed.
fn tx(node: &str, key: &Path, kind: &str, args: &[&str]) -> String {
    let key = key.to_str().unwrap();
    let mut all = vec!["tx", "--key", key, kind];
    all.extend_from_slice(args);
    let (ok, out, err) = charity(node, &all);
    assert!(ok, "charity tx {kind} failed: {err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["status"], "committed", "{out}");
    assert_eq!(v["kind"], kind.replace('-', "_"));
    v["tx_id"].as_str().unwrap().to_string()
}

fn get(node: &str, path: &str) -> Value {
    let body = ureq::get(&format!("{node}{path}"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    serde_json::from_str(&body).unwrap()
}

fn date(ms: u64) -> String {
    charity_ledger::time::date(ms)
}

#[test]
fn every_kind_round_trips_and_a_batch_imports_once() {
    let node = start_node();
    let n = node.url.as_str();
    let keys = node.dir.path().join("keys");
    let bureau = keys.join("city-bureau.key");
    let platform = keys.join("platform-a.key");
    let auditor = keys.join("auditor.key");
    let work = tempfile::tempdir().unwrap();
    let platform_key = charity_sdk::keys::load(&platform).unwrap();
    let orgs = get(n, "/v1/orgs");
    let platform_id = orgs
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["keys"][0] == platform_key.public().to_string())
        .unwrap()["org_id"]
        .as_str()
        .unwrap()
        .to_string();

    // A new charity, registered and then qualified by the bureau.
    let charity_key = work.path().join("charity.key");
    let (ok, _, err) = charity(n, &["keygen", "--out", charity_key.to_str().unwrap()]);
    assert!(ok, "{err}");
    let pubkey = charity_sdk::keys::load(&charity_key)
        .unwrap()
        .public()
        .to_string();
    let org_id = dev::org_id("53440100MJC000777").unwrap().to_string();
    tx(
        n,
        &bureau,
        "register-org",
        &[
            "--org-id",
            &org_id,
            "--name",
            "命令行测试慈善会",
            "--role",
            "charity",
            "--key-pub",
            &pubkey,
            "--region",
            "440100",
        ],
    );
    tx(
        n,
        &bureau,
        "update-org",
        &[
            "--org-id",
            &org_id,
            "--status",
            "active",
            "--public-fundraising",
            "true",
        ],
    );

    // Its campaign, open from yesterday for a month.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let day = 86_400_000;
    let (starts, ends) = (date(now - day), date(now + 30 * day));
    tx(
        n,
        &charity_key,
        "file-campaign",
        &[
            "--campaign",
            "cli-test",
            "--title",
            "命令行测试项目",
            "--description",
            "测试",
            "--target",
            "100000.00",
            "--starts",
            &starts,
            "--ends",
            &ends,
            "--region",
            "440100",
            "--beneficiaries",
            "测试受益人",
            "--line",
            "meals:program:80000.00",
            "--line",
            "admin:management:20000.00",
            "--platform",
            &platform_id,
            "--leftover-plan",
            "转入同类项目",
        ],
    );
    tx(
        n,
        &bureau,
        "approve-campaign",
        &["--campaign", "cli-test", "--filing-no", "53440100CLI001"],
    );
    let d1 = tx(
        n,
        &platform,
        "donation",
        &[
            "--campaign",
            "cli-test",
            "--amount",
            "100.00",
            "--donor-code",
            "K7QF-2M9D-XR4T-8HWA-6PZN",
            "--payment-ref",
            "cli-pay-1",
            "--display-name",
            "李女士",
        ],
    );
    let d2 = tx(
        n,
        &platform,
        "donation",
        &[
            "--campaign",
            "cli-test",
            "--amount",
            "50.50",
            "--donor-code",
            "K7QF-2M9D-XR4T-8HWA-6PZN",
            "--payment-ref",
            "cli-pay-2",
            "--channel",
            "alipay",
        ],
    );
    let invoice = work.path().join("invoice.txt");
    std::fs::write(&invoice, "发票 No.1").unwrap();
    let evidence = format!("{}=餐费发票", invoice.display());
    let x = tx(
        n,
        &charity_key,
        "disbursement",
        &[
            "--campaign",
            "cli-test",
            "--amount",
            "80.00",
            "--category",
            "program",
            "--line",
            "meals",
            "--recipient-kind",
            "vendor",
            "--recipient-name",
            "某某餐饮有限公司",
            "--purpose",
            "午餐",
            "--evidence",
            &evidence,
        ],
    );
    tx(
        n,
        &platform,
        "refund",
        &[
            "--donation",
            &d2,
            "--amount",
            "50.50",
            "--reason",
            "重复支付",
        ],
    );
    tx(
        n,
        &charity_key,
        "progress-report",
        &[
            "--campaign",
            "cli-test",
            "--title",
            "开餐",
            "--body",
            "第一批学校开餐",
            "--evidence",
            &evidence,
        ],
    );
    tx(
        n,
        &charity_key,
        "correction",
        &["--target-tx", &x, "--note", "发票号更正"],
    );
    tx(
        n,
        &auditor,
        "audit-note",
        &[
            "--subject",
            "cli-test",
            "--severity",
            "info",
            "--finding",
            "抽查无异常",
        ],
    );
    let validators: Vec<String> = get(n, "/v1/validators")
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            format!(
                "{}:{}:{}",
                v["pubkey"].as_str().unwrap(),
                v["power"],
                v["org_id"].as_str().unwrap()
            )
        })
        .collect();
    let mut args = Vec::new();
    for v in &validators {
        args.push("--validator");
        args.push(v.as_str());
    }
    tx(n, &bureau, "set-validators", &args);

    let c = get(n, "/v1/campaigns/cli-test");
    assert_eq!(c["campaign"]["raised"], 15_050);
    assert_eq!(c["campaign"]["spent"], 8_000);
    assert_eq!(c["campaign"]["refunded"], 5_050);
    assert_eq!(c["campaign"]["filing_no"], "53440100CLI001");
    assert_eq!(
        c["disbursements"][0]["allocations"][0]["donation_id"],
        d1.as_str()
    );
    assert_eq!(c["reports"].as_array().unwrap().len(), 1);
    assert_eq!(c["notes"].as_array().unwrap().len(), 1);

    // The library's typed queries agree, and the checkpoint is signed by
    // the genesis validators.
    let client = charity_sdk::client::Client::new(n);
    let id = charity_ledger::ids::CampaignId::parse("cli-test").unwrap();
    assert_eq!(client.campaign(&id).unwrap().raised, 15_050);
    assert_eq!(client.campaign_donations(&id, 0, 10).unwrap().len(), 2);
    let li = charity_ledger::donor::Donor::Tag(
        charity_ledger::donor::DonorCode::parse("K7QF-2M9D-XR4T-8HWA-6PZN")
            .unwrap()
            .tag(),
    );
    assert!(client.donor_donations(&li).unwrap().len() >= 3);
    let trace = client
        .trace(&charity_ledger::hex::Hash::parse(&d1).unwrap())
        .unwrap();
    assert_eq!(trace.root.spent[0].amount, 8_000);
    assert_eq!(trace.root.unspent, 2_000);
    assert!(client
        .orgs()
        .unwrap()
        .iter()
        .any(|o| o.org_id.as_str() == org_id));
    let trusted = charity_ledger::Genesis::decode(&client.get_bytes("/v1/genesis").unwrap())
        .unwrap()
        .validator_set()
        .unwrap()
        .public_list();
    charity_sdk::witness::verify_checkpoint(&client.checkpoint().unwrap(), &trusted).unwrap();

    // The receipt, saved and verified offline; one changed byte fails.
    let receipt = work.path().join("receipt.json");
    let (ok, _, err) = charity(
        n,
        &["receipt", "get", &d1, "--out", receipt.to_str().unwrap()],
    );
    assert!(ok, "{err}");
    let genesis = work.path().join("genesis.json");
    std::fs::write(
        &genesis,
        ureq::get(&format!("{n}/v1/genesis"))
            .call()
            .unwrap()
            .into_string()
            .unwrap(),
    )
    .unwrap();
    let verify = |file: &Path| {
        charity(
            n,
            &[
                "receipt",
                "verify",
                file.to_str().unwrap(),
                "--validators",
                genesis.to_str().unwrap(),
            ],
        )
    };
    let (ok, _, err) = verify(&receipt);
    assert!(ok, "{err}");
    let mut bytes = std::fs::read(&receipt).unwrap();
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
    let bad = work.path().join("bad.json");
    std::fs::write(&bad, bytes).unwrap();
    let (ok, _, err) = verify(&bad);
    assert!(
        !ok && err.contains("step") && err.trim().lines().count() == 1,
        "{err}"
    );

    // Bad input: an unknown campaign is one line and a non-zero exit.
    let (ok, _, err) = charity(
        n,
        &[
            "tx",
            "--key",
            platform.to_str().unwrap(),
            "donation",
            "--campaign",
            "no-such-campaign",
            "--amount",
            "1.00",
            "--donor-code",
            "K7QF-2M9D-XR4T-8HWA-6PZN",
            "--payment-ref",
            "x",
        ],
    );
    assert!(
        !ok && err.contains("no-such-campaign") && err.trim().lines().count() == 1,
        "{err}"
    );

    // The nightly batch: 10,000 rows, 7 of them bad.
    let alphabet = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut csv = String::from("campaign_id,amount,donor_code,channel,payment_ref,received_at\n");
    let received = charity_ledger::time::datetime(now - 3_600_000);
    let bad_lines = [12u64, 345, 2_000, 5_555, 7_001, 9_000, 10_001];
    for i in 0..10_000u64 {
        let line = i + 2;
        let code: String = (0..20)
            .map(|j| alphabet[((i * 7 + j * 13 + i / 32) % 32) as usize] as char)
            .collect();
        let row = match bad_lines.iter().position(|b| *b == line) {
            Some(0) => format!("cli-test,1.234,{code},alipay,batch-{i},{received}"),
            Some(1) => format!("cli-test,-5,{code},alipay,batch-{i},{received}"),
            Some(2) => format!("no-such-campaign,10.00,{code},alipay,batch-{i},{received}"),
            Some(3) => format!("cli-test,10.00,NOT-A-CODE,alipay,batch-{i},{received}"),
            Some(4) => format!("cli-test,10.00,{code},alipay,batch-{i},yesterday"),
            Some(5) => format!("cli-test,10.00,{code},alipay,batch-0,{received}"),
            Some(_) => format!("cli-test,10.00,{code},alipay,batch-{i},2020-01-01T00:00:00+08:00"),
            None => format!(
                "cli-test,{}.{:02},{code},wechat_pay,batch-{i},{received}",
                1 + i % 500,
                i % 100
            ),
        };
        csv.push_str(&row);
        csv.push('\n');
    }
    let file = work.path().join("day.csv");
    std::fs::write(&file, csv).unwrap();
    let import = || {
        charity(
            n,
            &[
                "import",
                "donations",
                file.to_str().unwrap(),
                "--key",
                platform.to_str().unwrap(),
            ],
        )
    };
    let before = get(n, "/v1/campaigns/cli-test")["campaign"]["donation_count"]
        .as_u64()
        .unwrap();
    // A regulator audits the node from genesis while the import and the
    // demo's live donations keep it committing: each answer it compares
    // says the height it was read at, so a moving node passes, and the
    // exports come from the audit's own replay.
    // Her witness, run from cron, saw a checkpoint: the audit proves the
    // chain holds it.
    let state = work.path().join("witness.json");
    let (ok, out, err) = charity(n, &["witness", "--state", state.to_str().unwrap()]);
    assert!(ok, "{out} {err}");
    let audited = work.path().join("audited");
    let auditing = {
        let (node, audited, state) = (n.to_string(), audited.clone(), state.clone());
        std::thread::spawn(move || {
            charity(
                &node,
                &[
                    "audit",
                    "--export",
                    audited.to_str().unwrap(),
                    "--witness",
                    state.to_str().unwrap(),
                ],
            )
        })
    };
    let (ok, out, err) = import();
    assert!(!ok, "bad rows make the import exit non-zero");
    let report: Value =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    let lines: Vec<u64> = report["bad_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, bad_lines, "{report}");
    assert_eq!(report["submitted"], 9_993);
    assert_eq!(report["committed"], 9_993, "{report}");
    let after = get(n, "/v1/campaigns/cli-test")["campaign"]["donation_count"]
        .as_u64()
        .unwrap();
    assert_eq!(after, before + 9_993);
    let (ok, out, err) = auditing.join().unwrap();
    assert!(ok, "the audit of a moving node passes: {out} {err}");
    let audit: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(audit["intact"], true, "{audit}");
    assert!(audit["witness_checkpoint"].as_u64().is_some(), "{audit}");
    assert_eq!(audit["exported"].as_array().unwrap().len(), 6, "{audit}");
    let exported = std::fs::read_to_string(audited.join("donations.csv")).unwrap();
    let rows = exported
        .lines()
        .filter(|l| l.split(',').nth(1) == Some("cli-test"))
        .count() as u64;
    assert!(
        rows >= before,
        "the campaign's {before} donations before the audit began are all exported: {rows}"
    );

    // Again: nothing is submitted twice.
    let (_, out, _) = import();
    let again: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(again["submitted"], 0, "{again}");
    assert_eq!(again["already_on_chain"], 9_993, "{again}");
    assert_eq!(
        get(n, "/v1/campaigns/cli-test")["campaign"]["donation_count"]
            .as_u64()
            .unwrap(),
        after
    );

    // Close the campaign with its final report.
    tx(
        n,
        &charity_key,
        "close-campaign",
        &["--campaign", "cli-test", "--summary", "项目完成"],
    );
    assert_eq!(
        get(n, "/v1/campaigns/cli-test")["campaign"]["status"],
        "closed"
    );
}
