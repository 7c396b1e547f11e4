//! A merchant's staff (商户店员): who works its counter, how many sales each made, and removing
//! one. Staff join through invitation codes (`service::invite`); a staff member is a
//! `merchant_staff` role grant scoped to the merchant. Those who manage the merchant (its home
//! community's admins, its street's admins, platform admins) see the list with masked phone
//! numbers and remove staff; staff see their colleagues, without phone numbers.

use std::collections::HashMap;

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
};

use crate::auth::access::CurrentUser;
use crate::auth::roles::Role;
use crate::entities::{merchant, redemption, role_grant, user};
use crate::error::{AppError, AppResult};
use crate::merchants::redemption::Channel;
use crate::merchants::service::{managed, staffed};
use crate::pagination::Keyset;
use crate::state::AppState;

/// One member of staff as the list shows them.
pub struct StaffMember {
    pub grant: role_grant::Model,
    pub user: Option<user::Model>,
    /// Sales they made by scanning residents' pay codes (reversed ones included).
    pub redemptions: i64,
}

/// Whether the caller manages the merchant (and so sees phone numbers and removes staff).
pub struct Listing {
    pub shop: merchant::Model,
    pub is_manager: bool,
    pub staff: Vec<StaffMember>,
}

fn staff_of(merchant_id: i64) -> sea_orm::Select<role_grant::Entity> {
    role_grant::Entity::find()
        .filter(role_grant::Column::Role.eq(Role::MerchantStaff.as_str()))
        .filter(role_grant::Column::ScopeId.eq(merchant_id))
}

#[derive(FromQueryResult)]
struct SalesCount {
    staff_id: i64,
    sales: i64,
}

/// Pay-code sales per member of staff: one grouped query for a page of staff. Counter-code
/// payments are left out: there the resident paid, and `staff_id` holds the resident.
async fn sales_by(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    staff: &[i64],
) -> AppResult<HashMap<i64, i64>> {
    let rows = redemption::Entity::find()
        .select_only()
        .column(redemption::Column::StaffId)
        .column_as(Expr::col(redemption::Column::Id).count(), "sales")
        .filter(redemption::Column::MerchantId.eq(merchant_id))
        .filter(redemption::Column::Channel.eq(Channel::PayCode.as_str()))
        .filter(redemption::Column::StaffId.is_in(staff.iter().copied()))
        .group_by(redemption::Column::StaffId)
        .into_model::<SalesCount>()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|r| (r.staff_id, r.sales)).collect())
}

/// The merchant's staff by grant id (its managers and its staff); others get 404.
pub async fn list(
    state: &AppState,
    current: &CurrentUser,
    merchant_id: i64,
    page: Keyset,
) -> AppResult<Listing> {
    let is_manager = !current.is_staff_of(merchant_id);
    let shop = if is_manager {
        managed(state, current, merchant_id).await?
    } else {
        staffed(state, current, merchant_id).await?
    };
    let query = staff_of(shop.id);
    let grants = page
        .ascending(query, role_grant::Column::Id)
        .all(&state.db)
        .await?;
    let ids: Vec<i64> = grants.iter().map(|g| g.user_id).collect();
    let users = user::Entity::find()
        .filter(user::Column::Id.is_in(ids.clone()))
        .all(&state.db)
        .await?;
    let sales = sales_by(&state.db, shop.id, &ids).await?;
    let staff = grants
        .into_iter()
        .map(|g| StaffMember {
            user: users.iter().find(|u| u.id == g.user_id).cloned(),
            redemptions: sales.get(&g.user_id).copied().unwrap_or(0),
            grant: g,
        })
        .collect();
    Ok(Listing {
        shop,
        is_manager,
        staff,
    })
}

/// Removes a member of staff (those who manage the merchant). From the commit on, their
/// requests are refused at the counter (`NOT_MERCHANT_STAFF`) and the shop is hidden from them.
/// A user who is not on the staff is 404.
pub async fn remove(
    state: &AppState,
    current: &CurrentUser,
    merchant_id: i64,
    user_id: i64,
) -> AppResult<role_grant::Model> {
    let shop = managed(state, current, merchant_id).await?;
    let txn = crate::db::begin_write(&state.db).await?;
    let grant = staff_of(shop.id)
        .filter(role_grant::Column::UserId.eq(user_id))
        .one(&txn)
        .await?
        .ok_or_else(AppError::not_found)?;
    // The delete is the gate: of two removals at once, the one that deletes nothing is 404
    // and writes nothing.
    let gone = role_grant::Entity::delete_by_id(grant.id)
        .exec(&txn)
        .await?;
    if gone.rows_affected != 1 {
        return Err(AppError::not_found());
    }
    let entry = crate::audit::Entry::new(
        crate::audit::AuditKind::MerchantStaffRemoved,
        crate::audit::ObjectType::RoleGrant,
        grant.id,
    )
    .by(current.id())
    .in_community(shop.community_id)
    .detail(serde_json::json!({
        "user_id": grant.user_id, "role": "merchant_staff", "scope_id": shop.id,
    }));
    crate::audit::record(&txn, entry).await?;
    txn.commit().await?;
    Ok(grant)
}

/// The masked nickname of each of `ids` who is a user, for lines naming who made a sale.
pub async fn names(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = i64>,
) -> AppResult<HashMap<i64, String>> {
    let users = user::Entity::find()
        .filter(user::Column::Id.is_in(ids))
        .all(db)
        .await?;
    Ok(users.iter().map(|u| (u.id, masked_nickname(u))).collect())
}

/// A nickname as a colleague or manager sees it: its first character, then **.
pub fn masked_nickname(u: &user::Model) -> String {
    match &u.nickname {
        Some(n) => crate::wishes::service::mask_name(n),
        None if u.deleted_at.is_some() => "已注销用户".to_owned(),
        None => "**".to_owned(),
    }
}
