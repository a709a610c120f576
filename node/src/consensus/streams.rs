//! Reassembling streamed proposals. A proposer publishes its block as a
//! stream of parts (init, data pieces, fin) that may arrive out of order,
//! early (for a height this node has not started) or never. Streams are
//! kept per (peer, stream id), bounded in number and size, and handed over
//! whole once every sequence number up to the end marker has arrived.

use std::collections::{BTreeMap, HashMap, VecDeque};

use bytes::Bytes;

use malachitebft_app_channel::app::streaming::{StreamContent, StreamMessage};
use malachitebft_app_channel::app::types::PeerId;

use super::context::ProposalPart;

/// Streams kept at once; the oldest is dropped beyond this.
const MAX_STREAMS: usize = 256;
/// Parts in one stream, at most.
const MAX_PARTS: u64 = 4_096;

#[derive(Default)]
struct Partial {
    parts: BTreeMap<u64, ProposalPart>,
    end: Option<u64>,
}

/// Streams being received.
#[derive(Default)]
pub struct Streams {
    open: HashMap<(PeerId, Bytes), Partial>,
    age: VecDeque<(PeerId, Bytes)>,
}

impl Streams {
    /// Adds a message; returns the whole stream's parts, in order, once
    /// it is complete. Malformed streams (too many parts, a sequence past
    /// the end) are dropped.
    pub fn insert(
        &mut self,
        from: PeerId,
        msg: StreamMessage<ProposalPart>,
    ) -> Option<Vec<ProposalPart>> {
        let key = (from, msg.stream_id.to_bytes());
        if msg.sequence >= MAX_PARTS {
            self.drop_stream(&key);
            return None;
        }
        if !self.open.contains_key(&key) {
            if self.age.len() >= MAX_STREAMS {
                if let Some(oldest) = self.age.pop_front() {
                    self.open.remove(&oldest);
                }
            }
            self.age.push_back(key.clone());
        }
        let s = self.open.entry(key.clone()).or_default();
        match msg.content {
            StreamContent::Data(p) => {
                if s.end.is_some_and(|e| msg.sequence >= e) {
                    self.drop_stream(&key);
                    return None;
                }
                s.parts.insert(msg.sequence, p);
            }
            StreamContent::Fin => {
                if s.parts
                    .keys()
                    .next_back()
                    .is_some_and(|last| *last >= msg.sequence)
                {
                    self.drop_stream(&key);
                    return None;
                }
                s.end = Some(msg.sequence);
            }
        }
        let complete = s
            .end
            .is_some_and(|end| s.parts.len() as u64 == end && s.parts.keys().copied().eq(0..end));
        if !complete {
            return None;
        }
        let done = self.open.remove(&key)?;
        self.age.retain(|k| k != &key);
        Some(done.parts.into_values().collect())
    }

    fn drop_stream(&mut self, key: &(PeerId, Bytes)) {
        self.open.remove(key);
        self.age.retain(|k| k != key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use malachitebft_app_channel::app::streaming::StreamId;

    fn peer() -> PeerId {
        let mut seed = [1u8; 32];
        let k =
            malachitebft_app_channel::app::types::Keypair::ed25519_from_bytes(&mut seed).unwrap();
        PeerId::from_bytes(&k.public().to_peer_id().to_bytes()).unwrap()
    }

    fn msg(seq: u64, data: Option<&[u8]>) -> StreamMessage<ProposalPart> {
        StreamMessage::new(
            StreamId::new(Bytes::from_static(b"h1r0")),
            seq,
            match data {
                Some(d) => StreamContent::Data(ProposalPart::Data(d.to_vec())),
                None => StreamContent::Fin,
            },
        )
    }

    #[test]
    fn out_of_order_parts_make_a_whole_stream_once() {
        let mut s = Streams::default();
        let p = peer();
        assert!(s.insert(p, msg(2, None)).is_none());
        assert!(s.insert(p, msg(1, Some(b"b"))).is_none());
        let whole = s.insert(p, msg(0, Some(b"a"))).unwrap();
        assert_eq!(
            whole,
            vec![
                ProposalPart::Data(b"a".to_vec()),
                ProposalPart::Data(b"b".to_vec())
            ]
        );
        // A late duplicate starts nothing complete.
        assert!(s.insert(p, msg(1, Some(b"b"))).is_none());
    }

    #[test]
    fn parts_past_the_end_drop_the_stream() {
        let mut s = Streams::default();
        let p = peer();
        assert!(s.insert(p, msg(1, None)).is_none());
        assert!(s.insert(p, msg(5, Some(b"x"))).is_none());
        assert!(
            s.insert(p, msg(0, Some(b"a"))).is_none(),
            "the stream was dropped"
        );
        assert!(s.insert(p, msg(MAX_PARTS, Some(b"x"))).is_none());
    }
}
