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

/// The process is alive.
#[utoipa::path(tag = "system", responses((status = 200, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// The database and the cache both answer.
#[utoipa::path(
    tag = "system",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness))
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let db_ok = state
        .db
        .execute_unprepared("SELECT 1")
        .await
        .map_err(|e| tracing::warn!(error = %e, "database not ready"))
        .is_ok();
    let cache_ok = state
        .cache
        .ping()
        .await
        .map_err(|e| tracing::warn!(error = %e, "cache not ready"))
        .is_ok();
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

/// Prometheus metrics: request counts and latency histograms by route and status.
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
