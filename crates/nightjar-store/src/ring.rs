//! Ring positions: storage encoding and ring ranges.
//!
//! An account's ring position is a `u64` (computed by
//! [`crate::StoreConfig::ring_position`]). SQLite integers are signed, so a
//! position is stored as `(pos ^ 2^63) as i64`: this maps `0..=u64::MAX`
//! monotonically onto `i64::MIN..=i64::MAX`, so SQL comparisons and index
//! order on the stored value follow the `u64` order.

/// The bit flipped by the order-preserving encoding.
const SIGN: u64 = 1 << 63;

/// Encodes a ring position for SQLite, preserving order.
pub(crate) fn pos_to_sql(pos: u64) -> i64 {
    (pos ^ SIGN).cast_signed()
}

/// Decodes a ring position stored by [`pos_to_sql`]. Total: every `i64` is
/// the encoding of exactly one position.
pub(crate) fn pos_from_sql(value: i64) -> u64 {
    value.cast_unsigned() ^ SIGN
}

/// The ring range `[start, end)` as at most two inclusive intervals of
/// positions, in ascending order.
///
/// `start < end` is the plain range, `start > end` wraps past `u64::MAX`
/// to 0, and `start == end` is the whole ring.
pub(crate) fn intervals(start: u64, end: u64) -> Vec<(u64, u64)> {
    if start == end {
        return vec![(0, u64::MAX)];
    }
    let mut intervals = Vec::with_capacity(2);
    if start < end {
        // `end > start >= 0`, so `end - 1` does not underflow.
        intervals.push((start, end.saturating_sub(1)));
    } else {
        if let Some(last) = end.checked_sub(1) {
            intervals.push((0, last));
        }
        intervals.push((start, u64::MAX));
    }
    intervals
}

/// [`intervals`], encoded for SQLite ([`pos_to_sql`] preserves order).
pub(crate) fn sql_intervals(start: u64, end: u64) -> Vec<(i64, i64)> {
    intervals(start, end)
        .into_iter()
        .map(|(lo, hi)| (pos_to_sql(lo), pos_to_sql(hi)))
        .collect()
}
