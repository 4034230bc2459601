//! The filesystem keystore (spec §8.3), plain or sealed with a master key.
//!
//! Layout (compatible with KES): one regular file per key in one directory, file name = key
//! name, content = the stored value, mode 0600. The directory is created (0755, with parents)
//! when missing; a path that is not a directory is an error.
//!
//! # Crash safety
//! `create` never exposes a partial file and never overwrites:
//! 1. the value is written to a fresh temp file in the same directory (`O_CREAT|O_EXCL`, mode
//!    0600, name `.kes-tmp.*`) and fsynced;
//! 2. the temp file is hard-linked to the key name — `link(2)` fails when the name exists, so
//!    an existing key is never replaced and of two racing creates exactly one wins;
//! 3. the temp name is removed and the directory is fsynced.
//!
//! A process killed at any moment therefore leaves every key either absent or complete, plus
//! possibly a stale temp file. Temp files (and every other name starting with `.kes-`) are
//! invisible to `list` and unreachable by `get` (key names with `.` are rejected); stale ones
//! older than [`STALE_TEMP_AGE`] are removed when the store is opened, or on demand with
//! [`FsKeyStore::remove_stale_temp_files`].
//!
//! # Sealing
//! [`FsKeyStore::open_sealed`] wraps every value it writes with AES-256-GCM-SIV under a master
//! key, binding the key name as associated data so values cannot be swapped between names
//! (see [`crate::seal`] for the on-disk format). Plaintext KES files in the same directory are
//! still read as they are, so an existing KES directory can be sealed in place for new keys.
//! The directory records a check value (`.kes-seal`) so that a wrong master key is an error
//! when the store is opened, and opening a sealed directory without a key is an error too.
//!
//! # Blocking
//! The file operations are small and run synchronously inside the `async fn`s (this crate has
//! no runtime to offload them to); a runtime shell that cares can call the store from a
//! blocking-capable task.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use zeroize::Zeroizing;

use crate::seal::{self, Sealer};
use crate::{Error, KeyStore, ListPage, Result, list_page};

/// The largest value `get` reads (1 MiB, as KES); larger files are [`Error::InvalidValue`].
pub const MAX_VALUE_SIZE: u64 = 1 << 20;

/// Temp files older than this are removed by [`FsKeyStore::open`].
pub const STALE_TEMP_AGE: Duration = Duration::from_secs(60);

/// Names starting with this prefix belong to the store itself and are never listed.
const RESERVED_PREFIX: &str = ".kes-";
const TEMP_PREFIX: &str = ".kes-tmp.";
/// The file holding the seal check value of a sealed directory.
const SEAL_FILE: &str = ".kes-seal";

/// A keystore that keeps one file per key in a directory. See the [module docs](self).
pub struct FsKeyStore {
    dir: PathBuf,
    sealer: Option<Sealer>,
    counter: AtomicU64,
}

impl std::fmt::Debug for FsKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsKeyStore")
            .field("dir", &self.dir)
            .field("sealed", &self.sealer.is_some())
            .finish()
    }
}

/// Checks the filesystem store's name rule (spec §8.3): non-empty, no `/`, `\` or `.`
/// (and no NUL, which no file name can hold).
pub fn validate_fs_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains(['/', '\\', '.', '\0']) {
        return Err(Error::InvalidName(name.to_owned()));
    }
    Ok(())
}

