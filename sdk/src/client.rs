//! A client for a node's HTTP API. Nothing it returns is trusted beyond
//! what the caller verifies: receipts and checkpoints are checked with
//! [`crate::verify`], offline.

use std::time::{Duration, Instant};

use charity_ledger::donor::Donor;
use charity_ledger::hex::Hash;
use charity_ledger::ids::CampaignId;
use charity_ledger::receipt::Receipt;
use charity_ledger::records::{CampaignRecord, DonationRecord, OrgRecord};
use charity_ledger::trace::Trace;
use charity_ledger::validators::PowerEntry;
use charity_ledger::Transaction;
use serde_json::Value;

/// The header in which a node gives, with every answer read from its
/// chain, the height of the block whose state the answer shows.
pub const HEIGHT_HEADER: &str = "ledger-height";

/// The header in which a reader asks for an answer read at this height or
/// later. A node below it waits a moment for the block to commit, and
/// otherwise answers 503 `height_not_reached`: behind a load balancer, or
/// when reading from several nodes, answers never go back in time.
pub const MIN_HEIGHT_HEADER: &str = "ledger-min-height";

/// The largest answer read from a node (16 MiB).
const MAX_ANSWER: u64 = 16 * 1024 * 1024;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node could not be reached.
    #[error("cannot reach the node at {url}: {reason}")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The node answered with an error.
    #[error("the node refused ({status} {code}): {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The node's error code.
        code: String,
        /// Its message.
        message: String,
    },
    /// The answer could not be read.
    #[error("unreadable answer from {url}: {reason}")]
    Decode {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// Waiting ran out.
    #[error("transaction {0} was not committed within the timeout")]
    Timeout(Hash),
}

impl ClientError {
    /// Stable error code (the node's own code for refusals).
    pub fn code(&self) -> &str {
        match self {
            ClientError::Unreachable { .. } => "node_unreachable",
            ClientError::Api { code, .. } => code,
            ClientError::Decode { .. } => "bad_answer",
            ClientError::Timeout(_) => "timeout",
        }
    }
}

/// Where a transaction is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxStatus {
    /// Waiting for a block.
    Pending,
    /// In the block at this height.
    Committed(u64),
}

/// An answer's body as JSON.
fn json(url: String, body: &[u8]) -> Result<Value, ClientError> {
    serde_json::from_slice(body).map_err(|e| ClientError::Decode {
        url,
        reason: e.to_string(),
    })
}

/// A node's API. Clones share the settings, not the connections in use.
#[derive(Clone)]
pub struct Client {
    base: String,
    agent: ureq::Agent,
    /// Asked of every read: see [`Client::at_least`].
    min_height: Option<u64>,
}

/// How many times a read that a node refused as below the height asked for
/// is asked again (each time after the node's own wait for the block).
const MIN_HEIGHT_ATTEMPTS: usize = 4;

/// The node refused a read as below the height it asked for.
fn not_reached(e: &ClientError) -> bool {
    matches!(e, ClientError::Api { code, .. } if code == "height_not_reached")
}

impl Client {
    /// A client for the node at `base`, e.g. `http://127.0.0.1:8080`, that
    /// gives up on a request after 30 seconds.
    pub fn new(base: &str) -> Self {
        Self::with_timeout(base, Duration::from_secs(30))
    }

    /// A client that gives up on a request (connecting, sending and reading
    /// the whole answer) after `timeout`: a node that stops answering, or
    /// answers a byte at a time, is an error, not a wait without end.
    pub fn with_timeout(base: &str, timeout: Duration) -> Self {
        Client {
            base: base.trim_end_matches('/').to_owned(),
            agent: ureq::AgentBuilder::new().timeout(timeout).build(),
            min_height: None,
        }
    }

    /// This client, asking of every read an answer read at block `height`
    /// or later ([`MIN_HEIGHT_HEADER`]). A node that has not committed it
    /// waits a moment for it, then refuses with `height_not_reached`; the
    /// read is then asked again a few times, so that behind a load
    /// balancer it reaches a node that has the block. For a reader that
    /// must never be shown an older state than it has already seen (an
    /// audit, a witness).
    pub fn at_least(&self, height: u64) -> Client {
        Client {
            min_height: Some(height),
            ..self.clone()
        }
    }

