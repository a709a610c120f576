//! The pages: each handler reads what it needs from the store under a read
//! lock, builds a view, releases the lock and renders a template. Input
//! from the URL is parsed into the ledger's types first; anything that does
//! not parse, or names nothing, gets a friendly page with the right status.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use charity_ledger::compliance::{self, ComplianceConfig, FlagSeverity};
use charity_ledger::donor::{Donor, DonorCode};
use charity_ledger::hex::Hash;
use charity_ledger::ids::CampaignId;
use charity_ledger::kinds::{Evidence, RecipientKind};
use charity_ledger::kv::KvError;
use charity_ledger::org_id::OrgId;
use charity_ledger::records::{CampaignRecord, DonationRecord};
use charity_ledger::store::StoreError;
use charity_ledger::trace::{TraceError, TraceNode};
use charity_ledger::{query, Store, TxKind};

use crate::i18n::{negotiate, Choice, Lang, Text};
use crate::sankey::{self, NodeSpec, Sankey};
use crate::view::{self, HashView, TimeView};
use crate::Explorer;

/// Donations listed per page of a campaign.
const DONATIONS_PER_PAGE: usize = 50;
/// The latest disbursements a campaign page lists; all are one link away.
const RECENT_DISBURSEMENTS: usize = 20;

/// Why a page could not be shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// No route.
    UnknownPage,
    /// No such committed transaction.
    UnknownTx,
    /// No such block.
    UnknownBlock,
    /// No such campaign.
    UnknownCampaign,
    /// No such organisation.
    UnknownOrg,
    /// The id does not parse.
    BadId,
    /// The donor code does not parse.
    BadDonorCode,
    /// A search matched nothing.
    NothingFound,
    /// The store failed.
    Internal,
}

impl ErrorKind {
    fn status(self) -> StatusCode {
        match self {
            ErrorKind::BadId | ErrorKind::BadDonorCode => StatusCode::BAD_REQUEST,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::NOT_FOUND,
        }
    }

    fn texts(self, t: &Text) -> (&'static str, &'static str) {
        match self {
            ErrorKind::UnknownPage => (t.not_found_title, t.unknown_page),
            ErrorKind::UnknownTx => (t.not_found_title, t.unknown_tx),
            ErrorKind::UnknownBlock => (t.not_found_title, t.unknown_block),
            ErrorKind::UnknownCampaign => (t.not_found_title, t.unknown_campaign),
            ErrorKind::UnknownOrg => (t.not_found_title, t.unknown_org),
            ErrorKind::BadId => (t.bad_request_title, t.bad_id),
            ErrorKind::BadDonorCode => (t.bad_request_title, t.bad_donor_code),
            ErrorKind::NothingFound => (t.not_found_title, t.nothing_found),
            ErrorKind::Internal => (t.error_title, t.internal_error),
        }
    }
}

/// A failed page: the kind and, for bad input, what was wrong with it.
struct Failure(ErrorKind, Option<String>);

impl From<KvError> for Failure {
    fn from(_: KvError) -> Self {
        Failure(ErrorKind::Internal, None)
    }
}

impl From<StoreError> for Failure {
    fn from(_: StoreError) -> Self {
        Failure(ErrorKind::Internal, None)
    }
}

fn bad(kind: ErrorKind, detail: impl std::fmt::Display) -> Failure {
    Failure(kind, Some(detail.to_string()))
}

/// What every page's frame needs.
pub struct Ctx {
    /// The strings.
    pub t: &'static Text,
    /// `zh-CN` or `en`.
    pub lang: &'static str,
    /// The same page in the other language.
    pub switch_href: String,
    /// The language picked by `?lang=`, to remember.
    explicit: Option<Lang>,
}

impl Ctx {
    fn new(uri: &Uri, headers: &HeaderMap) -> Ctx {
        let Choice { lang, explicit } = negotiate(uri.query(), headers);
        let t = lang.text();
        let mut query: Vec<&str> = uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("lang="))
            .collect();
        let other = format!("lang={}", lang.other().param());
        query.push(&other);
        Ctx {
            t,
            lang: lang.code(),
            switch_href: format!("{}?{}", uri.path(), query.join("&")),
            explicit: explicit.then_some(lang),
        }
    }

    fn lang(&self) -> Lang {
        if self.lang == Lang::En.code() {
            Lang::En
        } else {
            Lang::Zh
        }
    }

    fn yuan(&self, fen: u64) -> String {
        view::yuan(fen, self.lang())
    }
}

/// Renders a page, remembering an explicit language choice in a cookie.
fn respond<T: Template>(ctx_explicit: Option<Lang>, status: StatusCode, page: &T) -> Response {
    let html = match page.render() {
        Ok(h) => h,
        Err(_) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><title>500</title><p>The page could not be rendered.</p>"),
            )
                .into_response()
        }
    };
    let mut resp = (status, Html(html)).into_response();
    if let Some(lang) = ctx_explicit {
        if let Ok(v) = HeaderValue::from_str(&format!(
            "lang={}; Path=/; Max-Age=31536000; SameSite=Lax",
            lang.param()
        )) {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    resp.headers_mut().insert(
        header::HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    resp
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    ctx: Ctx,
    title: &'static str,
    message: &'static str,
    detail: Option<String>,
}

/// The friendly error page.
pub fn error_page(
    uri: &Uri,
    headers: &HeaderMap,
    kind: ErrorKind,
    detail: Option<String>,
) -> Response {
    let ctx = Ctx::new(uri, headers);
    let (title, message) = kind.texts(ctx.t);
    let explicit = ctx.explicit;
    respond(
        explicit,
        kind.status(),
        &ErrorPage {
            ctx,
            title,
            message,
            detail: detail.map(|d| d.chars().take(300).collect()),
        },
    )
}

/// Runs `f` on tokio's blocking pool, `None` should it panic. A page may
/// wait for the store's lock while a block commits, and on a large chain a
/// page body can take a while; neither should hold up the runtime's worker
/// threads, which also serve the API, the event streams and the node's
/// consensus messages.
async fn off_worker<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Option<R> {
    tokio::task::spawn_blocking(f).await.ok()
}

/// Runs a page body under the store's read lock and renders its result,
/// off the runtime's workers.
async fn page<T: Template>(
    ex: Explorer,
    uri: Uri,
    headers: HeaderMap,
    build: impl FnOnce(&Explorer, &Store, Ctx) -> Result<T, Failure> + Send + 'static,
) -> Response {
    let (at, asked) = (uri.clone(), headers.clone());
    let rendered = off_worker(move || {
        let ctx = Ctx::new(&uri, &headers);
        let explicit = ctx.explicit;
        let built = match ex.store.read() {
            Ok(store) => build(&ex, &store, ctx),
            Err(_) => Err(Failure(ErrorKind::Internal, None)),
        };
        match built {
            Ok(p) => respond(explicit, StatusCode::OK, &p),
            Err(Failure(kind, detail)) => error_page(&uri, &headers, kind, detail),
        }
    })
    .await;
    rendered.unwrap_or_else(|| error_page(&at, &asked, ErrorKind::Internal, None))
}

/// Renders a page that shows nothing from the chain (the forms, the
/// verifier), on the worker and without waiting for the store.
fn form<T: Template>(uri: &Uri, headers: &HeaderMap, build: impl FnOnce(Ctx) -> T) -> Response {
    let ctx = Ctx::new(uri, headers);
    let explicit = ctx.explicit;
    respond(explicit, StatusCode::OK, &build(ctx))
}

/// A path segment as given; one that is not UTF-8 is bad input.
fn path_param(p: Result<Path<String>, PathRejection>) -> Result<String, Failure> {
    p.map(|Path(v)| v)
        .map_err(|e| bad(ErrorKind::BadId, e.body_text()))
}

/// The raw (still percent-encoded) value of `name` in a query string.
fn query_param<'a>(raw: &'a Option<String>, name: &str) -> Option<&'a str> {
    raw.as_deref()?
        .split('&')
        .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
}

