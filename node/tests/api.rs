//! The HTTP API against a real store on loopback: submissions with their
//! error codes, every read endpoint, receipts and proofs that verify with
//! the ledger's own functions, and the events stream.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use charity_ledger::chain::build_block;
use charity_ledger::dev::{self, sign_commit};
use charity_ledger::donor::DonorCode;
use charity_ledger::hex::Hash;
use charity_ledger::ids::{CampaignId, LineName, Region};
use charity_ledger::kinds::*;
use charity_ledger::receipt::{verify_receipt, Receipt};
use charity_ledger::tx::TxKind;
use charity_ledger::{merkle, Genesis, Keypair, Store, Transaction};
use charity_node::api::{router, ApiState, BlockEvent};
use charity_sdk::client::{HEIGHT_HEADER, MIN_HEIGHT_HEADER};
use serde_json::Value;

const CHAIN: &str = "charity-api-test";
const T0: u64 = 1_767_225_600_000;
const DAY: u64 = 86_400_000;

struct Net {
    validators: Vec<Keypair>,
    regulator: Keypair,
    charity: Keypair,
    platform: Keypair,
    genesis: Genesis,
    nonce: u64,
}

impl Net {
    fn new() -> Self {
        let validators: Vec<Keypair> = (0..4)
            .map(|i| dev::key(&format!("api-validator-{i}")))
            .collect();
        let regulator = dev::key("api-regulator");
        let reg_id = dev::org_id("11440100MB0000001").unwrap();
        let genesis = dev::genesis(CHAIN, T0 - DAY, &reg_id, &regulator, &validators).unwrap();
        Net {
            validators,
            regulator,
            charity: dev::key("api-charity"),
            platform: dev::key("api-platform"),
            genesis,
            nonce: 0,
        }
    }

    fn tx(&mut self, key: &Keypair, kind: TxKind) -> Transaction {
        self.nonce += 1;
        dev::tx(CHAIN, key, self.nonce, kind).unwrap()
    }
}

fn charity_id() -> charity_ledger::org_id::OrgId {
    dev::org_id("53440100MJ0000001").unwrap()
}
fn platform_id() -> charity_ledger::org_id::OrgId {
    dev::org_id("91440300MA0000004").unwrap()
}
fn lunch() -> CampaignId {
    CampaignId::parse("rural-lunch-2026").unwrap()
}

/// Builds, signs and commits a block of `txs` on the shared store.
fn commit(store: &Arc<RwLock<Store>>, net: &Net, txs: Vec<Transaction>, time: u64) -> BlockEvent {
    let mut s = store.write().unwrap();
    let tip = s.tip().clone();
    let built = build_block(
        s.kv(),
        &tip,
        txs,
        time.max(tip.time + 1),
        net.validators[0].public(),
    )
    .unwrap();
    assert!(built.rejected.is_empty(), "{:?}", built.rejected);
    let cert = sign_commit(
        CHAIN,
        tip.height + 1,
        0,
        &built.effects.block_hash,
        &net.validators,
    );
    let event = BlockEvent {
        height: built.block.header.height,
        hash: built.effects.block_hash,
        time: built.block.header.time,
        tx_ids: built.block.tx_ids(),
    };
    s.commit(built.effects, &cert).unwrap();
    event
}

fn donation(net: &mut Net, amount: u64, code: &str) -> Transaction {
    let platform = net.platform.clone();
    net.tx(
        &platform,
        TxKind::Donation(Donation {
            campaign_id: lunch(),
            amount,
            donor_tag: DonorCode::parse(code).unwrap().tag(),
            display_name: None,
            restricted_line: None,
            channel: "wechat_pay".into(),
            payment_ref_hash: charity_ledger::crypto::sha256(
                format!("pay-{amount}-{code}").as_bytes(),
            ),
            received_at: T0 + DAY,
        }),
    )
}

