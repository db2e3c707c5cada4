//! One throwaway PostgreSQL cluster: `initdb` in a temporary directory, `postgres` on a free 127.0.0.1 port, stopped
//! and removed on drop (or by its watchdog when the test process exits first).

use std::fs::{self, File};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::bins::BinDir;
use crate::deadline::Deadline;
use crate::owner::Owner;
use crate::signal;

/// How long the server gets to accept connections after it is spawned.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Ports tried when another process takes the free port between our check and the server's bind.
const PORT_ATTEMPTS: usize = 3;
/// The longest database name PostgreSQL keeps whole (NAMEDATALEN - 1 bytes); longer names are cut silently.
const MAX_NAME_LEN: usize = 63;
/// Lines of the server log quoted in start errors.
const LOG_TAIL_LINES: usize = 30;

/// Numbers temporary directories and fresh database names, unique within the process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A running throwaway PostgreSQL server (the real `postgres` binary) on `127.0.0.1:<port>`, superuser `postgres`
/// with `trust` authentication (no password), `fsync=off`, `max_connections=200`.
///
/// Files: a fresh directory under `std::env::temp_dir()` named `pgtest-<pid>-<n>` holding `data/` (the cluster),
/// `sock/` (its Unix socket and lock file) and `postgres.log` (the server's stdout and stderr).
///
/// Dropping it stops the server by its PID and removes the directory. If the test process exits without dropping
/// it (a `static`, see [`crate::shared`], or a crash), a watchdog process does the same: see docs/testing.md.
#[derive(Debug)]
pub struct Cluster {
    /// The temporary directory (data, socket, log); removed on drop.
    root: PathBuf,
    /// Where `psql` and `createdb` come from (the server's own version).
    bins: BinDir,
    /// The TCP port on 127.0.0.1.
    port: u16,
    /// The postmaster, spawned directly (no `pg_ctl`), so `server.id()` is its PID.
    server: Child,
    /// `sh` holding the read end of a pipe whose write end is `watchdog.stdin`; stops the server when that closes.
    watchdog: Child,
}

impl Cluster {
    /// Starts a new cluster: finds the binaries, runs `initdb -A trust -U postgres --no-sync -E UTF8 --locale=C`,
    /// spawns `postgres -D <data> -p <port> -k <sock> -c listen_addresses=127.0.0.1 -c fsync=off
    /// -c max_connections=200` and waits (at most 30 s) until it is ready and accepts TCP connections.
    ///
    /// Run as root, the server runs as the `postgres` user if it exists, else `nobody` (PostgreSQL refuses root).
    ///
    /// # Errors
    /// The server binaries are missing (the message says to run `apt-get install -y postgresql`), `initdb` fails, or
    /// the server exits or is not ready in time (the message quotes the end of its log). Nothing is left running or
    /// on disk then.
    pub fn start() -> Result<Cluster, String> {
        Self::launch(false)
    }

    /// [`Self::start`] with `fsync=on` (PostgreSQL's default): commits are on disk before they return, as on a real
    /// deployment. For benchmarks that compare journals; tests use the faster [`Self::start`].
    ///
    /// # Errors
    /// As [`Self::start`].
    pub fn start_durable() -> Result<Cluster, String> {
        Self::launch(true)
    }

    fn launch(durable: bool) -> Result<Cluster, String> {
        let bins = BinDir::find()?;
        let owner = Owner::choose()?;
        let root = make_root()?;
        let started = start_in(&root, &bins, &owner, durable);
        match started {
            Ok((server, port, watchdog)) => Ok(Cluster { root, bins, port, server, watchdog }),
            Err(e) => {
                let _ = fs::remove_dir_all(&root);
                Err(e)
            }
        }
    }

    /// The server's TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The postmaster's process id.
    pub fn pid(&self) -> u32 {
        self.server.id()
    }

