//! The handlers. Every input from the request is validated into the
//! ledger's types first; anything malformed is a 400 with a code.

use std::convert::Infallible;
use std::sync::{RwLockReadGuard, TryLockError};

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::Json;
use charity_ledger::donor::Donor;
use charity_ledger::exec::{ExecError, Executor};
use charity_ledger::hex::Hash;
use charity_ledger::ids::CampaignId;
use charity_ledger::org_id::OrgId;
use charity_ledger::{query, validate, Store, Transaction};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::{Stream, StreamExt};

use super::{ApiError, ApiState};
use charity_sdk::client::{HEIGHT_HEADER, MIN_HEIGHT_HEADER};

type Answer = Result<AtHeight<Json<Value>>, ApiError>;

/// An answer read from the store, with the height of the chain it was read
/// at: every read answer carries it in the [`HEIGHT_HEADER`] header, so that
/// a client can tell which block's state it was shown (an auditor compares
/// each answer with its own replay at exactly that height).
pub struct AtHeight<R> {
    /// The tip's height while the answer was computed.
    pub height: u64,
    /// The answer.
    pub value: R,
}

impl<R: IntoResponse> IntoResponse for AtHeight<R> {
    fn into_response(self) -> axum::response::Response {
        ([(HEIGHT_HEADER, self.height.to_string())], self.value).into_response()
    }
}

fn read(state: &ApiState) -> Result<RwLockReadGuard<'_, Store>, ApiError> {
    state.store.read().map_err(|_| unavailable())
}

/// Runs `f` with the store read-locked, and gives its answer with the
/// height it was computed at (one lock, so one block's state). Uncontended,
/// the usual case, it runs right here; while a block commits (the writer holds the lock or
/// waits for it) it waits on tokio's blocking pool instead, so that the
/// runtime's worker threads go on serving the network, the event streams
/// and the requests that need no store.
async fn with_store<R: Send + 'static>(
    state: &ApiState,
    f: impl FnOnce(&ApiState, &Store) -> Result<R, ApiError> + Send + 'static,
) -> Result<AtHeight<R>, ApiError> {
    let at = |store: &Store, value| AtHeight {
        height: store.tip().height,
        value,
    };
    match state.store.try_read() {
        Ok(store) => return f(state, &store).map(|v| at(&store, v)),
        Err(TryLockError::Poisoned(_)) => return Err(unavailable()),
        Err(TryLockError::WouldBlock) => {}
    }
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        let store = state.store.read().map_err(|_| unavailable())?;
        f(&state, &store).map(|v| at(&store, v))
    })
    .await
    .map_err(|_| ApiError::internal("request_failed", "the request could not be completed"))?
}

/// Middleware over the API's routes: a request that carries
/// [`MIN_HEIGHT_HEADER`] is served only once the node has committed that
/// height. The chain only grows, so every answer is then read at that
/// height or later (its [`HEIGHT_HEADER`] says which). A node below it
/// waits up to [`ApiState::min_height_wait`] for the block, and otherwise
/// answers 503 `height_not_reached`, so that a client reading from several
/// nodes (behind a load balancer, say) asks again and reaches one that has
/// it, rather than being shown an older state than it already saw.
pub async fn at_least(
    State(state): State<ApiState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let Some(asked) = request.headers().get(MIN_HEIGHT_HEADER) else {
        return next.run(request).await;
    };
    let Some(want) = asked.to_str().ok().and_then(|s| s.parse::<u64>().ok()) else {
        return ApiError::bad_request(
            "invalid_min_height",
            format!("{MIN_HEIGHT_HEADER} must be a block height, not {asked:?}"),
        )
        .into_response();
    };
    match reached(&state, want).await {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// Waits until the node has committed block `want`, for at most
/// [`ApiState::min_height_wait`].
async fn reached(state: &ApiState, want: u64) -> Result<(), ApiError> {
    // Listening before looking at the tip: a block committed in between
    // is still heard of.
    let mut blocks = state.events.subscribe();
    // While a block commits, the writer holds the store: its event follows.
    let tip = || state.store.try_read().ok().map(|s| s.tip().height);
    let deadline = tokio::time::Instant::now() + state.min_height_wait;
    let mut height = tip();
    let why = loop {
        if height.is_some_and(|h| h >= want) {
            return Ok(());
        }
        // Beyond the next block, and no peer has reached it either: it
        // will not commit in a moment.
        if let Some(h) = height {
            if want > h.max((state.peer_height)()).saturating_add(1) {
                break "which no peer it knows of has reached either".to_string();
            }
        }
        match tokio::time::timeout_at(deadline, blocks.recv()).await {
            // Sent after the block is stored.
            Ok(Ok(block)) if block.height >= want => return Ok(()),
            Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => height = tip(),
            Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => {
                height = tip().or(height);
                if height.is_some_and(|h| h >= want) {
                    return Ok(());
                }
                break format!(
                    "which it did not commit within {} ms",
                    state.min_height_wait.as_millis()
                );
            }
        }
    };
    let at = height.map_or("a lower block".into(), |h| format!("block {h}"));
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "height_not_reached",
        format!(
            "this node has {at}; the request asks for block {want} or later ({MIN_HEIGHT_HEADER}), {why}; ask again, or ask another node"
        ),
    ))
}