fn parse_hash(s: &str) -> Result<Hash, Failure> {
    Hash::parse(s).map_err(|e| bad(ErrorKind::BadId, e))
}

fn org_name(store: &Store, id: &OrgId) -> Result<String, Failure> {
    Ok(query::org(store.kv(), id)?.map_or_else(|| id.to_string(), |o| o.name))
}

// ---------------------------------------------------------------- home

/// A campaign as a card.
pub struct CampaignCard {
    id: String,
    title: String,
    charity_id: String,
    charity_name: String,
    status: &'static str,
    status_class: &'static str,
    raised: String,
    spent: String,
    target: String,
    pct: u64,
    spent_pct: u64,
    starts: TimeView,
    ends: TimeView,
    donation_count: u64,
}

fn card(store: &Store, ctx: &Ctx, c: &CampaignRecord) -> Result<CampaignCard, Failure> {
    let (status, status_class) = view::campaign_status(c.status, ctx.t);
    Ok(CampaignCard {
        id: c.campaign_id.to_string(),
        title: c.title.clone(),
        charity_id: c.charity.to_string(),
        charity_name: org_name(store, &c.charity)?,
        status,
        status_class,
        raised: ctx.yuan(c.raised),
        spent: ctx.yuan(c.spent),
        target: ctx.yuan(c.target),
        pct: view::percent(c.raised, c.target),
        spent_pct: view::percent(c.spent, c.target),
        starts: TimeView::new(c.starts_at),
        ends: TimeView::new(c.ends_at),
        donation_count: c.donation_count,
    })
}

struct ValidatorRow {
    key: HashView,
    power: u64,
    org_id: String,
    org_name: String,
}

struct BlockRow {
    height: u64,
    time: TimeView,
    tx_count: u64,
    hash: HashView,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    ctx: Ctx,
    chain_id: String,
    height: u64,
    genesis_hash: HashView,
    validators: Vec<ValidatorRow>,
    blocks: Vec<BlockRow>,
    raised: String,
    spent: String,
    org_count: usize,
    campaigns: Vec<CampaignCard>,
}

pub async fn home(State(ex): State<Explorer>, uri: Uri, headers: HeaderMap) -> Response {
    page(ex, uri, headers, move |_, store, ctx| {
        let tip = store.tip();
        let kv = store.kv();
        let mut validators = Vec::new();
        for v in tip.next_validators.validators() {
            validators.push(ValidatorRow {
                key: HashView::new(v.pubkey),
                power: v.power,
                org_id: v.org_id.to_string(),
                org_name: org_name(store, &v.org_id)?,
            });
        }
        let mut blocks = Vec::new();
        for h in (tip.height.saturating_sub(9).max(1)..=tip.height).rev() {
            let (Some(header), Some(hash)) = (store.header(h)?, store.block_hash(h)?) else {
                continue;
            };
            blocks.push(BlockRow {
                height: h,
                time: TimeView::new(header.time),
                tx_count: header.tx_count,
                hash: HashView::new(hash),
            });
        }
        let all = query::campaigns(kv, 10_000)?;
        // Grants move money between campaigns; count it once.
        let raised: u64 = all
            .iter()
            .map(|c| c.raised - c.granted_in.min(c.raised))
            .sum();
        let spent: u64 = all
            .iter()
            .map(|c| c.spent - c.granted_out.min(c.spent))
            .sum();
        let mut campaigns = Vec::new();
        for c in &all {
            campaigns.push(card(store, &ctx, c)?);
        }
        Ok(HomePage {
            chain_id: tip.chain_id.clone(),
            height: tip.height,
            genesis_hash: HashView::new(
                store
                    .genesis()
                    .hash()
                    .map_err(|_| Failure(ErrorKind::Internal, None))?,
            ),
            validators,
            blocks,
            raised: ctx.yuan(raised),
            spent: ctx.yuan(spent),
            org_count: query::orgs(kv, 10_000)?.len(),
            campaigns,
            ctx,
        })
    })
    .await
}

// ---------------------------------------------------------------- search

pub async fn search(
    State(ex): State<Explorer>,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = query_param(&raw, "q")
        .map(|v| {
            let v = v.replace('+', " ");
            percent_decode(&v)
        })
        .unwrap_or_default();
    let q = q.trim().to_string();
    // An explicit `?lang=` travels with the redirect; otherwise the
    // cookie or the browser's languages decide on the next page.
    let choice = negotiate(uri.query(), &headers);
    let to = |path: String| -> Response {
        if choice.explicit {
            Redirect::to(&format!("{path}?lang={}", choice.lang.param())).into_response()
        } else {
            Redirect::to(&path).into_response()
        }
    };
    if q.is_empty() {
        return to("/".into());
    }
    let asked = q.clone();
    let found = off_worker(move || match ex.store.read() {
        Ok(store) => find(&store, &asked),
        Err(_) => Err(Failure(ErrorKind::Internal, None)),
    })
    .await
    .unwrap_or(Err(Failure(ErrorKind::Internal, None)));
    match found {
        Ok(Some(path)) => to(path),
        Ok(None) => error_page(&uri, &headers, ErrorKind::NothingFound, Some(q)),
        Err(Failure(kind, detail)) => error_page(&uri, &headers, kind, detail),
    }
}

