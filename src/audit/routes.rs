//! `/communities/{id}/audit` and `/streets/{id}/audit`: reading and exporting the trail.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use sea_orm::EntityTrait;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::audit::service::{self, Filter, Trail};
use crate::auth::extract::{Admin, CurrentUser, InCommunity};
use crate::entities::{audit_entry, street};
use crate::error::{AppError, AppResult, ErrorBody};
use crate::pagination::{Page, PageQuery};
use crate::state::AppState;

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// What narrows a trail. Each value is checked before it reaches a query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only what this user did.
    #[param(value_type = Option<i64>, minimum = 1)]
    pub actor_user_id: Option<String>,
    /// Only this kind of action, e.g. `membership.approved`.
    #[param(value_type = Option<audit_entry::AuditKind>)]
    pub kind: Option<String>,
    /// From this time on: RFC 3339, or YYYY-MM-DD for the start of that day (China time).
    pub from: Option<String>,
    /// Before this time: RFC 3339, or YYYY-MM-DD to include that whole day (China time).
    pub to: Option<String>,
}

impl TryFrom<&AuditQuery> for Filter {
    type Error = AppError;

    fn try_from(q: &AuditQuery) -> AppResult<Filter> {
        Filter::parse(
            q.actor_user_id.as_deref(),
            q.kind.as_deref(),
            q.from.as_deref(),
            q.to.as_deref(),
        )
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    pub id: i64,
    /// The community the action belongs to; absent for a street's or the platform's own.
    pub community_id: Option<i64>,
    /// That community's street, or the street whose own action it was (a street admin's
    /// grant, a paired unit).
    pub street_id: Option<i64>,
    /// Who acted; absent for the operator at the command line.
    pub actor_user_id: Option<i64>,
    pub kind: audit_entry::AuditKind,
    pub object_type: audit_entry::ObjectType,
    pub object_id: i64,
    /// The ids and states that matter, before and after (depends on the kind).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<audit_entry::Model> for AuditEntryView {
    type Error = AppError;

    fn try_from(e: audit_entry::Model) -> AppResult<AuditEntryView> {
        Ok(AuditEntryView {
            detail: serde_json::from_str(&e.detail)
                .map_err(|err| AppError::Internal(err.into()))?,
            id: e.id,
            community_id: e.community_id,
            street_id: e.street_id,
            actor_user_id: e.actor_user_id,
            kind: e.kind,
            object_type: e.object_type,
            object_id: e.object_id,
            created_at: e.created_at,
        })
    }
}

async fn page_of(
    state: &AppState,
    trail: Trail,
    page: &PageQuery,
    query: &AuditQuery,
) -> AppResult<Page<AuditEntryView>> {
    let keyset = page.keyset()?;
    let filter = Filter::try_from(query)?;
    let rows = service::list(&state.db, trail, &filter, keyset).await?;
    Page::from_rows(rows, keyset, |e| e.id, AuditEntryView::try_from)
}

async fn workbook(
    state: &AppState,
    trail: Trail,
    query: &AuditQuery,
    name: &str,
) -> AppResult<HttpResponse> {
    let filter = Filter::try_from(query)?;
    let rows = service::export(&state.db, trail, &filter).await?;
    let bytes = service::to_xlsx(&rows).map_err(AppError::Internal)?;
    Ok(HttpResponse::Ok()
        .content_type(XLSX)
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"audit-{name}.xlsx\""),
        ))
        .body(bytes))
}

/// A street's trail is for its street admins and platform admins; to anyone else, and for a
/// street that does not exist, there is nothing there.
async fn street_trail(state: &AppState, user: &CurrentUser, street_id: i64) -> AppResult<Trail> {
    if !user.is_street_admin(street_id) {
        return Err(AppError::not_found());
    }
    street::Entity::find_by_id(street_id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)?;
    Ok(Trail::Street(street_id))
}

