//! Who is calling, and what they may do. `CurrentUser` is the signed-in user; `InCommunity<G>`
//! is a signed-in user inside the community named by the `{community_id}` path segment, with
//! the guard `G` already checked. A handler states what it needs by taking one of them.
//!
//! Tenancy: a caller with no tie to a community (no verified membership, no role there, not
//! its street admin) gets 404 for it, as if it did not exist; a pending or rejected applicant
//! has no tie. A member lacking the role gets 403.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use sea_orm::{ColumnTrait, EntityTrait, JoinType, QueryFilter, QuerySelect, RelationDef};

use crate::auth::roles::{Role, Scope};
use crate::entities::{auth_session, community, membership, role_grant, user};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::state::AppState;

#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: user::Model,
    pub session_id: String,
    pub grants: Vec<role_grant::Model>,
}

impl CurrentUser {
    pub fn id(&self) -> i64 {
        self.user.id
    }

    fn has(&self, role: Role, scope_id: i64) -> bool {
        self.grants
            .iter()
            .any(|g| g.role == role.as_str() && g.scope_id == scope_id)
    }

    pub fn is_platform_admin(&self) -> bool {
        self.has(Role::PlatformAdmin, 0)
    }

    pub fn is_street_admin(&self, street_id: i64) -> bool {
        self.is_platform_admin() || self.has(Role::StreetAdmin, street_id)
    }

    /// Whether the user works the counter of `merchant_id`.
    pub fn is_staff_of(&self, merchant_id: i64) -> bool {
        self.has(Role::MerchantStaff, merchant_id)
    }

    pub fn require_platform_admin(&self) -> AppResult<()> {
        if self.is_platform_admin() {
            Ok(())
        } else {
            Err(AppError::forbidden())
        }
    }

    /// Community roles granted to this user in `community_id`.
    pub fn community_grants(&self, community_id: i64) -> Vec<Role> {
        self.grants
            .iter()
            .filter(|g| g.scope_id == community_id)
            .filter_map(|g| Role::parse(&g.role))
            .filter(|r| r.scope() == Scope::Community)
            .collect()
    }
}

fn bearer(req: &HttpRequest) -> AppResult<&str> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or_else(|| AppError::new(ErrorCode::Unauthenticated, "请先登录"))?;
    let value = header
        .to_str()
        .map_err(|_| AppError::new(ErrorCode::TokenInvalid, "登录凭证无效，请重新登录"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| AppError::new(ErrorCode::TokenInvalid, "登录凭证无效，请重新登录"))?;
    Ok(token)
}

fn state(req: &HttpRequest) -> AppResult<web::Data<AppState>> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("application state missing")))
}

fn user_session() -> RelationDef {
    let session_to_user: RelationDef = auth_session::Entity::belongs_to(user::Entity)
        .from(auth_session::Column::UserId)
        .to(user::Column::Id)
        .into();
    session_to_user.rev()
}

fn user_grants() -> RelationDef {
    let grant_to_user: RelationDef = role_grant::Entity::belongs_to(user::Entity)
        .from(role_grant::Column::UserId)
        .to(user::Column::Id)
        .into();
    grant_to_user.rev()
}

async fn load_current_user(req: &HttpRequest) -> AppResult<CurrentUser> {
    if let Some(found) = req.extensions().get::<CurrentUser>() {
        return Ok(found.clone());
    }
    let state = state(req)?;
    let claims = state.tokens.verify(bearer(req)?)?;
    let invalid = || AppError::new(ErrorCode::TokenInvalid, "登录凭证无效，请重新登录");
    let user_id: i64 = claims.sub.parse().map_err(|_| invalid())?;
    let reading = is_read(req);
    if reading
        && let Some(cached) = state.reads.users.get(&claims.sid)
        && cached.id() == user_id
    {
        req.extensions_mut().insert(cached.clone());
        return Ok(cached);
    }
    // The live session with its live user and each of the user's roles: one query, a row per
    // role (one row with no role for a user who has none).
    let rows = user::Entity::find()
        .join(JoinType::InnerJoin, user_session())
        .join(JoinType::LeftJoin, user_grants())
        .select_also(role_grant::Entity)
        .filter(auth_session::Column::Id.eq(claims.sid.clone()))
        .filter(auth_session::Column::UserId.eq(user_id))
        .filter(auth_session::Column::RevokedAt.is_null())
        .filter(user::Column::Id.eq(user_id))
        .filter(user::Column::DeletedAt.is_null())
        .all(&state.db)
        .await?;
    let mut rows = rows.into_iter();
    let (user, first) = rows.next().ok_or_else(invalid)?;
    let grants = first
        .into_iter()
        .chain(rows.filter_map(|(_, grant)| grant))
        .collect();
    let current = CurrentUser {
        user,
        session_id: claims.sid,
        grants,
    };
    if reading {
        state
            .reads
            .users
            .put(current.session_id.clone(), current.clone());
    }
    req.extensions_mut().insert(current.clone());
    Ok(current)
}

/// A read request may use the short-lived copies in `reads`; a write never does.
fn is_read(req: &HttpRequest) -> bool {
    matches!(
        *req.method(),
        actix_web::http::Method::GET | actix_web::http::Method::HEAD
    )
}

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { load_current_user(&req).await })
    }
}

