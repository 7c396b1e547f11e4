//! `/healthz` (the process answers), `/readyz` (database and cache reachable) and `/metrics`.

use actix_web::{HttpResponse, get, web};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::metrics::Metrics;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    pub status: &'static str,
    pub database: &'static str,
    pub cache: &'static str,
}

/// GET /healthz — the process is alive.
#[utoipa::path(tag = "system", responses((status = 200, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// How long `/readyz` waits for each dependency: a probe must answer quickly even when the
/// database is gone (a pool waiting for a connection would otherwise hold it).
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(800);

/// Whether `probe` succeeds within [`PROBE_TIMEOUT`].
async fn answers<E: std::fmt::Display>(
    what: &str,
    probe: impl std::future::Future<Output = Result<(), E>>,
) -> bool {
    match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "{what} not ready");
            false
        }
        Err(_) => {
            tracing::warn!("{what} not ready: no answer within {PROBE_TIMEOUT:?}");
            false
        }
    }
}

/// GET /readyz — the database and the cache both answer, each within a second; the body
/// says which is down.
#[utoipa::path(
    tag = "system",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness))
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let (db_ok, cache_ok) = tokio::join!(
        answers("database", async {
            state.db.execute_unprepared("SELECT 1").await.map(|_| ())
        }),
        answers("cache", state.cache.ping()),
    );
    let body = Readiness {
        status: if db_ok && cache_ok {
            "ok"
        } else {
            "unavailable"
        },
        database: if db_ok { "ok" } else { "unavailable" },
        cache: if cache_ok { "ok" } else { "unavailable" },
    };
    if db_ok && cache_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// GET /metrics — Prometheus metrics: request counts and latency histograms by route and status.
#[utoipa::path(
    tag = "system",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"))
)]
#[get("/metrics")]
pub async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render())
}
