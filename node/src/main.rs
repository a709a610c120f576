//! `charity-node`: runs a charity-ledger node and its demo.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// Replaying and auditing a chain allocate millions of small entries;
/// mimalloc does that markedly faster than the system allocator (the audit
/// bench measures it).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bench;
mod demo;
mod network;

/// A charity-ledger node.
#[derive(Parser, Debug)]
#[command(name = "charity-node", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Builds (or reopens) a demo chain with a year of realistic data,
    /// prints what donors, charities and regulators would look at, and keeps
    /// adding donations until interrupted.
    Demo {
        /// Where the demo chain and its evidence documents live.
        #[arg(long, default_value = "./demo-data")]
        data_dir: PathBuf,
        /// Build and print, then exit instead of adding donations live.
        #[arg(long)]
        no_live: bool,
        /// Seconds between rounds of new donations.
        #[arg(long, default_value_t = 3)]
        live_interval: u64,
        /// Stop after this many rounds of new donations.
        #[arg(long)]
        live_blocks: Option<u64>,
        /// Port of the HTTP API while live (0: any free port).
        #[arg(long, default_value_t = 8080)]
        base_port: u16,
    },
    /// Writes a genesis and a home directory per validator for a network on
    /// this machine (HTTP at base-port + i, peer-to-peer at base-port + 100
    /// + i; 0 lets the system choose).
    Testnet {
        /// Validators.
        #[arg(long, default_value_t = 4)]
        validators: usize,
        /// Full nodes (following the chain without voting), after the
        /// validators' homes.
        #[arg(long, default_value_t = 0)]
        full_nodes: usize,
        /// Where the homes go (DIR/node-<i>, and DIR/regulator.key).
        #[arg(long)]
        dir: PathBuf,
        /// First port.
        #[arg(long, default_value_t = 26_000)]
        base_port: u16,
        /// Longest time without a block when idle, in milliseconds.
        #[arg(long, default_value_t = 10_000)]
        heartbeat_ms: u64,
    },
    /// Creates one node's home directory (key, genesis, configuration) to
    /// join an existing network, and prints its key and addresses for the
    /// other operators.
    Init {
        /// The home to create.
        #[arg(long)]
        home: PathBuf,
        /// The network's genesis file.
        #[arg(long)]
        genesis: PathBuf,
        /// Where the HTTP API and explorer listen.
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: std::net::SocketAddr,
        /// Peer-to-peer port (consensus, sync and transaction gossip).
        #[arg(long, default_value_t = 26_100)]
        p2p_port: u16,
        /// Another node's address ending in /p2p/<peer id>, e.g.
        /// /ip4/10.0.0.2/tcp/26100/p2p/12D3KooW...; repeat. Only these
        /// peers may connect.
        #[arg(long = "peer")]
        peers: Vec<String>,
        /// Longest time without a block when idle, in milliseconds.
        #[arg(long, default_value_t = 10_000)]
        heartbeat_ms: u64,
    },
    /// Measures a network of validator processes on this machine:
    /// committed transactions per second end to end.
    Bench {
        /// Validators.
        #[arg(long, default_value_t = 4)]
        validators: usize,
        /// Seconds the clients submit for.
        #[arg(long, default_value_t = 60)]
        secs: u64,
        /// Concurrent HTTP clients, spread over the validators.
        #[arg(long, default_value_t = 8)]
        clients: usize,
    },
    /// Runs a validator from its home directory: consensus with the other
    /// validators, the HTTP API and the explorer.
    Run {
        /// The node's home (config.toml, genesis.json, node.key, chain/).
        #[arg(long)]
        home: PathBuf,
        /// Stop when standard input closes (for a parent process that
        /// starts nodes with a pipe, such as the demo).
        #[arg(long)]
        with_parent: bool,
    },
    /// Re-verifies a stored chain from its genesis: every block, signature,
    /// commit, rule and allocation, and the resulting state entry by entry.
    Audit {
        /// The store directory (for the demo's history: DATA_DIR/chain).
        #[arg(long, required_unless_present = "home", conflicts_with = "home")]
        store: Option<PathBuf>,
        /// A node's home directory (its store is HOME/chain).
        #[arg(long)]
        home: Option<PathBuf>,
        /// The state file of a `charity witness` that follows this chain:
        /// the audit then also fails if the chain does not hold the block
        /// the witness last saw (a store cut short re-verifies as a shorter
        /// chain; this tells it apart).
        #[arg(long)]
        witness: Option<PathBuf>,
    },
    /// Writes CSV exports (UTF-8 with BOM) of organisations, campaigns,
    /// donations (donor tags only), disbursements and allocations, and an
    /// IATI 2.03 activities file (one activity per campaign).
    Export {
        /// The store directory (for the demo: DATA_DIR/chain).
        #[arg(long)]
        store: PathBuf,
        /// The directory to write the files into.
        #[arg(long)]
        out: PathBuf,
        /// Only the donations, disbursements and allocations recorded in
        /// this year (China Standard Time), as the annual figures count
        /// them; organisations, campaigns and the IATI file stay whole.
        #[arg(long, value_parser = clap::value_parser!(i32).range(1970..=9999))]
        year: Option<i32>,
    },
}

