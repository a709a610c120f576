//! `charity-node testnet` and `charity-node run`: a network of validator
//! processes on this machine, each in its own home directory.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use charity_ledger::genesis::GenesisRegulator;
use charity_ledger::ids::Region;
use charity_ledger::kinds::ValidatorEntry;
use charity_ledger::{Genesis, Keypair};
use malachitebft_app_channel::app::config::{
    ConsensusConfig, P2pConfig, TimeoutConfig, ValuePayload, ValueSyncConfig,
};
use malachitebft_app_channel::app::node::{Node, NodeHandle};
use rand::RngCore;

use charity_node::consensus::node::{config_path, genesis_path, key_path, Config, HomeNode};

/// A free TCP port on loopback. Chosen below the system's ephemeral range
/// (32768 and up on Linux), so that the outgoing connections of nodes
/// already running cannot take it before this node binds it.
fn free_port(taken: &mut std::collections::HashSet<u16>) -> Result<u16> {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    for _ in 0..200 {
        let port = rng.gen_range(20_000..32_000);
        if !taken.contains(&port) && TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            taken.insert(port);
            return Ok(port);
        }
    }
    Err(anyhow!("no free port found between 20000 and 32000"))
}

fn new_key() -> Keypair {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    Keypair::from_seed(&seed)
}

/// What `testnet` made.
pub struct Testnet {
    /// Each node's home.
    pub homes: Vec<std::path::PathBuf>,
    /// Each node's HTTP address.
    pub http: Vec<SocketAddr>,
}

