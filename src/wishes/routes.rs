//! `/communities/{id}/wishes` (post, the wall, staff figures, attention, export),
//! `/wishes/{id}` (one wish and every step of its life, its share code), `/me/wishes` and
//! `/me/wish-claims` (the caller's own), `/streets/{id}/wishes` (the street-wide wall) and
//! `/pair-units` (结对单位).

use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::extract::{CommunityGuard, CurrentUser, InCommunity, Member, Reviewer};
use crate::entities::wish;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::http::body::Body;
use crate::pagination::{Page, PageQuery};
use crate::state::AppState;
use crate::wishes::service::{self, OnBehalf, WallOrder, WishInput};
use crate::wishes::state::WishState;
use crate::wishes::views::{WishCard, WishDetail, card, detail};
use crate::wishes::{rules, staff, units};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnBehalfInput {
    /// The beneficiary's name (shown to others only as 王**).
    pub name: String,
    pub phone: Option<String>,
    pub address: Option<String>,
    /// The beneficiary agreed to this wish being posted for them.
    pub consent: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWish {
    #[schema(example = "想要一台收音机")]
    pub title: String,
    pub description: String,
    /// One of the community's categories (生活用品, 学习用品, 助医, 陪伴, 维修, 其他 by default).
    #[schema(example = "生活用品")]
    pub category: String,
    /// In yuan; at most the configured cap (¥200 by default).
    pub estimated_cost: i64,
    /// 低保户, 残疾人, 独居老人, 留守儿童, 外来务工人员 or 其他.
    pub beneficiary_group: String,
    /// The resident's own name, when posting for themselves (shown as 王**).
    pub beneficiary_name: Option<String>,
    /// How the claimer reaches the beneficiary (shown only to the claimer, poster and staff).
    pub contact_phone: Option<String>,
    pub address: Option<String>,
    /// The latest moment the wish is still useful.
    pub due_at: DateTime<Utc>,
    #[serde(default)]
    pub photo_upload_ids: Vec<String>,
    /// 代录: a grid worker or building leader posting for someone without a phone.
    pub on_behalf: Option<OnBehalfInput>,
}

impl NewWish {
    fn input(&self) -> WishInput<'_> {
        WishInput {
            title: &self.title,
            description: &self.description,
            category: &self.category,
            estimated_cost: self.estimated_cost,
            beneficiary_group: &self.beneficiary_group,
            beneficiary_name: self.beneficiary_name.as_deref(),
            contact_phone: self.contact_phone.as_deref(),
            address: self.address.as_deref(),
            due_at: self.due_at,
            photo_upload_ids: &self.photo_upload_ids,
            on_behalf: self.on_behalf.as_ref().map(|b| OnBehalf {
                name: &b.name,
                phone: b.phone.as_deref(),
                address: b.address.as_deref(),
                consent: b.consent,
            }),
        }
    }
}

/// Answers with the wish as the caller may see it.
async fn show(state: &AppState, current: &CurrentUser, w: wish::Model) -> AppResult<HttpResponse> {
    let (w, access) = service::load(state, current, w.id).await?;
    let s = service::standing(&w, current, &access);
    Ok(HttpResponse::Ok().json(detail(state, &w, &s)?))
}

