//! `charity audit --node`, the sdk's audit over the API: it passes against
//! an honest node, and against a proxy that lies (a changed amount, a
//! forged commit, garbage, a truncated answer, an endless one, none at all,
//! a published total that the chain does not support, an answer that does
//! not say the height it was read at or says a wrong one, another genesis)
//! it fails with a clear reason, naming the height and field; it never
//! hangs or panics. Behind a load balancer over the node and a replica
//! that lags, the audit and the witness pass.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use charity_ledger::export::Period;
use charity_ledger::hex::Hash;
use charity_sdk::audit::{self, ApiAuditError};
use charity_sdk::client::{Client, HEIGHT_HEADER};
use common::Demo;
use serde_json::Value;

#[derive(Clone, Copy, Debug)]
enum Lie {
    Amount,
    ForgedCommit,
    Garbage,
    Endless,
    Silent,
    Truncated,
    Total,
    /// `/v1/orgs` without the height it was read at.
    Unstated,
    /// `/v1/campaigns` said to be read at height 1.
    Rewound,
    /// `/v1/campaigns` said to be read 1,000 blocks ahead of the chain.
    Ahead,
}

struct Proxy {
    upstream: String,
    http: reqwest::Client,
    lie: Lie,
    at: u64,
}

async fn forward(State(p): State<Arc<Proxy>>, uri: Uri) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    if matches!(p.lie, Lie::Silent) && path == format!("/v1/blocks/{}", p.at) {
        // Takes the request and never answers.
        return std::future::pending().await;
    }
    let r = match p.http.get(format!("{}{path}", p.upstream)).send().await {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = r.status();
    let height: Option<u64> = r
        .headers()
        .get(HEIGHT_HEADER)
        .map(|h| h.to_str().unwrap().parse().unwrap());
    let height = match p.lie {
        Lie::Unstated if path == "/v1/orgs" => None,
        Lie::Rewound if path == "/v1/campaigns" => Some(1),
        Lie::Ahead if path == "/v1/campaigns" => height.map(|h| h + 1_000),
        _ => height,
    };
    let body: Bytes = r.bytes().await.unwrap_or_default();
    let block = format!("/v1/blocks/{}", p.at);
    let out: Vec<u8> = match p.lie {
        Lie::Amount if path == format!("{block}/txs") => {
            let mut v: Value = serde_json::from_slice(&body).unwrap();
            let tx = &mut v["txs"][0]["body"];
            let a = tx["amount"]
                .as_u64()
                .expect("a donation first in the block");
            tx["amount"] = (a + 1).into();
            v.to_string().into_bytes()
        }
        Lie::ForgedCommit if path == block => {
            let mut v: Value = serde_json::from_slice(&body).unwrap();
            let sig = v["commit"]["signatures"][0]["sig"]
                .as_str()
                .unwrap()
                .to_string();
            let forged = format!(
                "{}{}",
                if sig.starts_with('0') { '1' } else { '0' },
                &sig[1..]
            );
            v["commit"]["signatures"][0]["sig"] = forged.into();
            v.to_string().into_bytes()
        }
        Lie::Garbage if path == block => b"{\"header\": [1, 2, garbage".to_vec(),
        // Longer than any answer a client should take in: 32 MiB.
        Lie::Endless if path == format!("{block}/txs") => {
            let mut v = body.to_vec();
            v.resize(32 << 20, b' ');
            v
        }
        Lie::Truncated if path == format!("{block}/txs") => body[..body.len() / 2].to_vec(),
        Lie::Total if path == "/v1/campaigns" => {
            let mut v: Value = serde_json::from_slice(&body).unwrap();
            let r = v[1]["raised"].as_u64().unwrap();
            v[1]["raised"] = (r + 1).into();
            v.to_string().into_bytes()
        }
        _ => body.to_vec(),
    };
    let mut answer = (status, [("content-type", "application/json")], out).into_response();
    if let Some(h) = height {
        answer
            .headers_mut()
            .insert(HEIGHT_HEADER, h.to_string().parse().unwrap());
    }
    answer
}

