//! `nightjar`: the user's command. Accounts, sending and receiving, a local
//! devnet of real `nightjar-node` processes, and a self-contained demo.
//!
//! Every command that prints data has `--json`; the command names and JSON
//! keys are a scripting contract documented in `docs/CLI.md`.

mod contact_cmd;
mod daemon_cmd;
mod demo;
mod device_cmd;
mod devnet;
mod error_chain;
mod operator;
mod registry_cmd;
mod tui_cmd;
mod via_daemon;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use nightjar_client::{Client, Profile};
use nightjar_crypto::identity::{AccountId, Identity};
use nightjar_registry::NetworkFile;
use serde_json::json;

/// Nightjar: private messaging without phone numbers.
#[derive(Debug, Parser)]
#[command(name = "nightjar", version)]
struct Cli {
    /// Profile directory (account key and local history).
    #[arg(long, global = true, env = "NIGHTJAR_PROFILE")]
    profile: Option<PathBuf>,
    /// Network file naming the seed nodes (a devnet writes DIR/network.toml).
    #[arg(long, global = true, env = "NIGHTJAR_NETWORK")]
    network: Option<PathBuf>,
    /// Local IP address the client sends from (e.g. 127.0.0.77 on a devnet);
    /// default: any address of the seeds' family.
    #[arg(long, global = true, env = "NIGHTJAR_BIND")]
    bind: Option<std::net::IpAddr>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, restore or show this profile's account.
    Account {
        #[command(subcommand)]
        action: AccountCmd,
    },
    /// Send an end-to-end-encrypted message.
    Send {
        /// The recipient: an Account ID (nj1…) or a contact's name.
        account_id: String,
        /// The message text, or `-` to read it from standard input (one
        /// trailing newline is dropped).
        text: String,
        /// How long the network keeps the message, in seconds (10 s to 14 days).
        #[arg(long, default_value_t = 14 * 24 * 3600)]
        ttl: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show messages not shown before.
    Inbox {
        /// Wait up to this many seconds for a message if none is there.
        #[arg(long)]
        wait: Option<u64>,
        /// Print one JSON object per message, one per line.
        #[arg(long)]
        json: bool,
    },
    /// Wait for messages and print each as it arrives, until interrupted.
    Watch {
        /// Print one JSON object per message, one per line (the keys of `inbox --json`).
        #[arg(long)]
        json: bool,
    },
    /// Show this client's guards and onion paths.
    Paths {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the swarm that holds an account's messages.
    Swarm {
        /// The Account ID (nj1…).
        account_id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the node registry as this client sees it (every registered
    /// node, its contact, stake and state, and the chain block it reflects).
    Registry {
        /// Also read the registry contract through this JSON-RPC endpoint
        /// (repeatable) and say whether it agrees.
        #[arg(long)]
        rpc: Vec<String>,
        /// With --rpc: how many blocks behind the chain's head to read.
        #[arg(long, default_value_t = nightjar_chain::follower::DEFAULT_CONFIRMATIONS)]
        confirmations: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Names for Account IDs: add, list, remove.
    Contact {
        #[command(subcommand)]
        action: contact_cmd::ContactCmd,
    },
    /// This account's devices: list them, remove one.
    Device {
        #[command(subcommand)]
        action: device_cmd::DeviceCmd,
    },
    /// Set a conversation's disappearing-message timer (carried in every
    /// message, enforced by every device of both sides).
    Timer {
        /// The other party: an Account ID (nj1…) or a contact's name.
        account_id: String,
        /// How long messages live (30s, 10m, 1h, 7d; 10 s to 14 days), or `off`.
        duration: String,
        /// When the time starts: when a message is sent, or when it is first shown.
        #[arg(long, value_enum, default_value = "send")]
        after: device_cmd::After,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run this profile's daemon in the foreground (until Ctrl-C or
    /// SIGTERM): it keeps paths warm and serves JSON-RPC on PROFILE/daemon.sock;
    /// send, inbox, watch, contact, device list/remove and timer then go
    /// through it.
    Daemon {
        /// Print `{"socket", "account_id"}` once serving.
        #[arg(long)]
        json: bool,
    },
    /// Run a local network of real nightjar-node processes.
    Devnet {
        #[command(subcommand)]
        action: devnet::DevnetCmd,
    },
    /// Start a throwaway network, create two accounts, exchange messages both ways.
    Demo,
    /// The terminal client: conversations, chats, contacts (uses the
    /// profile's daemon, or runs one while it is open).
    Tui,
    /// Stake a node on chain: register it, update its contact, request its exit, withdraw; deploy a test registry.
    Operator {
        #[command(subcommand)]
        action: Box<operator::OperatorCmd>,
    },
}

#[derive(Debug, Subcommand)]
enum AccountCmd {
    /// Make a new account (a fresh key pair and its 24-word recovery phrase).
    Create {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Restore an account from its recovery phrase, read from standard input.
    Restore {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show this profile's Account ID.
    Show {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("NIGHTJAR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run(cli)) {
        eprintln!("error: {}", error_chain::describe(&e));
        std::process::exit(1);
    }
}

/// The default profile directory: `$XDG_DATA_HOME/nightjar/default` or
/// `~/.local/share/nightjar/default`.
fn default_profile() -> anyhow::Result<PathBuf> {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("nightjar/default"));
    }
    let home = std::env::var_os("HOME").context("set --profile (or NIGHTJAR_PROFILE): no HOME")?;
    Ok(PathBuf::from(home).join(".local/share/nightjar/default"))
}

fn profile_dir(cli: &Cli) -> anyhow::Result<PathBuf> {
    match &cli.profile {
        Some(p) => Ok(p.clone()),
        None => default_profile(),
    }
}

fn network_file(cli: &Cli) -> anyhow::Result<NetworkFile> {
    let path = cli
        .network
        .as_ref()
        .context("no network file: pass --network FILE or set NIGHTJAR_NETWORK (a devnet writes DIR/network.toml)")?;
    Ok(NetworkFile::load(path)?)
}

/// Opens the profile for a command that runs alone, holding its lock
/// (refused while a daemon serves it).
fn open_profile(cli: &Cli) -> anyhow::Result<(Profile, Option<nightjar_daemon::ProfileLock>)> {
    let dir = profile_dir(cli)?;
    let lock = via_daemon::lock_profile(&dir)?;
    Ok((Profile::open(&dir, passphrase().as_deref())?, lock))
}

fn passphrase() -> Option<Vec<u8>> {
    nightjar_keystore::passphrase_from_env()
}

fn warn_if_no_passphrase() {
    if passphrase().is_none() {
        eprintln!(
            "note: the account key is stored without a passphrase, protected only by file permissions; \
             set {} to encrypt it with one",
            nightjar_keystore::PASSPHRASE_ENV
        );
    }
}

/// The local address to send from: `--bind`, or any address of the right
/// family for the network's nodes.
fn bind_for(cli: &Cli, network: &NetworkFile) -> SocketAddr {
    if let Some(ip) = cli.bind {
        return SocketAddr::new(ip, 0);
    }
    match network.seeds.first().map(|s| s.addr) {
        Some(SocketAddr::V6(_)) => SocketAddr::from(([0u16; 8], 0)),
        _ => SocketAddr::from(([0, 0, 0, 0], 0)),
    }
}

/// The text of `send`: the argument, or standard input for `-` (without
/// one trailing newline, which `echo` and here-documents add).
fn message_text(arg: &str) -> anyhow::Result<String> {
    if arg != "-" {
        return Ok(arg.to_owned());
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read the message text from standard input (it must be UTF-8)")?;
    Ok(strip_one_newline(text))
}

fn strip_one_newline(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{value}")?;
    out.flush()?;
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Account { action } => account(&cli, action),
        Command::Send {
            account_id,
            text,
            ttl,
            json,
        } => {
            let text = message_text(text)?;
            if let Some((rpc, _)) = via_daemon::connect(&profile_dir(&cli)?).await {
                return via_daemon::send(&rpc, account_id, text, *ttl, *json).await;
            }
            let (profile, _lock) = open_profile(&cli)?;
            let to: AccountId = profile.resolve_peer(account_id)?;
            let network = network_file(&cli)?;
            let mut client = Client::connect(profile, &network, bind_for(&cli, &network)).await?;
            let sent = client.send(&to, &text, Duration::from_secs(*ttl)).await;
            client.close().await;
            let sent = sent?;
            if let Some(why) = &sent.fallback {
                eprintln!("note: {why}");
            }
            if *json {
                print_json(&json!({
                    "message_id": sent.message_id,
                    "version": sent.version,
                    "fallback": sent.fallback,
                    "expires_at": sent.expires_at_ms,
                }))
            } else {
                println!("sent {}", sent.message_id);
                Ok(())
            }
        }
        Command::Inbox { wait, json } => {
            let dir = profile_dir(&cli)?;
            if let Some((rpc, notes)) = via_daemon::connect(&dir).await {
                return via_daemon::inbox(&rpc, notes, *wait, *json).await;
            }
            let network = network_file(&cli)?;
            let (profile, _lock) = open_profile(&cli)?;
            let mut client = Client::connect(profile, &network, bind_for(&cli, &network)).await?;
            let result = client.inbox(wait.map(Duration::from_secs)).await;
            let shown = match result {
                Ok(messages) => show_messages(&mut client, &messages, *json),
                Err(e) => Err(e.into()),
            };
            client.close().await;
            if !*json && shown? == 0 {
                eprintln!("no new messages");
            }
            Ok(())
        }
        Command::Watch { json } => {
            let dir = profile_dir(&cli)?;
            if let Some((rpc, notes)) = via_daemon::connect(&dir).await {
                return via_daemon::watch(&rpc, notes, *json).await;
            }
            let network = network_file(&cli)?;
            let (profile, _lock) = open_profile(&cli)?;
            let mut client = Client::connect(profile, &network, bind_for(&cli, &network)).await?;
            let outcome = watch(&mut client, *json).await;
            client.close().await;
            outcome
        }
        Command::Paths { json } => {
            let network = network_file(&cli)?;
            let (profile, _lock) = open_profile(&cli)?;
            let mut client = Client::connect(profile, &network, bind_for(&cli, &network)).await?;
            let warmed = client.warm_paths().await;
            let (guards, paths) = client.paths();
            client.close().await;
            warmed?;
            if *json {
                let guards: Vec<String> = guards.iter().map(ToString::to_string).collect();
                let paths: Vec<Vec<String>> = paths
                    .iter()
                    .map(|p| p.hops.iter().map(|n| n.id.to_string()).collect())
                    .collect();
                print_json(&json!({ "guards": guards, "paths": paths }))
            } else {
                for g in &guards {
                    println!("guard {g}");
                }
                for p in &paths {
                    let hops: Vec<String> = p.hops.iter().map(|n| n.id.to_string()).collect();
                    println!("path  {}", hops.join(" -> "));
                }
                Ok(())
            }
        }
        Command::Swarm { account_id, json } => {
            let account = nightjar_client::contacts::parse_account_id(account_id)?;
            let network = network_file(&cli)?;
            let map = if network.registry.is_some() {
                // A devnet's registry file: read it, send nothing.
                nightjar_client::swarm_map(&network)?
            } else {
                // Otherwise (a chain network) the client's snapshot.
                let (profile, _lock) = open_profile(&cli)?;
                let client = Client::connect(profile, &network, bind_for(&cli, &network)).await?;
                let map = client.registry().0.swarm_map()?;
                client.close().await;
                map
            };
            let swarm = map
                .swarm_for_account(account.public_key())
                .context("the registry lists no nodes")?;
            let members = map.members(swarm).unwrap_or_default();
            if *json {
                let nodes: Vec<_> = members
                    .iter()
                    .map(|n| json!({ "node_id": n.id.to_string(), "addr": n.addr.to_string() }))
                    .collect();
                print_json(&json!({ "swarm_id": swarm.to_string(), "nodes": nodes }))
            } else {
                println!("swarm {swarm} ({} nodes)", members.len());
                for n in &members {
                    println!("  {}  {}", n.id, n.addr);
                }
                Ok(())
            }
        }
        Command::Registry {
            rpc,
            confirmations,
            json,
        } => {
            let network = network_file(&cli)?;
            let (profile, _lock) = open_profile(&cli)?;
            let client = Client::connect(profile, &network, bind_for(&cli, &network)).await?;
            let (registry, fresh) = client.registry();
            let (registry, fresh) = (registry.clone(), fresh);
            client.close().await;
            registry_cmd::show(&registry, fresh, rpc, *confirmations, *json).await
        }
        Command::Device {
            action: action @ device_cmd::DeviceCmd::Join { .. },
        } => {
            let network = network_file(&cli)?;
            let dir = profile_dir(&cli)?;
            device_cmd::join(
                &dir,
                &network,
                bind_for(&cli, &network),
                passphrase().as_deref(),
                action,
            )
            .await
        }
        Command::Device { action } => {
            if let Some((rpc, _)) = via_daemon::connect(&profile_dir(&cli)?).await {
                match action {
                    device_cmd::DeviceCmd::List { json } => {
                        return via_daemon::device_list(&rpc, *json).await;
                    }
                    device_cmd::DeviceCmd::Remove { device_id } => {
                        return via_daemon::device_remove(&rpc, device_id).await;
                    }
                    _ => {}
                }
            }
            let network = network_file(&cli)?;
            let (profile, _lock) = open_profile(&cli)?;
            let mut client = Client::connect(profile, &network, bind_for(&cli, &network)).await?;
            let outcome = device_cmd::run(&mut client, action).await;
            client.close().await;
            outcome
        }
        Command::Timer {
            account_id,
            duration,
            after,
            json,
        } => {
            let timer = device_cmd::timer_from(duration, *after)?;
            if let Some((rpc, _)) = via_daemon::connect(&profile_dir(&cli)?).await {
                return via_daemon::timer(&rpc, account_id, timer, *json).await;
            }
            let (mut profile, _lock) = open_profile(&cli)?;
            let account = profile.resolve_peer(account_id)?;
            profile.set_timer(account.public_key(), timer)?;
            if *json {
                print_json(&json!({
                    "account_id": account.to_string(),
                    "timer_ms": timer.map(|t| t.after_ms),
                    "after": timer.map(|t| match t.mode {
                        nightjar_client::messaging::TimerMode::Send => "send",
                        nightjar_client::messaging::TimerMode::Read => "read",
                    }),
                }))
            } else {
                match timer {
                    None => println!("disappearing messages off for {account}"),
                    Some(t) => println!(
                        "messages to and from {account} disappear {} s after they are {}",
                        t.after_ms / 1000,
                        match t.mode {
                            nightjar_client::messaging::TimerMode::Send => "sent",
                            nightjar_client::messaging::TimerMode::Read => "read",
                        }
                    ),
                }
                Ok(())
            }
        }
        Command::Contact { action } => {
            if let Some((rpc, _)) = via_daemon::connect(&profile_dir(&cli)?).await {
                return via_daemon::contact(&rpc, action).await;
            }
            let (mut profile, _lock) = open_profile(&cli)?;
            contact_cmd::run(&mut profile, action)
        }
        Command::Daemon { json } => {
            let network = network_file(&cli)?;
            let bind = bind_for(&cli, &network);
            let opts = nightjar_daemon::DaemonOptions {
                profile_dir: profile_dir(&cli)?,
                passphrase: passphrase(),
                network,
                bind,
            };
            daemon_cmd::run(opts, *json).await
        }
        Command::Devnet { action } => devnet::run(action).await,
        Command::Demo => demo::run().await,
        Command::Tui => tui_cmd::run(&cli).await,
        Command::Operator { action } => operator::run(action).await,
    }
}

/// Print messages (JSON lines or text), then mark them shown: only once
/// printed, so a crash in between shows them again rather than losing them.
fn show_messages(
    client: &mut Client,
    messages: &[nightjar_client::HistoryRecord],
    json: bool,
) -> anyhow::Result<usize> {
    // Timers that run from reading start as the messages are shown.
    let now = client.now_ms();
    let me = client.profile().account_id().to_string();
    {
        let mut out = std::io::stdout().lock();
        for m in messages {
            if json {
                writeln!(out, "{}", inbox_json(m, &me, now))?;
            } else {
                let who = match m.direction {
                    nightjar_client::Direction::In => m.peer.clone(),
                    nightjar_client::Direction::Out => {
                        format!("you (another device) to {}", m.peer)
                    }
                };
                writeln!(out, "[{}] {who}: {}", format_time(m.sent_at_ms), m.text)?;
            }
        }
        out.flush()?;
    }
    let ids: Vec<String> = messages.iter().map(|m| m.message_id.clone()).collect();
    client.profile_mut().mark_shown(&ids)?;
    client.profile_mut().start_read_timers(&ids, now)?;
    Ok(messages.len())
}

/// One message as `inbox --json` and `watch --json` print it.
/// `now_ms` is when it is shown: a timer that runs from reading starts then.
fn inbox_json(m: &nightjar_client::HistoryRecord, me: &str, now_ms: u64) -> serde_json::Value {
    let mut v = json!({
        "message_id": m.message_id,
        "from": m.peer,
        "text": m.text,
        "sent_at": m.sent_at_ms,
        "version": m.version,
    });
    if m.direction == nightjar_client::Direction::Out {
        // Sent by another device of this account: `to` names the recipient.
        v["direction"] = json!("out");
        v["from"] = json!(me);
        v["to"] = json!(m.peer);
    }
    if let Some(t) = &m.timer {
        v["expires_at"] = match (m.expires_at_ms, t.mode) {
            (Some(at), _) => json!(at),
            (None, nightjar_client::messaging::TimerMode::Read) => {
                json!(now_ms.saturating_add(t.after_ms))
            }
            (None, nightjar_client::messaging::TimerMode::Send) => json!(null),
        };
    }
    v
}

/// Hold a waiting retrieve open through the onion path, print what arrives,
/// and wait again; stop on Ctrl-C or SIGTERM. Failures are retried with a
/// growing pause (the client rebuilds its paths as needed).
async fn watch(client: &mut Client, json: bool) -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot install a SIGTERM handler")?;
    let mut pause = Duration::from_millis(200);
    loop {
        let round = tokio::select! {
            r = client.inbox(Some(Duration::from_secs(u64::from(nightjar_wire::MAX_WAIT_MS / 1000)))) => r,
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
        };
        match round {
            Ok(messages) => {
                show_messages(client, &messages, json)?;
                pause = Duration::from_millis(200);
            }
            Err(e) => {
                eprintln!("watch: {e}; retrying in {} ms", pause.as_millis());
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = tokio::signal::ctrl_c() => return Ok(()),
                    _ = terminate.recv() => return Ok(()),
                }
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}

fn account(cli: &Cli, action: &AccountCmd) -> anyhow::Result<()> {
    let dir = profile_dir(cli)?;
    match action {
        AccountCmd::Create { json } => {
            let identity = Identity::generate()?;
            let mnemonic = identity.mnemonic();
            let profile = Profile::create(&dir, identity, passphrase().as_deref())?;
            warn_if_no_passphrase();
            eprintln!(
                "note: this profile is a new device of the account: it receives messages sent from now on, \
                 not those sent before (forward secrecy); to bring the history, link it from a device \
                 that has it (nightjar device link / nightjar device join) instead"
            );
            let id = profile.account_id().to_string();
            if *json {
                print_json(&json!({ "account_id": id, "mnemonic": mnemonic.as_str() }))
            } else {
                println!("account id: {id}");
                println!(
                    "recovery phrase (write it down; it is not stored): {}",
                    mnemonic.as_str()
                );
                Ok(())
            }
        }
        AccountCmd::Restore { json } => {
            // The phrase is a secret: Zeroizing wipes our copy when it goes out of scope.
            let mut phrase = zeroize::Zeroizing::new(String::new());
            std::io::stdin()
                .take(4096)
                .read_to_string(&mut phrase)
                .context("cannot read the recovery phrase from standard input")?;
            let identity = Identity::from_mnemonic(phrase.trim())
                .context("the recovery phrase is not valid")?;
            let profile = Profile::create(&dir, identity, passphrase().as_deref())?;
            warn_if_no_passphrase();
            eprintln!(
                "note: this profile is a new device of the account: it receives messages sent from now on, \
                 not those sent before (forward secrecy); to bring the history, link it from a device \
                 that has it (nightjar device link / nightjar device join) instead"
            );
            let id = profile.account_id().to_string();
            if *json {
                print_json(&json!({ "account_id": id }))
            } else {
                println!("account id: {id}");
                Ok(())
            }
        }
        AccountCmd::Show { json } => {
            if !Profile::exists(&dir) {
                bail!(
                    "no account in profile {}; run `nightjar account create`",
                    dir.display()
                );
            }
            let _lock = via_daemon::lock_profile(&dir)?;
            let profile = Profile::open(&dir, passphrase().as_deref())?;
            let id = profile.account_id().to_string();
            if *json {
                print_json(&json!({ "account_id": id }))
            } else {
                println!("{id}");
                Ok(())
            }
        }
    }
}

/// `HH:MM:SS.mmm` UTC of a Unix-millisecond time.
fn format_time(ms: u64) -> String {
    let secs = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::strip_one_newline;

    #[test]
    fn text_from_standard_input_loses_exactly_one_trailing_newline() {
        assert_eq!(strip_one_newline("hi\n".into()), "hi");
        assert_eq!(strip_one_newline("hi\r\n".into()), "hi");
        assert_eq!(strip_one_newline("two\nlines\n\n".into()), "two\nlines\n");
        assert_eq!(strip_one_newline("no newline".into()), "no newline");
    }
}
