//! The one timer: sleeps until the core's `poll_timeout` (or until an input
//! may have moved it) and then calls `handle_timeout`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Shared, effects, lock, unix_now_ms};

pub(super) async fn timer_loop(shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        // "Recomputing": any input until the target is stored wakes us again.
        shared.timer_at.store(u64::MAX, Ordering::Relaxed);
        let next = lock(&shared.core).poll_timeout();
        let now = unix_now_ms();
        let sleep = match next {
            Some(at) if at <= now => {
                effects::input(&shared, |core| core.handle_timeout(now));
                continue;
            }
            Some(at) => Duration::from_millis(at - now),
            None => Duration::from_secs(3600),
        };
        let target = next.unwrap_or_else(|| now.saturating_add(3_600_000));
        shared.timer_at.store(target, Ordering::Relaxed);
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = shared.timer.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}
