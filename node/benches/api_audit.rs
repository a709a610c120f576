//! The audit over the API (`charity audit --node URL`) of a quiet chain:
//! blocks without transactions, as the heartbeat makes them when nothing
//! is submitted, served by a node's API on loopback, then behind a proxy
//! that holds each request back as a network would (20 ms each way
//! together). Prints blocks re-verified per second for both.
//!
//! Run: `cargo bench -p charity-node --bench api_audit` (QUIET=n blocks,
//! default 2,000; DELAY_MS=n for the proxy's delay, default 20).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use charity_sdk::audit;
use charity_sdk::client::Client;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// Forwards a read to `upstream` after `delay`.
async fn delayed(
    upstream: Arc<String>,
    http: reqwest::Client,
    delay: Duration,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    tokio::time::sleep(delay).await;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    common::relay(&http, &format!("{upstream}{path}"), &headers).await
}

/// Audits the chain at `url`; blocks and seconds.
async fn time_audit(url: String) -> (u64, f64) {
    tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        let client = Client::new(&url);
        let g = audit::genesis(&client, None, None).expect("genesis");
        let report = audit::audit(&client, &g, |_, _, _| {}).expect("the chain is intact");
        (report.blocks, t.elapsed().as_secs_f64())
    })
    .await
    .expect("the audit ran")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let blocks = env("QUIET", 2_000);
    let delay = Duration::from_millis(env("DELAY_MS", 20));
    println!(
        "charity-node API audit benchmark: a quiet chain of {blocks} blocks without transactions"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    common::quiet_chain(dir.path(), blocks);
    let store = charity_ledger::Store::open(dir.path()).expect("reopen");
    let state = charity_node::api::ApiState::new(Arc::new(std::sync::RwLock::new(store)), 10);
    let node = serve(charity_node::api::router(state)).await;

    let (n, secs) = time_audit(node.clone()).await;
    println!(
        "on loopback: {n} blocks in {secs:.2} s = {:.0} blocks/s (node and audit sharing the cores)",
        n as f64 / secs
    );
    let upstream = Arc::new(node);
    let http = reqwest::Client::new();
    let proxy = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        delayed(upstream.clone(), http.clone(), delay, uri, headers)
    });
    let proxied = serve(proxy).await;
    let (n, secs) = time_audit(proxied).await;
    println!(
        "each request held back {} ms: {n} blocks in {secs:.2} s = {:.0} blocks/s ({:.2} delays a block; asking for a block's two answers one at a time costs 2)",
        delay.as_millis(),
        n as f64 / secs,
        secs / n as f64 / delay.as_secs_f64()
    );
}
