//! `/api/v1/merchants/{merchant_id}/staff`: the shop's staff, and removing one.

use actix_web::{HttpResponse, delete, get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::extract::CurrentUser;
use crate::error::{AppResult, ErrorBody};
use crate::merchants::staff::{self, masked_nickname};
use crate::pagination::{Page, PageQuery};
use crate::state::AppState;
use crate::users::views::masked_phone;

#[derive(Serialize, ToSchema)]
pub struct StaffView {
    /// The `merchant_staff` role grant that makes them staff.
    pub grant_id: i64,
    pub user_id: i64,
    /// 王**: the nickname's first character.
    pub nickname_masked: String,
    /// 138****1234; shown to those who manage the shop, not to colleagues.
    pub phone_masked: Option<String>,
    /// When they joined with their invitation code.
    pub joined_at: DateTime<Utc>,
    /// Sales they made by scanning residents' pay codes, reversed ones included.
    pub redemptions: i64,
}

/// GET /api/v1/merchants/{merchant_id}/staff — 店员列表
///
/// The shop's staff, by when they joined.
///
/// For those who manage the shop (its home community's admins, the street's, platform
/// admins), and for its staff, who see their colleagues without phone numbers. Others get
/// 404.
#[utoipa::path(
    operation_id = "list_merchant_staff",
    tag = "merchants",
    security(("bearer" = [])),
    params(("merchant_id" = i64, Path), PageQuery),
    responses(
        (status = 200, body = Page<StaffView>),
        (status = 400, description = "INVALID_PARAMETER", body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
#[get("/{merchant_id}/staff")]
pub async fn list_staff(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    page: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let keyset = page.keyset()?;
    let listing = staff::list(&state, &user, path.into_inner(), keyset).await?;
    let is_manager = listing.is_manager;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        listing.staff,
        keyset,
        |s| s.grant.id,
        |s| {
            let phone_masked = match (&s.user, is_manager) {
                (Some(u), true) => masked_phone(&state.crypto, u)?,
                _ => None,
            };
            Ok(StaffView {
                grant_id: s.grant.id,
                user_id: s.grant.user_id,
                nickname_masked: s
                    .user
                    .as_ref()
                    .map(masked_nickname)
                    .unwrap_or_else(|| "**".to_owned()),
                phone_masked,
                joined_at: s.grant.created_at,
                redemptions: s.redemptions,
            })
        },
    )?))
}

/// DELETE /api/v1/merchants/{merchant_id}/staff/{user_id} — 移除店员
///
/// Removes a member of staff.
///
/// For those who manage the shop. The removed member can no longer redeem at its counter or
/// see its books; their past sales stay on the shop's records under their id.
#[utoipa::path(
    operation_id = "remove_merchant_staff",
    tag = "merchants",
    security(("bearer" = [])),
    params(("merchant_id" = i64, Path), ("user_id" = i64, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "no such shop for the caller, or not on its staff", body = ErrorBody),
    )
)]
#[delete("/{merchant_id}/staff/{user_id}")]
pub async fn remove_staff(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<(i64, i64)>,
) -> AppResult<HttpResponse> {
    let (merchant_id, user_id) = path.into_inner();
    staff::remove(&state, &user, merchant_id, user_id).await?;
    Ok(HttpResponse::NoContent().finish())
}
