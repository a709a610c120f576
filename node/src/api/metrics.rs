//! Prometheus metrics at `/metrics`: requests and their latency by route
//! and status, the chain's height and the mempool's size.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use super::ApiState;

/// The node's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pub(super) height: IntGauge,
    pending: IntGauge,
}

impl Metrics {
    /// Registers the metrics.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "charity_http_requests_total",
                "HTTP requests by route and status",
            ),
            &["route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "charity_http_request_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["route"],
        )?;
        let height = IntGauge::new(
            "charity_chain_height",
            "Height of the latest committed block",
        )?;
        let pending = IntGauge::new(
            "charity_mempool_pending",
            "Transactions waiting for a block",
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(height.clone()))?;
        registry.register(Box::new(pending.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            latency,
            height,
            pending,
        })
    }
}

/// Counts and times every request by its route pattern (never by the raw
/// path, which would let a client create unbounded label values).
pub async fn track(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_owned();
    let started = Instant::now();
    let res = next.run(req).await;
    if let Some(m) = &state.metrics {
        m.latency
            .with_label_values(&[route.as_str()])
            .observe(started.elapsed().as_secs_f64());
        m.requests
            .with_label_values(&[route.as_str(), res.status().as_str()])
            .inc();
    }
    res
}

/// `GET /metrics`.
pub async fn render(State(state): State<ApiState>) -> Response {
    let Some(m) = &state.metrics else {
        return (StatusCode::NOT_FOUND, "metrics are off").into_response();
    };
    // Each commit sets the height; while one is under way (the store is
    // locked) the scrape reports the last, without waiting for it.
    if let Ok(store) = state.store.try_read() {
        m.height
            .set(i64::try_from(store.tip().height).unwrap_or(i64::MAX));
    }
    m.pending
        .set(i64::try_from(state.mempool.len()).unwrap_or(i64::MAX));
    let mut out = Vec::new();
    match TextEncoder::new().encode(&m.registry.gather(), &mut out) {
        Ok(()) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
