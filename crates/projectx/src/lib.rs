//! ProjectX Gateway SDK: a typed REST client for every documented endpoint, the session token's lifecycle, and
//! client-side rate budgets. No axum, no config crate: it takes plain structs and runs in any tokio program.
//!
//! Layout:
//! - [`client`]: [`Client`] and [`ClientConfig`]; the one call path (token, 401 → refresh → replay once, read retries).
//! - [`auth`]: [`TokenManager`] (`ensure_valid_token`, single-flight refresh, background refresher, watch channel).
//! - [`token`]: [`Token`], its expiry and origin.
//! - [`api`]: one module per API area (accounts, contracts, history, orders, positions, trades) with wire models.
//! - [`endpoint`]: each endpoint's path, kind (read / mutation / auth), rate bucket and error-code names.
//! - [`ids`]: [`AccountId`], [`ContractId`], [`OrderId`]: the gateway's ids as types (serialised as the bare value).
//! - [`error`]: [`Error`], which tells transport, status, rejection, decode and ambiguous-mutation failures apart.
//! - [`market`]: [`MarketHub`] (quote subscriptions over the SignalR market hub, gap-free token rotation, stale
//!   watchdog) and [`QuoteBook`] (partial-update merge).
//! - [`book`]: [`book::AccountBook`], one account's orders, positions, trades and balance from a snapshot + events.
//! - [`user`]: [`UserHub`] (account, order, position and fill events over the SignalR user hub as an ordered,
//!   lossless stream of [`UserUpdate`]s with connection epochs; resubscribe, gap-free token rotation, `GatewayLogout`).
//! - [`contracts`]: [`ContractResolver`] (`MNQ`, `CME_MINI:MNQ1!`, `MNQZ5`, raw ids → the active contract).
//! - [`cache`]: [`cache::FlightCache`], the single-flight cache with per-entry expiry (contracts, bars, accounts).
//! - [`keepwarm`]: keeping the gateway connection open through quiet hours ([`Client::run_keep_warm`]).
//! - [`rate`]: sliding-window rate budgets. [`backoff`]: jittered exponential backoff. [`tls`]: rustls provider.
#![warn(missing_docs)]

pub mod api;
pub mod auth;
pub mod backoff;
pub mod book;
pub mod cache;
pub mod client;
pub mod contracts;
pub mod endpoint;
pub mod enums;
pub mod error;
mod http;
mod hub_tokens;
pub mod ids;
pub mod keepwarm;
pub mod market;
pub mod rate;
pub mod tls;
pub mod token;
pub mod user;

pub use api::accounts::Account;
pub use api::contracts::Contract;
pub use api::history::{Bar, BarsRequest};
pub use api::orders::{Bracket, ModifyOrder, Order, PlaceOrder};
pub use api::positions::Position;
pub use api::trades::Trade;
pub use auth::{Credentials, TokenManager, TokenSettings, TokenStatus};
pub use client::{Client, ClientConfig};
pub use contracts::{ContractResolver, ResolveError};
pub use enums::{BarUnit, OrderSide, OrderStatus, OrderType, PositionType};
pub use error::{AuthError, Error};
pub use http::RequestObserver;
pub use ids::{AccountId, ContractId, OrderId};
pub use keepwarm::{DEFAULT_KEEP_WARM, KeepWarmStats};
pub use market::{MarketConfig, MarketHub, MarketStatus, Quote, QuoteBook, SubscribeError};
pub use rate::{Priority, RateLimit};
pub use token::{Token, TokenSource};
pub use user::{UserConfig, UserEvent, UserHub, UserStatus, UserUpdate, WatchError};
