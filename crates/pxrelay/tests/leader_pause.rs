//! Issue 14: a leader whose database server is paused (SIGSTOP of the PostgreSQL processes, a stand-in for a network
//! partition) sends nothing more and stops; once the server is back, the standby leads and executes. Its own test
//! binary: pausing the server of this test process must not stall the other multi-process tests.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

mod support;

use std::time::Duration;

use support::{Instance, database, placed, sim};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_whose_database_is_paused_sends_nothing_more_and_stops_and_the_standby_leads_once_it_is_back() {
    let (sim, db, http) = (sim().await, database("pause"), reqwest::Client::new());
    let mut a = Instance::start(&sim, &db);
    a.wait_role(&http, "leader", Duration::from_secs(30)).await;
    let b = Instance::start(&sim, &db);
    b.wait_role_only(&http, "standby", Duration::from_secs(10)).await;
    let (code, answer, _) = a.alert(&http, "pause-0").await.unwrap();
    assert_eq!((code, answer["status"].as_str()), (200, Some("placed")));
    let server = pgtest::shared();
    server.pause();
    // The leader's ping of its lock session times out (1.5 s): it stops sending at once and exits with an error.
    let exit = tokio::task::block_in_place(|| a.wait_exit(Duration::from_secs(15)));
    assert!(!exit.success(), "a leader that lost its database stops with an error");
    assert!(a.logged("lost the database session"), "and says why");
    assert_eq!(placed(&sim), ["pause-0"], "nothing was sent while the database was away");
    server.resume();
    let (status, _) = b.wait_role(&http, "leader", Duration::from_secs(30)).await;
    assert_eq!(status["epoch"], 2);
    let (code, answer, _) = b.alert(&http, "pause-1").await.unwrap();
    assert_eq!((code, answer["status"].as_str()), (200, Some("placed")), "{answer}");
    assert_eq!(placed(&sim), ["pause-0", "pause-1"]);
}
