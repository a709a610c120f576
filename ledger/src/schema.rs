//! The store's key layout: one ordered keyspace, a one-byte table prefix,
//! then big-endian numbers and `0x00`-terminated identifiers, so that range
//! scans return rows in the order the API lists them.
//!
//! Identifiers used in keys (campaign ids, line names, credit codes, donor
//! tags, hex) never contain a zero byte, so the terminator is unambiguous.

use crate::hex::Hash;

/// Chain metadata (tip, genesis).
pub const META: u8 = 0x01;
/// Height -> canonical header JSON.
pub const HEADER: u8 = 0x02;
/// Height -> block hash as stored at commit (checked on open).
pub const BLOCK_HASH: u8 = 0x03;
/// Height -> commit certificate JSON.
pub const COMMIT: u8 = 0x04;
/// Height -> concatenated 32-byte tx ids, in block order.
pub const BLOCK_TXS: u8 = 0x05;
/// Tx id -> where it was committed and the transaction
/// ([`crate::records::CommittedTx`]).
pub const TX: u8 = 0x06;
/// First leaf index of a block -> the RFC 6962 perfect-subtree nodes that
/// block completed, as sorted `(level u8, index u64be, hash)` records.
pub const LOG_NODES: u8 = 0x08;
/// Height the set takes effect -> validator set.
pub const VALIDATORS: u8 = 0x09;

/// Credit code -> organisation record.
pub const ORG: u8 = 0x10;
/// Public key -> owning organisation.
pub const KEY_OWNER: u8 = 0x11;
/// Campaign id -> campaign record.
pub const CAMPAIGN: u8 = 0x12;
/// Donation id -> donation record.
pub const DONATION: u8 = 0x13;
/// (campaign, line or "", seq) -> donation id with unallocated money.
pub const OPEN_DONATION: u8 = 0x14;
/// Disbursement id -> disbursement record.
pub const DISBURSEMENT: u8 = 0x15;
/// (donation id, height, index, n) -> allocation row.
pub const ALLOC_BY_DONATION: u8 = 0x16;
/// (disbursement id, n) -> allocation row.
pub const ALLOC_BY_DISBURSEMENT: u8 = 0x17;
/// Refund id -> refund record.
pub const REFUND: u8 = 0x18;

/// (campaign, seq) -> donation id, in commit order.
pub const CAMPAIGN_DONATIONS: u8 = 0x20;
/// (donor, height, index) -> donation id.
pub const DONOR_DONATIONS: u8 = 0x21;
/// (campaign, height, index) -> disbursement id.
pub const CAMPAIGN_DISBURSEMENTS: u8 = 0x22;
/// (campaign, height, index) -> progress report / close tx id.
pub const CAMPAIGN_REPORTS: u8 = 0x23;
/// (org, campaign) -> empty.
pub const ORG_CAMPAIGNS: u8 = 0x24;
/// (subject, height, index) -> audit note or correction tx id.
pub const SUBJECT_NOTES: u8 = 0x25;
/// (campaign, height, index) -> refund id.
pub const CAMPAIGN_REFUNDS: u8 = 0x26;
/// (evidence sha256, height, index) -> citing tx id.
pub const EVIDENCE: u8 = 0x27;

/// Meta key of the chain tip.
pub const META_TIP: &[u8] = b"\x01tip";
/// Meta key of the genesis document.
pub const META_GENESIS: &[u8] = b"\x01genesis";

/// A key builder.
#[derive(Clone, Debug)]
pub struct Key(Vec<u8>);

impl Key {
    /// Starts a key in `table`.
    pub fn new(table: u8) -> Self {
        let mut v = Vec::with_capacity(48);
        v.push(table);
        Key(v)
    }
    /// Appends a `0x00`-terminated identifier.
    pub fn id(mut self, s: &str) -> Self {
        self.0.extend_from_slice(s.as_bytes());
        self.0.push(0);
        self
    }
    /// Appends raw bytes (fixed-length values such as hashes).
    pub fn raw(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    /// Appends a hash.
    pub fn hash(self, h: &Hash) -> Self {
        self.raw(h.as_bytes())
    }
    /// Appends a big-endian u64.
    pub fn u64(self, n: u64) -> Self {
        self.raw(&n.to_be_bytes())
    }
    /// Appends a big-endian u32.
    pub fn u32(self, n: u32) -> Self {
        self.raw(&n.to_be_bytes())
    }
    /// The bytes.
    pub fn build(self) -> Vec<u8> {
        self.0
    }
    /// The half-open range of every key that starts with this one.
    pub fn prefix_range(self) -> (Vec<u8>, Vec<u8>) {
        let start = self.0;
        let mut end = start.clone();
        // Keys are never all 0xff, so incrementing the last non-0xff byte
        // gives the first key after the prefix.
        while let Some(last) = end.pop() {
            if last != 0xff {
                end.push(last + 1);
                break;
            }
        }
        (start, end)
    }
}

/// Reads a big-endian u64 at `at` of `key`.
pub fn read_u64(key: &[u8], at: usize) -> Option<u64> {
    key.get(at..at + 8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
}

/// A readable description of a stored key: its table and its parts, for
/// reports that must name what disagrees.
pub fn describe(key: &[u8]) -> String {
    let Some((table, rest)) = key.split_first() else {
        return "the empty key".into();
    };
    let name = match *table {
        META => "meta",
        HEADER => "header",
        BLOCK_HASH => "block hash",
        COMMIT => "commit",
        BLOCK_TXS => "block tx ids",
        TX => "transaction",
        LOG_NODES => "log nodes",
        VALIDATORS => "validator set",
        ORG => "organisation",
        KEY_OWNER => "key owner",
        CAMPAIGN => "campaign",
        DONATION => "donation",
        OPEN_DONATION => "open donation",
        DISBURSEMENT => "disbursement",
        ALLOC_BY_DONATION => "allocation by donation",
        ALLOC_BY_DISBURSEMENT => "allocation by disbursement",
        REFUND => "refund",
        CAMPAIGN_DONATIONS => "campaign donation index",
        DONOR_DONATIONS => "donor donation index",
        CAMPAIGN_DISBURSEMENTS => "campaign disbursement index",
        CAMPAIGN_REPORTS => "campaign report index",
        ORG_CAMPAIGNS => "organisation campaign index",
        SUBJECT_NOTES => "note index",
        CAMPAIGN_REFUNDS => "campaign refund index",
        EVIDENCE => "evidence index",
        _ => "unknown table",
    };
    let text = rest.iter().all(|b| b.is_ascii_graphic() || *b == 0);
    let shown = match (*table, rest.len()) {
        (HEADER | BLOCK_HASH | COMMIT | BLOCK_TXS | VALIDATORS, 8) => {
            read_u64(rest, 0).map_or_else(String::new, |h| format!("height {h}"))
        }
        (_, 32) if !text => rest.iter().map(|b| format!("{b:02x}")).collect(),
        _ if text => rest
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect::<Vec<_>>()
            .join("/"),
        _ => rest.iter().map(|b| format!("{b:02x}")).collect(),
    };
    format!("{name} {shown}")
}