/// POST /api/v1/communities/{community_id}/wishes — 发布心愿
///
/// Posts a wish (verified residents for themselves; grid workers and building leaders on
/// behalf of someone, 代录). Text goes through the content check; the wish then waits for a
/// community admin.
#[utoipa::path(
    operation_id = "post_wish",
    tag = "wishes",
    security(("bearer" = [])),
    params(("community_id" = i64, Path)),
    request_body = NewWish,
    responses(
        (status = 201, body = WishDetail),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED, CONTENT_RISKY", body = ErrorBody),
    )
)]
#[post("/{community_id}/wishes")]
pub async fn post_wish(
    state: web::Data<AppState>,
    ctx: InCommunity<Member>,
    body: Body<NewWish>,
) -> AppResult<HttpResponse> {
    let w = service::post(&state, &ctx.user, &ctx.access, body.0.input()).await?;
    let s = service::standing(&w, &ctx.user, &ctx.access);
    Ok(HttpResponse::Created().json(detail(&state, &w, &s)?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WallQuery {
    /// Comma-separated states; `published` by default. Residents may ask for published,
    /// claimed, fulfilled and confirmed; staff for any.
    #[param(
        pattern = r"^\s*(pending_review|published|claimed|fulfilled|confirmed|disputed|rejected|withdrawn)\s*(,\s*(pending_review|published|claimed|fulfilled|confirmed|disputed|rejected|withdrawn)\s*)*$"
    )]
    pub state: Option<String>,
    pub category: Option<String>,
    /// `newest` (default) or `due` (soonest due first).
    #[param(pattern = "^(newest|due)$")]
    pub order: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
}

/// GET /api/v1/communities/{community_id}/wishes — 心愿墙
///
/// The community's wish wall, keyset-paged.
#[utoipa::path(
    operation_id = "list_community_wishes",
    tag = "wishes",
    security(("bearer" = [])),
    params(("community_id" = i64, Path), WallQuery),
    responses(
        (status = 200, body = Page<WishCard>),
        (status = 400, description = "INVALID_PARAMETER", body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
#[get("/{community_id}/wishes")]
pub async fn wall(
    state: web::Data<AppState>,
    ctx: InCommunity<Member>,
    query: web::Query<WallQuery>,
) -> AppResult<HttpResponse> {
    let q = query.into_inner();
    let staff = Reviewer::allows(&ctx.access);
    // The first page is what nearly everyone reads: served from a short-lived copy.
    let key = q.cursor.is_none().then(|| {
        format!(
            "{}|{}|{}|{}|{:?}|{}",
            ctx.community_id(),
            staff,
            q.state.as_deref().unwrap_or("published"),
            q.category.as_deref().unwrap_or(""),
            q.order,
            q.limit.unwrap_or(0)
        )
    });
    if let Some(body) = key.as_ref().and_then(|k| state.reads.walls.get(k)) {
        return Ok(HttpResponse::Ok()
            .content_type("application/json")
            .body(body));
    }
    let page = wall_page(&state, &[ctx.community_id()], staff, q).await?;
    let body = serde_json::to_vec(&page).map_err(|e| AppError::Internal(e.into()))?;
    let body = bytes::Bytes::from(body);
    if let Some(k) = key {
        state.reads.walls.put(k, body.clone());
    }
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}

/// Parses the wall's query and answers with one page of wishes of `communities`. Only staff
/// may ask for states the public wall does not show.
async fn wall_page(
    state: &AppState,
    communities: &[i64],
    staff: bool,
    q: WallQuery,
) -> AppResult<Page<WishCard>> {
    let keyset = PageQuery {
        cursor: q.cursor,
        limit: q.limit,
    }
    .keyset()?;
    let mut states = Vec::new();
    for part in q.state.as_deref().unwrap_or("published").split(',') {
        let s = WishState::parse(part.trim())
            .ok_or_else(|| AppError::invalid_parameter("state", "未知的心愿状态"))?;
        if !states.contains(&s) {
            states.push(s);
        }
    }
    let public = [
        WishState::Published,
        WishState::Claimed,
        WishState::Fulfilled,
        WishState::Confirmed,
    ];
    if !staff && states.iter().any(|s| !public.contains(s)) {
        return Err(AppError::forbidden());
    }
    let order = match q.order.as_deref() {
        None | Some("newest") => WallOrder::Newest,
        Some("due") => WallOrder::SoonestDue,
        Some(_) => {
            return Err(AppError::invalid_parameter(
                "order",
                "order 须为 newest 或 due",
            ));
        }
    };
    let rows = service::wall(
        state,
        communities,
        &states,
        q.category.as_deref(),
        order,
        keyset,
    )
    .await?;
    Page::from_rows(rows, keyset, |w| w.id, |w| card(&w))
}

/// GET /api/v1/streets/{street_id}/wishes — 街道心愿墙
///
/// The street-wide wall: every community of the street (street admins).
#[utoipa::path(
    operation_id = "list_street_wishes",
    tag = "wishes",
    security(("bearer" = [])),
    params(("street_id" = i64, Path), WallQuery),
    responses((status = 200, body = Page<WishCard>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/{street_id}/wishes")]
pub async fn street_wall(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    query: web::Query<WallQuery>,
) -> AppResult<HttpResponse> {
    let communities = street_communities(&state, &user, path.into_inner()).await?;
    let page = wall_page(&state, &communities, true, query.into_inner()).await?;
    Ok(HttpResponse::Ok().json(page))
}

async fn street_communities(
    state: &AppState,
    user: &CurrentUser,
    street_id: i64,
) -> AppResult<Vec<i64>> {
    if !user.is_street_admin(street_id) {
        return Err(AppError::not_found());
    }
    crate::communities::hierarchy::community_ids_of_street(state, street_id).await
}

/// GET /api/v1/pair-units/{unit_id}/wishes — 结对单位心愿墙
///
/// The wall of every community a paired unit serves (its members and street admins).
#[utoipa::path(
    operation_id = "list_unit_wishes",
    tag = "wishes",
    security(("bearer" = [])),
    params(("unit_id" = i64, Path), WallQuery),
    responses((status = 200, body = Page<WishCard>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/{unit_id}/wishes")]
pub async fn unit_wall(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    query: web::Query<WallQuery>,
) -> AppResult<HttpResponse> {
    let unit = units::visible(&state, &user, path.into_inner()).await?;
    let communities = units::communities(&state.db, unit.id).await?;
    let page = wall_page(&state, &communities, false, query.into_inner()).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// GET /api/v1/me/wishes — 我的心愿
///
/// The caller's own wishes (posted by them or for them), newest first.
#[utoipa::path(
    operation_id = "list_my_wishes",
    tag = "wishes",
    security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, body = Page<WishCard>))
)]
#[get("/wishes")]
pub async fn my_wishes(
    state: web::Data<AppState>,
    user: CurrentUser,
    page: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let keyset = page.keyset()?;
    let rows = service::mine(&state, &user, keyset).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(rows, keyset, |w| w.id, |w| card(&w))?))
}

/// GET /api/v1/wishes/{wish_id} — 心愿详情
///
/// One wish. The beneficiary's details go only to the poster, the beneficiary, the claimer
/// (once claimed) and staff.
#[utoipa::path(
    operation_id = "get_wish",
    tag = "wishes",
    security(("bearer" = [])),
    params(("wish_id" = i64, Path)),
    responses((status = 200, body = WishDetail), (status = 404, body = ErrorBody))
)]
#[get("/{wish_id}")]
pub async fn get_wish(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let (w, access) = service::load(&state, &user, path.into_inner()).await?;
    let s = service::standing(&w, &user, &access);
    Ok(HttpResponse::Ok().json(detail(&state, &w, &s)?))
}

