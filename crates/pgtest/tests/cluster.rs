//! `pgtest` against the real PostgreSQL server binaries: start, databases, pause/resume, cutting sessions, stopping
//! on drop and when the test process dies. These tests fail (never skip) when the binaries are missing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use pgtest::Cluster;

/// Environment variable that turns `watchdog_helper` into the child half of `the_watchdog_stops_the_server_...`.
const HELPER_ENV: &str = "PGTEST_WATCHDOG_HELPER";

/// `psql <url> -X -A -t -c <sql>` with the PATH's `psql`, cut off after `secs` seconds by `timeout` (exit 124).
fn psql_url(url: &str, sql: &str, secs: u32) -> Output {
    Command::new("timeout")
        .args([&secs.to_string(), "psql", url, "-X", "-A", "-t", "-w", "-c", sql])
        .stdin(Stdio::null())
        .output()
        .expect("running timeout psql")
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "psql failed: {:?} {}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Polls `check` every 20 ms for at most `secs` seconds.
fn eventually(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..secs * 50 {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("not within {secs} s: {what}");
}

/// Whether `pid` is gone or a zombie (exited, not yet reaped by whoever adopted it).
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// The cluster's directory: the postmaster's working directory is `<root>/data`.
fn cluster_root(pid: u32) -> PathBuf {
    let data = std::fs::read_link(format!("/proc/{pid}/cwd")).expect("reading the server's cwd");
    data.parent().expect("data dir has a parent").to_path_buf()
}

#[test]
fn a_cluster_serves_fresh_databases_by_url() {
    let cluster = Cluster::start().unwrap();
    let first = cluster.create_database("pgtest_first").unwrap();
    let second = cluster.fresh_database("pgtest").unwrap();
    assert_eq!(first, format!("postgres://postgres@127.0.0.1:{}/pgtest_first", cluster.port()));
    assert_ne!(first, second);

    assert_eq!(stdout(&psql_url(&first, "SELECT 1", 10)), "1");
    assert_eq!(stdout(&psql_url(&first, "SELECT current_database()", 10)), "pgtest_first");
    let second_name = second.rsplit('/').next().unwrap();
    assert!(second_name.starts_with(&format!("pgtest_{}_", std::process::id())), "{second}");
    assert_eq!(stdout(&psql_url(&second, "SELECT current_database()", 10)), second_name);

    // Databases are separate: a table in one is not in the other.
    assert_eq!(
        cluster.psql("pgtest_first", "CREATE TABLE t (x int); INSERT INTO t VALUES (7); SELECT x FROM t"),
        Ok("7".to_owned())
    );
    assert!(cluster.psql(second_name, "SELECT x FROM t").unwrap_err().contains("does not exist"));

    assert!(cluster.create_database("pgtest_first").unwrap_err().contains("already exists"));
    assert!(cluster.create_database("Bad-Name").is_err());
}

#[test]
fn a_paused_server_answers_no_one_until_resumed() {
    let cluster = Cluster::start().unwrap();
    let url = cluster.fresh_database("paused").unwrap();
    assert_eq!(stdout(&psql_url(&url, "SELECT 1", 10)), "1");

    cluster.pause();
    let hung = psql_url(&url, "SELECT 1", 2);
    assert_eq!(hung.status.code(), Some(124), "psql was not cut off by timeout: {hung:?}");

    cluster.resume();
    assert_eq!(stdout(&psql_url(&url, "SELECT 1", 10)), "1");
}

#[test]
fn terminate_backends_cuts_only_the_named_sessions() {
    let cluster = Cluster::start().unwrap();
    let url = cluster.fresh_database("cut").unwrap();
    assert_eq!(cluster.terminate_backends("nobody_uses_this"), Ok(0));
    assert_eq!(cluster.terminate_backends("o'brien'; DROP DATABASE postgres; --"), Ok(0));

    let victim = Command::new("psql")
        .arg(format!("{url}?application_name=victim"))
        .args(["-X", "-w", "-c", "SELECT pg_sleep(60)"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    eventually(10, "the victim's session shows in pg_stat_activity", || {
        cluster.psql("postgres", "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'victim'")
            == Ok("1".to_owned())
    });
    assert_eq!(cluster.terminate_backends("victim"), Ok(1));
    let out = victim.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("terminat"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(cluster.psql("postgres", "SELECT 1"), Ok("1".to_owned()));
}

#[test]
fn dropping_a_cluster_stops_its_processes_and_removes_its_files() {
    let cluster = Cluster::start().unwrap();
    let pid = cluster.pid();
    let root = cluster_root(pid);
    let url = cluster.fresh_database("dropped").unwrap();
    assert_eq!(stdout(&psql_url(&url, "SELECT 1", 10)), "1");
    let children = child_pids(pid);
    assert!(!children.is_empty(), "a running postmaster has auxiliary processes");
    // Paused servers stop too.
    cluster.pause();

    drop(cluster);

    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "postmaster {pid} still there");
    for child in children {
        assert!(exited(child), "server child {child} still running");
    }
    assert!(!root.exists(), "{} not removed", root.display());
}

#[test]
fn shared_is_one_running_cluster_per_process() {
    let cluster = pgtest::shared();
    assert_eq!(cluster.pid(), pgtest::shared().pid());
    let url = cluster.fresh_database("shared").unwrap();
    assert_eq!(stdout(&psql_url(&url, "SELECT 1", 10)), "1");
    // Never dropped: its watchdog stops it when this process exits (checked by the next test for a killed process).
}

/// With `PGTEST_WATCHDOG_HELPER` set: starts the shared cluster, prints its PID and port, then waits to be killed.
/// Without it: nothing (it is the child half of the next test).
#[test]
fn watchdog_helper() {
    if std::env::var_os(HELPER_ENV).is_none() {
        return;
    }
    let cluster = pgtest::shared();
    println!("cluster {} {}", cluster.pid(), cluster.port());
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn the_watchdog_stops_the_server_when_the_test_process_is_killed() {
    let mut helper = KillOnDrop(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "watchdog_helper", "--nocapture", "--test-threads=1"])
            .env(HELPER_ENV, "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The harness prints "test watchdog_helper ... " without a newline before the helper's own line.
    let mut lines = BufReader::new(helper.0.stdout.take().unwrap()).lines();
    let line = lines
        .find_map(|line| line.ok().and_then(|l| Some(l[l.find("cluster ")?..].to_owned())))
        .expect("helper printed no cluster");
    let mut fields = line.split_whitespace().skip(1);
    let pid: u32 = fields.next().unwrap().parse().unwrap();
    let port: u16 = fields.next().unwrap().parse().unwrap();
    let root = cluster_root(pid);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());

    helper.0.kill().unwrap(); // SIGKILL: no destructor, no exit handler runs in the helper.
    helper.0.wait().unwrap();

    eventually(15, "the orphaned server exits", || exited(pid));
    eventually(5, "the cluster directory is removed", || !root.exists());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "port {port} still accepts connections");
}

/// The helper process, killed (by its PID) if the test fails before it does so itself.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The children of `parent`, from `/proc/<pid>/stat` (field 4 is the parent PID).
fn child_pids(parent: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("listing /proc").filter_map(Result::ok) {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if ppid == Some(parent) {
            pids.push(pid);
        }
    }
    pids
}
