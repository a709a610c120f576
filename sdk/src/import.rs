//! A platform's daily batch of donations from CSV: every row is checked
//! first (format, campaign open, platform listed), every bad row reported
//! with its line number, and the rest submitted in parallel.
//!
//! Re-running an import is safe: a row's transaction is derived from the
//! row alone (the nonce from the payment reference, the creation time from
//! the time received), so the same row always has the same `tx_id`, and a
//! row already on the chain or pending is skipped, never recorded twice.
//!
//! The file has a header row; columns in any order:
//! `campaign_id, amount, donor_code, channel, payment_ref, received_at`,
//! and optionally `display_name, restricted_line`. `amount` is yuan with at
//! most two decimals; `received_at` is RFC 3339 (`2026-03-12T10:00:00+08:00`)
//! or Unix milliseconds.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use charity_ledger::donor::DonorCode;
use charity_ledger::hex::{Hash, Nonce};
use charity_ledger::ids::{CampaignId, LineName};
use charity_ledger::kinds::Donation;
use charity_ledger::records::{CampaignRecord, CampaignStatus, OrgRecord};
use charity_ledger::tx::{Transaction, TxBody, TxKind};
use charity_ledger::Keypair;

use crate::amount;
use crate::client::{Client, ClientError};

/// The longest a row may be recorded after its campaign's window closes
/// (the ledger accepts late recording of money received in the window).
const LATE_RECORDING_MS: u64 = 30 * 86_400_000;

/// A row that can be submitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Its line in the file (the header is line 1).
    pub line: u64,
    /// The campaign.
    pub campaign: CampaignId,
    /// Fen.
    pub amount: u64,
    /// The donor's code.
    pub donor: DonorCode,
    /// Payment channel.
    pub channel: String,
    /// The platform's payment reference (only its hash goes on the chain).
    pub payment_ref: String,
    /// When the money was received (ms).
    pub received_at: u64,
    /// A public name, if the donor wants one.
    pub display_name: Option<String>,
    /// A budget line the donor restricted the gift to.
    pub restricted_line: Option<LineName>,
}

/// A row that cannot be submitted, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRow {
    /// Its line in the file.
    pub line: u64,
    /// What is wrong, naming the value.
    pub reason: String,
}

/// Reads and checks the format of every row.
pub fn parse(data: &[u8]) -> Result<(Vec<Row>, Vec<BadRow>), String> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(data);
    let headers = reader
        .headers()
        .map_err(|e| format!("the header row cannot be read: {e}"))?
        .clone();
    let col: HashMap<String, usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| (h.trim_start_matches('\u{feff}').to_ascii_lowercase(), i))
        .collect();
    for need in [
        "campaign_id",
        "amount",
        "donor_code",
        "channel",
        "payment_ref",
        "received_at",
    ] {
        if !col.contains_key(need) {
            return Err(format!("the header row has no {need:?} column"));
        }
    }
    let mut rows = Vec::new();
    let mut bad = Vec::new();
    let mut refs: HashMap<String, u64> = HashMap::new();
    for (i, record) in reader.records().enumerate() {
        let line = i as u64 + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                bad.push(BadRow {
                    line,
                    reason: format!("unreadable row: {e}"),
                });
                continue;
            }
        };
        let fields: HashMap<&str, &str> = col
            .iter()
            .filter_map(|(name, &i)| record.get(i).map(|v| (name.as_str(), v)))
            .collect();
        match row(line, &fields) {
            Ok(r) => {
                if let Some(first) = refs.insert(r.payment_ref.clone(), line) {
                    bad.push(BadRow {
                        line,
                        reason: format!(
                            "payment_ref {:?} repeats line {first}: one payment is one donation",
                            r.payment_ref
                        ),
                    });
                } else {
                    rows.push(r);
                }
            }
            Err(reason) => bad.push(BadRow { line, reason }),
        }
    }
    Ok((rows, bad))
}

