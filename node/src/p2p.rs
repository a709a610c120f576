//! The node's peer-to-peer network: one libp2p swarm that carries
//! consensus (proposals, votes, proposal parts, liveness messages), sync
//! (status gossip and block requests) and transaction gossip between the
//! nodes of one chain (design, "Nodes and network").
//!
//! The network is permissioned: a node connects only to the peer ids in its
//! configuration. A connection from any other peer is refused at the
//! transport by libp2p's allow list and logged, and a gossiped message
//! whose author is not a configured peer is dropped even when an allowed
//! peer relays it. Every gossiped message is signed by its author's node
//! key (gossipsub's strict validation); consensus messages are in
//! addition signed by validators, and every transaction received is checked
//! like one submitted over HTTP before it enters the pool (transactions
//! travel in batches, one signed message for whatever was waiting). Garbage is
//! dropped and logged, once a minute for each kind and peer with a count of
//! the repeats (see `Complaints`); nothing a peer sends can stop the node
//! or flood its log.
//!
//! The consensus engine sees this network through [`NetworkActor`], which
//! speaks the engine's network protocol (`malachitebft_engine::network::Msg`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use charity_ledger::Transaction;
use libp2p::futures::StreamExt;
use libp2p::request_response;
use libp2p::swarm::{dial_opts::DialOpts, NetworkBehaviour, SwarmEvent};
use libp2p::{allow_block_list, gossipsub, noise, tcp, yamux, Multiaddr};
use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::engine::network::{Msg, NetworkEvent, Status};
use malachitebft_app_channel::app::engine::util::output_port::OutputPort;
use malachitebft_app_channel::app::types::{PeerId, SignedConsensusMsg};
use malachitebft_codec::Codec;
use malachitebft_network::{Channel, Event, PeerIdExt};
use malachitebft_sync::{self as sync, InboundRequestId, OutboundRequestId};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::{mpsc, oneshot};

use crate::api::{accept, ApiState};
use crate::consensus::codec::WireCodec;
use crate::consensus::context::CharityContext;

type Ctx = CharityContext;

/// Transactions waiting to be published, at most.
const OUTBOX: usize = 10_000;
/// Gossiped transactions travel in batches of about this many bytes (one
/// canonical JSON transaction per line; JCS output has no raw newline).
const TX_BATCH_BYTES: usize = 512 * 1024;
/// Gossiped transaction batches waiting to be checked, at most.
const GOSSIP_BACKLOG: usize = 64;
/// Commands from the engine waiting for the swarm, at most.
const COMMANDS: usize = 1_024;
/// Engine events buffered for slow subscribers.
const EVENTS: usize = 128;

#[derive(NetworkBehaviour)]
struct Behaviour {
    allowed: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    gossipsub: gossipsub::Behaviour,
    sync: sync::Behaviour,
}

/// What a node's network needs.
pub struct P2pConfig {
    /// Where to listen.
    pub listen: Multiaddr,
    /// The other nodes: address and peer id. The only peers this node
    /// talks to.
    pub peers: Vec<(Multiaddr, libp2p::PeerId)>,
    /// The chain, which names the topics.
    pub chain_id: String,
    /// The largest gossiped message.
    pub max_message: usize,
    /// The largest sync response.
    pub max_response: usize,
}

/// A peer as configured: a multiaddr whose last part names the peer id.
pub fn parse_peer(s: &str) -> Result<(Multiaddr, libp2p::PeerId), String> {
    let addr: Multiaddr = s.parse().map_err(|e| format!("peer {s:?}: {e}"))?;
    match addr.iter().last() {
        Some(libp2p::multiaddr::Protocol::P2p(peer)) => Ok((addr, peer)),
        _ => Err(format!("peer {s:?} does not end in /p2p/<peer id>")),
    }
}

/// The gossip topics of one chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Topic {
    Txs,
    Consensus,
    ProposalParts,
    Liveness,
    Status,
}

impl Topic {
    const ALL: [Topic; 5] = [
        Topic::Txs,
        Topic::Consensus,
        Topic::ProposalParts,
        Topic::Liveness,
        Topic::Status,
    ];

