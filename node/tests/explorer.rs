//! The explorer's pages rendered from a real node's data (the demo's year
//! of history, served over loopback), in both languages; hostile input gets
//! a friendly page with the right status; text from the chain is escaped.

mod common;

use std::time::{Duration, Instant};

use charity_ledger::crypto::sha256;
use charity_ledger::ids::CampaignId;
use charity_ledger::kinds::ProgressReport;
use charity_ledger::TxKind;
use common::{tag, Demo, LI_CODE};
use reqwest::header::{ACCEPT_LANGUAGE, CONTENT_TYPE, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::Value;

struct Page {
    status: StatusCode,
    body: String,
    cookie: Option<String>,
    html: bool,
}

async fn get(client: &reqwest::Client, url: &str) -> Page {
    get_with(client, url, None).await
}

async fn get_with(client: &reqwest::Client, url: &str, accept: Option<&str>) -> Page {
    let mut req = client.get(url);
    if let Some(a) = accept {
        req = req.header(ACCEPT_LANGUAGE, a);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let cookie = resp
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_string());
    let html = resp
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.to_str().unwrap().starts_with("text/html"));
    Page {
        status,
        body: resp.text().await.unwrap(),
        cookie,
        html,
    }
}

async fn json(client: &reqwest::Client, url: &str) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

fn has(page: &Page, needles: &[&str]) {
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for n in needles {
        assert!(page.body.contains(n), "missing {n:?} in:\n{}", page.body);
    }
}

fn yuan_zh(fen: u64) -> String {
    charity_explorer::view::yuan(fen, charity_explorer::i18n::Lang::Zh)
}