fn setup(store: &Arc<RwLock<Store>>, net: &mut Net) -> (Hash, Hash) {
    let reg = net.regulator.clone();
    let register = |id, name: &str, role, pf, key: &Keypair| {
        TxKind::RegisterOrg(RegisterOrg {
            org_id: id,
            name: name.into(),
            role,
            public_fundraising: pf,
            keys: vec![key.public()],
            region: Region::parse("440100").unwrap(),
        })
    };
    let (c, p) = (net.charity.clone(), net.platform.clone());
    let t1 = net.tx(
        &reg,
        register(charity_id(), "广州市慈善会", OrgRole::Charity, true, &c),
    );
    let t2 = net.tx(
        &reg,
        register(platform_id(), "某公益平台", OrgRole::Platform, false, &p),
    );
    commit(store, net, vec![t1, t2], T0);
    let file = TxKind::FileCampaign(FileCampaign {
        campaign_id: lunch(),
        title: "乡村儿童营养午餐 2026".into(),
        description: "午餐".into(),
        target: 500_000_00,
        starts_at: T0,
        ends_at: T0 + 200 * DAY,
        region: Region::parse("440100").unwrap(),
        beneficiaries: "学生".into(),
        budget: vec![BudgetLine {
            line: LineName::parse("meals").unwrap(),
            category: Category::Program,
            amount: 500_000_00,
        }],
        platforms: vec![platform_id()],
        leftover_plan: "转入下一年度".into(),
        emergency: None,
    });
    let t = net.tx(&c, file);
    commit(store, net, vec![t], T0 + 1000);
    let a = net.tx(
        &reg,
        TxKind::ApproveCampaign(ApproveCampaign {
            campaign_id: lunch(),
            approved: true,
            filing_no: "F-1".into(),
            note: None,
        }),
    );
    commit(store, net, vec![a], T0 + 2000);
    let d = donation(net, 100_00, "K7QF-2M9D-XR4T-8HWA-6PZN");
    let donation_id = d.id();
    commit(store, net, vec![d], T0 + 2 * DAY);
    let x = net.tx(
        &c,
        TxKind::Disbursement(Disbursement {
            campaign_id: lunch(),
            amount: 60_00,
            category: Category::Program,
            line: LineName::parse("meals").unwrap(),
            recipient: Recipient {
                kind: RecipientKind::Vendor,
                id: None,
                name: "某某餐饮有限公司".into(),
            },
            purpose: "食材".into(),
            evidence: vec![Evidence {
                sha256: charity_ledger::crypto::sha256(b"invoice"),
                title: "发票".into(),
                media_type: "application/pdf".into(),
                uri: None,
            }],
        }),
    );
    let disb = x.id();
    commit(store, net, vec![x], T0 + 3 * DAY);
    (donation_id, disb)
}

async fn serve(state: ApiState) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router(state)).await.unwrap();
    });
    format!("http://{addr}")
}

/// The fixture history in a fresh store, served on loopback with the
/// clock ten days in; with the ids `setup` returns.
async fn served() -> (
    tempfile::TempDir,
    Net,
    Arc<RwLock<Store>>,
    ApiState,
    String,
    (Hash, Hash),
) {
    let dir = tempfile::tempdir().unwrap();
    let mut net = Net::new();
    let store = Arc::new(RwLock::new(
        Store::open_or_init(dir.path(), &net.genesis).unwrap(),
    ));
    let ids = setup(&store, &mut net);
    let mut state = ApiState::new(store.clone(), 100);
    state.clock = Arc::new(|| T0 + 10 * DAY);
    let base = serve(state.clone()).await;
    (dir, net, store, state, base, ids)
}

