//! `/communities/{id}/codes` (make and list), `/codes/{scene}` (resolve, revoke, image).

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::extract::{Admin, CurrentUser, InCommunity};
use crate::codes::service::{self, Purpose};
use crate::entities::qr_code;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::http::body::Body;
use crate::pagination::{Page, PageQuery};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCode {
    pub purpose: Purpose,
    /// Days the code stays valid; absent means until revoked.
    pub valid_days: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct CodeView {
    /// The short random id the mini-program code carries.
    pub scene: String,
    pub purpose: Purpose,
    pub community_id: i64,
    pub target_id: i64,
    /// The mini-program page the code opens.
    pub page: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Where to fetch the image (community admins).
    pub image_url: String,
    pub created_at: DateTime<Utc>,
}

fn view(m: qr_code::Model) -> AppResult<CodeView> {
    let purpose = Purpose::parse(&m.purpose)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("code with unknown purpose")))?;
    Ok(CodeView {
        image_url: format!("/api/v1/codes/{}/image", m.scene),
        scene: m.scene,
        purpose,
        community_id: m.community_id,
        target_id: m.target_id,
        page: m.page,
        expires_at: m.expires_at,
        revoked_at: m.revoked_at,
        created_at: m.created_at,
    })
}

/// What a scanned code opens.
#[derive(Serialize, ToSchema)]
pub struct ResolvedCode {
    pub scene: String,
    pub purpose: Purpose,
    pub community_id: i64,
    pub community_name: String,
    pub target_id: i64,
    pub page: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// POST /api/v1/communities/{community_id}/codes — 生成小程序码
///
/// Makes a code for the community (community admins), e.g. the join poster's code.
#[utoipa::path(
    operation_id = "create_code",
    tag = "codes",
    security(("bearer" = [])),
    params(("community_id" = i64, Path)),
    request_body = NewCode,
    responses(
        (status = 201, body = CodeView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
#[post("/{community_id}/codes")]
pub async fn create(
    state: web::Data<AppState>,
    ctx: InCommunity<Admin>,
    body: Body<NewCode>,
) -> AppResult<HttpResponse> {
    let b = body.into_inner();
    let code = service::create(
        &state,
        &ctx.user,
        ctx.community_id(),
        b.purpose,
        b.valid_days,
    )
    .await?;
    Ok(HttpResponse::Created().json(view(code)?))
}

/// GET /api/v1/communities/{community_id}/codes — 社区小程序码列表
///
/// The community's codes, oldest first (community admins).
#[utoipa::path(
    operation_id = "list_codes",
    tag = "codes",
    security(("bearer" = [])),
    params(("community_id" = i64, Path), PageQuery),
    responses((status = 200, body = Page<CodeView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/{community_id}/codes")]
pub async fn list(
    state: web::Data<AppState>,
    ctx: InCommunity<Admin>,
    page: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let keyset = page.keyset()?;
    let rows = service::list(&state, ctx.community_id(), keyset).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(rows, keyset, |c| c.id, view)?))
}

/// GET /api/v1/codes/{scene} — 解析扫码场景
///
/// Tells the mini-program what a scanned code opens — or that it expired or was revoked.
#[utoipa::path(
    operation_id = "resolve_code",
    tag = "codes",
    security(("bearer" = [])),
    params(("scene" = String, Path)),
    responses(
        (status = 200, body = ResolvedCode),
        (status = 404, body = ErrorBody),
        (status = 410, description = "CODE_EXPIRED, CODE_REVOKED", body = ErrorBody),
    )
)]
#[get("/{scene}")]
pub async fn resolve(
    state: web::Data<AppState>,
    _user: CurrentUser,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    let (code, community) = service::resolve(&state, &path.into_inner()).await?;
    let v = view(code)?;
    Ok(HttpResponse::Ok().json(ResolvedCode {
        scene: v.scene,
        purpose: v.purpose,
        community_id: v.community_id,
        community_name: community.name,
        target_id: v.target_id,
        page: v.page,
        expires_at: v.expires_at,
    }))
}

/// POST /api/v1/codes/{scene}/revoke — 停用小程序码
///
/// Stops a code from working (community admins). Printed posters then resolve as revoked.
#[utoipa::path(
    operation_id = "revoke_code",
    tag = "codes",
    security(("bearer" = [])),
    params(("scene" = String, Path)),
    responses((status = 200, body = CodeView), (status = 404, body = ErrorBody))
)]
#[post("/{scene}/revoke")]
pub async fn revoke(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    let code = service::revoke(&state, &user, &path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view(code)?))
}

/// GET /api/v1/codes/{scene}/image — 小程序码图片
///
/// The code's image, to print (community admins): a WeChat mini-program code, or a plain QR
/// code in development mode. Made once, then served from storage.
#[utoipa::path(
    operation_id = "get_code_image",
    tag = "codes",
    security(("bearer" = [])),
    params(("scene" = String, Path)),
    responses(
        (status = 200, description = "The image: WeChat's PNG or JPEG, or an SVG QR code in development mode",
            content(("image/png"), ("image/jpeg"), ("image/webp"), ("image/svg+xml"))),
        (status = 404, body = ErrorBody),
        (status = 410, description = "CODE_EXPIRED, CODE_REVOKED", body = ErrorBody),
        (status = 429, description = "WECHAT_RATE_LIMITED", body = ErrorBody),
        (status = 502, description = "WECHAT_ERROR", body = ErrorBody),
        (status = 503, description = "WECHAT_UNAVAILABLE", body = ErrorBody),
    )
)]
#[get("/{scene}/image")]
pub async fn image(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    let (bytes, content_type) = service::image(&state, &user, &path.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Cache-Control", "private, max-age=3600"))
        .body(bytes))
}

// Registration: the routes this module serves, added to the shared scope of each first path
// segment by `crate::api`.

/// `/communities/{community_id}/codes`.
pub fn communities_scope(cfg: &mut ServiceConfig) {
    cfg.service(create).service(list);
}

/// `/codes/{scene}`: resolve, revoke, image.
pub fn codes_scope(cfg: &mut ServiceConfig) {
    cfg.service(resolve).service(revoke).service(image);
}