fn unavailable() -> ApiError {
    ApiError::internal("unavailable", "the store is unavailable")
}

fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    p.map(|Path(v)| v)
        .map_err(|e| ApiError::bad_request("invalid_path", e.body_text()))
}

fn query_params<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))
}

fn hash(s: &str, what: &str) -> Result<Hash, ApiError> {
    Hash::parse(s).map_err(|e| ApiError::bad_request("invalid_hex", format!("{what}: {e}")))
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::internal("encoding_failed", e.to_string()))
}

/// Checks a transaction against the chain as it is now and keeps it in the
/// pool: what `POST /v1/txs` and gossip from other nodes share.
pub fn accept(state: &ApiState, tx: Transaction) -> Result<(), ApiError> {
    check(state, &*read(state)?, &tx)?;
    keep(state, tx)
}

/// Checks a transaction against `store` as it is now.
fn check(state: &ApiState, store: &Store, tx: &Transaction) -> Result<(), ApiError> {
    let tip = store.tip();
    validate::check_stateless(tx, &tip.chain_id)?;
    let time = (state.clock)().max(tip.time + 1);
    let mut ex = Executor::new(store.kv(), tip.height + 1, time);
    match ex.apply(tx, 0) {
        Ok(()) => Ok(()),
        Err(ExecError::Tx(e)) => Err(e.into()),
        Err(ExecError::Kv(e)) => Err(e.into()),
    }
}

/// Keeps a checked transaction in the pool.
fn keep(state: &ApiState, tx: Transaction) -> Result<(), ApiError> {
    state.mempool.insert(tx).map_err(|e| match e {
        crate::mempool::MempoolError::AlreadyPending(_) => {
            ApiError::new(StatusCode::CONFLICT, e.code(), e.to_string())
        }
        _ => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.code(), e.to_string()),
    })
}

/// `POST /v1/txs`: checks a signed transaction against the chain as it is
/// now and keeps it for the next block.
#[utoipa::path(post, path = "/v1/txs", request_body(content = Object, description = "A signed transaction: {\"body\": {...}, \"sig\": \"<128 hex>\"}", content_type = "application/json"), responses((status = 202, description = "Checked and pending: {tx_id, status}"), (status = 400, description = "Malformed or badly signed"), (status = 403, description = "Signer lacks the role"), (status = 409, description = "Already committed or pending"), (status = 413, description = "Too large"), (status = 422, description = "A rule is broken"), (status = 503, description = "Mempool full")))]
pub async fn submit(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                e.status(),
                "too_large",
                format!("the body exceeds {} bytes", super::MAX_BODY),
            )
        } else {
            ApiError::bad_request("malformed_body", e.body_text())
        }
    })?;
    let tx = Transaction::decode(&body)?;
    let id = tx.id();
    let tx = with_store(&state, move |state, store| {
        check(state, store, &tx)?;
        Ok(tx)
    })
    .await?
    .value;
    keep(&state, tx.clone())?;
    if let Some(g) = &state.gossip {
        // The others learn of it over gossip; should the outbox be full,
        // it still waits in this node's pool for this node's turn to
        // propose.
        let _ = g.try_send(tx);
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"tx_id": id, "status": "pending"})),
    ))
}