fn row(line: u64, fields: &HashMap<&str, &str>) -> Result<Row, String> {
    let get = |name: &str| fields.get(name).copied().unwrap_or("");
    let campaign = CampaignId::parse(get("campaign_id"))
        .map_err(|e| format!("campaign_id {:?}: {e}", get("campaign_id")))?;
    let amount = amount::parse_yuan(get("amount"))
        .map_err(|e| format!("amount {:?}: {e}", get("amount")))?;
    if amount == 0 {
        return Err("amount is zero".into());
    }
    let donor = DonorCode::parse(get("donor_code"))
        .map_err(|e| format!("donor_code {:?}: {e}", get("donor_code")))?;
    let channel = get("channel").to_string();
    if channel.is_empty() || channel.len() > 32 {
        return Err(format!("channel {channel:?} must be 1 to 32 characters"));
    }
    let payment_ref = get("payment_ref").to_string();
    if payment_ref.is_empty() {
        return Err("payment_ref is empty".into());
    }
    let received_at = received(get("received_at"))?;
    let display_name = Some(get("display_name").to_string()).filter(|s| !s.is_empty());
    let restricted_line = match get("restricted_line") {
        "" => None,
        l => Some(LineName::parse(l).map_err(|e| format!("restricted_line {l:?}: {e}"))?),
    };
    Ok(Row {
        line,
        campaign,
        amount,
        donor,
        channel,
        payment_ref,
        received_at,
        display_name,
        restricted_line,
    })
}

fn received(s: &str) -> Result<u64, String> {
    if let Ok(ms) = s.parse::<u64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .and_then(|t| u64::try_from(t.timestamp_millis()).ok())
        .ok_or_else(|| {
            format!("received_at {s:?} is neither RFC 3339 (2026-03-12T10:00:00+08:00) nor Unix milliseconds")
        })
}

/// Checks rows against the chain as the node publishes it: the campaign
/// exists and is approved, the money was received in its window, and the
/// signer's organisation may record donations for it.
pub fn check(
    client: &Client,
    signer: &Keypair,
    rows: Vec<Row>,
) -> Result<(Vec<Row>, Vec<BadRow>), ClientError> {
    let orgs: Vec<OrgRecord> =
        serde_json::from_value(client.get_json("/v1/orgs")?).map_err(|e| ClientError::Decode {
            url: "/v1/orgs".into(),
            reason: e.to_string(),
        })?;
    let me = orgs.iter().find(|o| o.keys.contains(&signer.public()));
    let mut campaigns: BTreeMap<CampaignId, Option<CampaignRecord>> = BTreeMap::new();
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for r in rows {
        if !campaigns.contains_key(&r.campaign) {
            let c = match client.get_json(&format!("/v1/campaigns/{}?limit=1", r.campaign)) {
                Ok(v) => serde_json::from_value(v["campaign"].clone()).ok(),
                Err(ClientError::Api { status: 404, .. }) => None,
                Err(e) => return Err(e),
            };
            campaigns.insert(r.campaign.clone(), c);
        }
        let reason = match (campaigns.get(&r.campaign).and_then(Option::as_ref), me) {
            (_, None) => Some(format!(
                "the signing key {} belongs to no registered organisation",
                signer.public()
            )),
            (None, _) => Some(format!("campaign {} does not exist", r.campaign)),
            (Some(c), Some(me)) => {
                if c.status != CampaignStatus::Approved {
                    Some(format!(
                        "campaign {} is {}, not open for donations",
                        r.campaign,
                        c.status.as_str()
                    ))
                } else if r.received_at < c.starts_at || r.received_at > c.ends_at {
                    Some(format!(
                        "received_at {} is outside campaign {}'s window {} to {}",
                        charity_ledger::time::datetime(r.received_at),
                        r.campaign,
                        charity_ledger::time::date(c.starts_at),
                        charity_ledger::time::date(c.ends_at)
                    ))
                } else if me.org_id != c.charity && !c.platforms.contains(&me.org_id) {
                    Some(format!(
                        "{} ({}) is not a platform of campaign {}",
                        me.name, me.org_id, r.campaign
                    ))
                } else if r
                    .restricted_line
                    .as_ref()
                    .is_some_and(|l| c.line(l).is_none())
                {
                    Some(format!(
                        "campaign {} has no budget line {:?}",
                        r.campaign, r.restricted_line
                    ))
                } else if c.ends_at.saturating_add(LATE_RECORDING_MS) < r.received_at {
                    Some("recorded too late".into())
                } else {
                    None
                }
            }
        };
        match reason {
            Some(reason) => bad.push(BadRow {
                line: r.line,
                reason,
            }),
            None => ok.push(r),
        }
    }
    Ok((ok, bad))
}

