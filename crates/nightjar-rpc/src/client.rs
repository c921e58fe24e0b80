//! The async client: one connection, a background reader that routes
//! responses by id and notifications to a channel.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::{mpsc, oneshot};

use crate::framing::{LineRead, read_line};
use crate::wire::{ErrorObject, Id, Incoming, Notification, decode_incoming, request_line};
use crate::{MAX_LINE, RpcError};

type Pending = HashMap<i64, oneshot::Sender<Result<Value, ErrorObject>>>;

/// A connection to a daemon. Clones share it; calls may run concurrently.
#[derive(Clone)]
pub struct RpcClient {
    inner: Arc<Inner>,
}

struct Inner {
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    /// `None` once the reader has stopped: later calls fail with `Closed`.
    pending: Mutex<Option<Pending>>,
    next_id: AtomicI64,
}

impl std::fmt::Debug for RpcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcClient").finish_non_exhaustive()
    }
}

impl RpcClient {
    /// Connects; a background task reads lines and routes responses by id
    /// and notifications to the receiver. The receiver ends when the
    /// connection does.
    pub async fn connect(
        socket: &Path,
    ) -> Result<(RpcClient, mpsc::UnboundedReceiver<Notification>), RpcError> {
        let stream = UnixStream::connect(socket).await?;
        let (read, write) = stream.into_split();
        let inner = Arc::new(Inner {
            writer: tokio::sync::Mutex::new(write),
            pending: Mutex::new(Some(HashMap::new())),
            next_id: AtomicI64::new(1),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let reader_inner = Arc::clone(&inner);
        tokio::spawn(async move {
            let mut reader = BufReader::new(read);
            let mut buf = Vec::new();
            loop {
                match read_line(&mut reader, &mut buf, MAX_LINE).await {
                    Ok(LineRead::Line) => {}
                    Ok(LineRead::Eof | LineRead::TooLong) | Err(_) => break,
                }
                match decode_incoming(&buf) {
                    Ok(Incoming::Notification(n)) => {
                        // Nobody listening is fine: notifications are dropped.
                        let _ = tx.send(n);
                    }
                    Ok(Incoming::Response {
                        id: Some(Id::Number(id)),
                        result,
                    }) => {
                        let waiter = reader_inner
                            .pending
                            .lock()
                            .ok()
                            .and_then(|mut p| p.as_mut().and_then(|p| p.remove(&id)));
                        if let Some(waiter) = waiter {
                            let _ = waiter.send(result);
                        }
                    }
                    // A response to no call of ours (id null or a string): nothing waits for it.
                    Ok(Incoming::Response { .. }) | Err(_) => {}
                }
            }
            // Dropping the senders wakes every waiting call with `Closed`.
            if let Ok(mut p) = reader_inner.pending.lock() {
                p.take();
            }
        });
        Ok((RpcClient { inner }, rx))
    }

    /// Calls `method` with `params` (serialized to a JSON object; `()` sends
    /// none) and waits for its result.
    pub async fn call<P: Serialize, R: DeserializeOwned>(
        &self,
        method: &str,
        params: P,
    ) -> Result<R, RpcError> {
        let params = serde_json::to_value(params)
            .map_err(|e| RpcError::Protocol(format!("cannot encode the parameters: {e}")))?;
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self
                .inner
                .pending
                .lock()
                .map_err(|_| RpcError::Protocol("client state poisoned".into()))?;
            let Some(pending) = pending.as_mut() else {
                return Err(RpcError::Closed);
            };
            pending.insert(id, tx);
        }
        let line = request_line(&Id::Number(id), method, &params);
        if line.len() > MAX_LINE.saturating_add(1) {
            self.forget(id);
            return Err(RpcError::Protocol(format!(
                "request longer than {MAX_LINE} bytes"
            )));
        }
        {
            let mut writer = self.inner.writer.lock().await;
            if let Err(e) = writer.write_all(line.as_bytes()).await {
                drop(writer);
                self.forget(id);
                return Err(RpcError::Io(e));
            }
        }
        match rx.await {
            Ok(Ok(value)) => serde_json::from_value(value)
                .map_err(|e| RpcError::Protocol(format!("unexpected result of {method}: {e}"))),
            Ok(Err(error)) => Err(RpcError::Remote(error)),
            Err(_) => Err(RpcError::Closed),
        }
    }

    fn forget(&self, id: i64) {
        if let Ok(mut p) = self.inner.pending.lock()
            && let Some(p) = p.as_mut()
        {
            p.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::wire::{decode_request, notification_line, response_line};
    use serde_json::json;
    use tokio::io::AsyncBufReadExt;
    use tokio::net::UnixListener;

    /// A real socket served by a tiny echo server: answers `echo` with its
    /// params out of order, `fail` with an error, and sends a notification first.
    #[tokio::test]
    async fn calls_are_routed_by_id_and_notifications_reach_the_channel() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            write
                .write_all(notification_line("message", &json!({"n": 1})).as_bytes())
                .await
                .unwrap();
            let first =
                decode_request(lines.next_line().await.unwrap().unwrap().as_bytes()).unwrap();
            let second =
                decode_request(lines.next_line().await.unwrap().unwrap().as_bytes()).unwrap();
            for r in [second, first] {
                let result = if r.method == "fail" {
                    Err(ErrorObject::new(-32001, "not found"))
                } else {
                    Ok(r.params.clone())
                };
                write
                    .write_all(response_line(r.id.as_ref(), &result).as_bytes())
                    .await
                    .unwrap();
            }
        });
        let (client, mut notes) = RpcClient::connect(&path).await.unwrap();
        let c2 = client.clone();
        let (a, b) = tokio::join!(client.call::<_, Value>("echo", json!({"x": 1})), async {
            tokio::task::yield_now().await;
            c2.call::<_, Value>("fail", ()).await
        });
        assert_eq!(a.unwrap(), json!({"x": 1}));
        match b {
            Err(RpcError::Remote(e)) => assert_eq!(e.code, -32001),
            other => panic!("expected a remote error, got {other:?}"),
        }
        assert_eq!(notes.recv().await.unwrap().method, "message");
        server.await.unwrap();
        // The server is gone: the next call fails instead of hanging.
        assert!(client.call::<_, Value>("echo", ()).await.is_err());
        assert!(notes.recv().await.is_none());
    }
}
