//! The moderation queue: `/communities/{id}/moderation` for community admins, `/moderation`
//! for platform-level items (nicknames), and decisions on single items.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::extract::{Admin, CurrentUser, InCommunity};
use crate::entities::moderation_item;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::http::body::Body;
use crate::moderation::queue::{self, Decision};
use crate::pagination::{Page, PageQuery};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct ModerationItemView {
    pub id: i64,
    pub community_id: Option<i64>,
    /// nickname (later: wish, topic, thanks).
    pub kind: String,
    pub target_id: i64,
    pub author_id: i64,
    pub content: String,
    /// wechat_review, wechat_unreachable or local_wordlist.
    pub source: String,
    pub label: Option<String>,
    /// pending, approved, rejected, or superseded (replaced by newer content, or its author
    /// erased their account).
    pub status: String,
    pub reason: Option<String>,
    pub reviewed_by: Option<i64>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<moderation_item::Model> for ModerationItemView {
    fn from(m: moderation_item::Model) -> Self {
        Self {
            id: m.id,
            community_id: m.community_id,
            kind: m.kind,
            target_id: m.target_id,
            author_id: m.author_id,
            content: m.content,
            source: m.source,
            label: m.label,
            status: m.status,
            reason: m.reason,
            reviewed_by: m.reviewed_by,
            reviewed_at: m.reviewed_at,
            created_at: m.created_at,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusFilter {
    /// pending (default), approved, rejected or superseded.
    #[param(pattern = "^(pending|approved|rejected|superseded)$")]
    pub status: Option<String>,
}

fn status(filter: &StatusFilter) -> AppResult<&str> {
    match filter.status.as_deref().unwrap_or("pending") {
        s @ ("pending" | "approved" | "rejected" | "superseded") => Ok(s),
        _ => Err(AppError::invalid_parameter(
            "status",
            "status 须为 pending、approved、rejected 或 superseded",
        )),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectItem {
    /// Why it is not published.
    pub reason: String,
}

async fn page_of(
    state: &AppState,
    community_id: Option<i64>,
    filter: &StatusFilter,
    page: &PageQuery,
) -> AppResult<Page<ModerationItemView>> {
    let keyset = page.keyset()?;
    let rows = queue::list(state, community_id, status(filter)?, keyset).await?;
    Page::from_rows(rows, keyset, |m| m.id, |m| Ok(ModerationItemView::from(m)))
}

/// GET /api/v1/communities/{community_id}/moderation — 社区内容审核队列
///
/// The community's moderation queue (community admins).
#[utoipa::path(
    operation_id = "list_community_moderation",
    tag = "moderation",
    security(("bearer" = [])),
    params(("community_id" = i64, Path), StatusFilter, PageQuery),
    responses(
        (status = 200, body = Page<ModerationItemView>),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
#[get("/{community_id}/moderation")]
pub async fn community_queue(
    state: web::Data<AppState>,
    ctx: InCommunity<Admin>,
    filter: web::Query<StatusFilter>,
    page: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let page = page_of(&state, Some(ctx.community_id()), &filter, &page).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// GET /api/v1/moderation — 平台内容审核队列
///
/// Platform-level items, such as nicknames (platform admins).
#[utoipa::path(
    operation_id = "list_platform_moderation",
    tag = "moderation",
    security(("bearer" = [])),
    params(StatusFilter, PageQuery),
    responses((status = 200, body = Page<ModerationItemView>), (status = 403, body = ErrorBody))
)]
#[get("")]
pub async fn platform_queue(
    state: web::Data<AppState>,
    user: CurrentUser,
    filter: web::Query<StatusFilter>,
    page: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    user.require_platform_admin()?;
    let page = page_of(&state, None, &filter, &page).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// POST /api/v1/moderation/{item_id}/approve — 审核通过内容
///
/// Approves held content: it is published where it belongs.
#[utoipa::path(
    operation_id = "approve_moderation_item",
    tag = "moderation",
    security(("bearer" = [])),
    params(("item_id" = i64, Path)),
    responses(
        (status = 200, body = ModerationItemView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "MODERATION_DECIDED", body = ErrorBody),
    )
)]
#[post("/{item_id}/approve")]
pub async fn approve(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let item = queue::decide(&state, &user, path.into_inner(), Decision::Approve).await?;
    Ok(HttpResponse::Ok().json(ModerationItemView::from(item)))
}

/// POST /api/v1/moderation/{item_id}/reject — 审核驳回内容
///
/// Rejects held content with a reason; it stays unpublished.
#[utoipa::path(
    operation_id = "reject_moderation_item",
    tag = "moderation",
    security(("bearer" = [])),
    params(("item_id" = i64, Path)),
    request_body = RejectItem,
    responses(
        (status = 200, body = ModerationItemView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "MODERATION_DECIDED", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
#[post("/{item_id}/reject")]
pub async fn reject(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    body: Body<RejectItem>,
) -> AppResult<HttpResponse> {
    let item = queue::decide(
        &state,
        &user,
        path.into_inner(),
        Decision::Reject {
            reason: body.into_inner().reason,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(ModerationItemView::from(item)))
}

// Registration: the routes this module serves, added to the shared scope of each first path
// segment by `crate::api`.

/// `/communities/{community_id}/moderation`.
pub fn communities_scope(cfg: &mut ServiceConfig) {
    cfg.service(community_queue);
}

/// `/moderation`: the platform queue and decisions on single items.
pub fn moderation_scope(cfg: &mut ServiceConfig) {
    cfg.service(platform_queue).service(approve).service(reject);
}
