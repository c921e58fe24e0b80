//! `nightjar tui`: the terminal client. It talks JSON-RPC to the profile's
//! daemon; when none runs, it starts one in this process (so one-shot
//! commands use it while the TUI runs) and stops it on exit.

use anyhow::Context;
use nightjar_client::Profile;
use nightjar_rpc::RpcClient;

use crate::{Cli, bind_for, network_file, passphrase, profile_dir};

/// Runs the TUI until the user quits or the terminal goes.
pub async fn run(cli: &Cli) -> anyhow::Result<()> {
    let dir = profile_dir(cli)?;
    let socket = nightjar_rpc::socket_path(&dir);
    // A daemon already serves this profile: use it.
    if let Ok((client, notifications)) = RpcClient::connect(&socket).await {
        nightjar_tui::run(client, notifications).await?;
        return Ok(());
    }
    if !Profile::exists(&dir) {
        anyhow::bail!(
            "no account in profile {}; run `nightjar account create`",
            dir.display()
        );
    }
    let network = network_file(cli)?;
    let bind = bind_for(cli, &network);
    eprintln!("starting a daemon for this profile (connecting to the network)…");
    let started = nightjar_daemon::start(nightjar_daemon::DaemonOptions {
        profile_dir: dir.clone(),
        passphrase: passphrase(),
        network,
        bind,
    })
    .await;
    let running = match started {
        Ok(running) => running,
        Err(e) => {
            // Another daemon may have started in between: use it.
            if let Ok((client, notifications)) = RpcClient::connect(&socket).await {
                nightjar_tui::run(client, notifications).await?;
                return Ok(());
            }
            return Err(e).context("cannot start a daemon for the TUI");
        }
    };
    let outcome = match RpcClient::connect(running.socket()).await {
        Ok((client, notifications)) => nightjar_tui::run(client, notifications)
            .await
            .map_err(anyhow::Error::from),
        Err(e) => Err(anyhow::Error::from(e).context("cannot connect to the daemon just started")),
    };
    let stopped = running.shutdown().await;
    outcome?;
    stopped.context("stopping the TUI's daemon")?;
    Ok(())
}