/// Decodes `%XX` escapes; invalid escapes are kept as typed.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(s.get(i + 1..i + 3).unwrap_or("zz"), 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where a search term leads, if anywhere.
fn find(store: &Store, q: &str) -> Result<Option<String>, Failure> {
    let kv = store.kv();
    if let Ok(h) = q.parse::<u64>() {
        if h >= 1 && h <= store.tip().height {
            return Ok(Some(format!("/blocks/{h}")));
        }
        return Err(bad(ErrorKind::UnknownBlock, h));
    }
    if let Ok(h) = Hash::parse(&q.to_ascii_lowercase()) {
        if store.tx_location(&h)?.is_some() {
            return Ok(Some(format!("/txs/{h}")));
        }
        if !query::evidence(kv, &h, 1)?.is_empty() {
            return Ok(Some(format!("/evidence/{h}")));
        }
        if let Ok(d) = Donor::parse(&h.to_string()) {
            if !query::donor_donations(kv, &d, 1)?.is_empty() {
                return Ok(Some(format!("/donors/{h}")));
            }
        }
        return Ok(None);
    }
    if let Ok(id) = OrgId::parse(&q.to_ascii_uppercase()) {
        if query::org(kv, &id)?.is_some() {
            return Ok(Some(format!("/orgs/{id}")));
        }
    }
    if let Ok(id) = CampaignId::parse(q) {
        if query::campaign(kv, &id)?.is_some() {
            return Ok(Some(format!("/campaigns/{id}")));
        }
    }
    // Without JavaScript the donor code reaches the server; it is turned
    // into its tag here and not kept.
    if let Ok(code) = DonorCode::parse(q) {
        return Ok(Some(format!("/donors/{}", code.tag().as_str())));
    }
    // Names and titles.
    let needle = q.to_lowercase();
    for c in query::campaigns(kv, 10_000)? {
        if c.title.to_lowercase().contains(&needle) {
            return Ok(Some(format!("/campaigns/{}", c.campaign_id)));
        }
    }
    for o in query::orgs(kv, 10_000)? {
        if o.name.to_lowercase().contains(&needle) {
            return Ok(Some(format!("/orgs/{}", o.org_id)));
        }
    }
    Ok(None)
}

// ---------------------------------------------------------------- organisations

struct OrgRow {
    id: String,
    name: String,
    role: &'static str,
    public_fundraising: bool,
    status: &'static str,
    region: String,
}

#[derive(Template)]
#[template(path = "orgs.html")]
struct OrgsPage {
    ctx: Ctx,
    orgs: Vec<OrgRow>,
}

pub async fn orgs(State(ex): State<Explorer>, uri: Uri, headers: HeaderMap) -> Response {
    page(ex, uri, headers, move |_, store, ctx| {
        let orgs = query::orgs(store.kv(), 10_000)?
            .into_iter()
            .map(|o| OrgRow {
                id: o.org_id.to_string(),
                name: o.name,
                role: view::role(o.role, ctx.t),
                public_fundraising: o.public_fundraising,
                status: view::org_status(o.status, ctx.t),
                region: o.region.to_string(),
            })
            .collect();
        Ok(OrgsPage { ctx, orgs })
    })
    .await
}

struct YearRow {
    year: i32,
    income: String,
    program: String,
    management: String,
    fundraising: String,
    program_ratio: String,
    management_ratio: String,
}

struct NoteView {
    id: HashView,
    kind: &'static str,
    text: String,
    time: TimeView,
}

#[derive(Template)]
#[template(path = "org.html")]
struct OrgPage {
    ctx: Ctx,
    row: OrgRow,
    keys: Vec<HashView>,
    registered_height: u64,
    registered_tx: Option<HashView>,
    campaigns: Vec<CampaignCard>,
    years: Vec<YearRow>,
    /// The block the yearly figures are of.
    years_height: u64,
    notes: Vec<NoteView>,
}

fn notes(store: &Store, subject: &str) -> Result<Vec<NoteView>, Failure> {
    let mut out = Vec::new();
    for id in query::notes(store.kv(), subject, 100)? {
        let (Some(tx), Some(loc)) = (store.tx(&id)?, store.tx_location(&id)?) else {
            continue;
        };
        let text = match tx.kind() {
            TxKind::AuditNote(n) => format!("[{:?}] {}", n.severity, n.finding),
            TxKind::Correction(c) => c.note.clone(),
            _ => continue,
        };
        let time = store.header(loc.height)?.map_or(0, |h| h.time);
        out.push(NoteView {
            id: HashView::new(id),
            kind: tx.kind().name(),
            text,
            time: TimeView::new(time),
        });
    }
    Ok(out)
}

pub async fn org(
    State(ex): State<Explorer>,
    uri: Uri,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    page(ex, uri, headers, move |ex, store, ctx| {
        let id = path_param(id)?;
        let id = OrgId::parse(&id).map_err(|e| bad(ErrorKind::BadId, e))?;
        let kv = store.kv();
        let o = query::org(kv, &id)?.ok_or(Failure(ErrorKind::UnknownOrg, Some(id.to_string())))?;
        let mut campaigns = Vec::new();
        for cid in query::org_campaigns(kv, &id, 1_000)? {
            if let Some(c) = query::campaign(kv, &cid)? {
                campaigns.push(card(store, &ctx, &c)?);
            }
        }
        // The yearly figures are the kept compliance review's: computing
        // them reads every donation to the organisation, which for a large
        // one costs as much as the review, and would hold the store as
        // long on every request.
        let review = ex.cached_review(store)?;
        let none = BTreeMap::new();
        let figures = review.review.annual.get(&id).unwrap_or(&none);
        let years = figures
            .iter()
            .map(|(year, a)| {
                let prev = figures.get(&(year - 1)).map_or(0, |p| p.income);
                YearRow {
                    year: *year,
                    income: ctx.yuan(a.income),
                    program: ctx.yuan(a.program),
                    management: ctx.yuan(a.management),
                    fundraising: ctx.yuan(a.fundraising),
                    program_ratio: view::basis_points(a.program, prev),
                    management_ratio: view::basis_points(a.management, a.total_spending()),
                }
            })
            .collect();
        Ok(OrgPage {
            row: OrgRow {
                id: o.org_id.to_string(),
                name: o.name.clone(),
                role: view::role(o.role, ctx.t),
                public_fundraising: o.public_fundraising,
                status: view::org_status(o.status, ctx.t),
                region: o.region.to_string(),
            },
            keys: o.keys.iter().map(HashView::new).collect(),
            registered_height: o.registered_height,
            registered_tx: o.registered_tx.map(HashView::new),
            campaigns,
            years,
            years_height: review.height,
            notes: notes(store, id.as_str())?,
            ctx,
        })
    })
    .await
}

// ---------------------------------------------------------------- campaign

struct LineRow {
    name: String,
    category: &'static str,
    budget: String,
    spent: String,
    pct: u64,
    over: bool,
    restricted: Option<String>,
}

struct EvidenceView {
    sha: HashView,
    title: String,
    media_type: String,
    uri: Option<String>,
}

fn evidence_views(list: &[Evidence]) -> Vec<EvidenceView> {
    list.iter()
        .map(|e| EvidenceView {
            sha: HashView::new(e.sha256),
            title: e.title.clone(),
            media_type: e.media_type.clone(),
            // Only links that cannot run script.
            uri: e
                .uri
                .clone()
                .filter(|u| u.starts_with("https://") || u.starts_with("http://")),
        })
        .collect()
}

struct DisbursementView {
    id: HashView,
    time: TimeView,
    amount: String,
    line: String,
    category: &'static str,
    recipient: String,
    recipient_link: Option<String>,
    purpose: String,
    evidence: Vec<EvidenceView>,
}

