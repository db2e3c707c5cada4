//! The simulator's SignalR hubs driven by a raw tokio-tungstenite client, so every assertion is
//! about bytes on the wire. One test binary (`cargo test -p projectx-sim --test hub`).

mod accounts;
mod brackets;
mod chaos;
mod connections;
mod market;
mod protocol;
mod support;
mod user;
