//! HTTP plumbing shared by every capability: the JSON body extractor, extractor error
//! handlers, request ids, metrics and the health endpoints.

pub mod body;
pub mod health;
pub mod idempotency;
pub mod methods;
pub mod middleware;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use crate::error::{AppError, ErrorCode};
use crate::http::methods::KnownPaths;

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

/// Requests no route took: a known path with a method it lacks gets 405 and `Allow`; anything
/// else gets the JSON 404 every other miss gets.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    let allowed = req
        .app_data::<web::Data<KnownPaths>>()
        .and_then(|known| known.allowed(req.path()))
        .filter(|methods| !methods.contains(req.method()));
    let Some(methods) = allowed else {
        return AppError::not_found().error_response();
    };
    let allow = methods
        .iter()
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let mut response =
        AppError::new(ErrorCode::MethodNotAllowed, "该地址不支持此请求方法").error_response();
    if let Ok(value) = header::HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}
