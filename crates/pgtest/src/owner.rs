//! Who runs `initdb` and the server.
//!
//! PostgreSQL refuses to run as root, and CI runs as root. Then the server runs as the `postgres` system user when it
//! exists (Debian's `postgresql` package creates it), else as `nobody`, which every Linux system has: nothing is
//! added to the system for the tests. The switch is `std::os::unix::process::CommandExt::{uid, gid}` (setgid +
//! setuid in the child, supplementary groups dropped), not `runuser`/`su`: those stay as the parent of the command,
//! and the cluster needs the server's own PID to pause and stop it. Run as any other user, the server runs as that
//! user.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// Unprivileged users to run the server as when the tests run as root, first existing one wins.
const CANDIDATES: [&str; 2] = ["postgres", "nobody"];

/// The account `initdb` and `postgres` run as.
#[derive(Debug, Clone)]
pub(crate) enum Owner {
    /// Not root: the server runs as the test process's own user.
    CurrentUser,
    /// Root: the server runs as this unprivileged user, which owns the cluster's directories.
    User {
        /// Login name, for messages.
        name: String,
        /// Its user id.
        uid: u32,
        /// Its primary group id.
        gid: u32,
    },
}

impl Owner {
    /// The current user unless it is root; then the first of `postgres`, `nobody` that exists.
    pub(crate) fn choose() -> Result<Owner, String> {
        if effective_uid()? != 0 {
            return Ok(Owner::CurrentUser);
        }
        CANDIDATES
            .iter()
            .find_map(|name| {
                let uid = id(&["-u", name])?;
                let gid = id(&["-g", name])?;
                Some(Owner::User { name: (*name).to_owned(), uid, gid })
            })
            .ok_or_else(|| {
                format!(
                    "running as root and none of the users {CANDIDATES:?} exists to run PostgreSQL as \
                     (it refuses to run as root)"
                )
            })
    }

    /// Makes `command` run as this owner.
    pub(crate) fn apply(&self, command: &mut Command) {
        if let Owner::User { uid, gid, .. } = self {
            command.gid(*gid).uid(*uid);
        }
    }

    /// Gives `path` (one directory or file) to this owner.
    pub(crate) fn give(&self, path: &Path) -> Result<(), String> {
        match self {
            Owner::CurrentUser => Ok(()),
            Owner::User { name, uid, gid } => std::os::unix::fs::chown(path, Some(*uid), Some(*gid))
                .map_err(|e| format!("chown {} to {name}: {e}", path.display())),
        }
    }
}

/// The effective user id, from the `Uid:` line of `/proc/self/status` (real, effective, saved, fs), else `id -u`.
fn effective_uid() -> Result<u32, String> {
    let from_proc = std::fs::read_to_string("/proc/self/status").ok().and_then(|status| {
        let line = status.lines().find(|line| line.starts_with("Uid:"))?;
        line.split_whitespace().nth(2)?.parse().ok()
    });
    from_proc
        .or_else(|| id(&["-u"]))
        .ok_or_else(|| "cannot tell the current user id (/proc/self/status, id -u)".to_owned())
}

/// The number `id <args>` prints; `None` when the user does not exist or `id` fails.
fn id(args: &[&str]) -> Option<u32> {
    let out = Command::new("id").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}