impl FsKeyStore {
    /// Opens (creating if missing) a plaintext keystore directory.
    ///
    /// Fails with [`Error::Seal`] if the directory was sealed by [`FsKeyStore::open_sealed`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let store = Self::open_dir(path.as_ref(), None)?;
        if store.dir.join(SEAL_FILE).exists() {
            return Err(Error::Seal(format!(
                "key store '{}' is sealed: a master key is required (keystore.fs.seal)",
                store.dir.display()
            )));
        }
        Ok(store)
    }

    /// Opens (creating if missing) a sealed keystore directory with the 32-byte master key.
    ///
    /// The first sealed open records a check value; later opens with another key fail with
    /// [`Error::Seal`]. Existing plaintext key files stay readable.
    pub fn open_sealed(path: impl AsRef<Path>, master_key: &[u8; 32]) -> Result<Self> {
        let store = Self::open_dir(path.as_ref(), Some(Sealer::new(master_key)?))?;
        store.check_or_record_seal()?;
        Ok(store)
    }

    fn open_dir(path: &Path, sealer: Option<Sealer>) -> Result<Self> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o755);
        builder
            .create(path)
            .map_err(|e| Error::io(format!("failed to create '{}'", path.display()), e))?;
        let meta = fs::metadata(path)
            .map_err(|e| Error::io(format!("failed to open '{}'", path.display()), e))?;
        if !meta.is_dir() {
            return Err(Error::io(
                format!("failed to open '{}'", path.display()),
                io::Error::other("not a directory"),
            ));
        }
        let store = FsKeyStore {
            dir: path.to_path_buf(),
            sealer,
            counter: AtomicU64::new(0),
        };
        store.remove_stale_temp_files(STALE_TEMP_AGE)?;
        Ok(store)
    }

    /// The keystore directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// `true` if values written by this store are sealed.
    pub fn is_sealed(&self) -> bool {
        self.sealer.is_some()
    }

    /// Removes temp files left behind by an interrupted `create` whose last modification is
    /// at least `older_than` ago, and returns how many were removed. `Duration::ZERO` removes
    /// every temp file — only safe when no other process writes to the directory.
    pub fn remove_stale_temp_files(&self, older_than: Duration) -> Result<usize> {
        let now = SystemTime::now();
        let mut removed = 0;
        for entry in self.read_dir()? {
            let entry = entry.map_err(|e| self.dir_error(e))?;
            let name = entry.file_name();
            if !name.to_str().is_some_and(|n| n.starts_with(TEMP_PREFIX)) {
                continue;
            }
            let age = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .unwrap_or(Duration::ZERO);
            if age >= older_than {
                match fs::remove_file(entry.path()) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(Error::io(
                            format!("failed to remove temp file '{}'", entry.path().display()),
                            e,
                        ));
                    }
                }
            }
        }
        Ok(removed)
    }

    fn read_dir(&self) -> Result<fs::ReadDir> {
        fs::read_dir(&self.dir).map_err(|e| self.dir_error(e))
    }

    fn dir_error(&self, e: io::Error) -> Error {
        Error::io(format!("failed to read '{}'", self.dir.display()), e)
    }

    fn check_or_record_seal(&self) -> Result<()> {
        let Some(sealer) = &self.sealer else {
            return Ok(());
        };
        let path = self.dir.join(SEAL_FILE);
        let check = match read_limited(&path) {
            Ok(check) => check,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let value = sealer.seal_check()?;
                match self.write_new(SEAL_FILE, value.as_bytes()) {
                    Ok(()) => return Ok(()),
                    // Another process recorded it first: verify theirs.
                    Err(Error::Exists) => read_limited(&path).map_err(|e| {
                        Error::io(format!("failed to read '{}'", path.display()), e)
                    })?,
                    Err(e) => return Err(e),
                }
            }
            Err(e) => {
                return Err(Error::io(format!("failed to read '{}'", path.display()), e));
            }
        };
        if sealer.verify_check(&check) {
            Ok(())
        } else {
            Err(Error::Seal(format!(
                "wrong master key: key store '{}' was sealed with a different key",
                self.dir.display()
            )))
        }
    }

    /// Writes `value` to `name` atomically and create-only (see the module docs).
    fn write_new(&self, name: &str, value: &[u8]) -> Result<()> {
        let target = self.dir.join(name);
        if fs::symlink_metadata(&target).is_ok() {
            return Err(Error::Exists);
        }
        let write_err = |e| Error::io(format!("failed to write key '{name}'"), e);
        let (temp, mut file) = self.create_temp().map_err(write_err)?;
        let temp = TempFile(Some(temp));
        file.write_all(value).map_err(write_err)?;
        file.sync_all().map_err(write_err)?;
        drop(file);
        match fs::hard_link(temp.path(), &target) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(Error::Exists),
            Err(e) => return Err(write_err(e)),
        }
        temp.remove().map_err(write_err)?;
        self.sync_dir().map_err(write_err)
    }

    fn create_temp(&self) -> io::Result<(PathBuf, File)> {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        loop {
            let n = self.counter.fetch_add(1, Ordering::Relaxed);
            let path = self
                .dir
                .join(format!("{TEMP_PREFIX}{}.{n}.{nanos}", std::process::id()));
            match options.open(&path) {
                Ok(file) => return Ok((path, file)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn sync_dir(&self) -> io::Result<()> {
        #[cfg(unix)]
        File::open(&self.dir)?.sync_all()?;
        Ok(())
    }

    fn read_value(&self, name: &str) -> Result<Zeroizing<Vec<u8>>> {
        validate_fs_name(name)?;
        let value = match read_limited(&self.dir.join(name)) {
            Ok(value) => value,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Error::NotFound),
            Err(e) if e.kind() == io::ErrorKind::FileTooLarge => {
                return Err(Error::InvalidValue {
                    name: name.to_owned(),
                    reason: format!("value is larger than {MAX_VALUE_SIZE} bytes"),
                });
            }
            Err(e) => return Err(Error::io(format!("failed to read key '{name}'"), e)),
        };
        match (seal::is_sealed(&value), &self.sealer) {
            (false, _) => Ok(value),
            (true, Some(sealer)) => sealer.open(name, &value),
            (true, None) => Err(Error::Seal(format!(
                "key '{name}' is sealed: a master key is required (keystore.fs.seal)"
            ))),
        }
    }
}

/// Reads at most [`MAX_VALUE_SIZE`] bytes; a larger file is `FileTooLarge`.
fn read_limited(path: &Path) -> io::Result<Zeroizing<Vec<u8>>> {
    let file = File::open(path)?;
    // Allocate once so no unzeroized partial copy is left behind by a reallocation.
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let capacity = usize::try_from(size.min(MAX_VALUE_SIZE) + 1).unwrap_or(0);
    let mut value = Zeroizing::new(Vec::with_capacity(capacity));
    file.take(MAX_VALUE_SIZE + 1).read_to_end(&mut value)?;
    if value.len() as u64 > MAX_VALUE_SIZE {
        return Err(io::Error::from(io::ErrorKind::FileTooLarge));
    }
    Ok(value)
}

/// A temp file that is removed when dropped unless [`TempFile::remove`] already did.
struct TempFile(Option<PathBuf>);

impl TempFile {
    fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }

    fn remove(mut self) -> io::Result<()> {
        match self.0.take() {
            Some(path) => fs::remove_file(path),
            None => Ok(()),
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            // Best effort: a leftover is ignored by list/get and removed as stale later.
            let _ = fs::remove_file(path);
        }
    }
}

#[async_trait::async_trait]
impl KeyStore for FsKeyStore {
    fn describe(&self) -> String {
        format!("Filesystem: {}", self.dir.display())
    }

    async fn status(&self) -> Result<Duration> {
        let start = Instant::now();
        match fs::metadata(&self.dir) {
            Ok(meta) if meta.is_dir() => Ok(start.elapsed()),
            Ok(_) => Err(Error::unreachable(format!(
                "'{}' is not a directory",
                self.dir.display()
            ))),
            Err(e) => Err(Error::unreachable(format!("'{}': {e}", self.dir.display()))),
        }
    }

    async fn create(&self, name: &str, value: &[u8]) -> Result<()> {
        validate_fs_name(name)?;
        match &self.sealer {
            Some(sealer) => {
                let sealed = sealer.seal(name, value)?;
                self.write_new(name, sealed.as_bytes())
            }
            None => self.write_new(name, value),
        }
    }

    async fn get(&self, name: &str) -> Result<Zeroizing<Vec<u8>>> {
        self.read_value(name)
    }

    async fn delete(&self, name: &str) -> Result<()> {
        validate_fs_name(name)?;
        match fs::remove_file(self.dir.join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Error::NotFound),
            Err(e) => return Err(Error::io(format!("failed to delete key '{name}'"), e)),
        }
        self.sync_dir()
            .map_err(|e| Error::io(format!("failed to delete key '{name}'"), e))
    }

    async fn list(&self, prefix: &str, continue_at: &str, n: usize) -> Result<ListPage> {
        let mut names = Vec::new();
        for entry in self.read_dir()? {
            let entry = entry.map_err(|e| self.dir_error(e))?;
            // Names that are not UTF-8 cannot be KES key names; skip them.
            if let Ok(name) = entry.file_name().into_string() {
                if !name.starts_with(RESERVED_PREFIX) {
                    names.push(name);
                }
            }
        }
        Ok(list_page(names, prefix, continue_at, n))
    }
}
