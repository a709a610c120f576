//! Where one donation's money went, to the fen, across grants.
//!
//! The first hop is exact: the allocation rows of the donation. When a
//! disbursement is a grant to another campaign, the donor's share of that
//! grant is followed into the receiving campaign and split over the grant's
//! own allocations pro rata, rounded by largest remainder so that the parts
//! always add up to the share (design, "Allocation: where the money went").

use serde::Serialize;

use crate::hex::Hash;
use crate::ids::CampaignId;
use crate::kv::{KvError, KvRead};
use crate::overlay::decode_record;
use crate::records::{AllocationRow, DisbursementRecord, DonationRecord};
use crate::schema::{self, Key};

/// The deepest chain of grants a trace follows.
pub const MAX_TRACE_DEPTH: usize = 16;
/// The most spending rows one trace returns.
pub const MAX_TRACE_ROWS: usize = 20_000;

/// Splits `total` over `weights` in proportion, in whole units, by the
/// largest-remainder method: each part gets the floor of its exact share,
/// and the units left over go one each to the largest remainders (ties to
/// the earlier part). The parts add up to `total` exactly. Zero total weight
/// gives all zeros.
pub fn split_largest_remainder(total: u64, weights: &[u64]) -> Vec<u64> {
    let sum: u128 = weights.iter().map(|w| u128::from(*w)).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let t = u128::from(total);
    let mut parts: Vec<u64> = Vec::with_capacity(weights.len());
    let mut rems: Vec<(u128, usize)> = Vec::with_capacity(weights.len());
    let mut given: u128 = 0;
    for (i, w) in weights.iter().enumerate() {
        let exact = t * u128::from(*w);
        let q = exact / sum;
        given += q;
        parts.push(u64::try_from(q).unwrap_or(u64::MAX));
        rems.push((exact % sum, i));
    }
    // Largest remainder first; equal remainders go to the earlier part.
    rems.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let left = usize::try_from(t.saturating_sub(given)).unwrap_or(usize::MAX);
    for (_, i) in rems.into_iter().take(left) {
        if let Some(p) = parts.get_mut(i) {
            *p += 1;
        }
    }
    parts
}

/// Money of one donor in one campaign: how much arrived, where it went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TraceNode {
    /// The donation (or, past the first hop, the grant received).
    pub donation_id: Hash,
    /// The campaign holding it.
    pub campaign_id: CampaignId,
    /// The donor's money arriving here.
    pub amount: u64,
    /// Paid out, disbursement by disbursement.
    pub spent: Vec<TraceSpend>,
    /// Not yet spent.
    pub unspent: u64,
    /// Refunded to the donor.
    pub refunded: u64,
}

/// Part of a donor's money paid out by one disbursement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TraceSpend {
    /// The disbursement.
    pub disbursement: DisbursementRecord,
    /// The donor's fen in it.
    pub amount: u64,
    /// When the disbursement is a grant, where the donor's share went next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant: Option<TraceNode>,
}

/// A full trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Trace {
    /// The donation as recorded.
    pub donation: DonationRecord,
    /// Where it went.
    pub root: TraceNode,
}

/// Why a trace could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    /// No such donation.
    #[error("donation {0} does not exist")]
    UnknownDonation(Hash),
    /// Too many grant hops or rows.
    #[error("trace of {0} is too large to follow")]
    TooLarge(Hash),
    /// The store is inconsistent or unreadable.
    #[error(transparent)]
    Kv(#[from] KvError),
}

impl TraceError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            TraceError::UnknownDonation(_) => "unknown_donation",
            TraceError::TooLarge(_) => "trace_too_large",
            TraceError::Kv(e) => e.code(),
        }
    }
}

fn corrupt(what: String) -> KvError {
    KvError::Corrupt {
        key: what,
        reason: "referenced record is missing".into(),
    }
}

/// Reads a donation record.
pub fn donation<R: KvRead>(kv: &R, id: &Hash) -> Result<Option<DonationRecord>, KvError> {
    let key = Key::new(schema::DONATION).hash(id).build();
    kv.get(&key)?.map(|b| decode_record(&key, &b)).transpose()
}

/// Reads a disbursement record.
pub fn disbursement<R: KvRead>(kv: &R, id: &Hash) -> Result<Option<DisbursementRecord>, KvError> {
    let key = Key::new(schema::DISBURSEMENT).hash(id).build();
    kv.get(&key)?.map(|b| decode_record(&key, &b)).transpose()
}

/// The allocation rows of a donation, oldest first.
pub fn allocations_of_donation<R: KvRead>(
    kv: &R,
    id: &Hash,
    limit: usize,
) -> Result<Vec<AllocationRow>, KvError> {
    let (start, end) = Key::new(schema::ALLOC_BY_DONATION).hash(id).prefix_range();
    kv.scan(&start, &end, limit)?
        .into_iter()
        .map(|(k, v)| decode_record(&k, &v))
        .collect()
}