struct ReportView {
    id: HashView,
    time: TimeView,
    title: String,
    body: String,
    evidence: Vec<EvidenceView>,
    closing: bool,
}

struct DonationRow {
    id: HashView,
    time: TimeView,
    amount: String,
    who: String,
    link: Option<String>,
    channel: String,
    restricted: Option<String>,
}

struct RefundRow {
    id: HashView,
    amount: String,
    reason: String,
    time: TimeView,
}

/// Everything on a campaign page but the page of donations: it changes
/// only when a block is committed, so it is kept per height and language.
pub struct CampaignHead {
    card: CampaignCard,
    description: String,
    beneficiaries: String,
    region: String,
    emergency: bool,
    filing_no: Option<String>,
    filed_at: TimeView,
    filed_tx: HashView,
    decided_at: Option<TimeView>,
    closed_at: Option<TimeView>,
    platforms: Vec<(String, String)>,
    leftover_plan: String,
    granted_in: Option<String>,
    granted_out: Option<String>,
    refunded: String,
    unallocated: String,
    lines: Vec<LineRow>,
    sankey: Option<Sankey>,
    disbursements: Vec<DisbursementView>,
    reports: Vec<ReportView>,
    refunds: Vec<RefundRow>,
    notes: Vec<NoteView>,
}

#[derive(Template)]
#[template(path = "campaign.html")]
struct CampaignPage {
    ctx: Ctx,
    head: Arc<CampaignHead>,
    donations: Vec<DonationRow>,
    from: u64,
    next_from: Option<u64>,
}

fn donation_row(ctx: &Ctx, d: &DonationRecord) -> DonationRow {
    let (who, link) = match &d.donor {
        Donor::Campaign(c) => (
            format!("{}{c}", ctx.t.grant_from),
            Some(format!("/campaigns/{c}")),
        ),
        Donor::Tag(tag) => (
            d.display_name.clone().unwrap_or_else(|| {
                format!("{} {}", ctx.t.anonymous, HashView::new(tag.as_str()).short)
            }),
            Some(format!("/donors/{}", tag.as_str())),
        ),
    };
    DonationRow {
        id: HashView::new(d.donation_id),
        time: TimeView::new(d.time),
        amount: ctx.yuan(d.amount),
        who,
        link,
        channel: d.channel.clone(),
        restricted: d.restricted_line.as_ref().map(ToString::to_string),
    }
}

