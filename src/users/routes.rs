//! `/api/v1/me*`: the signed-in user's own account.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::extract::CurrentUser;
use crate::auth::roles::Role;
use crate::entities::role_grant;
use crate::error::{AppResult, ErrorBody};
use crate::http::body::Body;
use crate::state::AppState;
use crate::users::service::{self, ProfileChanges};
use crate::users::views::Profile;

#[derive(Serialize, ToSchema)]
pub struct GrantView {
    pub id: i64,
    pub role: Role,
    /// The community id for community roles, the street id for `street_admin`, 0 for
    /// `platform_admin`.
    pub scope_id: i64,
}

impl GrantView {
    pub fn from_model(g: &role_grant::Model) -> Option<Self> {
        Some(GrantView {
            id: g.id,
            role: Role::parse(&g.role)?,
            scope_id: g.scope_id,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct MyMembership {
    pub membership_id: i64,
    pub community_id: i64,
    pub community_name: Option<String>,
    /// pending, verified, rejected or left.
    pub status: String,
    pub household_id: Option<i64>,
    pub reject_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub profile: Profile,
    pub memberships: Vec<MyMembership>,
    pub roles: Vec<GrantView>,
    /// Fields of this edit held for moderation (content check said "review"); they take
    /// effect once approved. Only in the answer to `PATCH /me`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub under_review: Vec<&'static str>,
}

#[derive(Serialize, ToSchema)]
pub struct MySession {
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Everything Linli holds about the user (PIPL access and portability), each capability
/// contributing its part. Left out, by design: records of what they did as staff to others'
/// records (reviews, grants, awards they made — in the audit trail of that community), hashes
/// of one-minute pay codes and of tokens, and the invitation code they joined a shop with
/// (their staff role is under `roles`).
#[derive(Serialize, ToSchema)]
pub struct MyData {
    pub exported_at: DateTime<Utc>,
    pub profile: Profile,
    /// The WeChat openid this account signs in with.
    pub openid: String,
    pub unionid: Option<String>,
    pub memberships: Vec<MyMembership>,
    pub roles: Vec<GrantView>,
    pub sessions: Vec<MySession>,
    /// Photos the user uploaded, with signed URLs to fetch them.
    pub uploads: Vec<MyUpload>,
    /// What the user wrote that went to moderation, and what became of it.
    pub moderation: Vec<MyModeration>,
    /// Wishes they posted, or that were posted for them.
    pub wishes: Vec<crate::wishes::service::MyWishData>,
    /// Wishes they claimed as a volunteer, in every round.
    pub wish_claims: Vec<crate::wishes::account::MyClaimData>,
    /// Paired units they claim wishes for.
    pub pair_units: Vec<crate::wishes::account::MyUnitMembership>,
    /// 金豆: each wallet's balance and lots, every movement, every award.
    pub beans: crate::points::account::MyBeansData,
    /// What they bought at shops (receipts, counter-code payments), and sales they made as
    /// a shop's staff.
    pub shopping: crate::merchants::account::MyShopData,
    /// Notifications sent or queued for them.
    pub notifications: Vec<crate::notifications::account::MyNotification>,
}

#[derive(Serialize, ToSchema)]
pub struct MyUpload {
    pub id: String,
    pub community_id: i64,
    pub content_type: String,
    pub size: i64,
    pub url: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct MyModeration {
    pub kind: String,
    pub content: String,
    pub status: String,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    #[schema(example = "王阿姨")]
    pub nickname: Option<String>,
    /// An https URL.
    pub avatar_url: Option<String>,
    pub is_party_member: Option<bool>,
    /// 在职党员报到: the member's work unit (party members only).
    pub party_work_unit: Option<String>,
    /// 在职党员报到: the community the member reports to (party members only).
    pub party_report_community_id: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
pub struct BindPhone {
    /// The code from the mini-program's `getPhoneNumber` button.
    pub code: String,
}

async fn me_view(state: &AppState, current: &CurrentUser) -> AppResult<Me> {
    let account = service::account(state, current).await?;
    Ok(Me {
        profile: Profile::for_self(&state.crypto, &account.user)?,
        memberships: memberships(&account),
        roles: account
            .grants
            .iter()
            .filter_map(GrantView::from_model)
            .collect(),
        under_review: Vec::new(),
    })
}

fn memberships(account: &service::Account) -> Vec<MyMembership> {
    account
        .memberships
        .iter()
        .map(|(m, c)| MyMembership {
            membership_id: m.id,
            community_id: m.community_id,
            community_name: c.as_ref().map(|c| c.name.clone()),
            status: m.status.clone(),
            household_id: m.household_id,
            reject_reason: m.reject_reason.clone(),
            created_at: m.created_at,
        })
        .collect()
}

/// GET /api/v1/me — 我的资料
///
/// The signed-in user: profile (with their own full phone number), communities and roles.
#[utoipa::path(
    operation_id = "get_me",
    tag = "me",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Me),
        (status = 401, description = "UNAUTHENTICATED, TOKEN_INVALID, TOKEN_EXPIRED", body = ErrorBody),
    )
)]
#[get("")]
pub async fn get_me(state: web::Data<AppState>, user: CurrentUser) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(me_view(&state, &user).await?))
}

/// PATCH /api/v1/me — 修改我的资料
///
/// Changes the nickname, avatar or party-member details. Absent fields stay as they are.
/// The nickname goes through the content check: risky is refused (`CONTENT_RISKY`), and one
/// WeChat wants reviewed (or that could not be checked) waits for a platform admin, listed in
/// `under_review`.
#[utoipa::path(
    operation_id = "update_me",
    tag = "me",
    security(("bearer" = [])),
    request_body = UpdateMe,
    responses(
        (status = 200, body = Me),
        (status = 401, body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED, CONTENT_RISKY", body = ErrorBody),
    )
)]
#[patch("")]
pub async fn update_me(
    state: web::Data<AppState>,
    user: CurrentUser,
    body: Body<UpdateMe>,
) -> AppResult<HttpResponse> {
    let b = body.into_inner();
    let updated = service::update_profile(
        &state,
        &user,
        ProfileChanges {
            nickname: b.nickname,
            avatar_url: b.avatar_url,
            is_party_member: b.is_party_member,
            party_work_unit: b.party_work_unit,
            party_report_community_id: b.party_report_community_id,
        },
    )
    .await?;
    let current = CurrentUser {
        user: updated.user,
        ..user
    };
    let mut me = me_view(&state, &current).await?;
    me.under_review = updated.under_review;
    Ok(HttpResponse::Ok().json(me))
}

