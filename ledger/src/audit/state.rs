//! The state a store audit replays, held in two parts.
//!
//! Execution reads only a few tables (organisations, key owners,
//! campaigns, donations, the open-donation queues and the transaction
//! rows); those are kept in an ordered map it reads through. Everything
//! else it only writes (indexes, allocations, headers, commits and the
//! like): most entries of a long chain, kept for the comparison with the
//! store and nothing else. Those go to an append-only log, a few bytes of
//! bookkeeping per entry instead of a place in a tree of millions, and are
//! sorted once when the replay is done. A logged value longer than
//! [`DIGEST_OVER`] bytes (headers, commits, block bodies, log nodes,
//! disbursement and allocation records) is held as its SHA-256, which the
//! comparison checks the stored value against.
//!
//! The transaction rows, which execution reads by id only (is this id
//! committed, and where), are kept in a hash map, and left out of the
//! finished state: the audit compares each row with the store's as its
//! block is replayed. The donations, also read by id only and most of the
//! read tables' entries, are kept in a hash map too (an insert into an
//! ordered map of a million random ids costs several cache misses), and
//! join the ordered map, in one sorted pass, when the replay is done.
//!
//! A read of a log table, or a range read of the transaction rows or the
//! donations, fails loudly, so a rule that starts making one cannot go
//! unnoticed by an audit that does not hold what it reads.

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::kv::{Entry, KvError, KvRead, MemKv, Write};
use crate::schema;

/// The tables execution reads.
const READ_TABLES: [u8; 6] = [
    schema::TX,
    schema::ORG,
    schema::KEY_OWNER,
    schema::CAMPAIGN,
    schema::DONATION,
    schema::OPEN_DONATION,
];

fn is_read(key: &[u8]) -> bool {
    key.first().is_some_and(|t| READ_TABLES.contains(t))
}

/// The key of a transaction row or a donation: the table, then a 32-byte
/// id.
type TxKey = [u8; 33];

fn tx_key(key: &[u8]) -> Option<TxKey> {
    TxKey::try_from(key).ok().filter(|k| k[0] == schema::TX)
}

fn donation_key(key: &[u8]) -> Option<TxKey> {
    TxKey::try_from(key)
        .ok()
        .filter(|k| k[0] == schema::DONATION)
}

/// The tables whose entries execution reads by exact key only.
const BY_ID_TABLES: [u8; 2] = [schema::TX, schema::DONATION];

/// At most this many transaction rows are made room for up front, whatever
/// the store claims.
pub(super) const MAX_RESERVED_TXS: usize = 1 << 24;

/// Log entries made room for per transaction: a donation logs two index
/// entries, a disbursement its record, allocations and indexes.
const LOGGED_PER_TX: usize = 4;

/// A replayed state: the transaction rows, the other tables execution
/// reads, and a log of the rest.
#[derive(Default)]
pub(super) struct SplitState {
    txs: HashMap<TxKey, Box<[u8]>>,
    donations: HashMap<TxKey, Vec<u8>>,
    read: MemKv,
    log: WriteLog,
}

impl SplitState {
    /// An empty state with room for about `txs` transaction rows, as many
    /// donations (at most one a transaction), and their writes to the log.
    /// Room that is not used costs address space only; room that runs out
    /// is grown (and copied) as it is needed.
    pub(super) fn with_capacity(txs: usize) -> Self {
        let txs = txs.min(MAX_RESERVED_TXS);
        SplitState {
            txs: HashMap::with_capacity(txs),
            donations: HashMap::with_capacity(txs),
            read: MemKv::new(),
            log: WriteLog {
                chunks: Vec::new(),
                slots: Vec::with_capacity(txs.saturating_mul(LOGGED_PER_TX)),
            },
        }
    }

    /// Applies one block's writes.
    pub(super) fn apply(&mut self, writes: Vec<Write>) {
        let mut read = Vec::new();
        for (k, v) in writes {
            if let Some(tx) = tx_key(&k) {
                match v {
                    Some(v) => self.txs.insert(tx, v.into_boxed_slice()),
                    None => self.txs.remove(&tx),
                };
            } else if let Some(d) = donation_key(&k) {
                match v {
                    Some(v) => self.donations.insert(d, crate::kv::exact(v)),
                    None => self.donations.remove(&d),
                };
            } else if is_read(&k) {
                read.push((k, v));
            } else {
                self.log.push(&k, v.as_deref());
            }
        }
        self.read.apply(read);
    }

