//! The keystore in a directory:
//!
//! ```text
//! DIR/                 0700
//!   header             0600  format::Header (salt, Argon2id parameters, passphrase check)
//!   lock               0600  held with an exclusive lock while a Keystore is open
//!   identity           0600  sealed device identity seed
//!   wallets/           0700
//!     <hex wallet id>/ 0700  (hex: wallet ids may be "." or differ only in case)
//!       meta           0600  sealed WalletMeta
//!       <epoch>.active 0600  sealed share
//!       <epoch>.pending
//! ```
//!
//! Every write goes to `.tmp-<name>`, is fsynced, renamed over `<name>`, and the directory
//! is fsynced; removals fsync the directory too. An epoch's state is its file name, so
//! promoting is one rename. After a crash, opening the store removes temp files and
//! finishes an interrupted promotion: of several active epochs the newest wins, once it
//! has been checked to open.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tssw_api::WalletId;
use tssw_channel::IdentityKey;
use tssw_protocol::{KeyShare, WalletKey};
use zeroize::Zeroizing;

use super::KeystoreError;
use super::format::{self, Header, KdfParams, Kind, Label, MAX_HEADER_BYTES, MAX_RECORD_BYTES, StoreKey, WalletMeta};

const HEADER: &str = "header";
const LOCK: &str = "lock";
const IDENTITY: &str = "identity";
const WALLETS: &str = "wallets";
const META: &str = "meta";
const TMP_PREFIX: &str = ".tmp-";

/// A wallet's epochs as stored: at most one active and one pending (newer than the active).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EpochState {
    /// The epoch the wallet signs with.
    pub active: Option<u64>,
    /// A newer epoch waiting for every holder's confirmation.
    pub pending: Option<u64>,
}

/// An open keystore directory. Holds an exclusive lock on it until dropped; the store key
/// is zeroized on drop.
pub struct Keystore {
    dir: PathBuf,
    key: StoreKey,
    _lock: File,
    /// Test hook: fail (as a crash would stop) before the n-th write step from now.
    #[cfg(test)]
    crash_at: Option<u32>,
}

