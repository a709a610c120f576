//! A validator node: its home directory, configuration, keys, store, HTTP
//! service and the consensus engine, started together.
//!
//! A home directory holds `config.toml`, `genesis.json`, `node.key` (the
//! node's Ed25519 key, owner-readable only), the store `chain/` and the
//! engine's write-ahead log.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use charity_ledger::{Genesis, Keypair, Store};
use malachitebft_app_channel::app::config::{ConsensusConfig, ValueSyncConfig};
use malachitebft_app_channel::app::engine::network::Msg as NetworkActorMsg;
use malachitebft_app_channel::app::events::{RxEvent, TxEvent};
use malachitebft_app_channel::app::metrics::{Metrics, SharedRegistry};
use malachitebft_app_channel::app::node::{EngineHandle, Node, NodeConfig, NodeHandle};
use malachitebft_app_channel::app::spawn::{
    spawn_consensus_actor, spawn_node_actor, spawn_sync_actor, spawn_wal_actor,
};
use malachitebft_app_channel::app::types::Keypair as NetKeypair;
use malachitebft_app_channel::{Channels, NetworkMsg};
use ractor::ActorRef;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::app::{self, App, Settings};
use super::codec::WireCodec;
use super::context::{Address, CharityContext, Height, Signer, ValidatorSet};
use crate::api::{router, ApiState};

/// A node's configuration file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// A name for logs.
    pub moniker: String,
    /// Where the HTTP API and explorer listen.
    pub http_addr: SocketAddr,
    /// Longest time without a block when idle, in milliseconds.
    pub heartbeat_ms: u64,
    /// Transactions the mempool holds at most.
    pub mempool_capacity: usize,
    /// Where the node's peer-to-peer network (consensus, sync and
    /// transaction gossip) listens: a libp2p multiaddr.
    #[serde(alias = "gossip_listen")]
    pub p2p_listen: String,
    /// The other nodes, as multiaddrs ending in `/p2p/<peer id>`: the only
    /// peers this node talks to or accepts connections from.
    #[serde(default, alias = "gossip_peers")]
    pub p2p_peers: Vec<String>,
    /// The engine: timeouts, and from `consensus.p2p` the largest gossiped
    /// message and sync response. The engine's own listen address and
    /// peers there are not used: the node runs its network at
    /// `p2p_listen`, with `p2p_peers` as its allow list.
    pub consensus: ConsensusConfig,
    /// Catching up from peers.
    pub value_sync: ValueSyncConfig,
}

impl NodeConfig for Config {
    fn moniker(&self) -> &str {
        &self.moniker
    }

    fn consensus(&self) -> &ConsensusConfig {
        &self.consensus
    }

    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }
}

/// The files of a home directory.
pub fn config_path(home: &Path) -> PathBuf {
    home.join("config.toml")
}

/// The genesis file of a home directory.
pub fn genesis_path(home: &Path) -> PathBuf {
    home.join("genesis.json")
}

/// The key file of a home directory.
pub fn key_path(home: &Path) -> PathBuf {
    home.join("node.key")
}

/// The store of a home directory.
pub fn store_path(home: &Path) -> PathBuf {
    home.join("chain")
}

/// The node's key as the engine loads it.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeyFile {
    secret: String,
}

impl KeyFile {
    fn keypair(&self) -> Option<Keypair> {
        let bytes = charity_ledger::hex::Hash::parse(&self.secret).ok()?;
        Some(Keypair::from_seed(bytes.as_bytes()))
    }
}

/// A node living in a home directory.
#[derive(Clone)]
pub struct HomeNode {
    home: PathBuf,
    chain_id: String,
}

/// A running node.
pub struct Handle {
    /// The application loop.
    pub app: tokio::task::JoinHandle<()>,
    /// The engine.
    pub engine: EngineHandle,
    /// The HTTP service.
    pub http: tokio::task::JoinHandle<()>,
    /// Where the HTTP service listens.
    pub http_addr: SocketAddr,
    tx_event: TxEvent<CharityContext>,
    /// Set when the node is being stopped, so that the application loop
    /// ending with the engine is not reported as a failure.
    stopping: Arc<std::sync::atomic::AtomicBool>,
}

#[async_trait]
impl NodeHandle<CharityContext> for Handle {
    fn subscribe(&self) -> RxEvent<CharityContext> {
        self.tx_event.subscribe()
    }

