//! `PROFILE/daemon.lock`: who has the profile open.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::DaemonError;

/// Who holds the lock; written into the file with the pid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockHolder {
    /// A daemon.
    Daemon,
    /// A one-shot command.
    Command,
}

/// A lock on a profile (`std::fs::File::try_lock` on `PROFILE/daemon.lock`),
/// released when dropped or when the process dies. A daemon holds it
/// exclusively and writes its pid into the file; commands hold it shared,
/// so that commands still run side by side (a `watch` and a `send`) while
/// a daemon and a command never have the profile open at once.
#[derive(Debug)]
pub struct ProfileLock {
    _file: File,
}

impl ProfileLock {
    /// Takes the lock, or says who has it: [`DaemonError::AlreadyRunning`]
    /// for a daemon (with its pid and socket), [`DaemonError::Busy`] for
    /// commands (a daemon cannot start while they run).
    pub fn acquire(profile_dir: &Path, holder: LockHolder) -> Result<ProfileLock, DaemonError> {
        let path = nightjar_rpc::lock_path(profile_dir);
        let io = |what: &str| {
            let what = format!("{what} {}", path.display());
            move |source| DaemonError::Io { what, source }
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io("cannot open"))?;
        let taken = match holder {
            LockHolder::Daemon => file.try_lock(),
            LockHolder::Command => file.try_lock_shared(),
        };
        match taken {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                // Shared holders only (commands) if a shared lock is free.
                if holder == LockHolder::Daemon && file.try_lock_shared().is_ok() {
                    let _ = file.unlock();
                    return Err(DaemonError::Busy);
                }
                let mut text = String::new();
                // The daemon may be writing its pid this instant: 0 then.
                let _ = (&file).take(64).read_to_string(&mut text);
                let pid = text
                    .split_whitespace()
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                return Err(DaemonError::AlreadyRunning {
                    pid,
                    socket: nightjar_rpc::socket_path(profile_dir),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io("cannot lock")(e)),
        }
        if holder == LockHolder::Daemon {
            file.set_len(0).map_err(io("cannot write"))?;
            file.seek(SeekFrom::Start(0)).map_err(io("cannot write"))?;
            writeln!(file, "{} daemon", std::process::id()).map_err(io("cannot write"))?;
            file.flush().map_err(io("cannot write"))?;
        }
        Ok(ProfileLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_second_holder_is_told_who_has_the_profile() {
        let dir = tempfile::tempdir().unwrap();
        let first = ProfileLock::acquire(dir.path(), LockHolder::Daemon).unwrap();
        match ProfileLock::acquire(dir.path(), LockHolder::Daemon) {
            Err(DaemonError::AlreadyRunning { pid, socket }) => {
                assert_eq!(pid, std::process::id());
                assert_eq!(socket, dir.path().join("daemon.sock"));
            }
            other => panic!("expected AlreadyRunning, got {other:?}"),
        }
        assert!(matches!(
            ProfileLock::acquire(dir.path(), LockHolder::Command),
            Err(DaemonError::AlreadyRunning { .. })
        ));
        drop(first);
        // Commands share the profile with each other, not with a daemon.
        let command = ProfileLock::acquire(dir.path(), LockHolder::Command).unwrap();
        let other = ProfileLock::acquire(dir.path(), LockHolder::Command).unwrap();
        match ProfileLock::acquire(dir.path(), LockHolder::Daemon) {
            Err(DaemonError::Busy) => {}
            other => panic!("expected Busy, got {other:?}"),
        }
        drop((command, other));
        ProfileLock::acquire(dir.path(), LockHolder::Daemon).unwrap();
    }
}
