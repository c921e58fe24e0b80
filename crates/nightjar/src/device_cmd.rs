//! `nightjar device …` and `nightjar timer …`: this account's devices, and a
//! conversation's disappearing-message timer.

use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use nightjar_client::Client;
use nightjar_client::messaging::{Timer, TimerMode};
use nightjar_devices::DeviceId;
use serde_json::json;

use crate::print_json;

/// `nightjar device …`.
#[derive(Debug, Subcommand)]
pub enum DeviceCmd {
    /// List this account's devices (this one is marked current).
    List {
        /// Print JSON: `[{"device_id", "name", "current"}]`.
        #[arg(long)]
        json: bool,
    },
    /// Remove a device from this account: others send it nothing more once
    /// they have read the new device list.
    Remove {
        /// The device's ID, as `device list` shows it.
        device_id: String,
    },
    /// Link a new device to this account: shows a one-time link code (and
    /// a QR code) to enter on the new device with `device join`, then the
    /// string both devices must show, and sends the new device the account
    /// and the history.
    Link {
        /// Do not ask whether both devices show the same string (scripts:
        /// the link is then only as safe as the code is secret).
        #[arg(long)]
        yes: bool,
        /// How long to wait for the new device, in seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        /// Print JSON lines: `{"link_code"}`, `{"sas"}`, then `{"device_id", "name", "history"}`.
        #[arg(long)]
        json: bool,
    },
    /// Join an account as a new device, with the link code its existing
    /// device shows (`device link`); makes this profile.
    Join {
        /// The link code (njlink1…).
        code: String,
        /// This device's name (default: the host's name).
        #[arg(long)]
        name: Option<String>,
        /// Do not ask whether both devices show the same string (scripts).
        #[arg(long)]
        yes: bool,
        /// How long to wait for the existing device, in seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        /// Print JSON lines: `{"sas"}`, then `{"account_id", "device_id", "history"}`.
        #[arg(long)]
        json: bool,
    },
}

/// Asks on the terminal whether the other device shows `sas` (`--yes`:
/// does not ask, and says what that means).
fn confirm_sas(sas: &nightjar_crypto::link::Sas, yes: bool, json: bool) -> bool {
    if json {
        let _ = print_json(&json!({ "sas": sas.to_string() }));
    } else {
        eprintln!("both devices must show: {sas}");
    }
    if yes {
        eprintln!(
            "note: --yes: not comparing the strings; the link is only as safe as the link code was secret"
        );
        return true;
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprintln!(
            "no terminal to confirm on: run with --yes to link without comparing the strings"
        );
        return false;
    }
    eprint!("does the other device show {sas}? [y/N] ");
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim(), "y" | "Y" | "yes" | "YES")
}

/// The link code as a QR code of Unicode half blocks, for a terminal.
fn qr(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::unicode::Dense1x2>()
            .quiet_zone(true)
            .build(),
    )
}

/// `device join`: needs no profile; makes one.
pub async fn join(
    dir: &std::path::Path,
    network: &nightjar_registry::NetworkFile,
    bind: std::net::SocketAddr,
    passphrase: Option<&[u8]>,
    action: &DeviceCmd,
) -> anyhow::Result<()> {
    let DeviceCmd::Join {
        code,
        name,
        yes,
        timeout,
        json,
    } = action
    else {
        anyhow::bail!("not a join command");
    };
    let code: nightjar_crypto::link::LinkCode = code
        .trim()
        .parse()
        .map_err(|e| anyhow::anyhow!("that is not a link code: {e}"))?;
    let name = name.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/etc/hostname")
            .map(|s| s.trim().chars().take(32).collect())
            .unwrap_or_else(|_| "device".into())
    });
    let options = nightjar_client::JoinOptions {
        dir,
        passphrase,
        network,
        bind,
        name: &name,
        timeout: Duration::from_secs(*timeout),
    };
    let joined =
        Client::join_device(&options, &code, &mut |sas| confirm_sas(sas, *yes, *json)).await?;
    let account = joined.account.to_string();
    joined.client.close().await;
    if *json {
        print_json(&json!({
            "account_id": account,
            "device_id": joined.device_id.to_string(),
            "history": joined.history,
        }))
    } else {
        println!(
            "joined {account} as device {}; {} messages of history",
            joined.device_id, joined.history
        );
        Ok(())
    }
}