/// POST /api/v1/me/phone — 绑定手机号
///
/// Binds the phone number WeChat confirms for the user. Stored encrypted; others see it masked.
#[utoipa::path(
    operation_id = "bind_phone",
    tag = "me",
    security(("bearer" = [])),
    request_body = BindPhone,
    responses(
        (status = 200, body = Profile),
        (status = 400, description = "WECHAT_CODE_INVALID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 409, description = "PHONE_TAKEN", body = ErrorBody),
        (status = 429, description = "WECHAT_RATE_LIMITED", body = ErrorBody),
        (status = 502, description = "WECHAT_ERROR", body = ErrorBody),
        (status = 503, description = "WECHAT_UNAVAILABLE", body = ErrorBody),
    )
)]
#[post("/phone")]
pub async fn bind_phone(
    state: web::Data<AppState>,
    user: CurrentUser,
    body: Body<BindPhone>,
) -> AppResult<HttpResponse> {
    let updated = service::bind_phone(&state, &user, &body.0.code).await?;
    Ok(HttpResponse::Ok().json(Profile::for_self(&state.crypto, &updated)?))
}

/// GET /api/v1/me/export — 导出我的数据
///
/// Everything Linli holds about the user (PIPL right of access).
///
/// One JSON file: profile, memberships, roles, sessions, photos, moderated texts, wishes
/// posted or for them, wish claims, paired units, 金豆 wallets with every movement and award,
/// purchases (receipts and counter payments) and sales made as a shop's staff, and
/// notifications. Left out: staff actions on other people's records, and hashes of pay codes
/// and tokens.
#[utoipa::path(
    operation_id = "export_me",
    tag = "me",
    security(("bearer" = [])),
    responses((status = 200, body = MyData), (status = 401, body = ErrorBody))
)]
#[get("/export")]
pub async fn export_me(state: web::Data<AppState>, user: CurrentUser) -> AppResult<HttpResponse> {
    let export = service::export(&state, &user).await?;
    let a = &export.account;
    let data = MyData {
        exported_at: Utc::now(),
        profile: Profile::for_self(&state.crypto, &a.user)?,
        openid: a.user.openid.clone(),
        unionid: a.user.unionid.clone(),
        memberships: memberships(a),
        roles: a.grants.iter().filter_map(GrantView::from_model).collect(),
        sessions: export
            .sessions
            .iter()
            .map(|s| MySession {
                created_at: s.created_at,
                revoked_at: s.revoked_at,
            })
            .collect(),
        uploads: export
            .uploads
            .iter()
            .map(|u| MyUpload {
                id: u.id.clone(),
                community_id: u.community_id,
                content_type: u.content_type.clone(),
                size: u.size,
                url: crate::uploads::service::signed_url(&state, &u.id),
                created_at: u.created_at,
            })
            .collect(),
        moderation: export
            .moderation
            .iter()
            .map(|m| MyModeration {
                kind: m.kind.clone(),
                content: m.content.clone(),
                status: m.status.clone(),
                reason: m.reason.clone(),
                created_at: m.created_at,
            })
            .collect(),
        wishes: export.wishes,
        wish_claims: export.claims,
        pair_units: export.pair_units,
        beans: export.beans,
        shopping: export.shopping,
        notifications: export.notifications,
    };
    Ok(HttpResponse::Ok()
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"linli-my-data.json\"",
        ))
        .json(data))
}

/// DELETE /api/v1/me — 注销账号
///
/// Erases the account.
///
/// Personal data is erased and every login signed out. Records others rely on stay, detached
/// from the person: claims, wishes' photos and proof of fulfilment, offers' photos (owned by
/// no one, still private to their community), receipts, the ledger.
#[utoipa::path(
    operation_id = "delete_me",
    tag = "me",
    security(("bearer" = [])),
    responses((status = 204, description = "Erased"), (status = 401, body = ErrorBody))
)]
#[delete("")]
pub async fn delete_me(state: web::Data<AppState>, user: CurrentUser) -> AppResult<HttpResponse> {
    service::erase(&state, &user).await?;
    Ok(HttpResponse::NoContent().finish())
}

// Registration: the routes this module serves, added to the shared scope of each first path
// segment by `crate::api`.

/// `/me…`: the profile first, the most read.
pub fn me_scope(cfg: &mut ServiceConfig) {
    cfg.service(get_me)
        .service(update_me)
        .service(bind_phone)
        .service(export_me)
        .service(delete_me);
}
