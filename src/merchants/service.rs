//! Merchants, staff invitations and offers.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::auth::extract::{Admin, CommunityAccess, CommunityGuard, CurrentUser};
use crate::auth::roles::Role;
use crate::entities::{merchant, merchant_invite, offer};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::pagination::Keyset;
use crate::state::AppState;
use crate::validate;

pub struct NewMerchant<'a> {
    pub name: &'a str,
    pub address: &'a str,
    pub category: &'a str,
    pub contact: &'a str,
}

pub async fn create(
    state: &AppState,
    admin: &CurrentUser,
    community_id: i64,
    m: NewMerchant<'_>,
) -> AppResult<merchant::Model> {
    Ok(merchant::ActiveModel {
        community_id: Set(community_id),
        name: Set(validate::text("name", m.name, 64)?),
        address: Set(validate::text("address", m.address, 200)?),
        category: Set(validate::text("category", m.category, 32)?),
        contact: Set(validate::text("contact", m.contact, 64)?),
        status: Set("active".into()),
        created_by: Set(admin.id()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&state.db)
    .await?)
}

pub async fn list(
    state: &AppState,
    community_id: i64,
    page: Keyset,
) -> AppResult<Vec<merchant::Model>> {
    let mut query = merchant::Entity::find().filter(merchant::Column::CommunityId.eq(community_id));
    if let Some(after) = page.after {
        query = query.filter(merchant::Column::Id.gt(after));
    }
    Ok(query
        .order_by_asc(merchant::Column::Id)
        .limit(page.limit + 1)
        .all(&state.db)
        .await?)
}

/// Who may manage a merchant: its community's admins (and street/platform admins above).
/// Anyone else is told it does not exist.
pub async fn managed(
    state: &AppState,
    current: &CurrentUser,
    merchant_id: i64,
) -> AppResult<merchant::Model> {
    let m = merchant::Entity::find_by_id(merchant_id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)?;
    let access = CommunityAccess::load(state, current, m.community_id).await?;
    if !Admin::allows(&access) {
        return Err(AppError::not_found());
    }
    Ok(m)
}

/// A merchant seen by its staff or its community's admins; others get 404.
pub async fn staffed(
    state: &AppState,
    current: &CurrentUser,
    merchant_id: i64,
) -> AppResult<merchant::Model> {
    if current.is_staff_of(merchant_id) {
        return merchant::Entity::find_by_id(merchant_id)
            .one(&state.db)
            .await?
            .ok_or_else(AppError::not_found);
    }
    managed(state, current, merchant_id).await
}

pub async fn set_status(
    state: &AppState,
    current: &CurrentUser,
    merchant_id: i64,
    status: &str,
) -> AppResult<merchant::Model> {
    if !matches!(status, "active" | "suspended") {
        return Err(AppError::validation(
            "status",
            "status 须为 active 或 suspended",
        ));
    }
    let m = managed(state, current, merchant_id).await?;
    let mut active: merchant::ActiveModel = m.into();
    active.status = Set(status.to_owned());
    Ok(active.update(&state.db).await?)
}

/// Makes a one-time invitation code for a new member of staff, valid for seven days. The code
/// is shown once; only its hash is kept.
pub async fn invite(
    state: &AppState,
    current: &CurrentUser,
    merchant_id: i64,
) -> AppResult<(String, DateTime<Utc>)> {
    let m = managed(state, current, merchant_id).await?;
    let code = crate::crypto::random_token(9).map_err(AppError::Internal)?;
    let expires_at = Utc::now() + chrono::Duration::days(7);
    merchant_invite::ActiveModel {
        merchant_id: Set(m.id),
        code_hash: Set(state.crypto.lookup_hash("merchant-invite", &code)),
        expires_at: Set(expires_at),
        used_by: Set(None),
        used_at: Set(None),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&state.db)
    .await?;
    Ok((code, expires_at))
}

/// Joins a merchant's staff with an invitation code (once).
pub async fn accept_invite(
    state: &AppState,
    current: &CurrentUser,
    code: &str,
) -> AppResult<merchant::Model> {
    let code = validate::text("code", code, 64)?;
    let hash = state.crypto.lookup_hash("merchant-invite", &code);
    let invalid = || AppError::new(ErrorCode::InviteInvalid, "邀请码无效、已使用或已过期");
    let found = merchant_invite::Entity::find()
        .filter(merchant_invite::Column::CodeHash.eq(&hash))
        .one(&state.db)
        .await?
        .ok_or_else(invalid)?;
    let now = Utc::now();
    let txn = crate::db::begin_write(&state.db).await?;
    let used = merchant_invite::Entity::update_many()
        .col_expr(merchant_invite::Column::UsedBy, Expr::value(current.id()))
        .col_expr(merchant_invite::Column::UsedAt, Expr::value(now))
        .filter(merchant_invite::Column::Id.eq(found.id))
        .filter(merchant_invite::Column::UsedAt.is_null())
        .filter(merchant_invite::Column::ExpiresAt.gt(now))
        .exec(&txn)
        .await?;
    if used.rows_affected != 1 {
        return Err(invalid());
    }
    // Already staff (say, two invitations accepted at once): the unique index decides, and
    // the second grant is simply not added.
    crate::entities::role_grant::Entity::insert(crate::entities::role_grant::ActiveModel {
        user_id: Set(current.id()),
        role: Set(Role::MerchantStaff.as_str().to_owned()),
        scope_id: Set(found.merchant_id),
        granted_by: Set(None),
        created_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([
            crate::entities::role_grant::Column::UserId,
            crate::entities::role_grant::Column::Role,
            crate::entities::role_grant::Column::ScopeId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await?;
    merchant::Entity::find_by_id(found.merchant_id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)
}

pub struct OfferInput {
    pub name: String,
    pub price: i64,
    pub stock: Option<i64>,
    pub per_resident_limit: Option<i64>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub photo_upload_id: Option<String>,
}

fn check_offer(o: &OfferInput) -> AppResult<String> {
    let name = validate::text("name", &o.name, 64)?;
    if !(1..=100_000).contains(&o.price) {
        return Err(AppError::validation(
            "price",
            "价格须在 1 到 100000 金豆之间",
        ));
    }
    if o.stock.is_some_and(|s| !(0..=1_000_000).contains(&s)) {
        return Err(AppError::validation("stock", "库存须在 0 到 1000000 之间"));
    }
    if o.per_resident_limit
        .is_some_and(|l| !(1..=1000).contains(&l))
    {
        return Err(AppError::validation(
            "per_resident_limit",
            "每人限兑须在 1 到 1000 之间",
        ));
    }
    if let (Some(from), Some(until)) = (o.valid_from, o.valid_until)
        && until <= from
    {
        return Err(AppError::validation(
            "valid_until",
            "结束时间须晚于开始时间",
        ));
    }
    Ok(name)
}

/// Staff and the community's admins add offers.
pub async fn create_offer(
    state: &AppState,
    current: &CurrentUser,
    merchant_id: i64,
    o: OfferInput,
) -> AppResult<offer::Model> {
    let m = staffed(state, current, merchant_id).await?;
    let name = check_offer(&o)?;
    if let Some(photo) = &o.photo_upload_id {
        let upload = crate::uploads::service::metadata(state, current, photo)
            .await
            .map_err(|_| AppError::validation("photo_upload_id", "图片不存在"))?;
        if upload.community_id != m.community_id {
            return Err(AppError::validation("photo_upload_id", "图片不存在"));
        }
    }
    Ok(offer::ActiveModel {
        merchant_id: Set(m.id),
        name: Set(name),
        price: Set(o.price),
        stock: Set(o.stock),
        per_resident_limit: Set(o.per_resident_limit),
        valid_from: Set(o.valid_from),
        valid_until: Set(o.valid_until),
        photo_upload_id: Set(o.photo_upload_id),
        active: Set(true),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&state.db)
    .await?)
}

/// Restocks, reprices or withdraws an offer.
pub async fn update_offer(
    state: &AppState,
    current: &CurrentUser,
    offer_id: i64,
    stock: Option<i64>,
    active: Option<bool>,
) -> AppResult<offer::Model> {
    let found = offer::Entity::find_by_id(offer_id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)?;
    staffed(state, current, found.merchant_id).await?;
    if stock.is_some_and(|s| !(0..=1_000_000).contains(&s)) {
        return Err(AppError::validation("stock", "库存须在 0 到 1000000 之间"));
    }
    let mut row: offer::ActiveModel = found.into();
    if let Some(s) = stock {
        row.stock = Set(Some(s));
    }
    if let Some(a) = active {
        row.active = Set(a);
    }
    Ok(row.update(&state.db).await?)
}

/// The offers a resident of `community_id` can use now: active offers of active merchants
/// of the community, within their validity.
pub async fn offers_for_residents(
    state: &AppState,
    community_id: i64,
) -> AppResult<Vec<(offer::Model, merchant::Model)>> {
    let merchants = merchant::Entity::find()
        .filter(merchant::Column::CommunityId.eq(community_id))
        .filter(merchant::Column::Status.eq("active"))
        .all(&state.db)
        .await?;
    let now = Utc::now();
    let offers = offer::Entity::find()
        .filter(offer::Column::MerchantId.is_in(merchants.iter().map(|m| m.id)))
        .filter(offer::Column::Active.eq(true))
        .order_by_asc(offer::Column::Id)
        .limit(200)
        .all(&state.db)
        .await?;
    Ok(offers
        .into_iter()
        .filter(|o| o.valid_from.is_none_or(|t| t <= now))
        .filter(|o| o.valid_until.is_none_or(|t| t > now))
        .filter_map(|o| {
            let m = merchants.iter().find(|m| m.id == o.merchant_id)?.clone();
            Some((o, m))
        })
        .collect())
}

pub async fn offers_of(
    state: &AppState,
    current: &CurrentUser,
    merchant_id: i64,
) -> AppResult<Vec<offer::Model>> {
    staffed(state, current, merchant_id).await?;
    Ok(offer::Entity::find()
        .filter(offer::Column::MerchantId.eq(merchant_id))
        .order_by_asc(offer::Column::Id)
        .all(&state.db)
        .await?)
}