/// A store that would not open, with its path and the error's code.
fn opening(
    store: &std::path::Path,
) -> impl FnOnce(charity_ledger::store::StoreError) -> anyhow::Error + '_ {
    move |e| {
        anyhow::anyhow!(
            "opening the store at {} [{}]: {e}",
            store.display(),
            e.code()
        )
    }
}

fn export(store: &std::path::Path, out: &std::path::Path, year: Option<i32>) -> anyhow::Result<()> {
    use charity_ledger::export::Period;
    let store = charity_ledger::Store::open(store).map_err(opening(store))?;
    let period = year.map_or(Period::All, Period::Year);
    let written = charity_sdk::exports::write(store.kv(), store.tip().time, out, period)
        .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?;
    for (path, len) in written {
        println!("{} ({len} bytes)", path.display());
    }
    Ok(())
}

fn audit(store: &std::path::Path, witness: Option<&std::path::Path>) -> anyhow::Result<()> {
    // The replay re-verifies every block; the store's own pass on open
    // would only do part of that work twice.
    let store = charity_ledger::Store::open_unverified(store).map_err(opening(store))?;
    let bar = indicatif::ProgressBar::new(store.tip().height);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} blocks, {msg} [{elapsed_precise}, {per_sec}, {eta} left]",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let report = charity_ledger::audit::replay(&store, |h, _, txs| {
        bar.set_position(h);
        bar.set_message(format!("{txs} transactions"));
    });
    bar.finish_and_clear();
    let report = report.map_err(|e| anyhow::anyhow!("audit failed [{}]: {e}", e.code()))?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "chain intact: {} blocks, {} transactions and {} state entries re-verified from genesis in {:.1} s ({:.0} tx/s)",
        report.blocks,
        report.transactions,
        report.state_entries,
        secs,
        report.transactions as f64 / secs.max(1e-9)
    );
    if let Some(path) = witness {
        let failed = |e: charity_sdk::witness::WitnessError| {
            anyhow::anyhow!("audit failed [{}]: {e}", e.code())
        };
        let state = charity_sdk::witness::load_existing(path).map_err(failed)?;
        let genesis = store
            .genesis()
            .hash()
            .map_err(|e| anyhow::anyhow!("audit failed [{}]: {e}", e.code()))?;
        // The replay checked every stored block hash against the header it
        // re-hashed, so the store's hashes are the chain's.
        let height =
            charity_sdk::witness::holds_checkpoint(&state, &genesis, store.tip().height, |h| {
                store.block_hash(h).map_err(|e| e.to_string())
            })
            .map_err(failed)?;
        println!(
            "the chain holds block {height}, the checkpoint the witness in {} saw",
            path.display()
        );
    }
    let now = store.tip().time;
    let flags = charity_ledger::compliance::flags(
        store.kv(),
        &charity_ledger::compliance::ComplianceConfig::at(now),
    )
    .map_err(|e| anyhow::anyhow!("computing compliance flags [{}]: {e}", e.code()))?;
    println!("compliance flags at the latest block: {}", flags.len());
    for f in &flags {
        println!(
            "  {:?} {} {} {}: {}",
            f.severity,
            f.rule,
            f.org_id,
            f.campaign_id.as_deref().unwrap_or("-"),
            f.message
        );
    }
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo {
            data_dir,
            no_live,
            live_interval,
            live_blocks,
            base_port,
        } => demo::run(&demo::DemoOptions {
            data_dir,
            live: !no_live,
            live_interval: Duration::from_secs(live_interval),
            live_blocks,
            base_port,
        }),
        Command::Testnet {
            validators,
            full_nodes,
            dir,
            base_port,
            heartbeat_ms,
        } => network::testnet(
            validators,
            full_nodes,
            &dir,
            base_port,
            Duration::from_millis(heartbeat_ms),
        )
        .map(|t| {
            for (home, http) in t.homes.iter().zip(&t.http) {
                println!("{}  http://{http}/", home.display());
            }
            println!("start each with: charity-node run --home <dir>");
        }),
        Command::Run { home, with_parent } => network::run(&home, with_parent),
        Command::Bench {
            validators,
            secs,
            clients,
        } => bench::bench(&bench::BenchOptions {
            validators,
            duration: Duration::from_secs(secs),
            clients: clients.max(1),
        }),
        Command::Init {
            home,
            genesis,
            http,
            p2p_port,
            peers,
            heartbeat_ms,
        } => network::init(&network::InitOptions {
            home: &home,
            genesis: &genesis,
            http,
            p2p_port,
            peers: &peers,
            heartbeat: Duration::from_millis(heartbeat_ms),
        }),
        Command::Audit {
            store,
            home,
            witness,
        } => match (store, home) {
            (Some(s), _) => audit(&s, witness.as_deref()),
            (None, Some(h)) => audit(
                &charity_node::consensus::node::store_path(&h),
                witness.as_deref(),
            ),
            (None, None) => Err(anyhow::anyhow!("give --store or --home")),
        },
        Command::Export { store, out, year } => export(&store, &out, year),
    };
    if let Err(e) = result {
        // One line with the whole chain of causes, then a non-zero exit.
        eprintln!("charity-node: {e:#}");
        std::process::exit(1);
    }
}
