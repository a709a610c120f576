//! The regulator's export files written to a directory: the CSV files and
//! the IATI activities XML of a ledger state, whether a node's own store
//! (`charity-node export`) or the state an audit recomputed from genesis
//! (`charity audit --export`).

use std::path::{Path, PathBuf};

use charity_ledger::export::{self, ExportError, Period};
use charity_ledger::iati::{self, IatiError};
use charity_ledger::kv::KvRead;

/// Why the exports could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A CSV file could not be computed.
    #[error("exporting CSV: {0}")]
    Csv(#[from] ExportError),
    /// The IATI file could not be computed.
    #[error("exporting IATI XML: {0}")]
    Iati(#[from] IatiError),
    /// A file could not be written.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl WriteError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            WriteError::Csv(e) => e.code(),
            WriteError::Iati(e) => e.code(),
            WriteError::Io { .. } => "export_write_failed",
        }
    }
}

/// Writes every export of `kv` into `dir` (created if need be), with the
/// donations, disbursements and allocations of `period`; `generated_at` is
/// the IATI file's generation time (the state's last block time). All are
/// computed before any is written, and each file is written whole or not
/// at all (beside its name, synced, then renamed). Returns each path and
/// its size.
pub fn write<R: KvRead>(
    kv: &R,
    generated_at: u64,
    dir: &Path,
    period: Period,
) -> Result<Vec<(PathBuf, usize)>, WriteError> {
    let mut files = export::all_in(kv, period)?;
    files.push(("iati-activities.xml", iati::activities(kv, generated_at)?));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WriteError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut written = Vec::new();
    for (name, bytes) in files {
        let path = dir.join(name);
        let partial = dir.join(format!(".{name}.partial"));
        if let Err(e) = write_whole(&partial, &bytes, &path) {
            // Nothing half-written is left beside the files.
            let _ = std::fs::remove_file(&partial);
            return Err(io(&path)(e));
        }
        written.push((path, bytes.len()));
    }
    Ok(written)
}

/// Writes `bytes` to `partial`, syncs them to disk and renames the file to
/// `path`, so that `path` holds the old file or the whole new one.
fn write_whole(partial: &Path, bytes: &[u8], path: &Path) -> std::io::Result<()> {
    let mut file = std::fs::File::create(partial)?;
    std::io::Write::write_all(&mut file, bytes)?;
    file.sync_all()?;
    std::fs::rename(partial, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_cannot_be_written_leaves_nothing_half_written() {
        let dir = tempfile::tempdir().unwrap();
        let kv = charity_ledger::kv::MemKv::new();
        // A directory where a file is to go: its rename fails.
        std::fs::create_dir_all(dir.path().join("donations.csv/taken")).unwrap();
        let err = write(&kv, 0, dir.path(), Period::All).unwrap_err();
        assert_eq!(err.code(), "export_write_failed");
        assert!(err.to_string().contains("donations.csv"), "{err}");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".partial"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        // The files before it were written whole.
        assert!(std::fs::read(dir.path().join("campaigns.csv"))
            .unwrap()
            .starts_with(b"\xef\xbb\xbf"));
    }
}
