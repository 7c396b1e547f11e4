//! Community endpoints: the hierarchy, joining and verification, and role grants.

use actix_web::{HttpResponse, delete, get, post, put, web};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::extract::{Admin, CurrentUser, InCommunity, Member, Reviewer};
use crate::communities::membership::{Decision, Status};
use crate::communities::types::*;
use crate::communities::{grants, hierarchy, membership};
use crate::error::{AppError, AppResult, ErrorBody};
use crate::http::body::Body;
use crate::pagination::{Page, PageQuery};
use crate::state::AppState;
use crate::users::routes::GrantView;
use crate::users::views::masked_phone;

/// GET /api/v1/districts — 区列表
///
/// Lists districts (区).
#[utoipa::path(
    operation_id = "list_districts",
    tag = "communities",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<DistrictView>), (status = 401, body = ErrorBody))
)]
#[get("")]
pub async fn list_districts(
    state: web::Data<AppState>,
    _user: CurrentUser,
) -> AppResult<HttpResponse> {
    let rows = hierarchy::list_districts(&state).await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(DistrictView::from).collect::<Vec<_>>()))
}

/// POST /api/v1/districts — 新建区
///
/// Creates a district (platform admins).
#[utoipa::path(
    operation_id = "create_district",
    tag = "communities",
    security(("bearer" = [])),
    request_body = NewPlace,
    responses(
        (status = 201, body = DistrictView),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 409, description = "NAME_TAKEN", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED", body = ErrorBody),
    )
)]
#[post("")]
pub async fn create_district(
    state: web::Data<AppState>,
    user: CurrentUser,
    body: Body<NewPlace>,
) -> AppResult<HttpResponse> {
    let created = hierarchy::create_district(&state, &user, &body.0.name).await?;
    Ok(HttpResponse::Created().json(DistrictView::from(created)))
}

/// GET /api/v1/districts/{district_id}/streets — 街道列表
///
/// Lists the streets (街道) of a district.
#[utoipa::path(
    operation_id = "list_streets",
    tag = "communities",
    security(("bearer" = [])),
    params(("district_id" = i64, Path)),
    responses((status = 200, body = Vec<StreetView>), (status = 404, body = ErrorBody))
)]
#[get("/{district_id}/streets")]
pub async fn list_streets(
    state: web::Data<AppState>,
    _user: CurrentUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let rows = hierarchy::list_streets(&state, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(StreetView::from).collect::<Vec<_>>()))
}

/// POST /api/v1/districts/{district_id}/streets — 新建街道
///
/// Creates a street in a district (platform admins).
#[utoipa::path(
    operation_id = "create_street",
    tag = "communities",
    security(("bearer" = [])),
    params(("district_id" = i64, Path)),
    request_body = NewPlace,
    responses(
        (status = 201, body = StreetView),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "NAME_TAKEN", body = ErrorBody),
    )
)]
#[post("/{district_id}/streets")]
pub async fn create_street(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    body: Body<NewPlace>,
) -> AppResult<HttpResponse> {
    let created = hierarchy::create_street(&state, &user, path.into_inner(), &body.0.name).await?;
    Ok(HttpResponse::Created().json(StreetView::from(created)))
}

/// GET /api/v1/streets/{street_id}/communities — 街道社区列表
///
/// Lists the communities (社区) of a street, to find one to join.
#[utoipa::path(
    operation_id = "list_communities",
    tag = "communities",
    security(("bearer" = [])),
    params(("street_id" = i64, Path), PageQuery),
    responses((status = 200, body = Page<CommunityView>), (status = 404, body = ErrorBody))
)]
#[get("/{street_id}/communities")]
pub async fn list_communities(
    state: web::Data<AppState>,
    _user: CurrentUser,
    path: web::Path<i64>,
    page: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let keyset = page.keyset()?;
    let rows = hierarchy::list_communities(&state, path.into_inner(), keyset).await?;
    let page = Page::from_rows(rows, keyset, |c| c.id, |c| Ok(CommunityView::from(c)))?;
    Ok(HttpResponse::Ok().json(page))
}