async fn get(c: &reqwest::Client, url: String) -> (u16, Value) {
    let r = c.get(url).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn post(c: &reqwest::Client, base: &str, body: Vec<u8>) -> (u16, Value) {
    let r = c
        .post(format!("{base}/v1/txs"))
        .body(body)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_serves_the_chain_and_checks_submissions() {
    let (_dir, mut net, store, state, base, (donation_id, disb_id)) = served().await;
    let c = reqwest::Client::new();

    // Status and blocks.
    let (s, v) = get(&c, format!("{base}/v1/status")).await;
    assert_eq!(
        (s, v["height"].as_u64(), v["chain_id"].as_str()),
        (200, Some(5), Some(CHAIN))
    );
    let (s, v) = get(&c, format!("{base}/v1/blocks/latest")).await;
    assert_eq!((s, v["header"]["height"].as_u64()), (200, Some(5)));
    assert_eq!(v["tx_ids"][0].as_str(), Some(disb_id.to_hex().as_str()));
    assert_eq!(
        get(&c, format!("{base}/v1/blocks/99")).await.1["code"],
        "unknown_block"
    );
    assert_eq!(get(&c, format!("{base}/v1/blocks/abc")).await.0, 400);
    // Every answer read from the chain says the height it was read at.
    let at = |path: &'static str| {
        let (c, base) = (c.clone(), base.clone());
        async move {
            let r = c.get(format!("{base}{path}")).send().await.unwrap();
            r.headers()
                .get(HEIGHT_HEADER)
                .map(|h| h.to_str().unwrap().to_string())
        }
    };
    assert_eq!(at("/v1/campaigns").await.as_deref(), Some("5"));
    assert_eq!(at("/v1/blocks/2").await.as_deref(), Some("5"));

    // A good submission is pending, then committed.
    let good = donation(&mut net, 250_00, "KHCR-4HFF-D0PJ-H0B8-FSQT");
    let (s, v) = post(&c, &base, good.to_canonical_json().unwrap()).await;
    assert_eq!((s, v["status"].as_str()), (202, Some("pending")), "{v}");
    let (_, v) = get(&c, format!("{base}/v1/txs/{}", good.id())).await;
    assert_eq!(v["status"], "pending");
    assert_eq!(
        post(&c, &base, good.to_canonical_json().unwrap()).await.1["code"],
        "already_pending"
    );

    // Events: subscribe, commit the pending transaction, see the block.
    let mut events = c.get(format!("{base}/v1/events")).send().await.unwrap();
    let pending = state.mempool.peek(10);
    let event = commit(&store, &net, pending, T0 + 4 * DAY);
    state.committed(event.clone());
    let mut seen = String::new();
    let wait = tokio::time::timeout(Duration::from_secs(10), async {
        while !seen.contains("event: block") || !seen.contains(&event.hash.to_hex()) {
            match events.chunk().await.unwrap() {
                Some(b) => seen.push_str(&String::from_utf8_lossy(&b)),
                None => break,
            }
        }
    })
    .await;
    assert!(wait.is_ok() && seen.contains(&good.id().to_hex()), "{seen}");
    let (_, v) = get(&c, format!("{base}/v1/txs/{}", good.id())).await;
    assert_eq!(
        (v["status"].as_str(), v["height"].as_u64()),
        (Some("committed"), Some(6))
    );
    assert!(state.mempool.is_empty());
    assert_eq!(at("/v1/campaigns").await.as_deref(), Some("6"));
    assert_eq!(
        at("/v1/openapi.json").await,
        None,
        "not read from the chain"
    );

    // Rejections, each with its code and status.
    let (s, v) = post(&c, &base, good.to_canonical_json().unwrap()).await;
    assert_eq!((s, v["code"].as_str()), (409, Some("duplicate_tx")));
    let forged = Transaction::from_parts(
        donation(&mut net, 5, "N9XQ-9D6X-DA4S-SH9A-ZR03")
            .body()
            .clone(),
        charity_ledger::Signature::from([1; 64]),
    )
    .unwrap();
    let (s, v) = post(&c, &base, forged.to_canonical_json().unwrap()).await;
    assert_eq!((s, v["code"].as_str()), (400, Some("bad_signature")));
    let mut unknown = donation(&mut net, 5, "N9XQ-9D6X-DA4S-SH9A-ZR03");
    let mut body = unknown.body().clone();
    if let TxKind::Donation(d) = &mut body.kind {
        d.campaign_id = CampaignId::parse("no-such-campaign").unwrap();
    }
    unknown = Transaction::sign(body, &net.platform).unwrap();
    let (s, v) = post(&c, &base, unknown.to_canonical_json().unwrap()).await;
    assert_eq!((s, v["code"].as_str()), (422, Some("unknown_campaign")));
    let (s, v) = post(&c, &base, b"{garbage".to_vec()).await;
    assert_eq!((s, v["code"].as_str()), (400, Some("malformed_json")));
    let (s, v) = post(&c, &base, vec![b' '; 70_000]).await;
    assert_eq!((s, v["code"].as_str()), (413, Some("too_large")));

    // A receipt verifies against the genesis validators, and not once any
    // byte of it is changed.
    let trusted = net.genesis.validator_set().unwrap().public_list();
    let bytes = c
        .get(format!("{base}/v1/txs/{donation_id}/receipt"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let r = Receipt::decode(&bytes).unwrap();
    verify_receipt(&r, &trusted).unwrap();
    for i in (0..bytes.len()).step_by(7) {
        let mut b = bytes.to_vec();
        b[i] = match b[i] {
            b'0'..=b'8' | b'a'..=b'e' => b[i] + 1,
            b'9' => b'0',
            b'f' => b'a',
            _ => continue,
        };
        if let Ok(r2) = Receipt::decode(&b) {
            assert!(
                verify_receipt(&r2, &trusted).is_err(),
                "byte {i} changed and the receipt still verifies"
            );
        }
    }

    // Checkpoints: the commit proves the header; consistency between two.
    let (_, cp) = get(&c, format!("{base}/v1/checkpoint")).await;
    let header: charity_ledger::Header = serde_json::from_value(cp["header"].clone()).unwrap();
    let cert: charity_ledger::CommitCertificate =
        serde_json::from_value(cp["commit"].clone()).unwrap();
    charity_ledger::vote::verify_commit(
        CHAIN,
        header.height,
        &header.hash().unwrap(),
        &cert,
        &net.genesis.validator_set().unwrap(),
    )
    .unwrap();
    let (_, b3) = get(&c, format!("{base}/v1/blocks/3")).await;
    let old: charity_ledger::Header = serde_json::from_value(b3["header"].clone()).unwrap();
    let (s, p) = get(
        &c,
        format!(
            "{base}/v1/log/consistency?from={}&to={}",
            old.log_size, header.log_size
        ),
    )
    .await;
    assert_eq!(s, 200);
    let proof: Vec<[u8; 32]> = p["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| Hash::parse(h.as_str().unwrap()).unwrap().0)
        .collect();
    merkle::verify_consistency(
        old.log_size,
        header.log_size,
        &old.log_root.0,
        &header.log_root.0,
        &proof,
    )
    .unwrap();
    assert_eq!(
        get(&c, format!("{base}/v1/log/consistency?from=5&to=2"))
            .await
            .1["code"],
        "bad_sizes"
    );
    let (_, inc) = get(
        &c,
        format!(
            "{base}/v1/log/inclusion?tx_id={donation_id}&size={}",
            header.log_size
        ),
    )
    .await;
    let proof: Vec<[u8; 32]> = inc["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| Hash::parse(h.as_str().unwrap()).unwrap().0)
        .collect();
    merkle::verify_inclusion(
        &donation_id.0,
        inc["index"].as_u64().unwrap(),
        header.log_size,
        &proof,
        &header.log_root.0,
    )
    .unwrap();

    // Reads.
    let (_, v) = get(&c, format!("{base}/v1/validators")).await;
    assert_eq!(v.as_array().unwrap().len(), 4);
    let (_, v) = get(&c, format!("{base}/v1/orgs/{}", charity_id())).await;
    assert_eq!(v["org"]["name"], "广州市慈善会");
    assert_eq!(v["campaigns"][0], "rural-lunch-2026");
    assert_eq!(
        get(&c, format!("{base}/v1/orgs/NOT-A-CODE")).await.1["code"],
        "invalid_org_id"
    );
    let (_, v) = get(&c, format!("{base}/v1/campaigns/rural-lunch-2026?limit=1")).await;
    assert_eq!(v["campaign"]["raised"].as_u64(), Some(350_00));
    assert_eq!(v["donations"].as_array().unwrap().len(), 1);
    assert_eq!(
        v["disbursements"][0]["allocations"][0]["amount"].as_u64(),
        Some(60_00)
    );
    assert_eq!(get(&c, format!("{base}/v1/campaigns/no-such")).await.0, 404);
    let (_, v) = get(&c, format!("{base}/v1/donations/{donation_id}/trace")).await;
    assert_eq!(
        (
            v["root"]["spent"][0]["amount"].as_u64(),
            v["root"]["unspent"].as_u64()
        ),
        (Some(60_00), Some(40_00))
    );
    let tag = DonorCode::parse("K7QF-2M9D-XR4T-8HWA-6PZN").unwrap().tag();
    let (_, v) = get(&c, format!("{base}/v1/donors/{tag}/donations")).await;
    assert_eq!(
        v[0]["donation_id"].as_str(),
        Some(donation_id.to_hex().as_str())
    );
    assert_eq!(
        get(&c, format!("{base}/v1/donors/NOT-HEX/donations"))
            .await
            .0,
        400
    );
    let (_, v) = get(
        &c,
        format!(
            "{base}/v1/evidence/{}",
            charity_ledger::crypto::sha256(b"invoice")
        ),
    )
    .await;
    assert_eq!(v["cited_by"][0].as_str(), Some(disb_id.to_hex().as_str()));
    let (s, v) = get(&c, format!("{base}/v1/nothing-here")).await;
    assert_eq!((s, v["code"].as_str()), (404, Some("unknown_route")));

    // The OpenAPI document lists every endpoint.
    let (s, doc) = get(&c, format!("{base}/v1/openapi.json")).await;
    assert_eq!(s, 200);
    for p in [
        "/v1/txs",
        "/v1/txs/{id}/receipt",
        "/v1/log/consistency",
        "/v1/events",
        "/v1/campaigns/{id}",
    ] {
        assert!(
            doc["paths"].get(p).is_some(),
            "{p} missing from the OpenAPI document"
        );
    }
    // And says which answers carry the height they were read at: every
    // read of the chain, not the events stream.
    let carries = |p: &str| {
        doc["paths"][p]["get"]["responses"]["200"]["headers"]
            .get("Ledger-Height")
            .is_some()
    };
    // And that a read may ask for a height.
    let asks = |p: &str| {
        doc["paths"][p]["get"]["parameters"]
            .as_array()
            .is_some_and(|ps| {
                ps.iter()
                    .any(|q| q["name"] == "Ledger-Min-Height" && q["in"] == "header")
            })
    };
    for p in ["/v1/campaigns/{id}", "/v1/blocks/{height}", "/v1/status"] {
        assert!(carries(p) && asks(p), "{p}");
    }
    assert!(!carries("/v1/events") && !asks("/v1/events"));

    // Metrics count requests by route pattern, not by raw path.
    let m = c
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("charity_chain_height 6"), "{m}");
    assert!(m.contains("route=\"/v1/txs/{id}\""), "{m}");
    assert!(
        !m.contains(&donation_id.to_hex()),
        "raw paths must not become labels"
    );
}

/// A read that asks for a height (`Ledger-Min-Height`) is answered at it
/// or later: at once if the node has it, after its block commits if it is
/// the next one, and otherwise refused with `height_not_reached`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_asking_for_a_height_is_answered_at_it_or_refused() {
    let (_dir, mut net, store, state, base, _) = served().await;
    let c = reqwest::Client::new();
    let ask = |min: &str| {
        c.get(format!("{base}/v1/campaigns"))
            .header(MIN_HEIGHT_HEADER, min)
            .send()
    };
    let answer = |r: reqwest::Response| async move {
        let height = r
            .headers()
            .get(HEIGHT_HEADER)
            .map(|h| h.to_str().unwrap().to_string());
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        (status, height, v)
    };
    // Reached: answered at the tip.
    let (s, h, _) = answer(ask("5").await.unwrap()).await;
    assert_eq!((s, h.as_deref()), (200, Some("5")));
    let (s, h, _) = answer(ask("0").await.unwrap()).await;
    assert_eq!((s, h.as_deref()), (200, Some("5")));
    // Not a height.
    let (s, _, v) = answer(ask("five").await.unwrap()).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (400, Some("invalid_min_height")),
        "{v}"
    );
    // Beyond the next block, and no peer has it: refused at once.
    let (s, _, v) = answer(ask("7").await.unwrap()).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (503, Some("height_not_reached")),
        "{v}"
    );
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("this node has block 5"), "{v}");
    assert!(message.contains("no peer it knows of"), "{v}");

    // The next block: the read waits for it, and is answered at it.
    let waiting = tokio::spawn(ask("6"));
    // It listens for blocks while it waits.
    tokio::time::timeout(Duration::from_secs(10), async {
        while state.events.receiver_count() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the read waits for the block");
    let d = donation(&mut net, 100, "N9XQ-9D6X-DA4S-SH9A-ZR03");
    state.committed(commit(&store, &net, vec![d], T0 + 4 * DAY));
    let (s, h, v) = answer(waiting.await.unwrap().unwrap()).await;
    assert_eq!((s, h.as_deref()), (200, Some("6")), "{v}");
    // The next block does not come: refused after the wait.
    let (s, _, v) = answer(ask("7").await.unwrap()).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (503, Some("height_not_reached")),
        "{v}"
    );
    assert!(
        v["message"].as_str().unwrap().contains("within 2000 ms"),
        "{v}"
    );
}

/// A flood of requests, well past the concurrency limit, mixing garbage,
/// oversized bodies, hostile paths and ordinary reads: every request gets
/// an HTTP answer, nothing is half-written, and the node answers normally
/// afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_hostile_requests_is_answered_and_harms_nothing() {
    let (_dir, _net, store, state, base, _) = served().await;
    let before = store.read().unwrap().tip().clone();
    let c = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for w in 0..64usize {
        let (c, base) = (c.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for i in 0..25usize {
                let r = match (w + i) % 5 {
                    0 => {
                        c.post(format!("{base}/v1/txs"))
                            .body(vec![0xffu8; 300])
                            .send()
                            .await
                    }
                    1 => {
                        c.post(format!("{base}/v1/txs"))
                            .body(vec![b'{'; 200_000])
                            .send()
                            .await
                    }
                    2 => {
                        c.get(format!("{base}/v1/txs/{}", "z".repeat(5_000)))
                            .send()
                            .await
                    }
                    3 => {
                        c.get(format!("{base}/v1/blocks/%00%ff?limit=-1&&&"))
                            .send()
                            .await
                    }
                    // Ordinary reads, some asking for a height that is
                    // out of reach or not a height at all.
                    _ => {
                        let asked: &[u8] = match i % 4 {
                            0 => b"18446744073709551615",
                            1 => b"-1",
                            2 => &[0xff, 0xfe],
                            _ => b"0",
                        };
                        c.get(format!("{base}/v1/status"))
                            .header(
                                MIN_HEIGHT_HEADER,
                                reqwest::header::HeaderValue::from_bytes(asked).unwrap(),
                            )
                            .send()
                            .await
                    }
                };
                // A refused connection would be an error here; an answer
                // of any status is what is asked of the node.
                statuses.push(r.map(|r| r.status().as_u16()).map_err(|e| e.to_string()));
            }
            statuses
        }));
    }
    let mut answered = 0;
    for t in tasks {
        for s in t.await.unwrap() {
            let s = s.unwrap_or_else(|e| panic!("a request got no answer: {e}"));
            assert!(
                matches!(s, 200 | 400 | 404 | 408 | 413 | 503),
                "unexpected status {s}"
            );
            answered += 1;
        }
    }
    assert_eq!(answered, 64 * 25);
    let (s, v) = get(&c, format!("{base}/v1/status")).await;
    assert_eq!(s, 200);
    assert_eq!(v["height"].as_u64(), Some(before.height));
    assert_eq!(state.mempool.len(), 0, "garbage entered the pool");
    assert_eq!(store.read().unwrap().tip(), &before);
}

