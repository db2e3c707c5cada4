//! The process stop signal: SIGTERM (Railway, Docker) or SIGINT (Ctrl-C).

/// Completes when SIGTERM or SIGINT arrives. If a handler cannot be installed, that signal is simply not awaited.
pub async fn signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received; stopping"),
        () = term => tracing::info!("SIGTERM received; stopping"),
    }
}
