//! Four validators, each its own `charity-node run` process on loopback,
//! agreeing through the Malachite engine: they commit a submitted
//! transaction and agree on every block hash; an invalid transaction is
//! refused with its code and never committed; a receipt from any node
//! verifies against the genesis validators and fails after a changed byte;
//! a consistency proof between two checkpoints verifies; with one validator
//! killed (-9) the other three keep committing, and the killed one restarts
//! and catches up; a full node started later syncs from genesis to the
//! same head; blocks proposed with an invalid transaction are never
//! committed; a change of validators takes effect at the next height; a
//! stranger's connection is refused and logged; a configured peer that
//! sends garbage on every topic and as sync requests is logged (about once
//! a minute for each kind, not once per message) and ignored while the
//! network keeps committing; a node run by a parent stops on Ctrl-C and
//! when its parent goes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use charity_ledger::dev;
use charity_ledger::hex::Hash;
use charity_ledger::ids::Region;
use charity_ledger::kinds::{OrgRole, RegisterOrg};
use charity_ledger::receipt::{verify_receipt, Receipt};
use charity_ledger::{merkle, Genesis, Keypair, TxKind};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(90);

struct Validator {
    home: PathBuf,
    child: Option<Child>,
    /// With `--with-parent`: the end of the node's stdin the test holds.
    parent: Option<std::process::ChildStdin>,
    url: String,
}

impl Validator {
    fn start(home: &Path) -> Validator {
        Validator::start_with(home, None)
    }

    fn start_with(home: &Path, fault: Option<&str>) -> Validator {
        Validator::spawn(home, fault, false)
    }

    /// Starts `charity-node run --with-parent`, the test holding its stdin.
    fn start_with_parent(home: &Path) -> Validator {
        Validator::spawn(home, None, true)
    }

    fn spawn(home: &Path, fault: Option<&str>, with_parent: bool) -> Validator {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_charity-node"));
        if let Some(f) = fault {
            cmd.env("CHARITY_FAULT", f);
        }
        cmd.arg("run");
        if with_parent {
            cmd.arg("--with-parent").stdin(Stdio::piped());
        }
        let log = std::fs::File::create(home.join("node.log")).unwrap();
        let mut child = cmd
            .arg("--home")
            .arg(home)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start charity-node run");
        let parent = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("explorer at ").nth(1) {
                    let _ = tx.send(rest.trim().trim_end_matches('/').to_string());
                }
            }
        });
        let url = rx.recv_timeout(WAIT).unwrap_or_else(|e| {
            panic!(
                "the node in {} did not start ({e}): {}",
                home.display(),
                std::fs::read_to_string(home.join("node.log")).unwrap_or_default()
            )
        });
        Validator {
            home: home.to_path_buf(),
            child: Some(child),
            parent,
            url,
        }
    }

    /// Waits for the node to exit by itself (see [`until`]), and checks
    /// that it ended well.
    fn exits(&mut self, after: &str) {
        let child = self.child.as_mut().expect("the node was started");
        until(&format!("the node to stop after {after}"), || {
            child.try_wait().unwrap().is_some()
        });
        let status = self.child.take().unwrap().wait().unwrap();
        let log = std::fs::read_to_string(self.home.join("node.log")).unwrap_or_default();
        assert!(status.success(), "{status} after {after}: {log}");
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL: a crash, not a shutdown
            let _ = c.wait();
        }
    }
}

impl Drop for Validator {
    fn drop(&mut self) {
        self.kill();
    }
}

fn get(url: &str) -> Value {
    let body = ureq::get(url).call().unwrap().into_string().unwrap();
    serde_json::from_str(&body).unwrap()
}

fn try_get(url: &str) -> Option<Value> {
    ureq::get(url)
        .call()
        .ok()
        .and_then(|r| r.into_string().ok())
        .and_then(|b| serde_json::from_str(&b).ok())
}

fn height(v: &Validator) -> u64 {
    try_get(&format!("{}/v1/status", v.url))
        .and_then(|s| s["height"].as_u64())
        .unwrap_or(0)
}