    fn ident(self, chain_id: &str) -> gossipsub::IdentTopic {
        let name = match self {
            Topic::Txs => "txs",
            Topic::Consensus => "consensus",
            Topic::ProposalParts => "proposal-parts",
            Topic::Liveness => "liveness",
            Topic::Status => "status",
        };
        gossipsub::IdentTopic::new(format!("charity-ledger/v1/{name}/{chain_id}"))
    }
}

/// What the engine asks of the swarm.
enum Command {
    Publish(Topic, Bytes),
    Request(
        libp2p::PeerId,
        Bytes,
        oneshot::Sender<request_response::OutboundRequestId>,
    ),
    Reply(request_response::InboundRequestId, Bytes),
}

/// A running network: the actor the engine talks to and the outbox for
/// transactions this node accepted.
pub struct P2p {
    /// The engine's network actor.
    pub actor: ActorRef<Msg<Ctx>>,
    /// Transactions to gossip.
    pub outbox: mpsc::Sender<Transaction>,
    /// The connected peers and their announced tips.
    pub peers: PeerView,
}

/// The connected peers, each with the tip height it last announced (0
/// before it has): kept by the network actor from the events it hands the
/// engine, read by the HTTP API.
#[derive(Clone, Default)]
pub struct PeerView(Arc<Mutex<BTreeMap<PeerId, u64>>>);

impl PeerView {
    /// How many peers are connected.
    pub fn connected(&self) -> usize {
        self.0.lock().map(|t| t.len()).unwrap_or(0)
    }

    /// The highest announced tip, 0 if none.
    pub fn highest(&self) -> u64 {
        self.0
            .lock()
            .map(|t| t.values().copied().max().unwrap_or(0))
            .unwrap_or(0)
    }

    fn list(&self) -> Vec<PeerId> {
        self.0
            .lock()
            .map(|t| t.keys().copied().collect())
            .unwrap_or_default()
    }

    fn connect(&self, peer: PeerId) {
        if let Ok(mut t) = self.0.lock() {
            t.entry(peer).or_insert(0);
        }
    }

    fn disconnect(&self, peer: &PeerId) {
        if let Ok(mut t) = self.0.lock() {
            t.remove(peer);
        }
    }

    /// Records `peer`'s announced tip. Only peers connected to this node
    /// count: a status can be relayed from one that is not.
    fn announce(&self, peer: &PeerId, height: u64) {
        if let Ok(mut t) = self.0.lock() {
            if let Some(h) = t.get_mut(peer) {
                *h = height;
            }
        }
    }
}

/// Starts the network with `key`'s identity. `api` takes the transactions
/// peers gossip.
pub async fn spawn(
    key: libp2p::identity::Keypair,
    cfg: P2pConfig,
    api: ApiState,
) -> anyhow::Result<P2p> {
    let own = PeerId::from_libp2p(&key.public().to_peer_id());
    let swarm = build_swarm(key, &cfg)?;
    let (outbox, txs) = mpsc::channel(OUTBOX);
    let (commands, command_rx) = mpsc::channel(COMMANDS);
    let gossiped = spawn_gossip_checker(api)?;
    let peers = PeerView::default();
    let args = Args {
        own,
        commands,
        peers: peers.clone(),
        swarm: Box::new(SwarmParts {
            swarm,
            cfg,
            gossiped,
            txs,
            commands: command_rx,
        }),
    };
    let (actor, _) = Actor::spawn(None, NetworkActor, args)
        .await
        .map_err(|e| anyhow::anyhow!("starting the network actor: {e}"))?;
    Ok(P2p {
        actor,
        outbox,
        peers,
    })
}

/// What the swarm task owns.
struct SwarmParts {
    swarm: libp2p::Swarm<Behaviour>,
    cfg: P2pConfig,
    /// Gossiped transaction batches, to the checker thread.
    gossiped: std::sync::mpsc::SyncSender<(libp2p::PeerId, Vec<u8>)>,
    txs: mpsc::Receiver<Transaction>,
    commands: mpsc::Receiver<Command>,
}