/// Writes a genesis with `n` validators (run by one civil-affairs bureau,
/// whose key is written to `dir/regulator.key`) and a home directory per
/// validator under `dir/node-<i>` (then `full_nodes` more homes whose keys
/// are not validators: they follow the chain and serve it), all on
/// loopback. Ports come from
/// `base_port` upwards (HTTP at base+i, the peer-to-peer network at
/// base+100+i), or from the system if `base_port` is 0.
pub fn testnet(
    n: usize,
    full_nodes: usize,
    dir: &Path,
    base_port: u16,
    heartbeat: Duration,
) -> Result<Testnet> {
    if n == 0 {
        return Err(anyhow!("a network needs at least one validator"));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let regulator = new_key();
    let reg_id = charity_ledger::dev::org_id("11440100MB0000001")?;
    charity_sdk::keys::save(&regulator, &dir.join("regulator.key"))?;
    let keys: Vec<Keypair> = (0..n).map(|_| new_key()).collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let genesis = Genesis {
        chain_id: "charity-testnet".into(),
        currency: "CNY".into(),
        genesis_time: now,
        regulators: vec![GenesisRegulator {
            org_id: reg_id.clone(),
            name: "测试网民政局".into(),
            region: Region::parse("440100")?,
            keys: vec![regulator.public()],
        }],
        validators: keys
            .iter()
            .map(|k| ValidatorEntry {
                pubkey: k.public(),
                power: 10,
                org_id: reg_id.clone(),
            })
            .collect(),
    };
    genesis.check()?;
    let followers: Vec<Keypair> = (0..full_nodes).map(|_| new_key()).collect();
    let all: Vec<Keypair> = keys.into_iter().chain(followers).collect();
    write_homes(dir, &genesis, &all, base_port, heartbeat)
}

/// Writes a home directory `dir/node-<i>` for each key (the genesis, the
/// key, a configuration naming every other node as a peer), keeping any
/// chain already there. Ports as for [`testnet`].
pub fn write_homes(
    dir: &Path,
    genesis: &Genesis,
    all: &[Keypair],
    base_port: u16,
    heartbeat: Duration,
) -> Result<Testnet> {
    let total = all.len();
    let genesis_json = serde_json::to_vec_pretty(&genesis)?;
    let mut taken = std::collections::HashSet::new();
    let mut port = |offset: usize| -> Result<u16> {
        if base_port == 0 {
            free_port(&mut taken)
        } else {
            u16::try_from(usize::from(base_port) + offset).map_err(|_| anyhow!("port out of range"))
        }
    };
    let mut http = Vec::new();
    let mut p2p = Vec::new();
    for i in 0..total {
        http.push(SocketAddr::from((Ipv4Addr::LOCALHOST, port(i)?)));
        p2p.push(port(100 + i)?);
    }
    let mut homes = Vec::new();
    let peer_ids: Vec<String> = all
        .iter()
        .map(|k| {
            let mut secret = k.secret_bytes();
            libp2p::identity::Keypair::ed25519_from_bytes(&mut secret)
                .map(|kp| kp.public().to_peer_id().to_string())
                .map_err(|e| anyhow!("node key: {e}"))
        })
        .collect::<Result<_>>()?;
    for (i, key) in all.iter().enumerate() {
        let home = dir.join(format!("node-{i}"));
        std::fs::create_dir_all(&home).with_context(|| format!("creating {}", home.display()))?;
        std::fs::write(genesis_path(&home), &genesis_json)?;
        if !key_path(&home).exists() {
            charity_sdk::keys::save(key, &key_path(&home))?;
        }
        let config = Config {
            moniker: format!("node-{i}"),
            http_addr: http[i],
            heartbeat_ms: u64::try_from(heartbeat.as_millis()).unwrap_or(10_000),
            mempool_capacity: 10_000,
            p2p_listen: format!("/ip4/127.0.0.1/tcp/{}", p2p[i]),
            p2p_peers: (0..total)
                .filter(|j| *j != i)
                .map(|j| format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", p2p[j], peer_ids[j]))
                .collect(),
            consensus: ConsensusConfig {
                timeouts: TimeoutConfig {
                    // A proposer waits up to the heartbeat for a first
                    // transaction; the others wait a little longer.
                    timeout_propose: heartbeat + Duration::from_secs(2),
                    ..TimeoutConfig::default()
                },
                // Only its size limits are read (see `Config::consensus`).
                p2p: P2pConfig::default(),
                value_payload: ValuePayload::PartsOnly,
                queue_capacity: 100,
            },
            value_sync: ValueSyncConfig::default(),
        };
        std::fs::write(config_path(&home), toml::to_string(&config)?)?;
        homes.push(home);
    }
    Ok(Testnet { homes, http })
}

/// What `init` needs to know about one node.
pub struct InitOptions<'a> {
    /// Its home directory.
    pub home: &'a Path,
    /// The network's genesis file.
    pub genesis: &'a Path,
    /// Where its HTTP API listens.
    pub http: SocketAddr,
    /// Its peer-to-peer port.
    pub p2p_port: u16,
    /// The other nodes' addresses, ending in `/p2p/<peer id>`.
    pub peers: &'a [String],
    /// Longest time without a block when idle.
    pub heartbeat: Duration,
}

/// Creates one node's home: a new key (unless one is there), the genesis
/// and a configuration. Prints what the other operators need: the
/// validator key (for `set_validators` or the genesis) and the addresses.
pub fn init(o: &InitOptions<'_>) -> Result<()> {
    let genesis = Genesis::decode(
        &std::fs::read(o.genesis).with_context(|| format!("reading {}", o.genesis.display()))?,
    )
    .map_err(|e| anyhow!("{}: {e}", o.genesis.display()))?;
    std::fs::create_dir_all(o.home).with_context(|| format!("creating {}", o.home.display()))?;
    let key = if key_path(o.home).exists() {
        charity_sdk::keys::load(&key_path(o.home))?
    } else {
        let k = new_key();
        charity_sdk::keys::save(&k, &key_path(o.home))?;
        k
    };
    std::fs::write(genesis_path(o.home), serde_json::to_vec_pretty(&genesis)?)?;
    for p in o.peers {
        charity_node::p2p::parse_peer(p).map_err(|e| anyhow!("--peer: {e}"))?;
    }
    let config = Config {
        moniker: o
            .home
            .file_name()
            .map_or_else(|| "node".into(), |n| n.to_string_lossy().into_owned()),
        http_addr: o.http,
        heartbeat_ms: u64::try_from(o.heartbeat.as_millis()).unwrap_or(10_000),
        mempool_capacity: 10_000,
        p2p_listen: format!("/ip4/0.0.0.0/tcp/{}", o.p2p_port),
        p2p_peers: o.peers.to_vec(),
        consensus: ConsensusConfig {
            timeouts: TimeoutConfig {
                timeout_propose: o.heartbeat + Duration::from_secs(2),
                ..TimeoutConfig::default()
            },
            p2p: P2pConfig::default(),
            value_payload: ValuePayload::PartsOnly,
            queue_capacity: 100,
        },
        value_sync: ValueSyncConfig::default(),
    };
    std::fs::write(config_path(o.home), toml::to_string(&config)?)?;
    let mut secret = key.secret_bytes();
    let peer_id = libp2p::identity::Keypair::ed25519_from_bytes(&mut secret)
        .map_err(|e| anyhow!("node key: {e}"))?
        .public()
        .to_peer_id();
    println!("home: {}", o.home.display());
    println!("chain: {}", genesis.chain_id);
    println!(
        "validator key (for the genesis or set_validators): {}",
        key.public()
    );
    println!(
        "peer address (for the others' --peer): /ip4/<this host>/tcp/{}/p2p/{peer_id}",
        o.p2p_port
    );
    println!(
        "edit {} to adjust; start with: charity-node run --home {}",
        config_path(o.home).display(),
        o.home.display()
    );
    Ok(())
}

/// Fires when standard input reaches its end: the process that started
/// this node with a pipe has gone, however it ended.
///
/// The read blocks, so it runs on a thread of its own rather than on the
/// runtime: a runtime waits for its blocking reads when it shuts down, and
/// this one would never finish while the parent keeps the pipe open, so a
/// node told to stop by Ctrl-C would hang.
fn stdin_closed() -> Result<tokio::sync::oneshot::Receiver<()>> {
    use std::io::Read;
    let (closed, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("stdin-watch".into())
        .spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = [0u8; 64];
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let _ = closed.send(());
        })
        .context("starting the thread that watches standard input")?;
    Ok(rx)
}

