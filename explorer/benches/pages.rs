//! Explorer page latency: a campaign of 100,000 donations (and 200
//! disbursements allocated across them) on a sled store, the explorer
//! served over loopback, and 50 concurrent clients fetching campaign pages
//! (first and later donation pages) and donor pages (each donor's
//! donations with their traces). Prints p50/p99/max per page kind and the
//! request rate, the regulator page's first request (which computes the
//! compliance review) and later ones at the same height, and in the same
//! run the machine's raw Ed25519 verifications per second, as a yardstick.
//!
//! Run: `cargo bench -p charity-explorer --bench pages` (DONATIONS=n,
//! CLIENTS=n, REQUESTS=n per client to change the load).

#[path = "../../ledger/tests/common/mod.rs"]
mod common;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use charity_ledger::store::Store;
use common::*;
use ed25519_dalek::{Signer, SigningKey};
use rand::{Rng, SeedableRng};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let donations = env("DONATIONS", 100_000);
    let clients = env("CLIENTS", 50);
    let requests = env("REQUESTS", 100);
    let donors = (donations / 5).max(1) as u32;
    println!(
        "charity-explorer page benchmark: a campaign of {donations} donations from {donors} donors, {clients} concurrent clients"
    );

    // The chain: blocks of 1,000 transactions, one in fifty a disbursement.
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_or_init(&dir.path().join("chain"), &genesis()).expect("store");
    let mut w = World::with_backend(store);
    let platform = w.platform.key.clone();
    let charity = w.charity.key.clone();
    let built = Instant::now();
    let mut made = 0usize;
    let mut disbursements = 0usize;
    while made < donations {
        let mut txs = Vec::with_capacity(1_000);
        for i in 0..1_000 {
            if made >= donations {
                break;
            }
            let t = if i % 50 == 49 && disbursements < 200 {
                disbursements += 1;
                let d = w.disbursement(&lunch(), 1_000_00, "meals", World::<Store>::vendor());
                w.tx(&charity, d)
            } else {
                made += 1;
                let d = w.donation(&lunch(), 100_00, &code(made as u32 % donors), None);
                w.tx(&platform, d)
            };
            txs.push(t);
        }
        let c = w.commit(txs);
        assert!(
            c.built.rejected.is_empty(),
            "{:?}",
            c.built.rejected.first()
        );
    }
    println!(
        "built {} blocks ({made} donations, {disbursements} disbursements) in {:.1} s",
        w.chain.tip().height,
        built.elapsed().as_secs_f64()
    );
    let store = Arc::new(RwLock::new(w.chain.backend));
    let app = charity_explorer::router(store);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (campaign, donor, elapsed, mut regulator) = rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let base = format!("http://{addr}");
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(clients)
            .build()
            .expect("client");
        // Warm up: one of each.
        for p in [
            "/campaigns/rural-lunch-2026".to_string(),
            format!("/donors/{}", tag(1)),
        ] {
            let r = http
                .get(format!("{base}{p}"))
                .send()
                .await
                .expect("warm-up");
            assert!(r.status().is_success(), "{p}: {}", r.status());
        }
        // The regulator page: the first request computes the compliance
        // review (one pass over every donation); later ones at the same
        // height are served the review kept.
        let mut regulator = Vec::new();
        for _ in 0..21 {
            regulator.push(fetch(&http, &format!("{base}/regulator")).await);
        }
        let start = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..clients {
            let http = http.clone();
            let base = base.clone();
            tasks.push(tokio::spawn(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(c as u64);
                let mut campaign = Vec::new();
                let mut donor = Vec::new();
                for i in 0..requests {
                    let (path, into) = if i % 2 == 0 {
                        let from = if rng.gen_bool(0.5) {
                            0
                        } else {
                            rng.gen_range(0..donations as u64)
                        };
                        (
                            format!("/campaigns/rural-lunch-2026?from={from}"),
                            &mut campaign,
                        )
                    } else {
                        (
                            format!("/donors/{}", tag(rng.gen_range(0..donors))),
                            &mut donor,
                        )
                    };
                    into.push(fetch(&http, &format!("{base}{path}")).await);
                }
                (campaign, donor)
            }));
        }
        let mut campaign = Vec::new();
        let mut donor = Vec::new();
        for t in tasks {
            let (c, d) = t.await.expect("client task");
            campaign.extend(c);
            donor.extend(d);
        }
        (campaign, donor, start.elapsed(), regulator)
    });
    for (name, mut v) in [("campaign page", campaign), ("donor page", donor)] {
        v.sort();
        println!(
            "{name:>14}: {} requests, p50 {}, p99 {}, max {}",
            v.len(),
            ms(percentile(&v, 0.50)),
            ms(percentile(&v, 0.99)),
            ms(*v.last().unwrap_or(&Duration::ZERO))
        );
    }
    let first = regulator.remove(0);
    regulator.sort();
    println!(
        "regulator page: {} the first time (computes the review of {made} donations), then p50 {} (the review kept for its height)",
        ms(first),
        ms(percentile(&regulator, 0.50))
    );
    let total = clients * requests;
    println!(
        "{total} pages in {:.2} s: {:.0} pages/s (server and clients share this machine's {} cores)",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    // Yardstick: raw Ed25519 verifications per second on one core.
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let vk = key.verifying_key();
    let sig = key.sign(b"yardstick");
    let n = 20_000;
    let t = Instant::now();
    for _ in 0..n {
        vk.verify_strict(b"yardstick", &sig).expect("verifies");
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    println!("raw Ed25519 verify_strict on one core: {rate:.0}/s (a donor page verifies one receipt in the browser: 4 signatures and the tx's)");
    println!("target: p99 under 50 ms for both pages");
}

/// Fetches `url` whole; how long that took. A failed or empty page ends
/// the run.
async fn fetch(http: &reqwest::Client, url: &str) -> Duration {
    let t = Instant::now();
    let r = http.get(url).send().await.expect("request");
    let ok = r.status().is_success();
    let body = r.bytes().await.expect("body");
    let took = t.elapsed();
    assert!(ok && !body.is_empty(), "{url} failed");
    took
}

fn tag(i: u32) -> String {
    charity_ledger::donor::DonorCode::parse(&code(i))
        .expect("fixture code")
        .tag()
        .as_str()
        .to_string()
}
