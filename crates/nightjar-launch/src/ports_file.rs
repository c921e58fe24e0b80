//! The ports file: how a node started on port 0 tells its launcher which
//! addresses it bound.
//!
//! A launcher that lets the OS choose a node's ports (`--listen IP:0
//! --admin 127.0.0.1:0`) passes `--ports-file PATH`; once the node serves,
//! it writes the addresses it actually bound, and its pid, to `PATH`,
//! replacing the file atomically (a reader never sees half of it). Nothing
//! is held between choosing a port and binding it, so no other process can
//! take it in between. The launcher removes the file before it starts the
//! node, and accepts only a file naming the process it started.
//!
//! The format is a few `key = value` lines (valid TOML):
//!
//! ```text
//! pid = 4242
//! quic = "127.0.0.1:40123"
//! admin = "127.0.0.1:40124"
//! ```
//!
//! `admin` is absent when the admin endpoint is disabled.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::LaunchError;

/// What a node reports once it serves: its pid and the addresses it bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortsFile {
    /// The node's process id.
    pub pid: u32,
    /// The UDP address its QUIC endpoint bound.
    pub quic: SocketAddr,
    /// The TCP address its admin endpoint bound, if it has one.
    pub admin: Option<SocketAddr>,
}

impl PortsFile {
    /// The report of this process (its own pid) serving at `quic` and `admin`.
    pub fn of_this_process(quic: SocketAddr, admin: Option<SocketAddr>) -> PortsFile {
        PortsFile {
            pid: std::process::id(),
            quic,
            admin,
        }
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        let mut text = format!("pid = {}\nquic = \"{}\"\n", self.pid, self.quic);
        if let Some(admin) = self.admin {
            text.push_str(&format!("admin = \"{admin}\"\n"));
        }
        text
    }

    /// Parse the file's text; `Err` says what is wrong.
    pub fn from_text(text: &str) -> Result<PortsFile, String> {
        let (mut pid, mut quic, mut admin) = (None, None, None);
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| format!("not `key = value`: {line:?}"))?;
            let value = value.trim();
            let unquoted = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            let addr = || {
                unquoted
                    .parse::<SocketAddr>()
                    .map_err(|e| format!("{key}: {unquoted:?} is not an address: {e}"))
            };
            match key.trim() {
                "pid" => {
                    pid = Some(
                        value
                            .parse::<u32>()
                            .map_err(|e| format!("pid: {value:?}: {e}"))?,
                    );
                }
                "quic" => quic = Some(addr()?),
                "admin" => admin = Some(addr()?),
                other => return Err(format!("unknown key {other:?}")),
            }
        }
        Ok(PortsFile {
            pid: pid.ok_or("no pid")?,
            quic: quic.ok_or("no quic address")?,
            admin,
        })
    }

    /// Write the file at `path` atomically (a temporary file beside it,
    /// then a rename).
    pub fn write(&self, path: &Path) -> Result<(), LaunchError> {
        let tmp = temporary_path(path);
        std::fs::write(&tmp, self.to_text()).map_err(|source| LaunchError::Io {
            action: "write",
            path: tmp.clone(),
            source,
        })?;
        std::fs::rename(&tmp, path).map_err(|source| LaunchError::Io {
            action: "write",
            path: path.to_path_buf(),
            source,
        })
    }

    /// Read the file at `path`: `Ok(None)` if it does not exist (yet).
    pub fn read(path: &Path) -> Result<Option<PortsFile>, LaunchError> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                PortsFile::from_text(&text)
                    .map(Some)
                    .map_err(|reason| LaunchError::PortsFile {
                        path: path.to_path_buf(),
                        reason,
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(LaunchError::Io {
                action: "read",
                path: path.to_path_buf(),
                source,
            }),
        }
    }
}

/// `DIR/.NAME.tmp` for `DIR/NAME`.
fn temporary_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_round_trips_with_and_without_an_admin_address() {
        let with = PortsFile {
            pid: 42,
            quic: "127.0.0.3:40123".parse().expect("addr"),
            admin: Some("127.0.0.1:40124".parse().expect("addr")),
        };
        assert_eq!(
            with.to_text(),
            "pid = 42\nquic = \"127.0.0.3:40123\"\nadmin = \"127.0.0.1:40124\"\n"
        );
        assert_eq!(PortsFile::from_text(&with.to_text()), Ok(with));
        let without = PortsFile {
            admin: None,
            ..with
        };
        assert_eq!(PortsFile::from_text(&without.to_text()), Ok(without));
    }

    #[test]
    fn a_damaged_file_is_an_error_naming_the_problem() {
        for (text, problem) in [
            ("", "no pid"),
            ("pid = 1\n", "no quic address"),
            ("pid = x\nquic = \"127.0.0.1:1\"\n", "pid"),
            ("pid = 1\nquic = \"nowhere\"\n", "not an address"),
            ("pid = 1\nquic = \"127.0.0.1:1\"\nport = 3\n", "unknown key"),
            ("pid 1\n", "key = value"),
        ] {
            let err = PortsFile::from_text(text).expect_err(text);
            assert!(err.contains(problem), "{text:?}: {err}");
        }
    }

    #[test]
    fn written_files_are_read_back_and_a_missing_one_is_none() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("node.ports");
        assert_eq!(PortsFile::read(&path).expect("no error"), None);
        let report = PortsFile::of_this_process("127.0.0.1:5".parse().expect("addr"), None);
        report.write(&path).expect("written");
        assert_eq!(PortsFile::read(&path).expect("readable"), Some(report));
        assert_eq!(report.pid, std::process::id());
        assert!(
            !tmp.path().join(".node.ports.tmp").exists(),
            "the temporary file was renamed"
        );
        std::fs::write(&path, "garbage").expect("write");
        assert!(matches!(
            PortsFile::read(&path),
            Err(LaunchError::PortsFile { .. })
        ));
    }
}
