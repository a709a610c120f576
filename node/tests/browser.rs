//! End to end in a real headless Chromium (Debian's `chromium` driven
//! through `chromedriver`, both installed by `.ci/run`) against a running
//! demo node: a donor types their code and sees their trace; "verify in my
//! browser" passes on a real receipt and fails, agreeing with the ledger's
//! own verifier, on receipts with a changed byte; the evidence check finds
//! a published invoice; the live feed follows committed blocks. Screenshots
//! of the campaign and donor pages are saved under `target/tmp/screenshots`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use charity_ledger::receipt::{verify_receipt, Receipt};
use charity_ledger::Genesis;
use common::{tag, Demo, LI_CODE};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(60);

/// A chromedriver on a port of its own, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is not installed (apt-get install chromium chromium-driver; .ci/run does this)");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("started successfully") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(WAIT).expect("chromedriver did not start");
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-quic", "--no-first-run",
                "--window-size=1200,1800", "--lang=zh-CN",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("start a Chromium session")
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits for the verdict the page's script renders into `#<target>` and
/// returns it with the text of the steps.
async fn verdict(b: &Client, target: &str) -> (String, String) {
    let v = b
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(&format!("#{target} [data-verdict]")))
        .await
        .expect("a verdict");
    let verdict = v.attr("data-verdict").await.unwrap().unwrap();
    let text = b
        .find(Locator::Id(target))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (verdict, text)
}

