//! `pxrelay` binary: parse the command line and run it. Everything else lives in the library.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    pxrelay::cli::Cli::parse().run().await
}