fn build_swarm(
    key: libp2p::identity::Keypair,
    cfg: &P2pConfig,
) -> anyhow::Result<libp2p::Swarm<Behaviour>> {
    let txs = Topic::Txs.ident(&cfg.chain_id).hash();
    let gossip_config = gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::Strict)
        .max_transmit_size(cfg.max_message)
        .heartbeat_interval(Duration::from_millis(500))
        .message_id_fn(move |m: &gossipsub::Message| {
            if m.topic == txs {
                // A transaction is the same message whoever sends it.
                gossipsub::MessageId::from(charity_ledger::crypto::sha256(&m.data).to_hex())
            } else {
                // Consensus messages are re-sent on purpose (liveness):
                // each sending is its own message.
                let source = m.source.map(|p| p.to_base58()).unwrap_or_default();
                let seq = m.sequence_number.unwrap_or_default();
                gossipsub::MessageId::from(format!("{source}/{seq}"))
            }
        })
        .build()
        .map_err(|e| anyhow::anyhow!("gossip configuration: {e}"))?;
    let sync_config = sync::Config::default().with_max_response_size(cfg.max_response);
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
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
                sync: sync::Behaviour::new(sync_config),
            })
        })
        .map_err(|e| anyhow::anyhow!("network behaviour: {e}"))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(600)))
        .build();
    for (_, peer) in &cfg.peers {
        swarm.behaviour_mut().allowed.allow_peer(*peer);
        swarm.behaviour_mut().gossipsub.add_explicit_peer(peer);
    }
    for topic in Topic::ALL {
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&topic.ident(&cfg.chain_id))?;
    }
    swarm.listen_on(cfg.listen.clone()).map_err(|e| {
        // libp2p's error shows little of its own: name the address and
        // give the underlying error.
        anyhow::anyhow!("listening on {}: {e:?}", cfg.listen)
    })?;
    Ok(swarm)
}

/// Appends `t` to a gossip batch: its canonical JSON and a newline.
fn push_tx(batch: &mut Vec<u8>, t: &Transaction) {
    match t.to_canonical_json() {
        Ok(bytes) => {
            batch.extend_from_slice(&bytes);
            batch.push(b'\n');
        }
        Err(e) => tracing::warn!(%e, tx = %t.id(), "transaction not encoded"),
    }
}

/// The transactions of a gossip batch, each decoded on its own: a bad line
/// costs only itself.
fn batch_txs(
    data: &[u8],
) -> impl Iterator<Item = Result<Transaction, charity_ledger::TxError>> + '_ {
    data.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(Transaction::decode)
}

/// Starts the thread that checks gossiped transactions (signatures take
/// time; the swarm loop must not wait for them) and puts the good ones in
/// the pool; returns where to send batches. It ends when the sender drops.
fn spawn_gossip_checker(
    api: ApiState,
) -> anyhow::Result<std::sync::mpsc::SyncSender<(libp2p::PeerId, Vec<u8>)>> {
    let (gossiped, checker) =
        std::sync::mpsc::sync_channel::<(libp2p::PeerId, Vec<u8>)>(GOSSIP_BACKLOG);
    std::thread::Builder::new()
        .name("gossip-check".into())
        .spawn(move || {
            let mut complaints = Complaints::new(COMPLAINT_WINDOW);
            for (author, data) in checker {
                for t in batch_txs(&data) {
                    match t {
                        Ok(t) => {
                            let id = t.id();
                            if let Err(e) = accept(&api, t) {
                                tracing::debug!(%id, code = %e.code, "gossiped transaction not kept");
                            }
                        }
                        Err(e) => complaints.undecodable(author, "transaction", e.code()),
                    }
                }
            }
        })
        .map_err(|e| anyhow::anyhow!("starting the gossip checker: {e}"))?;
    Ok(gossiped)
}