/// POST /api/v1/streets/{street_id}/communities — 新建社区
///
/// Creates a community in a street (that street's admins, platform admins).
#[utoipa::path(
    operation_id = "create_community",
    tag = "communities",
    security(("bearer" = [])),
    params(("street_id" = i64, Path)),
    request_body = NewCommunity,
    responses(
        (status = 201, body = CommunityView),
        (status = 403, description = "FORBIDDEN", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "NAME_TAKEN", body = ErrorBody),
    )
)]
#[post("/{street_id}/communities")]
pub async fn create_community(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    body: Body<NewCommunity>,
) -> AppResult<HttpResponse> {
    let b = body.into_inner();
    let created = hierarchy::create_community(
        &state,
        &user,
        path.into_inner(),
        &b.name,
        b.address.as_deref(),
    )
    .await?;
    Ok(HttpResponse::Created().json(CommunityView::from(created)))
}

/// GET /api/v1/communities/{community_id} — 社区名片
///
/// A community's public card: name and address, as on its join poster.
#[utoipa::path(
    operation_id = "get_community",
    tag = "communities",
    security(("bearer" = [])),
    params(("community_id" = i64, Path)),
    responses((status = 200, body = CommunityView), (status = 404, body = ErrorBody))
)]
#[get("/{community_id}")]
pub async fn get_community(
    state: web::Data<AppState>,
    _user: CurrentUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let c = hierarchy::community_card(&state, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(CommunityView::from(c)))
}

/// GET /api/v1/communities/{community_id}/grids — 网格列表
///
/// The grids (网格) of a community (its members and staff).
#[utoipa::path(
    operation_id = "list_grids",
    tag = "communities",
    security(("bearer" = [])),
    params(("community_id" = i64, Path), PageQuery),
    responses(
        (status = 200, body = Page<GridView>),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
#[get("/{community_id}/grids")]
pub async fn list_grids(
    state: web::Data<AppState>,
    ctx: InCommunity<Member>,
    page: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let keyset = page.keyset()?;
    let rows = hierarchy::list_grids(&state, ctx.community_id(), keyset).await?;
    let page = Page::from_rows(rows, keyset, |g| g.id, |g| Ok(GridView::from(g)))?;
    Ok(HttpResponse::Ok().json(page))
}

/// POST /api/v1/communities/{community_id}/grids — 新建网格
///
/// Creates a grid (community admins).
#[utoipa::path(
    operation_id = "create_grid",
    tag = "communities",
    security(("bearer" = [])),
    params(("community_id" = i64, Path)),
    request_body = NewPlace,
    responses(
        (status = 201, body = GridView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "NAME_TAKEN", body = ErrorBody),
    )
)]
#[post("/{community_id}/grids")]
pub async fn create_grid(
    state: web::Data<AppState>,
    ctx: InCommunity<Admin>,
    body: Body<NewPlace>,
) -> AppResult<HttpResponse> {
    let g = hierarchy::create_grid(&state, ctx.community_id(), &body.0.name).await?;
    Ok(HttpResponse::Created().json(GridView::from(g)))
}

/// GET /api/v1/communities/{community_id}/buildings — 楼栋列表
///
/// The buildings (楼栋) of a community.
#[utoipa::path(
    operation_id = "list_buildings",
    tag = "communities",
    security(("bearer" = [])),
    params(("community_id" = i64, Path), PageQuery),
    responses(
        (status = 200, body = Page<BuildingView>),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
#[get("/{community_id}/buildings")]
pub async fn list_buildings(
    state: web::Data<AppState>,
    ctx: InCommunity<Member>,
    page: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let keyset = page.keyset()?;
    let rows = hierarchy::list_buildings(&state, ctx.community_id(), keyset).await?;
    let page = Page::from_rows(rows, keyset, |b| b.id, |b| Ok(BuildingView::from(b)))?;
    Ok(HttpResponse::Ok().json(page))
}

/// POST /api/v1/communities/{community_id}/buildings — 新建楼栋
///
/// Creates a building, optionally in a grid of the same community (community admins).
#[utoipa::path(
    operation_id = "create_building",
    tag = "communities",
    security(("bearer" = [])),
    params(("community_id" = i64, Path)),
    request_body = NewBuilding,
    responses(
        (status = 201, body = BuildingView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "NAME_TAKEN", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED", body = ErrorBody),
    )
)]
#[post("/{community_id}/buildings")]
pub async fn create_building(
    state: web::Data<AppState>,
    ctx: InCommunity<Admin>,
    body: Body<NewBuilding>,
) -> AppResult<HttpResponse> {
    let b = body.into_inner();
    let created =
        hierarchy::create_building(&state, ctx.community_id(), &b.name, b.grid_id).await?;
    Ok(HttpResponse::Created().json(BuildingView::from(created)))
}

