//! Key files: an organisation's signing key on disk, readable by its owner
//! only.

use std::path::Path;

use charity_ledger::hex::{HexBytes, PublicKey};
use charity_ledger::Keypair;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The failure.
        source: std::io::Error,
    },
    /// Others may read the file.
    #[error("key file {path} can be read by other users (mode {mode:o}); run `chmod 600 {path}`")]
    TooOpen {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// Not a key file.
    #[error("key file {path} is not a charity-ledger key file: {reason}")]
    Malformed {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

impl KeyError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            KeyError::Io { .. } => "key_file_io",
            KeyError::TooOpen { .. } => "key_file_too_open",
            KeyError::Malformed { .. } => "key_file_malformed",
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    public: PublicKey,
    secret: HexBytes<32>,
}

/// A new key from the operating system's randomness.
pub fn generate() -> Keypair {
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    Keypair::from_seed(&seed)
}

/// Writes `key` to `path`, readable and writable by the owner only.
pub fn save(key: &Keypair, path: &Path) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    };
    let body = serde_json::to_vec_pretty(&KeyFile {
        public: key.public(),
        secret: HexBytes(key.secret_bytes()),
    })
    .map_err(|e| io(std::io::Error::other(e)))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    use std::io::Write;
    let mut f = opts.open(path).map_err(io)?;
    f.write_all(&body).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Reads a key file, refusing one that other users can read.
pub fn load(path: &Path) -> Result<Keypair, KeyError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|source| KeyError::Io {
        path: shown.clone(),
        source,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::TooOpen { path: shown, mode });
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let bytes = std::fs::read(path).map_err(|source| KeyError::Io {
        path: shown.clone(),
        source,
    })?;
    let kf: KeyFile =
        charity_ledger::json::from_slice(&bytes, 4096).map_err(|e| KeyError::Malformed {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
    let key = Keypair::from_seed(&kf.secret.0);
    if key.public() != kf.public {
        return Err(KeyError::Malformed {
            path: shown,
            reason: "the public key does not match the secret".into(),
        });
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("org.key");
        let k = generate();
        save(&k, &path).unwrap();
        assert_eq!(load(&path).unwrap().public(), k.public());
        // Refuses to overwrite.
        assert!(save(&k, &path).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = load(&path).unwrap_err();
            assert_eq!(e.code(), "key_file_too_open");
            assert!(e.to_string().contains("chmod 600"));
        }
    }
}