/// Runs the node in `home` until Ctrl-C (or, with `with_parent`, until
/// standard input closes).
pub fn run(home: &Path, with_parent: bool) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,informalsystems_malachitebft=warn,libp2p=warn")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let parent_gone = if with_parent {
        Some(stdin_closed()?)
    } else {
        None
    };
    rt.block_on(async {
        let node = HomeNode::open(home).map_err(|e| anyhow!("{e}"))?;
        let mut handle = node.start().await.map_err(|e| anyhow!("{e:#}"))?;
        // Ctrl-C's handler is installed when its future is first polled;
        // poll it once before saying the node runs, so that a Ctrl-C from
        // then on stops the node cleanly rather than killing it.
        let mut interrupted = std::pin::pin!(tokio::signal::ctrl_c());
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let early = std::future::Future::poll(interrupted.as_mut(), &mut cx).is_ready();
        println!(
            "node running; HTTP API and explorer at http://{}/",
            handle.http_addr
        );
        let ended = if early {
            None
        } else {
            tokio::select! {
                _ = interrupted => None,
                _ = async {
                    match parent_gone {
                        Some(gone) => {
                            let _ = gone.await;
                        }
                        None => std::future::pending().await,
                    }
                } => None,
                r = &mut handle.app => Some(r),
            }
        };
        match ended {
            None => {
                let _ = handle.kill(None).await;
                Ok(())
            }
            Some(r) => {
                r.map_err(|e| anyhow!("{e}"))?;
                Err(anyhow!("the consensus application stopped"))
            }
        }
    })
}

/// Lines of a failed validator's log quoted in the error.
const LOG_TAIL_LINES: usize = 12;

/// How much of the end of a log is read to quote its last lines.
const LOG_TAIL_BYTES: u64 = 16 * 1024;

/// The last `lines` lines of the log at `path` (or why it cannot be read),
/// each indented. Only the last [`LOG_TAIL_BYTES`] are read, so a long log
/// costs no more than a short one.
fn log_tail(path: &Path, lines: usize) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let read = || -> std::io::Result<String> {
        let mut f = std::fs::File::open(path)?;
        let len = f.metadata()?.len();
        let from = len.saturating_sub(LOG_TAIL_BYTES);
        f.seek(SeekFrom::Start(from))?;
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)?;
        let text = String::from_utf8_lossy(&bytes);
        let mut all: Vec<&str> = text.lines().collect();
        if from > 0 && !all.is_empty() {
            // The first line read is most likely cut.
            all.remove(0);
        }
        let keep = all.len().saturating_sub(lines);
        Ok(all
            .get(keep..)
            .unwrap_or_default()
            .iter()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n"))
    };
    read().unwrap_or_else(|e| format!("    (cannot read {}: {e})", path.display()))
}

