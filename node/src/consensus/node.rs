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
use malachitebft_app_channel::app::events::{RxEvent, TxEvent};
use malachitebft_app_channel::app::node::{EngineHandle, Node, NodeConfig, NodeHandle};
use malachitebft_app_channel::app::types::Keypair as NetKeypair;
use serde::{Deserialize, Serialize};

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
    /// Where transaction gossip listens (a libp2p multiaddr).
    #[serde(default)]
    pub gossip_listen: String,
    /// The other nodes for gossip, as multiaddrs ending in `/p2p/<peer id>`:
    /// the only peers this node talks to.
    #[serde(default)]
    pub gossip_peers: Vec<String>,
    /// The engine: timeouts and the peer-to-peer network.
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
}

#[async_trait]
impl NodeHandle<CharityContext> for Handle {
    fn subscribe(&self) -> RxEvent<CharityContext> {
        self.tx_event.subscribe()
    }

    async fn kill(&self, _reason: Option<String>) -> eyre::Result<()> {
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

/// A gossip peer: a multiaddr whose last part names the peer id.
fn gossip_peer(s: &str) -> eyre::Result<(libp2p::Multiaddr, libp2p::PeerId)> {
    let addr: libp2p::Multiaddr = s
        .parse()
        .map_err(|e| eyre::eyre!("gossip peer {s:?}: {e}"))?;
    match addr.iter().last() {
        Some(libp2p::multiaddr::Protocol::P2p(peer)) => Ok((addr, peer)),
        _ => Err(eyre::eyre!(
            "gossip peer {s:?} does not end in /p2p/<peer id>"
        )),
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
            .map_err(|e| eyre::eyre!("opening the store: {e}"))?;
        let tip = store.tip().clone();
        let start = Height(tip.height + 1);
        let set = ValidatorSet::from_ledger(&tip.next_validators);
        let store = Arc::new(RwLock::new(store));
        let mut api = ApiState::new(store.clone(), config.mempool_capacity);
        if !config.gossip_listen.is_empty() {
            let gossip = crate::gossip::GossipConfig {
                listen: config
                    .gossip_listen
                    .parse()
                    .map_err(|e| eyre::eyre!("gossip_listen {:?}: {e}", config.gossip_listen))?,
                peers: config
                    .gossip_peers
                    .iter()
                    .map(|p| gossip_peer(p))
                    .collect::<eyre::Result<_>>()?,
                chain_id: self.chain_id.clone(),
            };
            let peers = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let outbox = crate::gossip::spawn(
                self.get_keypair(key.clone()),
                gossip,
                api.clone(),
                peers.clone(),
            )
            .map_err(|e| eyre::eyre!("starting gossip: {e}"))?;
            api.gossip = Some(outbox);
            api.peers = Arc::new(move || peers.load(std::sync::atomic::Ordering::Relaxed));
        }

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
        let (mut channels, engine) = malachitebft_app_channel::start_engine(
            ctx,
            self.clone(),
            config.clone(),
            WireCodec,
            WireCodec,
            Some(start),
            set,
        )
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
        let app = tokio::spawn(async move {
            if let Err(e) = app::run(&mut state, &mut channels).await {
                tracing::error!(%e, "the consensus application stopped");
            }
        });
        Ok(Handle {
            app,
            engine,
            http,
            http_addr,
            tx_event,
        })
    }

    async fn run(self) -> eyre::Result<()> {
        let handle = self.start().await?;
        handle.app.await.map_err(|e| eyre::eyre!("{e}"))
    }
}
