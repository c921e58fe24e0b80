//! The simulator's one error type.
//!
//! What can stop a run before it produces a report: a bad option or a
//! component of the real stack refusing the simulated network's input. It is
//! not for faults inside the simulated network (those are counted in the
//! report).

use thiserror::Error;

/// Why a simulation could not run to its report.
#[derive(Debug, Error)]
pub enum SimError {
    /// An option is out of range or contradicts another.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// The registry refused the genesis or a churn event.
    #[error("registry: {0}")]
    Registry(#[from] nightjar_registry::RegistryError),
    /// A cryptographic operation of the real stack failed.
    #[error("crypto: {0}")]
    Crypto(String),
    /// The report could not be encoded.
    #[error("report encoding: {0}")]
    Report(#[from] serde_json::Error),
}