/// `GET /v1/txs/{id}`.
#[utoipa::path(get, path = "/v1/txs/{id}", params(("id" = String, Path, description = "Transaction id, 64 hex")), responses((status = 200, description = "The transaction, pending or committed with height and index"), (status = 400, description = "Malformed input: {code, message}"), (status = 404, description = "Unknown id: {code, message}")))]
pub async fn tx(State(state): State<ApiState>, id: Result<Path<String>, PathRejection>) -> Answer {
    let id = hash(&path(id)?, "tx id")?;
    with_store(&state, move |state, store| {
        if let Some(loc) = store.tx_location(&id)? {
            let tx = store.tx(&id)?.ok_or_else(|| {
                ApiError::internal(
                    "storage_corrupt",
                    format!("transaction {id} is indexed but missing"),
                )
            })?;
            return Ok(Json(json!({
                "tx": to_json(&tx)?, "tx_id": id, "status": "committed",
                "height": loc.height, "index": loc.index, "kind": tx.kind().name(),
            })));
        }
        match state.mempool.get(&id) {
            Some(tx) => Ok(Json(
                json!({"tx": to_json(&tx)?, "tx_id": id, "status": "pending", "kind": tx.kind().name()}),
            )),
            None => Err(ApiError::not_found(
                "unknown_tx",
                format!("transaction {id} is neither committed nor pending"),
            )),
        }
    })
    .await
}

/// `GET /v1/txs/{id}/receipt`.
#[utoipa::path(get, path = "/v1/txs/{id}/receipt", params(("id" = String, Path, description = "Transaction id, 64 hex")), responses((status = 200, description = "The receipt (design, Receipts and proofs)"), (status = 400, description = "Malformed input: {code, message}"), (status = 404, description = "Unknown id: {code, message}")))]
pub async fn receipt(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
) -> Answer {
    let id = hash(&path(id)?, "tx id")?;
    with_store(&state, move |state, store| {
        if store.tx_location(&id)?.is_none() {
            let pending = state.mempool.get(&id).is_some();
            return Err(ApiError::not_found(
                "unknown_tx",
                if pending {
                    format!("transaction {id} is pending; its receipt exists once it is committed")
                } else {
                    format!("transaction {id} is not committed")
                },
            ));
        }
        Ok(Json(to_json(&store.receipt(&id)?)?))
    })
    .await
}

/// A block height from the path.
fn height(h: Result<Path<String>, PathRejection>) -> Result<u64, ApiError> {
    let h = path(h)?;
    h.parse().map_err(|_| {
        ApiError::bad_request("invalid_height", format!("{h:?} is not a block height"))
    })
}

fn unknown_block(store: &Store, height: u64) -> ApiError {
    ApiError::not_found(
        "unknown_block",
        format!(
            "there is no block {height}; the chain is at {}",
            store.tip().height
        ),
    )
}

fn block_json(store: &Store, height: u64) -> Result<Json<Value>, ApiError> {
    let header = store
        .header(height)?
        .ok_or_else(|| unknown_block(store, height))?;
    Ok(Json(json!({
        "header": to_json(&header)?,
        "hash": store.block_hash(height)?,
        "commit": to_json(&store.commit_certificate(height)?)?,
        "tx_ids": store.block_tx_ids(height)?,
    })))
}

/// `GET /v1/blocks/{height}`.
#[utoipa::path(get, path = "/v1/blocks/{height}", params(("height" = u64, Path, description = "Block height, from 1")), responses((status = 200, description = "{header, hash, commit, tx_ids}"), (status = 400, description = "Malformed input: {code, message}"), (status = 404, description = "Unknown id: {code, message}")))]
pub async fn block(
    State(state): State<ApiState>,
    h: Result<Path<String>, PathRejection>,
) -> Answer {
    let height = height(h)?;
    with_store(&state, move |_, store| block_json(store, height)).await
}