struct Walker<'a, R> {
    kv: &'a R,
    rows: usize,
    root: Hash,
}

impl<R: KvRead> Walker<'_, R> {
    /// Follows `share` fen of donation `d` (all of it at the first hop).
    fn node(
        &mut self,
        d: &DonationRecord,
        share: u64,
        depth: usize,
    ) -> Result<TraceNode, TraceError> {
        if depth > MAX_TRACE_DEPTH {
            return Err(TraceError::TooLarge(self.root));
        }
        let rows = allocations_of_donation(self.kv, &d.donation_id, MAX_TRACE_ROWS + 1)?;
        self.rows += rows.len();
        if self.rows > MAX_TRACE_ROWS {
            return Err(TraceError::TooLarge(self.root));
        }
        // Buckets: each allocation, then unspent, then refunded. At the
        // first hop the share is the whole donation and the split is exact.
        let mut weights: Vec<u64> = rows.iter().map(|r| r.amount).collect();
        weights.push(d.unallocated());
        weights.push(d.refunded);
        let parts = if share == d.amount {
            weights.clone()
        } else {
            split_largest_remainder(share, &weights)
        };
        let mut spent = Vec::with_capacity(rows.len());
        for (row, amount) in rows.iter().zip(parts.iter()) {
            let disb = disbursement(self.kv, &row.disbursement_id)?
                .ok_or_else(|| corrupt(format!("disbursement {}", row.disbursement_id)))?;
            let grant = match (&disb.grant_to, *amount) {
                (Some(_), a) if a > 0 => {
                    let g = donation(self.kv, &disb.disbursement_id)?.ok_or_else(|| {
                        corrupt(format!("grant donation {}", disb.disbursement_id))
                    })?;
                    Some(self.node(&g, a, depth + 1)?)
                }
                _ => None,
            };
            spent.push(TraceSpend {
                disbursement: disb,
                amount: *amount,
                grant,
            });
        }
        let n = rows.len();
        Ok(TraceNode {
            donation_id: d.donation_id,
            campaign_id: d.campaign_id.clone(),
            amount: share,
            spent,
            unspent: parts.get(n).copied().unwrap_or(0),
            refunded: parts.get(n + 1).copied().unwrap_or(0),
        })
    }
}

/// Traces donation `id` through every disbursement and grant.
pub fn trace<R: KvRead>(kv: &R, id: &Hash) -> Result<Trace, TraceError> {
    let d = donation(kv, id)?.ok_or(TraceError::UnknownDonation(*id))?;
    let mut w = Walker {
        kv,
        rows: 0,
        root: *id,
    };
    let root = w.node(&d, d.amount, 0)?;
    Ok(Trace { donation: d, root })
}

impl TraceNode {
    /// Fen that reached final recipients (not granted on), over all hops.
    pub fn final_spent(&self) -> u64 {
        self.spent
            .iter()
            .map(|s| match &s.grant {
                Some(g) => g.final_spent(),
                None => s.amount,
            })
            .sum()
    }

    /// Fen not yet spent anywhere along the way.
    pub fn total_unspent(&self) -> u64 {
        self.unspent
            + self
                .spent
                .iter()
                .filter_map(|s| s.grant.as_ref())
                .map(|g| g.total_unspent())
                .sum::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn grant_example_from_the_journeys() {
        // 50.00 yuan share of a grant whose money is 62.5% spent.
        assert_eq!(split_largest_remainder(5000, &[625, 375]), vec![3125, 1875]);
        assert_eq!(split_largest_remainder(100, &[1, 1, 1]), vec![34, 33, 33]);
        assert_eq!(split_largest_remainder(7, &[0, 0]), vec![0, 0]);
    }

    proptest! {
        #[test]
        fn parts_add_up_and_are_fair(total in 0u64..1u64 << 53,
                                     weights in proptest::collection::vec(0u64..1u64 << 40, 1..20)) {
            let parts = split_largest_remainder(total, &weights);
            let sum_w: u128 = weights.iter().map(|w| *w as u128).sum();
            prop_assert_eq!(parts.len(), weights.len());
            match (total as u128).checked_div(sum_w) {
                None => prop_assert!(parts.iter().all(|p| *p == 0)),
                Some(_) => {
                prop_assert_eq!(parts.iter().sum::<u64>(), total);
                for (p, w) in parts.iter().zip(&weights) {
                    let exact = total as u128 * *w as u128;
                    let floor = exact / sum_w;
                    prop_assert!(*p as u128 == floor || *p as u128 == floor + 1);
                }
                }
            }
        }
    }
}
