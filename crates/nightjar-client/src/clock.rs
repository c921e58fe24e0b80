//! The wall clock, in one place so the client's logic takes time as input.
//!
//! Only the driver reads it; the sans-IO modules take `now_ms`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix milliseconds (0 before 1970).
pub(crate) fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