    /// The read tables.
    pub(super) fn read(&self) -> &MemKv {
        &self.read
    }

    /// The state to compare, without the transaction rows (compared as
    /// their blocks were replayed): the read tables, and the log sorted by
    /// key with the last write of each key kept.
    pub(super) fn finish(self) -> (MemKv, SortedLog) {
        use rayon::prelude::*;
        let SplitState {
            txs,
            donations,
            mut read,
            log,
        } = self;
        drop(txs);
        let mut donations: Vec<(TxKey, Vec<u8>)> = donations.into_iter().collect();
        donations.par_sort_unstable_by(|a, b| a.0.cmp(&b.0));
        read.append_sorted(donations.into_iter().map(|(k, v)| (k.to_vec(), v)));
        (read, log.sort())
    }

    fn readable(&self, key: &[u8]) -> Result<(), KvError> {
        if is_read(key) {
            Ok(())
        } else {
            Err(KvError::Io(format!(
                "the audit keeps {} for comparison only, not for execution to read",
                schema::describe(key)
            )))
        }
    }

    /// A range read must stay inside one read table, other than the
    /// transaction rows and the donations.
    fn readable_range(&self, start: &[u8], end: &[u8]) -> Result<(), KvError> {
        self.readable(start)?;
        if start.first().is_some_and(|t| BY_ID_TABLES.contains(t)) {
            return Err(KvError::Io(format!(
                "the audit keeps {} for reads by id only",
                schema::describe(start)
            )));
        }
        let table_end = start.first().map(|t| [t.saturating_add(1)]);
        if table_end.is_some_and(|e| end > &e[..]) {
            return Err(KvError::Io(format!(
                "the audit reads one table at a time, not from {} on",
                schema::describe(start)
            )));
        }
        Ok(())
    }
}

impl KvRead for SplitState {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        self.readable(key)?;
        if let Some(tx) = tx_key(key) {
            return Ok(self.txs.get(&tx).map(|v| v.to_vec()));
        }
        if let Some(d) = donation_key(key) {
            return Ok(self.donations.get(&d).cloned());
        }
        self.read.get(key)
    }
    fn contains(&self, key: &[u8]) -> Result<bool, KvError> {
        self.readable(key)?;
        if let Some(tx) = tx_key(key) {
            return Ok(self.txs.contains_key(&tx));
        }
        if let Some(d) = donation_key(key) {
            return Ok(self.donations.contains_key(&d));
        }
        self.read.contains(key)
    }
    fn first_in(&self, start: &[u8], end: &[u8]) -> Result<Option<Entry>, KvError> {
        self.readable_range(start, end)?;
        self.read.first_in(start, end)
    }
    fn last_in(&self, start: &[u8], end: &[u8]) -> Result<Option<Entry>, KvError> {
        self.readable_range(start, end)?;
        self.read.last_in(start, end)
    }
    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Entry>, KvError> {
        self.readable_range(start, end)?;
        self.read.scan(start, end, limit)
    }
}

/// Bytes per chunk of the log: large enough that chunks are few, small
/// enough that a half-filled last one wastes little.
const CHUNK: usize = 16 << 20;

/// Logged values longer than this are held as their SHA-256.
pub(super) const DIGEST_OVER: usize = 64;

/// A replayed value as the audit holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Replayed<'a> {
    /// The value.
    Bytes(&'a [u8]),
    /// The SHA-256 of a value longer than [`DIGEST_OVER`] bytes.
    Digest(&'a [u8]),
}

impl Replayed<'_> {
    /// Whether `stored` is the replayed value.
    pub(super) fn matches(&self, stored: &[u8]) -> bool {
        match *self {
            Replayed::Bytes(v) => v == stored,
            Replayed::Digest(d) => {
                stored.len() > DIGEST_OVER && crate::crypto::sha256(stored).as_bytes() == d
            }
        }
    }
}

/// What a slot holds after its key.
#[derive(Clone, Copy)]
enum Held {
    /// A value of this many bytes.
    Bytes(usize),
    /// The 32-byte SHA-256 of a longer value.
    Digest,
    /// Nothing: the key was deleted.
    Deleted,
}

