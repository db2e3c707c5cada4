//! SignalR JSON hub protocol client on tokio-tungstenite (rustls).
//!
//! Empty for now: the market-hub issue fills it (framing, handshake, invocations, keep-alive, reconnect).
//! It exists so the workspace layout and dependency direction (`signalr ← projectx ← pxrelay`) are fixed
//! from the first commit.
#![warn(missing_docs)]