impl std::fmt::Debug for Keystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keystore").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl Keystore {
    /// Creates a keystore in `dir` (made 0700; it may exist if empty) protected by
    /// `passphrase`, with Argon2id at `kdf` (at least [`KdfParams::DEFAULT`]).
    pub fn create(dir: impl AsRef<Path>, passphrase: &[u8], kdf: KdfParams) -> Result<Keystore, KeystoreError> {
        let dir = dir.as_ref().to_path_buf();
        let (header, key) = Header::create(passphrase, kdf)?;
        if dir.join(HEADER).exists() || !only_leftovers_of_create(&dir)? {
            return Err(KeystoreError::AlreadyExists { path: show(&dir) });
        }
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        if dir.exists() {
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(io(&dir))?;
        } else {
            DirBuilder::new().mode(0o700).create(&dir).map_err(io(&dir))?;
        }
        let lock = lock(&dir)?;
        let mut store = Keystore {
            dir,
            key,
            _lock: lock,
            #[cfg(test)]
            crash_at: None,
        };
        store.make_dir(&store.dir.join(WALLETS))?;
        // The header goes last: a store without one was never created.
        store.write(&store.dir.join(HEADER), &header.to_bytes()?)?;
        Ok(store)
    }

    /// Opens the keystore in `dir`. A wrong passphrase is [`KeystoreError::WrongPassphrase`]
    /// and nothing is written. Finishes what a crash interrupted (see the module docs).
    pub fn open(dir: impl AsRef<Path>, passphrase: &[u8]) -> Result<Keystore, KeystoreError> {
        let dir = dir.as_ref().to_path_buf();
        let header_path = dir.join(HEADER);
        if !header_path.exists() {
            return Err(KeystoreError::NotFound { path: show(&dir) });
        }
        check_mode(&dir)?;
        let header = Header::from_bytes(&read_bounded(&header_path, MAX_HEADER_BYTES)?)?;
        let key = header.unlock(passphrase)?;
        let lock = lock(&dir)?;
        let mut store = Keystore {
            dir,
            key,
            _lock: lock,
            #[cfg(test)]
            crash_at: None,
        };
        store.recover()?;
        Ok(store)
    }

    /// The keystore directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Every wallet the store has a directory for, in id order.
    pub fn wallets(&self) -> Result<Vec<WalletId>, KeystoreError> {
        let root = self.dir.join(WALLETS);
        let mut out = Vec::new();
        for entry in fs::read_dir(&root).map_err(io(&root))? {
            let entry = entry.map_err(io(&root))?;
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(|n| hex::decode(n).ok()).and_then(|b| String::from_utf8(b).ok())
            else {
                continue;
            };
            if let Ok(id) = WalletId::new(id) {
                out.push(id);
            }
        }
        out.sort();
        Ok(out)
    }

    /// The wallet's epochs, without decrypting anything.
    pub fn epochs(&self, wallet: &WalletId) -> Result<EpochState, KeystoreError> {
        Ok(self.scan(wallet)?.state)
    }

    /// The share the wallet signs with, if it has one.
    pub fn active(&self, wallet: &WalletId) -> Result<Option<KeyShare>, KeystoreError> {
        self.epochs(wallet)?.active.map(|e| self.read_share(wallet, e, "active")).transpose()
    }

    /// The share waiting for confirmation, if any.
    pub fn pending(&self, wallet: &WalletId) -> Result<Option<KeyShare>, KeystoreError> {
        self.epochs(wallet)?.pending.map(|e| self.read_share(wallet, e, "pending")).transpose()
    }

    /// Stores a new share as pending at its epoch. Refused (nothing written) when the
    /// wallet has a pending epoch already, when the epoch is not after the active one, or
    /// when the share is of another key than the wallet's.
    pub fn put_pending(&mut self, wallet: &WalletId, share: &KeyShare) -> Result<(), KeystoreError> {
        let epoch = share.epoch();
        let state = self.epochs(wallet)?;
        if let Some(pending) = state.pending {
            return Err(KeystoreError::PendingExists { wallet: wallet.to_string(), epoch: pending });
        }
        if let Some(active) = state.active
            && epoch <= active
        {
            return Err(KeystoreError::StaleEpoch { wallet: wallet.to_string(), epoch, active });
        }
        self.check_key(wallet, &share.public_package().wallet_key())?;
        let bytes = share.to_bytes().map_err(|e| KeystoreError::Share(e.to_string()))?;
        let sealed = format::seal(&self.key, share_label(wallet, epoch), &bytes)?;
        let dir = self.wallet_dir(wallet);
        if !dir.exists() {
            self.make_dir(&dir)?;
        }
        self.write(&dir.join(share_name(epoch, "pending")), &sealed)
    }

    /// Makes the pending share at `epoch` the active one and destroys older epochs. Call it
    /// once every holder has confirmed the new epoch. Calling it again for the epoch that
    /// is already active is fine (it finishes any cleanup a crash interrupted).
    pub fn promote(&mut self, wallet: &WalletId, epoch: u64) -> Result<(), KeystoreError> {
        let scan = self.scan(wallet)?;
        let dir = self.wallet_dir(wallet);
        match scan.state {
            EpochState { pending: Some(p), .. } if p == epoch => {
                self.rename(&dir.join(share_name(epoch, "pending")), &dir.join(share_name(epoch, "active")))?;
            }
            EpochState { active: Some(a), .. } if a == epoch => {}
            _ => return Err(KeystoreError::NoPending { wallet: wallet.to_string(), epoch }),
        }
        for old in scan.actives.iter().filter(|e| **e < epoch) {
            self.remove(&dir.join(share_name(*old, "active")))?;
        }
        Ok(())
    }

    /// Drops the pending share at `epoch` (the new epoch was not confirmed everywhere).
    pub fn discard_pending(&mut self, wallet: &WalletId, epoch: u64) -> Result<(), KeystoreError> {
        if self.epochs(wallet)?.pending != Some(epoch) {
            return Err(KeystoreError::NoPending { wallet: wallet.to_string(), epoch });
        }
        self.remove(&self.wallet_dir(wallet).join(share_name(epoch, "pending")))
    }

    /// The wallet's metadata, if stored.
    pub fn meta(&self, wallet: &WalletId) -> Result<Option<WalletMeta>, KeystoreError> {
        let path = self.wallet_dir(wallet).join(META);
        if !path.exists() {
            return Ok(None);
        }
        let label = Label { kind: Kind::Meta, wallet: Some(wallet), epoch: 0 };
        let plain = format::open(&self.key, label, &read_bounded(&path, MAX_RECORD_BYTES)?)?;
        WalletMeta::from_bytes(&plain).map(Some)
    }

    /// Stores (or replaces) the wallet's metadata. Refused when its key is not the key of
    /// the metadata or shares already stored for the wallet.
    pub fn put_meta(&mut self, wallet: &WalletId, meta: &WalletMeta) -> Result<(), KeystoreError> {
        self.check_key(wallet, &meta.key)?;
        let label = Label { kind: Kind::Meta, wallet: Some(wallet), epoch: 0 };
        let sealed = format::seal(&self.key, label, &meta.to_bytes()?)?;
        let dir = self.wallet_dir(wallet);
        if !dir.exists() {
            self.make_dir(&dir)?;
        }
        self.write(&dir.join(META), &sealed)
    }

    /// The device identity key, if stored.
    pub fn identity(&self) -> Result<Option<IdentityKey>, KeystoreError> {
        let path = self.dir.join(IDENTITY);
        if !path.exists() {
            return Ok(None);
        }
        let plain = format::open(&self.key, IDENTITY_LABEL, &read_bounded(&path, MAX_RECORD_BYTES)?)?;
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(plain.as_slice().try_into().map_err(|_| {
            KeystoreError::Malformed { what: Kind::Identity.name(), reason: format!("{} bytes, not 32", plain.len()) }
        })?);
        Ok(Some(IdentityKey::from_seed(&seed)))
    }

    /// Stores the device identity key. Refused if one is stored: replacing it would orphan
    /// the device's registration with the wallet server.
    pub fn set_identity(&mut self, identity: &IdentityKey) -> Result<(), KeystoreError> {
        let path = self.dir.join(IDENTITY);
        if path.exists() {
            return Err(KeystoreError::IdentityExists);
        }
        let seed = identity.to_seed();
        let sealed = format::seal(&self.key, IDENTITY_LABEL, seed.as_ref())?;
        self.write(&path, &sealed)
    }

    fn read_share(&self, wallet: &WalletId, epoch: u64, state: &str) -> Result<KeyShare, KeystoreError> {
        let path = self.wallet_dir(wallet).join(share_name(epoch, state));
        let plain = format::open(&self.key, share_label(wallet, epoch), &read_bounded(&path, MAX_RECORD_BYTES)?)?;
        let share = KeyShare::from_bytes(&plain).map_err(|e| KeystoreError::Share(e.to_string()))?;
        if share.epoch() != epoch {
            return Err(KeystoreError::Share(format!("share of epoch {} stored as epoch {epoch}", share.epoch())));
        }
        Ok(share)
    }

    /// The key a wallet's shares and metadata must carry: from its metadata, else from a
    /// stored share. `None` for a wallet the store knows nothing about.
    fn check_key(&self, wallet: &WalletId, key: &WalletKey) -> Result<(), KeystoreError> {
        let known = match self.meta(wallet)? {
            Some(meta) => Some(meta.key),
            None => match self.active(wallet)? {
                Some(share) => Some(share.public_package().wallet_key()),
                None => self.pending(wallet)?.map(|s| s.public_package().wallet_key()),
            },
        };
        match known {
            Some(k) if k != *key => Err(KeystoreError::KeyMismatch {
                wallet: wallet.to_string(),
                reason: format!("key {:?} differs from the stored {:?}", key.public_key(), k.public_key()),
            }),
            _ => Ok(()),
        }
    }

    fn wallet_dir(&self, wallet: &WalletId) -> PathBuf {
        self.dir.join(WALLETS).join(hex::encode(wallet.as_str()))
    }

    fn scan(&self, wallet: &WalletId) -> Result<Scan, KeystoreError> {
        let dir = self.wallet_dir(wallet);
        let mut scan = Scan::default();
        if !dir.exists() {
            return Ok(scan);
        }
        for entry in fs::read_dir(&dir).map_err(io(&dir))? {
            let name = entry.map_err(io(&dir))?.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(TMP_PREFIX) {
                scan.temps.push(dir.join(name));
            } else if let Some((epoch, state)) = parse_share_name(name) {
                match state {
                    "active" => scan.actives.push(epoch),
                    _ => scan.pendings.push(epoch),
                }
            }
        }
        scan.actives.sort_unstable();
        scan.pendings.sort_unstable();
        let active = scan.actives.last().copied();
        let newer: Vec<u64> = scan.pendings.iter().copied().filter(|p| Some(*p) > active).collect();
        if newer.len() > 1 {
            return Err(KeystoreError::Inconsistent {
                wallet: wallet.to_string(),
                reason: format!("several pending epochs {newer:?}"),
            });
        }
        scan.state = EpochState { active, pending: newer.first().copied() };
        Ok(scan)
    }

    /// Finishes what a crash interrupted, wallet by wallet: removes temp files, and older
    /// active epochs and stale pending ones once the newest active epoch opens.
    fn recover(&mut self) -> Result<(), KeystoreError> {
        check_mode(&self.dir.join(WALLETS))?;
        for temp in leftover_temps(&self.dir)? {
            self.remove(&temp)?;
        }
        for wallet in self.wallets()? {
            check_mode(&self.wallet_dir(&wallet))?;
            let scan = self.scan(&wallet)?;
            for temp in &scan.temps {
                self.remove(temp)?;
            }
            let Some(active) = scan.state.active else { continue };
            let stale_actives: Vec<u64> = scan.actives.iter().copied().filter(|e| *e < active).collect();
            let stale_pendings: Vec<u64> = scan.pendings.iter().copied().filter(|e| *e <= active).collect();
            if stale_actives.is_empty() && stale_pendings.is_empty() {
                continue;
            }
            // Destroy nothing until the share that replaces it is known to open.
            self.read_share(&wallet, active, "active")?;
            let dir = self.wallet_dir(&wallet);
            for e in stale_actives {
                self.remove(&dir.join(share_name(e, "active")))?;
            }
            for e in stale_pendings {
                self.remove(&dir.join(share_name(e, "pending")))?;
            }
        }
        Ok(())
    }

    // --- Write steps. Each is one crash point for the tests. ---

    #[cfg(test)]
    fn step(&mut self) -> Result<(), KeystoreError> {
        match self.crash_at {
            Some(0) => Err(KeystoreError::Io { path: "<test crash>".into(), source: std::io::Error::other("crash") }),
            Some(n) => {
                self.crash_at = Some(n - 1);
                Ok(())
            }
            None => Ok(()),
        }
    }

    #[cfg(not(test))]
    fn step(&mut self) -> Result<(), KeystoreError> {
        Ok(())
    }

    /// Atomic replace: temp file, fsync, rename, fsync the directory.
    fn write(&mut self, path: &Path, bytes: &[u8]) -> Result<(), KeystoreError> {
        let (dir, name) = split(path)?;
        let temp = dir.join(format!("{TMP_PREFIX}{name}"));
        self.step()?;
        let mut file =
            OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&temp).map_err(io(&temp))?;
        file.write_all(bytes).map_err(io(&temp))?;
        self.step()?;
        file.sync_all().map_err(io(&temp))?;
        drop(file);
        self.rename(&temp, path)
    }

    fn rename(&mut self, from: &Path, to: &Path) -> Result<(), KeystoreError> {
        self.step()?;
        fs::rename(from, to).map_err(io(from))?;
        self.sync_dir(to)
    }

    fn remove(&mut self, path: &Path) -> Result<(), KeystoreError> {
        self.step()?;
        fs::remove_file(path).map_err(io(path))?;
        self.sync_dir(path)
    }

    fn make_dir(&mut self, path: &Path) -> Result<(), KeystoreError> {
        self.step()?;
        DirBuilder::new().mode(0o700).create(path).map_err(io(path))?;
        self.sync_dir(path)
    }

    /// Fsyncs the directory holding `path`, so the rename, removal or creation is durable.
    fn sync_dir(&mut self, path: &Path) -> Result<(), KeystoreError> {
        let (dir, _) = split(path)?;
        self.step()?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
    }
}

