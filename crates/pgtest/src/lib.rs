//! Throwaway PostgreSQL clusters for tests: the real server (Debian's `postgresql` package), never a mock.
//!
//! [`Cluster::start`] runs `initdb` into a fresh temporary directory and spawns `postgres` on a free 127.0.0.1 port;
//! [`Cluster::create_database`] / [`Cluster::fresh_database`] give each test its own database URL; [`Cluster::pause`],
//! [`Cluster::resume`] and [`Cluster::terminate_backends`] play the faults a client must survive. [`shared`] is one
//! cluster for the whole test process.
//!
//! Without the server binaries every function that needs them fails (and [`shared`] panics) with a message saying
//! to run `apt-get install -y postgresql`: the Postgres tests fail, they are never skipped. docs/testing.md says how
//! CI installs them.
//!
//! Layout: `cluster` (start, databases, faults, drop) · `bins` (finding the binaries) · `owner` (the unprivileged
//! user the server runs as under root) · `signal` (signals by PID, the exit watchdog) · `deadline` (bounded waits).

mod bins;
mod cluster;
mod deadline;
mod owner;
mod signal;

use std::sync::OnceLock;

pub use cluster::Cluster;

/// The test process's one shared cluster, started on first use. Tests share it and take a database each with
/// [`Cluster::fresh_database`].
///
/// A `static` is never dropped, so this cluster is stopped by its watchdog: a `sh` process whose stdin is a pipe
/// from the test process; when the test process exits (normally, by panic or by a signal) the kernel closes the
/// pipe, and the watchdog stops the server by its PID and removes its directory. No `postgres` process outlives
/// `cargo test`.
///
/// # Panics
/// When the cluster cannot start; the message says why (missing binaries: `apt-get install -y postgresql`). A later
/// call tries again.
pub fn shared() -> &'static Cluster {
    static SHARED: OnceLock<Cluster> = OnceLock::new();
    SHARED.get_or_init(|| Cluster::start().unwrap_or_else(|e| panic!("cannot start the test PostgreSQL server: {e}")))
}