/// When a timer starts, on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum After {
    /// When the message is sent.
    Send,
    /// When the recipient's device first shows it.
    Read,
}

/// Reads `30s`, `5m`, `2h`, `7d` or a number of seconds.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .with_context(|| format!("{text:?} is not a duration (like 30s, 10m, 1h, 7d)"))?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3_600),
        "d" => n.saturating_mul(86_400),
        other => anyhow::bail!("unknown unit {other:?} in {text:?}: use s, m, h or d"),
    };
    Ok(Duration::from_secs(secs))
}

/// The timer `DURATION|off` and `--after` describe.
pub fn timer_from(duration: &str, after: After) -> anyhow::Result<Option<Timer>> {
    if duration.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let d = parse_duration(duration)?;
    let timer = Timer {
        after_ms: u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
        mode: match after {
            After::Send => TimerMode::Send,
            After::Read => TimerMode::Read,
        },
    };
    timer.check()?;
    Ok(Some(timer))
}

/// Runs a `device` command on a connected client.
pub async fn run(client: &mut Client, action: &DeviceCmd) -> anyhow::Result<()> {
    match action {
        DeviceCmd::List { json } => {
            let (devices, current) = client.devices().await?;
            if *json {
                let list: Vec<_> = devices
                    .iter()
                    .map(|d| {
                        json!({
                            "device_id": d.id.to_string(),
                            "name": d.name,
                            "current": d.id == current,
                        })
                    })
                    .collect();
                print_json(&serde_json::Value::Array(list))
            } else {
                for d in &devices {
                    let mark = if d.id == current {
                        " (this device)"
                    } else {
                        ""
                    };
                    println!("{}  {}{mark}", d.id, d.name);
                }
                Ok(())
            }
        }
        DeviceCmd::Link { yes, timeout, json } => {
            let code = client.new_link_code()?;
            let text = code.to_text();
            if *json {
                print_json(&json!({ "link_code": text.as_str() }))?;
            } else {
                if let Some(q) = qr(&text) {
                    println!("{q}");
                }
                println!("{}", text.as_str());
                eprintln!("enter this code on the new device: nightjar device join CODE");
            }
            let linked = client
                .link_device(&code, Duration::from_secs(*timeout), &mut |sas| {
                    confirm_sas(sas, *yes, *json)
                })
                .await?;
            if *json {
                print_json(&json!({
                    "device_id": linked.device_id.to_string(),
                    "name": linked.name,
                    "history": linked.history,
                }))
            } else {
                println!(
                    "linked device {} ({}); sent {} messages of history",
                    linked.device_id, linked.name, linked.history
                );
                Ok(())
            }
        }
        DeviceCmd::Join { .. } => anyhow::bail!("join runs without an open profile"),
        DeviceCmd::Remove { device_id } => {
            let id: DeviceId = device_id.trim().parse()?;
            client.remove_device(&id).await?;
            eprintln!("removed device {id}; messages sent from now on do not reach it");
            Ok(())
        }
    }
}

/// The account a `timer` command names.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_units_and_timers_check_their_range() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7_200));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
        assert!(parse_duration("5y").is_err());
        assert!(parse_duration("soon").is_err());
        assert_eq!(timer_from("off", After::Send).unwrap(), None);
        assert!(timer_from("5s", After::Send).is_err(), "below 10 s");
        assert!(timer_from("15d", After::Send).is_err(), "beyond 14 days");
        let t = timer_from("1h", After::Read).unwrap().unwrap();
        assert_eq!((t.after_ms, t.mode), (3_600_000, TimerMode::Read));
    }
}
