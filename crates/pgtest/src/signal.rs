//! Signals to the server and its backends, and the watchdog that stops the server when the test process is gone.
//!
//! Every signal goes to a PID this crate spawned (the postmaster) or to that PID's own children (`pkill -P`), through
//! the `kill` and `pkill` commands (the crate is std only: no libc).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::deadline::Deadline;

/// Sends `signal` (a name such as `STOP`) to `pid`.
pub(crate) fn to_pid(pid: u32, signal: &str) -> Result<(), String> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("running `kill`: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("kill -{signal} {pid}: {status}")) }
}

/// Sends `signal` to every child of `parent` (for the postmaster: its backends and auxiliary processes). Having no
/// children is not an error.
pub(crate) fn to_children(parent: u32, signal: &str) -> Result<(), String> {
    let status = Command::new("pkill")
        .arg(format!("-{signal}"))
        .args(["-P", &parent.to_string()])
        .status()
        .map_err(|e| format!("running `pkill` (procps): {e}"))?;
    // pkill: 0 = signalled some, 1 = none matched.
    match status.code() {
        Some(0 | 1) => Ok(()),
        _ => Err(format!("pkill -{signal} -P {parent}: {status}")),
    }
}

/// Waits (at most 5 s) until `pid` shows as stopped (`T` in `/proc/<pid>/stat`), so a caller of `pause` knows the
/// server no longer answers when it returns.
pub(crate) fn wait_stopped(pid: u32) -> Result<(), String> {
    let deadline = Deadline::after(Duration::from_secs(5));
    loop {
        if state(pid) == Some('T') {
            return Ok(());
        }
        if deadline.passed() {
            return Err(format!("process {pid} not stopped 5 s after SIGSTOP (state {:?})", state(pid)));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The state letter of `/proc/<pid>/stat` (the field after the parenthesised command name).
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Stops the server `child` by its PID: SIGCONT to it and its children (in case it is paused), SIGINT (PostgreSQL's
/// "fast" shutdown: ends the open sessions; SIGTERM is its "smart" shutdown, which waits for every client to
/// disconnect), up to 5 s for it to exit, then SIGKILL to its children and to it. Reaps it, so `/proc/<pid>` is gone
/// when this returns.
pub(crate) fn stop_server(child: &mut Child) {
    let pid = child.id();
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    let _ = to_children(pid, "CONT");
    let _ = to_pid(pid, "CONT");
    let _ = to_pid(pid, "INT");
    let deadline = Deadline::after(Duration::from_secs(5));
    while !deadline.passed() {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = to_children(pid, "KILL");
    let _ = child.kill();
    let _ = child.wait();
}

/// The watchdog's script: `$1` = server PID, `$2` = the cluster's directory. `read` returns when the pipe on its
/// stdin closes, which happens when the test process exits however it exits (its write end is never inherited: std
/// opens pipes close-on-exec). Then the same stop as `stop_server`, and the directory is removed.
///
/// "Alive" excludes a zombie (state `Z`, the third field of `/proc/<pid>/stat`; `postgres` has no space in its
/// name): an exited server orphaned to a PID 1 that is slow to reap it must not cost the full 5 s.
const WATCHDOG: &str = r#"read -r _
alive() { kill -0 "$1" 2>/dev/null || return 1; s=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) || return 0; [ "$s" != Z ]; }
kill -CONT "$1" 2>/dev/null; pkill -CONT -P "$1"
kill -INT "$1" 2>/dev/null
i=0
while alive "$1" && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i+1)); done
if alive "$1"; then pkill -KILL -P "$1"; kill -KILL "$1" 2>/dev/null; fi
rm -rf -- "$2""#;

/// Spawns the watchdog for server `pid` and directory `dir`. Keep the returned `Child` (its stdin pipe) alive as
/// long as the server should run; kill it before stopping the server yourself. It runs in its own process group so
/// a Ctrl-C on `cargo test` (SIGINT to the terminal's group, which stops the server too) does not kill it before it
/// removes the directory.
pub(crate) fn spawn_watchdog(pid: u32, dir: &std::path::Path) -> Result<Child, String> {
    use std::os::unix::process::CommandExt;
    Command::new("sh")
        .args(["-c", WATCHDOG, "pgtest-watchdog"])
        .arg(pid.to_string())
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("spawning the watchdog (sh): {e}"))
}
