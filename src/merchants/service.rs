//! Merchants, staff invitations and offers.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};

use serde_json::json;

use crate::audit::{self, AuditKind, Entry, ObjectType};
use crate::auth::access::{Admin, CommunityAccess, CommunityGuard, CurrentUser};
use crate::auth::roles::Role;
use crate::entities::{community, merchant, merchant_community, merchant_invite, offer};
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

/// Admits a merchant serving `communities` (the first is its home). One transaction writes
/// the merchant and the communities it serves.
pub async fn create(
    state: &AppState,
    admin: &CurrentUser,
    communities: &[i64],
    m: NewMerchant<'_>,
) -> AppResult<(merchant::Model, Vec<i64>)> {
    admit(state, admin, communities, None, m).await
}

/// Writes the merchant, the communities it serves and the audit entry — the street's too
/// when a street admitted it.
async fn admit(
    state: &AppState,
    admin: &CurrentUser,
    communities: &[i64],
    street_id: Option<i64>,
    m: NewMerchant<'_>,
) -> AppResult<(merchant::Model, Vec<i64>)> {
    let home = *communities
        .first()
        .ok_or_else(|| AppError::validation("community_ids", "请至少选择一个社区"))?;
    let row = merchant::ActiveModel {
        community_id: Set(home),
        name: Set(validate::text("name", m.name, 64)?),
        address: Set(validate::text("address", m.address, 200)?),
        category: Set(validate::text("category", m.category, 32)?),
        contact: Set(validate::text("contact", m.contact, 64)?),
        status: Set("active".into()),
        created_by: Set(admin.id()),
        created_at: Set(Utc::now()),
        ..Default::default()
    };
    let txn = crate::db::begin_write(&state.db).await?;
    let created = row.insert(&txn).await?;
    merchant_community::Entity::insert_many(communities.iter().map(|c| {
        merchant_community::ActiveModel {
            merchant_id: Set(created.id),
            community_id: Set(*c),
            created_at: Set(created.created_at),
        }
    }))
    .exec_without_returning(&txn)
    .await?;
    let entry = Entry::new(
        AuditKind::MerchantAdmitted,
        ObjectType::Merchant,
        created.id,
    )
    .by(admin.id())
    .in_community(home)
    .in_street(street_id)
    .detail(json!({"status": created.status, "community_ids": communities}));
    audit::record(&txn, entry).await?;
    txn.commit().await?;
    Ok((created, communities.to_vec()))
}

/// Admits a merchant for several communities of a street (its street admins). The
/// communities must all be the street's; the first is the merchant's home.
pub async fn create_for_street(
    state: &AppState,
    current: &CurrentUser,
    street_id: i64,
    community_ids: &[i64],
    m: NewMerchant<'_>,
) -> AppResult<(merchant::Model, Vec<i64>)> {
    if !current.is_street_admin(street_id) {
        return Err(AppError::not_found());
    }
    let mut ids: Vec<i64> = Vec::new();
    for id in community_ids {
        if !ids.contains(id) {
            ids.push(*id);
        }
    }
    if ids.is_empty() || ids.len() > 100 {
        return Err(AppError::validation(
            "community_ids",
            "请选择 1 到 100 个本街道的社区",
        ));
    }
    let found = community::Entity::find()
        .filter(community::Column::Id.is_in(ids.clone()))
        .filter(community::Column::StreetId.eq(street_id))
        .count(&state.db)
        .await?;
    if found as usize != ids.len() {
        return Err(AppError::validation(
            "community_ids",
            "所选社区须都属于本街道",
        ));
    }
    admit(state, current, &ids, Some(street_id), m).await
}

/// The communities whose beans the merchant accepts, home first.
pub async fn served(db: &impl ConnectionTrait, m: &merchant::Model) -> AppResult<Vec<i64>> {
    Ok(served_many(db, std::slice::from_ref(m))
        .await?
        .remove(&m.id)
        .unwrap_or_default())
}

/// The communities each merchant serves, home first, in one query.
pub async fn served_many(
    db: &impl ConnectionTrait,
    merchants: &[merchant::Model],
) -> AppResult<HashMap<i64, Vec<i64>>> {
    let mut out: HashMap<i64, Vec<i64>> = merchants
        .iter()
        .map(|m| (m.id, vec![m.community_id]))
        .collect();
    let rows = merchant_community::Entity::find()
        .filter(merchant_community::Column::MerchantId.is_in(merchants.iter().map(|m| m.id)))
        .order_by_asc(merchant_community::Column::CommunityId)
        .all(db)
        .await?;
    for r in rows {
        if let Some(list) = out.get_mut(&r.merchant_id)
            && !list.contains(&r.community_id)
        {
            list.push(r.community_id);
        }
    }
    Ok(out)
}