/// Runs the swarm; what it hears for the engine goes to `actor` as
/// [`Msg::NewEvent`], in order.
async fn run_swarm(parts: SwarmParts, actor: ActorRef<Msg<Ctx>>) {
    let SwarmParts {
        mut swarm,
        cfg,
        gossiped,
        mut txs,
        mut commands,
    } = parts;
    let topics: HashMap<gossipsub::TopicHash, Topic> = Topic::ALL
        .iter()
        .map(|t| (t.ident(&cfg.chain_id).hash(), *t))
        .collect();
    let idents: HashMap<Topic, gossipsub::IdentTopic> = Topic::ALL
        .iter()
        .map(|t| (*t, t.ident(&cfg.chain_id)))
        .collect();
    let allowed: HashSet<libp2p::PeerId> = cfg.peers.iter().map(|(_, p)| *p).collect();
    let mut channels: HashMap<request_response::InboundRequestId, sync::ResponseChannel> =
        HashMap::new();
    let mut redial = tokio::time::interval(Duration::from_secs(2));
    let mut connected: HashSet<libp2p::PeerId> = HashSet::new();
    let publish = |swarm: &mut libp2p::Swarm<Behaviour>, topic: Topic, data: Bytes| {
        let Some(ident) = idents.get(&topic) else {
            return;
        };
        match swarm.behaviour_mut().gossipsub.publish(ident.clone(), data) {
            Ok(_) => {}
            // Alone on the network there is nobody to tell; not an error.
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {}
            Err(gossipsub::PublishError::Duplicate) => {}
            Err(e) => tracing::debug!(%e, ?topic, "message not gossiped"),
        }
    };
    loop {
        tokio::select! {
            out = txs.recv() => {
                let Some(first) = out else { return };
                // Whatever else is already waiting goes in the same
                // message: under load one signed message carries many
                // transactions, and consensus messages do not queue behind
                // thousands of small ones.
                let mut batch = Vec::new();
                let mut next = Some(first);
                while let Some(t) = next.take() {
                    push_tx(&mut batch, &t);
                    if batch.len() < TX_BATCH_BYTES {
                        next = txs.try_recv().ok();
                    }
                }
                if !batch.is_empty() {
                    publish(&mut swarm, Topic::Txs, Bytes::from(batch));
                }
            }
            command = commands.recv() => match command {
                None => return,
                Some(Command::Publish(topic, data)) => publish(&mut swarm, topic, data),
                Some(Command::Request(peer, data, reply)) => {
                    let id = swarm.behaviour_mut().sync.send_request(peer, data);
                    let _ = reply.send(id);
                }
                Some(Command::Reply(id, data)) => match channels.remove(&id) {
                    Some(channel) => {
                        if let Err(e) = swarm.behaviour_mut().sync.send_response(channel, data) {
                            tracing::debug!(%e, "sync response not sent (the peer left?)");
                        }
                    }
                    None => tracing::debug!(%id, "a reply to a sync request no longer awaited"),
                },
            },
            _ = redial.tick() => {
                for (addr, peer) in &cfg.peers {
                    if !connected.contains(peer) {
                        let opts = DialOpts::peer_id(*peer).addresses(vec![addr.clone()]).build();
                        let _ = swarm.dial(opts);
                    }
                }
            }
            event = swarm.select_next_some() => {
                let news = match event {
                    SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message { propagation_source, message, .. })) => {
                        let author = message.source.unwrap_or(propagation_source);
                        if !allowed.contains(&author) {
                            tracing::warn!(%author, via = %propagation_source, "message from a peer not in the configuration dropped");
                            continue;
                        }
                        let Some(topic) = topics.get(&message.topic).copied() else {
                            tracing::debug!(topic = %message.topic, "message on an unknown topic dropped");
                            continue;
                        };
                        if topic == Topic::Txs {
                            // Checking signatures takes time; it is done
                            // off this loop so consensus messages keep
                            // flowing. When the checker is behind, the
                            // batch is dropped: gossip is best effort and
                            // the sender's node still holds them.
                            match gossiped.try_send((author, message.data)) {
                                Ok(()) => {}
                                Err(std::sync::mpsc::TrySendError::Full(_)) => {
                                    tracing::warn!(%author, "gossiped transactions dropped: the checker is behind");
                                }
                                Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                                    tracing::error!("the gossip checker has stopped; the network stops");
                                    return;
                                }
                            }
                            continue;
                        }
                        let from = PeerId::from_libp2p(&author);
                        let data = Bytes::from(message.data);
                        match topic {
                            Topic::Consensus => Event::ConsensusMessage(Channel::Consensus, from, data),
                            Topic::ProposalParts => Event::ConsensusMessage(Channel::ProposalParts, from, data),
                            Topic::Status => Event::ConsensusMessage(Channel::Sync, from, data),
                            Topic::Liveness => Event::LivenessMessage(Channel::Liveness, from, data),
                            Topic::Txs => continue,
                        }
                    }
                    SwarmEvent::Behaviour(BehaviourEvent::Sync(sync::Event::Message { peer, message, .. })) => {
                        let peer = PeerId::from_libp2p(&peer);
                        Event::Sync(match message {
                            request_response::Message::Request { request_id, request, channel } => {
                                channels.insert(request_id, channel);
                                sync::RawMessage::Request { request_id, peer, body: request.0 }
                            }
                            request_response::Message::Response { request_id, response } => {
                                sync::RawMessage::Response { request_id, peer, body: response.0 }
                            }
                        })
                    }
                    SwarmEvent::Behaviour(BehaviourEvent::Sync(sync::Event::InboundFailure { request_id, peer, error, .. })) => {
                        channels.remove(&request_id);
                        tracing::debug!(%peer, %error, "a sync request from a peer failed");
                        continue;
                    }
                    SwarmEvent::NewListenAddr { address, .. } => Event::Listening(address),
                    SwarmEvent::ConnectionEstablished { peer_id, num_established, .. } => {
                        connected.insert(peer_id);
                        if num_established.get() > 1 {
                            continue;
                        }
                        Event::PeerConnected(PeerId::from_libp2p(&peer_id))
                    }
                    SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                        connected.remove(&peer_id);
                        Event::PeerDisconnected(PeerId::from_libp2p(&peer_id))
                    }
                    SwarmEvent::IncomingConnectionError { send_back_addr, error, .. } => {
                        tracing::warn!(%send_back_addr, %error, "refused a connection (not a configured peer?)");
                        continue;
                    }
                    _ => continue,
                };
                if actor.cast(Msg::NewEvent(news)).is_err() {
                    // The engine has stopped; so does the network.
                    return;
                }
            }
        }
    }
}

