//! The simulator's REST API driven over real HTTP with reqwest, the way the SDK will use it.
//! One test binary (`cargo test -p projectx-sim --test rest`), one module per API area.

mod auth;
mod brackets;
mod chaos;
mod connections;
mod market;
mod resting;
mod support;
mod trading;
