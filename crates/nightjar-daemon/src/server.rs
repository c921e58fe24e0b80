//! The socket: accepting connections, reading lines, answering; the
//! subscriptions live here, every other method goes to the engine.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use nightjar_rpc::methods::{
    self, Message, MessageNotification, SubscribeResult, UnsubscribeParams, UnsubscribeResult,
};
use nightjar_rpc::{
    ErrorObject, INVALID_REQUEST, LineRead, MAX_LINE, NOT_FOUND, decode_request, notification_line,
    read_line, response_line,
};
use serde_json::Value;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::DaemonError;
use crate::engine::{Call, params, stopped};

/// What every connection shares.
#[derive(Clone)]
pub(crate) struct Shared {
    calls: mpsc::Sender<Call>,
    bus: broadcast::Sender<Message>,
    subscribers: Arc<AtomicUsize>,
    next_subscription: Arc<AtomicU64>,
}

impl Shared {
    pub(crate) fn new(calls: mpsc::Sender<Call>, bus: broadcast::Sender<Message>) -> Self {
        Self {
            calls,
            bus,
            subscribers: Arc::new(AtomicUsize::new(0)),
            next_subscription: Arc::new(AtomicU64::new(1)),
        }
    }

    /// The count of open subscriptions (for `status`).
    pub(crate) fn subscribers(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.subscribers)
    }
}

/// Binds the socket, replacing a stale one (nobody answers on it: we hold
/// the lock, so its daemon is gone), mode 0600.
pub(crate) fn bind(socket: &Path) -> Result<UnixListener, DaemonError> {
    let io = |what: &str| {
        let what = format!("{what} {}", socket.display());
        move |source| DaemonError::Io { what, source }
    };
    match std::fs::remove_file(socket) {
        Ok(()) => tracing::info!("replaced a stale daemon socket"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("cannot remove the stale socket")(e)),
    }
    let listener = UnixListener::bind(socket).map_err(io("cannot bind"))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
        .map_err(io("cannot restrict"))?;
    Ok(listener)
}

/// Accepts connections until `stop`.
pub(crate) async fn serve(listener: UnixListener, shared: Shared, mut stop: watch::Receiver<bool>) {
    let for_connections = stop.clone();
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(connection(stream, shared.clone(), for_connections.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
        }
    }
}

/// One connection: requests in order of arrival, answers as they complete.
async fn connection(stream: UnixStream, shared: Shared, mut stop: watch::Receiver<bool>) {
    let (read, mut write) = stream.into_split();
    let (out, mut out_rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        while let Some(line) = out_rx.recv().await {
            if write.write_all(line.as_bytes()).await.is_err() {
                break;
            }
        }
        let _ = write.shutdown().await;
    });
    let mut reader = BufReader::new(read);
    let mut buf = Vec::new();
    let mut subscriptions: HashMap<u64, tokio::task::AbortHandle> = HashMap::new();
    loop {
        let read = tokio::select! {
            _ = stopped(&mut stop) => break,
            r = read_line(&mut reader, &mut buf, MAX_LINE) => r,
        };
        match read {
            Ok(LineRead::Line) => {}
            Ok(LineRead::TooLong) => {
                let error = ErrorObject::new(
                    INVALID_REQUEST,
                    format!("request line longer than {MAX_LINE} bytes; closing the connection"),
                );
                let _ = out.send(response_line(None, &Err(error)));
                break;
            }
            Ok(LineRead::Eof) | Err(_) => break,
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let request = match decode_request(&buf) {
            Ok(r) => r,
            Err(error) => {
                let _ = out.send(response_line(None, &Err(error)));
                continue;
            }
        };
        let id = request.id;
        let answer = |result: Result<Value, ErrorObject>| {
            if id.is_some() {
                let _ = out.send(response_line(id.as_ref(), &result));
            }
        };
        match request.method.as_str() {
            methods::SUBSCRIBE => {
                let n = shared.next_subscription.fetch_add(1, Ordering::Relaxed);
                let task = tokio::spawn(forward(n, shared.bus.subscribe(), out.clone()));
                subscriptions.insert(n, task.abort_handle());
                shared.subscribers.fetch_add(1, Ordering::Relaxed);
                answer(to_value(SubscribeResult { subscription: n }));
            }
            methods::UNSUBSCRIBE => {
                let result = params::<UnsubscribeParams>(request.params).and_then(|p| {
                    match subscriptions.remove(&p.subscription) {
                        Some(task) => {
                            task.abort();
                            shared.subscribers.fetch_sub(1, Ordering::Relaxed);
                            to_value(UnsubscribeResult { unsubscribed: true })
                        }
                        None => Err(ErrorObject::new(
                            NOT_FOUND,
                            format!("no subscription {} on this connection", p.subscription),
                        )),
                    }
                });
                answer(result);
            }
            _ => {
                let (reply, reply_rx) = oneshot::channel();
                let call = Call {
                    method: request.method,
                    params: request.params,
                    reply,
                };
                if shared.calls.send(call).await.is_err() {
                    break;
                }
                let out = out.clone();
                tokio::spawn(async move {
                    let result = reply_rx.await.unwrap_or_else(|_| {
                        Err(ErrorObject::new(
                            nightjar_rpc::CLIENT_FAILURE,
                            "the daemon is shutting down",
                        ))
                    });
                    if id.is_some() {
                        let _ = out.send(response_line(id.as_ref(), &result));
                    }
                });
            }
        }
    }
    for (_, task) in subscriptions.drain() {
        task.abort();
        shared.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
    drop(out);
    let _ = writer.await;
}

/// Writes every message of the bus to the connection as a notification.
async fn forward(
    subscription: u64,
    mut messages: broadcast::Receiver<Message>,
    out: mpsc::UnboundedSender<String>,
) {
    loop {
        match messages.recv().await {
            Ok(message) => {
                let params = match serde_json::to_value(MessageNotification {
                    subscription,
                    message,
                }) {
                    Ok(p) => p,
                    Err(_) => continue,
                };
                if out
                    .send(notification_line(methods::MESSAGE, &params))
                    .is_err()
                {
                    break;
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(skipped = n, "a subscriber fell behind; messages skipped");
            }
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}

pub(crate) fn to_value<T: serde::Serialize>(value: T) -> Result<Value, ErrorObject> {
    serde_json::to_value(value)
        .map_err(|e| ErrorObject::new(nightjar_rpc::CLIENT_FAILURE, e.to_string()))
}