/// The engine's view of the network.
pub struct NetworkActor;

/// What the actor starts with.
pub struct Args {
    own: PeerId,
    commands: mpsc::Sender<Command>,
    peers: PeerView,
    swarm: Box<SwarmParts>,
}

/// The actor's state.
pub struct State {
    own: PeerId,
    commands: mpsc::Sender<Command>,
    peers: PeerView,
    listening: Vec<Multiaddr>,
    port: OutputPort<NetworkEvent<Ctx>>,
    requests: HashMap<InboundRequestId, request_response::InboundRequestId>,
    swarm_task: tokio::task::JoinHandle<()>,
    complaints: Complaints<PeerId>,
}

impl NetworkActor {
    fn decode<T>(
        complaints: &mut Complaints<PeerId>,
        data: Bytes,
        what: &'static str,
        from: PeerId,
    ) -> Option<T>
    where
        WireCodec: Codec<T>,
    {
        match WireCodec.decode(data) {
            Ok(v) => Some(v),
            Err(e) => {
                complaints.undecodable(from, what, e);
                None
            }
        }
    }

    fn encode<T>(value: &T, what: &str) -> Option<Bytes>
    where
        WireCodec: Codec<T>,
    {
        match WireCodec.encode(value) {
            Ok(b) => Some(b),
            Err(e) => {
                tracing::error!(%e, "cannot encode a {what}");
                None
            }
        }
    }