/// A validator process ended while it was expected to run. Callers that
/// picked its ports themselves may start it again on other ports (another
/// process may have taken one of them first); a validator that is still
/// running but does not answer is a different failure.
#[derive(Debug, thiserror::Error)]
#[error("the validator in {home} exited ({status}); the end of its node.log:\n{tail}")]
pub(crate) struct ValidatorExited {
    pub(crate) home: String,
    pub(crate) status: std::process::ExitStatus,
    pub(crate) tail: String,
}

/// Validator processes on this machine, one `charity-node run
/// --with-parent` per home, each logging to `node.log` in its home. They
/// stop when the end of their stdin held here closes, and are killed when
/// this is dropped, however the caller ends.
pub(crate) struct Validators {
    children: Vec<(std::path::PathBuf, std::process::Child)>,
}

impl Validators {
    /// Starts one process per home.
    pub(crate) fn start(homes: &[std::path::PathBuf]) -> Result<Self> {
        let exe = std::env::current_exe().context("finding the charity-node executable")?;
        let mut v = Validators {
            children: Vec::new(),
        };
        for home in homes {
            let log = std::fs::File::create(home.join("node.log"))
                .with_context(|| format!("creating {}", home.join("node.log").display()))?;
            let child = std::process::Command::new(&exe)
                .args(["run", "--with-parent", "--home"])
                .arg(home)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .stderr(log)
                .spawn()
                .with_context(|| format!("starting the validator in {}", home.display()))?;
            v.children.push((home.clone(), child));
        }
        Ok(v)
    }

    /// Fails, naming its home and quoting the end of its log, if any
    /// process has exited.
    pub(crate) fn check_running(&mut self) -> Result<()> {
        for (home, child) in &mut self.children {
            if let Some(status) = child.try_wait()? {
                return Err(ValidatorExited {
                    home: home.display().to_string(),
                    status,
                    tail: log_tail(&home.join("node.log"), LOG_TAIL_LINES),
                }
                .into());
            }
        }
        Ok(())
    }

    /// Waits until every validator answers over HTTP (they open and verify
    /// their stores first), at most `timeout`.
    pub(crate) fn wait_ready(
        &mut self,
        clients: &[charity_sdk::client::Client],
        timeout: Duration,
    ) -> Result<()> {
        let deadline = std::time::Instant::now() + timeout;
        for (i, c) in clients.iter().enumerate() {
            while c.get_json("/v1/status").is_err() {
                self.check_running()?;
                if std::time::Instant::now() > deadline {
                    let home = self.children.get(i).map(|(h, _)| h.display().to_string());
                    return Err(anyhow!(
                        "the validator in {} did not start; see its node.log",
                        home.unwrap_or_default()
                    ));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    /// Their process ids, in the order of the homes.
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.children.iter().map(|(_, c)| c.id()).collect()
    }
}

impl Drop for Validators {
    fn drop(&mut self) {
        for (_, c) in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_validator_is_reported_with_the_end_of_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("node.log");
        let text: Vec<String> = (1..=20).map(|i| format!("line {i}")).collect();
        std::fs::write(&log, text.join("\n")).unwrap();
        let tail = log_tail(&log, 3);
        assert_eq!(tail, "    line 18\n    line 19\n    line 20");
        let missing = log_tail(&dir.path().join("absent.log"), 3);
        assert!(missing.contains("cannot read"), "{missing}");

        // A log far longer than what is read still ends the same way, and
        // the cut line at the start of what is read is not quoted.
        let long: Vec<String> = (1..=5000).map(|i| format!("line {i}")).collect();
        std::fs::write(&log, long.join("\n")).unwrap();
        let tail = log_tail(&log, 2);
        assert_eq!(tail, "    line 4999\n    line 5000");
        let all = log_tail(&log, usize::MAX);
        assert!(all.lines().all(|l| l.starts_with("    line ")), "{all}");
        assert!(all.lines().count() < 5000);
    }

    #[test]
    fn an_exited_validator_is_told_apart_from_one_that_does_not_answer() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("node.log"), "listening: address in use").unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        child.wait().unwrap();
        let mut v = Validators {
            children: vec![(dir.path().to_path_buf(), child)],
        };
        let e = v.check_running().unwrap_err();
        assert!(e.is::<ValidatorExited>(), "{e:#}");
        assert!(format!("{e:#}").contains("address in use"), "{e:#}");
    }
}
