//! Transactions travel between nodes over libp2p gossipsub, so that
//! whoever proposes next has them (design, "Nodes and network").
//!
//! The network is permissioned: a node connects only to the peer ids in its
//! configuration and refuses, and logs, a connection from any other. Every
//! message is signed by its sender's node key (gossipsub's strict
//! validation) and every transaction received is checked like one
//! submitted over HTTP before it enters the pool; garbage is dropped.

use std::collections::HashSet;
use std::time::Duration;

use charity_ledger::Transaction;
use libp2p::futures::StreamExt;
use libp2p::swarm::{dial_opts::DialOpts, NetworkBehaviour, SwarmEvent};
use libp2p::{allow_block_list, gossipsub, noise, tcp, yamux, Multiaddr, PeerId};
use tokio::sync::mpsc;

use crate::api::{accept, ApiState};

/// The largest gossiped message (a transaction is at most 64 KiB).
const MAX_MESSAGE: usize = 128 * 1024;
/// Transactions waiting to be published, at most.
const OUTBOX: usize = 10_000;

#[derive(NetworkBehaviour)]
struct Behaviour {
    allowed: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    gossipsub: gossipsub::Behaviour,
}

/// What a node needs to gossip.
pub struct GossipConfig {
    /// Where to listen.
    pub listen: Multiaddr,
    /// The other nodes: address and peer id.
    pub peers: Vec<(Multiaddr, PeerId)>,
    /// The chain, for the topic.
    pub chain_id: String,
}

/// Starts gossiping with `key`'s identity; returns the outbox for
/// transactions this node accepted. `peer_count` follows the number of
/// connected peers.
pub fn spawn(
    key: libp2p::identity::Keypair,
    cfg: GossipConfig,
    api: ApiState,
    peer_count: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> anyhow::Result<mpsc::Sender<Transaction>> {
    let gossip_config = gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::Strict)
        .max_transmit_size(MAX_MESSAGE)
        .heartbeat_interval(Duration::from_millis(500))
        .message_id_fn(|m: &gossipsub::Message| {
            gossipsub::MessageId::from(charity_ledger::crypto::sha256(&m.data).to_hex())
        })
        .build()
        .map_err(|e| anyhow::anyhow!("gossip configuration: {e}"))?;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_behaviour(|key| {
            let gossipsub = gossipsub::Behaviour::new(
                gossipsub::MessageAuthenticity::Signed(key.clone()),
                gossip_config,
            )?;
            Ok(Behaviour {
                allowed: allow_block_list::Behaviour::default(),
                gossipsub,
            })
        })
        .map_err(|e| anyhow::anyhow!("gossip behaviour: {e}"))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
        .build();
    for (_, peer) in &cfg.peers {
        swarm.behaviour_mut().allowed.allow_peer(*peer);
        swarm.behaviour_mut().gossipsub.add_explicit_peer(peer);
    }
    let topic = gossipsub::IdentTopic::new(format!("charity-ledger/v1/txs/{}", cfg.chain_id));
    swarm.behaviour_mut().gossipsub.subscribe(&topic)?;
    swarm.listen_on(cfg.listen.clone())?;
    let (tx, mut rx) = mpsc::channel::<Transaction>(OUTBOX);
    let peers = cfg.peers;
    tokio::spawn(async move {
        let mut redial = tokio::time::interval(Duration::from_secs(2));
        let mut connected: HashSet<PeerId> = HashSet::new();
        loop {
            tokio::select! {
                out = rx.recv() => {
                    let Some(t) = out else { return };
                    let bytes = t.to_canonical_json().unwrap_or_default();
                    if let Err(e) = swarm.behaviour_mut().gossipsub.publish(topic.clone(), bytes) {
                        tracing::debug!(%e, tx = %t.id(), "transaction not gossiped");
                    }
                }
                _ = redial.tick() => {
                    for (addr, peer) in &peers {
                        if !connected.contains(peer) {
                            let opts = DialOpts::peer_id(*peer).addresses(vec![addr.clone()]).build();
                            let _ = swarm.dial(opts);
                        }
                    }
                }
                event = swarm.select_next_some() => match event {
                    SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message { message, .. })) => {
                        match Transaction::decode(&message.data) {
                            Ok(t) => {
                                let id = t.id();
                                if let Err(e) = accept(&api, t) {
                                    tracing::debug!(%id, code = %e.code, "gossiped transaction not kept");
                                }
                            }
                            Err(e) => tracing::warn!(from = ?message.source, code = e.code(), "undecodable gossip dropped"),
                        }
                    }
                    SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                        connected.insert(peer_id);
                        peer_count.store(connected.len(), std::sync::atomic::Ordering::Relaxed);
                    }
                    SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                        connected.remove(&peer_id);
                        peer_count.store(connected.len(), std::sync::atomic::Ordering::Relaxed);
                    }
                    SwarmEvent::IncomingConnectionError { send_back_addr, error, .. } => {
                        tracing::warn!(%send_back_addr, %error, "refused a connection (not a configured peer?)");
                    }
                    _ => {}
                },
            }
        }
    });
    Ok(tx)
}
