//! Uncommitted changes on top of committed state.
//!
//! Execution reads through the overlay (which caches decoded records) and
//! writes only into it; [`Overlay::into_writes`] turns the changes into the
//! list of key writes the store commits atomically. Dropping an overlay
//! discards everything, which is how a proposal is checked without being
//! applied.

use std::collections::BTreeMap;
use std::ops::Bound;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::kv::{Entry, KvError, KvRead, Write};

struct Slot<V> {
    value: Option<V>,
    dirty: bool,
}

/// Decoded records of one table, read from the store or written by execution.
pub struct Table<V> {
    slots: BTreeMap<Vec<u8>, Slot<V>>,
}

impl<V> Default for Table<V> {
    fn default() -> Self {
        Table {
            slots: BTreeMap::new(),
        }
    }
}

fn printable(key: &[u8]) -> String {
    key.iter()
        .map(|b| {
            if b.is_ascii_graphic() {
                char::from(*b).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect()
}

/// Decodes a stored JSON record, naming the key on failure.
pub fn decode_record<V: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<V, KvError> {
    serde_json::from_slice(bytes).map_err(|e| KvError::Corrupt {
        key: printable(key),
        reason: e.to_string(),
    })
}

/// Encodes a record for storage.
pub fn encode_record<V: Serialize>(v: &V) -> Vec<u8> {
    // Records are plain data (strings, integers, maps with string keys):
    // serialising them cannot fail, and an empty value would be caught as
    // corrupt on the next read rather than silently accepted.
    serde_json::to_vec(v).unwrap_or_default()
}

impl<V: Serialize + DeserializeOwned + Clone> Table<V> {
    fn load<R: KvRead>(&mut self, kv: &R, key: &[u8]) -> Result<(), KvError> {
        if !self.slots.contains_key(key) {
            let value = match kv.get(key)? {
                Some(b) => Some(decode_record(key, &b)?),
                None => None,
            };
            self.slots.insert(
                key.to_vec(),
                Slot {
                    value,
                    dirty: false,
                },
            );
        }
        Ok(())
    }

    /// The record under `key`.
    pub fn get<R: KvRead>(&mut self, kv: &R, key: &[u8]) -> Result<Option<&V>, KvError> {
        self.load(kv, key)?;
        Ok(self.slots.get(key).and_then(|s| s.value.as_ref()))
    }

    /// The record under `key`, to change.
    pub fn get_mut<R: KvRead>(&mut self, kv: &R, key: &[u8]) -> Result<Option<&mut V>, KvError> {
        self.load(kv, key)?;
        Ok(self.slots.get_mut(key).and_then(|s| {
            s.dirty = true;
            s.value.as_mut()
        }))
    }

    /// Stores `v` under `key`.
    pub fn put(&mut self, key: Vec<u8>, v: V) {
        self.slots.insert(
            key,
            Slot {
                value: Some(v),
                dirty: true,
            },
        );
    }

    /// Deletes the record under `key`.
    pub fn delete(&mut self, key: Vec<u8>) {
        self.slots.insert(
            key,
            Slot {
                value: None,
                dirty: true,
            },
        );
    }

    fn writes(self, out: &mut Vec<Write>) {
        for (k, s) in self.slots {
            if s.dirty {
                out.push((k, s.value.as_ref().map(encode_record)));
            }
        }
    }
}

/// Raw byte entries written by execution (indexes, queues, stored txs).
#[derive(Default)]
pub struct RawWrites {
    map: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl RawWrites {
    /// Stores `v` under `key`.
    pub fn put(&mut self, key: Vec<u8>, v: Vec<u8>) {
        self.map.insert(key, Some(v));
    }

    /// Deletes `key`.
    pub fn delete(&mut self, key: Vec<u8>) {
        self.map.insert(key, None);
    }

    /// The value under `key`, as changed here or else as committed.
    pub fn get<R: KvRead>(&self, kv: &R, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        match self.map.get(key) {
            Some(v) => Ok(v.clone()),
            None => kv.get(key),
        }
    }

    /// Whether `key` holds a value, as changed here or else as committed.
    pub fn contains<R: KvRead>(&self, kv: &R, key: &[u8]) -> Result<bool, KvError> {
        match self.map.get(key) {
            Some(v) => Ok(v.is_some()),
            None => kv.contains(key),
        }
    }

    /// The first live entry with `start <= key < end`, merging committed
    /// entries with the changes made here.
    pub fn first_in<R: KvRead>(
        &self,
        kv: &R,
        start: &[u8],
        end: &[u8],
    ) -> Result<Option<Entry>, KvError> {
        if start >= end {
            return Ok(None);
        }
        // First committed entry not deleted here.
        let mut from = start.to_vec();
        let committed = loop {
            match kv.first_in(&from, end)? {
                None => break None,
                Some((k, v)) => {
                    if let Some(None) = self.map.get(&k) {
                        from = k;
                        from.push(0);
                        continue;
                    }
                    break Some((k, v));
                }
            }
        };
        let changed = self
            .map
            .range::<[u8], _>((Bound::Included(start), Bound::Excluded(end)))
            .find_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())));
        Ok(match (committed, changed) {
            (None, x) | (x, None) => x,
            (Some(c), Some(o)) => {
                if o.0 <= c.0 {
                    Some(o)
                } else {
                    Some(c)
                }
            }
        })
    }

    fn writes(self, out: &mut Vec<Write>) {
        out.extend(self.map);
    }
}

/// All uncommitted changes of a block being executed.
#[derive(Default)]
pub struct Overlay {
    /// Organisations.
    pub orgs: Table<crate::records::OrgRecord>,
    /// Key owners.
    pub key_owners: Table<crate::org_id::OrgId>,
    /// Campaigns.
    pub campaigns: Table<crate::records::CampaignRecord>,
    /// Donations.
    pub donations: Table<crate::records::DonationRecord>,
    /// Disbursements.
    pub disbursements: Table<crate::records::DisbursementRecord>,
    /// Everything else.
    pub raw: RawWrites,
}

impl Overlay {
    /// The writes that commit these changes, in key order within each table.
    pub fn into_writes(self) -> Vec<Write> {
        let mut out = Vec::with_capacity(
            self.orgs.slots.len()
                + self.key_owners.slots.len()
                + self.campaigns.slots.len()
                + self.donations.slots.len()
                + self.disbursements.slots.len()
                + self.raw.map.len(),
        );
        self.orgs.writes(&mut out);
        self.key_owners.writes(&mut out);
        self.campaigns.writes(&mut out);
        self.donations.writes(&mut out);
        self.disbursements.writes(&mut out);
        self.raw.writes(&mut out);
        out
    }
}
