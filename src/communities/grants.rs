//! Granting and revoking roles. Who may grant what lives here, in one place:
//! platform admins grant anything; street admins grant community roles in their street's
//! communities; community admins grant community roles in their own community.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::json;

use crate::audit::{self, AuditKind, Entry, ObjectType};
use crate::auth::access::{CommunityAccess, CommunityGuard, CurrentUser};
use crate::auth::roles::{Role, Scope};
use crate::entities::{role_grant, street, user};
use crate::error::{AppError, AppResult, ErrorCode, is_unique_violation};
use crate::state::AppState;

/// Checks that `current` may grant or revoke `role` at `scope_id`.
async fn authorize(
    state: &AppState,
    current: &CurrentUser,
    role: Role,
    scope_id: i64,
) -> AppResult<()> {
    match role.scope() {
        Scope::Platform => current.require_platform_admin(),
        Scope::Street => {
            current.require_platform_admin()?;
            street::Entity::find_by_id(scope_id)
                .one(&state.db)
                .await?
                .ok_or_else(|| AppError::validation("scope_id", "街道不存在"))?;
            Ok(())
        }
        Scope::Merchant => {
            let merchant = crate::entities::merchant::Entity::find_by_id(scope_id)
                .one(&state.db)
                .await?
                .ok_or_else(AppError::not_found)?;
            let access = CommunityAccess::load(&state.db, current, merchant.community_id).await?;
            if crate::auth::access::Admin::allows(&access) {
                Ok(())
            } else {
                Err(AppError::forbidden())
            }
        }
        Scope::Community => {
            let access = CommunityAccess::load(&state.db, current, scope_id).await?;
            if crate::auth::access::Admin::allows(&access) {
                Ok(())
            } else {
                Err(AppError::forbidden())
            }
        }
    }
}

/// Grants a role after checking the caller's authority.
pub async fn grant(
    state: &AppState,
    current: &CurrentUser,
    user_id: i64,
    role: Role,
    scope_id: i64,
) -> AppResult<role_grant::Model> {
    if !role.grantable() {
        return Err(AppError::validation(
            "role",
            "居民身份由社区审核产生，商户店员通过邀请码加入，均不能直接授予",
        ));
    }
    let scope_id = if role.scope() == Scope::Platform {
        0
    } else {
        scope_id
    };
    authorize(state, current, role, scope_id).await?;
    insert_grant(state, user_id, role, scope_id, Some(current.id())).await
}

/// Writes a grant with no authority check: for the `linli admin` command run by the operator.
pub async fn insert_grant(
    state: &AppState,
    user_id: i64,
    role: Role,
    scope_id: i64,
    granted_by: Option<i64>,
) -> AppResult<role_grant::Model> {
    user::Entity::find_by_id(user_id)
        .one(&state.db)
        .await?
        .filter(|u| u.deleted_at.is_none())
        .ok_or_else(|| AppError::validation("user_id", "用户不存在"))?;
    let txn = crate::db::begin_write(&state.db).await?;
    let granted = role_grant::ActiveModel {
        user_id: Set(user_id),
        role: Set(role.as_str().to_owned()),
        scope_id: Set(scope_id),
        granted_by: Set(granted_by),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            AppError::new(ErrorCode::RoleAlreadyGranted, "该用户已拥有此角色")
        } else {
            e.into()
        }
    })?;
    let entry = Entry::new(AuditKind::RoleGranted, ObjectType::RoleGrant, granted.id);
    audit::record(&txn, placed(&txn, entry, &granted, granted_by).await?).await?;
    txn.commit().await?;
    Ok(granted)
}

/// Where a grant's entry belongs: a community role to its community, a street admin to the
/// street, a merchant's staff to the merchant's home community; a platform admin to neither.
async fn placed(
    db: &impl ConnectionTrait,
    entry: Entry,
    grant: &role_grant::Model,
    actor: Option<i64>,
) -> AppResult<Entry> {
    let entry = entry.by(actor).detail(json!({
        "user_id": grant.user_id, "role": grant.role, "scope_id": grant.scope_id,
    }));
    Ok(match Role::parse(&grant.role).map(Role::scope) {
        Some(Scope::Community) => entry.in_community(grant.scope_id),
        Some(Scope::Street) => entry.in_street(grant.scope_id),
        Some(Scope::Merchant) => {
            let home = crate::entities::merchant::Entity::find_by_id(grant.scope_id)
                .one(db)
                .await?
                .map(|m| m.community_id);
            entry.in_community(home)
        }
        Some(Scope::Platform) | None => entry,
    })
}

/// Deletes one grant and records who took it away, in one transaction; false when it was
/// already gone (then nothing is recorded).
async fn remove(
    state: &AppState,
    grant: &role_grant::Model,
    actor: Option<i64>,
) -> AppResult<bool> {
    let txn = crate::db::begin_write(&state.db).await?;
    let deleted = role_grant::Entity::delete_by_id(grant.id)
        .exec(&txn)
        .await?;
    if deleted.rows_affected != 1 {
        return Ok(false);
    }
    let kind = if grant.role == Role::MerchantStaff.as_str() {
        AuditKind::MerchantStaffRemoved
    } else {
        AuditKind::RoleRevoked
    };
    let entry = Entry::new(kind, ObjectType::RoleGrant, grant.id);
    audit::record(&txn, placed(&txn, entry, grant, actor).await?).await?;
    txn.commit().await?;
    Ok(true)
}

/// Revokes a grant after checking the caller's authority over its scope. A grant the caller
/// has no authority over is reported as not found.
pub async fn revoke(state: &AppState, current: &CurrentUser, grant_id: i64) -> AppResult<()> {
    let found = role_grant::Entity::find_by_id(grant_id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)?;
    let role = Role::parse(&found.role).ok_or_else(AppError::not_found)?;
    authorize(state, current, role, found.scope_id)
        .await
        .map_err(|e| match e.code() {
            ErrorCode::Forbidden => AppError::not_found(),
            _ => e,
        })?;
    remove(state, &found, Some(current.id())).await?;
    Ok(())
}

/// Removes a grant with no authority check: for the `linli admin` command.
pub async fn delete_grant(
    state: &AppState,
    user_id: i64,
    role: Role,
    scope_id: i64,
) -> AppResult<bool> {
    let found = role_grant::Entity::find()
        .filter(role_grant::Column::UserId.eq(user_id))
        .filter(role_grant::Column::Role.eq(role.as_str()))
        .filter(role_grant::Column::ScopeId.eq(scope_id))
        .one(&state.db)
        .await?;
    match found {
        Some(grant) => remove(state, &grant, None).await,
        None => Ok(false),
    }
}

pub async fn list_in_community(
    state: &AppState,
    community_id: i64,
) -> AppResult<Vec<(role_grant::Model, Option<user::Model>)>> {
    let community_roles: Vec<&str> = [
        Role::Representative,
        Role::GridWorker,
        Role::BuildingLeader,
        Role::CommunityAdmin,
    ]
    .iter()
    .map(|r| r.as_str())
    .collect();
    let grants = role_grant::Entity::find()
        .filter(role_grant::Column::ScopeId.eq(community_id))
        .filter(role_grant::Column::Role.is_in(community_roles))
        .order_by_asc(role_grant::Column::Id)
        .all(&state.db)
        .await?;
    let users = user::Entity::find()
        .filter(user::Column::Id.is_in(grants.iter().map(|g| g.user_id)))
        .all(&state.db)
        .await?;
    Ok(grants
        .into_iter()
        .map(|g| {
            let u = users.iter().find(|u| u.id == g.user_id).cloned();
            (g, u)
        })
        .collect())
}
