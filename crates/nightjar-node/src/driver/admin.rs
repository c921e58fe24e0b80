//! The loopback admin HTTP server: Prometheus metrics, a health check and,
//! on test networks (`debug_accounting`), what the node saw.

use std::sync::Arc;

use tracing::warn;

use super::{Shared, lock};

pub(super) async fn serve_admin(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    use axum::routing::get;
    let metrics_shared = shared.clone();
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let shared = metrics_shared.clone();
                async move {
                    refresh_gauges(&shared);
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        shared.metrics.render(),
                    )
                }
            }),
        )
        .route("/health", get(|| async { "ok\n" }));
    let app = if shared.accounting.is_some() {
        let debug_shared = shared.clone();
        app.route(
            "/debug/accounting",
            get(move || {
                let shared = debug_shared.clone();
                async move {
                    let body = shared
                        .accounting
                        .as_ref()
                        .map(|a| lock(a).to_json())
                        .unwrap_or_default();
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        body,
                    )
                }
            }),
        )
    } else {
        app
    };
    let mut shutdown = shared.shutdown.clone();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.changed().await;
        })
        .await;
    if let Err(e) = result {
        warn!(error = %e, "admin server stopped");
    }
}

/// Set the gauges that are read when scraped: peer requests in flight (the
/// tasks running them), those the core queues, and the runtime's live tasks.
fn refresh_gauges(shared: &Shared) {
    let gauge = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
    let m = &shared.metrics;
    let in_flight = lock(&shared.peer_tasks).len();
    m.peer_requests_in_flight.set(gauge(in_flight));
    let queued = lock(&shared.core).peer_requests_queued();
    m.peer_requests_queued.set(gauge(queued));
    let tasks = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    m.runtime_tasks.set(gauge(tasks));
}