/// While a block commits (the store's write lock held), reads and
/// submissions wait for it off the runtime's workers: on a one-worker server
/// the requests that need no store (the OpenAPI document, the metrics) are
/// still answered, and the others complete once it is done.
#[test]
fn reads_waiting_for_a_commit_do_not_hold_up_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = Net::new();
    let store = Arc::new(RwLock::new(
        Store::open_or_init(dir.path(), &net.genesis).unwrap(),
    ));
    setup(&store, &mut net);
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut state = ApiState::new(store.clone(), 100);
    state.clock = Arc::new(|| T0 + 10 * DAY);
    let base = server.block_on(serve(state));
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{base}{path}")).send();

    let gift = donation(&mut net, 250_00, "KHCR-4HFF-D0PJ-H0B8-FSQT");

    let committing = store.write().unwrap();
    let mut reads: Vec<_> = [
        "/v1/status",
        "/v1/campaigns",
        "/v1/blocks/1",
        "/v1/blocks/latest",
    ]
    .iter()
    .map(|&p| (p, 200, client.spawn(get(p))))
    .collect();
    // A submission is checked against the chain, so it waits too.
    let submitted = http
        .post(format!("{base}/v1/txs"))
        .body(gift.to_canonical_json().unwrap())
        .send();
    reads.push(("POST /v1/txs", 202, client.spawn(submitted)));
    // Had the reads blocked the one worker on the lock, these would never
    // be answered; the bound only turns that into a failure instead of a
    // hang. The metrics give the last height they saw, without waiting.
    for path in ["/v1/openapi.json", "/metrics"] {
        let resp = client
            .block_on(async { tokio::time::timeout(Duration::from_secs(30), get(path)).await })
            .unwrap_or_else(|_| panic!("{path} is served while reads wait for the store"))
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
    assert!(
        reads.iter().all(|(_, _, r)| !r.is_finished()),
        "no read is answered while the store is locked"
    );

    drop(committing);
    for (path, status, read) in reads {
        let resp = client.block_on(read).unwrap().unwrap();
        assert_eq!(resp.status(), status, "{path}");
    }
}
