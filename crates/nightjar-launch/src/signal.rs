//! Signals to processes by pid.

use nix::sys::signal::Signal;

/// Send `sig` to `pid`. A process that is gone already is not an error:
/// stopping it was the goal.
pub(crate) fn send(pid: u32, sig: Signal) {
    if let Ok(raw) = i32::try_from(pid) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), sig);
    }
}