/// Where one write is: `key || value or digest` at `at` in chunk `chunk`.
#[derive(Clone, Copy)]
struct Slot {
    /// The key's first eight bytes (zero-padded), big-endian: sorting
    /// compares these first, and reaches into the chunks only on a tie.
    prefix: u64,
    chunk: usize,
    at: usize,
    key_len: usize,
    held: Held,
}

/// Writes in the order they were made.
#[derive(Default)]
struct WriteLog {
    chunks: Vec<Vec<u8>>,
    slots: Vec<Slot>,
}

impl WriteLog {
    fn push(&mut self, key: &[u8], value: Option<&[u8]>) {
        let digest;
        let (held, value) = match value {
            None => (Held::Deleted, &[][..]),
            Some(v) if v.len() > DIGEST_OVER => {
                digest = crate::crypto::sha256(v);
                (Held::Digest, &digest.as_bytes()[..])
            }
            Some(v) => (Held::Bytes(v.len()), v),
        };
        let need = key.len() + value.len();
        let full = self
            .chunks
            .last()
            .is_none_or(|c| c.capacity() - c.len() < need);
        if full {
            self.chunks.push(Vec::with_capacity(CHUNK.max(need)));
        }
        let chunk = self.chunks.len() - 1;
        // A chunk was just pushed if there was none; were one missing, the
        // lost write would show as a difference, not pass unseen.
        let Some(bytes) = self.chunks.last_mut() else {
            return;
        };
        let at = bytes.len();
        bytes.extend_from_slice(key);
        bytes.extend_from_slice(value);
        let mut first = [0u8; 8];
        for (f, k) in first.iter_mut().zip(key) {
            *f = *k;
        }
        self.slots.push(Slot {
            prefix: u64::from_be_bytes(first),
            chunk,
            at,
            key_len: key.len(),
            held,
        });
    }

    /// Sorts by key (on all cores), keeps the last write of each key, and
    /// drops deletions.
    fn sort(self) -> SortedLog {
        use rayon::prelude::*;
        let WriteLog { chunks, mut slots } = self;
        let log = SortedLog {
            chunks,
            slots: Vec::new(),
        };
        // Stable: writes of one key stay in the order they were made.
        // Padding with zeros keeps the order: two keys whose padded
        // prefixes differ compare as their prefixes do.
        slots.par_sort_by(|a, b| {
            a.prefix
                .cmp(&b.prefix)
                .then_with(|| log.key(a).cmp(log.key(b)))
        });
        // Of the writes of one key (now side by side), the last stays, in
        // the place of the first.
        slots.dedup_by(|later, kept| {
            let same = later.prefix == kept.prefix && log.key(later) == log.key(kept);
            if same {
                *kept = *later;
            }
            same
        });
        slots.retain(|s| !matches!(s.held, Held::Deleted));
        SortedLog {
            chunks: log.chunks,
            slots,
        }
    }
}

/// The log's entries in key order, one per key.
#[derive(Default)]
pub(super) struct SortedLog {
    chunks: Vec<Vec<u8>>,
    slots: Vec<Slot>,
}

impl SortedLog {
    fn key(&self, s: &Slot) -> &[u8] {
        self.chunks
            .get(s.chunk)
            .and_then(|c| c.get(s.at..s.at + s.key_len))
            .unwrap_or_default()
    }

    fn value(&self, s: &Slot) -> Replayed<'_> {
        let from = s.at + s.key_len;
        let len = match s.held {
            Held::Bytes(n) => n,
            Held::Digest => 32,
            Held::Deleted => 0,
        };
        let bytes = self
            .chunks
            .get(s.chunk)
            .and_then(|c| c.get(from..from.saturating_add(len)))
            .unwrap_or_default();
        match s.held {
            Held::Digest => Replayed::Digest(bytes),
            Held::Bytes(_) | Held::Deleted => Replayed::Bytes(bytes),
        }
    }

    /// Number of entries.
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The entries with `start <= key < end` (`None`: unbounded), in key
    /// order.
    pub(super) fn range<'a>(
        &'a self,
        start: Option<&[u8]>,
        end: Option<&[u8]>,
    ) -> impl Iterator<Item = (&'a [u8], Replayed<'a>)> + 'a {
        let from = start.map_or(0, |s| self.slots.partition_point(|x| self.key(x) < s));
        let to = end.map_or(self.slots.len(), |e| {
            self.slots.partition_point(|x| self.key(x) < e)
        });
        self.slots
            .get(from..to.max(from))
            .unwrap_or_default()
            .iter()
            .map(|s| (self.key(s), self.value(s)))
    }
}

