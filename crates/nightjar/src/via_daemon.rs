//! One-shot commands through a running daemon: when the profile's socket
//! accepts a connection, `send`, `inbox`, `watch`, `contact`, `device list`,
//! `device remove` and `timer` ask the daemon and print what they print
//! without it; otherwise they run alone, holding the profile lock
//! ([`lock_profile`]) so that a daemon and a command never write one
//! profile at once.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use nightjar_daemon::{LockHolder, ProfileLock};
use nightjar_rpc::methods::{self as m, Direction, Message};
use nightjar_rpc::{Notification, RpcClient, RpcError};
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::{format_time, print_json};

/// The daemon's notifications on one connection (see [`RpcClient::connect`]).
pub type Notes = UnboundedReceiver<Notification>;

/// A connection to the profile's daemon, if one is serving, with the
/// receiver of its notifications (`inbox --wait` and `watch` listen on it;
/// the other commands drop it).
pub async fn connect(profile_dir: &Path) -> Option<(RpcClient, Notes)> {
    let socket = nightjar_rpc::socket_path(profile_dir);
    if !socket.exists() {
        return None;
    }
    match RpcClient::connect(&socket).await {
        Ok(connected) => Some(connected),
        Err(e) => {
            tracing::debug!(error = %e, "no daemon answers on the socket; running alone");
            None
        }
    }
}

/// Takes the profile lock for a command that opens the profile itself:
/// fails, saying so, while a daemon (or another command) has it. No lock is
/// taken where there is no profile yet (opening it then says so).
pub fn lock_profile(profile_dir: &Path) -> anyhow::Result<Option<ProfileLock>> {
    if !nightjar_client::Profile::exists(profile_dir) {
        return Ok(None);
    }
    match ProfileLock::acquire(profile_dir, LockHolder::Command) {
        Ok(lock) => Ok(Some(lock)),
        Err(e @ nightjar_daemon::DaemonError::AlreadyRunning { .. }) => Err(anyhow::anyhow!(
            "{e}; this command cannot run while it does (stop the daemon first; send, inbox, \
             watch, contact, device list/remove and timer go through it)"
        )),
        Err(e) => Err(e.into()),
    }
}

/// `send` through the daemon.
pub async fn send(
    rpc: &RpcClient,
    to: &str,
    text: String,
    ttl: u64,
    json: bool,
) -> anyhow::Result<()> {
    let sent: m::SendResult = rpc
        .call(
            m::SEND,
            m::SendParams {
                to: to.trim().to_owned(),
                text,
                ttl: Some(ttl),
            },
        )
        .await
        .map_err(remote)?;
    if let Some(why) = &sent.fallback {
        eprintln!("note: {why}");
    }
    if json {
        print_json(&json!({
            "message_id": sent.message_id,
            "version": sent.version,
            "fallback": sent.fallback,
            "expires_at": sent.expires_at,
        }))
    } else {
        println!("sent {}", sent.message_id);
        Ok(())
    }
}

/// `inbox [--wait S]` through the daemon: the messages not shown before;
/// with `--wait` and none there, waits for one to arrive (a notification on
/// `notes`, the receiver of `rpc`'s connection).
pub async fn inbox(
    rpc: &RpcClient,
    mut notes: Notes,
    wait: Option<u64>,
    json: bool,
) -> anyhow::Result<()> {
    let mut shown = 0;
    if let Some(wait) = wait {
        // Subscribe first, so nothing arrives unseen between the two calls.
        let _: m::SubscribeResult = rpc
            .call(m::SUBSCRIBE, m::NoParams {})
            .await
            .map_err(remote)?;
        shown += show(rpc, json).await?;
        if shown == 0 {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
            while shown == 0 {
                match tokio::time::timeout_at(deadline, notes.recv()).await {
                    Ok(Some(_)) => shown += show(rpc, json).await?,
                    Ok(None) => anyhow::bail!("the daemon closed the connection"),
                    Err(_) => break,
                }
            }
        }
    } else {
        shown += show(rpc, json).await?;
    }
    if !json && shown == 0 {
        eprintln!("no new messages");
    }
    Ok(())
}

/// `watch` through the daemon: prints each message as it arrives until
/// interrupted (woken by notifications on `notes`, the receiver of `rpc`'s
/// connection).
pub async fn watch(rpc: &RpcClient, mut notes: Notes, json: bool) -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let _: m::SubscribeResult = rpc
        .call(m::SUBSCRIBE, m::NoParams {})
        .await
        .map_err(remote)?;
    show(rpc, json).await?;
    loop {
        tokio::select! {
            note = notes.recv() => match note {
                Some(_) => { show(rpc, json).await?; }
                None => anyhow::bail!("the daemon stopped"),
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
        }
    }
}

/// Calls `inbox` and prints what it returns as one-shot `inbox` does.
async fn show(rpc: &RpcClient, json: bool) -> anyhow::Result<usize> {
    let messages: Vec<Message> = rpc.call(m::INBOX, m::NoParams {}).await.map_err(remote)?;
    let mut out = std::io::stdout().lock();
    for msg in &messages {
        if json {
            writeln!(out, "{}", inbox_json(msg))?;
        } else {
            let who = match msg.direction {
                Direction::In => msg.peer.clone(),
                Direction::Out => format!("you (another device) to {}", msg.peer),
            };
            writeln!(out, "[{}] {who}: {}", format_time(msg.sent_at), msg.text)?;
        }
    }
    out.flush()?;
    Ok(messages.len())
}

