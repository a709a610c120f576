//! The node's HTTP API under `/v1` (design, "HTTP API (node)"): signed
//! transactions in, the chain's records, receipts and proofs out, a
//! server-sent-events stream of committed blocks.

mod error;
pub mod metrics;
mod routes;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use charity_ledger::hex::Hash;
use charity_ledger::Store;
use serde::Serialize;
use tokio::sync::broadcast;

pub use error::ApiError;
pub use routes::accept;

use crate::mempool::Mempool;

/// The largest request body accepted (a transaction is at most 64 KiB).
pub const MAX_BODY: usize = 64 * 1024;
/// The longest a request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests served at once; more wait.
pub const MAX_CONCURRENT: usize = 256;
/// How long a read asking for a height the node has not reached waits for
/// it, by default: a few blocks' time, and well inside [`REQUEST_TIMEOUT`].
pub const MIN_HEIGHT_WAIT: Duration = Duration::from_secs(2);

/// A committed block, as the events stream announces it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlockEvent {
    /// Height.
    pub height: u64,
    /// Block hash.
    pub hash: Hash,
    /// Block time (ms).
    pub time: u64,
    /// Its transactions.
    pub tx_ids: Vec<Hash>,
}

/// What the API serves from.
#[derive(Clone)]
pub struct ApiState {
    /// The node's store.
    pub store: Arc<RwLock<Store>>,
    /// Pending transactions.
    pub mempool: Arc<Mempool>,
    /// Committed blocks, for `/v1/events`.
    pub events: broadcast::Sender<BlockEvent>,
    /// The node's clock (ms), for checking submissions against the time a
    /// block would have now.
    pub clock: Arc<dyn Fn() -> u64 + Send + Sync>,
    /// Connected peers.
    pub peers: Arc<dyn Fn() -> usize + Send + Sync>,
    /// The highest tip height a connected peer has announced (0 before
    /// any has).
    pub peer_height: Arc<dyn Fn() -> u64 + Send + Sync>,
    /// Prometheus metrics (none if they could not be registered).
    pub metrics: Option<metrics::Metrics>,
    /// Where accepted transactions go to be gossiped to the other nodes.
    pub gossip: Option<tokio::sync::mpsc::Sender<charity_ledger::Transaction>>,
    /// How long a read that asks for a height the node has not reached
    /// (`Ledger-Min-Height`) waits for it before it is refused.
    pub min_height_wait: Duration,
}

impl ApiState {
    /// A state over `store` with an empty pool of `capacity`, the system
    /// clock and no peers.
    pub fn new(store: Arc<RwLock<Store>>, capacity: usize) -> Self {
        let (events, _) = broadcast::channel(256);
        ApiState {
            store,
            mempool: Arc::new(Mempool::new(capacity)),
            events,
            clock: Arc::new(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0)
            }),
            peers: Arc::new(|| 0),
            peer_height: Arc::new(|| 0),
            metrics: metrics::Metrics::new().ok(),
            gossip: None,
            min_height_wait: MIN_HEIGHT_WAIT,
        }
    }

    /// Announces a committed block to `/v1/events` listeners, removes its
    /// transactions from the pool and sets the height gauge.
    pub fn committed(&self, event: BlockEvent) {
        self.mempool.remove(&event.tx_ids);
        if let Some(m) = &self.metrics {
            m.height
                .set(i64::try_from(event.height).unwrap_or(i64::MAX));
        }
        // No listeners is not an error.
        let _ = self.events.send(event);
    }
}

/// Unknown paths: a JSON error under the API, the explorer's page elsewhere.
async fn unknown(uri: axum::http::Uri, headers: axum::http::HeaderMap) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = uri.path();
    if path.starts_with("/v1") || path == "/metrics" {
        routes::unknown_route().await.into_response()
    } else {
        charity_explorer::not_found(uri, headers).await
    }
}

/// The node's HTTP service: the API under `/v1`, metrics, and the explorer
/// at `/`.
pub fn router(state: ApiState) -> Router {
    let api = Router::new()
        .route("/v1/txs", post(routes::submit))
        .route("/v1/txs/{id}", get(routes::tx))
        .route("/v1/txs/{id}/receipt", get(routes::receipt))
        .route("/v1/blocks/latest", get(routes::latest_block))
        .route("/v1/blocks/{height}", get(routes::block))
        .route("/v1/blocks/{height}/txs", get(routes::block_txs))
        .route("/v1/checkpoint", get(routes::checkpoint))
        .route("/v1/log/consistency", get(routes::consistency))
        .route("/v1/log/inclusion", get(routes::inclusion))
        .route("/v1/validators", get(routes::validators))
        .route("/v1/validators/history", get(routes::validator_history))
        .route("/v1/orgs", get(routes::orgs))
        .route("/v1/orgs/{id}", get(routes::org))
        .route("/v1/campaigns", get(routes::campaigns))
        .route("/v1/campaigns/{id}", get(routes::campaign))
        .route("/v1/donations/{id}/trace", get(routes::trace))
        .route("/v1/donors/{donor}/donations", get(routes::donor_donations))
        .route("/v1/evidence/{sha256}", get(routes::evidence))
        .route("/v1/status", get(routes::status))
        .route("/v1/genesis", get(routes::genesis))
        .route("/v1/events", get(routes::events))
        .route("/v1/openapi.json", get(routes::openapi))
        .route("/metrics", get(metrics::render))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            routes::at_least,
        ))
        .with_state(state.clone());
    api.merge(charity_explorer::router(state.store.clone()))
        .fallback(unknown)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(tower::limit::ConcurrencyLimitLayer::new(MAX_CONCURRENT))
}