    /// Creates database `name` (with `createdb`) and returns its URL, `postgres://postgres@127.0.0.1:<port>/<name>`.
    ///
    /// `name` must be 1 to 63 characters of `a-z`, `0-9` and `_`, starting with a letter or `_`: such a name needs
    /// no quoting in SQL or in the URL, and PostgreSQL keeps it whole. Unique names are the caller's business; see
    /// [`Cluster::fresh_database`].
    ///
    /// # Errors
    /// An invalid name, or `createdb` fails (the name exists, the server is paused past the 10 s connect timeout).
    pub fn create_database(&self, name: &str) -> Result<String, String> {
        check_name(name)?;
        let out = self.client("createdb")?.arg(name).output().map_err(|e| format!("running createdb: {e}"))?;
        if !out.status.success() {
            return Err(format!("createdb {name}: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(self.url(name))
    }

    /// Creates a database named `<prefix>_<process id>_<n>` (`n` counts up within the process) and returns its URL,
    /// as [`Cluster::create_database`] does. `prefix` follows the same rules as a name, with room for the suffix.
    ///
    /// # Errors
    /// As [`Cluster::create_database`].
    pub fn fresh_database(&self, prefix: &str) -> Result<String, String> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        self.create_database(&format!("{prefix}_{}_{n}", std::process::id()))
    }

    /// The URL of database `name` on this cluster (it need not exist): `postgres://postgres@127.0.0.1:<port>/<name>`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Runs `sql` with `psql` as `postgres` on database `database` and returns its output unaligned and without
    /// headers (`-A -t`: one row a line, columns separated by `|`), trimmed. Stops at the first error.
    ///
    /// # Errors
    /// An invalid database name (rules of [`Cluster::create_database`]), or `psql` fails; the message has its stderr.
    pub fn psql(&self, database: &str, sql: &str) -> Result<String, String> {
        check_name(database)?;
        let out = self
            .client("psql")?
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql])
            .output()
            .map_err(|e| format!("running psql: {e}"))?;
        if !out.status.success() {
            return Err(format!("psql: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Pauses the server: SIGSTOP to the postmaster (so it starts no new backend), then to its children (backends
    /// and auxiliary processes). Open connections then get no answer and new ones hang after the TCP handshake
    /// (the kernel still queues them): "the server is paused". Returns once the postmaster shows as stopped.
    ///
    /// # Panics
    /// When a signal cannot be sent, or the postmaster is not stopped within 5 s (a test helper: the test fails).
    pub fn pause(&self) {
        let pid = self.pid();
        let paused = signal::to_pid(pid, "STOP")
            .and_then(|()| signal::to_children(pid, "STOP"))
            .and_then(|()| signal::wait_stopped(pid));
        if let Err(e) = paused {
            panic!("pausing PostgreSQL (pid {pid}): {e}");
        }
    }

    /// Resumes a server stopped by [`Cluster::pause`]: SIGCONT to its children, then to the postmaster. Queued
    /// connections are then served.
    ///
    /// # Panics
    /// When a signal cannot be sent.
    pub fn resume(&self) {
        let pid = self.pid();
        let resumed = signal::to_children(pid, "CONT").and_then(|()| signal::to_pid(pid, "CONT"));
        if let Err(e) = resumed {
            panic!("resuming PostgreSQL (pid {pid}): {e}");
        }
    }

    /// Ends every session whose `application_name` is `application_name` (`pg_terminate_backend`), as a cut
    /// connection would, and returns how many were ended (0 when none matched). The name is passed as an escaped
    /// SQL string literal; `psql`'s own session is never counted.
    ///
    /// # Errors
    /// `psql` fails (for instance while the server is paused, after the 10 s connect timeout).
    pub fn terminate_backends(&self, application_name: &str) -> Result<u32, String> {
        let sql = format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = {} AND pid <> pg_backend_pid()",
            sql_literal(application_name)
        );
        let out = self.psql("postgres", &sql)?;
        out.parse().map_err(|e| format!("psql printed {out:?} for the count: {e}"))
    }

    /// A client tool (`psql`, `createdb`) aimed at this server: TCP to 127.0.0.1, user `postgres`, never prompts
    /// for a password, gives up connecting after 10 s, ignores the caller's `PGOPTIONS`/`PGSERVICE`.
    fn client(&self, tool: &str) -> Result<Command, String> {
        let mut command = Command::new(self.bins.client(tool)?);
        command
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "-w"])
            .env("PGCONNECT_TIMEOUT", "10")
            .env("PGSSLMODE", "disable")
            .env_remove("PGOPTIONS")
            .env_remove("PGSERVICE")
            .stdin(Stdio::null());
        Ok(command)
    }
}

impl Drop for Cluster {
    /// Ends the watchdog, stops the server by its PID (SIGCONT to it and its children in case it is paused, SIGINT =
    /// PostgreSQL's fast shutdown, up to 5 s, then SIGKILL), reaps it, and removes the directory.
    fn drop(&mut self) {
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
        signal::stop_server(&mut self.server);
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// `initdb`, then the server on a free port (retrying another port if that one was taken meanwhile), then its
/// watchdog. Returns the server, its port and the watchdog.
fn start_in(root: &Path, bins: &BinDir, owner: &Owner, durable: bool) -> Result<(Child, u16, Child), String> {
    let data = root.join("data");
    let sock = root.join("sock");
    owner.give(root)?;
    fs::create_dir(&sock).map_err(|e| format!("creating {}: {e}", sock.display()))?;
    owner.give(&sock)?;
    initdb(root, &data, bins, owner)?;
    let log_path = root.join("postgres.log");
    let mut last_error = String::new();
    for _ in 0..PORT_ATTEMPTS {
        let port = free_port()?;
        let mut server = spawn_server(root, port, &log_path, bins, owner, durable)?;
        match wait_ready(&mut server, &data, port, &log_path) {
            Ok(()) => {
                return match signal::spawn_watchdog(server.id(), root) {
                    Ok(watchdog) => Ok((server, port, watchdog)),
                    Err(e) => {
                        signal::stop_server(&mut server);
                        Err(e)
                    }
                };
            }
            Err(e) => {
                signal::stop_server(&mut server);
                if !e.contains("could not bind") {
                    return Err(e);
                }
                last_error = e;
            }
        }
    }
    Err(last_error)
}

/// A new empty directory `<temp dir>/pgtest-<pid>-<n>`, readable by the server's user.
fn make_root() -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let base = std::env::temp_dir();
    let mut tries = 0;
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let root = base.join(format!("pgtest-{}-{n}", std::process::id()));
        match fs::create_dir(&root) {
            Ok(()) => {
                fs::set_permissions(&root, fs::Permissions::from_mode(0o700))
                    .map_err(|e| format!("chmod {}: {e}", root.display()))?;
                return Ok(root);
            }
            // A leftover of an earlier process that had the same PID: take the next number.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && tries < 1000 => tries += 1,
            Err(e) => return Err(format!("creating {}: {e}", root.display())),
        }
    }
}

/// Runs `initdb` into `data` as `owner`.
fn initdb(root: &Path, data: &Path, bins: &BinDir, owner: &Owner) -> Result<(), String> {
    let mut command = Command::new(bins.server("initdb"));
    command
        .arg("-D")
        .arg(data)
        .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"])
        // The caller's working directory may be closed to the server's user.
        .current_dir(root)
        .env_remove("PGDATA")
        .stdin(Stdio::null());
    owner.apply(&mut command);
    let out = command.output().map_err(|e| format!("running {}: {e}", bins.server("initdb").display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "initdb failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Spawns the postmaster directly (its PID is the child's), output appended to `log`.
/// `data` and `sock` are `root/data` and `root/sock` ([`start_in`]).
fn spawn_server(
    root: &Path,
    port: u16,
    log: &Path,
    bins: &BinDir,
    owner: &Owner,
    durable: bool,
) -> Result<Child, String> {
    let open =
        || File::options().create(true).append(true).open(log).map_err(|e| format!("opening {}: {e}", log.display()));
    let (data, sock) = (root.join("data"), root.join("sock"));
    let mut command = Command::new(bins.server("postgres"));
    command
        .arg("-D")
        .arg(data)
        .args(["-p", &port.to_string()])
        .arg("-k")
        .arg(sock)
        .args(["-c", "listen_addresses=127.0.0.1", "-c", if durable { "fsync=on" } else { "fsync=off" }])
        .args(["-c", "max_connections=200"])
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(open()?)
        .stderr(open()?);
    owner.apply(&mut command);
    command.spawn().map_err(|e| format!("spawning {}: {e}", bins.server("postgres").display()))
}

/// Waits until the postmaster says it is ready (status line of `postmaster.pid`) and a TCP connection to its port
/// succeeds; errors early when it exits, or after `START_TIMEOUT`.
fn wait_ready(server: &mut Child, data: &Path, port: u16, log: &Path) -> Result<(), String> {
    let deadline = Deadline::after(START_TIMEOUT);
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    loop {
        if let Ok(Some(status)) = server.try_wait() {
            return Err(format!(
                "postgres exited ({status}) before accepting connections; end of {}:\n{}",
                log.display(),
                log_tail(log)
            ));
        }
        if postmaster_ready(data) && TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
            return Ok(());
        }
        if deadline.passed() {
            return Err(format!(
                "postgres did not accept connections on {addr} within {} s; end of {}:\n{}",
                START_TIMEOUT.as_secs(),
                log.display(),
                log_tail(log)
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether line 8 of `<data>/postmaster.pid` (the postmaster's status, PostgreSQL 10+) reads `ready`.
fn postmaster_ready(data: &Path) -> bool {
    fs::read_to_string(data.join("postmaster.pid"))
        .is_ok_and(|pidfile| pidfile.lines().nth(7).is_some_and(|status| status.trim() == "ready"))
}

/// A port on 127.0.0.1 that was free a moment ago: bind port 0, read it, let it go.
fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("binding 127.0.0.1:0: {e}"))?;
    listener.local_addr().map(|addr| addr.port()).map_err(|e| format!("reading the bound port: {e}"))
}

/// The last `LOG_TAIL_LINES` lines of the server log.
fn log_tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_else(|e| format!("(cannot read the log: {e})"));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

/// Accepts 1..=63 of `a-z`, `0-9`, `_`, not starting with a digit.
fn check_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.chars().all(allowed)
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if valid {
        Ok(())
    } else {
        Err(format!(
            "database name {name:?}: use 1 to {MAX_NAME_LEN} characters of a-z, 0-9 and _, not starting with a digit"
        ))
    }
}

/// `value` as a standard SQL string literal: in single quotes, each `'` doubled (PostgreSQL's
/// `standard_conforming_strings`, on by default since 9.1, keeps backslashes literal).
fn sql_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::{check_name, sql_literal};

    #[test]
    fn names_needing_no_quotes_are_accepted() {
        assert!(check_name("journal_123_0").is_ok());
        assert!(check_name("_x").is_ok());
        assert!(check_name(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn names_that_would_need_quoting_or_get_cut_are_refused() {
        for bad in ["", "Journal", "1abc", "a-b", "a b", "a/b", "x'y", &"a".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn literals_double_single_quotes() {
        assert_eq!(sql_literal("plain"), "'plain'");
        assert_eq!(sql_literal("o'hara"), "'o''hara'");
        assert_eq!(sql_literal(r"back\slash"), r"'back\slash'");
    }
}
