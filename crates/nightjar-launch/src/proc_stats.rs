//! Another process's CPU time and memory, from `/proc` (Linux).

use std::path::PathBuf;

use crate::LaunchError;

/// Seconds of CPU (user + system, all threads, living and exited) process
/// `pid` has used, from `/proc/<pid>/stat` (resolution: one clock tick,
/// usually 10 ms).
pub fn cpu_seconds(pid: u32) -> Result<f64, LaunchError> {
    let path = PathBuf::from(format!("/proc/{pid}/stat"));
    let stat = read(&path)?;
    parse_cpu_ticks(&stat)
        .map(|ticks| ticks / clock_ticks())
        .ok_or_else(|| LaunchError::Proc {
            path,
            reason: "no utime and stime fields".into(),
        })
}

/// Resident memory of process `pid` in bytes (`VmRSS`).
pub fn rss_bytes(pid: u32) -> Result<u64, LaunchError> {
    status_bytes(pid, "VmRSS")
}

/// Peak resident memory of process `pid` in bytes (`VmHWM`).
pub fn peak_rss_bytes(pid: u32) -> Result<u64, LaunchError> {
    status_bytes(pid, "VmHWM")
}

/// The state letter of process `pid` (`R`, `S`, `Z`, …), if it exists.
pub(crate) fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    after_comm(&stat)?.split_whitespace().next()?.chars().next()
}

/// The arguments of process `pid` (argv, as bytes), if it exists.
pub(crate) fn cmdline(pid: u32) -> Option<Vec<Vec<u8>>> {
    let bytes = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        bytes
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(<[u8]>::to_vec)
            .collect(),
    )
}

fn read(path: &PathBuf) -> Result<String, LaunchError> {
    std::fs::read_to_string(path).map_err(|source| LaunchError::Io {
        action: "read",
        path: path.clone(),
        source,
    })
}

/// The fields after the command name, which is in parentheses and may
/// itself contain spaces or parentheses.
fn after_comm(stat: &str) -> Option<&str> {
    stat.rsplit_once(')').map(|(_, rest)| rest)
}

/// utime + stime in clock ticks (fields 14 and 15 of `/proc/<pid>/stat`).
fn parse_cpu_ticks(stat: &str) -> Option<f64> {
    // The text after the command name starts at field 3 (state).
    let mut fields = after_comm(stat)?.split_whitespace().skip(14 - 3);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second of `/proc/<pid>/stat` times.
fn clock_ticks() -> f64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => t as f64,
        // USER_HZ is 100 on every Linux architecture we build for.
        _ => 100.0,
    }
}

fn status_bytes(pid: u32, key: &str) -> Result<u64, LaunchError> {
    let path = PathBuf::from(format!("/proc/{pid}/status"));
    let status = read(&path)?;
    parse_status_kb(&status, key)
        .map(|kb| kb.saturating_mul(1024))
        .ok_or_else(|| LaunchError::Proc {
            path,
            reason: format!("no {key} line in kB"),
        })
}

/// The value of line `KEY:   123 kB` of `/proc/<pid>/status`, in kB.
fn parse_status_kb(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_ticks_after_a_command_name_with_spaces_and_parentheses() {
        let stat = "1234 (a (b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 9 0 0";
        assert_eq!(parse_cpu_ticks(stat), Some(300.0));
        assert_eq!(parse_cpu_ticks("1 (x) S 1 2"), None);
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn parses_status_lines_in_kb() {
        let status = "Name:\tnode\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nVmRSSx: 9 kB\n";
        assert_eq!(parse_status_kb(status, "VmRSS"), Some(1024));
        assert_eq!(parse_status_kb(status, "VmHWM"), Some(2048));
        assert_eq!(parse_status_kb(status, "VmSwap"), None);
        assert_eq!(parse_status_kb("VmRSS: lots", "VmRSS"), None);
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        // Burn a little CPU so the tick counter is past zero.
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(50) {
            x = x.wrapping_add(1);
        }
        assert!(x > 0);
        assert!(cpu_seconds(me).expect("cpu") > 0.0);
        let rss = rss_bytes(me).expect("rss");
        assert!(rss > 0);
        assert!(peak_rss_bytes(me).expect("peak") >= rss);
        assert!(matches!(state(me), Some('R' | 'S')));
        assert!(cmdline(me).is_some_and(|args| !args.is_empty()));
    }

    #[test]
    fn a_missing_process_is_an_error() {
        // Beyond the kernel's pid_max (at most 2^22).
        assert!(cpu_seconds(u32::MAX).is_err());
        assert!(rss_bytes(u32::MAX).is_err());
        assert_eq!(state(u32::MAX), None);
    }
}
