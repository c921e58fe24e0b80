//! `nightjar daemon`: runs the profile's daemon in the foreground until
//! SIGINT or SIGTERM.

use anyhow::Context;
use nightjar_daemon::DaemonOptions;
use serde_json::json;

use crate::print_json;

/// Starts the daemon, prints its socket once it serves (the line scripts
/// and tests wait for), and stops it on SIGINT or SIGTERM.
pub async fn run(opts: DaemonOptions, json: bool) -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot install a SIGTERM handler")?;
    let running = nightjar_daemon::start(opts).await?;
    if json {
        print_json(&json!({
            "socket": running.socket().display().to_string(),
            "account_id": running.account_id(),
        }))?;
    } else {
        println!("{}", running.socket().display());
        eprintln!("daemon serving; stop it with Ctrl-C");
    }
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    running.shutdown().await?;
    Ok(())
}
