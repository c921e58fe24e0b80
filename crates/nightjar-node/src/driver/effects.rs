//! Feeding the core and carrying out what it asks: every input goes
//! through [`input`], which runs it under the core's lock, drains the
//! effects and then does them without the lock (replies to the waiting
//! streams, store commands, peer requests, cancellations, metrics).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use nightjar_store::{MessageStore, StoreCommand, StoreError, StoreReply};
use nightjar_wire::ResponseBody;
use tracing::{debug, info, warn};

use super::{Shared, lock, unix_now_ms};
use crate::engine::{CoreEvent, Effect, NodeCore, PeerFailure};
use crate::metrics::{KindLabels, RequestLabels};

/// Give the core one input, then do what it asks.
pub(super) fn input(shared: &Arc<Shared>, f: impl FnOnce(&mut NodeCore)) {
    let mut effects = Vec::new();
    {
        let mut core = lock(&shared.core);
        f(&mut core);
        while let Some(e) = core.poll_effect() {
            effects.push(e);
        }
        if core
            .poll_timeout()
            .is_some_and(|at| at < shared.timer_at.load(Ordering::Relaxed))
        {
            shared.timer.notify_one();
        }
    }
    for effect in effects {
        run(shared, effect);
    }
    // The answers to circuit requests this input produced leave together:
    // one send per neighbour, not one per answer.
    shared.circuits.flush_answers(&shared.cell_socket);
}

/// Hands store replies to the core in groups: each wake-up takes every
/// reply that has arrived (after letting the other tasks woken by the
/// same commit deliver theirs), so the writes one commit made durable are
/// signed under one receipt tree ([`NodeCore::handle_store_replies`]).
/// A reply is never held back waiting for another.
pub(super) async fn store_reply_loop(
    shared: Arc<Shared>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<(crate::engine::OpId, StoreReply)>,
) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let first = tokio::select! {
            r = rx.recv() => r,
            _ = shutdown.changed() => return,
        };
        let Some(first) = first else { return };
        tokio::task::yield_now().await;
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        input(&shared, |core| {
            core.handle_store_replies(unix_now_ms(), batch)
        });
    }
}

fn run(shared: &Arc<Shared>, effect: Effect) {
    match effect {
        Effect::Reply { id, response } => {
            if let (Some(accounting), ResponseBody::Onion(blob)) =
                (&shared.accounting, &response.body)
            {
                lock(accounting).saw_onion_answer(blob);
            }
            let slot = lock(&shared.replies).remove(&id);
            if let Some((reply, _)) = slot {
                reply(response);
            }
        }
        Effect::Store { op, command } => dispatch(shared, op, command),
        Effect::SendToPeer {
            op,
            to,
            request,
            timeout_ms,
        } => {
            let task_shared = shared.clone();
            // The task holds a permit for its whole life (an aborted task
            // drops it too); without one the request fails at once.
            let Ok(permit) = shared.peer_permits.clone().try_acquire_owned() else {
                tokio::spawn(async move {
                    input(&task_shared, |core| {
                        core.handle_peer_answer(unix_now_ms(), op, Err(PeerFailure::Overloaded))
                    });
                });
                return;
            };
            // Hold the map while spawning, so the task's own removal comes
            // after the insertion.
            let mut tasks = lock(&shared.peer_tasks);
            let handle = tokio::spawn(async move {
                let _permit = permit;
                let answer = task_shared
                    .peers
                    .request(&to, &request, Duration::from_millis(timeout_ms))
                    .await
                    .map_err(|e| match e {
                        nightjar_transport::TransportError::Timeout(_) => PeerFailure::TimedOut,
                        e => {
                            debug!(error = %e, kind = request.kind(), "peer request failed");
                            PeerFailure::Unreachable
                        }
                    });
                lock(&task_shared.peer_tasks).remove(&op);
                input(&task_shared, |core| {
                    core.handle_peer_answer(unix_now_ms(), op, answer)
                });
            });
            tasks.insert(op, handle.abort_handle());
        }
        Effect::CancelPeer { op } => {
            if let Some(task) = lock(&shared.peer_tasks).remove(&op) {
                task.abort();
            }
        }
        Effect::Event(event) => record(shared, event),
    }
}

/// Hand a command to the store; its answer goes to the reply loop
/// ([`store_reply_loop`]) with no task waiting for it: a write is queued on
/// the batching writer at once (so writes keep the core's order) and
/// answered by the writer thread; a read runs on a blocking thread, which
/// hands its answer on itself.
fn dispatch(shared: &Arc<Shared>, op: crate::engine::OpId, command: StoreCommand) {
    let replies = shared.store_replies.clone();
    // Fails only once the node is shutting down.
    let send = move |reply: StoreReply| {
        let _ = replies.send((op, reply));
    };
    if command.is_write() {
        shared.store.write_then(command, send);
        return;
    }
    let store = shared.store.clone();
    tokio::task::spawn_blocking(move || {
        // A panic in the read answers as a failed read would.
        let failed = StoreReply::failed(&command, StoreError::WriterGone);
        let reply = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            MessageStore::execute(&store, command)
        }))
        .unwrap_or(failed);
        send(reply);
    });
}

/// Metrics and logs from the core's events.
fn record(shared: &Arc<Shared>, event: CoreEvent) {
    let m = &shared.metrics;
    match event {
        CoreEvent::Answered { id, kind, outcome } => {
            debug!(kind, outcome, "request answered");
            m.requests
                .get_or_create(&RequestLabels { kind, outcome })
                .inc();
            if let Some((_, started)) = lock(&shared.replies).get(&id) {
                m.request_seconds
                    .get_or_create(&KindLabels { kind })
                    .observe(started.elapsed().as_secs_f64());
            }
        }
        CoreEvent::SyncRound {
            pulled,
            tombstones,
            handed_off,
        } => {
            if pulled + tombstones + handed_off > 0 {
                info!(pulled, tombstones, handed_off, "anti-entropy round");
            }
            m.synced.inc_by(pulled);
            m.handed_off.inc_by(handed_off);
        }
        CoreEvent::Purged { count } => {
            m.purged.inc_by(count);
            if count > 0 {
                debug!(purged = count, "expired messages removed");
            }
            let store = shared.store.clone();
            let shared = shared.clone();
            tokio::task::spawn_blocking(move || {
                if let Ok(stats) = store.stats() {
                    let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
                    shared.metrics.stored_messages.set(gauge(stats.messages));
                    shared.metrics.stored_bytes.set(gauge(stats.bytes));
                    shared.metrics.store_commits.set(gauge(stats.commits));
                }
            });
        }
        CoreEvent::WaitingRetrieves(n) => {
            m.waiting_retrieves
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        CoreEvent::ReceiptsSigned { messages } => {
            m.receipt_signatures.inc();
            m.receipt_leaves
                .inc_by(u64::try_from(messages).unwrap_or(u64::MAX));
        }
        CoreEvent::StoreFailed { what } => warn!(what, "store operation failed"),
        CoreEvent::PeerFailed { what } => debug!(what, "peer request failed"),
        CoreEvent::DeliveredFor { account, read } => {
            if let Some(accounting) = &shared.accounting {
                lock(accounting).saw_account(account, read);
            }
        }
    }
}
