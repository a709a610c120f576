//! `charity`: the command line for charities, platforms, regulators and
//! anyone checking the ledger. Commands that talk to a node take `--node`;
//! `receipt verify` trusts nothing but the files it is given.

/// Replaying and auditing a chain allocate millions of small entries;
/// mimalloc does that markedly faster than the system allocator (the audit
/// bench measures it).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use charity_ledger::donor::{Donor, DonorCode};
use charity_ledger::hex::Hash;
use charity_sdk::client::Client;
use charity_sdk::{amount, keys, tx, verify};
use clap::{Parser, Subcommand};
use serde_json::json;

mod txcmd;

/// The charity-ledger command line.
#[derive(Parser, Debug)]
#[command(name = "charity", version, about)]
struct Cli {
    /// The node to talk to.
    #[arg(long, global = true, default_value = "http://127.0.0.1:8080")]
    node: String,
    /// Print JSON for scripts.
    #[arg(long, global = true)]
    json: bool,
    /// Seconds to wait for the node to answer a request in full.
    #[arg(long, global = true, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Writes a new signing key (owner-readable only).
    Keygen {
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// Makes a new donor code and shows its tag.
    DonorCode,
    /// The node's chain and height.
    Status,
    /// Records a donation (as a platform or the campaign's charity).
    Donate {
        /// The signing key file.
        #[arg(long)]
        key: PathBuf,
        /// The campaign.
        #[arg(long)]
        campaign: String,
        /// Amount in yuan, e.g. 100.00.
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        /// The donor's code (a new one is made if absent).
        #[arg(long)]
        donor_code: Option<String>,
        /// Payment channel.
        #[arg(long, default_value = "wechat_pay")]
        channel: String,
        /// The payment reference (only its hash goes on the chain).
        #[arg(long)]
        payment_ref: String,
        /// Seconds to wait for the commit (0: do not wait).
        #[arg(long, default_value_t = 30)]
        wait: u64,
    },
    /// Signs and submits a transaction of any kind, and waits for it to be
    /// committed.
    Tx {
        /// The signing key file.
        #[arg(long)]
        key: PathBuf,
        /// Seconds to wait for the commit (0: do not wait).
        #[arg(long, default_value_t = 30)]
        wait: u64,
        #[command(subcommand)]
        kind: txcmd::TxCommand,
    },
    /// Receipts: fetch one, or verify one offline.
    Receipt {
        #[command(subcommand)]
        command: ReceiptCommand,
    },
    /// Re-verifies the whole chain from genesis over the node's API,
    /// trusting nothing it says: every block, signature, rule, allocation
    /// and commit, then the state it publishes.
    Audit {
        /// The genesis file to verify from (the node's own is used, and its
        /// hash printed, if neither this nor --genesis-hash is given).
        #[arg(long)]
        genesis: Option<PathBuf>,
        /// The genesis hash to expect.
        #[arg(long)]
        genesis_hash: Option<String>,
        /// Once the chain checks out, write the exports into this directory
        /// (the CSV files and the IATI XML that `charity-node export`
        /// writes), computed from the replayed state: nothing in them is
        /// taken on the node's word.
        #[arg(long)]
        export: Option<PathBuf>,
        /// With --export: only the donations, disbursements and allocations
        /// recorded in this year (China Standard Time).
        #[arg(long, requires = "export", value_parser = clap::value_parser!(i32).range(1970..=9999))]
        year: Option<i32>,
        /// The state file of `charity witness --state`: the audit then also
        /// fails if the chain does not hold the block the witness last saw
        /// (a chain cut short, or another history, that re-verifies).
        #[arg(long)]
        witness: Option<PathBuf>,
    },
    /// Checks that the node's latest checkpoint is signed and extends the
    /// one saved in --state (a consistency proof); exits 2 and prints both
    /// checkpoints if history was rewritten.
    Witness {
        /// The file that keeps the last checkpoint seen.
        #[arg(long)]
        state: PathBuf,
        /// Keep watching, checking every this many seconds.
        #[arg(long)]
        watch: Option<u64>,
    },
    /// Imports a batch from a file: checks every row first, reports every
    /// bad row with its line number, submits the rest in parallel. Safe to
    /// re-run: rows already on the chain are skipped. Exits 1 if any row
    /// was not accepted.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// A donor's donations and where the money went.
    Trace {
        /// The donor code from the receipt.
        #[arg(long)]
        donor_code: String,
    },
}

#[derive(Subcommand, Debug)]
enum ImportCommand {
    /// Donations from CSV (columns campaign_id, amount, donor_code, channel,
    /// payment_ref, received_at, and optionally display_name,
    /// restricted_line).
    Donations {
        /// The CSV file.
        file: PathBuf,
        /// The platform's (or charity's) signing key file.
        #[arg(long)]
        key: PathBuf,
        /// Parallel submissions.
        #[arg(long, default_value_t = 8)]
        workers: usize,
        /// Seconds to wait for the submitted rows to be committed (0: do
        /// not wait).
        #[arg(long, default_value_t = 300)]
        wait: u64,
    },
}

#[derive(Subcommand, Debug)]
enum ReceiptCommand {
    /// Fetches the receipt of a committed transaction.
    Get {
        /// The transaction id.
        tx_id: String,
        /// Where to save it (printed if absent).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Verifies a saved receipt with no network, against the validators of
    /// a genesis file or a JSON list of {pubkey, power}, followed through
    /// any validator changes given with --change.
    Verify {
        /// The receipt file.
        file: PathBuf,
        /// The trusted validators (genesis file or list).
        #[arg(long)]
        validators: PathBuf,
        /// A saved receipt of a set_validators transaction (ids in
        /// /v1/validators/history; save with `charity receipt get`);
        /// repeat for each change up to the receipt's height. Each is
        /// verified against the set in force when it was committed.
        #[arg(long = "change")]
        changes: Vec<PathBuf>,
    },
}

fn print(json_out: bool, v: serde_json::Value, text: String) {
    if json_out {
        println!("{v}");
    } else {
        println!("{text}");
    }
}

fn run(cli: Cli) -> Result<()> {
    let node = Client::with_timeout(&cli.node, Duration::from_secs(cli.timeout));
    match cli.command {
        Command::Keygen { out } => {
            let k = keys::generate();
            keys::save(&k, &out)?;
            print(
                cli.json,
                json!({"public": k.public(), "file": out}),
                format!("public key {} written to {}", k.public(), out.display()),
            );
        }
        Command::DonorCode => {
            let c = tx::new_donor_code();
            print(
                cli.json,
                json!({"donor_code": c.as_str(), "donor_tag": c.tag()}),
                format!("donor code {c}\ndonor tag  {}", c.tag()),
            );
        }
        Command::Status => {
            let v = node.get_json("/v1/status")?;
            print(
                cli.json,
                v.clone(),
                format!(
                    "chain {} at height {}",
                    v["chain_id"].as_str().unwrap_or("?"),
                    v["height"]
                ),
            );
        }
        Command::Donate {
            key,
            campaign,
            amount: typed,
            donor_code,
            channel,
            payment_ref,
            wait,
        } => {
            let fen = amount::parse_yuan(&typed)?;
            let key = keys::load(&key)?;
            let code = match donor_code {
                Some(c) => DonorCode::parse(&c)?,
                None => tx::new_donor_code(),
            };
            let t = tx::donation(
                &node.chain_id()?,
                &key,
                &campaign,
                fen,
                &code,
                &channel,
                &payment_ref,
            )?;
            let id = node.submit(&t)?;
            let height = if wait > 0 {
                Some(node.wait_committed(&id, Duration::from_secs(wait))?)
            } else {
                None
            };
            print(
                cli.json,
                json!({"tx_id": id, "donor_code": code.as_str(), "amount_fen": fen, "height": height}),
                format!(
                    "donation {id} of {} yuan{}; donor code {code}",
                    amount::format_yuan(fen),
                    height.map_or(" submitted".into(), |h| format!(" committed at height {h}"))
                ),
            );
        }
        Command::Receipt {
            command: ReceiptCommand::Get { tx_id, out },
        } => {
            let id = Hash::parse(&tx_id).map_err(|e| anyhow!("transaction id {tx_id:?}: {e}"))?;
            let (r, bytes) = node.receipt(&id)?;
            match out {
                Some(path) => {
                    std::fs::write(&path, &bytes)
                        .with_context(|| format!("writing {}", path.display()))?;
                    print(
                        cli.json,
                        json!({"tx_id": id, "height": r.height, "file": path}),
                        format!(
                            "receipt of {id} (block {}) saved to {}",
                            r.height,
                            path.display()
                        ),
                    );
                }
                None => println!("{}", String::from_utf8_lossy(&bytes)),
            }
        }
        Command::Receipt {
            command:
                ReceiptCommand::Verify {
                    file,
                    validators,
                    changes,
                },
        } => {
            let trusted_bytes = std::fs::read(&validators)
                .with_context(|| format!("reading {}", validators.display()))?;
            let mut trusted = verify::trusted_validators(&trusted_bytes)
                .map_err(|e| anyhow!("{}: {e}", validators.display()))?;
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            if !changes.is_empty() {
                let mut receipts = Vec::new();
                for c in &changes {
                    let b = std::fs::read(c).with_context(|| format!("reading {}", c.display()))?;
                    receipts.push(
                        charity_ledger::Receipt::decode(&b)
                            .map_err(|e| anyhow!("{}: not a receipt: {e}", c.display()))?,
                    );
                }
                // The height to verify at; a receipt that does not decode
                // fails below with its own step-0 error.
                let height = charity_ledger::Receipt::decode(&bytes).map_or(0, |r| r.height);
                trusted = verify::validators_at(trusted, &receipts, height)
                    .map_err(|e| anyhow!("--change: {e}"))?;
            }
            match verify::receipt_bytes(&bytes, &trusted) {
                Ok(h) => print(
                    cli.json,
                    json!({"verified": true, "height": h}),
                    format!("verified: all four steps passed (block {h})"),
                ),
                Err(e) => {
                    if cli.json {
                        println!(
                            "{}",
                            json!({"verified": false, "step": e.step, "code": e.code, "reason": e.reason})
                        );
                    }
                    bail!(
                        "receipt {} does not verify: {e} [{}]",
                        file.display(),
                        e.code
                    );
                }
            }
        }
        Command::Audit {
            genesis,
            genesis_hash,
            export,
            year,
            witness,
        } => {
            let witnessed = witness
                .as_ref()
                .map(|p| {
                    charity_sdk::witness::load_existing(p)
                        .map_err(|e| anyhow!("audit failed [{}]: {e}", e.code()))
                })
                .transpose()?;
            let file = genesis
                .as_ref()
                .map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display())))
                .transpose()?;
            let pinned = genesis_hash
                .as_deref()
                .map(Hash::parse)
                .transpose()
                .context("--genesis-hash")?;
            let g = charity_sdk::audit::genesis(&node, file.as_deref(), pinned.as_ref())
                .map_err(|e| anyhow!("audit failed [{}]: {e}", e.code()))?;
            let bar = if cli.json {
                indicatif::ProgressBar::hidden()
            } else {
                indicatif::ProgressBar::new(0)
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} blocks, {msg} [{elapsed_precise}, {per_sec}, {eta} left]",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let started = std::time::Instant::now();
            let progress = |h, target, txs| {
                bar.set_length(target);
                bar.set_position(h);
                bar.set_message(format!("{txs} transactions"));
            };
            let audited = match &witnessed {
                None => charity_sdk::audit::audit_replayed(&node, &g, progress)
                    .map(|(report, replay)| (report, replay, None)),
                Some(w) => charity_sdk::audit::audit_witnessed(&node, &g, w, progress)
                    .map(|(report, replay, height)| (report, replay, Some(height))),
            };
            bar.finish_and_clear();
            use charity_ledger::export::Period;
            let (report, replay, checkpoint) =
                audited.map_err(|e| anyhow!("audit failed [{}]: {e}", e.code()))?;
            let secs = started.elapsed().as_secs_f64();
            let written: Vec<String> = match &export {
                Some(dir) => {
                    let period = year.map_or(Period::All, Period::Year);
                    charity_sdk::exports::write(replay.state(), replay.time(), dir, period)
                        .map_err(|e| anyhow!("audit passed, export failed [{}]: {e}", e.code()))?
                        .iter()
                        .map(|(p, _)| p.display().to_string())
                        .collect()
                }
                None => Vec::new(),
            };
            let pinned_note = if file.is_some() || pinned.is_some() {
                "pinned"
            } else {
                "as served by the node: compare it with the one your regulator publishes, or pin it with --genesis-hash"
            };
            print(
                cli.json,
                json!({
                    "intact": true,
                    "genesis_hash": report.genesis_hash,
                    "blocks": report.blocks,
                    "transactions": report.transactions,
                    "records_compared": report.records,
                    "seconds": secs,
                    "exported": written,
                    "witness_checkpoint": checkpoint,
                }),
                format!(
                    "chain intact: {} blocks and {} transactions re-verified from genesis {} ({pinned_note}), {} published records match the replay; {:.1} s ({:.0} tx/s){}{}",
                    report.blocks,
                    report.transactions,
                    report.genesis_hash,
                    report.records,
                    secs,
                    report.transactions as f64 / secs.max(1e-9),
                    checkpoint
                        .map(|h| format!("\nthe chain holds block {h}, the checkpoint the witness saw"))
                        .unwrap_or_default(),
                    written
                        .iter()
                        .map(|p| format!("\nwritten from the replay: {p}"))
                        .collect::<String>()
                ),
            );
        }
        Command::Witness { state, watch } => loop {
            let saved = charity_sdk::witness::load(&state)?;
            match charity_sdk::witness::run(&node, saved) {
                Ok((outcome, next)) => {
                    charity_sdk::witness::save(&state, &next)?;
                    let (v, text) = match outcome {
                        charity_sdk::witness::Outcome::Started { height } => (
                            json!({"ok": true, "started_at": height}),
                            format!("witness started: checkpoint at height {height} verified and saved to {}", state.display()),
                        ),
                        charity_sdk::witness::Outcome::Extended {
                            from,
                            to,
                            validator_changes,
                        } => {
                            let followed = if validator_changes.is_empty() {
                                String::new()
                            } else {
                                format!(
                                    "; followed the validator set changes at height(s) {}, each proven by its set_validators receipt",
                                    validator_changes
                                        .iter()
                                        .map(u64::to_string)
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                )
                            };
                            (
                                json!({"ok": true, "from": from, "to": to, "validator_changes": validator_changes}),
                                format!("consistent: height {from} → {to}, the log only grew{followed}; checkpoint saved"),
                            )
                        }
                    };
                    print(cli.json, v, text);
                }
                Err(e @ charity_sdk::witness::WitnessError::Rewritten { .. }) => {
                    if let charity_sdk::witness::WitnessError::Rewritten {
                        reason,
                        saved,
                        served,
                    } = &e
                    {
                        let evidence =
                            json!({"history_rewritten": reason, "saved": saved, "served": served});
                        println!(
                            "{}",
                            serde_json::to_string_pretty(&evidence).unwrap_or_default()
                        );
                    }
                    eprintln!("charity: {e}");
                    std::process::exit(2);
                }
                Err(e) if watch.is_some() => eprintln!("charity: [{}] {e}", e.code()),
                Err(e) => bail!("witness [{}]: {e}", e.code()),
            }
            match watch {
                // A polling interval between checks, not synchronisation.
                Some(secs) => std::thread::sleep(Duration::from_secs(secs.max(1))),
                None => break,
            }
        },
        Command::Import {
            command:
                ImportCommand::Donations {
                    file,
                    key,
                    workers,
                    wait,
                },
        } => import_donations(&node, cli.json, &file, &key, workers, wait)?,
        Command::Tx { key, wait, kind } => {
            let key = keys::load(&key)?;
            let kind = txcmd::build(kind)?;
            let name = kind.name();
            let t = tx::sign(&node.chain_id()?, &key, kind)?;
            let id = node.submit(&t)?;
            let height = if wait > 0 {
                Some(node.wait_committed(&id, Duration::from_secs(wait))?)
            } else {
                None
            };
            print(
                cli.json,
                json!({"tx_id": id, "kind": name, "status": if height.is_some() { "committed" } else { "pending" }, "height": height}),
                match height {
                    Some(h) => format!("{name} {id} committed in block {h}"),
                    None => format!("{name} {id} submitted"),
                },
            );
        }
        Command::Trace { donor_code } => {
            let code = DonorCode::parse(&donor_code)?;
            let tag = Donor::Tag(code.tag());
            let list = node.get_json(&format!("/v1/donors/{tag}/donations"))?;
            let mut out = Vec::new();
            for d in list.as_array().cloned().unwrap_or_default() {
                let id = d["donation_id"].as_str().unwrap_or_default();
                let t = node.get_json(&format!("/v1/donations/{id}/trace"))?;
                out.push(t);
            }
            if cli.json {
                println!("{}", serde_json::Value::Array(out));
            } else {
                for t in &out {
                    let d = &t["donation"];
                    println!(
                        "{} yuan to {}:",
                        amount::format_yuan(d["amount"].as_u64().unwrap_or(0)),
                        d["campaign_id"].as_str().unwrap_or("?")
                    );
                    print_node(&t["root"], 1);
                }
            }
        }
    }
    Ok(())
}

