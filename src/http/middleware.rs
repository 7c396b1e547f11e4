//! Per-request context: a request id (taken from `X-Request-Id` when it is sane, otherwise
//! made up) echoed back in the response, a tracing span carrying it, one log line per
//! request with the route pattern (never the raw path or query), and metrics.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, web};
use tracing::Instrument;

use crate::error::AppError;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Standard methods by name; anything else a client invents is one label, so clients cannot
/// grow the metrics without bound.
fn metric_method(method: &actix_web::http::Method) -> String {
    use actix_web::http::Method;
    let known = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
    ];
    if known.contains(method) {
        method.to_string()
    } else {
        "OTHER".to_owned()
    }
}

/// A successful write may change who may do what: this process's read copies of users and
/// standings go (see `reads`). The wish walls' copies are forgotten by the services that
/// change a wish, on every path (jobs and erasure included), not here.
fn forget_after_write<B>(res: &ServiceResponse<B>) {
    use actix_web::http::Method;
    let method = res.request().method();
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) || !res.status().is_success()
    {
        return;
    }
    if let Some(state) = res
        .request()
        .app_data::<web::Data<crate::state::AppState>>()
    {
        state.reads.forget_standing();
    }
}

/// A NUL character in the path or the query (`%00`) can name nothing, and PostgreSQL cannot
/// store or compare it: refused here, once, before any handler passes it to a query. (A raw
/// NUL cannot reach this far: the HTTP parser refuses it; in a JSON body `Body` refuses it.)
fn refuse_nul(req: &ServiceRequest) -> Option<AppError> {
    if req.path().contains("%00") {
        return Some(AppError::not_found());
    }
    let query = req.query_string();
    if !query.contains("%00") {
        return None;
    }
    let field = query
        .split('&')
        .find(|pair| pair.contains("%00"))
        .and_then(|pair| pair.split('=').next())
        .filter(|name| !name.is_empty() && !name.contains('%'))
        .unwrap_or("query");
    Some(AppError::invalid_parameter(
        field,
        "查询参数含有不允许的字符",
    ))
}

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let id = request_id(&req);
    let method = metric_method(req.method());
    let metrics = req
        .app_data::<web::Data<crate::state::AppState>>()
        .map(|state| state.metrics.clone());
    let counted = metrics.as_ref().map(|m| m.request_started());
    let span = tracing::info_span!("request", request_id = %id, method = %method);
    let started = Instant::now();
    let mut res = match refuse_nul(&req) {
        Some(err) => req.error_response(err),
        None => next
            .call(req)
            .instrument(span.clone())
            .await?
            .map_into_boxed_body(),
    };
    let elapsed = started.elapsed();
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = res.status().as_u16();
    forget_after_write(&res);
    drop(counted);
    if let Some(metrics) = &metrics {
        metrics.observe_request(&method, &route, status, elapsed);
    }
    span.in_scope(|| {
        tracing::info!(
            route = %route,
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        )
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(res)
}