    /// Turns what the swarm heard into the engine's event.
    fn heard(state: &mut State, news: Event) {
        let event = match news {
            Event::Listening(addr) => {
                state.listening.push(addr.clone());
                NetworkEvent::Listening(addr)
            }
            Event::PeerConnected(p) => {
                state.peers.connect(p);
                NetworkEvent::PeerConnected(p)
            }
            Event::PeerDisconnected(p) => {
                state.peers.disconnect(&p);
                NetworkEvent::PeerDisconnected(p)
            }
            Event::ConsensusMessage(Channel::Consensus, from, data) => {
                match Self::decode::<SignedConsensusMsg<Ctx>>(
                    &mut state.complaints,
                    data,
                    "consensus message",
                    from,
                ) {
                    Some(SignedConsensusMsg::Vote(v)) => NetworkEvent::Vote(from, v),
                    Some(SignedConsensusMsg::Proposal(p)) => NetworkEvent::Proposal(from, p),
                    None => return,
                }
            }
            Event::ConsensusMessage(Channel::ProposalParts, from, data) => {
                match Self::decode(&mut state.complaints, data, "proposal part", from) {
                    Some(part) => NetworkEvent::ProposalPart(from, part),
                    None => return,
                }
            }
            Event::ConsensusMessage(Channel::Sync, from, data) => {
                let Some(status) =
                    Self::decode::<sync::Status<Ctx>>(&mut state.complaints, data, "status", from)
                else {
                    return;
                };
                if status.peer_id != from {
                    match state
                        .complaints
                        .admit(from, "status naming another peer", Instant::now())
                    {
                        Some(n) => {
                            tracing::warn!(%from, claimed = %status.peer_id, held_back = n, "a status naming another peer dropped")
                        }
                        None => {
                            tracing::debug!(%from, claimed = %status.peer_id, "a status naming another peer dropped")
                        }
                    }
                    return;
                }
                state.peers.announce(&from, status.tip_height.0);
                NetworkEvent::Status(
                    from,
                    Status::new(status.tip_height, status.history_min_height),
                )
            }
            Event::LivenessMessage(Channel::Liveness, from, data) => {
                match Self::decode::<LivenessMsg<Ctx>>(
                    &mut state.complaints,
                    data,
                    "liveness message",
                    from,
                ) {
                    Some(LivenessMsg::Vote(v)) => NetworkEvent::Vote(from, v),
                    Some(LivenessMsg::PolkaCertificate(c)) => {
                        NetworkEvent::PolkaCertificate(from, c)
                    }
                    Some(LivenessMsg::SkipRoundCertificate(c)) => {
                        NetworkEvent::RoundCertificate(from, c)
                    }
                    None => return,
                }
            }
            Event::ConsensusMessage(..) | Event::LivenessMessage(..) => return,
            Event::Sync(sync::RawMessage::Request {
                request_id,
                peer,
                body,
            }) => {
                let Some(request) = Self::decode(&mut state.complaints, body, "sync request", peer)
                else {
                    return;
                };
                let id = InboundRequestId::new(request_id);
                state.requests.insert(id.clone(), request_id);
                NetworkEvent::SyncRequest(id, peer, request)
            }
            Event::Sync(sync::RawMessage::Response {
                request_id,
                peer,
                body,
            }) => {
                let response = Self::decode(&mut state.complaints, body, "sync response", peer);
                NetworkEvent::SyncResponse(OutboundRequestId::new(request_id), peer, response)
            }
        };
        state.port.send(event);
    }

    async fn command(state: &State, c: Command) -> Result<(), ActorProcessingErr> {
        state
            .commands
            .send(c)
            .await
            .map_err(|_| ActorProcessingErr::from("the network has stopped"))
    }
}