async fn proxy(upstream: &str, lie: Lie, at: u64) -> String {
    let state = Arc::new(Proxy {
        upstream: upstream.to_string(),
        http: reqwest::Client::new(),
        lie,
        at,
    });
    let app = axum::Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// A load balancer: each request goes to the next of `upstreams` in turn.
struct Balancer {
    upstreams: Vec<String>,
    next: std::sync::atomic::AtomicUsize,
    http: reqwest::Client,
}

async fn balance(
    State(b): State<Arc<Balancer>>,
    uri: Uri,
    headers: axum::http::HeaderMap,
) -> Response {
    let n = b.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let upstream = &b.upstreams[n % b.upstreams.len()];
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    common::relay(&b.http, &format!("{upstream}{path}"), &headers).await
}

/// Serves `app` on a loopback port; its URL.
async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// A balancer over `upstreams`, whose first request goes to the first.
async fn balancer(upstreams: &[&str]) -> String {
    let state = Arc::new(Balancer {
        upstreams: upstreams.iter().map(|u| u.to_string()).collect(),
        next: Default::default(),
        http: reqwest::Client::new(),
    });
    serve(axum::Router::new().fallback(balance).with_state(state)).await
}

async fn run_audit(
    node: String,
    pinned: Option<Hash>,
) -> Result<audit::ApiAuditReport, ApiAuditError> {
    tokio::task::spawn_blocking(move || {
        // A node that stops answering fails the audit after this long.
        let client = Client::with_timeout(&node, Duration::from_secs(5));
        let g = audit::genesis(&client, None, pinned.as_ref())?;
        audit::audit(&client, &g, |_, _, _| {})
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_audit_passes_an_honest_node_and_names_every_lie() {
    let demo = Demo::start(2);
    let honest = run_audit(demo.base.clone(), None).await.unwrap();
    assert!(
        honest.blocks > 100 && honest.transactions > 4_000,
        "{honest:?}"
    );
    assert!(honest.records > honest.transactions / 2, "{honest:?}");

    // The regulator's exports, written from the audit's replay rather than
    // on the node's word: every donation the node counted before the audit
    // (it goes on taking more) and every one the replay holds is there,
    // with the campaigns' Chinese titles; a year with none keeps only the
    // header.
    let node = demo.base.clone();
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().to_path_buf();
    let (before, replayed, written) = tokio::task::spawn_blocking(move || {
        let client = Client::new(&node);
        let count = |campaigns: Vec<charity_ledger::records::CampaignRecord>| -> u64 {
            campaigns.iter().map(|c| c.donation_count).sum()
        };
        let before = count(client.campaigns().unwrap());
        let g = audit::genesis(&client, None, None).unwrap();
        let (_, replay) = audit::audit_replayed(&client, &g, |_, _, _| {}).unwrap();
        let replayed = count(charity_ledger::query::campaigns(replay.state(), usize::MAX).unwrap());
        let mut written = Vec::new();
        for (sub, period) in [("all", Period::All), ("1999", Period::Year(1999))] {
            written.push(
                charity_sdk::exports::write(replay.state(), replay.time(), &to.join(sub), period)
                    .unwrap(),
            );
        }
        (before, replayed, written)
    })
    .await
    .unwrap();
    assert!(written.iter().all(|w| w.len() == 6), "{written:?}");
    let rows = |sub: &str, file: &str| {
        let bytes = std::fs::read(dir.path().join(sub).join(file)).unwrap();
        assert!(bytes.starts_with(b"\xef\xbb\xbf"), "{sub}/{file}");
        String::from_utf8(bytes).unwrap()
    };
    let exported = rows("all", "donations.csv").lines().count() as u64 - 1;
    assert_eq!(exported, replayed);
    assert!(exported >= before, "{exported} < {before}");
    assert_eq!(rows("1999", "donations.csv").lines().count(), 1);
    assert!(rows("all", "campaigns.csv").contains("乡村儿童营养午餐 2026"));
    assert_eq!(rows("all", "campaigns.csv"), rows("1999", "campaigns.csv"));

    // With the state of the regulator's witness (started on the node as
    // from cron), the audit also proves the chain holds the block the
    // witness saw; a checkpoint above the chain, or another block at its
    // height, fails it.
    let node = demo.base.clone();
    let outcomes = tokio::task::spawn_blocking(move || {
        let client = Client::new(&node);
        let (_, state) = charity_sdk::witness::run(&client, None).unwrap();
        let g = audit::genesis(&client, None, None).unwrap();
        let seen = state.checkpoint.header.height;
        let mut ahead = state.clone();
        ahead.checkpoint.header.height += 1_000;
        let mut other = state.clone();
        other.checkpoint.header.time += 1;
        let held = audit::audit_witnessed(&client, &g, &state, |_, _, _| {})
            .map(|(_, _, h)| h)
            .unwrap();
        let codes: Vec<String> = [ahead, other]
            .iter()
            .map(
                |w| match audit::audit_witnessed(&client, &g, w, |_, _, _| {}) {
                    Ok(_) => "passed".to_string(),
                    Err(e) => format!("{} {e}", e.code()),
                },
            )
            .collect();
        (seen, held, codes)
    })
    .await
    .unwrap();
    let (seen, held, codes) = outcomes;
    assert_eq!(held, seen);
    assert!(codes[0].starts_with("chain_behind_witness "), "{codes:?}");
    assert!(
        codes[1].starts_with(&format!(
            "history_rewritten HISTORY REWRITTEN: block {seen} is"
        )),
        "{codes:?}"
    );

    // Pinned to another genesis, the audit refuses to start.
    let err = run_audit(demo.base.clone(), Some(Hash::from([7u8; 32])))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "audit_genesis_mismatch", "{err}");

    // A block of donations well inside the history.
    let http = reqwest::Client::new();
    let mut at = 20;
    loop {
        let v: Value = http
            .get(format!("{}/v1/blocks/{at}/txs", demo.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["txs"][0]["body"]["kind"] == "donation" {
            break;
        }
        at += 1;
    }
    for (lie, code, words) in [
        (
            Lie::Amount,
            "audit_invalid_block",
            "signature does not verify",
        ),
        (Lie::ForgedCommit, "audit_bad_commit", "commit certificate"),
        (
            Lie::Garbage,
            "audit_unreadable_block",
            "cannot read the block",
        ),
        (
            Lie::Truncated,
            "audit_unreadable_block",
            "cannot read the block",
        ),
        (Lie::Silent, "audit_unreadable_block", "timed out"),
        (
            Lie::Endless,
            "audit_unreadable_block",
            "longer than 16777216 bytes",
        ),
        (Lie::Total, "audit_state_mismatch", "campaigns[1].raised"),
        (
            Lie::Unstated,
            "audit_node_unreadable",
            "no ledger-height header",
        ),
        (
            Lie::Rewound,
            "audit_node_unreadable",
            "answered at height 1, after",
        ),
        (
            Lie::Ahead,
            "audit_unreadable_block",
            "cannot read the block",
        ),
    ] {
        let url = proxy(&demo.base, lie, at).await;
        let err = run_audit(url, Some(honest.genesis_hash)).await.unwrap_err();
        let msg = err.to_string();
        let code_seen = err.code();
        // State lies are found after the replay; chain lies at their height.
        if matches!(
            lie,
            Lie::Amount
                | Lie::ForgedCommit
                | Lie::Garbage
                | Lie::Truncated
                | Lie::Silent
                | Lie::Endless
        ) {
            assert!(msg.starts_with(&format!("height {at}: ")), "{lie:?}: {msg}");
        }
        assert_eq!(code_seen, code, "{lie:?}: {msg}");
        assert!(msg.contains(words), "{lie:?}: {msg}");
    }

    // Behind a load balancer, over the live node and a replica that lags:
    // one that stopped at the last block of the demo's history (the store
    // the validators copied and went on from). The audit and the witness
    // ask every read for the height they have already seen, so the
    // replica's older answers are refused and asked again elsewhere, never
    // taken for a chain that went back.
    let replica = charity_ledger::Store::open(&demo.dir.path().join("chain")).unwrap();
    let stopped = replica.tip().height;
    let replica = charity_node::api::ApiState::new(Arc::new(std::sync::RwLock::new(replica)), 10);
    let replica = serve(charity_node::api::router(replica)).await;
    let node = demo.base.clone();
    let (live, saved) = tokio::task::spawn_blocking(move || {
        let client = Client::new(&node);
        // The live chain two blocks past the replica: each step waits for
        // the next block to commit.
        let mut live = 0;
        for _ in 0..30 {
            match client.at_least(live + 1).get_json_at("/v1/status") {
                Ok((_, h)) => live = h.unwrap(),
                // No block for a while (a loaded machine): wait again.
                Err(charity_sdk::client::ClientError::Api { code, .. })
                    if code == "height_not_reached" => {}
                Err(e) => panic!("{e}"),
            }
            if live >= stopped + 2 {
                break;
            }
        }
        let (_, saved) = charity_sdk::witness::run(&client, None).unwrap();
        (live, saved)
    })
    .await
    .unwrap();
    assert!(live >= stopped + 2, "{live} {stopped}");
    let balanced = balancer(&[&replica, &demo.base]).await;
    let report = run_audit(balanced, Some(honest.genesis_hash))
        .await
        .unwrap();
    assert!(report.blocks >= live, "{report:?}, live at {live}");
    // The witness's first read goes to the replica, below its checkpoint.
    let balanced = balancer(&[&replica, &demo.base]).await;
    let seen = saved.checkpoint.header.height;
    let outcome = tokio::task::spawn_blocking(move || {
        charity_sdk::witness::run(&Client::new(&balanced), Some(saved))
            .map(|(o, s)| (o, s.checkpoint.header.height))
    })
    .await
    .unwrap();
    let (_, now) = outcome.unwrap();
    assert!(now >= seen, "{now} < {seen}");
}

/// What a quiet chain's audit asks of its node, as a proxy in front of it
/// sees: the paths asked, and whether block 2 was asked for while block
/// 1's answer was still held back.
struct Watch {
    upstream: String,
    http: reqwest::Client,
    asked: std::sync::Mutex<Vec<String>>,
    second_asked: tokio::sync::Notify,
    overlapped: std::sync::atomic::AtomicBool,
}

async fn watch(State(w): State<Arc<Watch>>, uri: Uri, headers: axum::http::HeaderMap) -> Response {
    let path = uri.path().to_string();
    w.asked.lock().unwrap().push(path.clone());
    if path == "/v1/blocks/2" {
        w.second_asked.notify_one();
    }
    if path == "/v1/blocks/1" {
        // Block 1 is answered once block 2 has been asked for: an audit
        // that asks for one block at a time waits out the bound instead.
        let asked = tokio::time::timeout(Duration::from_secs(5), w.second_asked.notified()).await;
        w.overlapped
            .store(asked.is_ok(), std::sync::atomic::Ordering::SeqCst);
    }
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    common::relay(&w.http, &format!("{}{path}", w.upstream), &headers).await
}

/// A quiet chain (blocks without transactions, as the heartbeat makes
/// them) is audited over the API with several blocks asked for at once,
/// each block once, no block's empty transaction list, and nothing past
/// the chain's height.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_audit_fetches_a_quiet_chain_ahead_and_only_what_it_needs() {
    const BLOCKS: u64 = 100;
    let dir = tempfile::tempdir().unwrap();
    let genesis = common::quiet_chain(dir.path(), BLOCKS);
    let store = charity_ledger::Store::open(dir.path()).unwrap();
    let node = charity_node::api::ApiState::new(Arc::new(std::sync::RwLock::new(store)), 10);
    let node = serve(charity_node::api::router(node)).await;
    let w = Arc::new(Watch {
        upstream: node,
        http: reqwest::Client::new(),
        asked: Default::default(),
        second_asked: tokio::sync::Notify::new(),
        overlapped: Default::default(),
    });
    let proxied = serve(axum::Router::new().fallback(watch).with_state(w.clone())).await;
    let report = run_audit(proxied, Some(genesis.hash().unwrap()))
        .await
        .unwrap();
    assert_eq!((report.blocks, report.transactions), (BLOCKS, 0));
    assert!(
        w.overlapped.load(std::sync::atomic::Ordering::SeqCst),
        "block 2 was not asked for while block 1 was on its way"
    );
    let asked = w.asked.lock().unwrap().clone();
    let blocks: Vec<u64> = asked
        .iter()
        .filter_map(|p| p.strip_prefix("/v1/blocks/"))
        .map(|h| h.parse().unwrap_or_else(|_| panic!("asked {h}")))
        .collect();
    let mut once = blocks.clone();
    once.sort_unstable();
    once.dedup();
    assert_eq!(once.len(), blocks.len(), "a block asked twice: {blocks:?}");
    assert_eq!(once, (1..=BLOCKS).collect::<Vec<_>>());
}
