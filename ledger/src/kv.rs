//! The key-value view the state machine reads through.
//!
//! Execution reads committed state through [`KvRead`] and never writes to
//! it: its changes collect in an overlay and come out as a list of writes,
//! which the store applies in one atomic batch. The sled store and the
//! in-memory [`MemKv`] (tests, dry runs) both implement it.

use std::collections::BTreeMap;
use std::ops::Bound;

/// A storage failure while reading state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// The backend failed.
    #[error("storage I/O: {0}")]
    Io(String),
    /// A stored value does not decode.
    #[error("stored value under {key} is corrupt: {reason}")]
    Corrupt {
        /// The key, printable.
        key: String,
        /// Why.
        reason: String,
    },
}

impl KvError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            KvError::Io(_) => "storage_io",
            KvError::Corrupt { .. } => "storage_corrupt",
        }
    }
}

/// A key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// Ordered byte-keyed reads.
pub trait KvRead {
    /// The value under `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError>;
    /// Whether `key` holds a value (without copying it out).
    fn contains(&self, key: &[u8]) -> Result<bool, KvError> {
        Ok(self.get(key)?.is_some())
    }
    /// The first entry with `start <= key < end`.
    fn first_in(&self, start: &[u8], end: &[u8]) -> Result<Option<Entry>, KvError>;
    /// The last entry with `start <= key < end`.
    fn last_in(&self, start: &[u8], end: &[u8]) -> Result<Option<Entry>, KvError>;
    /// Up to `limit` entries with `start <= key < end`, in order.
    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Entry>, KvError>;
}

/// One write of a committed block: a value, or a deletion.
pub type Write = (Vec<u8>, Option<Vec<u8>>);

/// Keys are held inline up to this many bytes, so that a lookup in a map
/// of millions of entries compares keys inside the tree's own nodes
/// instead of following a pointer per key. It fits the keys of the tables
/// execution reads (hash-keyed rows take 33 bytes, an open-donation queue
/// entry 27 with a short campaign id and line); longer keys (allocation
/// rows, the donor index, long campaign ids or line names) are held on the
/// heap.
const INLINE_KEY: usize = 40;

/// A key as [`MemKv`] holds it.
type MemKey = smallvec::SmallVec<[u8; INLINE_KEY]>;

/// `v`, in an allocation of its own length if it holds much more: a
/// value encoded into a growing buffer (a JSON record) may hold up to
/// twice its length, and a map holds millions of them. A copy, not
/// `shrink_to_fit`: an allocator may shrink a block in place and keep
/// its size class.
pub(crate) fn exact(v: Vec<u8>) -> Vec<u8> {
    if v.capacity() - v.len() > v.len() / 8 {
        v.as_slice().to_vec()
    } else {
        v
    }
}

/// An in-memory key-value map.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemKv {
    map: BTreeMap<MemKey, Vec<u8>>,
}

impl MemKv {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies writes.
    pub fn apply(&mut self, writes: impl IntoIterator<Item = Write>) {
        for (k, v) in writes {
            match v {
                Some(v) => {
                    self.map.insert(MemKey::from_slice(&k), exact(v));
                }
                None => {
                    self.map.remove(k.as_slice());
                }
            }
        }
    }

    /// Adds `entries` (best in key order) in one pass: the map is rebuilt
    /// from two sorted sequences instead of searched once per entry. An
    /// entry whose key is held replaces the value held.
    pub(crate) fn append_sorted(&mut self, entries: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>) {
        let mut other: BTreeMap<MemKey, Vec<u8>> = entries
            .into_iter()
            .map(|(k, v)| (MemKey::from_slice(&k), v))
            .collect();
        self.map.append(&mut other);
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every entry, in key order.
    pub fn entries(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.map.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    /// The entries with `start <= key < end` (`None`: unbounded), in key
    /// order.
    pub fn range<'a>(
        &'a self,
        start: Option<&[u8]>,
        end: Option<&[u8]>,
    ) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
        // An empty or reversed range yields nothing (BTreeMap would panic).
        let (lo, hi) = match (start, end) {
            (Some(s), Some(e)) if s >= e => (Bound::Included(s), Bound::Excluded(s)),
            _ => (
                start.map_or(Bound::Unbounded, Bound::Included),
                end.map_or(Bound::Unbounded, Bound::Excluded),
            ),
        };
        self.map
            .range::<[u8], _>((lo, hi))
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
    }
}

fn range<'a>(
    map: &'a BTreeMap<MemKey, Vec<u8>>,
    start: &[u8],
    end: &[u8],
) -> impl DoubleEndedIterator<Item = (&'a MemKey, &'a Vec<u8>)> {
    let ok = start < end;
    map.range::<[u8], _>((
        Bound::Included(start),
        Bound::Excluded(if ok { end } else { start }),
    ))
}

impl KvRead for MemKv {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.map.get(key).cloned())
    }
    fn contains(&self, key: &[u8]) -> Result<bool, KvError> {
        Ok(self.map.contains_key(key))
    }
    fn first_in(&self, start: &[u8], end: &[u8]) -> Result<Option<Entry>, KvError> {
        Ok(range(&self.map, start, end)
            .next()
            .map(|(k, v)| (k.to_vec(), v.clone())))
    }
    fn last_in(&self, start: &[u8], end: &[u8]) -> Result<Option<Entry>, KvError> {
        Ok(range(&self.map, start, end)
            .next_back()
            .map(|(k, v)| (k.to_vec(), v.clone())))
    }
    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Entry>, KvError> {
        Ok(range(&self.map, start, end)
            .take(limit)
            .map(|(k, v)| (k.to_vec(), v.clone()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_is_half_open_and_empty_when_reversed() {
        let mut m = MemKv::new();
        m.apply((1u8..=5).map(|i| (vec![i], Some(vec![i]))));
        let keys = |s: Option<&[u8]>, e: Option<&[u8]>| -> Vec<u8> {
            m.range(s, e).map(|(k, _)| k[0]).collect()
        };
        assert_eq!(keys(None, None), vec![1, 2, 3, 4, 5]);
        assert_eq!(keys(Some(&[2]), Some(&[4])), vec![2, 3]);
        assert_eq!(keys(None, Some(&[3])), vec![1, 2]);
        assert_eq!(keys(Some(&[4]), None), vec![4, 5]);
        assert_eq!(keys(Some(&[3]), Some(&[3])), Vec::<u8>::new());
        assert_eq!(keys(Some(&[4]), Some(&[2])), Vec::<u8>::new());
    }

    #[test]
    fn contains_agrees_with_get() {
        let mut m = MemKv::new();
        m.apply([(vec![1], Some(vec![9])), (vec![2], Some(vec![]))]);
        m.apply([(vec![1], None)]);
        for k in [[1u8], [2], [3]] {
            assert_eq!(m.contains(&k).unwrap(), m.get(&k).unwrap().is_some());
        }
        assert!(m.contains(&[2]).unwrap());
    }
}
