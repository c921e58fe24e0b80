//! `nightjar device …` and `nightjar timer …`: this account's devices, and a
//! conversation's disappearing-message timer.

use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use nightjar_client::Client;
use nightjar_client::messaging::{Timer, TimerMode};
use nightjar_crypto::identity::AccountId;
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
                    let mark = if d.id == current { " (this device)" } else { "" };
                    println!("{}  {}{mark}", d.id, d.name);
                }
                Ok(())
            }
        }
        DeviceCmd::Remove { device_id } => {
            let id: DeviceId = device_id.trim().parse()?;
            client.remove_device(&id).await?;
            eprintln!("removed device {id}; messages sent from now on do not reach it");
            Ok(())
        }
    }
}

/// The account a `timer` command names.
pub fn timer_account(text: &str) -> anyhow::Result<AccountId> {
    text.trim()
        .parse()
        .with_context(|| format!("{text:?} is not a valid Account ID"))
}

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
