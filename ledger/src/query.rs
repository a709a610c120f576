//! Read-only queries over committed state and its indexes, for the API, the
//! explorer and audits. They work on any [`KvRead`]: the sled store or an
//! in-memory copy.

use crate::donor::Donor;
use crate::hex::Hash;
use crate::ids::CampaignId;
use crate::kv::{KvError, KvRead};
use crate::org_id::OrgId;
use crate::overlay::decode_record;
use crate::records::{
    AllocationRow, CampaignRecord, DisbursementRecord, DonationRecord, OrgRecord, RefundRecord,
};
use crate::schema::{self, Key};

pub use crate::trace::{allocations_of_donation, disbursement, donation, trace};

fn one<R: KvRead, V: serde::de::DeserializeOwned>(
    kv: &R,
    key: Vec<u8>,
) -> Result<Option<V>, KvError> {
    kv.get(&key)?.map(|b| decode_record(&key, &b)).transpose()
}

fn records<R: KvRead, V: serde::de::DeserializeOwned>(
    kv: &R,
    (start, end): (Vec<u8>, Vec<u8>),
    limit: usize,
) -> Result<Vec<V>, KvError> {
    kv.scan(&start, &end, limit)?
        .into_iter()
        .map(|(k, v)| decode_record(&k, &v))
        .collect()
}

fn ids<R: KvRead>(
    kv: &R,
    (start, end): (Vec<u8>, Vec<u8>),
    limit: usize,
) -> Result<Vec<Hash>, KvError> {
    kv.scan(&start, &end, limit)?
        .into_iter()
        .map(|(k, v)| {
            <[u8; 32]>::try_from(v.as_slice())
                .map(Hash::from)
                .map_err(|_| KvError::Corrupt {
                    key: format!("{k:?}"),
                    reason: "index value is not a 32-byte id".into(),
                })
        })
        .collect()
}

/// Resolves indexed ids to their records; an index entry without its
/// record means the store is corrupt.
fn indexed<V>(
    ids: &[Hash],
    get: impl Fn(&Hash) -> Result<Option<V>, KvError>,
    what: &str,
) -> Result<Vec<V>, KvError> {
    ids.iter()
        .map(|h| {
            get(h)?.ok_or_else(|| KvError::Corrupt {
                key: format!("{what} {h}"),
                reason: format!("indexed {what} is missing"),
            })
        })
        .collect()
}

/// An organisation.
pub fn org<R: KvRead>(kv: &R, id: &OrgId) -> Result<Option<OrgRecord>, KvError> {
    one(kv, Key::new(schema::ORG).id(id.as_str()).build())
}

/// Organisations in credit-code order.
pub fn orgs<R: KvRead>(kv: &R, limit: usize) -> Result<Vec<OrgRecord>, KvError> {
    records(kv, Key::new(schema::ORG).prefix_range(), limit)
}

/// A campaign.
pub fn campaign<R: KvRead>(kv: &R, id: &CampaignId) -> Result<Option<CampaignRecord>, KvError> {
    one(kv, Key::new(schema::CAMPAIGN).id(id.as_str()).build())
}

/// Campaigns in id order.
pub fn campaigns<R: KvRead>(kv: &R, limit: usize) -> Result<Vec<CampaignRecord>, KvError> {
    records(kv, Key::new(schema::CAMPAIGN).prefix_range(), limit)
}

/// Every donation record (grants received included), in the table's key
/// order (by id). One pass in key order is what a report over all
/// donations wants: a campaign's index would cost a random read per
/// donation instead.
pub fn each_donation<R: KvRead>(
    kv: &R,
    mut f: impl FnMut(DonationRecord) -> Result<(), KvError>,
) -> Result<(), KvError> {
    /// Entries read at a time.
    const PAGE: usize = 4096;
    each_entry(
        kv,
        Key::new(schema::DONATION).prefix_range(),
        PAGE,
        |k, v| f(decode_record(k, v)?),
    )
}

/// Every entry with `start <= key < end`, in key order, read `page` at a
/// time so that memory stays bounded however many there are.
fn each_entry<R: KvRead>(
    kv: &R,
    (mut start, end): (Vec<u8>, Vec<u8>),
    page: usize,
    mut f: impl FnMut(&[u8], &[u8]) -> Result<(), KvError>,
) -> Result<(), KvError> {
    let page = page.max(1);
    loop {
        let entries = kv.scan(&start, &end, page)?;
        let full = entries.len() == page;
        let mut last = None;
        for (k, v) in entries {
            f(&k, &v)?;
            last = Some(k);
        }
        match last {
            // The next page starts just after the last key read.
            Some(mut k) if full => {
                k.push(0);
                start = k;
            }
            _ => return Ok(()),
        }
    }
}

/// The campaign ids of an organisation.
pub fn org_campaigns<R: KvRead>(
    kv: &R,
    id: &OrgId,
    limit: usize,
) -> Result<Vec<CampaignId>, KvError> {
    let (start, end) = Key::new(schema::ORG_CAMPAIGNS)
        .id(id.as_str())
        .prefix_range();
    kv.scan(&start, &end, limit)?
        .into_iter()
        .map(|(k, _)| {
            let rest = k.get(start.len()..).unwrap_or_default();
            let name = rest.strip_suffix(&[0]).unwrap_or(rest);
            std::str::from_utf8(name)
                .ok()
                .and_then(|s| CampaignId::parse(s).ok())
                .ok_or_else(|| KvError::Corrupt {
                    key: format!("org campaign index of {id}"),
                    reason: "bad campaign id".into(),
                })
        })
        .collect()
}