/// `GET /v1/blocks/{height}/txs`: the block's transactions, in block
/// order, for auditors who replay the chain.
#[utoipa::path(get, path = "/v1/blocks/{height}/txs", params(("height" = u64, Path, description = "Block height, from 1")), responses((status = 200, description = "{height, txs: [{body, sig}]} in block order"), (status = 400, description = "Malformed input: {code, message}"), (status = 404, description = "Unknown block: {code, message}")))]
pub async fn block_txs(
    State(state): State<ApiState>,
    h: Result<Path<String>, PathRejection>,
) -> Answer {
    let height = height(h)?;
    with_store(&state, move |_, store| {
        let block = store
            .block(height)?
            .ok_or_else(|| unknown_block(store, height))?;
        Ok(Json(json!({"height": height, "txs": to_json(&block.txs)?})))
    })
    .await
}

/// The latest block's height; 503 while there is none.
fn latest_height(store: &Store) -> Result<u64, ApiError> {
    match store.tip().height {
        0 => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_blocks",
            "the chain has no blocks yet",
        )),
        h => Ok(h),
    }
}

/// `GET /v1/blocks/latest`.
#[utoipa::path(get, path = "/v1/blocks/latest", responses((status = 200, description = "{header, hash, commit, tx_ids} of the latest block"), (status = 503, description = "No blocks yet")))]
pub async fn latest_block(State(state): State<ApiState>) -> Answer {
    with_store(&state, move |_, store| {
        let h = latest_height(store)?;
        block_json(store, h)
    })
    .await
}

/// `GET /v1/checkpoint`: the latest header and its commit.
#[utoipa::path(get, path = "/v1/checkpoint", responses((status = 200, description = "{header, commit} of the latest block"), (status = 503, description = "No blocks yet")))]
pub async fn checkpoint(State(state): State<ApiState>) -> Answer {
    with_store(&state, move |_, store| {
        let h = latest_height(store)?;
        let header = store.header(h)?.ok_or_else(|| {
            ApiError::internal("storage_corrupt", format!("header {h} is missing"))
        })?;
        Ok(Json(
            json!({"header": to_json(&header)?, "commit": to_json(&store.commit_certificate(h)?)?}),
        ))
    })
    .await
}

/// Query of `/v1/log/consistency`.
#[derive(Deserialize)]
pub struct Consistency {
    from: u64,
    to: u64,
}

/// `GET /v1/log/consistency?from=N&to=M`.
#[utoipa::path(get, path = "/v1/log/consistency", params(("from" = u64, Query, description = "Older log size"), ("to" = u64, Query, description = "Newer log size")), responses((status = 200, description = "{from, to, proof: [hex]} (RFC 6962)"), (status = 400, description = "Bad sizes")))]
pub async fn consistency(
    State(state): State<ApiState>,
    q: Result<Query<Consistency>, QueryRejection>,
) -> Answer {
    let q = query_params(q)?;
    if q.from == 0 || q.from > q.to {
        return Err(ApiError::bad_request(
            "bad_sizes",
            format!("need 0 < from <= to, got from={} to={}", q.from, q.to),
        ));
    }
    with_store(&state, move |_, store| {
        let proof = store.log_consistency(q.from, q.to)?;
        Ok(Json(json!({"from": q.from, "to": q.to, "proof": proof})))
    })
    .await
}

/// Query of `/v1/log/inclusion`.
#[derive(Deserialize)]
pub struct Inclusion {
    tx_id: String,
    size: u64,
}

/// `GET /v1/log/inclusion?tx_id=..&size=M`.
#[utoipa::path(get, path = "/v1/log/inclusion", params(("tx_id" = String, Query, description = "Transaction id"), ("size" = u64, Query, description = "Log size")), responses((status = 200, description = "{tx_id, index, size, proof} (RFC 6962)"), (status = 400, description = "Malformed input: {code, message}"), (status = 404, description = "Unknown id: {code, message}")))]
pub async fn inclusion(
    State(state): State<ApiState>,
    q: Result<Query<Inclusion>, QueryRejection>,
) -> Answer {
    let q = query_params(q)?;
    let id = hash(&q.tx_id, "tx_id")?;
    with_store(&state, move |_, store| {
        let (index, proof) = store.log_inclusion(&id, q.size)?;
        Ok(Json(
            json!({"tx_id": id, "index": index, "size": q.size, "proof": proof}),
        ))
    })
    .await
}

/// `GET /v1/validators`: the set in force for the next height.
#[utoipa::path(get, path = "/v1/validators", responses((status = 200, description = "[{pubkey, power, org_id}] in force for the next height")))]
pub async fn validators(State(state): State<ApiState>) -> Answer {
    with_store(&state, move |_, store| {
        Ok(Json(to_json(&store.tip().next_validators.validators())?))
    })
    .await
}

