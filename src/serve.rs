//! `--listen`: `/healthz`, `/metrics` (Prometheus text) and `/routes` (the
//! desired route table as JSON, with the servers still waiting for their
//! upstream), served by axum.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::status::Status;

#[derive(Clone)]
struct AppState {
    status: Status,
    metrics: Metrics,
    registry: Arc<Registry>,
}

/// Binds `addr` (so a bad address fails at start) and serves until shutdown.
pub async fn start(
    addr: SocketAddr,
    status: Status,
    metrics: &Metrics,
    shutdown: CancellationToken,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let state = AppState {
        status,
        metrics: metrics.clone(),
        registry: Arc::new(registry),
    };
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .route("/routes", get(routes))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(listen = %listener.local_addr()?, "serving /healthz, /metrics and /routes");
    Ok(tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::warn!("--listen server stopped: {e}");
        }
    }))
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.status.health() {
        Ok(()) => (StatusCode::OK, "ok\n".to_string()),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")),
    }
}

async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    if let Some(age) = state.status.seconds_since_sync() {
        state.metrics.seconds_since_sync.set(age);
    }
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &state.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            e.to_string(),
        ),
    }
}

async fn routes(State(state): State<AppState>) -> impl IntoResponse {
    Json(state.status.routes_json())
}
