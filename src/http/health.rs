//! `/healthz` (the process answers), `/readyz` (database and cache reachable) and `/metrics`.

use actix_web::{HttpResponse, get, web};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

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

/// GET /healthz — 存活检查
///
/// The process is alive.
#[utoipa::path(operation_id = "healthz", tag = "system", responses((status = 200, body = Health)))]
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

/// GET /readyz — 就绪检查
///
/// The database and the cache both answer, each within a second; the body says which is down.
#[utoipa::path(
    operation_id = "readyz",
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

/// GET /metrics — 运行指标
///
/// What an operator needs when something goes wrong (see `crate::metrics`).
#[utoipa::path(
    operation_id = "metrics",
    tag = "system",
    responses((status = 200, description = "OpenMetrics text format", content_type = "application/openmetrics-text"))
)]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    sample(&state).await;
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.encode())
}

/// Reads what is measured by looking rather than counting: the pool, the outbox, wishes by
/// state and the process. Each look is bounded, so `/metrics` answers with the database down
/// (the gauges then keep their last values, and the acquire probe says -1).
async fn sample(state: &AppState) {
    let m = &state.metrics;
    m.sample_process();
    m.pool_max
        .set(i64::from(state.settings.database.max_connections));
    if let Some(pool) = crate::db::pool_stats(&state.db, PROBE_TIMEOUT).await {
        m.pool_size.set(i64::from(pool.open));
        m.pool_idle.set(pool.idle as i64);
        m.pool_acquire_seconds
            .set(pool.acquire.map_or(-1.0, |d| d.as_secs_f64()));
    }
    let backlog = tokio::time::timeout(
        PROBE_TIMEOUT,
        crate::notifications::outbox::backlog(&state.db),
    );
    if let Ok(Ok((pending, oldest))) = backlog.await {
        m.outbox_pending.set(pending);
        let age = oldest.map_or(0.0, |t| {
            (chrono::Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0
        });
        m.outbox_oldest_pending_seconds.set(age);
    }
    let sold = tokio::time::timeout(PROBE_TIMEOUT, crate::merchants::receipts::totals(&state.db));
    match sold.await {
        Ok(Ok((n, beans))) => {
            m.redemptions.set(n);
            m.beans_spent.set(beans);
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "redemption totals for /metrics failed"),
        Err(_) => {}
    }
    let wishes = tokio::time::timeout(
        PROBE_TIMEOUT,
        crate::wishes::staff::count_by_state(&state.db),
    );
    if let Ok(Ok(counts)) = wishes.await {
        m.wishes.clear();
        for (wish_state, n) in counts {
            m.wishes
                .get_or_create(&crate::metrics::StateLabels { state: wish_state })
                .set(n);
        }
    }
}

// Registration: the routes this module serves, added to the shared scope of each first path
// segment by `crate::api`.

/// `/healthz`, `/readyz` and `/metrics`, outside `/api/v1`.
pub fn root(cfg: &mut ServiceConfig) {
    cfg.service(healthz).service(readyz).service(metrics);
}
