//! `charity-node`: runs a charity-ledger node and its demo.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

mod demo;

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
        /// Seconds between live blocks.
        #[arg(long, default_value_t = 3)]
        live_interval: u64,
        /// Stop after this many live blocks.
        #[arg(long)]
        live_blocks: Option<u64>,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo {
            data_dir,
            no_live,
            live_interval,
            live_blocks,
        } => demo::run(&demo::DemoOptions {
            data_dir,
            live: !no_live,
            live_interval: Duration::from_secs(live_interval),
            live_blocks,
        }),
    };
    if let Err(e) = result {
        // One line with the whole chain of causes, then a non-zero exit.
        eprintln!("charity-node: {e:#}");
        std::process::exit(1);
    }
}