/// GET /api/v1/communities/{community_id}/households — 住户列表
///
/// The households of a community, optionally of one building (staff).
#[utoipa::path(
    operation_id = "list_households",
    tag = "communities",
    security(("bearer" = [])),
    params(("community_id" = i64, Path), HouseholdFilter, PageQuery),
    responses(
        (status = 200, body = Page<HouseholdView>),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
#[get("/{community_id}/households")]
pub async fn list_households(
    state: web::Data<AppState>,
    ctx: InCommunity<Reviewer>,
    filter: web::Query<HouseholdFilter>,
    page: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let keyset = page.keyset()?;
    let rows =
        hierarchy::list_households(&state, ctx.community_id(), filter.building_id, keyset).await?;
    let page = Page::from_rows(rows, keyset, |h| h.id, |h| Ok(HouseholdView::from(h)))?;
    Ok(HttpResponse::Ok().json(page))
}

/// POST /api/v1/communities/{community_id}/households — 新建住户
///
/// Creates a household (unit and room) in a building of the community (community admins).
#[utoipa::path(
    operation_id = "create_household",
    tag = "communities",
    security(("bearer" = [])),
    params(("community_id" = i64, Path)),
    request_body = NewHousehold,
    responses(
        (status = 201, body = HouseholdView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "NAME_TAKEN", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED", body = ErrorBody),
    )
)]
#[post("/{community_id}/households")]
pub async fn create_household(
    state: web::Data<AppState>,
    ctx: InCommunity<Admin>,
    body: Body<NewHousehold>,
) -> AppResult<HttpResponse> {
    let b = body.into_inner();
    let created =
        hierarchy::create_household(&state, ctx.community_id(), b.building_id, &b.unit, &b.room)
            .await?;
    Ok(HttpResponse::Created().json(HouseholdView::from(created)))
}

/// POST /api/v1/communities/{community_id}/join — 申请加入社区
///
/// Asks to join a community (from its join QR code). The membership waits for a grid worker
/// or community admin to verify it.
#[utoipa::path(
    operation_id = "join_community",
    tag = "memberships",
    security(("bearer" = [])),
    params(("community_id" = i64, Path)),
    responses(
        (status = 201, body = crate::users::routes::MyMembership),
        (status = 404, body = ErrorBody),
        (status = 409, description = "ALREADY_MEMBER", body = ErrorBody),
    )
)]
#[post("/{community_id}/join")]
pub async fn join(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let community_id = path.into_inner();
    let m = membership::join(&state, &user, community_id).await?;
    let c = hierarchy::community_card(&state, community_id).await?;
    Ok(
        HttpResponse::Created().json(crate::users::routes::MyMembership {
            membership_id: m.id,
            community_id: m.community_id,
            community_name: Some(c.name),
            status: m.status,
            household_id: m.household_id,
            reject_reason: m.reject_reason,
            created_at: m.created_at,
        }),
    )
}

fn parse_status(raw: Option<&str>) -> AppResult<Status> {
    match raw.unwrap_or("pending") {
        "pending" => Ok(Status::Pending),
        "verified" => Ok(Status::Verified),
        "rejected" => Ok(Status::Rejected),
        "left" => Ok(Status::Left),
        _ => Err(AppError::invalid_parameter(
            "status",
            "status 须为 pending、verified、rejected 或 left",
        )),
    }
}

