//! `nightjar-node`: run a Nightjar service node.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use nightjar_node::NodeConfig;

/// Run a Nightjar service node. Settings come from `--config FILE` (TOML, see
/// docs/OPERATING.md); every flag given overrides the file.
#[derive(Debug, Parser)]
#[command(name = "nightjar-node", version)]
struct Args {
    /// TOML configuration file.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// UDP address for QUIC, e.g. 0.0.0.0:22020.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Data directory (database, default key file location).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Identity key file (default DATA_DIR/node.key; created if missing).
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Loopback address for /metrics and /health.
    #[arg(long)]
    admin: Option<SocketAddr>,
    /// Most messages one account may hold.
    #[arg(long)]
    max_messages_per_account: Option<u64>,
    /// Most bytes one account may hold.
    #[arg(long)]
    max_bytes_per_account: Option<u64>,
    /// Seconds between purges of expired messages.
    #[arg(long)]
    purge_interval_secs: Option<u64>,
    /// Log filter, e.g. `info` or `debug`.
    #[arg(long)]
    log: Option<String>,
    /// Registry file (devnet form); re-read whenever it changes.
    #[arg(long)]
    registry: Option<PathBuf>,
    /// Durable copies a store needs before it is acknowledged (default: a
    /// majority of the swarm).
    #[arg(long)]
    write_quorum: Option<usize>,
    /// Seconds between anti-entropy rounds.
    #[arg(long)]
    sync_interval_secs: Option<u64>,
    /// Most writes sharing one commit.
    #[arg(long)]
    max_batch: Option<usize>,
    /// Print the node ID (creating the key if needed) and exit.
    #[arg(long)]
    print_node_id: bool,
}

fn build_config(args: &Args) -> anyhow::Result<NodeConfig> {
    let mut config = match &args.config {
        Some(path) => NodeConfig::from_file(path)?,
        None => {
            let listen = args
                .listen
                .context("--listen is required without --config")?;
            let data_dir = args
                .data_dir
                .clone()
                .context("--data-dir is required without --config")?;
            NodeConfig::new(listen, data_dir)
        }
    };
    if let Some(v) = args.listen {
        config.listen = v;
    }
    if let Some(v) = &args.data_dir {
        config.data_dir = v.clone();
    }
    if let Some(v) = &args.key_file {
        config.key_file = Some(v.clone());
    }
    if let Some(v) = args.admin {
        config.admin = Some(v);
    }
    if let Some(v) = args.max_messages_per_account {
        config.max_messages_per_account = v;
    }
    if let Some(v) = args.max_bytes_per_account {
        config.max_bytes_per_account = v;
    }
    if let Some(v) = args.purge_interval_secs {
        config.purge_interval_secs = v;
    }
    if let Some(v) = &args.log {
        config.log = v.clone();
    }
    if let Some(v) = &args.registry {
        config.registry = Some(v.clone());
    }
    if let Some(v) = args.write_quorum {
        config.write_quorum = Some(v);
    }
    if let Some(v) = args.sync_interval_secs {
        config.sync_interval_secs = v;
    }
    if let Some(v) = args.max_batch {
        config.max_batch = v;
    }
    config.validate()?;
    Ok(config)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = build_config(&args)?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(log_filter(&config.log)))
        .context("invalid log filter")?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let passphrase = nightjar_keystore::passphrase_from_env();
    let identity = nightjar_keystore::load_or_create(&config.key_path(), passphrase.as_deref())?;
    if args.print_node_id {
        println!("{}", identity.public_key().to_hex());
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let node = nightjar_node::start(config, identity).await?;
        wait_for_signal().await?;
        tracing::info!("shutting down");
        node.shutdown().await;
        Ok(())
    })
}

/// The operator's filter, with the QUIC and TLS libraries capped at `error`
/// unless the filter names them: their warnings can carry peer addresses, and
/// a node must not log client addresses (docs/OPERATING.md).
fn log_filter(configured: &str) -> String {
    if ["quinn", "rustls"].iter().any(|c| configured.contains(c)) {
        configured.to_string()
    } else {
        format!("{configured},quinn=error,quinn_proto=error,quinn_udp=error,rustls=error")
    }
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
