//! When a SQLite commit reaches the disk (issue 17, docs/decisions/0008-journal-durability.md).
//!
//! The journal runs WAL with `synchronous=NORMAL`: a commit has been written (`write(2)`) to the `-wal` file when it
//! returns, so it is in the OS page cache and survives a `kill -9` of pxrelay; only a host crash (power, kernel) can
//! lose the commits made since the WAL file was last synced (the WAL's checksums keep whatever survives a prefix).
//! [`Durable`] decides when the WAL file is synced:
//! - [`Durable::sync`]: now, for everything committed so far — one `fdatasync` of the `-wal` file, on a handle of our
//!   own, **outside** the connection's lock (other commits go on meanwhile), shared by every caller waiting at the
//!   same time (group commit), and skipped when nothing was committed since the last sync. Used before an answer
//!   that accepts an alert with nothing at the broker yet, and before a money-moving call that carries no
//!   `customTag` (the broker could not tell it was ours).
//! - the syncer thread ([`spawn_syncer`]): at most [`SYNC_INTERVAL`] after a commit, everything is synced anyway, so
//!   a host crash loses at most that window; it also checkpoints the WAL into the database file (its own connection,
//!   `PASSIVE`: it never waits for the writer) at most every [`CHECKPOINT_INTERVAL`], so the checkpoint's own fsyncs
//!   are not on an alert's path.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use tokio::time::Instant;

/// The longest a commit stays only in the page cache: the syncer syncs this long after the first unsynced commit
/// (group: every commit meanwhile rides along). A host crash loses at most this window (plus the fsync itself).
pub(crate) const SYNC_INTERVAL: Duration = Duration::from_millis(100);

/// How often, at most, the syncer checkpoints the WAL into the database file (only when something was committed).
pub(crate) const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(5);

/// The WAL's sync state, shared by the store (which counts commits) and the syncer thread.
#[derive(Debug)]
pub(in crate::journal) struct Durable {
    /// The `-wal` file, opened by us for `fdatasync` (same inode as SQLite's handle: syncing it syncs SQLite's
    /// writes).
    wal: File,
    /// Commits that changed something, counted after they returned (so their frames are in the page cache).
    written: AtomicU64,
    /// The `written` count the last completed sync covered.
    synced: AtomicU64,
    /// Serialises syncs: a caller that waited here finds its commit covered by the sync that held it.
    syncing: Mutex<()>,
    /// `fdatasync` calls made (tests, and the figure in docs/decisions/0008).
    syncs: AtomicU64,
    /// Wakes the syncer (a commit, or the store closing).
    wake: Condvar,
    /// Set when the store closes: the syncer syncs a last time and stops.
    closed: Mutex<bool>,
    /// Tests: the syncer leaves the WAL alone while set, so what the explicit syncs did can be seen.
    held: std::sync::atomic::AtomicBool,
}

impl Durable {
    /// Opens the `-wal` file of the database at `db` (SQLite created it when the connection went into WAL mode), and
    /// syncs its directory once, so the file itself survives a host crash.
    pub(in crate::journal) fn open(db: &Path) -> std::io::Result<Arc<Self>> {
        let wal = std::fs::OpenOptions::new().read(true).write(true).open(wal_path(db))?;
        if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        wal.sync_data()?;
        Ok(Arc::new(Self {
            wal,
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            syncing: Mutex::new(()),
            syncs: AtomicU64::new(0),
            wake: Condvar::new(),
            closed: Mutex::new(false),
            held: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// Notes that a commit that changed something has returned (its frames are in the page cache).
    pub(in crate::journal) fn committed(&self) {
        self.written.fetch_add(1, Ordering::Release);
        self.wake.notify_one();
    }

    /// Whether a commit has not been synced yet.
    fn dirty(&self) -> bool {
        self.unsynced() > 0
    }

    /// Commits that returned and were not synced yet.
    pub(in crate::journal) fn unsynced(&self) -> u64 {
        self.written.load(Ordering::Acquire).saturating_sub(self.synced.load(Ordering::Acquire))
    }

    /// Tests: holds the syncer (`true`) or lets it go again.
    pub(in crate::journal) fn hold(&self, held: bool) {
        self.held.store(held, Ordering::Release);
        self.wake.notify_one();
    }

    /// Makes every commit that returned before this call durable: one `fdatasync` of the WAL, unless another sync
    /// already covered them (then none). Blocking: call it on the blocking pool.
    pub(in crate::journal) fn sync(&self) -> std::io::Result<()> {
        let target = self.written.load(Ordering::Acquire);
        if self.synced.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        let _one_at_a_time = self.syncing.lock();
        if self.synced.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        // Everything committed up to now rides along, not only up to `target`.
        let covered = self.written.load(Ordering::Acquire);
        self.wal.sync_data()?;
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.synced.fetch_max(covered, Ordering::AcqRel);
        Ok(())
    }

    /// `fdatasync` calls made so far.
    pub(in crate::journal) fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    /// Tells the syncer to sync a last time and stop (the store is closing).
    pub(in crate::journal) fn close(&self) {
        *self.closed.lock() = true;
        self.wake.notify_one();
    }
}

/// The `-wal` file beside the database file `db`.
fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Starts the syncer thread for `durable`, checkpointing through `checkpointer` (a connection of its own to the same
/// database). It stops when the store closes ([`Durable::close`]) or is dropped.
pub(in crate::journal) fn spawn_syncer(
    durable: &Arc<Durable>,
    checkpointer: rusqlite::Connection,
) -> std::io::Result<()> {
    let weak = Arc::downgrade(durable);
    // At most 15 characters: Linux cuts longer thread names (`/proc`, strace, top show the cut name).
    std::thread::Builder::new().name("pxrelay-jsync".to_owned()).spawn(move || syncer(&weak, &checkpointer))?;
    Ok(())
}

fn syncer(durable: &Weak<Durable>, checkpointer: &rusqlite::Connection) {
    let mut last_checkpoint = Instant::now();
    let mut checkpoint_due = false;
    loop {
        let Some(d) = durable.upgrade() else { return };
        {
            let mut closed = d.closed.lock();
            while !*closed && (!d.dirty() || d.held.load(Ordering::Acquire)) {
                // A timeout, so a store dropped without `close` still ends the thread.
                if d.wake.wait_for(&mut closed, Duration::from_secs(1)).timed_out() {
                    break;
                }
            }
            if *closed {
                drop(closed);
                if let Err(e) = d.sync() {
                    tracing::error!(error = %e, "journal: the last sync of the WAL failed");
                }
                return;
            }
        }
        if d.dirty() && !d.held.load(Ordering::Acquire) {
            // Let the commits of the next moments ride along with this one.
            std::thread::sleep(SYNC_INTERVAL);
            if let Err(e) = d.sync() {
                tracing::error!(error = %e, "journal: syncing the WAL failed; retrying");
            }
            checkpoint_due = true;
        }
        drop(d);
        if checkpoint_due && last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL {
            last_checkpoint = Instant::now();
            checkpoint_due = false;
            if let Err(e) = checkpointer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!(error = %e, "journal: background checkpoint failed (the writer's own will run)");
            }
        }
    }
}