/// The row's transaction: the same row always gives the same transaction
/// (and `tx_id`), so a re-run recognises what it already submitted.
pub fn transaction(chain_id: &str, key: &Keypair, r: &Row) -> Result<Transaction, String> {
    let seed = charity_ledger::crypto::tagged_hash(
        b"charity-sdk/import\n",
        format!("{}\n{}\n{}", key.public(), r.campaign, r.payment_ref).as_bytes(),
    );
    let mut nonce = [0u8; 8];
    nonce.copy_from_slice(&seed.0[..8]);
    Transaction::sign(
        TxBody {
            chain_id: chain_id.to_owned(),
            signer: key.public(),
            nonce: Nonce::from(nonce),
            created_at: r.received_at,
            kind: TxKind::Donation(Donation {
                campaign_id: r.campaign.clone(),
                amount: r.amount,
                donor_tag: r.donor.tag(),
                display_name: r.display_name.clone(),
                restricted_line: r.restricted_line.clone(),
                channel: r.channel.clone(),
                payment_ref_hash: charity_ledger::crypto::sha256(r.payment_ref.as_bytes()),
                received_at: r.received_at,
            }),
        },
        key,
    )
    .map_err(|e| e.to_string())
}

/// How often a row is offered again to a node whose pool is full.
const FULL_RETRIES: u64 = 200;

/// What the submission did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Submitted {
    /// Newly accepted by the node.
    pub new: Vec<Hash>,
    /// Already committed or pending: skipped.
    pub skipped: usize,
    /// Refused by the node, with line and reason.
    pub refused: Vec<BadRow>,
}

/// Submits the rows' transactions to `node` with `workers` threads, each
/// with its own connection; `progress` is called once per row.
pub fn submit(
    node: &Client,
    txs: Vec<(u64, Transaction)>,
    workers: usize,
    progress: &(dyn Fn() + Sync),
) -> Submitted {
    let next = AtomicUsize::new(0);
    let out = Mutex::new(Submitted::default());
    std::thread::scope(|s| {
        for _ in 0..workers.max(1) {
            s.spawn(|| {
                let client = node.clone();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((line, tx)) = txs.get(i) else { break };
                    // A full pool is back-pressure: wait for blocks to
                    // drain it, a bounded number of times.
                    let mut result = client.submit(tx);
                    for attempt in 0..FULL_RETRIES {
                        match &result {
                            Err(ClientError::Api { code, .. }) if code == "mempool_full" => {
                                std::thread::sleep(std::time::Duration::from_millis(
                                    50 * (attempt + 1).min(20),
                                ));
                                result = client.submit(tx);
                            }
                            _ => break,
                        }
                    }
                    if let Ok(mut o) = out.lock() {
                        match result {
                            Ok(id) => o.new.push(id),
                            Err(ClientError::Api { code, .. })
                                if code == "duplicate_tx" || code == "already_pending" =>
                            {
                                o.skipped += 1
                            }
                            Err(e) => o.refused.push(BadRow {
                                line: *line,
                                reason: e.to_string(),
                            }),
                        }
                    }
                    progress();
                }
            });
        }
    });
    out.into_inner().unwrap_or_default()
}