    async fn kill(&self, _reason: Option<String>) -> eyre::Result<()> {
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.engine.actor.kill_and_wait(None).await?;
        self.app.abort();
        self.http.abort();
        self.engine.handle.abort();
        Ok(())
    }
}

impl HomeNode {
    /// The node in `home`; reads its genesis for the chain id.
    pub fn open(home: &Path) -> eyre::Result<Self> {
        let g = read_genesis(home)?;
        Ok(HomeNode {
            home: home.to_path_buf(),
            chain_id: g.chain_id,
        })
    }
}

/// A configured byte size as a length (saturating on 32-bit machines).
fn byte_count(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl HomeNode {
    /// Starts the engine's actors (write-ahead log, host, sync, consensus,
    /// node) around `network`, as the channel crate's `start_engine` does
    /// around the engine's own network.
    async fn start_engine(
        &self,
        ctx: CharityContext,
        config: &Config,
        key: Keypair,
        network: ActorRef<NetworkActorMsg<CharityContext>>,
        start: Height,
        set: ValidatorSet,
    ) -> eyre::Result<(Channels<CharityContext>, EngineHandle)> {
        let registry = SharedRegistry::global().with_moniker(&config.moniker);
        let metrics = Metrics::register(&registry);
        let address = Address(key.public());
        let signer = self.get_signing_provider(key);
        let wal = spawn_wal_actor(&ctx, WireCodec, &self.home, &registry).await?;
        let (host, from_engine) = super::host::spawn(128).await?;
        let sync = spawn_sync_actor(
            ctx.clone(),
            network.clone(),
            host.clone(),
            &config.value_sync,
            &registry,
        )
        .await?;
        let events = TxEvent::new();
        let consensus = spawn_consensus_actor(
            start,
            set,
            address,
            ctx.clone(),
            config.consensus.clone(),
            &config.value_sync,
            Box::new(signer),
            network.clone(),
            host.clone(),
            wal.clone(),
            sync.clone(),
            metrics,
            events.clone(),
        )
        .await?;
        let (to_network, mut outgoing) = mpsc::channel::<NetworkMsg<CharityContext>>(128);
        let forward = network.clone();
        tokio::spawn(async move {
            while let Some(msg) = outgoing.recv().await {
                if forward.cast(msg.into()).is_err() {
                    return;
                }
            }
        });
        let (actor, handle) = spawn_node_actor(ctx, network, consensus, wal, sync, host).await?;
        Ok((
            Channels {
                consensus: from_engine,
                network: to_network,
                events,
            },
            EngineHandle { actor, handle },
        ))
    }
}

fn read_genesis(home: &Path) -> eyre::Result<Genesis> {
    let path = genesis_path(home);
    let bytes = std::fs::read(&path).map_err(|e| eyre::eyre!("reading {}: {e}", path.display()))?;
    Genesis::decode(&bytes).map_err(|e| eyre::eyre!("{}: {e}", path.display()))
}

#[async_trait]
impl Node for HomeNode {
    type Context = CharityContext;
    type Config = Config;
    type Genesis = Genesis;
    type PrivateKeyFile = KeyFile;
    type SigningProvider = Signer;
    type NodeHandle = Handle;

    fn get_home_dir(&self) -> PathBuf {
        self.home.clone()
    }

    fn load_config(&self) -> eyre::Result<Config> {
        let path = config_path(&self.home);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| eyre::eyre!("reading {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| eyre::eyre!("{}: {e}", path.display()))
    }

    fn get_address(&self, pk: &charity_ledger::PublicKey) -> Address {
        Address(*pk)
    }

    fn get_public_key(&self, pk: &Keypair) -> charity_ledger::PublicKey {
        pk.public()
    }

    fn get_keypair(&self, pk: Keypair) -> NetKeypair {
        let mut secret = pk.secret_bytes();
        match NetKeypair::ed25519_from_bytes(&mut secret) {
            Ok(k) => k,
            // A 32-byte secret always converts; this branch is unreachable
            // in practice and would only cost the node its stable peer id.
            Err(e) => {
                tracing::error!(%e, "cannot use the node key for the network");
                NetKeypair::generate_ed25519()
            }
        }
    }

    fn load_private_key(&self, file: KeyFile) -> Keypair {
        // `load_private_key_file` has checked that the secret parses.
        file.keypair()
            .unwrap_or_else(|| Keypair::from_seed(&[0u8; 32]))
    }

    fn load_private_key_file(&self) -> eyre::Result<KeyFile> {
        let key = charity_sdk::keys::load(&key_path(&self.home)).map_err(|e| eyre::eyre!("{e}"))?;
        Ok(KeyFile {
            secret: charity_ledger::hex::Hash::from(key.secret_bytes()).to_string(),
        })
    }

    fn load_genesis(&self) -> eyre::Result<Genesis> {
        read_genesis(&self.home)
    }

    fn get_signing_provider(&self, private_key: Keypair) -> Signer {
        Signer::new(&self.chain_id, private_key)
    }

    async fn start(&self) -> eyre::Result<Handle> {
        let config = self.load_config()?;
        let key = self.load_private_key(self.load_private_key_file()?);
        let genesis = self.load_genesis()?;
        let store = Store::open_or_init(&store_path(&self.home), &genesis)
            .map_err(|e| eyre::eyre!("opening the store [{}]: {e}", e.code()))?;
        let tip = store.tip().clone();
        let start = Height(tip.height + 1);
        let set = ValidatorSet::from_ledger(&tip.next_validators);
        let store = Arc::new(RwLock::new(store));
        let mut api = ApiState::new(store.clone(), config.mempool_capacity);
        let p2p = crate::p2p::spawn(
            self.get_keypair(key.clone()),
            crate::p2p::P2pConfig {
                listen: config
                    .p2p_listen
                    .parse()
                    .map_err(|e| eyre::eyre!("p2p_listen {:?}: {e}", config.p2p_listen))?,
                peers: config
                    .p2p_peers
                    .iter()
                    .map(|p| crate::p2p::parse_peer(p))
                    .collect::<Result<_, _>>()
                    .map_err(|e| eyre::eyre!("p2p_peers: {e}"))?,
                chain_id: self.chain_id.clone(),
                max_message: byte_count(config.consensus.p2p.pubsub_max_size.as_u64()),
                max_response: byte_count(config.consensus.p2p.rpc_max_size.as_u64()),
            },
            api.clone(),
        )
        .await
        .map_err(|e| eyre::eyre!("starting the network: {e:#}"))?;
        api.gossip = Some(p2p.outbox);
        let peers = p2p.peers.clone();
        api.peer_height = Arc::new(move || peers.highest());
        let peers = p2p.peers.clone();
        api.peers = Arc::new(move || peers.connected());

        let listener = tokio::net::TcpListener::bind(config.http_addr)
            .await
            .map_err(|e| eyre::eyre!("binding {}: {e}", config.http_addr))?;
        let http_addr = listener.local_addr()?;
        let service = router(api.clone());
        let http = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, service).await {
                tracing::error!(%e, "the HTTP service stopped");
            }
        });

        let ctx = CharityContext::new(&self.chain_id);
        let (mut channels, engine) = self
            .start_engine(ctx, &config, key.clone(), p2p.actor, start, set)
            .await?;
        let tx_event = channels.events.clone();
        let settings = Settings {
            heartbeat: Duration::from_millis(config.heartbeat_ms.max(100)),
            propose_invalid: std::env::var("CHARITY_FAULT").is_ok_and(|f| f == "invalid-proposals"),
            ..Settings::default()
        };
        if settings.propose_invalid {
            tracing::warn!("fault injection: this node proposes invalid blocks");
        }
        let mut state = App::new(&self.chain_id, key, store, api, settings);
        let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stopping.clone();
        let app = tokio::spawn(async move {
            match app::run(&mut state, &mut channels).await {
                Ok(()) => {}
                // A stop: the engine was shut down on purpose.
                Err(app::AppError::EngineGone)
                    if stopped.load(std::sync::atomic::Ordering::SeqCst) =>
                {
                    tracing::info!("the consensus application stopped with the node");
                }
                Err(e) => tracing::error!(%e, "the consensus application stopped"),
            }
        });
        Ok(Handle {
            app,
            engine,
            http,
            http_addr,
            tx_event,
            stopping,
        })
    }

    async fn run(self) -> eyre::Result<()> {
        let handle = self.start().await?;
        handle.app.await.map_err(|e| eyre::eyre!("{e}"))
    }
}