/// Pastes a receipt into the verify page and runs the browser's check.
async fn verify_pasted(b: &Client, base: &str, receipt: &str) -> (String, String) {
    b.goto(&format!("{base}/verify")).await.unwrap();
    b.execute(
        "document.getElementById('receipt-text').value = arguments[0];",
        vec![Value::String(receipt.to_string())],
    )
    .await
    .unwrap();
    b.find(Locator::Id("verify-pasted"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    verdict(b, "verify-result").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_donor_traces_and_verifies_in_a_real_browser() {
    let demo = Demo::start(1);
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let b = browser(&driver, profile.path()).await;
    let base = demo.base.clone();
    let http = reqwest::Client::new();
    let shots = screenshots();

    // Chinese, chosen with the language switch and remembered.
    b.goto(&format!("{base}/?lang=zh")).await.unwrap();

    // 李女士 types her code as she reads it off the receipt, lower case
    // and with spaces; the page turns it into her tag in the browser.
    b.goto(&format!("{base}/donor")).await.unwrap();
    let input = b.find(Locator::Id("donor-code")).await.unwrap();
    input
        .send_keys(&LI_CODE.to_lowercase().replace('-', " "))
        .await
        .unwrap();
    b.find(Locator::Css("#donor-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let article = b
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("article.donation"))
        .await
        .expect("the donor page lists her donation");
    let url = b.current_url().await.unwrap();
    assert_eq!(url.path(), format!("/donors/{}", tag(LI_CODE)));
    assert!(
        !url.as_str().to_uppercase().contains("K7QF"),
        "the code left the browser: {url}"
    );
    let text = article.text().await.unwrap();
    for want in [
        "100.00 元",
        "乡村儿童营养午餐 2026",
        "某某餐饮有限公司",
        "尚未使用",
    ] {
        assert!(text.contains(want), "missing {want:?} in {text}");
    }

    // A malformed code is refused in the page, naming the problem.
    b.goto(&format!("{base}/donor")).await.unwrap();
    let input = b.find(Locator::Id("donor-code")).await.unwrap();
    input.send_keys("K7QF-2M9D").await.unwrap();
    b.find(Locator::Css("#donor-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let err = b.find(Locator::Id("donor-error")).await.unwrap();
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#donor-error:not(:empty)"))
        .await
        .unwrap();
    assert!(
        err.text().await.unwrap().contains('8'),
        "the error names the length"
    );
    assert_eq!(b.current_url().await.unwrap().path(), "/donor");

    // Verify in my browser, on her real receipt.
    b.goto(&format!("{base}/donors/{}", tag(LI_CODE)))
        .await
        .unwrap();
    let button = b
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("button.verify"))
        .await
        .unwrap();
    let target = button.attr("data-target").await.unwrap().unwrap();
    button.click().await.unwrap();
    let (v, steps) = verdict(&b, &target).await;
    assert_eq!(v, "pass", "{steps}");
    let passed = b
        .find_all(Locator::Css(&format!("#{target} li.pass")))
        .await
        .unwrap();
    assert_eq!(passed.len(), 4, "{steps}");
    std::fs::write(shots.join("donor.png"), b.screenshot().await.unwrap()).unwrap();

    // Receipts with a changed byte fail in the browser exactly when they
    // fail in the ledger's verifier.
    let donations: Value = http
        .get(format!("{base}/v1/donors/{}/donations", tag(LI_CODE)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = donations[0]["donation_id"].as_str().unwrap();
    let receipt = http
        .get(format!("{base}/v1/txs/{id}/receipt"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let genesis = http
        .get(format!("{base}/v1/genesis"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let trusted = Genesis::decode(&genesis)
        .unwrap()
        .validator_set()
        .unwrap()
        .public_list();
    let rust_ok = |bytes: &str| {
        Receipt::decode(bytes.as_bytes())
            .ok()
            .is_some_and(|r| verify_receipt(&r, &trusted).is_ok())
    };
    assert!(rust_ok(&receipt));
    let (v, steps) = verify_pasted(&b, &base, &receipt).await;
    assert_eq!(v, "pass", "{steps}");

    let doc: Value = serde_json::from_str(&receipt).unwrap();
    let flip = |s: &str| -> String {
        let mut c: Vec<char> = s.chars().collect();
        let i = c.len() / 2;
        c[i] = if c[i] == '0' { '1' } else { '0' };
        c.into_iter().collect()
    };
    let mut tampered: Vec<(String, String)> = Vec::new();
    let mut edit = |what: &str, f: &dyn Fn(&mut Value)| {
        let mut d = doc.clone();
        f(&mut d);
        tampered.push((what.into(), d.to_string()));
    };
    edit("amount", &|d| {
        let a = d["tx"]["body"]["amount"].as_u64().unwrap();
        d["tx"]["body"]["amount"] = json!(a + 1);
    });
    edit("signature", &|d| {
        let s = flip(d["tx"]["sig"].as_str().unwrap());
        d["tx"]["sig"] = json!(s);
    });
    edit("index", &|d| {
        let i = d["index"].as_u64().unwrap();
        d["index"] = json!(i ^ 1);
    });
    edit("tx_root", &|d| {
        let s = flip(d["header"]["tx_root"].as_str().unwrap());
        d["header"]["tx_root"] = json!(s);
    });
    edit("commit signature", &|d| {
        let s = flip(d["commit"]["signatures"][0]["sig"].as_str().unwrap());
        d["commit"]["signatures"][0]["sig"] = json!(s);
    });
    edit("validator power", &|d| {
        d["validators"][0]["power"] = json!(1_000);
    });
    // And single bytes of the document as served, wherever they fall.
    let raw = receipt.as_bytes();
    for pos in [raw.len() / 7, raw.len() / 3, raw.len() / 2, raw.len() - 40] {
        let mut bytes = raw.to_vec();
        bytes[pos] = if bytes[pos] == b'a' { b'b' } else { b'a' };
        if let Ok(s) = String::from_utf8(bytes) {
            tampered.push((format!("byte {pos}"), s));
        }
    }
    for (what, t) in &tampered {
        let (v, steps) = verify_pasted(&b, &base, t).await;
        let rust = rust_ok(t);
        assert_eq!(
            v == "pass",
            rust,
            "{what}: browser says {v}, the ledger says {rust}: {steps}"
        );
        if what.starts_with("byte") && rust {
            continue; // a byte inside insignificant text, e.g. whitespace
        }
        assert_eq!(v, "fail", "{what} still verifies: {steps}");
        assert!(
            steps.contains(':'),
            "{what}: the failed step gives a reason: {steps}"
        );
    }

    // The evidence check finds the published invoice, hashed in the browser.
    b.goto(&format!("{base}/evidence")).await.unwrap();
    let file = demo.dir.path().join("evidence/lunch-invoice-2026-04.txt");
    b.find(Locator::Id("evidence-file"))
        .await
        .unwrap()
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    let found = b
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#evidence-result"))
        .await
        .unwrap();
    assert_eq!(
        found.attr("data-found").await.unwrap().as_deref(),
        Some("yes")
    );
    assert!(found
        .text()
        .await
        .unwrap()
        .contains("4 月第一批 12 所学校营养午餐食材与配送"));

    // After the regulator changes the validators' powers, a later
    // transaction's receipt verifies only by following the change from
    // genesis: the page does that by itself.
    let bureau = charity_sdk::keys::load(&demo.dir.path().join("keys/city-bureau.key")).unwrap();
    let status: Value = http
        .get(format!("{base}/v1/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let chain = status["chain_id"].as_str().unwrap().to_string();
    let validators: Value = http
        .get(format!("{base}/v1/validators"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut entries: Vec<charity_ledger::kinds::ValidatorEntry> =
        serde_json::from_value(validators).unwrap();
    entries[0].power += 5;
    let change = charity_sdk::tx::sign(
        &chain,
        &bureau,
        charity_ledger::TxKind::SetValidators(charity_ledger::kinds::SetValidators {
            validators: entries,
        }),
    )
    .unwrap();
    let note = charity_sdk::tx::sign(
        &chain,
        &bureau,
        charity_ledger::TxKind::AuditNote(charity_ledger::kinds::AuditNote {
            subject: "rural-lunch-2026".into(),
            severity: charity_ledger::kinds::Severity::Info,
            finding: "年度抽查".into(),
        }),
    )
    .unwrap();
    for t in [&change, &note] {
        let r = http
            .post(format!("{base}/v1/txs"))
            .header("content-type", "application/json")
            .body(t.to_canonical_json().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let s: Value = http
                .get(format!("{base}/v1/txs/{}", t.id()))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if s["status"] == "committed" {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "not committed: {s}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    b.goto(&format!("{base}/txs/{}", note.id())).await.unwrap();
    b.find(Locator::Css("button.verify"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let (v, steps) = verdict(&b, "verify-result").await;
    assert_eq!(v, "pass", "{steps}");

    // The campaign page, for the record.
    b.goto(&format!("{base}/campaigns/rural-lunch-2026"))
        .await
        .unwrap();
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Id("sankey"))
        .await
        .unwrap();
    std::fs::write(shots.join("campaign.png"), b.screenshot().await.unwrap()).unwrap();

    // The home page's live feed shows blocks as they are committed.
    b.goto(&format!("{base}/")).await.unwrap();
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#live-feed a[href^='/blocks/']"))
        .await
        .expect("a live block in the feed");

    b.close().await.unwrap();
    println!("screenshots in {}", shots.display());
}