/// Polls until `cond` holds (each check is a real query), or fails.
fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn committed_height(v: &Validator, id: &Hash) -> Option<u64> {
    let s = try_get(&format!("{}/v1/txs/{id}", v.url))?;
    (s["status"] == "committed")
        .then(|| s["height"].as_u64())
        .flatten()
}

fn submit(v: &Validator, tx: &charity_ledger::Transaction) -> (u16, Value) {
    let r = ureq::post(&format!("{}/v1/txs", v.url))
        .set("content-type", "application/json")
        .send_bytes(&tx.to_canonical_json().unwrap());
    match r {
        Ok(resp) => (
            resp.status(),
            serde_json::from_str(&resp.into_string().unwrap()).unwrap(),
        ),
        Err(ureq::Error::Status(code, resp)) => (
            code,
            serde_json::from_str(&resp.into_string().unwrap()).unwrap(),
        ),
        Err(e) => panic!("{e}"),
    }
}

fn registration(chain: &str, key: &Keypair, n: u64) -> charity_ledger::Transaction {
    let kind = TxKind::RegisterOrg(RegisterOrg {
        org_id: dev::org_id(&format!("52440100MJ{n:07}")).unwrap(),
        name: format!("测试慈善会 {n}"),
        role: OrgRole::Charity,
        public_fundraising: false,
        keys: vec![dev::key(&format!("net-{n}")).public()],
        region: Region::parse("440100").unwrap(),
    });
    charity_sdk::tx::sign(chain, key, kind).unwrap()
}

