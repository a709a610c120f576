//! The charity-ledger explorer: the pages every node serves at `/`, so that
//! donors can follow their money and verify it in their own browser,
//! charities can show their progress and regulators can look across
//! organisations (design, "Explorer").
//!
//! Pages are rendered on the server from the node's store and work without
//! JavaScript. The one script, `static/explorer.js`, does only what the
//! browser must do itself: turn a donor code into its tag (the code never
//! leaves the machine), verify a receipt with WebCrypto, hash a dropped
//! document, show times in the viewer's zone and follow the live feed.
//!
//! ```no_run
//! # use std::sync::{Arc, RwLock};
//! # fn demo(store: charity_ledger::Store) {
//! let app: axum::Router = charity_explorer::router(Arc::new(RwLock::new(store)));
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod i18n;
mod pages;
mod sankey;
pub mod view;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use charity_ledger::Store;

pub use pages::ErrorKind;

/// The script every page loads.
pub const SCRIPT: &str = include_str!("../static/explorer.js");
/// The style sheet.
pub const STYLE: &str = include_str!("../static/explorer.css");

/// What the explorer reads: the node's store.
#[derive(Clone)]
pub struct Explorer {
    store: Arc<RwLock<Store>>,
    /// Campaign page heads by campaign and language, with their height.
    heads: Arc<Mutex<HeadCache>>,
    /// The compliance review last computed for the regulator page.
    review: Arc<Mutex<Option<Arc<pages::CachedReview>>>>,
}

type HeadCache = HashMap<(String, &'static str), (u64, Arc<pages::CampaignHead>)>;

/// The explorer's routes. They have no fallback, so that a node can merge
/// them with its API; it should send unknown paths outside `/v1` to
/// [`not_found`].
pub fn router(store: Arc<RwLock<Store>>) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/search", get(pages::search))
        .route("/orgs", get(pages::orgs))
        .route("/orgs/{id}", get(pages::org))
        .route("/campaigns/{id}", get(pages::campaign))
        .route(
            "/campaigns/{id}/disbursements",
            get(pages::campaign_disbursements),
        )
        .route("/donor", get(pages::donor_form))
        .route("/donors/{tag}", get(pages::donor))
        .route("/txs/{id}", get(pages::tx))
        .route("/blocks/{height}", get(pages::block))
        .route("/evidence", get(pages::evidence_form))
        .route("/evidence/{sha256}", get(pages::evidence))
        .route("/verify", get(pages::verify))
        .route("/regulator", get(pages::regulator))
        .route("/static/explorer.js", get(script))
        .route("/static/explorer.css", get(style))
        .with_state(Explorer {
            store,
            heads: Arc::new(Mutex::new(HashMap::new())),
            review: Arc::new(Mutex::new(None)),
        })
}

/// The friendly 404 page, in the visitor's language.
pub async fn not_found(uri: Uri, headers: HeaderMap) -> Response {
    pages::error_page(&uri, &headers, ErrorKind::UnknownPage, None)
}

async fn script() -> impl IntoResponse {
    static_file(SCRIPT, "text/javascript; charset=utf-8")
}

async fn style() -> impl IntoResponse {
    static_file(STYLE, "text/css; charset=utf-8")
}

fn static_file(body: &'static str, kind: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        body,
    )
        .into_response()
}
