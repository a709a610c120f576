//! A page waiting for the store (as it does while a block commits, which
//! holds the store's write lock) waits off the runtime's worker threads, so
//! the rest of the node's HTTP service keeps answering meanwhile; pages that
//! show nothing from the chain do not wait at all.

#[path = "../../ledger/tests/common/mod.rs"]
mod common;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use charity_ledger::store::Store;

#[test]
fn pages_waiting_for_the_store_do_not_hold_up_other_requests() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_or_init(&dir.path().join("chain"), &common::genesis()).unwrap();
    let store = Arc::new(RwLock::new(store));

    // The server has one worker thread, as a node on a one-core machine.
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = server
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = charity_explorer::router(store.clone());
    server.spawn(async move { axum::serve(listener, app).await });

    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("http://{addr}{path}")).send();

    // A block is committing.
    let committing = store.write().unwrap();
    // The last asks for a block the chain does not have yet.
    let asked = [
        ("/", 200),
        ("/orgs", 200),
        ("/regulator", 200),
        ("/search?q=1", 404),
    ];
    let pages: Vec<_> = asked
        .iter()
        .map(|&(p, status)| (p, status, client.spawn(get(p))))
        .collect();
    // Had the pages blocked the one worker on the lock, these would never
    // be answered; the bound only turns that into a failure instead of a
    // hang. The forms show nothing from the chain and do not wait for it.
    for path in ["/static/explorer.css", "/verify", "/donor", "/evidence"] {
        let resp = client
            .block_on(async { tokio::time::timeout(Duration::from_secs(30), get(path)).await })
            .unwrap_or_else(|_| panic!("{path} is served while pages wait for the store"))
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
    assert!(
        pages.iter().all(|(_, _, p)| !p.is_finished()),
        "no page is rendered while the store is locked"
    );

    // The block is committed: every page is rendered.
    drop(committing);
    for (path, status, page) in pages {
        let resp = client.block_on(page).unwrap().unwrap();
        assert_eq!(resp.status(), status, "{path}");
    }
}