/// What a community endpoint needs of its caller.
pub trait CommunityGuard {
    fn allows(access: &CommunityAccess) -> bool;
}

/// A verified resident, anyone with a role in the community, or its street or platform admin.
pub struct Member;
/// Those who review residents: grid workers, community admins, street and platform admins.
pub struct Reviewer;
/// Community admins (社区两委), street admins of its street, platform admins.
pub struct Admin;

impl CommunityGuard for Member {
    fn allows(a: &CommunityAccess) -> bool {
        a.is_oversight || !a.roles.is_empty()
    }
}

impl CommunityGuard for Reviewer {
    fn allows(a: &CommunityAccess) -> bool {
        a.is_oversight || a.has(Role::GridWorker) || a.has(Role::CommunityAdmin)
    }
}

impl CommunityGuard for Admin {
    fn allows(a: &CommunityAccess) -> bool {
        a.is_oversight || a.has(Role::CommunityAdmin)
    }
}

/// The caller's standing in one community.
#[derive(Debug, Clone)]
pub struct CommunityAccess {
    pub community: community::Model,
    pub membership: Option<membership::Model>,
    /// Community roles, including `Resident` when the membership is verified.
    pub roles: Vec<Role>,
    /// Street admin of the community's street, or platform admin.
    pub is_oversight: bool,
}

impl CommunityAccess {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether the caller has a tie that opens the community (otherwise: 404): a verified
    /// membership (which makes them `Resident`), a community role, or oversight. A pending,
    /// rejected or departed applicant is an outsider: what a join flow needs (the community's
    /// card, `POST /join`, their own status under `GET /me`) takes only a `CurrentUser`.
    fn is_related(&self) -> bool {
        self.is_oversight || !self.roles.is_empty()
    }

    /// Loads the caller's standing in `community_id`; 404 when the community does not exist
    /// or the caller has no tie to it.
    pub async fn load(
        state: &AppState,
        current: &CurrentUser,
        community_id: i64,
    ) -> AppResult<CommunityAccess> {
        let community = community::Entity::find_by_id(community_id)
            .one(&state.db)
            .await?
            .ok_or_else(AppError::not_found)?;
        let membership = membership::Entity::find()
            .filter(membership::Column::CommunityId.eq(community_id))
            .filter(membership::Column::UserId.eq(current.id()))
            .one(&state.db)
            .await?;
        let access = Self::standing(current, community, membership);
        if !access.is_related() {
            return Err(AppError::not_found());
        }
        Ok(access)
    }

    /// The caller's standing in each of `community_ids` that opens to them (others are left
    /// out), in two queries whatever their number: for a shop serving many communities.
    pub async fn load_many(
        state: &AppState,
        current: &CurrentUser,
        community_ids: &[i64],
    ) -> AppResult<Vec<CommunityAccess>> {
        let communities = community::Entity::find()
            .filter(community::Column::Id.is_in(community_ids.iter().copied()))
            .all(&state.db)
            .await?;
        let mut memberships = membership::Entity::find()
            .filter(membership::Column::CommunityId.is_in(community_ids.iter().copied()))
            .filter(membership::Column::UserId.eq(current.id()))
            .all(&state.db)
            .await?;
        Ok(communities
            .into_iter()
            .map(|c| {
                let m = memberships
                    .iter()
                    .position(|m| m.community_id == c.id)
                    .map(|i| memberships.swap_remove(i));
                Self::standing(current, c, m)
            })
            .filter(CommunityAccess::is_related)
            .collect())
    }

    fn standing(
        current: &CurrentUser,
        community: community::Model,
        membership: Option<membership::Model>,
    ) -> CommunityAccess {
        let mut roles = current.community_grants(community.id);
        if membership.as_ref().is_some_and(|m| m.status == "verified") {
            roles.push(Role::Resident);
        }
        CommunityAccess {
            is_oversight: current.is_street_admin(community.street_id),
            community,
            membership,
            roles,
        }
    }
}

/// A signed-in user acting inside the community of the `{community_id}` path segment, whose
/// standing there satisfies `G`.
pub struct InCommunity<G> {
    pub user: CurrentUser,
    pub access: CommunityAccess,
    _guard: PhantomData<G>,
}

impl<G> InCommunity<G> {
    pub fn community_id(&self) -> i64 {
        self.access.community.id
    }
}

impl<G: CommunityGuard + 'static> FromRequest for InCommunity<G> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let user = load_current_user(&req).await?;
            let community_id: i64 = req
                .match_info()
                .get("community_id")
                .and_then(|s| s.parse().ok())
                .ok_or_else(AppError::not_found)?;
            let state = state(&req)?;
            let key = (user.id(), community_id);
            let cached = if is_read(&req) {
                state.reads.access.get(&key)
            } else {
                None
            };
            let access = match cached {
                Some(access) => access,
                None => {
                    let access = CommunityAccess::load(&state, &user, community_id).await?;
                    if is_read(&req) {
                        state.reads.access.put(key, access.clone());
                    }
                    access
                }
            };
            if !G::allows(&access) {
                return Err(AppError::forbidden());
            }
            Ok(InCommunity {
                user,
                access,
                _guard: PhantomData,
            })
        })
    }
}
