//! The stop request every long-running Herald binary (`herald-server`, `herald-worker run`, the
//! local voice provider) waits for: Ctrl-C or SIGTERM, whichever comes first.
//!
//! What must stay true: if SIGTERM cannot be listened for, only Ctrl-C stops the process; a
//! failed registration never reads as a stop request.

/// Completes when the process is asked to stop.
pub async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
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
        () = ctrl_c => {},
        () = term => {},
    }
}