#[ractor::async_trait]
impl Actor for NetworkActor {
    type Msg = Msg<Ctx>;
    type State = State;
    type Arguments = Args;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Args,
    ) -> Result<State, ActorProcessingErr> {
        let Args {
            own,
            commands,
            peers,
            swarm,
        } = args;
        let swarm_task = tokio::spawn(run_swarm(*swarm, myself));
        Ok(State {
            own,
            commands,
            peers,
            listening: Vec::new(),
            port: OutputPort::with_capacity(EVENTS),
            requests: HashMap::new(),
            swarm_task,
            complaints: Complaints::new(COMPLAINT_WINDOW),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            Msg::Subscribe(subscriber) => {
                for addr in &state.listening {
                    subscriber.send(NetworkEvent::Listening(addr.clone()));
                }
                for peer in state.peers.list() {
                    subscriber.send(NetworkEvent::PeerConnected(peer));
                }
                subscriber.subscribe_to_port(&state.port);
            }
            Msg::PublishConsensusMsg(m) => {
                if let Some(data) = Self::encode(&m, "consensus message") {
                    Self::command(state, Command::Publish(Topic::Consensus, data)).await?;
                }
            }
            Msg::PublishLivenessMsg(m) => {
                if let Some(data) = Self::encode(&m, "liveness message") {
                    Self::command(state, Command::Publish(Topic::Liveness, data)).await?;
                }
            }
            Msg::PublishProposalPart(m) => {
                if let Some(data) = Self::encode(&m, "proposal part") {
                    Self::command(state, Command::Publish(Topic::ProposalParts, data)).await?;
                }
            }
            Msg::BroadcastStatus(status) => {
                let status = sync::Status::<Ctx> {
                    peer_id: state.own,
                    tip_height: status.tip_height,
                    history_min_height: status.history_min_height,
                };
                if let Some(data) = Self::encode(&status, "status") {
                    Self::command(state, Command::Publish(Topic::Status, data)).await?;
                }
            }
            Msg::OutgoingRequest(peer, request, reply_to) => {
                let Some(data) = Self::encode(&request, "sync request") else {
                    return Ok(());
                };
                let (reply, id) = oneshot::channel();
                Self::command(state, Command::Request(peer.to_libp2p(), data, reply)).await?;
                let id = id.await?;
                reply_to.send(OutboundRequestId::new(id))?;
            }
            Msg::OutgoingResponse(id, response) => {
                let Some(p2p_id) = state.requests.remove(&id) else {
                    tracing::debug!(%id, "a response to a request not awaited");
                    return Ok(());
                };
                if let Some(data) = Self::encode(&response, "sync response") {
                    Self::command(state, Command::Reply(p2p_id, data)).await?;
                }
            }
            Msg::GetState { reply } => {
                reply.send(state.peers.connected())?;
            }
            Msg::NewEvent(event) => Self::heard(state, event),
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        state.swarm_task.abort();
        Ok(())
    }
}

/// How long repeats of one complaint about one peer are held back.
const COMPLAINT_WINDOW: Duration = Duration::from_secs(60);

/// Keeps a misbehaving peer from flooding the log. The first complaint of
/// a kind about a peer is reported at once; repeats within the window that
/// follows are held back (reported at debug level only) and counted, and
/// the count goes with the next report after the window. Peers are the
/// configured ones and kinds are fixed, so the table stays small.
pub(crate) struct Complaints<P> {
    window: Duration,
    /// (peer, kind) -> when last reported, how many held back since.
    seen: HashMap<(P, &'static str), (Instant, u64)>,
}

impl<P: std::hash::Hash + Eq> Complaints<P> {
    pub(crate) fn new(window: Duration) -> Self {
        Complaints {
            window,
            seen: HashMap::new(),
        }
    }

    /// A complaint of kind `what` about `peer` at `now`: `Some(n)` to
    /// report it now, `n` being how many like it were held back since the
    /// last report; `None` to hold it back.
    pub(crate) fn admit(&mut self, peer: P, what: &'static str, now: Instant) -> Option<u64> {
        use std::collections::hash_map::Entry;
        match self.seen.entry((peer, what)) {
            Entry::Vacant(v) => {
                v.insert((now, 0));
                Some(0)
            }
            Entry::Occupied(mut o) => {
                let (last, held) = o.get_mut();
                if now.saturating_duration_since(*last) < self.window {
                    *held += 1;
                    None
                } else {
                    let n = *held;
                    *last = now;
                    *held = 0;
                    Some(n)
                }
            }
        }
    }
}

impl<P: std::hash::Hash + Eq + Copy + std::fmt::Display> Complaints<P> {
    /// Logs that `what` from `peer` did not decode (`error` says why), as
    /// [`Complaints::admit`] decides: a warning, or debug when held back.
    pub(crate) fn undecodable(
        &mut self,
        peer: P,
        what: &'static str,
        error: impl std::fmt::Display,
    ) {
        match self.admit(peer, what, Instant::now()) {
            Some(0) => tracing::warn!(%peer, %error, "undecodable {what} dropped"),
            Some(n) => tracing::warn!(
                %peer, %error, held_back = n,
                "undecodable {what} dropped (and {n} more since the last report)"
            ),
            None => tracing::debug!(%peer, %error, "undecodable {what} dropped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use charity_ledger::dev;
    use charity_ledger::kinds::CloseCampaign;
    use charity_ledger::tx::TxKind;

    fn tx(n: u64, summary: &str) -> Transaction {
        dev::tx(
            "c",
            &dev::key("k"),
            n,
            TxKind::CloseCampaign(CloseCampaign {
                campaign_id: charity_ledger::ids::CampaignId::parse("x").unwrap(),
                summary: summary.into(),
            }),
        )
        .unwrap()
    }

    #[test]
    fn repeated_complaints_about_a_peer_are_held_back_and_counted() {
        let mut c = Complaints::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        // The first of each kind about each peer is reported.
        assert_eq!(c.admit("a", "status", at(0)), Some(0));
        assert_eq!(c.admit("a", "proposal part", at(1)), Some(0));
        assert_eq!(c.admit("b", "status", at(1)), Some(0));
        // Repeats within the window are held back.
        for s in 2..40 {
            assert_eq!(c.admit("a", "status", at(s)), None);
        }
        assert_eq!(c.admit("b", "status", at(59)), None);
        // After it, the next is reported with the count held back.
        assert_eq!(c.admit("a", "status", at(60)), Some(38));
        assert_eq!(c.admit("a", "status", at(61)), None);
        assert_eq!(c.admit("b", "status", at(62)), Some(1));
        assert_eq!(c.admit("a", "proposal part", at(200)), Some(0));
    }

    #[test]
    fn the_peer_view_counts_connected_peers_and_their_tips_only() {
        let view = PeerView::default();
        let peer = || PeerId::from_libp2p(&libp2p::PeerId::random());
        let (a, b, relayed) = (peer(), peer(), peer());
        view.connect(a);
        view.connect(b);
        view.connect(a);
        assert_eq!((view.connected(), view.highest()), (2, 0));
        view.announce(&a, 7);
        view.announce(&relayed, 99);
        assert_eq!((view.connected(), view.highest()), (2, 7));
        view.disconnect(&a);
        assert_eq!((view.connected(), view.highest()), (1, 0));
        assert_eq!(view.list(), vec![b]);
    }

    #[test]
    fn a_batch_carries_every_transaction_and_a_bad_line_costs_only_itself() {
        // A newline inside a string is escaped by JCS, so it cannot split a
        // transaction.
        let txs = [tx(1, "one"), tx(2, "two\nlines"), tx(3, "三")];
        let mut batch = Vec::new();
        for t in &txs {
            push_tx(&mut batch, t);
        }
        let ids: Vec<_> = batch_txs(&batch).map(|t| t.unwrap().id()).collect();
        assert_eq!(ids, txs.iter().map(|t| t.id()).collect::<Vec<_>>());

        let mut hostile = b"{not json}\n".to_vec();
        hostile.extend_from_slice(&batch);
        hostile.extend_from_slice(b"\n\n\xff\xfe");
        let decoded: Vec<_> = batch_txs(&hostile).collect();
        assert_eq!(decoded.len(), 5);
        assert!(decoded[0].is_err() && decoded[4].is_err());
        let good: Vec<_> = decoded
            .into_iter()
            .filter_map(Result::ok)
            .map(|t| t.id())
            .collect();
        assert_eq!(good, txs.iter().map(|t| t.id()).collect::<Vec<_>>());
    }
}