    /// Reads the answer to `r`: its body (at most [`MAX_ANSWER`] bytes) and
    /// its [`HEIGHT_HEADER`], if any; an error status is the node's
    /// `{code, message}`.
    fn answer(
        &self,
        url: &str,
        r: Result<ureq::Response, ureq::Error>,
    ) -> Result<(Vec<u8>, Option<String>), ClientError> {
        let read = |resp: ureq::Response| -> Result<Vec<u8>, ClientError> {
            let mut buf = Vec::new();
            // One byte past the limit tells a long answer from one that
            // ends exactly there.
            std::io::Read::read_to_end(
                &mut std::io::Read::take(resp.into_reader(), MAX_ANSWER + 1),
                &mut buf,
            )
            .map_err(|e| ClientError::Decode {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
            if buf.len() as u64 > MAX_ANSWER {
                return Err(ClientError::Decode {
                    url: url.to_owned(),
                    reason: format!("the answer is longer than {MAX_ANSWER} bytes"),
                });
            }
            Ok(buf)
        };
        match r {
            Ok(resp) => {
                let height = resp.header(HEIGHT_HEADER).map(str::to_owned);
                Ok((read(resp)?, height))
            }
            Err(ureq::Error::Status(status, resp)) => {
                let body = read(resp).unwrap_or_default();
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                Err(ClientError::Api {
                    status,
                    code: v["code"].as_str().unwrap_or("http_error").to_owned(),
                    message: v["message"].as_str().unwrap_or("no message").to_owned(),
                })
            }
            Err(e) => Err(ClientError::Unreachable {
                url: url.to_owned(),
                reason: e.to_string(),
            }),
        }
    }

    fn get(&self, path: &str) -> Result<(String, Vec<u8>, Option<String>), ClientError> {
        let url = format!("{}{path}", self.base);
        let mut attempt = 1;
        loop {
            let mut request = self.agent.get(&url);
            if let Some(h) = self.min_height {
                request = request.set(MIN_HEIGHT_HEADER, &h.to_string());
            }
            match self.answer(&url, request.call()) {
                Ok((body, height)) => return Ok((url, body, height)),
                Err(e) if not_reached(&e) && attempt < MIN_HEIGHT_ATTEMPTS => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// GETs `path` and returns the body.
    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>, ClientError> {
        self.get(path).map(|(_, body, _)| body)
    }

    /// GETs `path` as JSON from a node that has committed `height` (asked
    /// as [`Client::at_least`] asks), or, where no node that answers has,
    /// the node's own answer, for the caller to find it short.
    pub fn get_json_reaching(&self, path: &str, height: u64) -> Result<Value, ClientError> {
        match self.at_least(height).get_json(path) {
            Err(e) if not_reached(&e) => self.get_json(path),
            r => r,
        }
    }

    /// GETs `path` as JSON.
    pub fn get_json(&self, path: &str) -> Result<Value, ClientError> {
        let (url, body, _) = self.get(path)?;
        json(url, &body)
    }

    /// GETs `path` as JSON, with the height of the block whose state the
    /// node says it shows (its [`HEIGHT_HEADER`]): `None` if it gave none.
    pub fn get_json_at(&self, path: &str) -> Result<(Value, Option<u64>), ClientError> {
        let (url, body, height) = self.get(path)?;
        let height = match height {
            None => None,
            Some(h) => Some(h.parse().map_err(|_| ClientError::Decode {
                url: url.clone(),
                reason: format!("{HEIGHT_HEADER} {h:?} is not a block height"),
            })?),
        };
        Ok((json(url, &body)?, height))
    }

    /// Submits a signed transaction; the node checks it and keeps it.
    pub fn submit(&self, tx: &Transaction) -> Result<Hash, ClientError> {
        let url = format!("{}/v1/txs", self.base);
        let body = tx.to_canonical_json().map_err(|e| ClientError::Decode {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let r = self
            .agent
            .post(&url)
            .set("content-type", "application/json")
            .send_bytes(&body);
        self.answer(&url, r)?;
        Ok(tx.id())
    }

    /// The node's chain id.
    pub fn chain_id(&self) -> Result<String, ClientError> {
        let v = self.get_json("/v1/status")?;
        v["chain_id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ClientError::Decode {
                url: format!("{}/v1/status", self.base),
                reason: "no chain_id".into(),
            })
    }

    /// Where a transaction is.
    pub fn tx_status(&self, id: &Hash) -> Result<TxStatus, ClientError> {
        let v = self.get_json(&format!("/v1/txs/{id}"))?;
        match (v["status"].as_str(), v["height"].as_u64()) {
            (Some("committed"), Some(h)) => Ok(TxStatus::Committed(h)),
            _ => Ok(TxStatus::Pending),
        }
    }

    /// Waits until `id` is committed, asking again with growing pauses,
    /// for at most `timeout`; returns the height.
    pub fn wait_committed(&self, id: &Hash, timeout: Duration) -> Result<u64, ClientError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(100);
        loop {
            if let TxStatus::Committed(h) = self.tx_status(id)? {
                return Ok(h);
            }
            if started.elapsed() >= timeout {
                return Err(ClientError::Timeout(*id));
            }
            std::thread::sleep(pause.min(timeout.saturating_sub(started.elapsed())));
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    /// The receipt of a committed transaction, and its bytes as served.
    pub fn receipt(&self, id: &Hash) -> Result<(Receipt, Vec<u8>), ClientError> {
        let path = format!("/v1/txs/{id}/receipt");
        let bytes = self.get_bytes(&path)?;
        let r = Receipt::decode(&bytes).map_err(|e| ClientError::Decode {
            url: format!("{}{path}", self.base),
            reason: e.to_string(),
        })?;
        Ok((r, bytes))
    }

    /// The validator set the node says is in force.
    pub fn validators(&self) -> Result<Vec<PowerEntry>, ClientError> {
        let v = self.get_json("/v1/validators")?;
        let list = v.as_array().cloned().unwrap_or_default();
        list.into_iter()
            .map(|x| {
                serde_json::from_value::<charity_ledger::kinds::ValidatorEntry>(x)
                    .map(|e| PowerEntry {
                        pubkey: e.pubkey,
                        power: e.power,
                    })
                    .map_err(|e| ClientError::Decode {
                        url: format!("{}/v1/validators", self.base),
                        reason: e.to_string(),
                    })
            })
            .collect()
    }

    fn typed<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        v: Value,
    ) -> Result<T, ClientError> {
        serde_json::from_value(v).map_err(|e| ClientError::Decode {
            url: format!("{}{path}", self.base),
            reason: e.to_string(),
        })
    }

    fn get_typed<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let v = self.get_json(path)?;
        self.typed(path, v)
    }

    /// Registered organisations.
    pub fn orgs(&self) -> Result<Vec<OrgRecord>, ClientError> {
        self.get_typed("/v1/orgs")
    }

    /// Every campaign with its totals.
    pub fn campaigns(&self) -> Result<Vec<CampaignRecord>, ClientError> {
        self.get_typed("/v1/campaigns")
    }

    /// A campaign with its totals.
    pub fn campaign(&self, id: &CampaignId) -> Result<CampaignRecord, ClientError> {
        let path = format!("/v1/campaigns/{id}?limit=1");
        let v = self.get_json(&path)?;
        self.typed(&path, v["campaign"].clone())
    }

    /// A campaign's donations in commit order, from position `from_seq`
    /// (at most 1,000).
    pub fn campaign_donations(
        &self,
        id: &CampaignId,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<DonationRecord>, ClientError> {
        let path = format!("/v1/campaigns/{id}?from_seq={from_seq}&limit={limit}");
        let v = self.get_json(&path)?;
        self.typed(&path, v["donations"].clone())
    }

    /// A donor's donations, by tag (or `campaign:<id>` for grants).
    pub fn donor_donations(&self, donor: &Donor) -> Result<Vec<DonationRecord>, ClientError> {
        self.get_typed(&format!("/v1/donors/{donor}/donations"))
    }

    /// Where a donation went, to the fen, across grants.
    pub fn trace(&self, donation: &Hash) -> Result<Trace, ClientError> {
        self.get_typed(&format!("/v1/donations/{donation}/trace"))
    }

    /// The latest signed checkpoint; check it with
    /// [`crate::witness::verify_checkpoint`] before trusting it.
    pub fn checkpoint(&self) -> Result<crate::witness::Checkpoint, ClientError> {
        self.get_typed("/v1/checkpoint")
    }
}
