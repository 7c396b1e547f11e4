//! Who the caller is and what they may do, as plain data: `CurrentUser` (a signed-in user with
//! their roles), `CommunityAccess` (their standing in one community) and the guards a
//! community action needs (`Member`, `Reviewer`, `Admin`). Nothing here knows of HTTP: the
//! loaders take a database connection, so services, jobs and the read copies in `reads` use
//! them without reaching into the request side (`auth::extract`).
//!
//! Tenancy: a caller with no tie to a community (no verified membership, no role there, not
//! its street admin) gets 404 for it, as if it did not exist; a pending or rejected applicant
//! has no tie. A member lacking the role gets 403.

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QuerySelect, RelationTrait,
};

use crate::auth::roles::{Role, Scope};
use crate::communities::residents;
use crate::entities::{auth_session, community, membership, role_grant, user};
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: user::Model,
    pub session_id: String,
    pub grants: Vec<role_grant::Model>,
}

impl CurrentUser {
    /// The live user of the live session `session_id` with each of their roles, or `None`
    /// when the session was revoked, belongs to someone else or the user was erased.
    pub async fn load(
        db: &impl ConnectionTrait,
        session_id: &str,
        user_id: i64,
    ) -> AppResult<Option<CurrentUser>> {
        // One query, a row per role (one row with no role for a user who has none).
        let rows = user::Entity::find()
            .join(JoinType::InnerJoin, user::Relation::AuthSession.def())
            .join(JoinType::LeftJoin, user::Relation::RoleGrant.def())
            .select_also(role_grant::Entity)
            .filter(auth_session::Column::Id.eq(session_id))
            .filter(auth_session::Column::UserId.eq(user_id))
            .filter(auth_session::Column::RevokedAt.is_null())
            .filter(user::Column::Id.eq(user_id))
            .filter(user::Column::DeletedAt.is_null())
            .all(db)
            .await?;
        let mut rows = rows.into_iter();
        let Some((user, first)) = rows.next() else {
            return Ok(None);
        };
        let grants = first
            .into_iter()
            .chain(rows.filter_map(|(_, grant)| grant))
            .collect();
        Ok(Some(CurrentUser {
            user,
            session_id: session_id.to_owned(),
            grants,
        }))
    }

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
    /// The caller's verified membership, when they are a resident of the community.
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
        db: &impl ConnectionTrait,
        current: &CurrentUser,
        community_id: i64,
    ) -> AppResult<CommunityAccess> {
        let community = community::Entity::find_by_id(community_id)
            .one(db)
            .await?
            .ok_or_else(AppError::not_found)?;
        let membership = residents::verified_resident(db, community_id, current.id()).await?;
        let access = Self::standing(current, community, membership);
        if !access.is_related() {
            return Err(AppError::not_found());
        }
        Ok(access)
    }

    /// The caller's standing in each of `community_ids` that opens to them (others are left
    /// out), in two queries whatever their number: for a shop serving many communities.
    pub async fn load_many(
        db: &impl ConnectionTrait,
        current: &CurrentUser,
        community_ids: &[i64],
    ) -> AppResult<Vec<CommunityAccess>> {
        let communities = community::Entity::find()
            .filter(community::Column::Id.is_in(community_ids.iter().copied()))
            .all(db)
            .await?;
        let mut memberships = residents::verified_in(db, current.id(), community_ids).await?;
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

    /// `membership` is the caller's verified membership of `community`, if any.
    fn standing(
        current: &CurrentUser,
        community: community::Model,
        membership: Option<membership::Model>,
    ) -> CommunityAccess {
        let mut roles = current.community_grants(community.id);
        if membership.is_some() {
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