/// A daemon message with the keys of `inbox --json`.
fn inbox_json(msg: &Message) -> Value {
    let mut v = json!({
        "message_id": msg.message_id,
        "from": msg.from,
        "text": msg.text,
        "sent_at": msg.sent_at,
        "version": msg.version,
    });
    if msg.direction == Direction::Out {
        v["direction"] = json!("out");
        v["to"] = json!(msg.peer);
    }
    if let Some(at) = msg.expires_at {
        v["expires_at"] = json!(at);
    }
    v
}

/// `device list` through the daemon.
pub async fn device_list(rpc: &RpcClient, json: bool) -> anyhow::Result<()> {
    let devices: Vec<m::DeviceEntry> = rpc
        .call(m::DEVICE_LIST, m::NoParams {})
        .await
        .map_err(remote)?;
    if json {
        let list: Vec<Value> = devices
            .iter()
            .map(|d| {
                json!({
                    "device_id": d.device_id,
                    "name": d.name.clone().unwrap_or_default(),
                    "current": d.this_device,
                })
            })
            .collect();
        print_json(&Value::Array(list))
    } else {
        for d in &devices {
            let mark = if d.this_device { " (this device)" } else { "" };
            println!(
                "{}  {}{mark}",
                d.device_id,
                d.name.as_deref().unwrap_or_default()
            );
        }
        Ok(())
    }
}

/// `device remove` through the daemon.
pub async fn device_remove(rpc: &RpcClient, device_id: &str) -> anyhow::Result<()> {
    let removed: m::DeviceRemoveResult = rpc
        .call(
            m::DEVICE_REMOVE,
            m::DeviceRemoveParams {
                device_id: device_id.trim().to_owned(),
            },
        )
        .await
        .map_err(remote)?;
    eprintln!(
        "removed device {}; messages sent from now on do not reach it",
        removed.removed
    );
    Ok(())
}

/// `timer` through the daemon; prints as one-shot `timer` does.
pub async fn timer(
    rpc: &RpcClient,
    peer: &str,
    timer: Option<nightjar_client::messaging::Timer>,
    json: bool,
) -> anyhow::Result<()> {
    use nightjar_client::messaging::TimerMode;
    let after = match timer.map(|t| t.mode) {
        Some(TimerMode::Read) => m::TimerAfter::Read,
        _ => m::TimerAfter::Send,
    };
    let set: m::TimerSetResult = rpc
        .call(
            m::TIMER_SET,
            m::TimerSetParams {
                peer: peer.trim().to_owned(),
                duration_ms: timer.map(|t| t.after_ms),
                after,
            },
        )
        .await
        .map_err(remote)?;
    let mode = |a: m::TimerAfter| match a {
        m::TimerAfter::Send => "send",
        m::TimerAfter::Read => "read",
    };
    if json {
        print_json(&json!({
            "account_id": set.peer,
            "timer_ms": set.duration_ms,
            "after": set.duration_ms.map(|_| mode(set.after)),
        }))
    } else {
        match set.duration_ms {
            None => println!("disappearing messages off for {}", set.peer),
            Some(ms) => println!(
                "messages to and from {} disappear {} s after they are {}",
                set.peer,
                ms / 1000,
                match set.after {
                    m::TimerAfter::Send => "sent",
                    m::TimerAfter::Read => "read",
                }
            ),
        }
        Ok(())
    }
}

/// The daemon's error as the command's error (its message is the chain).
pub fn remote(e: RpcError) -> anyhow::Error {
    match e {
        RpcError::Remote(obj) => anyhow::anyhow!(obj.message),
        other => anyhow::anyhow!("daemon: {other}"),
    }
}

/// `contact add/list/remove` through the daemon; prints as without it.
pub async fn contact(
    rpc: &RpcClient,
    action: &crate::contact_cmd::ContactCmd,
) -> anyhow::Result<()> {
    use crate::contact_cmd::ContactCmd;
    let as_json = |c: &m::Contact| json!({ "name": c.name, "account_id": c.account_id });
    match action {
        ContactCmd::Add {
            name,
            account_id,
            json,
        } => {
            let added: m::Contact = rpc
                .call(
                    m::CONTACT_ADD,
                    m::ContactAddParams {
                        name: name.clone(),
                        account_id: account_id.trim().to_owned(),
                    },
                )
                .await
                .map_err(remote)?;
            if *json {
                print_json(&as_json(&added))
            } else {
                println!("added {} ({})", added.name, added.account_id);
                Ok(())
            }
        }
        ContactCmd::List { json } => {
            let contacts: Vec<m::Contact> = rpc
                .call(m::CONTACT_LIST, m::NoParams {})
                .await
                .map_err(remote)?;
            if *json {
                print_json(&Value::Array(contacts.iter().map(as_json).collect()))
            } else {
                if contacts.is_empty() {
                    eprintln!("no contacts; add one with `nightjar contact add NAME ACCOUNT_ID`");
                }
                for c in &contacts {
                    println!("{}\t{}", c.name, c.account_id);
                }
                Ok(())
            }
        }
        ContactCmd::Remove { name, json } => {
            let removed: m::Contact = rpc
                .call(
                    m::CONTACT_REMOVE,
                    m::ContactRemoveParams { name: name.clone() },
                )
                .await
                .map_err(remote)?;
            if *json {
                print_json(&as_json(&removed))
            } else {
                println!("removed {} ({})", removed.name, removed.account_id);
                Ok(())
            }
        }
    }
}