/// GET /api/v1/communities/{community_id}/memberships — 社区成员列表
///
/// Memberships of a community by status, oldest first (grid workers, community admins).
#[utoipa::path(
    operation_id = "list_memberships",
    tag = "memberships",
    security(("bearer" = [])),
    params(("community_id" = i64, Path), MembershipFilter, PageQuery),
    responses(
        (status = 200, body = Page<MemberView>),
        (status = 400, description = "INVALID_PARAMETER", body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
#[get("/{community_id}/memberships")]
pub async fn list_memberships(
    state: web::Data<AppState>,
    ctx: InCommunity<Reviewer>,
    filter: web::Query<MembershipFilter>,
    page: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let status = parse_status(filter.status.as_deref())?;
    let keyset = page.keyset()?;
    let rows = membership::list(&state, ctx.community_id(), status, keyset).await?;
    let page = Page::from_rows(
        rows,
        keyset,
        |(m, _)| m.id,
        |(m, u)| {
            Ok(MemberView {
                membership_id: m.id,
                user_id: m.user_id,
                nickname: u.as_ref().and_then(|u| u.nickname.clone()),
                phone_masked: match &u {
                    Some(u) => masked_phone(&state.crypto, u)?,
                    None => None,
                },
                status: m.status,
                household_id: m.household_id,
                reject_reason: m.reject_reason,
                created_at: m.created_at,
            })
        },
    )?;
    Ok(HttpResponse::Ok().json(page))
}

fn member_view(m: crate::entities::membership::Model) -> MemberView {
    MemberView {
        membership_id: m.id,
        user_id: m.user_id,
        nickname: None,
        phone_masked: None,
        status: m.status,
        household_id: m.household_id,
        reject_reason: m.reject_reason,
        created_at: m.created_at,
    }
}

/// POST /api/v1/communities/{community_id}/memberships/{membership_id}/approve — 通过入社申请
///
/// Verifies a pending resident, optionally placing them in a household.
#[utoipa::path(
    operation_id = "approve_membership",
    tag = "memberships",
    security(("bearer" = [])),
    params(("community_id" = i64, Path), ("membership_id" = i64, Path)),
    request_body = Approve,
    responses(
        (status = 200, body = MemberView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "MEMBERSHIP_NOT_PENDING", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED", body = ErrorBody),
    )
)]
#[post("/{community_id}/memberships/{membership_id}/approve")]
pub async fn approve(
    state: web::Data<AppState>,
    ctx: InCommunity<Reviewer>,
    path: web::Path<(i64, i64)>,
    body: Body<Approve>,
) -> AppResult<HttpResponse> {
    let (_, membership_id) = path.into_inner();
    let m = membership::review(
        &state,
        &ctx.user,
        ctx.community_id(),
        membership_id,
        Decision::Verify {
            household_id: body.0.household_id,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(member_view(m)))
}

/// POST /api/v1/communities/{community_id}/memberships/{membership_id}/reject — 驳回入社申请
///
/// Rejects a pending membership with a reason the applicant sees.
#[utoipa::path(
    operation_id = "reject_membership",
    tag = "memberships",
    security(("bearer" = [])),
    params(("community_id" = i64, Path), ("membership_id" = i64, Path)),
    request_body = Reject,
    responses(
        (status = 200, body = MemberView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "MEMBERSHIP_NOT_PENDING", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED", body = ErrorBody),
    )
)]
#[post("/{community_id}/memberships/{membership_id}/reject")]
pub async fn reject(
    state: web::Data<AppState>,
    ctx: InCommunity<Reviewer>,
    path: web::Path<(i64, i64)>,
    body: Body<Reject>,
) -> AppResult<HttpResponse> {
    let (_, membership_id) = path.into_inner();
    let m = membership::review(
        &state,
        &ctx.user,
        ctx.community_id(),
        membership_id,
        Decision::Reject {
            reason: body.into_inner().reason,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(member_view(m)))
}

/// PUT /api/v1/communities/{community_id}/memberships/{membership_id}/household — 设置居民住户
///
/// Places a resident in a household of the community, or moves them.
#[utoipa::path(
    operation_id = "set_membership_household",
    tag = "memberships",
    security(("bearer" = [])),
    params(("community_id" = i64, Path), ("membership_id" = i64, Path)),
    request_body = SetHousehold,
    responses(
        (status = 200, body = MemberView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "MEMBERSHIP_NOT_VERIFIED", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED", body = ErrorBody),
    )
)]
#[put("/{community_id}/memberships/{membership_id}/household")]
pub async fn set_household(
    state: web::Data<AppState>,
    ctx: InCommunity<Reviewer>,
    path: web::Path<(i64, i64)>,
    body: Body<SetHousehold>,
) -> AppResult<HttpResponse> {
    let (_, membership_id) = path.into_inner();
    let m = membership::set_household(
        &state,
        ctx.community_id(),
        membership_id,
        body.0.household_id,
    )
    .await?;
    Ok(HttpResponse::Ok().json(member_view(m)))
}

/// GET /api/v1/communities/{community_id}/role-grants — 社区角色授权
///
/// The role grants of a community (community admins).
#[utoipa::path(
    operation_id = "list_community_role_grants",
    tag = "roles",
    security(("bearer" = [])),
    params(("community_id" = i64, Path)),
    responses(
        (status = 200, body = Vec<GrantDetail>),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
#[get("/{community_id}/role-grants")]
pub async fn list_grants(
    state: web::Data<AppState>,
    ctx: InCommunity<Admin>,
) -> AppResult<HttpResponse> {
    let rows = grants::list_in_community(&state, ctx.community_id()).await?;
    let views: Vec<GrantDetail> = rows
        .into_iter()
        .filter_map(|(g, u)| {
            Some(GrantDetail {
                id: g.id,
                user_id: g.user_id,
                nickname: u.and_then(|u| u.nickname),
                role: crate::auth::roles::Role::parse(&g.role)?,
                scope_id: g.scope_id,
                granted_by: g.granted_by,
                created_at: g.created_at,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

/// POST /api/v1/role-grants — 授予角色
///
/// Grants a role. Platform admins grant any role; street admins grant community roles in their
/// street; community admins grant community roles in their community.
#[utoipa::path(
    operation_id = "create_role_grant",
    tag = "roles",
    security(("bearer" = [])),
    request_body = NewGrant,
    responses(
        (status = 201, body = GrantView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "ROLE_ALREADY_GRANTED", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED", body = ErrorBody),
    )
)]
#[post("")]
pub async fn create_grant(
    state: web::Data<AppState>,
    user: CurrentUser,
    body: Body<NewGrant>,
) -> AppResult<HttpResponse> {
    let b = body.into_inner();
    let g = grants::grant(&state, &user, b.user_id, b.role, b.scope_id).await?;
    let view = GrantView::from_model(&g)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("stored an unknown role")))?;
    Ok(HttpResponse::Created().json(view))
}

/// DELETE /api/v1/role-grants/{grant_id} — 撤销角色授权
///
/// Revokes a role grant (whoever could grant it).
#[utoipa::path(
    operation_id = "delete_role_grant",
    tag = "roles",
    security(("bearer" = [])),
    params(("grant_id" = i64, Path)),
    responses((status = 204, description = "Revoked"), (status = 404, body = ErrorBody))
)]
#[delete("/{grant_id}")]
pub async fn delete_grant(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    grants::revoke(&state, &user, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

// Registration: the routes this module serves, added to the shared scope of each first path
// segment by `crate::api`.

/// `/communities/{community_id}`: the card, grids, buildings, households, joining, memberships
/// and the community's role grants.
pub fn communities_scope(cfg: &mut ServiceConfig) {
    cfg.service(get_community)
        .service(list_grids)
        .service(create_grid)
        .service(list_buildings)
        .service(create_building)
        .service(list_households)
        .service(create_household)
        .service(join)
        .service(list_memberships)
        .service(approve)
        .service(reject)
        .service(set_household)
        .service(list_grants);
}

/// `/districts`: districts and their streets.
pub fn districts_scope(cfg: &mut ServiceConfig) {
    cfg.service(list_districts)
        .service(create_district)
        .service(list_streets)
        .service(create_street);
}

/// `/streets/{street_id}/communities`.
pub fn streets_scope(cfg: &mut ServiceConfig) {
    cfg.service(list_communities).service(create_community);
}

/// `/role-grants`: granting and revoking roles.
pub fn role_grants_scope(cfg: &mut ServiceConfig) {
    cfg.service(create_grant).service(delete_grant);
}