fn import_donations(
    node: &Client,
    json_out: bool,
    file: &std::path::Path,
    key: &std::path::Path,
    workers: usize,
    wait: u64,
) -> Result<()> {
    use charity_sdk::import;
    let key = keys::load(key)?;
    let data = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let (rows, mut bad) = import::parse(&data).map_err(|e| anyhow!("{}: {e}", file.display()))?;
    let total = rows.len() + bad.len();
    let (rows, late) = import::check(node, &key, rows)?;
    bad.extend(late);
    bad.sort_by_key(|b| b.line);
    let chain_id = node.chain_id()?;
    let txs = rows
        .iter()
        .map(|r| import::transaction(&chain_id, &key, r).map(|t| (r.line, t)))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| anyhow!(e))?;
    if !json_out {
        for b in &bad {
            eprintln!("line {}: {}", b.line, b.reason);
        }
    }
    let bar = if json_out {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(txs.len() as u64)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} rows [{elapsed_precise}, {per_sec}, {eta} left]",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let sent = import::submit(node, txs, workers, &|| bar.inc(1));
    bar.finish_and_clear();
    if !json_out {
        for b in &sent.refused {
            eprintln!("line {}: {}", b.line, b.reason);
        }
    }
    // Wait for what was accepted to be committed.
    let mut pending: Vec<Hash> = sent.new.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(wait);
    while wait > 0 && !pending.is_empty() && std::time::Instant::now() < deadline {
        let mut still = Vec::new();
        for id in pending {
            match node.tx_status(&id) {
                Ok(charity_sdk::client::TxStatus::Committed(_)) => {}
                _ => still.push(id),
            }
        }
        pending = still;
        if !pending.is_empty() {
            // Blocks come at the node's pace; look again shortly.
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    let committed = sent.new.len() - pending.len();
    print(
        json_out,
        json!({
            "rows": total,
            "bad_rows": bad.iter().chain(&sent.refused).map(|b| json!({"line": b.line, "reason": b.reason})).collect::<Vec<_>>(),
            "submitted": sent.new.len(),
            "already_on_chain": sent.skipped,
            "committed": committed,
            "not_yet_committed": pending.len(),
        }),
        format!(
            "{total} rows: {} bad, {} submitted, {} already on the chain (skipped), {committed} committed{}",
            bad.len() + sent.refused.len(),
            sent.new.len(),
            sent.skipped,
            if pending.is_empty() { String::new() } else { format!(", {} not yet committed", pending.len()) }
        ),
    );
    if !bad.is_empty() || !sent.refused.is_empty() {
        bail!(
            "{} row(s) were not imported (listed above)",
            bad.len() + sent.refused.len()
        );
    }
    Ok(())
}

fn print_node(n: &serde_json::Value, depth: usize) {
    let pad = "  ".repeat(depth);
    for s in n["spent"].as_array().cloned().unwrap_or_default() {
        let d = &s["disbursement"];
        let amt = amount::format_yuan(s["amount"].as_u64().unwrap_or(0));
        if s.get("grant").is_some() {
            println!(
                "{pad}{amt} → grant to {}",
                d["recipient"]["name"].as_str().unwrap_or("?")
            );
            print_node(&s["grant"], depth + 1);
        } else {
            println!(
                "{pad}{amt} → {} ({}) paid to {}",
                d["purpose"].as_str().unwrap_or("?"),
                d["line"].as_str().unwrap_or("?"),
                d["recipient"]["name"].as_str().unwrap_or("?")
            );
        }
    }
    if let Some(u) = n["unspent"].as_u64().filter(|u| *u > 0) {
        println!("{pad}{} not yet spent", amount::format_yuan(u));
    }
    if let Some(r) = n["refunded"].as_u64().filter(|r| *r > 0) {
        println!("{pad}{} refunded", amount::format_yuan(r));
    }
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        // One line with the chain of causes, and a non-zero exit.
        eprintln!("charity: {e:#}");
        std::process::exit(1);
    }
}