/// GET /api/v1/communities/{community_id}/audit — 社区操作记录
///
/// The community's audit trail of staff actions, newest first (community admins, its street's
/// admins, platform admins).
#[utoipa::path(
    operation_id = "list_community_audit",
    tag = "audit",
    security(("bearer" = [])),
    params(("community_id" = i64, Path), PageQuery, AuditQuery),
    responses(
        (status = 200, body = Page<AuditEntryView>),
        (status = 400, description = "INVALID_PARAMETER (cursor, limit, actor_user_id, kind, from, to)", body = ErrorBody),
        (status = 401, description = "UNAUTHENTICATED, TOKEN_INVALID", body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such community, or not one of the caller's", body = ErrorBody),
    )
)]
#[get("/{community_id}/audit")]
pub async fn community_audit(
    state: web::Data<AppState>,
    ctx: InCommunity<Admin>,
    page: web::Query<PageQuery>,
    query: web::Query<AuditQuery>,
) -> AppResult<HttpResponse> {
    let trail = Trail::Community(ctx.community_id());
    Ok(HttpResponse::Ok().json(page_of(&state, trail, &page, &query).await?))
}

/// GET /api/v1/communities/{community_id}/audit/export — 导出社区操作记录
///
/// The community's trail (filtered like the list) as an Excel workbook, newest first, at most 20000
/// entries.
#[utoipa::path(
    operation_id = "export_community_audit",
    tag = "audit",
    security(("bearer" = [])),
    params(("community_id" = i64, Path), AuditQuery),
    responses(
        (status = 200, description = "The trail as an Excel workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (status = 400, description = "INVALID_PARAMETER (actor_user_id, kind, from, to)", body = ErrorBody),
        (status = 401, description = "UNAUTHENTICATED, TOKEN_INVALID", body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such community, or not one of the caller's", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED: more than 20000 entries; narrow from and to", body = ErrorBody),
    )
)]
#[get("/{community_id}/audit/export")]
pub async fn community_audit_export(
    state: web::Data<AppState>,
    ctx: InCommunity<Admin>,
    query: web::Query<AuditQuery>,
) -> AppResult<HttpResponse> {
    let id = ctx.community_id();
    workbook(
        &state,
        Trail::Community(id),
        &query,
        &format!("community-{id}"),
    )
    .await
}

/// GET /api/v1/streets/{street_id}/audit — 街道操作记录
///
/// The street's audit trail, newest first: the entries of all its communities and the street's own
/// (its street admins, platform admins).
#[utoipa::path(
    operation_id = "list_street_audit",
    tag = "audit",
    security(("bearer" = [])),
    params(("street_id" = i64, Path), PageQuery, AuditQuery),
    responses(
        (status = 200, body = Page<AuditEntryView>),
        (status = 400, description = "INVALID_PARAMETER (cursor, limit, actor_user_id, kind, from, to)", body = ErrorBody),
        (status = 401, description = "UNAUTHENTICATED, TOKEN_INVALID", body = ErrorBody),
        (status = 404, description = "No such street, or not the caller's", body = ErrorBody),
    )
)]
#[get("/{street_id}/audit")]
pub async fn street_audit(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    page: web::Query<PageQuery>,
    query: web::Query<AuditQuery>,
) -> AppResult<HttpResponse> {
    let trail = street_trail(&state, &user, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(page_of(&state, trail, &page, &query).await?))
}

/// GET /api/v1/streets/{street_id}/audit/export — 导出街道操作记录
///
/// The street's trail (filtered like the list) as an Excel workbook, newest first, at most 20000
/// entries.
#[utoipa::path(
    operation_id = "export_street_audit",
    tag = "audit",
    security(("bearer" = [])),
    params(("street_id" = i64, Path), AuditQuery),
    responses(
        (status = 200, description = "The trail as an Excel workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (status = 400, description = "INVALID_PARAMETER (actor_user_id, kind, from, to)", body = ErrorBody),
        (status = 401, description = "UNAUTHENTICATED, TOKEN_INVALID", body = ErrorBody),
        (status = 404, description = "No such street, or not the caller's", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED: more than 20000 entries; narrow from and to", body = ErrorBody),
    )
)]
#[get("/{street_id}/audit/export")]
pub async fn street_audit_export(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    query: web::Query<AuditQuery>,
) -> AppResult<HttpResponse> {
    let street_id = path.into_inner();
    let trail = street_trail(&state, &user, street_id).await?;
    workbook(&state, trail, &query, &format!("street-{street_id}")).await
}

// Registration: the routes this module serves, added to the shared scope of each first path
// segment by `crate::api`.

/// `/communities/{community_id}/audit…`.
pub fn communities_scope(cfg: &mut ServiceConfig) {
    cfg.service(community_audit).service(community_audit_export);
}

/// `/streets/{street_id}/audit…`.
pub fn streets_scope(cfg: &mut ServiceConfig) {
    cfg.service(street_audit).service(street_audit_export);
}
