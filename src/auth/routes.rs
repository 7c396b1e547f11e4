//! `/api/v1/auth/*`: WeChat login, refresh-token rotation and logout.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::extract::CurrentUser;
use crate::auth::service::{self, Tokens};
use crate::error::{AppResult, ErrorBody};
use crate::http::body::Body;
use crate::state::AppState;
use crate::users::views::Profile;

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    /// The code from `wx.login()`. In development mode, `dev:<name>` signs in as a fake user.
    #[schema(example = "dev:alice")]
    pub code: String,
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// Send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Single use: exchange it at `/auth/refresh` for a new pair.
    pub refresh_token: String,
    pub user: Profile,
}

fn token_response(state: &AppState, tokens: Tokens) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(TokenResponse {
        access_token: tokens.access_token,
        token_type: "Bearer",
        expires_in: tokens.expires_in,
        refresh_token: tokens.refresh_token,
        user: Profile::for_self(&state.crypto, &tokens.user)?,
    }))
}

/// The client's address for rate limits. Behind our load balancer it is the last
/// `X-Forwarded-For` entry — the one the balancer appended; earlier entries are whatever the
/// client chose to send, so they are never trusted.
fn client_ip(state: &AppState, req: &HttpRequest) -> String {
    let forwarded = state
        .settings
        .server
        .trust_forwarded_headers
        .then(|| req.headers().get("x-forwarded-for"))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    forwarded
        .or_else(|| req.peer_addr().map(|a| a.ip().to_string()))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// POST /api/v1/auth/login — 微信登录
///
/// Signs in with a WeChat login code; creates the user on first login.
#[utoipa::path(
    operation_id = "login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, description = "MALFORMED_JSON, WECHAT_CODE_INVALID", body = ErrorBody),
        (status = 403, description = "WECHAT_USER_BLOCKED", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED, WECHAT_RATE_LIMITED", body = ErrorBody),
        (status = 502, description = "WECHAT_ERROR", body = ErrorBody),
        (status = 503, description = "WECHAT_UNAVAILABLE, SERVICE_UNAVAILABLE", body = ErrorBody),
    )
)]
#[post("/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Body<LoginRequest>,
) -> AppResult<HttpResponse> {
    let ip = client_ip(&state, &req);
    let tokens = service::login(&state, &body.0.code, &ip).await?;
    token_response(&state, tokens)
}

/// POST /api/v1/auth/refresh — 刷新登录令牌
///
/// Exchanges a refresh token for a new access token and refresh token. A refresh token works
/// once; presenting a used one signs the whole login out.
#[utoipa::path(
    operation_id = "refresh_session",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "REFRESH_TOKEN_INVALID, REFRESH_TOKEN_REUSED", body = ErrorBody),
    )
)]
#[post("/refresh")]
pub async fn refresh(
    state: web::Data<AppState>,
    body: Body<RefreshRequest>,
) -> AppResult<HttpResponse> {
    let tokens = service::refresh(&state, &body.0.refresh_token).await?;
    token_response(&state, tokens)
}

/// POST /api/v1/auth/logout — 退出登录
///
/// Signs out: the current login's refresh token and access tokens stop working.
#[utoipa::path(
    operation_id = "logout",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "UNAUTHENTICATED, TOKEN_INVALID, TOKEN_EXPIRED", body = ErrorBody),
    )
)]
#[post("/logout")]
pub async fn logout(state: web::Data<AppState>, user: CurrentUser) -> AppResult<HttpResponse> {
    service::revoke_session(&state.db, &user.session_id, "logout").await?;
    Ok(HttpResponse::NoContent().finish())
}

// Registration: the routes this module serves, added to the shared scope of each first path
// segment by `crate::api`.

/// `/auth/…`.
pub fn auth_scope(cfg: &mut ServiceConfig) {
    cfg.service(login).service(refresh).service(logout);
}
