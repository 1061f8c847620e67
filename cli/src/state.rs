//! `--state PATH`: the embedded backend's whole state (records and clock) kept in a file
//! between runs. Loaded at start and written at the end atomically (a temporary file in the
//! same folder, then a rename), under an advisory lock held from load to save, so two
//! klaxon processes on one file take turns instead of losing each other's writes.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use klaxon::memory::{decode, encode, MemoryBackend};

/// An open state file: its lock is held until this is dropped.
pub struct StateFile {
    path: PathBuf,
    _lock: File,
}

impl StateFile {
    /// Locks `PATH.lock` and reads the state, if the file exists (`None`: a new state).
    pub fn open(path: &Path) -> Result<(StateFile, Option<MemoryBackend>), String> {
        let lock_path = lock_path(path);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| format!("cannot open the lock file {}: {e}", lock_path.display()))?;
        lock_exclusive(&lock, &lock_path)?;
        let backend = match std::fs::read(path) {
            Ok(bytes) => Some(MemoryBackend::restore(
                decode(&bytes).map_err(|e| format!("{}: {e}", path.display()))?,
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        Ok((
            StateFile {
                path: path.to_path_buf(),
                _lock: lock,
            },
            backend,
        ))
    }

    /// Writes the backend's state: all of it, or (on any error) none of it.
    pub fn save(&self, backend: &MemoryBackend) -> Result<(), String> {
        let bytes = encode(&backend.snapshot());
        let folder = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "state".into());
        let temp = folder.join(format!(".{name}.{}.tmp", std::process::id()));
        let written = (|| {
            let mut file = File::create(&temp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&temp, &self.path)
        })();
        written.map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            format!("cannot write {}: {e}", self.path.display())
        })
    }
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

#[cfg(unix)]
fn lock_exclusive(file: &File, path: &Path) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor this process owns; no memory is involved.
    let busy = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0;
    if busy {
        eprintln!(
            "klaxon: waiting for another klaxon to release {}",
            path.display()
        );
        // SAFETY: as above.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(format!(
                "cannot lock {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn lock_exclusive(_file: &File, _path: &Path) -> Result<(), String> {
    // Advisory locks are unix-only here; elsewhere one klaxon at a time is the user's care.
    Ok(())
}