#[derive(Default)]
struct Scan {
    state: EpochState,
    actives: Vec<u64>,
    pendings: Vec<u64>,
    temps: Vec<PathBuf>,
}

const IDENTITY_LABEL: Label<'static> = Label { kind: Kind::Identity, wallet: None, epoch: 0 };

fn share_label(wallet: &WalletId, epoch: u64) -> Label<'_> {
    Label { kind: Kind::Share, wallet: Some(wallet), epoch }
}

fn share_name(epoch: u64, state: &str) -> String {
    format!("{epoch}.{state}")
}

/// `<epoch>.active` or `<epoch>.pending`, with the epoch in its one decimal spelling.
fn parse_share_name(name: &str) -> Option<(u64, &'static str)> {
    let (epoch, state) = name.split_once('.')?;
    let state = match state {
        "active" => "active",
        "pending" => "pending",
        _ => return None,
    };
    let n: u64 = epoch.parse().ok()?;
    (n.to_string() == epoch).then_some((n, state))
}

/// Takes the store's exclusive lock (the lock file is created on first use).
fn lock(dir: &Path) -> Result<File, KeystoreError> {
    let path = dir.join(LOCK);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(io(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(KeystoreError::Locked { path: show(dir) }),
        Err(std::fs::TryLockError::Error(e)) => Err(KeystoreError::Io { path: show(&path), source: e }),
    }
}

/// True when `dir` is absent or holds only what an interrupted [`Keystore::create`] left.
fn only_leftovers_of_create(dir: &Path) -> Result<bool, KeystoreError> {
    if !dir.exists() {
        return Ok(true);
    }
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name();
        let ok = match name.to_str() {
            Some(LOCK) => true,
            Some(WALLETS) => fs::read_dir(entry.path()).map_err(io(&entry.path()))?.next().is_none(),
            Some(n) => n.starts_with(TMP_PREFIX),
            None => false,
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn leftover_temps(dir: &Path) -> Result<Vec<PathBuf>, KeystoreError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        if entry.file_name().to_str().is_some_and(|n| n.starts_with(TMP_PREFIX)) {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// Reads at most `max` bytes of a file that must not be readable by others.
fn read_bounded(path: &Path, max: usize) -> Result<Vec<u8>, KeystoreError> {
    check_mode(path)?;
    let file = File::open(path).map_err(io(path))?;
    let mut bytes = Vec::new();
    file.take(max as u64 + 1).read_to_end(&mut bytes).map_err(io(path))?;
    if bytes.len() > max {
        return Err(KeystoreError::TooLarge { what: "keystore file", len: bytes.len(), max });
    }
    Ok(bytes)
}

/// Refuses a file or directory that group or others may access.
fn check_mode(path: &Path) -> Result<(), KeystoreError> {
    let mode = fs::metadata(path).map_err(io(path))?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeystoreError::InsecurePermissions { path: show(path), mode });
    }
    Ok(())
}

fn split(path: &Path) -> Result<(&Path, &str), KeystoreError> {
    match (path.parent(), path.file_name().and_then(|n| n.to_str())) {
        (Some(dir), Some(name)) => Ok((dir, name)),
        _ => Err(KeystoreError::Io { path: show(path), source: std::io::Error::other("not a file path") }),
    }
}

fn show(path: &Path) -> String {
    path.display().to_string()
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeystoreError + '_ {
    move |source| KeystoreError::Io { path: show(path), source }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use tssw_protocol::{Scheme, testing};

    const PASS: &[u8] = b"crash test passphrase";

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tssw-keystore-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    /// Epochs 1 (active) and 2 (pending) of one key, as a refresh makes them.
    fn shares() -> (KeyShare, KeyShare) {
        let first = testing::dkg(Scheme::Ed25519, 2, 2).unwrap();
        let (second, _) = testing::refresh(&first).unwrap();
        (first[0].clone(), second[0].clone())
    }

    fn same(a: &KeyShare, b: &KeyShare) -> bool {
        *a.to_bytes().unwrap() == *b.to_bytes().unwrap()
    }

    #[derive(Clone, Copy, Debug)]
    enum Op {
        PutPending,
        Promote,
        Discard,
    }

    /// Runs `op` with a crash before its k-th write step, for every k, then reopens the
    /// store as a restarted process would: it must open with exactly one active epoch, the
    /// old share or the new, and the new share is never lost until a discard asked for it.
    #[test]
    fn a_crash_at_any_step_leaves_one_active_epoch_and_no_share_lost() {
        let (old, new) = shares();
        let wallet = WalletId::new("w").unwrap();
        for op in [Op::PutPending, Op::Promote, Op::Discard] {
            let mut completed = false;
            let mut seen = std::collections::BTreeSet::new();
            for k in 0.. {
                let dir = temp_dir(&format!("crash-{op:?}-{k}"));
                let mut store = Keystore::create(&dir, PASS, KdfParams::DEFAULT).unwrap();
                store.put_pending(&wallet, &old).unwrap();
                store.promote(&wallet, 1).unwrap();
                if !matches!(op, Op::PutPending) {
                    store.put_pending(&wallet, &new).unwrap();
                }
                store.crash_at = Some(k);
                let result = match op {
                    Op::PutPending => store.put_pending(&wallet, &new),
                    Op::Promote => store.promote(&wallet, 2),
                    Op::Discard => store.discard_pending(&wallet, 2),
                };
                drop(store);

                let store = Keystore::open(&dir, PASS).unwrap();
                let state = store.epochs(&wallet).unwrap();
                let active = store.active(&wallet).unwrap().expect("an active share after every crash");
                let pending = store.pending(&wallet).unwrap();
                seen.insert((state.active, state.pending));
                match state {
                    EpochState { active: Some(1), pending: None } => {
                        assert!(same(&active, &old));
                        // Only a put that never finished or a discard may leave no epoch 2.
                        assert!(matches!(op, Op::PutPending | Op::Discard), "{op:?} k={k}: lost the new share");
                    }
                    EpochState { active: Some(1), pending: Some(2) } => {
                        assert!(same(&active, &old) && same(&pending.unwrap(), &new));
                    }
                    EpochState { active: Some(2), pending: None } => {
                        assert!(same(&active, &new));
                        assert!(matches!(op, Op::Promote), "{op:?} k={k}");
                    }
                    other => panic!("{op:?} k={k}: {other:?}"),
                }
                // Exactly one active file remains: recovery finished any promotion.
                let wallet_dir = store.wallet_dir(&wallet);
                let files: Vec<String> =
                    fs::read_dir(&wallet_dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
                assert_eq!(files.iter().filter(|f| f.ends_with(".active")).count(), 1, "{op:?} k={k}: {files:?}");
                assert!(!files.iter().any(|f| f.starts_with(TMP_PREFIX)), "{op:?} k={k}: {files:?}");
                drop(store);
                fs::remove_dir_all(&dir).unwrap();
                if result.is_ok() {
                    completed = true;
                    break;
                }
            }
            assert!(completed, "{op:?} never completed");
            // Each operation was cut both before and after its decisive rename.
            let both = match op {
                Op::PutPending | Op::Discard => [(Some(1), None), (Some(1), Some(2))],
                Op::Promote => [(Some(1), Some(2)), (Some(2), None)],
            };
            assert!(both.iter().all(|s| seen.contains(s)), "{op:?}: saw only {seen:?}");
        }
    }

    #[test]
    fn a_leftover_temp_file_and_a_half_finished_promotion_are_cleaned_up() {
        let (old, new) = shares();
        let wallet = WalletId::new("w").unwrap();
        let dir = temp_dir("leftovers");
        let mut store = Keystore::create(&dir, PASS, KdfParams::DEFAULT).unwrap();
        store.put_pending(&wallet, &old).unwrap();
        store.promote(&wallet, 1).unwrap();
        store.put_pending(&wallet, &new).unwrap();
        let wallet_dir = store.wallet_dir(&wallet);
        drop(store);
        // A promotion that renamed but did not remove the old epoch, plus a torn write.
        fs::rename(wallet_dir.join("2.pending"), wallet_dir.join("2.active")).unwrap();
        fs::write(wallet_dir.join(".tmp-3.pending"), b"half a share").unwrap();
        fs::write(dir.join(".tmp-identity"), b"half").unwrap();

        let store = Keystore::open(&dir, PASS).unwrap();
        assert_eq!(store.epochs(&wallet).unwrap(), EpochState { active: Some(2), pending: None });
        assert!(same(&store.active(&wallet).unwrap().unwrap(), &new));
        assert!(!wallet_dir.join("1.active").exists());
        assert!(!wallet_dir.join(".tmp-3.pending").exists());
        assert!(!dir.join(".tmp-identity").exists());
        drop(store);

        // A newer active epoch that does not open never replaces the old one: here a copy
        // of epoch 2 renamed to epoch 3 (its AAD says 2).
        fs::copy(wallet_dir.join("2.active"), wallet_dir.join("3.active")).unwrap();
        fs::set_permissions(wallet_dir.join("3.active"), fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(Keystore::open(&dir, PASS), Err(KeystoreError::Tampered { .. })));
        assert!(wallet_dir.join("2.active").exists(), "the good share was kept");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn share_names_have_one_spelling() {
        assert_eq!(parse_share_name("7.active"), Some((7, "active")));
        assert_eq!(parse_share_name("12.pending"), Some((12, "pending")));
        for bad in [
            "07.active",
            "+7.active",
            "7.Active",
            "7.active.tmp",
            "x.pending",
            ".pending",
            "7",
            "18446744073709551616.active",
        ] {
            assert_eq!(parse_share_name(bad), None, "{bad}");
        }
    }
}