/// PUT /api/v1/wishes/{wish_id} — 修改心愿
///
/// The poster edits a wish no one has claimed; it goes back to review.
#[utoipa::path(
    operation_id = "edit_wish",
    tag = "wishes",
    security(("bearer" = [])),
    params(("wish_id" = i64, Path)),
    request_body = NewWish,
    responses(
        (status = 200, body = WishDetail),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "WISH_NOT_EDITABLE", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
#[put("/{wish_id}")]
pub async fn edit_wish(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    body: Body<NewWish>,
) -> AppResult<HttpResponse> {
    let w = service::edit(&state, &user, path.into_inner(), body.0.input()).await?;
    show(&state, &user, w).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    pub reason: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The wish's `updated_at` as the reviewer read it; an edit since then is refused (409).
    pub updated_at: DateTime<Utc>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    /// Shown to the poster.
    pub reason: String,
    /// The wish's `updated_at` as the reviewer read it.
    pub updated_at: DateTime<Utc>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Fulfilment {
    pub note: String,
    /// 1 to 6 photos, uploaded to the community first.
    pub proof_upload_ids: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    /// true: it was done, pay the claimer; false: back on the wall.
    pub done: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Thanks {
    pub note: String,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ClaimInput {
    /// Claim for this paired unit (the caller must be its member); absent: for oneself.
    pub unit_id: Option<i64>,
}

/// POST /api/v1/wishes/{wish_id}/withdraw — 撤回心愿
///
/// The poster (or beneficiary) takes back a wish no one has claimed.
#[utoipa::path(
    operation_id = "withdraw_wish",
    tag = "wishes",
    security(("bearer" = [])),
    params(("wish_id" = i64, Path)),
    request_body = Empty,
    responses(
        (status = 200, body = WishDetail),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "WISH_ALREADY_CLAIMED, WISH_NOT_CLAIMABLE, WISH_NOT_EDITABLE, WISH_STATE_CONFLICT", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
#[post("/{wish_id}/withdraw")]
pub async fn withdraw(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    _body: Body<Empty>,
) -> AppResult<HttpResponse> {
    let w = service::withdraw(&state, &user, path.into_inner()).await?;
    show(&state, &user, w).await
}

/// POST /api/v1/wishes/{wish_id}/approve — 审核通过心愿
///
/// A community admin publishes the wish as they read it on the wall.
#[utoipa::path(
    operation_id = "approve_wish",
    tag = "wishes",
    security(("bearer" = [])),
    params(("wish_id" = i64, Path)),
    request_body = Approval,
    responses(
        (status = 200, body = WishDetail),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "WISH_ALREADY_CLAIMED, WISH_NOT_CLAIMABLE, WISH_NOT_EDITABLE, WISH_STATE_CONFLICT", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
#[post("/{wish_id}/approve")]
pub async fn approve(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    body: Body<Approval>,
) -> AppResult<HttpResponse> {
    let b = body.into_inner();
    let w = service::review(&state, &user, path.into_inner(), true, None, b.updated_at).await?;
    show(&state, &user, w).await
}

/// POST /api/v1/wishes/{wish_id}/reject — 驳回心愿
///
/// A community admin rejects the wish as they read it, with a reason the poster sees.
#[utoipa::path(
    operation_id = "reject_wish",
    tag = "wishes",
    security(("bearer" = [])),
    params(("wish_id" = i64, Path)),
    request_body = Rejection,
    responses(
        (status = 200, body = WishDetail),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "WISH_ALREADY_CLAIMED, WISH_NOT_CLAIMABLE, WISH_NOT_EDITABLE, WISH_STATE_CONFLICT", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
#[post("/{wish_id}/reject")]
pub async fn reject(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    body: Body<Rejection>,
) -> AppResult<HttpResponse> {
    let b = body.into_inner();
    let w = service::review(
        &state,
        &user,
        path.into_inner(),
        false,
        Some(&b.reason),
        b.updated_at,
    )
    .await?;
    show(&state, &user, w).await
}

/// POST /api/v1/wishes/{wish_id}/claim — 认领心愿
///
/// A volunteer of the community — or a member of a paired unit serving it, for the unit — claims a
/// published wish; of many at once, exactly one wins.
#[utoipa::path(
    operation_id = "claim_wish",
    tag = "wishes",
    security(("bearer" = [])),
    params(("wish_id" = i64, Path)),
    request_body = ClaimInput,
    responses(
        (status = 200, body = WishDetail),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "WISH_ALREADY_CLAIMED, WISH_NOT_CLAIMABLE, WISH_NOT_EDITABLE, WISH_STATE_CONFLICT", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
#[post("/{wish_id}/claim")]
pub async fn claim(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    body: Body<ClaimInput>,
) -> AppResult<HttpResponse> {
    let b = body.into_inner();
    let w = service::claim(&state, &user, path.into_inner(), b.unit_id).await?;
    show(&state, &user, w).await
}

/// POST /api/v1/wishes/{wish_id}/release — 放弃认领
///
/// The claimer gives the wish back to the wall.
#[utoipa::path(
    operation_id = "release_wish",
    tag = "wishes",
    security(("bearer" = [])),
    params(("wish_id" = i64, Path)),
    request_body = Empty,
    responses(
        (status = 200, body = WishDetail),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "WISH_ALREADY_CLAIMED, WISH_NOT_CLAIMABLE, WISH_NOT_EDITABLE, WISH_STATE_CONFLICT", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
#[post("/{wish_id}/release")]
pub async fn release(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    _body: Body<Empty>,
) -> AppResult<HttpResponse> {
    let w = service::release(&state, &user, path.into_inner()).await?;
    show(&state, &user, w).await
}

/// POST /api/v1/wishes/{wish_id}/fulfil — 标记心愿已完成
///
/// The claimer marks the wish fulfilled, with a note and photos.
#[utoipa::path(
    operation_id = "fulfil_wish",
    tag = "wishes",
    security(("bearer" = [])),
    params(("wish_id" = i64, Path)),
    request_body = Fulfilment,
    responses(
        (status = 200, body = WishDetail),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "WISH_ALREADY_CLAIMED, WISH_NOT_CLAIMABLE, WISH_NOT_EDITABLE, WISH_STATE_CONFLICT", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
#[post("/{wish_id}/fulfil")]
pub async fn fulfil(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    body: Body<Fulfilment>,
) -> AppResult<HttpResponse> {
    let b = body.into_inner();
    let w = service::fulfil(
        &state,
        &user,
        path.into_inner(),
        &b.note,
        &b.proof_upload_ids,
    )
    .await?;
    show(&state, &user, w).await
}

/// POST /api/v1/wishes/{wish_id}/confirm — 确认心愿已完成
///
/// The beneficiary, poster or a grid worker confirms: the claimer is paid 金豆 once.
#[utoipa::path(
    operation_id = "confirm_wish",
    tag = "wishes",
    security(("bearer" = [])),
    params(("wish_id" = i64, Path)),
    request_body = Empty,
    responses(
        (status = 200, body = WishDetail),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "WISH_ALREADY_CLAIMED, WISH_NOT_CLAIMABLE, WISH_NOT_EDITABLE, WISH_STATE_CONFLICT", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
#[post("/{wish_id}/confirm")]
pub async fn confirm(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    _body: Body<Empty>,
) -> AppResult<HttpResponse> {
    let w = service::confirm(&state, &user, path.into_inner(), None).await?;
    show(&state, &user, w).await
}

/// POST /api/v1/wishes/{wish_id}/dispute — 对完成提出异议
///
/// The beneficiary, poster or a grid worker disputes the fulfilment; a community admin decides.
#[utoipa::path(
    operation_id = "dispute_wish",
    tag = "wishes",
    security(("bearer" = [])),
    params(("wish_id" = i64, Path)),
    request_body = Reason,
    responses(
        (status = 200, body = WishDetail),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "WISH_ALREADY_CLAIMED, WISH_NOT_CLAIMABLE, WISH_NOT_EDITABLE, WISH_STATE_CONFLICT", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
#[post("/{wish_id}/dispute")]
pub async fn dispute(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    body: Body<Reason>,
) -> AppResult<HttpResponse> {
    let b = body.into_inner();
    let w = service::confirm(&state, &user, path.into_inner(), Some(&b.reason)).await?;
    show(&state, &user, w).await
}

/// POST /api/v1/wishes/{wish_id}/resolve — 裁决心愿争议
///
/// A community admin settles a dispute.
#[utoipa::path(
    operation_id = "resolve_wish_dispute",
    tag = "wishes",
    security(("bearer" = [])),
    params(("wish_id" = i64, Path)),
    request_body = Resolution,
    responses(
        (status = 200, body = WishDetail),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "WISH_ALREADY_CLAIMED, WISH_NOT_CLAIMABLE, WISH_NOT_EDITABLE, WISH_STATE_CONFLICT", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
#[post("/{wish_id}/resolve")]
pub async fn resolve(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    body: Body<Resolution>,
) -> AppResult<HttpResponse> {
    let b = body.into_inner();
    let w = service::resolve(&state, &user, path.into_inner(), b.done).await?;
    show(&state, &user, w).await
}

/// POST /api/v1/wishes/{wish_id}/thanks — 感谢圆梦使者
///
/// The beneficiary (or poster) thanks the claimer (回访反馈), once.
#[utoipa::path(
    operation_id = "thank_wish_claimer",
    tag = "wishes",
    security(("bearer" = [])),
    params(("wish_id" = i64, Path)),
    request_body = Thanks,
    responses(
        (status = 200, body = WishDetail),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "WISH_ALREADY_CLAIMED, WISH_NOT_CLAIMABLE, WISH_NOT_EDITABLE, WISH_STATE_CONFLICT", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
#[post("/{wish_id}/thanks")]
pub async fn thank(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    body: Body<Thanks>,
) -> AppResult<HttpResponse> {
    let b = body.into_inner();
    let w = service::thank(&state, &user, path.into_inner(), &b.note).await?;
    show(&state, &user, w).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUnit {
    #[schema(example = "区税务局第一党支部")]
    pub name: String,
    pub contact: String,
    /// Wishes the unit takes on per calendar year.
    pub annual_quota: i64,
    /// The street's communities it serves.
    pub community_ids: Vec<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct UnitView {
    pub id: i64,
    pub street_id: i64,
    pub name: String,
    pub contact: String,
    pub annual_quota: i32,
    pub community_ids: Vec<i64>,
}

/// POST /api/v1/streets/{street_id}/pair-units — 新建结对单位
///
/// Pairs a unit (结对单位) with communities of the street (street admins).
#[utoipa::path(
    operation_id = "create_pair_unit",
    tag = "wishes",
    security(("bearer" = [])),
    params(("street_id" = i64, Path)),
    request_body = NewUnit,
    responses((status = 201, body = UnitView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
#[post("/{street_id}/pair-units")]
pub async fn create_unit(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    body: Body<NewUnit>,
) -> AppResult<HttpResponse> {
    let b = body.into_inner();
    let (u, community_ids) = units::create(
        &state,
        &user,
        path.into_inner(),
        units::NewUnit {
            name: &b.name,
            contact: &b.contact,
            annual_quota: b.annual_quota,
            community_ids: &b.community_ids,
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(UnitView {
        id: u.id,
        street_id: u.street_id,
        name: u.name,
        contact: u.contact,
        annual_quota: u.annual_quota,
        community_ids,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    pub user_id: i64,
}

/// POST /api/v1/pair-units/{unit_id}/members — 添加结对单位成员
///
/// Adds a member who may claim for the unit (its street's admins).
#[utoipa::path(
    operation_id = "add_unit_member",
    tag = "wishes",
    security(("bearer" = [])),
    params(("unit_id" = i64, Path)),
    request_body = NewMember,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
#[post("/{unit_id}/members")]
pub async fn add_unit_member(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    body: Body<NewMember>,
) -> AppResult<HttpResponse> {
    units::add_member(&state, &user, path.into_inner(), body.0.user_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// DELETE /api/v1/pair-units/{unit_id}/members/{user_id} — 移除结对单位成员
///
/// Removes a member (its street's admins).
#[utoipa::path(
    operation_id = "remove_unit_member",
    tag = "wishes",
    security(("bearer" = [])),
    params(("unit_id" = i64, Path), ("user_id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody))
)]
#[delete("/{unit_id}/members/{user_id}")]
pub async fn remove_unit_member(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<(i64, i64)>,
) -> AppResult<HttpResponse> {
    let (unit, member) = path.into_inner();
    units::remove_member(&state, &user, unit, member).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct YearQuery {
    /// The calendar year (China time); this year when absent.
    #[param(minimum = 2000, maximum = 2100)]
    pub year: Option<i32>,
}

/// GET /api/v1/pair-units/{unit_id}/report — 结对单位年度报告
///
/// The unit's year: quota, quota used, wishes fulfilled under it (members, street admins).
#[utoipa::path(
    operation_id = "get_unit_report",
    tag = "wishes",
    security(("bearer" = [])),
    params(("unit_id" = i64, Path), YearQuery),
    responses((status = 200, body = units::UnitReport), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/{unit_id}/report")]
pub async fn unit_report(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    query: web::Query<YearQuery>,
) -> AppResult<HttpResponse> {
    let year = query.year;
    if year.is_some_and(|y| !(2000..=2100).contains(&y)) {
        return Err(AppError::invalid_parameter(
            "year",
            "年份须在 2000 到 2100 之间",
        ));
    }
    let r = units::report(&state, &user, path.into_inner(), year).await?;
    Ok(HttpResponse::Ok().json(r))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FiguresQuery {
    /// How many months back, this one included: 1 to 24 (default 6).
    #[param(minimum = 1, maximum = 24)]
    pub months: Option<u32>,
}

/// GET /api/v1/communities/{community_id}/wishes/figures — 社区心愿月度统计
///
/// Monthly figures for the community: posted, claimed, fulfilled, average days to fulfil
/// (grid workers and admins).
#[utoipa::path(
    operation_id = "get_community_wish_figures",
    tag = "wishes",
    security(("bearer" = [])),
    params(("community_id" = i64, Path), FiguresQuery),
    responses((status = 200, body = Vec<staff::CommunityFigures>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/{community_id}/wishes/figures")]
pub async fn community_figures(
    state: web::Data<AppState>,
    ctx: InCommunity<Reviewer>,
    query: web::Query<FiguresQuery>,
) -> AppResult<HttpResponse> {
    let f = staff::figures(&state, &[ctx.community_id()], query.months.unwrap_or(6)).await?;
    Ok(HttpResponse::Ok().json(f))
}

/// GET /api/v1/streets/{street_id}/wishes/figures — 街道心愿月度统计
///
/// Monthly figures for every community of the street (street admins).
#[utoipa::path(
    operation_id = "get_street_wish_figures",
    tag = "wishes",
    security(("bearer" = [])),
    params(("street_id" = i64, Path), FiguresQuery),
    responses((status = 200, body = Vec<staff::CommunityFigures>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/{street_id}/wishes/figures")]
pub async fn street_figures(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    query: web::Query<FiguresQuery>,
) -> AppResult<HttpResponse> {
    let communities = street_communities(&state, &user, path.into_inner()).await?;
    let f = staff::figures(&state, &communities, query.months.unwrap_or(6)).await?;
    Ok(HttpResponse::Ok().json(f))
}

/// GET /api/v1/communities/{community_id}/wishes/attention — 待处理心愿
///
/// Wishes that need a person: disputed, or past their date and not done (grid workers and
/// admins).
#[utoipa::path(
    operation_id = "list_wishes_needing_attention",
    tag = "wishes",
    security(("bearer" = [])),
    params(("community_id" = i64, Path)),
    responses((status = 200, body = Vec<WishCard>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/{community_id}/wishes/attention")]
pub async fn attention(
    state: web::Data<AppState>,
    ctx: InCommunity<Reviewer>,
) -> AppResult<HttpResponse> {
    let rows = staff::attention(&state, ctx.community_id()).await?;
    let cards = rows.iter().map(card).collect::<AppResult<Vec<_>>>()?;
    Ok(HttpResponse::Ok().json(cards))
}

/// GET /api/v1/communities/{community_id}/wishes/export — 导出心愿台账
///
/// The community's wishes as CSV for its records (电子化台账; community admins).
#[utoipa::path(
    operation_id = "export_wishes",
    tag = "wishes",
    security(("bearer" = [])),
    params(("community_id" = i64, Path)),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/{community_id}/wishes/export")]
pub async fn export(
    state: web::Data<AppState>,
    ctx: InCommunity<crate::auth::extract::Admin>,
) -> AppResult<HttpResponse> {
    let csv = staff::export_csv(&state, ctx.community_id()).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"wishes-{}.csv\"", ctx.community_id()),
        ))
        .body(csv))
}

#[derive(Serialize, ToSchema)]
pub struct ClaimLine {
    pub claim_id: i64,
    pub wish_id: i64,
    pub community_id: Option<i64>,
    pub title: Option<String>,
    /// active, fulfilled, confirmed, released, expired or rejected.
    pub status: String,
    pub unit_id: Option<i64>,
    pub claimed_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// GET /api/v1/me/wish-claims — 我的认领记录
///
/// The caller's claims, newest first: their record as 圆梦使者.
#[utoipa::path(
    operation_id = "list_my_wish_claims",
    tag = "wishes",
    security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, body = Page<ClaimLine>))
)]
#[get("/wish-claims")]
pub async fn my_claims(
    state: web::Data<AppState>,
    user: CurrentUser,
    page: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let keyset = page.keyset()?;
    let rows = service::my_claims(&state, &user, keyset).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        keyset,
        |(c, _)| c.id,
        |(c, w)| {
            Ok(ClaimLine {
                claim_id: c.id,
                wish_id: c.wish_id,
                community_id: w.as_ref().map(|w| w.community_id),
                title: w.map(|w| w.title),
                status: c.status,
                unit_id: c.unit_id,
                claimed_at: c.created_at,
                ended_at: c.ended_at,
            })
        },
    )?))
}

#[derive(Serialize, ToSchema)]
pub struct ShareCode {
    pub scene: String,
    pub page: String,
    /// The image of the code, for anyone who can see the wish.
    pub image_url: String,
}

/// POST /api/v1/wishes/{wish_id}/share-code — 心愿分享码
///
/// The wish's share code (a mini-program code of its page), made once; the same code after.
#[utoipa::path(
    operation_id = "create_wish_share_code",
    tag = "wishes",
    security(("bearer" = [])),
    params(("wish_id" = i64, Path)),
    responses((status = 200, body = ShareCode), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody))
)]
#[post("/{wish_id}/share-code")]
pub async fn share_code(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let code = service::share_code(&state, &user, id).await?;
    Ok(HttpResponse::Ok().json(ShareCode {
        scene: code.scene,
        page: code.page,
        image_url: format!("/api/v1/wishes/{id}/share-code/image"),
    }))
}

/// GET /api/v1/wishes/{wish_id}/share-code/image — 心愿分享码图片
///
/// The share code's image.
#[utoipa::path(
    operation_id = "get_wish_share_code_image",
    tag = "wishes",
    security(("bearer" = [])),
    params(("wish_id" = i64, Path)),
    responses(
        (status = 200, description = "The image: WeChat's PNG or JPEG, or an SVG QR code in development mode",
            content(("image/png"), ("image/jpeg"), ("image/webp"), ("image/svg+xml"))),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 410, description = "CODE_EXPIRED, CODE_REVOKED", body = ErrorBody),
        (status = 429, description = "WECHAT_RATE_LIMITED", body = ErrorBody),
        (status = 502, description = "WECHAT_ERROR", body = ErrorBody),
        (status = 503, description = "WECHAT_UNAVAILABLE", body = ErrorBody),
    )
)]
#[get("/{wish_id}/share-code/image")]
pub async fn share_image(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let code = service::share_code(&state, &user, path.into_inner()).await?;
    let (bytes, content_type) = crate::codes::service::render(&state, &code).await?;
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Cache-Control", "private, max-age=3600"))
        .body(bytes))
}

/// GET /api/v1/communities/{community_id}/wishes/rules — 社区心愿规则
///
/// The community's rules for wishes: categories, cost cap, days to fulfil (its members).
#[utoipa::path(
    operation_id = "get_wish_rules",
    tag = "wishes",
    security(("bearer" = [])),
    params(("community_id" = i64, Path)),
    responses((status = 200, body = rules::WishRules), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/{community_id}/wishes/rules")]
pub async fn get_rules(
    state: web::Data<AppState>,
    ctx: InCommunity<Member>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(rules::for_community(&state, ctx.community_id()).await?))
}

/// PUT /api/v1/communities/{community_id}/wishes/rules — 设置社区心愿规则
///
/// Sets the community's own rules for wishes (community admins).
#[utoipa::path(
    operation_id = "set_wish_rules",
    tag = "wishes",
    security(("bearer" = [])),
    params(("community_id" = i64, Path)),
    request_body = rules::WishRules,
    responses((status = 200, body = rules::WishRules), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
#[put("/{community_id}/wishes/rules")]
pub async fn set_rules(
    state: web::Data<AppState>,
    ctx: InCommunity<crate::auth::extract::Admin>,
    body: Body<rules::WishRules>,
) -> AppResult<HttpResponse> {
    let r = rules::set(&state, ctx.user.id(), ctx.community_id(), body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(r))
}

// Registration: the routes this module serves, added to the shared scope of each first path
// segment by `crate::api`.

/// `/communities/{community_id}/wishes…`: the wall first, the most-read route of all.
pub fn communities_scope(cfg: &mut ServiceConfig) {
    cfg.service(wall)
        .service(post_wish)
        .service(community_figures)
        .service(attention)
        .service(export)
        .service(get_rules)
        .service(set_rules);
}

/// `/me/wishes` and `/me/wish-claims`.
pub fn me_scope(cfg: &mut ServiceConfig) {
    cfg.service(my_wishes).service(my_claims);
}

/// `/streets/{street_id}/wishes…` and `/streets/{street_id}/pair-units`.
pub fn streets_scope(cfg: &mut ServiceConfig) {
    cfg.service(street_wall)
        .service(create_unit)
        .service(street_figures);
}

/// `/wishes/{wish_id}…`: one wish, every step of its life, its share code.
pub fn wishes_scope(cfg: &mut ServiceConfig) {
    cfg.service(get_wish)
        .service(edit_wish)
        .service(withdraw)
        .service(approve)
        .service(reject)
        .service(claim)
        .service(release)
        .service(fulfil)
        .service(confirm)
        .service(dispute)
        .service(resolve)
        .service(thank)
        .service(share_code)
        .service(share_image);
}

/// `/pair-units/{unit_id}/…`.
pub fn pair_units_scope(cfg: &mut ServiceConfig) {
    cfg.service(unit_wall)
        .service(add_unit_member)
        .service(remove_unit_member)
        .service(unit_report);
}
