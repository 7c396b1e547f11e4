//! `GET /communities/{id}/notifications`: what the community's notifications did.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::extract::{Admin, InCommunity};
use crate::entities::outbox;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::pagination::{Page, PageQuery};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct NotificationView {
    pub id: i64,
    pub user_id: i64,
    pub event: String,
    /// pending, sending, sent, failed or skipped.
    pub state: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationFilter {
    /// Only this delivery state.
    #[param(pattern = "^(pending|sending|sent|failed|skipped)$")]
    pub state: Option<String>,
}

/// GET /api/v1/communities/{community_id}/notifications — 社区通知记录
///
/// The community's notifications, newest first, with their delivery state (community admins).
#[utoipa::path(
    operation_id = "list_notifications",
    tag = "notifications",
    security(("bearer" = [])),
    params(("community_id" = i64, Path), NotificationFilter, PageQuery),
    responses(
        (status = 200, body = Page<NotificationView>),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
#[get("/{community_id}/notifications")]
pub async fn list(
    state: web::Data<AppState>,
    ctx: InCommunity<Admin>,
    filter: web::Query<NotificationFilter>,
    page: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let keyset = page.keyset()?;
    let mut query =
        outbox::Entity::find().filter(outbox::Column::CommunityId.eq(ctx.community_id()));
    if let Some(s) = filter.state.as_deref() {
        if !["pending", "sending", "sent", "failed", "skipped"].contains(&s) {
            return Err(AppError::invalid_parameter(
                "state",
                "state 须为 pending、sending、sent、failed 或 skipped",
            ));
        }
        query = query.filter(outbox::Column::State.eq(s));
    }
    // Newest first: the cursor is the last id seen, and the next page is below it.
    let rows = keyset
        .descending(query, outbox::Column::Id)
        .all(&state.db)
        .await?;
    let page = Page::from_rows(
        rows,
        keyset,
        |r| r.id,
        |r| {
            Ok(NotificationView {
                id: r.id,
                user_id: r.user_id,
                event: r.event,
                state: r.state,
                attempts: r.attempts,
                last_error: r.last_error,
                next_attempt_at: r.next_attempt_at,
                created_at: r.created_at,
                sent_at: r.sent_at,
            })
        },
    )?;
    Ok(HttpResponse::Ok().json(page))
}

// Registration: the routes this module serves, added to the shared scope of each first path
// segment by `crate::api`.

/// `/communities/{community_id}/notifications`.
pub fn communities_scope(cfg: &mut ServiceConfig) {
    cfg.service(list);
}
