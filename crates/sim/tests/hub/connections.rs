//! Hub connections and the idle close: counted as TCP connections but not as REST ones, and exempt
//! from the idle close (their SignalR pings keep them open behind a real load balancer).

use crate::support::*;

#[tokio::test]
async fn hub_connections_are_not_rest_connections_and_idle_close_spares_them() {
    let sim = spawn_sim(SimConfig { idle_close: Some(Duration::from_millis(200)), ..SimConfig::default() }).await;
    let mut hub = HubClient::connect_to(&sim, HubKind::Market).await;
    // Five idle periods with nothing on the socket (server pings come every 15 s).
    assert_eq!(hub.next_within(Duration::from_millis(1000)).await, None, "nothing arrived, not even a close");
    let counters = sim.counters();
    assert_eq!((counters.tcp_connections, counters.rest_connections, counters.idle_closed), (1, 0, 0));
    assert_eq!(sim.hub_connections().len(), 1, "still open at the simulator");
    let answer = hub.invoke("1", "SubscribeContractQuotes", json!([MNQ])).await;
    assert_eq!(answer["type"], 3, "the connection still works: {answer}");
}