fn yuan_en(fen: u64) -> String {
    charity_explorer::view::yuan(fen, charity_explorer::i18n::Lang::En)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_kind_renders_in_both_languages() {
    let demo = Demo::start(1);
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let u = |p: &str| demo.url(p);

    // Home: Chinese by default, English by ?lang= (remembered in a cookie)
    // or by Accept-Language.
    let home = get(&c, &u("/")).await;
    has(
        &home,
        &[
            "<html lang=\"zh-CN\">",
            "慈善账本浏览器",
            "累计募集",
            "乡村儿童营养午餐 2026",
            "id=\"live-feed\"",
            "/blocks/",
        ],
    );
    let en = get(&c, &u("/?lang=en")).await;
    has(
        &en,
        &[
            "<html lang=\"en\">",
            "Charity Ledger Explorer",
            "Raised in all",
            "Validators",
        ],
    );
    assert!(en.cookie.as_deref().unwrap().starts_with("lang=en"));
    let by_header = get_with(&c, &u("/"), Some("en-GB,en;q=0.9")).await;
    has(&by_header, &["<html lang=\"en\">"]);

    // Campaign: the numbers the API gives, formatted; budget lines; flow
    // diagram; disbursements with evidence; reports; donations.
    let api = json(&c, &u("/v1/campaigns/rural-lunch-2026")).await;
    let rec = &api["campaign"];
    let raised = rec["raised"].as_u64().unwrap();
    let filing = rec["filing_no"].as_str().unwrap();
    let zh = get(&c, &u("/campaigns/rural-lunch-2026")).await;
    has(
        &zh,
        &[
            "乡村儿童营养午餐 2026",
            filing,
            &yuan_zh(raised),
            "预算执行",
            "<code>meals</code>",
            "<code>kitchen-equipment</code>",
            "<svg id=\"sankey\"",
            "某某餐饮有限公司",
            "增值税发票 No.44012600-2026040201",
            "项目进展",
            "捐款记录",
        ],
    );
    for d in api["disbursements"].as_array().unwrap() {
        let id = d["disbursement"]["disbursement_id"].as_str().unwrap();
        assert!(
            zh.body.contains(&format!("/txs/{id}")),
            "disbursement {id} not listed"
        );
    }
    let all = get(&c, &u("/campaigns/rural-lunch-2026/disbursements")).await;
    for d in api["disbursements"].as_array().unwrap() {
        let id = d["disbursement"]["disbursement_id"].as_str().unwrap();
        assert!(
            all.body.contains(&format!("/txs/{id}")),
            "disbursement {id} not in the full list"
        );
    }
    let en = get(&c, &u("/campaigns/rural-lunch-2026?lang=en")).await;
    has(
        &en,
        &[
            "Where the money went",
            "Budget",
            "Disbursements",
            &yuan_en(raised),
        ],
    );
    // Donations are paged; the next page continues where this one ends.
    assert!(zh.body.contains("?from="), "no next page link");
    let page2 = get(&c, &u("/campaigns/rural-lunch-2026?from=50")).await;
    has(&page2, &["捐款记录"]);

    // Donor: 李女士's 100 yuan, where it went, and the verify button.
    let li = tag(LI_CODE);
    let donor = get(&c, &u(&format!("/donors/{li}"))).await;
    has(
        &donor,
        &[
            "我的捐赠",
            "100.00 元",
            "乡村儿童营养午餐 2026",
            "某某餐饮有限公司",
            "4 月第一批 12 所学校营养午餐食材与配送",
            "尚未使用",
            "在我的浏览器中验证",
        ],
    );
    let donor_en = get(&c, &u(&format!("/donors/{li}?lang=en"))).await;
    has(
        &donor_en,
        &["My donations", "¥100.00", "paid to", "Verify in my browser"],
    );
    let none = get(&c, &u(&format!("/donors/{}", "ab".repeat(32)))).await;
    has(&none, &["没有捐款记录"]);

    // A donor of the relief campaign follows the grant into the county's
    // rebuilding campaign.
    let relief = json(&c, &u("/v1/campaigns/flood-relief-2026?limit=1000")).await;
    let mut granted = None;
    for d in relief["donations"].as_array().unwrap() {
        let id = d["donation_id"].as_str().unwrap();
        let t = json(&c, &u(&format!("/v1/donations/{id}/trace"))).await;
        if t["root"]["spent"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.get("grant").is_some())
        {
            granted = Some(d["donor"].as_str().unwrap().to_string());
            break;
        }
    }
    let granted = granted.expect("a relief donation whose trace passes through the grant");
    let grant_page = get(&c, &u(&format!("/donors/{granted}"))).await;
    has(
        &grant_page,
        &[
            "hop grant",
            "/campaigns/flood-rebuild-lechang",
            "经资助转入",
        ],
    );

    // Transaction and block pages.
    let li_donations = json(&c, &u(&format!("/v1/donors/{li}/donations"))).await;
    let li_id = li_donations[0]["donation_id"].as_str().unwrap().to_string();
    let txp = get(&c, &u(&format!("/txs/{li_id}"))).await;
    has(
        &txp,
        &[
            "&#34;kind&#34;:&#34;donation&#34;",
            "class=\"verify\"",
            "/v1/txs/",
            "包含证明",
        ],
    );
    let height = li_donations[0]["height"].as_u64().unwrap();
    let block = json(&c, &u(&format!("/v1/blocks/{height}"))).await;
    let blockp = get(&c, &u(&format!("/blocks/{height}?lang=en"))).await;
    has(
        &blockp,
        &[
            &format!("Block {height}"),
            block["hash"].as_str().unwrap(),
            "Commit certificate",
            &li_id,
        ],
    );

    // Organisations.
    let orgs = get(&c, &u("/orgs")).await;
    has(&orgs, &["广州市民政局", "募捐信息平台"]);
    let charity = rec["charity"].as_str().unwrap();
    let org = get(&c, &u(&format!("/orgs/{charity}"))).await;
    has(
        &org,
        &[
            charity,
            "年度收支",
            "慈善活动支出占上年收入",
            "乡村儿童营养午餐 2026",
        ],
    );
    // The yearly figures name the block they are of.
    assert!(org.body.contains("id=\"years-height\""), "{}", org.body);
    let org_en = get(&c, &u(&format!("/orgs/{charity}?lang=en"))).await;
    has(
        &org_en,
        &["Income and spending by year", "Unified Social Credit Code"],
    );

    // Evidence: the published invoice is found; an unknown file is not.
    let invoice =
        std::fs::read(demo.dir.path().join("evidence/lunch-invoice-2026-04.txt")).unwrap();
    let found = get(&c, &u(&format!("/evidence/{}", sha256(&invoice)))).await;
    has(
        &found,
        &[
            "data-found=\"yes\"",
            "4 月第一批 12 所学校营养午餐食材与配送",
        ],
    );
    let missing = get(&c, &u(&format!("/evidence/{}", sha256(b"not cited")))).await;
    has(&missing, &["data-found=\"no\"", "没有任何支出或报告引用"]);
    has(
        &get(&c, &u("/evidence?lang=en")).await,
        &["id=\"evidence-drop\"", "Check a document"],
    );

    // Regulator, verify and donor-lookup pages.
    let reg = get(&c, &u("/regulator")).await;
    has(&reg, &["监管视图", "合规提示", "年度支出比例", "<code>"]);
    // Each organisation's flags are listed under it: the demo's lunch
    // campaign ended long ago with no closing report, and took a donation
    // recorded after its window.
    let charity_section = reg
        .body
        .split_once(&format!("id=\"org-{}\"", rec["charity"].as_str().unwrap()))
        .map(|(_, rest)| rest.split("<section").next().unwrap_or_default())
        .expect("the charity's section");
    for rule in ["no_closing_report", "donation_recorded_after_window"] {
        assert!(
            charity_section.contains(&format!("<code>{rule}</code>")),
            "{rule} in {charity_section}"
        );
    }
    // It names the block its review was computed at, which exists.
    let review_height = reg
        .body
        .split_once("<a href=\"/blocks/")
        .and_then(|(_, rest)| rest.split_once("\" id=\"review-height\""))
        .map(|(h, _)| h.parse::<u64>().unwrap())
        .expect("the review's block");
    assert!(review_height > 0);
    has(
        &get(&c, &u(&format!("/blocks/{review_height}"))).await,
        &[&format!("{review_height}")],
    );
    has(
        &get(&c, &u("/regulator?lang=en")).await,
        &["Compliance flags"],
    );
    has(
        &get(&c, &u("/verify")).await,
        &["id=\"receipt-text\"", "验证回执"],
    );
    has(
        &get(&c, &u("/donor")).await,
        &["id=\"donor-form\"", "捐赠码", "不会发送给任何服务器"],
    );
    has(
        &get(&c, &u("/donor?lang=en")).await,
        &["never sent to any server"],
    );

    // Search finds campaigns, blocks, transactions and organisations.
    for (q, to) in [
        (
            "rural-lunch-2026",
            "/campaigns/rural-lunch-2026".to_string(),
        ),
        ("1", "/blocks/1".to_string()),
        (li_id.as_str(), format!("/txs/{li_id}")),
        (charity, format!("/orgs/{charity}")),
        ("营养午餐", "/campaigns/rural-lunch-2026".to_string()),
    ] {
        let r = c.get(u("/search")).query(&[("q", q)]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "search {q}");
        assert_eq!(r.headers()["location"].to_str().unwrap(), to, "search {q}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_gets_a_friendly_page_and_chain_text_is_escaped() {
    let demo = Demo::start(1);
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let u = |p: &str| demo.url(p);

    for (path, status, words) in [
        ("/no/such/page", StatusCode::NOT_FOUND, "没有这个页面"),
        ("/txs/zz", StatusCode::BAD_REQUEST, "不是一个有效的编号"),
        (
            &format!("/txs/{}", "0".repeat(64)),
            StatusCode::NOT_FOUND,
            "链上没有这笔交易",
        ),
        (
            "/blocks/99999999",
            StatusCode::NOT_FOUND,
            "这个区块还不存在",
        ),
        ("/blocks/-1", StatusCode::BAD_REQUEST, "不是一个有效的编号"),
        (
            "/campaigns/NO%20SUCH",
            StatusCode::BAD_REQUEST,
            "不是一个有效的编号",
        ),
        (
            "/campaigns/no-such-campaign",
            StatusCode::NOT_FOUND,
            "没有这个募捐项目",
        ),
        (
            "/campaigns/rural-lunch-2026?from=abc",
            StatusCode::BAD_REQUEST,
            "from",
        ),
        (
            "/orgs/NOT-A-CODE",
            StatusCode::BAD_REQUEST,
            "不是一个有效的编号",
        ),
        (
            "/orgs/91350100M000100Y43",
            StatusCode::NOT_FOUND,
            "没有登记这个机构",
        ),
        (
            "/orgs/91350100M000100Y4",
            StatusCode::BAD_REQUEST,
            "不是一个有效的编号",
        ),
        (
            "/donors/not-a-tag",
            StatusCode::BAD_REQUEST,
            "捐赠码格式不正确",
        ),
        (
            "/evidence/xyz",
            StatusCode::BAD_REQUEST,
            "不是一个有效的编号",
        ),
        (
            "/search?q=%3Cscript%3Ealert(1)%3C/script%3E",
            StatusCode::NOT_FOUND,
            "没有与之匹配",
        ),
        ("/search?q=%ZZ%", StatusCode::NOT_FOUND, "没有与之匹配"),
        (
            "/?lang=%3Cscript%3E&x=%00",
            StatusCode::OK,
            "慈善账本浏览器",
        ),
        (
            "/no/such/page?lang=en",
            StatusCode::NOT_FOUND,
            "There is no such page",
        ),
    ] {
        let p = get(&c, &u(path)).await;
        assert_eq!(p.status, status, "{path}: {}", p.body);
        assert!(p.html, "{path} is not an HTML page");
        assert!(
            p.body.contains(words),
            "{path}: missing {words:?} in {}",
            p.body
        );
        assert!(!p.body.contains("<script>alert"), "{path} reflects markup");
        assert!(!p.body.contains("panicked"), "{path}");
    }
    // The API keeps its JSON errors.
    let api = c.get(u("/v1/no-such-endpoint")).send().await.unwrap();
    assert_eq!(api.status(), StatusCode::NOT_FOUND);
    let v: Value = api.json().await.unwrap();
    assert_eq!(v["code"], "unknown_route");

    // A charity's progress report whose text is markup is shown as text.
    let key = charity_sdk::keys::load(&demo.dir.path().join("keys/city-charity.key")).unwrap();
    let status = json(&c, &u("/v1/status")).await;
    let chain = status["chain_id"].as_str().unwrap();
    let hostile = "<script>alert(\"x\")</script> & <img src=x onerror=alert(1)>";
    let tx = charity_sdk::tx::sign(
        chain,
        &key,
        TxKind::ProgressReport(ProgressReport {
            campaign_id: CampaignId::parse("rural-lunch-2026").unwrap(),
            title: hostile.into(),
            body: hostile.into(),
            evidence: vec![],
        }),
    )
    .unwrap();
    let r = c
        .post(u("/v1/txs"))
        .body(tx.to_canonical_json().unwrap())
        .header(CONTENT_TYPE, "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::ACCEPTED,
        "{}",
        r.text().await.unwrap()
    );
    let id = tx.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = json(&c, &u(&format!("/v1/txs/{id}"))).await;
        if s["status"] == "committed" {
            break;
        }
        assert!(Instant::now() < deadline, "report not committed: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for path in [
        "/campaigns/rural-lunch-2026".to_string(),
        format!("/txs/{id}"),
    ] {
        let p = get(&c, &u(&path)).await;
        has(&p, &["&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; &#60;img src=x onerror=alert(1)&#62;"]);
        assert!(!p.body.contains("<script>alert"), "{path} does not escape");
        assert!(!p.body.contains("<img src=x"), "{path} does not escape");
    }
}
