//! Finding the `nightjar-node` executable.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::LaunchError;

/// Environment variable naming the node binary to run.
pub const NODE_BIN_ENV: &str = "NIGHTJAR_NODE_BIN";

/// The node binary's file name.
pub const NODE_BINARY_NAME: &str = "nightjar-node";

/// The subcommand a binary that is the current executable is run with
/// (`nightjar-bench node` runs the node library exactly as `nightjar-node`).
pub const SELF_NODE_SUBCOMMAND: &str = "node";

/// The executable that runs a node, and how to invoke it.
///
/// Usually `nightjar-node`. A path naming the current executable itself
/// selects that executable's [`SELF_NODE_SUBCOMMAND`] (`nightjar-bench`
/// has one, so its smoke tests need no other package built).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeBinary {
    path: PathBuf,
    is_self: bool,
}

impl NodeBinary {
    /// The node binary at `path`, which must be an existing file.
    pub fn at(path: impl Into<PathBuf>) -> Result<NodeBinary, LaunchError> {
        let path = path.into();
        if !path.is_file() {
            return Err(LaunchError::BinaryMissing(path));
        }
        let is_self = std::env::current_exe()
            .map(|me| canonical(&me) == canonical(&path))
            .unwrap_or(false);
        Ok(NodeBinary { path, is_self })
    }

    /// Look for the node binary: `explicit` if given, else
    /// [`NODE_BIN_ENV`] if set, else `nightjar-node` next to the current
    /// executable, else in the Cargo target directory above it (when the
    /// current executable is a test binary in `target/<profile>/deps`), else
    /// on `PATH`. An explicit or environment path must exist.
    pub fn find(explicit: Option<&Path>) -> Result<NodeBinary, LaunchError> {
        if let Some(path) = explicit {
            return NodeBinary::at(path);
        }
        if let Some(path) = std::env::var_os(NODE_BIN_ENV).filter(|p| !p.is_empty()) {
            return NodeBinary::at(PathBuf::from(path));
        }
        let me = std::env::current_exe().map_err(LaunchError::CurrentExe)?;
        let beside = me.parent().map(Path::to_path_buf);
        let mut dirs: Vec<PathBuf> = beside.iter().cloned().collect();
        if let Some(dir) = &beside
            && dir.file_name().is_some_and(|n| n == "deps")
            && let Some(profile) = dir.parent()
        {
            dirs.push(profile.to_path_buf());
        }
        if let Some(path) = std::env::var_os("PATH") {
            dirs.extend(std::env::split_paths(&path));
        }
        for dir in dirs {
            let candidate = dir.join(NODE_BINARY_NAME);
            if candidate.is_file() {
                return NodeBinary::at(candidate);
            }
        }
        Err(LaunchError::BinaryNotFound {
            searched: format!("next to {} or on PATH", me.display()),
        })
    }

    /// The executable's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this is the current executable, run with its
    /// [`SELF_NODE_SUBCOMMAND`].
    pub fn is_self(&self) -> bool {
        self.is_self
    }

    /// What to print: the path, followed by ` node` in the self mode.
    pub fn describe(&self) -> String {
        if self.is_self {
            format!("{} {SELF_NODE_SUBCOMMAND}", self.path.display())
        } else {
            self.path.display().to_string()
        }
    }

    /// A command running this binary (with the subcommand in the self mode),
    /// before any node arguments.
    pub(crate) fn command(&self) -> Command {
        let mut cmd = Command::new(&self.path);
        if self.is_self {
            cmd.arg(OsString::from(SELF_NODE_SUBCOMMAND));
        }
        cmd
    }
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_explicit_path_is_an_error() {
        let err = NodeBinary::find(Some(Path::new("/nonexistent/nightjar-node")))
            .expect_err("a missing binary");
        assert!(matches!(err, LaunchError::BinaryMissing(_)), "{err}");
    }

    #[test]
    fn an_explicit_file_is_used_as_it_is() {
        let bin = NodeBinary::find(Some(Path::new("/bin/sh"))).expect("/bin/sh exists");
        assert_eq!(bin.path(), Path::new("/bin/sh"));
        assert!(!bin.is_self());
        assert_eq!(bin.describe(), "/bin/sh");
    }

    #[test]
    fn the_current_executable_runs_its_node_subcommand() {
        let me = std::env::current_exe().expect("current exe");
        let bin = NodeBinary::at(&me).expect("exists");
        assert!(bin.is_self());
        assert_eq!(bin.describe(), format!("{} node", me.display()));
        let cmd = bin.command();
        let args: Vec<_> = cmd.get_args().collect();
        assert_eq!(args, ["node"]);
    }
}
