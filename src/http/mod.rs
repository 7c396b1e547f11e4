//! HTTP plumbing shared by every capability: the JSON body extractor, extractor error
//! handlers, request ids, metrics and the health endpoints.

pub mod body;
pub mod health;
pub mod idempotency;
pub mod middleware;

use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use crate::error::AppError;

/// Path segments that do not parse (a non-numeric id) name nothing that exists.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_, _| AppError::not_found().into())
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _| {
        let detail = err.to_string();
        let field = detail
            .split('`')
            .nth(1)
            .map(str::to_owned)
            .unwrap_or_else(|| "query".to_owned());
        AppError::invalid_parameter(&field, "查询参数有误").into()
    })
}

/// Unknown routes get the JSON 404 every other miss gets.
pub async fn not_found(_: HttpRequest) -> HttpResponse {
    AppError::not_found().error_response()
}
