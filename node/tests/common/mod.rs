//! A running `charity-node demo` for end-to-end tests: its own data
//! directory, an HTTP port chosen by the system, stopped when dropped.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The demo's donor, 李女士, and her 100-yuan donation for school lunches.
pub const LI_CODE: &str = "K7QF-2M9D-XR4T-8HWA-6PZN";

pub struct Demo {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The data directory (chain, evidence documents, keys).
    pub dir: tempfile::TempDir,
}

impl Demo {
    /// Builds the demo's history and serves it, adding a block every
    /// `interval` seconds.
    pub fn start(interval: u64) -> Demo {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_charity-node"))
            .arg("demo")
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--base-port", "0", "--live-interval"])
            .arg(interval.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start charity-node demo");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        // Keep draining stdout so the demo never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("explorer: ") {
                    let url = rest.split_whitespace().next().unwrap_or("").to_string();
                    let _ = tx.send(url);
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(180)) {
            Ok(u) => u,
            Err(e) => {
                let _ = child.kill();
                panic!("the demo did not print its explorer address: {e}");
            }
        };
        Demo {
            child,
            base: url.trim_end_matches('/').to_string(),
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The donor tag of a code, as the ledger computes it.
pub fn tag(code: &str) -> String {
    charity_ledger::donor::DonorCode::parse(code)
        .unwrap()
        .tag()
        .as_str()
        .to_string()
}