/// `GET /v1/validators/history`: every validator set, oldest first, with
/// the `set_validators` transaction that made it, so that a verifier who
/// trusts the genesis can follow each change by its receipt.
#[utoipa::path(get, path = "/v1/validators/history", responses((status = 200, description = "[{from_height, validators: [{pubkey, power, org_id}], tx_id}] oldest first; tx_id absent for genesis")))]
pub async fn validator_history(State(state): State<ApiState>) -> Answer {
    with_store(&state, move |_, store| {
        let list = store
            .validator_history()?
            .into_iter()
            .map(|(from, set, tx)| {
                let mut v = json!({"from_height": from, "validators": set.validators()});
                if let Some(id) = tx {
                    v["tx_id"] = json!(id);
                }
                v
            })
            .collect::<Vec<_>>();
        Ok(Json(Value::Array(list)))
    })
    .await
}

/// `GET /v1/orgs`.
#[utoipa::path(get, path = "/v1/orgs", responses((status = 200, description = "Registered organisations")))]
pub async fn orgs(State(state): State<ApiState>) -> Answer {
    with_store(&state, move |_, store| {
        Ok(Json(to_json(&query::orgs(store.kv(), 10_000)?)?))
    })
    .await
}

/// `GET /v1/orgs/{id}`.
#[utoipa::path(get, path = "/v1/orgs/{id}", params(("id" = String, Path, description = "Unified Social Credit Code")), responses((status = 200, description = "{org, campaigns, notes}"), (status = 400, description = "Malformed input: {code, message}"), (status = 404, description = "Unknown id: {code, message}")))]
pub async fn org(State(state): State<ApiState>, id: Result<Path<String>, PathRejection>) -> Answer {
    let id = path(id)?;
    let id = OrgId::parse(&id).map_err(|e| ApiError::bad_request(e.code(), e.to_string()))?;
    with_store(&state, move |_, store| {
        let org = query::org(store.kv(), &id)?.ok_or_else(|| {
            ApiError::not_found(
                "unknown_org",
                format!("organisation {id} is not registered"),
            )
        })?;
        let campaigns = query::org_campaigns(store.kv(), &id, 10_000)?;
        let notes = query::notes(store.kv(), id.as_str(), 1_000)?;
        Ok(Json(
            json!({"org": to_json(&org)?, "campaigns": campaigns, "notes": notes}),
        ))
    })
    .await
}

/// `GET /v1/campaigns`.
#[utoipa::path(get, path = "/v1/campaigns", responses((status = 200, description = "Campaigns with their totals")))]
pub async fn campaigns(State(state): State<ApiState>) -> Answer {
    with_store(&state, move |_, store| {
        Ok(Json(to_json(&query::campaigns(store.kv(), 10_000)?)?))
    })
    .await
}

/// Paging of a campaign's donations.
#[derive(Deserialize)]
pub struct Page {
    from_seq: Option<u64>,
    limit: Option<usize>,
}

/// `GET /v1/campaigns/{id}?from_seq=&limit=`: the campaign with its
/// donations (paged, at most 1,000), disbursements with their allocations,
/// refunds and report ids.
#[utoipa::path(get, path = "/v1/campaigns/{id}", params(("id" = String, Path, description = "Campaign id"), ("from_seq" = Option<u64>, Query, description = "First donation position"), ("limit" = Option<usize>, Query, description = "Donations per page, at most 1,000")), responses((status = 200, description = "{campaign, unallocated, donations, next_seq, disbursements (with allocations), refunds, reports, notes}"), (status = 400, description = "Malformed input: {code, message}"), (status = 404, description = "Unknown id: {code, message}")))]
pub async fn campaign(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
    q: Result<Query<Page>, QueryRejection>,
) -> Answer {
    let id = path(id)?;
    let id = CampaignId::parse(&id).map_err(|e| ApiError::bad_request(e.code(), e.to_string()))?;
    let page = query_params(q)?;
    let limit = page.limit.unwrap_or(100).min(1_000);
    let from = page.from_seq.unwrap_or(0);
    with_store(&state, move |_, store| {
        let kv = store.kv();
        let c = query::campaign(kv, &id)?.ok_or_else(|| {
            ApiError::not_found("unknown_campaign", format!("campaign {id} does not exist"))
        })?;
        let donations = query::campaign_donations(kv, &id, from, limit)?;
        let mut disbursements = Vec::new();
        for d in query::campaign_disbursements(kv, &id, 10_000)? {
            let allocations = query::allocations_of_disbursement(kv, &d.disbursement_id, 10_000)?;
            disbursements
                .push(json!({"disbursement": to_json(&d)?, "allocations": to_json(&allocations)?}));
        }
        Ok(Json(json!({
            "campaign": to_json(&c)?,
            "unallocated": c.unallocated(),
            "donations": to_json(&donations)?,
            "next_seq": donations.last().map(|d| d.seq + 1),
            "disbursements": disbursements,
            "refunds": to_json(&query::campaign_refunds(kv, &id, 10_000)?)?,
            "reports": query::campaign_reports(kv, &id, 10_000)?,
            "notes": query::notes(kv, id.as_str(), 1_000)?,
        })))
    })
    .await
}

