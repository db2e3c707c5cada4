//! SignalR JSON hub protocol client on tokio-tungstenite (rustls). Knows nothing of ProjectX.
//!
//! Why in-house: the published crates send no SignalR pings (so ASP.NET Core drops them after 30 s), do not
//! reconnect, ignore Close, and bring a second TLS stack (docs/decisions/0003-signalr-client.md).
//!
//! Layout:
//! - [`protocol`]: pure framing (0x1E records, handshake, message types); unit-tested.
//! - [`handler`]: [`InvocationHandler`], hot invocations handled on the connection's task in one pass.
//! - `connection`: one connection: upgrade with `access_token`, handshake timeout, writer task with keep-alive.
//! - [`client`]: [`HubClient`]: the supervisor (reconnect forever with jittered backoff, events in order,
//!   invocations with completions and timeouts, graceful stop).
//! - [`backoff`]: validated jittered exponential backoff (shared with the projectx crate).
//!
//! The rustls `ring` provider must be installed before the first `wss://` connect
//! (`rustls::crypto::ring::default_provider().install_default()`; projectx does it).
#![warn(missing_docs)]

pub mod backoff;
pub mod client;
mod connection;
pub mod handler;
pub mod protocol;

pub use backoff::Backoff;
pub use client::{
    AccessToken, BoxFuture, Disconnect, HubClient, HubConfig, HubEvent, HubStatus, InvokeError, TokenProvider,
};
pub use connection::ConnectError;
pub use handler::InvocationHandler;