#[test]
fn four_validators_agree_survive_a_crash_and_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_charity-node"))
        .args([
            "testnet",
            "--validators",
            "4",
            "--base-port",
            "0",
            "--heartbeat-ms",
            "500",
            "--dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut nodes: Vec<Validator> = (0..4)
        .map(|i| Validator::start(&dir.path().join(format!("node-{i}"))))
        .collect();
    let regulator = charity_sdk::keys::load(&dir.path().join("regulator.key")).unwrap();
    let genesis =
        Genesis::decode(&std::fs::read(dir.path().join("node-0/genesis.json")).unwrap()).unwrap();
    let chain = genesis.chain_id.clone();
    let trusted = genesis.validator_set().unwrap().public_list();

    // A transaction submitted to one node is committed on all four.
    let t1 = registration(&chain, &regulator, 1);
    let (code, body) = submit(&nodes[1], &t1);
    assert_eq!(code, 202, "{body}");
    until("the first transaction on every node", || {
        nodes
            .iter()
            .all(|n| committed_height(n, &t1.id()).is_some())
    });
    let h1 = committed_height(&nodes[0], &t1.id()).unwrap();

    // A first checkpoint, then more history.
    let cp1 = get(&format!("{}/v1/checkpoint", nodes[2].url));
    let t2 = registration(&chain, &regulator, 2);
    assert_eq!(submit(&nodes[3], &t2).0, 202);
    until("the second transaction", || {
        nodes
            .iter()
            .all(|n| committed_height(n, &t2.id()).is_some())
    });

    // An invalid transaction (a regulator's act signed by a stranger) is
    // refused with its code and never committed.
    let stranger = dev::key("stranger");
    let bad = registration(&chain, &stranger, 3);
    let (code, body) = submit(&nodes[0], &bad);
    assert_eq!(code, 403, "{body}");
    assert_eq!(body["code"], "unknown_signer", "{body}");

    // Every node has the same block at every height.
    let top = nodes.iter().map(height).min().unwrap();
    assert!(top >= h1);
    for h in 1..=top {
        let hashes: Vec<Value> = nodes
            .iter()
            .map(|n| get(&format!("{}/v1/blocks/{h}", n.url))["hash"].clone())
            .collect();
        assert!(
            hashes.windows(2).all(|w| w[0] == w[1]),
            "height {h}: {hashes:?}"
        );
    }
    assert!(nodes
        .iter()
        .all(|n| committed_height(n, &bad.id()).is_none()));

    // A receipt from any node verifies against the genesis validators, and
    // not after any changed byte in its signatures.
    for n in &nodes {
        let bytes = ureq::get(&format!("{}/v1/txs/{}/receipt", n.url, t1.id()))
            .call()
            .unwrap()
            .into_string()
            .unwrap();
        let r = Receipt::decode(bytes.as_bytes()).unwrap();
        verify_receipt(&r, &trusted).unwrap();
        for i in (0..bytes.len()).step_by(5) {
            let mut b = bytes.clone().into_bytes();
            b[i] = if b[i] == b'0' { b'1' } else { b'0' };
            let still = Receipt::decode(&b).is_ok_and(|r| verify_receipt(&r, &trusted).is_ok());
            assert!(!still, "byte {i} changed and the receipt still verifies");
        }
    }
    // The nodes see each other.
    assert!(
        get(&format!("{}/v1/status", nodes[0].url))["peers"]
            .as_u64()
            .unwrap()
            >= 2
    );

    // The log only grew between the two checkpoints.
    let cp2 = get(&format!("{}/v1/checkpoint", nodes[0].url));
    let (from, to) = (
        cp1["header"]["log_size"].as_u64().unwrap(),
        cp2["header"]["log_size"].as_u64().unwrap(),
    );
    assert!(from >= 1 && to > from, "{from} {to}");
    let proof = get(&format!(
        "{}/v1/log/consistency?from={from}&to={to}",
        nodes[1].url
    ));
    let proof: Vec<[u8; 32]> = proof["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| Hash::parse(h.as_str().unwrap()).unwrap().0)
        .collect();
    let root = |cp: &Value| {
        Hash::parse(cp["header"]["log_root"].as_str().unwrap())
            .unwrap()
            .0
    };
    merkle::verify_consistency(from, to, &root(&cp1), &root(&cp2), &proof).unwrap();

    // One validator crashes; the other three keep committing.
    nodes[3].kill();
    let t4 = registration(&chain, &regulator, 4);
    assert_eq!(submit(&nodes[0], &t4).0, 202);
    until("a commit without the crashed validator", || {
        nodes[..3]
            .iter()
            .all(|n| committed_height(n, &t4.id()).is_some())
    });
    let h4 = committed_height(&nodes[0], &t4.id()).unwrap();

    // It restarts from its store and catches up to the same chain.
    let home = nodes[3].home.clone();
    nodes[3] = Validator::start(&home);
    until("the restarted validator to catch up", || {
        height(&nodes[3]) >= h4
    });
    let mine = get(&format!("{}/v1/blocks/{h4}", nodes[3].url))["hash"].clone();
    let theirs = get(&format!("{}/v1/blocks/{h4}", nodes[0].url))["hash"].clone();
    assert_eq!(mine, theirs);
    assert!(committed_height(&nodes[3], &t4.id()).is_some());
    // And takes part again: the network keeps committing with it.
    let t5 = registration(&chain, &regulator, 5);
    assert_eq!(submit(&nodes[3], &t5).0, 202);
    until("a transaction submitted to the restarted validator", || {
        nodes
            .iter()
            .all(|n| committed_height(n, &t5.id()).is_some())
    });
}

fn testnet(dir: &Path, full_nodes: usize) {
    let out = Command::new(env!("CARGO_BIN_EXE_charity-node"))
        .args([
            "testnet",
            "--validators",
            "4",
            "--base-port",
            "0",
            "--heartbeat-ms",
            "300",
            "--full-nodes",
        ])
        .arg(full_nodes.to_string())
        .arg("--dir")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn invalid_proposals_are_never_committed_and_a_late_full_node_syncs() {
    let dir = tempfile::tempdir().unwrap();
    testnet(dir.path(), 1);
    // Node 0 proposes blocks carrying a transaction no validator accepts.
    let nodes: Vec<Validator> = (0..4)
        .map(|i| {
            let fault = (i == 0).then_some("invalid-proposals");
            Validator::start_with(&dir.path().join(format!("node-{i}")), fault)
        })
        .collect();
    let bad_key = charity_sdk::keys::load(&dir.path().join("node-0/node.key"))
        .unwrap()
        .public();
    // Enough heights that node 0 had its turns (it proposes one in four
    // first rounds).
    until("twelve heights", || height(&nodes[1]) >= 12);
    let top = height(&nodes[1]);
    for h in 1..=top {
        let b = get(&format!("{}/v1/blocks/{h}", nodes[1].url));
        assert_ne!(
            b["header"]["proposer"].as_str().unwrap(),
            bad_key.to_string(),
            "height {h} committed a block of the faulty proposer"
        );
        for id in b["tx_ids"].as_array().unwrap() {
            let tx = get(&format!("{}/v1/txs/{}", nodes[1].url, id.as_str().unwrap()));
            assert_ne!(
                tx["tx"]["body"]["kind"], "audit_note",
                "the injected transaction was committed"
            );
        }
    }

    // A full node (not a validator) started now syncs from genesis to the
    // same head.
    let follower = Validator::start(&dir.path().join("node-4"));
    let target = height(&nodes[2]);
    until("the full node to sync", || height(&follower) >= target);
    for h in [1, target / 2, target] {
        assert_eq!(
            get(&format!("{}/v1/blocks/{h}", follower.url))["hash"],
            get(&format!("{}/v1/blocks/{h}", nodes[2].url))["hash"],
            "height {h}"
        );
    }
    // Its status reports what its peers announced, and, caught up, that
    // it is not syncing.
    until(
        "the full node to hear its peers' tips and be caught up",
        || {
            let s = get(&format!("{}/v1/status", follower.url));
            let peer = s["peer_height"].as_u64().unwrap();
            peer >= target && s["syncing"] == false
        },
    );

    // A transaction submitted to the full node, which never proposes,
    // reaches the validators by gossip and is committed.
    let regulator = charity_sdk::keys::load(&dir.path().join("regulator.key")).unwrap();
    let genesis =
        Genesis::decode(&std::fs::read(dir.path().join("node-0/genesis.json")).unwrap()).unwrap();
    let t = registration(&genesis.chain_id, &regulator, 9);
    let (code, body) = submit(&follower, &t);
    assert_eq!(code, 202, "{body}");
    until("the gossiped transaction to be committed", || {
        nodes.iter().all(|n| committed_height(n, &t.id()).is_some())
    });

    // A peer that is not in the configuration is refused, and logged.
    let listen = p2p_listen(&dir.path().join("node-1"));
    stranger_dials(listen);
    let log = dir.path().join("node-1/node.log");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("refused a connection")
    {
        assert!(
            Instant::now() < deadline,
            "no refusal logged: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Where the node in `home` listens for peers, from its configuration.
fn p2p_listen(home: &Path) -> libp2p::Multiaddr {
    let config = std::fs::read_to_string(home.join("config.toml")).unwrap();
    config
        .lines()
        .find_map(|l| l.strip_prefix("p2p_listen = "))
        .unwrap()
        .trim_matches('"')
        .parse()
        .unwrap()
}

/// A libp2p node with a fresh identity dials `addr` and keeps trying until
/// it is dropped.
fn stranger_dials(addr: libp2p::Multiaddr) {
    on_own_runtime(async move {
        use libp2p::futures::StreamExt;
        let mut swarm = tcp_swarm(libp2p::identity::Keypair::generate_ed25519(), |_| {
            libp2p::swarm::dummy::Behaviour
        });
        for _ in 0..50 {
            let _ = swarm.dial(addr.clone());
            let _ =
                tokio::time::timeout(Duration::from_millis(500), swarm.select_next_some()).await;
        }
    });
}

/// Runs `work` on a thread with its own Tokio runtime.
fn on_own_runtime<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(work)
    })
}

/// A libp2p swarm over TCP with noise and yamux, as the nodes use.
fn tcp_swarm<B: libp2p::swarm::NetworkBehaviour>(
    identity: libp2p::identity::Keypair,
    behaviour: impl FnOnce(&libp2p::identity::Keypair) -> B,
) -> libp2p::Swarm<B> {
    libp2p::SwarmBuilder::with_existing_identity(identity)
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|key| behaviour(key))
        .unwrap()
        .build()
}

#[test]
fn init_writes_a_home_that_run_accepts() {
    use malachitebft_app_channel::app::node::Node as _;
    let dir = tempfile::tempdir().unwrap();
    testnet(dir.path(), 0);
    let home = dir.path().join("joiner");
    let out = Command::new(env!("CARGO_BIN_EXE_charity-node"))
        .args([
            "init",
            "--http",
            "127.0.0.1:0",
            "--peer",
            "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
            "--home",
        ])
        .arg(&home)
        .arg("--genesis")
        .arg(dir.path().join("node-0/genesis.json"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("chain: charity-testnet") && text.contains("/p2p/12D3"),
        "{text}"
    );
    let node = charity_node::consensus::node::HomeNode::open(&home).unwrap();
    let config = node.load_config().unwrap();
    assert_eq!(config.p2p_peers.len(), 1);
    let key = charity_sdk::keys::load(&home.join("node.key")).unwrap();
    assert!(text.contains(&key.public().to_string()));
    // A second init keeps the key.
    let again = Command::new(env!("CARGO_BIN_EXE_charity-node"))
        .args(["init", "--home"])
        .arg(&home)
        .arg("--genesis")
        .arg(dir.path().join("node-0/genesis.json"))
        .output()
        .unwrap();
    assert!(again.status.success());
    assert_eq!(
        charity_sdk::keys::load(&home.join("node.key"))
            .unwrap()
            .public(),
        key.public()
    );
}

#[derive(libp2p::swarm::NetworkBehaviour)]
struct Rogue {
    gossipsub: libp2p::gossipsub::Behaviour,
    sync: malachitebft_sync::Behaviour,
}

/// A configured peer gone bad: with the full node's key (which every
/// validator allows) it connects to `addr` and, until `stop` is set,
/// publishes garbage on every topic of the chain and sends garbage sync
/// requests.
fn rogue_peer(
    key: &Keypair,
    chain_id: &str,
    addr: libp2p::Multiaddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<usize> {
    let mut secret = key.secret_bytes();
    let identity = libp2p::identity::Keypair::ed25519_from_bytes(&mut secret).unwrap();
    let topics: Vec<libp2p::gossipsub::IdentTopic> =
        ["txs", "consensus", "proposal-parts", "liveness", "status"]
            .iter()
            .map(|t| {
                libp2p::gossipsub::IdentTopic::new(format!("charity-ledger/v1/{t}/{chain_id}"))
            })
            .collect();
    on_own_runtime(async move {
        use libp2p::futures::StreamExt;
        let config = libp2p::gossipsub::ConfigBuilder::default()
            .max_transmit_size(1 << 20)
            .build()
            .unwrap();
        let mut swarm = tcp_swarm(identity, |key| Rogue {
            gossipsub: libp2p::gossipsub::Behaviour::new(
                libp2p::gossipsub::MessageAuthenticity::Signed(key.clone()),
                config,
            )
            .unwrap(),
            sync: malachitebft_sync::Behaviour::default(),
        });
        for t in &topics {
            swarm.behaviour_mut().gossipsub.subscribe(t).unwrap();
        }
        swarm.dial(addr).unwrap();
        let garbage: Vec<Vec<u8>> = vec![
            vec![],
            vec![0xff; 3],
            b"{\"not\":\"what you expect\"}".to_vec(),
            b"\n\n{\"body\":{\"chain_id\":".to_vec(),
            (0..=255u8).cycle().take(300_000).collect(),
        ];
        let mut sent = 0usize;
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        let mut round = 0usize;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            tokio::select! {
                _ = tick.tick() => {
                    round += 1;
                    for t in &topics {
                        let mut g = garbage[round % garbage.len()].clone();
                        g.extend_from_slice(&round.to_be_bytes());
                        if swarm.behaviour_mut().gossipsub.publish(t.clone(), g).is_ok() {
                            sent += 1;
                        }
                    }
                    let peers: Vec<_> = swarm.connected_peers().copied().collect();
                    for p in peers {
                        swarm
                            .behaviour_mut()
                            .sync
                            .send_request(p, bytes::Bytes::from(garbage[round % garbage.len()].clone()));
                    }
                }
                _ = swarm.select_next_some() => {}
            }
        }
        sent
    })
}

/// What the rogue peer's garbage arrives as, as the node's log names it.
const GARBAGE_KINDS: [&str; 6] = [
    "consensus message",
    "proposal part",
    "liveness message",
    "status",
    "sync request",
    "transaction",
];

#[test]
fn a_configured_peer_sending_garbage_does_not_hurt_the_network() {
    let dir = tempfile::tempdir().unwrap();
    testnet(dir.path(), 1);
    let nodes: Vec<Validator> = (0..4)
        .map(|i| Validator::start(&dir.path().join(format!("node-{i}"))))
        .collect();
    until("a first height", || height(&nodes[1]) >= 1);
    let genesis =
        Genesis::decode(&std::fs::read(dir.path().join("node-0/genesis.json")).unwrap()).unwrap();
    let listen = p2p_listen(&dir.path().join("node-1"));
    // The full node's key is in every validator's allow list; the test
    // uses it, and the full node itself never starts.
    let key = charity_sdk::keys::load(&dir.path().join("node-4/node.key")).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = Instant::now();
    let rogue = rogue_peer(&key, &genesis.chain_id, listen, stop.clone());

    // The garbage arrives and is dropped, logged…
    let log = dir.path().join("node-1/node.log");
    until("node 1 to log the garbage it dropped", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        GARBAGE_KINDS
            .iter()
            .all(|what| text.contains(&format!("undecodable {what} dropped")))
    });
    // …while the network goes on committing, with every node answering.
    let before = height(&nodes[1]);
    let regulator = charity_sdk::keys::load(&dir.path().join("regulator.key")).unwrap();
    let t = registration(&genesis.chain_id, &regulator, 77);
    let (code, body) = submit(&nodes[1], &t);
    assert_eq!(code, 202, "{body}");
    until("the transaction to be committed everywhere", || {
        nodes.iter().all(|n| committed_height(n, &t.id()).is_some())
    });
    until("three more heights", || height(&nodes[1]) >= before + 3);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = rogue.join().unwrap();
    assert!(sent > 0, "the rogue peer published nothing");
    // The log reports each kind of garbage about once a minute for each
    // peer it came through, not once per message.
    let minutes = started.elapsed().as_secs() / 60 + 1;
    let text = std::fs::read_to_string(&log).unwrap();
    for what in GARBAGE_KINDS {
        let n = text.matches(&format!("undecodable {what} dropped")).count() as u64;
        assert!(
            n <= minutes * nodes.len() as u64,
            "{n} reports of an undecodable {what} in {minutes} minute(s), {sent} messages sent"
        );
    }
    for n in &nodes {
        assert!(
            try_get(&format!("{}/v1/status", n.url)).is_some(),
            "{} stopped answering",
            n.url
        );
    }
    let h = height(&nodes[1]).min(height(&nodes[3]));
    assert_eq!(
        get(&format!("{}/v1/blocks/{h}", nodes[1].url))["hash"],
        get(&format!("{}/v1/blocks/{h}", nodes[3].url))["hash"]
    );
}

#[test]
fn a_node_run_by_a_parent_stops_on_ctrl_c_and_when_the_parent_goes() {
    let dir = tempfile::tempdir().unwrap();
    testnet(dir.path(), 0);
    let home = dir.path().join("node-0");

    // Ctrl-C while the parent still holds the pipe: a clean stop.
    let mut node = Validator::start_with_parent(&home);
    assert!(try_get(&format!("{}/v1/status", node.url)).is_some());
    let pid = node.child.as_ref().unwrap().id().to_string();
    let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(sent.success());
    node.exits("Ctrl-C");

    // The parent goes (its end of the pipe closes): the node stops too.
    // Starting again opens the store the first run left.
    let mut node = Validator::start_with_parent(&home);
    drop(node.parent.take());
    node.exits("its parent went");
}