/// `GET /v1/donations/{id}/trace`.
#[utoipa::path(get, path = "/v1/donations/{id}/trace", params(("id" = String, Path, description = "Donation id")), responses((status = 200, description = "Where the donation went, to the fen, across grants"), (status = 400, description = "Malformed input: {code, message}"), (status = 404, description = "Unknown id: {code, message}")))]
pub async fn trace(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
) -> Answer {
    let id = hash(&path(id)?, "donation id")?;
    with_store(&state, move |_, store| {
        match query::trace(store.kv(), &id) {
            Ok(t) => Ok(Json(to_json(&t)?)),
            Err(e @ charity_ledger::trace::TraceError::UnknownDonation(_)) => {
                Err(ApiError::not_found(e.code(), e.to_string()))
            }
            Err(e @ charity_ledger::trace::TraceError::TooLarge(_)) => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                e.code(),
                e.to_string(),
            )),
            Err(e) => Err(ApiError::internal(e.code(), e.to_string())),
        }
    })
    .await
}

/// `GET /v1/donors/{donor_tag}/donations` (or `campaign:<id>` for grants).
#[utoipa::path(get, path = "/v1/donors/{donor}/donations", params(("donor" = String, Path, description = "Donor tag (64 hex) or campaign:<id>")), responses((status = 200, description = "The donor's donations, oldest first"), (status = 400, description = "Not a donor tag")))]
pub async fn donor_donations(
    State(state): State<ApiState>,
    d: Result<Path<String>, PathRejection>,
) -> Answer {
    let d = path(d)?;
    let donor = Donor::parse(&d).map_err(|e| ApiError::bad_request(e.code(), e.to_string()))?;
    with_store(&state, move |_, store| {
        Ok(Json(to_json(&query::donor_donations(
            store.kv(),
            &donor,
            10_000,
        )?)?))
    })
    .await
}

/// `GET /v1/evidence/{sha256}`: the transactions citing a file.
#[utoipa::path(get, path = "/v1/evidence/{sha256}", params(("sha256" = String, Path, description = "SHA-256 of a file, 64 hex")), responses((status = 200, description = "{sha256, cited_by: [tx ids]}"), (status = 400, description = "Not a hash")))]
pub async fn evidence(
    State(state): State<ApiState>,
    h: Result<Path<String>, PathRejection>,
) -> Answer {
    let h = hash(&path(h)?, "sha256")?;
    with_store(&state, move |_, store| {
        Ok(Json(
            json!({"sha256": h, "cited_by": query::evidence(store.kv(), &h, 1_000)?}),
        ))
    })
    .await
}

/// `GET /v1/genesis`: the genesis document this chain started from; a
/// verifier pins its hash and takes the first validator set from it.
#[utoipa::path(get, path = "/v1/genesis", responses((status = 200, description = "The genesis document (design, Genesis); its hash is block 1's prev_hash")))]
pub async fn genesis(State(state): State<ApiState>) -> Answer {
    with_store(&state, move |_, store| Ok(Json(to_json(store.genesis())?))).await
}

/// How far behind the best peer a node must be to say it is syncing: one
/// block behind is the ordinary moment between a peer's commit and ours.
const SYNCING_LAG: u64 = 2;

