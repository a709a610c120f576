//! A running `charity-node demo` for end-to-end tests: its own data
//! directory, an HTTP port chosen by the system, stopped when dropped.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The demo's donor, 李女士, and her 100-yuan donation for school lunches.
pub const LI_CODE: &str = "K7QF-2M9D-XR4T-8HWA-6PZN";

pub struct Demo {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The data directory (chain, evidence documents, keys).
    pub dir: tempfile::TempDir,
}

impl Demo {
    /// Builds the demo's history and serves it, adding a block every
    /// `interval` seconds.
    pub fn start(interval: u64) -> Demo {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_charity-node"))
            .arg("demo")
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--base-port", "0", "--live-interval"])
            .arg(interval.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start charity-node demo");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        // Keep draining stdout so the demo never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("explorer: ") {
                    let url = rest.split_whitespace().next().unwrap_or("").to_string();
                    let _ = tx.send(url);
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(180)) {
            Ok(u) => u,
            Err(e) => {
                let _ = child.kill();
                panic!("the demo did not print its explorer address: {e}");
            }
        };
        Demo {
            child,
            base: url.trim_end_matches('/').to_string(),
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The donor tag of a code, as the ledger computes it.
pub fn tag(code: &str) -> String {
    charity_ledger::donor::DonorCode::parse(code)
        .unwrap()
        .tag()
        .as_str()
        .to_string()
}

/// Relays a read to `url` with the `Ledger-Min-Height` it asked for, and
/// hands back the answer's status, body and `Ledger-Height` (for proxies
/// and balancers that tests and benches put in front of a node).
pub async fn relay(
    http: &reqwest::Client,
    url: &str,
    headers: &axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use charity_sdk::client::{HEIGHT_HEADER, MIN_HEIGHT_HEADER};
    let mut request = http.get(url);
    if let Some(h) = headers.get(MIN_HEIGHT_HEADER) {
        request = request.header(MIN_HEIGHT_HEADER, h.clone());
    }
    let r = match request.send().await {
        Ok(r) => r,
        Err(e) => return (axum::http::StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = r.status();
    let height = r.headers().get(HEIGHT_HEADER).cloned();
    let body = r.bytes().await.unwrap_or_default();
    let mut answer = (status, [("content-type", "application/json")], body).into_response();
    if let Some(h) = height {
        answer.headers_mut().insert(HEIGHT_HEADER, h);
    }
    answer
}

/// A chain of `blocks` blocks without transactions (as the heartbeat makes
/// them when nothing is submitted), committed by four validators into a
/// store under `dir`; its genesis.
pub fn quiet_chain(dir: &std::path::Path, blocks: u64) -> charity_ledger::Genesis {
    use charity_ledger::dev;
    let validators: Vec<_> = (0..4)
        .map(|i| dev::key(&format!("validator-{i}")))
        .collect();
    let org = charity_ledger::org_id::OrgId::from_parts("11440100MB0000001").unwrap();
    let start = 1_767_225_600_000;
    let genesis = dev::genesis("quiet", start, &org, &dev::key("regulator"), &validators).unwrap();
    let store = charity_ledger::Store::open_or_init(dir, &genesis).unwrap();
    let mut chain = dev::DevChain::new(store, validators);
    for i in 1..=blocks {
        chain.commit_block(Vec::new(), start + i * 10_000).unwrap();
    }
    genesis
}