/// Merchants serving `community_id`, by id.
fn serving(community_id: i64) -> sea_orm::sea_query::SelectStatement {
    sea_orm::sea_query::Query::select()
        .column(merchant_community::Column::MerchantId)
        .from(merchant_community::Entity)
        .and_where(merchant_community::Column::CommunityId.eq(community_id))
        .to_owned()
}

/// The merchants that serve the community.
pub async fn list(
    state: &AppState,
    community_id: i64,
    page: Keyset,
) -> AppResult<Vec<merchant::Model>> {
    let query =
        merchant::Entity::find().filter(merchant::Column::Id.in_subquery(serving(community_id)));
    Ok(page
        .ascending(query, merchant::Column::Id)
        .all(&state.db)
        .await?)
}

/// Who may manage a merchant: its home community's admins (and street/platform admins
/// above). Anyone else is told it does not exist.
pub async fn managed(
    state: &AppState,
    current: &CurrentUser,
    merchant_id: i64,
) -> AppResult<merchant::Model> {
    let m = merchant::Entity::find_by_id(merchant_id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)?;
    let access = CommunityAccess::load(&state.db, current, m.community_id).await?;
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
    // One conditional update: of two admins changing it at once, one changes it and is
    // recorded; setting the status it already has changes and records nothing.
    let txn = crate::db::begin_write(&state.db).await?;
    let changed = merchant::Entity::update_many()
        .col_expr(merchant::Column::Status, Expr::value(status))
        .filter(merchant::Column::Id.eq(m.id))
        .filter(merchant::Column::Status.ne(status))
        .exec(&txn)
        .await?;
    let now = merchant::Entity::find_by_id(m.id)
        .one(&txn)
        .await?
        .ok_or_else(AppError::not_found)?;
    if changed.rows_affected == 1 {
        let (kind, before) = if status == "suspended" {
            (AuditKind::MerchantSuspended, "active")
        } else {
            (AuditKind::MerchantReinstated, "suspended")
        };
        let entry = Entry::new(kind, ObjectType::Merchant, m.id)
            .by(current.id())
            .in_community(m.community_id)
            .detail(json!({"before": before, "after": status}));
        audit::record(&txn, entry).await?;
    }
    txn.commit().await?;
    Ok(now)
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
    // the second grant is simply not added (nor recorded).
    let added =
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
    let shop = merchant::Entity::find_by_id(found.merchant_id)
        .one(&txn)
        .await?
        .ok_or_else(AppError::not_found)?;
    if added > 0 {
        let entry = Entry::new(
            AuditKind::MerchantStaffJoined,
            ObjectType::Merchant,
            shop.id,
        )
        .by(current.id())
        .in_community(shop.community_id)
        .detail(json!({"user_id": current.id(), "invite_id": found.id}));
        audit::record(&txn, entry).await?;
    }
    txn.commit().await?;
    Ok(shop)
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

/// Staff and the community's admins add offers. Returns the offer and its shop.
pub async fn create_offer(
    state: &AppState,
    current: &CurrentUser,
    merchant_id: i64,
    o: OfferInput,
) -> AppResult<(offer::Model, merchant::Model)> {
    let m = staffed(state, current, merchant_id).await?;
    let name = check_offer(&o)?;
    check_photo(state, current, &m, o.photo_upload_id.as_deref()).await?;
    let created = offer::ActiveModel {
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
    .await?;
    Ok((created, m))
}

/// What an edit of an offer changes: `None` leaves a field as it is; for the nullable ones,
/// `Some(None)` clears it.
#[derive(Default)]
pub struct OfferEdit {
    pub name: Option<String>,
    pub price: Option<i64>,
    pub stock: Option<Option<i64>>,
    pub per_resident_limit: Option<Option<i64>>,
    pub valid_from: Option<Option<DateTime<Utc>>>,
    pub valid_until: Option<Option<DateTime<Utc>>>,
    pub photo_upload_id: Option<Option<String>>,
    pub active: Option<bool>,
}

/// Edits, restocks, reprices or withdraws an offer. The offer as edited is checked by the
/// same rules as a new one. A sale already made keeps its price and name. Returns the offer
/// and its shop.
pub async fn update_offer(
    state: &AppState,
    current: &CurrentUser,
    offer_id: i64,
    edit: OfferEdit,
) -> AppResult<(offer::Model, merchant::Model)> {
    let found = offer::Entity::find_by_id(offer_id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)?;
    let m = staffed(state, current, found.merchant_id).await?;
    let photo_changed = edit.photo_upload_id.is_some();
    let name_changed = edit.name.is_some();
    let next = OfferInput {
        name: edit.name.unwrap_or_else(|| found.name.clone()),
        price: edit.price.unwrap_or(found.price),
        stock: edit.stock.unwrap_or(found.stock),
        per_resident_limit: edit.per_resident_limit.unwrap_or(found.per_resident_limit),
        valid_from: edit.valid_from.unwrap_or(found.valid_from),
        valid_until: edit.valid_until.unwrap_or(found.valid_until),
        photo_upload_id: edit
            .photo_upload_id
            .unwrap_or_else(|| found.photo_upload_id.clone()),
    };
    let name = check_offer(&next)?;
    if photo_changed {
        check_photo(state, current, &m, next.photo_upload_id.as_deref()).await?;
    }
    // Only the fields the edit names are written: stock in particular is taken by sales in
    // the meantime, and writing back the value read here would return what they took.
    let mut row: offer::ActiveModel = found.clone().into();
    if name_changed {
        row.name = Set(name);
    }
    if edit.price.is_some() {
        row.price = Set(next.price);
    }
    if edit.stock.is_some() {
        row.stock = Set(next.stock);
    }
    if edit.per_resident_limit.is_some() {
        row.per_resident_limit = Set(next.per_resident_limit);
    }
    if edit.valid_from.is_some() {
        row.valid_from = Set(next.valid_from);
    }
    if edit.valid_until.is_some() {
        row.valid_until = Set(next.valid_until);
    }
    if photo_changed {
        row.photo_upload_id = Set(next.photo_upload_id);
    }
    if let Some(a) = edit.active {
        row.active = Set(a);
    }
    if !row.is_changed() {
        return Ok((found, m));
    }
    Ok((row.update(&state.db).await?, m))
}

/// An offer's photo must be one of the shop's own uploads (`POST /merchants/{id}/uploads`):
/// a resident's photo of the community is not the shop's to advertise with.
async fn check_photo(
    state: &AppState,
    current: &CurrentUser,
    m: &merchant::Model,
    photo: Option<&str>,
) -> AppResult<()> {
    let Some(photo) = photo else {
        return Ok(());
    };
    let upload = crate::uploads::service::metadata(state, current, photo)
        .await
        .map_err(|_| AppError::validation("photo_upload_id", "图片不存在"))?;
    if upload.merchant_id != Some(m.id) {
        return Err(AppError::validation(
            "photo_upload_id",
            "图片不存在，商品图片须上传到本商户",
        ));
    }
    Ok(())
}

/// The offers a resident of `community_id` can use now: active offers, within their
/// validity, of active merchants serving the community; keyset-paged by offer id.
pub async fn offers_for_residents(
    state: &AppState,
    community_id: i64,
    page: Keyset,
) -> AppResult<Vec<(offer::Model, merchant::Model)>> {
    let now = Utc::now();
    let open_merchants = sea_orm::sea_query::Query::select()
        .column(merchant::Column::Id)
        .from(merchant::Entity)
        .and_where(merchant::Column::Id.in_subquery(serving(community_id)))
        .and_where(merchant::Column::Status.eq("active"))
        .to_owned();
    let query = offer::Entity::find()
        .filter(offer::Column::MerchantId.in_subquery(open_merchants))
        .filter(offer::Column::Active.eq(true))
        .filter(
            offer::Column::ValidFrom
                .is_null()
                .or(offer::Column::ValidFrom.lte(now)),
        )
        .filter(
            offer::Column::ValidUntil
                .is_null()
                .or(offer::Column::ValidUntil.gt(now)),
        );
    let offers = page
        .ascending(query, offer::Column::Id)
        .all(&state.db)
        .await?;
    let mut ids: Vec<i64> = offers.iter().map(|o| o.merchant_id).collect();
    ids.dedup();
    let merchants = merchant::Entity::find()
        .filter(merchant::Column::Id.is_in(ids))
        .all(&state.db)
        .await?;
    Ok(offers
        .into_iter()
        .filter_map(|o| {
            let m = merchants.iter().find(|m| m.id == o.merchant_id)?.clone();
            Some((o, m))
        })
        .collect())
}

/// A new counter code (收款码) for the shop, to print and put by the till (its staff and
/// managers). Residents scan it and confirm what to pay.
pub async fn counter_code(
    state: &AppState,
    current: &CurrentUser,
    merchant_id: i64,
) -> AppResult<crate::entities::qr_code::Model> {
    let shop = staffed(state, current, merchant_id).await?;
    crate::codes::service::create_for_merchant(state, current.id(), shop.community_id, shop.id)
        .await
}

/// All of a merchant's offers, withdrawn ones too (its staff and managers), and the shop.
pub async fn offers_of(
    state: &AppState,
    current: &CurrentUser,
    merchant_id: i64,
    page: Keyset,
) -> AppResult<(merchant::Model, Vec<offer::Model>)> {
    let shop = staffed(state, current, merchant_id).await?;
    let query = offer::Entity::find().filter(offer::Column::MerchantId.eq(merchant_id));
    let offers = page
        .ascending(query, offer::Column::Id)
        .all(&state.db)
        .await?;
    Ok((shop, offers))
}