/// Two iterators of entries in key order, merged into one in key order.
pub(super) struct Merged<A: Iterator, B: Iterator> {
    a: std::iter::Peekable<A>,
    b: std::iter::Peekable<B>,
}

impl<'x, V, A, B> Merged<A, B>
where
    A: Iterator<Item = (&'x [u8], V)>,
    B: Iterator<Item = (&'x [u8], V)>,
{
    pub(super) fn new(a: A, b: B) -> Self {
        Merged {
            a: a.peekable(),
            b: b.peekable(),
        }
    }
}

impl<'x, V, A, B> Iterator for Merged<A, B>
where
    A: Iterator<Item = (&'x [u8], V)>,
    B: Iterator<Item = (&'x [u8], V)>,
{
    type Item = (&'x [u8], V);
    fn next(&mut self) -> Option<Self::Item> {
        let take_a = match (self.a.peek(), self.b.peek()) {
            (Some(x), Some(y)) => x.0.cmp(y.0) != Ordering::Greater,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if take_a {
            self.a.next()
        } else {
            self.b.next()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The entries of the finished state, each value as one map holds
    /// it, or its digest where the log holds that.
    fn entries<'a>(
        read: &'a MemKv,
        log: &'a SortedLog,
        start: Option<&[u8]>,
        end: Option<&[u8]>,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let read = read.range(start, end).map(|(k, v)| (k, Replayed::Bytes(v)));
        Merged::new(read, log.range(start, end))
            .map(|(k, v)| match v {
                Replayed::Bytes(v) | Replayed::Digest(v) => (k.to_vec(), v.to_vec()),
            })
            .collect()
    }

    /// `entries` as [`entries`] shows them.
    fn as_held(entries: impl Iterator<Item = (Vec<u8>, Vec<u8>)>) -> Vec<(Vec<u8>, Vec<u8>)> {
        entries
            .map(|(k, v)| {
                let logged = !is_read(&k) && v.len() > DIGEST_OVER;
                let v = if logged {
                    crate::crypto::sha256(&v).as_bytes().to_vec()
                } else {
                    v
                };
                (k, v)
            })
            .collect()
    }

    proptest! {
        /// Whatever the writes, the split state holds what one map holds.
        #[test]
        fn the_split_state_holds_what_one_map_holds(
            blocks in prop::collection::vec(
                prop::collection::vec(
                    (
                        prop::sample::select(vec![schema::TX, schema::DONATION, schema::HEADER, schema::EVIDENCE, schema::META]),
                        prop::collection::vec(0u8..4, 0..3),
                        any::<bool>(),
                        prop::option::of(prop::collection::vec(any::<u8>(), 0..80)),
                    ),
                    0..20,
                ),
                0..6,
            ),
            lo in prop::option::of(prop::collection::vec(any::<u8>(), 0..3)),
            hi in prop::option::of(prop::collection::vec(any::<u8>(), 0..3)),
        ) {
            let mut whole = MemKv::new();
            let mut split = SplitState::default();
            for block in blocks {
                let writes: Vec<Write> = block
                    .into_iter()
                    .map(|(t, rest, fill, v)| {
                        // Transaction rows and donations have 32-byte ids;
                        // other keys in those tables are kept with the
                        // read tables.
                        let id = if (t == schema::TX || t == schema::DONATION) && fill {
                            vec![rest.first().copied().unwrap_or(0); 32]
                        } else {
                            rest
                        };
                        ([vec![t], id].concat(), v)
                    })
                    .collect();
                whole.apply(writes.clone());
                split.apply(writes);
            }
            // Every transaction row, and every entry of the other tables,
            // reads back by key as one map has it (the log tables refuse).
            for (k, v) in whole.entries().filter(|(k, _)| is_read(k)) {
                prop_assert_eq!(split.get(k).unwrap(), Some(v.to_vec()));
                prop_assert!(split.contains(k).unwrap());
            }
            // An id never written reads as absent.
            let unknown = [schema::TX; 33];
            prop_assert_eq!(split.get(&unknown).unwrap(), whole.get(&unknown).unwrap());
            // The rest, finished, is what one map holds.
            let (read, log) = split.finish();
            let kept = |(k, _): &(&[u8], &[u8])| tx_key(k).is_none();
            let all = as_held(whole.entries().filter(kept).map(|(k, v)| (k.to_vec(), v.to_vec())));
            prop_assert_eq!(read.len() + log.len(), all.len());
            prop_assert_eq!(entries(&read, &log, None, None), all);
            let (lo, hi) = (lo.as_deref(), hi.as_deref());
            let want = as_held(whole.range(lo, hi).filter(kept).map(|(k, v)| (k.to_vec(), v.to_vec())));
            prop_assert_eq!(entries(&read, &log, lo, hi), want);
        }
    }

    #[test]
    fn execution_reads_only_what_the_split_state_keeps_for_it() {
        let mut s = SplitState::default();
        let donation = vec![schema::DONATION, 1];
        let evidence = vec![schema::EVIDENCE, 1];
        s.apply(vec![
            (donation.clone(), Some(b"d".to_vec())),
            (evidence.clone(), Some(b"e".to_vec())),
        ]);
        assert_eq!(s.get(&donation).unwrap(), Some(b"d".to_vec()));
        let err = s.get(&evidence).unwrap_err();
        assert!(err.to_string().contains("for comparison only"), "{err}");
        assert!(s.contains(&evidence).is_err());
        // A range that leaves its read table is refused too, and so is
        // any range over the transaction rows.
        assert!(s.first_in(&[schema::TX], &[schema::TX + 1]).is_err());
        assert!(s
            .first_in(&[schema::OPEN_DONATION], &[schema::OPEN_DONATION + 1])
            .is_ok());
        assert!(s
            .first_in(&[schema::OPEN_DONATION], &[schema::EVIDENCE])
            .is_err());
        assert!(s
            .scan(&[schema::EVIDENCE], &[schema::EVIDENCE + 1], 9)
            .is_err());
        // Donations are read by id: a donation id reads back, and a range
        // over the table is refused.
        let mut id = vec![schema::DONATION];
        id.extend([7u8; 32]);
        s.apply(vec![(id.clone(), Some(b"record".to_vec()))]);
        assert_eq!(s.get(&id).unwrap(), Some(b"record".to_vec()));
        assert!(s.contains(&id).unwrap());
        let err = s
            .first_in(&[schema::DONATION], &[schema::DONATION + 1])
            .unwrap_err();
        assert!(err.to_string().contains("by id only"), "{err}");
    }

    #[test]
    fn a_value_larger_than_a_chunk_gets_a_chunk_of_its_own() {
        let mut s = SplitState::default();
        let big = vec![7u8; CHUNK + 1];
        s.apply(vec![
            (vec![schema::HEADER, 2], Some(big.clone())),
            (vec![schema::HEADER, 1], Some(b"small".to_vec())),
        ]);
        let (read, log) = s.finish();
        let got: Vec<_> = log.range(None, None).map(|(_, v)| v).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], Replayed::Bytes(b"small"));
        assert!(got[1].matches(&big));
        assert!(read.is_empty());
    }

    #[test]
    fn a_long_value_is_held_as_its_digest_and_checked_against_it() {
        let mut s = SplitState::default();
        let long = vec![1u8; DIGEST_OVER + 1];
        let edge = vec![2u8; DIGEST_OVER];
        s.apply(vec![
            (vec![schema::HEADER, 1], Some(long.clone())),
            (vec![schema::HEADER, 2], Some(edge.clone())),
        ]);
        let (_, log) = s.finish();
        let got: Vec<_> = log.range(None, None).map(|(_, v)| v).collect();
        assert!(matches!(got[0], Replayed::Digest(d) if d.len() == 32));
        assert!(got[0].matches(&long));
        let mut changed = long.clone();
        changed[DIGEST_OVER] = 9;
        assert!(!got[0].matches(&changed));
        assert!(!got[0].matches(crate::crypto::sha256(&long).as_bytes()));
        assert_eq!(got[1], Replayed::Bytes(&edge));
    }
}