/// A campaign's donations in commit order, from position `from_seq`.
pub fn campaign_donations<R: KvRead>(
    kv: &R,
    id: &CampaignId,
    from_seq: u64,
    limit: usize,
) -> Result<Vec<DonationRecord>, KvError> {
    let prefix = Key::new(schema::CAMPAIGN_DONATIONS).id(id.as_str());
    let (_, end) = prefix.clone().prefix_range();
    let start = prefix.u64(from_seq).build();
    let list = ids(kv, (start, end), limit)?;
    indexed(&list, |h| donation(kv, h), "donation")
}

/// A donor's donations (by tag, or `campaign:<id>` for grants), oldest first.
pub fn donor_donations<R: KvRead>(
    kv: &R,
    donor: &Donor,
    limit: usize,
) -> Result<Vec<DonationRecord>, KvError> {
    let list = ids(
        kv,
        Key::new(schema::DONOR_DONATIONS)
            .id(&donor.to_string())
            .prefix_range(),
        limit,
    )?;
    indexed(&list, |h| donation(kv, h), "donation")
}

/// A campaign's disbursements, oldest first.
pub fn campaign_disbursements<R: KvRead>(
    kv: &R,
    id: &CampaignId,
    limit: usize,
) -> Result<Vec<DisbursementRecord>, KvError> {
    let list = ids(
        kv,
        Key::new(schema::CAMPAIGN_DISBURSEMENTS)
            .id(id.as_str())
            .prefix_range(),
        limit,
    )?;
    list.iter()
        .map(|h| {
            disbursement(kv, h)?.ok_or_else(|| KvError::Corrupt {
                key: format!("disbursement {h}"),
                reason: "indexed disbursement is missing".into(),
            })
        })
        .collect()
}

/// The allocation rows of a disbursement.
pub fn allocations_of_disbursement<R: KvRead>(
    kv: &R,
    id: &Hash,
    limit: usize,
) -> Result<Vec<AllocationRow>, KvError> {
    records(
        kv,
        Key::new(schema::ALLOC_BY_DISBURSEMENT)
            .hash(id)
            .prefix_range(),
        limit,
    )
}

/// Tx ids of a campaign's progress reports and closing report, oldest first.
pub fn campaign_reports<R: KvRead>(
    kv: &R,
    id: &CampaignId,
    limit: usize,
) -> Result<Vec<Hash>, KvError> {
    ids(
        kv,
        Key::new(schema::CAMPAIGN_REPORTS)
            .id(id.as_str())
            .prefix_range(),
        limit,
    )
}

/// A campaign's refunds, oldest first.
pub fn campaign_refunds<R: KvRead>(
    kv: &R,
    id: &CampaignId,
    limit: usize,
) -> Result<Vec<RefundRecord>, KvError> {
    let list = ids(
        kv,
        Key::new(schema::CAMPAIGN_REFUNDS)
            .id(id.as_str())
            .prefix_range(),
        limit,
    )?;
    list.iter()
        .map(|h| {
            one(kv, Key::new(schema::REFUND).hash(h).build())?.ok_or_else(|| KvError::Corrupt {
                key: format!("refund {h}"),
                reason: "indexed refund is missing".into(),
            })
        })
        .collect()
}

/// Tx ids of audit notes and corrections about `subject`, oldest first.
pub fn notes<R: KvRead>(kv: &R, subject: &str, limit: usize) -> Result<Vec<Hash>, KvError> {
    ids(
        kv,
        Key::new(schema::SUBJECT_NOTES).id(subject).prefix_range(),
        limit,
    )
}

/// Tx ids of disbursements and reports citing a file with this SHA-256.
pub fn evidence<R: KvRead>(kv: &R, sha256: &Hash, limit: usize) -> Result<Vec<Hash>, KvError> {
    ids(
        kv,
        Key::new(schema::EVIDENCE).hash(sha256).prefix_range(),
        limit,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemKv;

    #[test]
    fn entries_are_read_in_pages_each_once_in_order() {
        let mut kv = MemKv::new();
        // Keys of different lengths, one a prefix of another, and entries
        // of the tables on either side that must not be read.
        let keys: Vec<Vec<u8>> = vec![
            vec![1, 9],
            vec![2],
            vec![2, 0],
            vec![2, 0, 0],
            vec![2, 1],
            vec![2, 0xff],
            vec![2, 0xff, 0xff],
            vec![3],
        ];
        kv.apply(keys.iter().map(|k| (k.clone(), Some(k.clone()))));
        let want: Vec<Vec<u8>> = keys.iter().filter(|k| k[0] == 2).cloned().collect();
        for page in [0, 1, 2, 3, 5, 6, 7, 100] {
            let mut seen = Vec::new();
            each_entry(&kv, (vec![2], vec![3]), page, |k, v| {
                assert_eq!(k, v);
                seen.push(k.to_vec());
                Ok(())
            })
            .unwrap();
            assert_eq!(seen, want, "page of {page}");
        }
        // A failure stops the walk and is returned.
        let mut calls = 0;
        let err = each_entry(&kv, (vec![2], vec![3]), 2, |_, _| {
            calls += 1;
            Err(KvError::Io("stop".into()))
        });
        assert!(err.is_err());
        assert_eq!(calls, 1);
    }
}