/// `GET /v1/status`. `peer_height` is the highest tip a connected peer
/// has announced (peers announce theirs every few seconds, so it may lag);
/// `syncing` is true while that is at least two blocks above `height`.
#[utoipa::path(get, path = "/v1/status", responses((status = 200, description = "{chain_id, height, block_hash, time, log_size, peers, peer_height, syncing, pending}")))]
pub async fn status(State(state): State<ApiState>) -> Answer {
    with_store(&state, move |state, store| {
        let tip = store.tip();
        let peer_height = (state.peer_height)();
        Ok(Json(json!({
            "chain_id": tip.chain_id, "height": tip.height, "block_hash": tip.block_hash, "time": tip.time,
            "log_size": tip.log.size(), "peers": (state.peers)(), "peer_height": peer_height,
            "syncing": peer_height >= tip.height.saturating_add(SYNCING_LAG), "pending": state.mempool.len(),
        })))
    })
    .await
}

/// `GET /v1/events`: one `block` event per committed block.
#[utoipa::path(get, path = "/v1/events", responses((status = 200, description = "Server-sent events: one `block` event {height, hash, time, tx_ids} per committed block")))]
pub async fn events(
    State(state): State<ApiState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = BroadcastStream::new(state.events.subscribe()).filter_map(|e| match e {
        Ok(b) => Event::default().event("block").json_data(&b).ok().map(Ok),
        // A slow listener that missed blocks is told so and carries on.
        Err(_) => Some(Ok(Event::default()
            .event("lagged")
            .data("some blocks were skipped"))),
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// Anything else.
pub async fn unknown_route() -> ApiError {
    ApiError::not_found("unknown_route", "no such endpoint; see /v1/status")
}

/// The OpenAPI description of this API.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "charity-ledger node API",
        description = "Signed transactions in; the chain's records, receipts and proofs out. Errors are {code, message}. Every answer read from the chain carries a Ledger-Height header: the height of the block whose state it shows."
    ),
    modifiers(&HeightHeader),
    paths(
        submit,
        tx,
        receipt,
        block,
        latest_block,
        block_txs,
        checkpoint,
        consistency,
        inclusion,
        validators,
        validator_history,
        orgs,
        org,
        campaigns,
        campaign,
        trace,
        donor_donations,
        evidence,
        status,
        genesis,
        events
    )
)]
pub struct ApiDoc;

/// Declares, on every GET but the events stream (all read the chain
/// through [`with_store`]), the [`HEIGHT_HEADER`] of the 200 answer and
/// the [`MIN_HEIGHT_HEADER`] a request may carry ([`at_least`]).
struct HeightHeader;

impl utoipa::Modify for HeightHeader {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::{header::HeaderBuilder, schema, RefOr, Required};
        let height = || {
            schema::ObjectBuilder::new()
                .schema_type(schema::Type::Integer)
                .format(Some(schema::SchemaFormat::KnownFormat(
                    schema::KnownFormat::Int64,
                )))
                .minimum(Some(0))
        };
        let header = HeaderBuilder::new()
            .schema(height())
            .description(Some("The height of the block whose state the answer shows"))
            .build();
        let asked = ParameterBuilder::new()
            .name("Ledger-Min-Height")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .schema(Some(height()))
            .description(Some(
                "Answer only once this node has committed this height, so that the answer is \
                 read at it or later. A node below it waits a moment for the block, then \
                 answers 503 height_not_reached (at once if no peer has reached it either); \
                 ask again, or ask another node.",
            ))
            .build();
        for (path, item) in openapi.paths.paths.iter_mut() {
            if path == "/v1/events" {
                continue;
            }
            let Some(op) = item.get.as_mut() else {
                continue;
            };
            op.parameters
                .get_or_insert_with(Vec::new)
                .push(asked.clone());
            if let Some(RefOr::T(ok)) = op.responses.responses.get_mut("200") {
                ok.headers.insert("Ledger-Height".into(), header.clone());
            }
        }
    }
}

/// `GET /v1/openapi.json`.
pub async fn openapi() -> Result<Json<Value>, ApiError> {
    use utoipa::OpenApi;
    to_json(&ApiDoc::openapi()).map(Json)
}
