//! `nightjar-node`: run a Nightjar service node, or (with a subcommand)
//! prepare one: `keygen` makes its identity key, `check-config` checks a
//! configuration without starting anything.

#[path = "../error_chain.rs"]
mod error_chain;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use nightjar_node::NodeConfig;

/// Run a Nightjar service node. Settings come from `--config FILE` (TOML, see
/// docs/OPERATING.md); every flag given overrides the file, and a flag given
/// twice takes its last value.
#[derive(Debug, Parser)]
#[command(
    name = "nightjar-node",
    version,
    args_conflicts_with_subcommands = true,
    args_override_self = true
)]
struct Args {
    /// Prepare a node instead of running one.
    #[command(subcommand)]
    command: Option<Command>,
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
    /// Once serving, write the addresses the node bound (QUIC and admin)
    /// and its pid to this file, replaced atomically: how a launcher that
    /// starts the node on port 0 learns its ports.
    #[arg(long)]
    ports_file: Option<PathBuf>,
}

/// Operator commands; without one, the node runs.
#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new identity key file (mode 0600) and print the node ID.
    /// Refuses to overwrite an existing file. If NIGHTJAR_PASSPHRASE is set,
    /// the key is encrypted with it.
    Keygen {
        /// Where to write the key file.
        #[arg(long)]
        key_file: PathBuf,
        /// Print `{"node_id": "…"}` instead of the bare ID.
        #[arg(long)]
        json: bool,
    },
    /// Check a configuration file, the registry it names, the key file
    /// (opened with NIGHTJAR_PASSPHRASE if set) and the data directory,
    /// without starting the node. Exits 0 if all is well, 1 otherwise.
    CheckConfig {
        /// TOML configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
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
    match &args.command {
        Some(Command::Keygen { key_file, json }) => finish(keygen(key_file, *json)),
        Some(Command::CheckConfig { config }) => finish(check_config(config)),
        None => {}
    }
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
        if let Some(path) = &args.ports_file {
            nightjar_launch::PortsFile::of_this_process(node.listen, node.admin)
                .write(path)
                .context("cannot write the ports file")?;
        }
        wait_for_signal().await?;
        tracing::info!("shutting down");
        node.shutdown().await;
        Ok(())
    })
}

/// End an operator command: exit 0, or print the error and its causes on one
/// line (no backtrace) and exit 1.
fn finish(result: anyhow::Result<()>) -> ! {
    match result {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("error: {}", error_chain::describe(&e));
            std::process::exit(1)
        }
    }
}

/// `nightjar-node keygen`: a fresh identity in a new key file.
fn keygen(key_file: &Path, json: bool) -> anyhow::Result<()> {
    if key_file.exists() {
        anyhow::bail!(
            "a key file already exists at {}; refusing to overwrite a node identity",
            key_file.display()
        );
    }
    let identity =
        nightjar_crypto::identity::Identity::generate().context("cannot generate a key")?;
    let passphrase = nightjar_keystore::passphrase_from_env();
    nightjar_keystore::create(key_file, identity.seed(), passphrase.as_deref())?;
    let node_id = identity.public_key().to_hex();
    if json {
        println!("{}", serde_json::json!({ "node_id": node_id }));
    } else {
        println!("{node_id}");
    }
    Ok(())
}

/// `nightjar-node check-config`: everything a start would need, checked
/// without starting. Prints one line per check; the first failure is the
/// error.
fn check_config(path: &Path) -> anyhow::Result<()> {
    let config = NodeConfig::from_file(path)?;
    config.validate()?;
    println!(
        "ok: config {} parses and its values are in range",
        path.display()
    );
    println!(
        "ok: listen {} (QUIC over UDP, for clients and nodes)",
        config.listen
    );
    match config.admin {
        Some(admin) => println!("ok: admin {admin} is loopback (/metrics, /health)"),
        None => println!("ok: admin endpoint disabled"),
    }
    let key_path = config.key_path();
    let passphrase = nightjar_keystore::passphrase_from_env();
    let identity = match nightjar_keystore::load(&key_path, passphrase.as_deref()) {
        Ok(identity) => identity,
        Err(nightjar_keystore::KeystoreError::Missing(p)) => anyhow::bail!(
            "no key file at {}; create one with `nightjar-node keygen --key-file {}`",
            p.display(),
            p.display()
        ),
        Err(e) => {
            return Err(anyhow::Error::new(e).context(
                "cannot open the key file (is NIGHTJAR_PASSPHRASE set to the right passphrase?)",
            ));
        }
    };
    let node_id = identity.public_key().to_hex();
    println!(
        "ok: key file {} opens; node ID {node_id}",
        key_path.display()
    );
    check_data_dir(&config.data_dir)?;
    match &config.registry {
        Some(registry) => {
            let parsed = nightjar_registry::Registry::load(registry)
                .with_context(|| format!("registry {}", registry.display()))?;
            let map = parsed
                .swarm_map()
                .with_context(|| format!("registry {}", registry.display()))?;
            let listed = map.nodes().iter().any(|n| n.id.0 == identity.public_key());
            println!(
                "ok: registry {} parses: {} events, {} nodes in {} swarms; this node is {}",
                registry.display(),
                map.height(),
                map.node_count(),
                map.swarm_count(),
                if listed {
                    "listed"
                } else {
                    "not listed (it will answer wrong_swarm until it joins)"
                }
            );
        }
        None => println!("ok: no registry; the node will serve every account alone"),
    }
    println!("config OK (the node was not started)");
    Ok(())
}

/// The data directory exists and is writable, or could be created.
fn check_data_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        anyhow::ensure!(
            dir.is_dir(),
            "data_dir {} exists and is not a directory",
            dir.display()
        );
        probe_writable(dir)
            .with_context(|| format!("data_dir {} is not writable", dir.display()))?;
        println!("ok: data_dir {} exists and is writable", dir.display());
        return Ok(());
    }
    let mut ancestor = dir.parent();
    while let Some(a) = ancestor {
        let a = if a.as_os_str().is_empty() {
            Path::new(".")
        } else {
            a
        };
        if a.exists() {
            anyhow::ensure!(
                a.is_dir(),
                "data_dir {} cannot be created: {} is not a directory",
                dir.display(),
                a.display()
            );
            probe_writable(a).with_context(|| {
                format!(
                    "data_dir {} cannot be created: {} is not writable",
                    dir.display(),
                    a.display()
                )
            })?;
            println!(
                "ok: data_dir {} does not exist yet and can be created",
                dir.display()
            );
            return Ok(());
        }
        ancestor = a.parent();
    }
    anyhow::bail!("data_dir {} cannot be created", dir.display())
}

/// Create and remove a file in `dir`.
fn probe_writable(dir: &Path) -> anyhow::Result<()> {
    let probe = tempfile::Builder::new()
        .prefix(".nightjar-check-")
        .tempfile_in(dir)?;
    probe.close()?;
    Ok(())
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
