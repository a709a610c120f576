//! The pool of checked transactions waiting for a block.
//!
//! Bounded: when full it refuses new transactions with `mempool_full`
//! rather than growing. Transactions leave it when committed, or when a
//! proposer finds them invalid.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use charity_ledger::hex::Hash;
use charity_ledger::Transaction;

/// Why the pool refused a transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    /// The pool is at capacity.
    #[error("the mempool holds {0} transactions, its limit; try again shortly")]
    Full(usize),
    /// The transaction is already pending.
    #[error("transaction {0} is already pending")]
    AlreadyPending(Hash),
    /// The pool's lock was poisoned by a panic elsewhere.
    #[error("the mempool is unavailable")]
    Unavailable,
}

impl MempoolError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            MempoolError::Full(_) => "mempool_full",
            MempoolError::AlreadyPending(_) => "already_pending",
            MempoolError::Unavailable => "unavailable",
        }
    }
}

#[derive(Default)]
struct Inner {
    /// Arrival order -> id.
    order: BTreeMap<u64, Hash>,
    /// Id -> (arrival, transaction).
    txs: HashMap<Hash, (u64, Transaction)>,
    next: u64,
}

/// A bounded, ordered set of pending transactions.
pub struct Mempool {
    capacity: usize,
    inner: Mutex<Inner>,
    arrived: tokio::sync::Notify,
}

impl Mempool {
    /// An empty pool holding at most `capacity` transactions.
    pub fn new(capacity: usize) -> Self {
        Mempool {
            capacity,
            inner: Mutex::new(Inner::default()),
            arrived: tokio::sync::Notify::new(),
        }
    }

    /// Adds a checked transaction.
    pub fn insert(&self, tx: Transaction) -> Result<(), MempoolError> {
        let mut p = self.inner.lock().map_err(|_| MempoolError::Unavailable)?;
        let id = tx.id();
        if p.txs.contains_key(&id) {
            return Err(MempoolError::AlreadyPending(id));
        }
        if p.txs.len() >= self.capacity {
            return Err(MempoolError::Full(p.txs.len()));
        }
        let n = p.next;
        p.next += 1;
        p.order.insert(n, id);
        p.txs.insert(id, (n, tx));
        drop(p);
        self.arrived.notify_waiters();
        Ok(())
    }

    /// Waits until the pool holds a transaction (returns at once if it
    /// does).
    pub async fn wait_for_transaction(&self) {
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            // Register before looking, so an insert in between wakes us.
            arrived.as_mut().enable();
            if !self.is_empty() {
                return;
            }
            arrived.await;
        }
    }

    /// The pending transaction `id`.
    pub fn get(&self, id: &Hash) -> Option<Transaction> {
        let p = self.inner.lock().ok()?;
        p.txs.get(id).map(|(_, t)| t.clone())
    }

    /// The ids of those of `txs` that the pool holds exactly (same id, same
    /// signature bytes). Everything in the pool passed the stateless
    /// checks, `verify_strict` included, when it was accepted, so these
    /// signatures need not be checked again.
    pub fn verified_among(&self, txs: &[Transaction]) -> std::collections::HashSet<Hash> {
        let Ok(p) = self.inner.lock() else {
            return std::collections::HashSet::new();
        };
        txs.iter()
            .filter(|t| {
                p.txs
                    .get(&t.id())
                    .is_some_and(|(_, held)| held.sig() == t.sig())
            })
            .map(|t| t.id())
            .collect()
    }

    /// Up to `max` transactions, oldest first, left in the pool.
    pub fn peek(&self, max: usize) -> Vec<Transaction> {
        let Ok(p) = self.inner.lock() else {
            return Vec::new();
        };
        p.order
            .values()
            .take(max)
            .filter_map(|id| p.txs.get(id).map(|(_, t)| t.clone()))
            .collect()
    }

    /// Removes transactions (committed, or found invalid).
    pub fn remove(&self, ids: &[Hash]) {
        if let Ok(mut p) = self.inner.lock() {
            for id in ids {
                if let Some((n, _)) = p.txs.remove(id) {
                    p.order.remove(&n);
                }
            }
        }
    }

    /// Pending transactions.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|p| p.txs.len()).unwrap_or(0)
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use charity_ledger::dev;
    use charity_ledger::kinds::CloseCampaign;
    use charity_ledger::tx::TxKind;

    fn tx(n: u64) -> Transaction {
        dev::tx(
            "c",
            &dev::key("k"),
            n,
            TxKind::CloseCampaign(CloseCampaign {
                campaign_id: charity_ledger::ids::CampaignId::parse("x").unwrap(),
                summary: "s".into(),
            }),
        )
        .unwrap()
    }

    #[test]
    fn vouches_only_for_what_it_holds_exactly() {
        let pool = Mempool::new(10);
        pool.insert(tx(1)).unwrap();
        let resigned = Transaction::from_parts(
            tx(1).body().clone(),
            charity_ledger::Signature::from([7u8; 64]),
        )
        .unwrap();
        let known = pool.verified_among(&[tx(1), tx(2), resigned]);
        assert_eq!(known.len(), 1);
        assert!(known.contains(&tx(1).id()));
    }

    #[test]
    fn bounded_ordered_and_deduplicated() {
        let pool = Mempool::new(2);
        pool.insert(tx(1)).unwrap();
        assert_eq!(pool.insert(tx(1)).unwrap_err().code(), "already_pending");
        pool.insert(tx(2)).unwrap();
        assert_eq!(pool.insert(tx(3)).unwrap_err().code(), "mempool_full");
        let ids: Vec<_> = pool.peek(10).iter().map(|t| t.id()).collect();
        assert_eq!(ids, vec![tx(1).id(), tx(2).id()]);
        pool.remove(&[tx(1).id()]);
        pool.insert(tx(3)).unwrap();
        let ids: Vec<_> = pool.peek(10).iter().map(|t| t.id()).collect();
        assert_eq!(ids, vec![tx(2).id(), tx(3).id()]);
    }
}