pub async fn campaign(
    State(ex): State<Explorer>,
    uri: Uri,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> Response {
    let from = query_param(&raw, "from").map(|v| v.parse::<u64>());
    page(ex, uri, headers, move |ex, store, ctx| {
        let id = path_param(id)?;
        let from = match from {
            None => 0,
            Some(Ok(n)) => n,
            Some(Err(e)) => return Err(bad(ErrorKind::BadId, format!("from: {e}"))),
        };
        let id = CampaignId::parse(&id).map_err(|e| bad(ErrorKind::BadId, e))?;
        let head = ex.cached_head(store, &ctx, &id)?;
        let donations: Vec<DonationRecord> =
            query::campaign_donations(store.kv(), &id, from, DONATIONS_PER_PAGE + 1)?;
        let next_from = donations.get(DONATIONS_PER_PAGE).map(|d| d.seq);
        let rows = donations
            .iter()
            .take(DONATIONS_PER_PAGE)
            .map(|d| donation_row(&ctx, d))
            .collect();
        Ok(CampaignPage {
            head,
            donations: rows,
            from,
            next_from,
            ctx,
        })
    })
    .await
}

#[derive(Template)]
#[template(path = "disbursements.html")]
struct DisbursementsPage {
    ctx: Ctx,
    head: Arc<CampaignHead>,
}

/// All of a campaign's disbursements, oldest first.
pub async fn campaign_disbursements(
    State(ex): State<Explorer>,
    uri: Uri,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    page(ex, uri, headers, move |ex, store, ctx| {
        let id = path_param(id)?;
        let id = CampaignId::parse(&id).map_err(|e| bad(ErrorKind::BadId, e))?;
        let head = ex.cached_head(store, &ctx, &id)?;
        Ok(DisbursementsPage { ctx, head })
    })
    .await
}

/// Campaign heads kept at most (per campaign and language).
const HEAD_CACHE: usize = 256;

impl Explorer {
    /// The campaign's head at the current height, built once per block.
    fn cached_head(
        &self,
        store: &Store,
        ctx: &Ctx,
        id: &CampaignId,
    ) -> Result<Arc<CampaignHead>, Failure> {
        let height = store.tip().height;
        let key = (id.to_string(), ctx.lang);
        if let Ok(cache) = self.heads.lock() {
            if let Some((h, head)) = cache.get(&key) {
                if *h == height {
                    return Ok(head.clone());
                }
            }
        }
        let head = Arc::new(campaign_head(store, ctx, id)?);
        if let Ok(mut cache) = self.heads.lock() {
            if cache.len() >= HEAD_CACHE {
                cache.retain(|_, (h, _)| *h == height);
                if cache.len() >= HEAD_CACHE {
                    cache.clear();
                }
            }
            cache.insert(key, (height, head.clone()));
        }
        Ok(head)
    }
}

fn campaign_head(store: &Store, ctx: &Ctx, id: &CampaignId) -> Result<CampaignHead, Failure> {
    let kv = store.kv();
    let c = query::campaign(kv, id)?
        .ok_or(Failure(ErrorKind::UnknownCampaign, Some(id.to_string())))?;
    let lines = c
        .budget
        .iter()
        .map(|b| {
            let spent = c.spent_by_line.get(&b.line).copied().unwrap_or(0);
            LineRow {
                name: b.line.to_string(),
                category: view::category(b.category, ctx.t),
                budget: ctx.yuan(b.amount),
                spent: ctx.yuan(spent),
                pct: view::percent(spent, b.amount),
                over: spent > b.amount,
                restricted: c
                    .restricted_unallocated
                    .get(&b.line)
                    .filter(|v| **v > 0)
                    .map(|v| ctx.yuan(*v)),
            }
        })
        .collect();
    let mut disbursements = Vec::new();
    let records = query::campaign_disbursements(kv, id, 10_000)?;
    for d in &records {
        let evidence = match store.tx(&d.disbursement_id)? {
            Some(tx) => match tx.kind() {
                TxKind::Disbursement(x) => evidence_views(&x.evidence),
                _ => Vec::new(),
            },
            None => Vec::new(),
        };
        disbursements.push(DisbursementView {
            id: HashView::new(d.disbursement_id),
            time: TimeView::new(d.time),
            amount: ctx.yuan(d.amount),
            line: d.line.to_string(),
            category: view::category(d.category, ctx.t),
            recipient: d.recipient.name.clone(),
            recipient_link: view::recipient_link(d.recipient.kind, d.recipient.id.as_deref()),
            purpose: d.purpose.clone(),
            evidence,
        });
    }
    let mut reports = Vec::new();
    for rid in query::campaign_reports(kv, id, 1_000)? {
        let (Some(tx), Some(loc)) = (store.tx(&rid)?, store.tx_location(&rid)?) else {
            continue;
        };
        let time = store.header(loc.height)?.map_or(0, |h| h.time);
        let (title, body, evidence, closing) = match tx.kind() {
            TxKind::ProgressReport(r) => (
                r.title.clone(),
                r.body.clone(),
                evidence_views(&r.evidence),
                false,
            ),
            TxKind::CloseCampaign(x) => (
                ctx.t.closed_at.to_string(),
                x.summary.clone(),
                Vec::new(),
                true,
            ),
            _ => continue,
        };
        reports.push(ReportView {
            id: HashView::new(rid),
            time: TimeView::new(time),
            title,
            body,
            evidence,
            closing,
        });
    }
    let refunds = query::campaign_refunds(kv, id, 1_000)?
        .into_iter()
        .map(|r| RefundRow {
            id: HashView::new(r.refund_id),
            amount: ctx.yuan(r.amount),
            reason: r.reason,
            time: TimeView::new(r.time),
        })
        .collect();
    let mut platforms = Vec::new();
    for p in &c.platforms {
        platforms.push((p.to_string(), org_name(store, p)?));
    }
    let sankey = flow(store, ctx, &c, &records)?;
    Ok(CampaignHead {
        card: card(store, ctx, &c)?,
        description: c.description.clone(),
        beneficiaries: c.beneficiaries.clone(),
        region: c.region.to_string(),
        emergency: c.emergency,
        filing_no: c.filing_no.clone(),
        filed_at: TimeView::new(c.filed_at),
        filed_tx: HashView::new(c.filed_tx),
        decided_at: c.decided_at.map(TimeView::new),
        closed_at: c.closed_at.map(TimeView::new),
        platforms,
        leftover_plan: c.leftover_plan.clone(),
        granted_in: (c.granted_in > 0).then(|| ctx.yuan(c.granted_in)),
        granted_out: (c.granted_out > 0).then(|| ctx.yuan(c.granted_out)),
        refunded: ctx.yuan(c.refunded),
        unallocated: ctx.yuan(c.unallocated()),
        lines,
        sankey,
        disbursements,
        reports,
        refunds,
        notes: notes(store, id.as_str())?,
    })
}

/// The campaign's flow: where its money came from (public donations and
/// grants from other campaigns), the campaign, the budget lines it was
/// spent on (and what is unspent or refunded), and the recipients.
fn flow(
    store: &Store,
    ctx: &Ctx,
    c: &CampaignRecord,
    disbursements: &[charity_ledger::records::DisbursementRecord],
) -> Result<Option<Sankey>, Failure> {
    let t = ctx.t;
    let mut nodes: Vec<NodeSpec> = Vec::new();
    let mut flows: Vec<(usize, usize, u64)> = Vec::new();
    let node = |nodes: &mut Vec<NodeSpec>, column, label: String, value, class| {
        nodes.push(NodeSpec {
            column,
            label,
            value,
            class,
        });
        nodes.len() - 1
    };
    // Sources: grants are donations whose donor is a campaign; find them
    // through the other campaigns' grants to this one.
    let mut grants: BTreeMap<String, u64> = BTreeMap::new();
    if c.granted_in > 0 {
        for other in query::campaigns(store.kv(), 10_000)? {
            if other.granted_out == 0 {
                continue;
            }
            for d in query::campaign_disbursements(store.kv(), &other.campaign_id, 10_000)? {
                if d.grant_to.as_ref() == Some(&c.campaign_id) {
                    *grants.entry(other.title.clone()).or_insert(0) += d.amount;
                }
            }
        }
    }
    let granted: u64 = grants.values().sum();
    let middle = node(&mut nodes, 1, c.title.clone(), c.raised, "campaign");
    let public = node(
        &mut nodes,
        0,
        t.flow_public.into(),
        c.raised.saturating_sub(granted),
        "public",
    );
    flows.push((public, middle, c.raised.saturating_sub(granted)));
    for (title, amount) in grants {
        let g = node(
            &mut nodes,
            0,
            format!("{} {title}", t.flow_grant_from),
            amount,
            "grant",
        );
        flows.push((g, middle, amount));
    }
    let mut line_nodes: BTreeMap<String, usize> = BTreeMap::new();
    for (line, spent) in &c.spent_by_line {
        let n = node(&mut nodes, 2, line.to_string(), *spent, "line");
        flows.push((middle, n, *spent));
        line_nodes.insert(line.to_string(), n);
    }
    let unspent = node(
        &mut nodes,
        2,
        t.flow_unspent.into(),
        c.unallocated(),
        "unspent",
    );
    flows.push((middle, unspent, c.unallocated()));
    let refunded = node(
        &mut nodes,
        2,
        t.flow_refunded.into(),
        c.refunded,
        "refunded",
    );
    flows.push((middle, refunded, c.refunded));
    // Recipients, summed per line.
    let mut to: BTreeMap<(String, String), u64> = BTreeMap::new();
    for d in disbursements {
        let who = if d.recipient.kind == RecipientKind::Campaign {
            format!("→ {}", d.recipient.name)
        } else {
            d.recipient.name.clone()
        };
        *to.entry((who, d.line.to_string())).or_insert(0) += d.amount;
    }
    let mut recipients: BTreeMap<String, usize> = BTreeMap::new();
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for ((who, _), amount) in &to {
        *totals.entry(who.clone()).or_insert(0) += amount;
    }
    for (who, total) in totals {
        let n = node(&mut nodes, 3, who.clone(), total, "recipient");
        recipients.insert(who, n);
    }
    for ((who, line), amount) in to {
        if let (Some(&l), Some(&r)) = (line_nodes.get(&line), recipients.get(&who)) {
            flows.push((l, r, amount));
        }
    }
    Ok(sankey::layout(&nodes, &flows, |v| ctx.yuan(v)))
}

// ---------------------------------------------------------------- donor

#[derive(Template)]
#[template(path = "donor_form.html")]
struct DonorFormPage {
    ctx: Ctx,
}

pub async fn donor_form(uri: Uri, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    // The no-script form sends a tag.
    if let Some(tag) = query_param(&raw, "tag") {
        if !tag.is_empty() {
            return Redirect::to(&format!("/donors/{}", percent_decode(tag).trim()))
                .into_response();
        }
    }
    form(&uri, &headers, |ctx| DonorFormPage { ctx })
}

/// One line of a donation's trace.
struct HopRow {
    depth: usize,
    kind: &'static str,
    amount: String,
    text: String,
    link: Option<String>,
    time: Option<TimeView>,
    evidence: Vec<EvidenceView>,
}

struct DonorDonation {
    id: HashView,
    campaign_id: String,
    campaign_title: String,
    amount: String,
    received: TimeView,
    channel: String,
    restricted: Option<String>,
    hops: Vec<HopRow>,
    unspent: String,
}

#[derive(Template)]
#[template(path = "donor.html")]
struct DonorPage {
    ctx: Ctx,
    tag: HashView,
    donations: Vec<DonorDonation>,
    total: String,
}

fn title_of(
    store: &Store,
    id: &CampaignId,
    cache: &mut BTreeMap<String, String>,
) -> Result<String, Failure> {
    if let Some(t) = cache.get(id.as_str()) {
        return Ok(t.clone());
    }
    let t = query::campaign(store.kv(), id)?.map_or_else(|| id.to_string(), |c| c.title);
    cache.insert(id.to_string(), t.clone());
    Ok(t)
}

/// Flattens a trace tree into rows, depth first, so the page can indent
/// each hop under the one it came from.
fn hops(
    store: &Store,
    ctx: &Ctx,
    node: &TraceNode,
    depth: usize,
    titles: &mut BTreeMap<String, String>,
    out: &mut Vec<HopRow>,
) -> Result<(), Failure> {
    let t = ctx.t;
    for s in &node.spent {
        let d = &s.disbursement;
        if let Some(g) = &s.grant {
            out.push(HopRow {
                depth,
                kind: "grant",
                amount: ctx.yuan(s.amount),
                text: format!(
                    "{} {}",
                    t.via_grant,
                    title_of(store, &g.campaign_id, titles)?
                ),
                link: Some(format!("/campaigns/{}", g.campaign_id)),
                time: Some(TimeView::new(d.time)),
                evidence: Vec::new(),
            });
            hops(store, ctx, g, depth + 1, titles, out)?;
        } else {
            let evidence = match store.tx(&d.disbursement_id)? {
                Some(tx) => match tx.kind() {
                    TxKind::Disbursement(x) => evidence_views(&x.evidence),
                    _ => Vec::new(),
                },
                None => Vec::new(),
            };
            out.push(HopRow {
                depth,
                kind: "spend",
                amount: ctx.yuan(s.amount),
                text: format!(
                    "{} ({}) {} {}",
                    d.purpose, d.line, t.paid_to, d.recipient.name
                ),
                link: Some(format!("/txs/{}", d.disbursement_id)),
                time: Some(TimeView::new(d.time)),
                evidence,
            });
        }
    }
    if node.unspent > 0 {
        out.push(HopRow {
            depth,
            kind: "unspent",
            amount: ctx.yuan(node.unspent),
            text: t.not_yet_spent.into(),
            link: None,
            time: None,
            evidence: Vec::new(),
        });
    }
    if node.refunded > 0 {
        out.push(HopRow {
            depth,
            kind: "refunded",
            amount: ctx.yuan(node.refunded),
            text: t.refunded_to_you.into(),
            link: None,
            time: None,
            evidence: Vec::new(),
        });
    }
    Ok(())
}

fn unspent_total(node: &TraceNode) -> u64 {
    node.unspent
        + node
            .spent
            .iter()
            .filter_map(|s| s.grant.as_ref())
            .map(unspent_total)
            .sum::<u64>()
}

pub async fn donor(
    State(ex): State<Explorer>,
    uri: Uri,
    headers: HeaderMap,
    tag: Result<Path<String>, PathRejection>,
) -> Response {
    page(ex, uri, headers, move |_, store, ctx| {
        let tag = path_param(tag)?;
        let donor = Donor::parse(&tag).map_err(|e| bad(ErrorKind::BadDonorCode, e))?;
        let kv = store.kv();
        let mut titles = BTreeMap::new();
        let mut donations = Vec::new();
        let mut total = 0u64;
        for d in query::donor_donations(kv, &donor, 1_000)? {
            total += d.amount;
            let trace = match query::trace(kv, &d.donation_id) {
                Ok(t) => t,
                Err(TraceError::UnknownDonation(_)) => continue,
                Err(_) => return Err(Failure(ErrorKind::Internal, None)),
            };
            let mut rows = Vec::new();
            hops(store, &ctx, &trace.root, 0, &mut titles, &mut rows)?;
            donations.push(DonorDonation {
                id: HashView::new(d.donation_id),
                campaign_id: d.campaign_id.to_string(),
                campaign_title: title_of(store, &d.campaign_id, &mut titles)?,
                amount: ctx.yuan(d.amount),
                received: TimeView::new(d.received_at),
                channel: d.channel.clone(),
                restricted: d.restricted_line.as_ref().map(ToString::to_string),
                hops: rows,
                unspent: ctx.yuan(unspent_total(&trace.root)),
            });
        }
        Ok(DonorPage {
            tag: HashView::new(donor),
            donations,
            total: ctx.yuan(total),
            ctx,
        })
    })
    .await
}

// ---------------------------------------------------------------- tx and block

#[derive(Template)]
#[template(path = "tx.html")]
struct TxPage {
    ctx: Ctx,
    id: HashView,
    kind: &'static str,
    height: u64,
    index: u64,
    time: TimeView,
    signer: HashView,
    signer_org: (String, String),
    sig: HashView,
    canonical: String,
    fields: Vec<(String, String)>,
    campaign: Option<String>,
    evidence: Vec<EvidenceView>,
    inclusion: Vec<HashView>,
    notes: Vec<NoteView>,
}

pub async fn tx(
    State(ex): State<Explorer>,
    uri: Uri,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    page(ex, uri, headers, move |_, store, ctx| {
        let id = path_param(id)?;
        let id = parse_hash(&id)?;
        let loc = store
            .tx_location(&id)?
            .ok_or(Failure(ErrorKind::UnknownTx, Some(id.to_string())))?;
        let tx = store.tx(&id)?.ok_or(Failure(ErrorKind::Internal, None))?;
        let receipt = store.receipt(&id)?;
        let body = tx.body();
        let value = body
            .to_value()
            .map_err(|_| Failure(ErrorKind::Internal, None))?;
        let common = ["chain_id", "kind", "signer", "nonce", "created_at"];
        let fields = value
            .as_object()
            .map(|o| {
                o.iter()
                    .filter(|(k, _)| !common.contains(&k.as_str()))
                    .map(|(k, v)| {
                        let shown = match v {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        (k.clone(), shown)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let (campaign, evidence) = match tx.kind() {
            TxKind::Donation(d) => (Some(d.campaign_id.to_string()), Vec::new()),
            TxKind::Disbursement(d) => {
                (Some(d.campaign_id.to_string()), evidence_views(&d.evidence))
            }
            TxKind::ProgressReport(r) => {
                (Some(r.campaign_id.to_string()), evidence_views(&r.evidence))
            }
            TxKind::FileCampaign(f) => (Some(f.campaign_id.to_string()), Vec::new()),
            TxKind::ApproveCampaign(a) => (Some(a.campaign_id.to_string()), Vec::new()),
            TxKind::CloseCampaign(c) => (Some(c.campaign_id.to_string()), Vec::new()),
            _ => (None, Vec::new()),
        };
        Ok(TxPage {
            id: HashView::new(id),
            kind: tx.kind().name(),
            height: loc.height,
            index: u64::from(loc.index),
            time: TimeView::new(receipt.header.time),
            signer: HashView::new(body.signer),
            signer_org: (loc.org.to_string(), org_name(store, &loc.org)?),
            sig: HashView::new(tx.sig()),
            canonical: String::from_utf8_lossy(tx.body_bytes()).into_owned(),
            fields,
            campaign,
            evidence,
            inclusion: receipt.inclusion.iter().map(HashView::new).collect(),
            notes: notes(store, &id.to_string())?,
            ctx,
        })
    })
    .await
}

struct SigRow {
    validator: HashView,
    org: String,
    sig: HashView,
}

struct TxRow {
    id: HashView,
    kind: &'static str,
    org: String,
}

#[derive(Template)]
#[template(path = "block.html")]
struct BlockPage {
    ctx: Ctx,
    height: u64,
    hash: HashView,
    time: TimeView,
    header: Vec<(&'static str, String)>,
    canonical: String,
    proposer: HashView,
    round: u32,
    sigs: Vec<SigRow>,
    txs: Vec<TxRow>,
    prev: Option<u64>,
    next: Option<u64>,
}

pub async fn block(
    State(ex): State<Explorer>,
    uri: Uri,
    headers: HeaderMap,
    height: Result<Path<String>, PathRejection>,
) -> Response {
    page(ex, uri, headers, move |_, store, ctx| {
        let height = path_param(height)?;
        let h: u64 = height.parse().map_err(|_| {
            bad(
                ErrorKind::BadId,
                format!("{height:?} is not a block height"),
            )
        })?;
        let header = store
            .header(h)?
            .ok_or(Failure(ErrorKind::UnknownBlock, Some(h.to_string())))?;
        let hash = store
            .block_hash(h)?
            .ok_or(Failure(ErrorKind::Internal, None))?;
        let commit = store.commit_certificate(h)?;
        let set = store.validators_at(h)?;
        let mut sigs = Vec::new();
        for s in &commit.signatures {
            let org = match set.get(&s.validator) {
                Some(v) => org_name(store, &v.org_id)?,
                None => String::new(),
            };
            sigs.push(SigRow {
                validator: HashView::new(s.validator),
                org,
                sig: HashView::new(s.sig),
            });
        }
        let mut txs = Vec::new();
        for id in store.block_tx_ids(h)? {
            let (Some(tx), Some(loc)) = (store.tx(&id)?, store.tx_location(&id)?) else {
                continue;
            };
            txs.push(TxRow {
                id: HashView::new(id),
                kind: tx.kind().name(),
                org: org_name(store, &loc.org)?,
            });
        }
        let canonical = charity_ledger::json::canonical(&header)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|_| Failure(ErrorKind::Internal, None))?;
        let fields = vec![
            ("chain_id", header.chain_id.clone()),
            ("height", header.height.to_string()),
            ("time", header.time.to_string()),
            ("prev_hash", header.prev_hash.to_string()),
            ("proposer", header.proposer.to_string()),
            ("tx_count", header.tx_count.to_string()),
            ("tx_root", header.tx_root.to_string()),
            ("log_size", header.log_size.to_string()),
            ("log_root", header.log_root.to_string()),
            ("validators_hash", header.validators_hash.to_string()),
        ];
        Ok(BlockPage {
            height: h,
            hash: HashView::new(hash),
            time: TimeView::new(header.time),
            header: fields,
            canonical,
            proposer: HashView::new(header.proposer),
            round: commit.round,
            sigs,
            txs,
            prev: (h > 1).then(|| h - 1),
            next: (h < store.tip().height).then(|| h + 1),
            ctx,
        })
    })
    .await
}

// ---------------------------------------------------------------- evidence and verify

#[derive(Template)]
#[template(path = "evidence.html")]
struct EvidencePage {
    ctx: Ctx,
    sha: Option<HashView>,
    cited: Vec<Citation>,
}

struct Citation {
    id: HashView,
    kind: &'static str,
    title: String,
    campaign: Option<String>,
    amount: Option<String>,
    time: TimeView,
}

pub async fn evidence_form(uri: Uri, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    if let Some(sha) = query_param(&raw, "sha256") {
        if !sha.is_empty() {
            return Redirect::to(&format!(
                "/evidence/{}",
                percent_decode(sha).trim().to_ascii_lowercase()
            ))
            .into_response();
        }
    }
    form(&uri, &headers, |ctx| EvidencePage {
        ctx,
        sha: None,
        cited: Vec::new(),
    })
}

pub async fn evidence(
    State(ex): State<Explorer>,
    uri: Uri,
    headers: HeaderMap,
    sha: Result<Path<String>, PathRejection>,
) -> Response {
    page(ex, uri, headers, move |_, store, ctx| {
        let sha = path_param(sha)?;
        let sha = parse_hash(&sha)?;
        let mut cited = Vec::new();
        for id in query::evidence(store.kv(), &sha, 100)? {
            let (Some(tx), Some(loc)) = (store.tx(&id)?, store.tx_location(&id)?) else {
                continue;
            };
            let time = store.header(loc.height)?.map_or(0, |h| h.time);
            let (list, campaign, amount, what) = match tx.kind() {
                TxKind::Disbursement(d) => (
                    &d.evidence,
                    Some(d.campaign_id.to_string()),
                    Some(ctx.yuan(d.amount)),
                    d.purpose.clone(),
                ),
                TxKind::ProgressReport(r) => (
                    &r.evidence,
                    Some(r.campaign_id.to_string()),
                    None,
                    r.title.clone(),
                ),
                _ => continue,
            };
            let doc = list
                .iter()
                .find(|e| e.sha256 == sha)
                .map(|e| e.title.clone())
                .unwrap_or_default();
            cited.push(Citation {
                id: HashView::new(id),
                kind: tx.kind().name(),
                title: if doc.is_empty() {
                    what
                } else {
                    format!("{what} — {doc}")
                },
                campaign,
                amount,
                time: TimeView::new(time),
            });
        }
        Ok(EvidencePage {
            ctx,
            sha: Some(HashView::new(sha)),
            cited,
        })
    })
    .await
}

#[derive(Template)]
#[template(path = "verify.html")]
struct VerifyPage {
    ctx: Ctx,
}

pub async fn verify(uri: Uri, headers: HeaderMap) -> Response {
    form(&uri, &headers, |ctx| VerifyPage { ctx })
}

// ---------------------------------------------------------------- regulator

struct FlagRow {
    rule: &'static str,
    severity: &'static str,
    class: &'static str,
    campaign: Option<String>,
    message: String,
    txs: Vec<HashView>,
}

struct RatioBar {
    year: i32,
    program: String,
    program_width: u32,
    program_over: bool,
    management: String,
    management_width: u32,
    management_over: bool,
}

struct OrgFlags {
    id: String,
    name: String,
    violations: usize,
    warnings: usize,
    notices: usize,
    flags: Vec<FlagRow>,
    min_program: Option<String>,
    max_management: Option<String>,
    min_program_x: u32,
    max_management_x: u32,
    bars: Vec<RatioBar>,
}

#[derive(Template)]
#[template(path = "regulator.html")]
struct RegulatorPage {
    ctx: Ctx,
    /// The block the review was computed at, and its time.
    at: TimeView,
    height: u64,
    orgs: Vec<OrgFlags>,
}

/// Bars are drawn with 100% at this many pixels.
const BAR_FULL: u64 = 300;

fn bar(part: u64, whole: u64) -> u32 {
    if whole == 0 {
        return 0;
    }
    (u128::from(part) * u128::from(BAR_FULL) / u128::from(whole)).min(u128::from(BAR_FULL) * 3 / 2)
        as u32
}

/// A compliance review (flags and every organisation's yearly figures), the
/// block it was computed at, and what computing it cost.
pub(crate) struct CachedReview {
    height: u64,
    time: u64,
    review: compliance::Review,
    computed: Instant,
    cost: Duration,
}

/// A review that took less than this to compute is computed again for
/// every new block.
const CHEAP_REVIEW: Duration = Duration::from_millis(50);

/// A review that took longer is served for later blocks, for at most this
/// many times what it took, so that computing it (one pass over every
/// donation, with the store held for reading, which holds up the commit
/// of the next block) takes at most about a tenth of the node's time
/// however often the page is asked for.
const REVIEW_AGE_PER_COST: u32 = 10;

/// Whether a review computed at `computed_at` and `age` ago, at a `cost`,
/// is still the one shown when the tip is at `tip`.
fn review_current(computed_at: u64, tip: u64, age: Duration, cost: Duration) -> bool {
    computed_at == tip || (cost >= CHEAP_REVIEW && age < cost.saturating_mul(REVIEW_AGE_PER_COST))
}

impl Explorer {
    /// The compliance review for the page: the tip's, or while computing
    /// one is expensive, a recent one (the page says which block it is
    /// of). It is computed by one request at a time; others wait for it
    /// rather than compute it again.
    fn cached_review(&self, store: &Store) -> Result<Arc<CachedReview>, Failure> {
        let tip = store.tip();
        // A request that panicked while holding the lock left at worst the
        // previous review in place, which is still whole.
        let mut cache = self.review.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cache.as_ref() {
            if review_current(c.height, tip.height, c.computed.elapsed(), c.cost) {
                return Ok(c.clone());
            }
        }
        let start = Instant::now();
        let review = compliance::review(store.kv(), &ComplianceConfig::at(tip.time))?;
        let fresh = Arc::new(CachedReview {
            height: tip.height,
            time: tip.time,
            review,
            computed: Instant::now(),
            cost: start.elapsed(),
        });
        *cache = Some(fresh.clone());
        Ok(fresh)
    }
}

pub async fn regulator(State(ex): State<Explorer>, uri: Uri, headers: HeaderMap) -> Response {
    page(ex, uri, headers, move |ex, store, ctx| {
        let kv = store.kv();
        let cached = ex.cached_review(store)?;
        let review = &cached.review;
        let flags = &review.flags;
        let mut orgs = Vec::new();
        for o in query::orgs(kv, 10_000)? {
            // The flags are sorted by organisation first: this one's are
            // a run of them.
            let from = flags.partition_point(|f| f.org_id < o.org_id);
            let to = flags.partition_point(|f| f.org_id <= o.org_id);
            let mine: Vec<FlagRow> = flags
                .get(from..to)
                .unwrap_or_default()
                .iter()
                .map(|f| {
                    let (severity, class) = match f.severity {
                        FlagSeverity::Violation => (ctx.t.sev_violation, "violation"),
                        FlagSeverity::Warning => (ctx.t.sev_warning, "warning"),
                        FlagSeverity::Notice => (ctx.t.sev_notice, "notice"),
                    };
                    FlagRow {
                        rule: f.rule,
                        severity,
                        class,
                        campaign: f.campaign_id.clone(),
                        message: f.message.clone(),
                        txs: f.txs.iter().map(HashView::new).collect(),
                    }
                })
                .collect();
            let rule = compliance::ratio_rule(&o);
            let none = BTreeMap::new();
            let figures = review.annual.get(&o.org_id).unwrap_or(&none);
            if mine.is_empty() && (rule.is_none() || figures.is_empty()) {
                continue;
            }
            let bars = match rule {
                Some(r) => figures
                    .iter()
                    .map(|(year, a)| {
                        let prev = figures.get(&(year - 1)).map_or(0, |p| p.income);
                        let total = a.total_spending();
                        RatioBar {
                            year: *year,
                            program: view::basis_points(a.program, prev),
                            program_width: bar(a.program, prev),
                            program_over: prev > 0
                                && u128::from(a.program) * 10_000
                                    < u128::from(prev) * u128::from(r.min_program_bp),
                            management: view::basis_points(a.management, total),
                            management_width: bar(a.management, total),
                            management_over: a.management >= compliance::MANAGEMENT_EXEMPT_BELOW
                                && u128::from(a.management) * 10_000
                                    > u128::from(total) * u128::from(r.max_management_bp),
                        }
                    })
                    .collect(),
                None => Vec::new(),
            };
            orgs.push(OrgFlags {
                id: o.org_id.to_string(),
                name: o.name.clone(),
                violations: mine.iter().filter(|f| f.class == "violation").count(),
                warnings: mine.iter().filter(|f| f.class == "warning").count(),
                notices: mine.iter().filter(|f| f.class == "notice").count(),
                flags: mine,
                min_program: rule.map(|r| view::basis_points(r.min_program_bp, 10_000)),
                max_management: rule.map(|r| view::basis_points(r.max_management_bp, 10_000)),
                min_program_x: rule.map_or(0, |r| bar(r.min_program_bp, 10_000)),
                max_management_x: rule.map_or(0, |r| bar(r.max_management_bp, 10_000)),
                bars,
            });
        }
        orgs.sort_by_key(|o| std::cmp::Reverse((o.violations, o.warnings, o.notices)));
        Ok(RegulatorPage {
            ctx,
            at: TimeView::new(cached.time),
            height: cached.height,
            orgs,
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_review_is_current_at_its_block_and_an_expensive_one_for_a_while_after() {
        let ms = Duration::from_millis;
        // At the block it was computed at, whatever its age or cost.
        assert!(review_current(7, 7, ms(3_600_000), ms(1)));
        assert!(review_current(7, 7, ms(3_600_000), ms(5_000)));
        // A cheap one is computed again for every new block.
        assert!(!review_current(7, 8, ms(0), ms(49)));
        // An expensive one is kept for ten times its cost, then computed
        // again.
        assert!(review_current(7, 9, ms(34_999), ms(3_500)));
        assert!(!review_current(7, 9, ms(35_000), ms(3_500)));
        assert!(review_current(7, 8, ms(499), CHEAP_REVIEW));
        assert!(!review_current(7, 8, ms(500), CHEAP_REVIEW));
    }
}
