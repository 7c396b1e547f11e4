//! Account rules: profile edits, phone binding (encrypted, with a keyed hash for look-up),
//! export of everything we hold on the user, and erasure that keeps what others rely on,
//! detached from the person.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::auth::access::CurrentUser;
use crate::entities::{auth_session, community, membership, outbox, role_grant, upload, user};
use crate::error::{AppError, AppResult, ErrorCode, is_unique_violation};
use crate::moderation::check::{Outcome, Scene, check};
use crate::moderation::queue::{self, Held, Kind};
use crate::state::AppState;
use crate::users::live::update_live;
use crate::validate;

#[derive(Debug, Default)]
pub struct ProfileChanges {
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
    pub is_party_member: Option<bool>,
    pub party_work_unit: Option<String>,
    pub party_report_community_id: Option<i64>,
}

/// The profile after an edit, and the fields held back for moderation.
pub struct Updated {
    pub user: user::Model,
    pub under_review: Vec<&'static str>,
}

pub async fn update_profile(
    state: &AppState,
    current: &CurrentUser,
    changes: ProfileChanges,
) -> AppResult<Updated> {
    let mut nickname = validate::optional_text("nickname", changes.nickname.as_deref(), 32)?;
    let changes_nickname = nickname.is_some();
    let avatar_url = changes
        .avatar_url
        .as_deref()
        .map(|u| validate::https_url("avatar_url", u))
        .transpose()?;
    let work_unit =
        validate::optional_text("party_work_unit", changes.party_work_unit.as_deref(), 64)?;
    if let Some(id) = changes.party_report_community_id {
        community::Entity::find_by_id(id)
            .one(&state.db)
            .await?
            .ok_or_else(|| AppError::validation("party_report_community_id", "报到社区不存在"))?;
    }
    // Everything is validated and checked before anything is written.
    let mut held = None;
    if let Some(text) = &nickname {
        match check(state, &current.user, Scene::Profile, "nickname", text).await? {
            Outcome::Publish => {}
            Outcome::Hold { source, label } => {
                held = Some((text.clone(), source, label));
                nickname = None;
            }
        }
    }
    let mut active: user::ActiveModel = current.user.clone().into();
    if let Some(v) = nickname {
        active.nickname = Set(Some(v));
    }
    if let Some(v) = avatar_url {
        active.avatar_url = Set(Some(v));
    }
    if let Some(v) = changes.is_party_member {
        active.is_party_member = Set(v);
        if !v {
            active.party_work_unit = Set(None);
            active.party_report_community_id = Set(None);
        }
    }
    let is_party_member = changes
        .is_party_member
        .unwrap_or(current.user.is_party_member);
    if work_unit.is_some() || changes.party_report_community_id.is_some() {
        if !is_party_member {
            return Err(AppError::validation(
                "is_party_member",
                "只有党员可以填写在职党员报到信息",
            ));
        }
        if let Some(v) = work_unit {
            active.party_work_unit = Set(Some(v));
        }
        if let Some(v) = changes.party_report_community_id {
            active.party_report_community_id = Set(Some(v));
        }
    }
    active.updated_at = Set(Utc::now());
    let txn = crate::db::begin_write(&state.db).await?;
    let user = update_live(&txn, current.id(), active).await?;
    if held.is_some() || changes_nickname {
        // A newer nickname replaces any still waiting for review.
        queue::supersede(&txn, Kind::Nickname, user.id).await?;
    }
    let mut under_review = Vec::new();
    if let Some((content, source, label)) = held {
        queue::hold(
            &txn,
            Held {
                community_id: None,
                kind: Kind::Nickname,
                target_id: user.id,
                author_id: user.id,
                content: &content,
                source,
                label,
            },
        )
        .await?;
        under_review.push("nickname");
    }
    txn.commit().await?;
    Ok(Updated { user, under_review })
}

/// A mainland mobile number: 11 digits starting with 1.
fn valid_phone(phone: &str) -> bool {
    phone.len() == 11 && phone.starts_with('1') && phone.chars().all(|c| c.is_ascii_digit())
}

pub async fn bind_phone(
    state: &AppState,
    current: &CurrentUser,
    code: &str,
) -> AppResult<user::Model> {
    let code = validate::text("code", code, 256)?;
    let phone = state.wechat.phone_number(&code).await?;
    if !valid_phone(&phone) {
        return Err(AppError::new(
            ErrorCode::WechatCodeInvalid,
            "该手机号暂不支持，请使用中国大陆手机号",
        ));
    }
    let hash = state.crypto.lookup_hash("phone", &phone);
    let taken = user::Entity::find()
        .filter(user::Column::PhoneHash.eq(&hash))
        .filter(user::Column::Id.ne(current.id()))
        .one(&state.db)
        .await?
        .is_some();
    let phone_taken = || AppError::new(ErrorCode::PhoneTaken, "该手机号已绑定其他账号");
    if taken {
        return Err(phone_taken());
    }
    let mut active: user::ActiveModel = current.user.clone().into();
    active.phone_enc = Set(Some(
        state.crypto.encrypt(&phone).map_err(AppError::Internal)?,
    ));
    active.phone_hash = Set(Some(hash));
    active.updated_at = Set(Utc::now());
    match update_live(&state.db, current.id(), active).await {
        Ok(u) => Ok(u),
        Err(AppError::Internal(e))
            if e.downcast_ref::<sea_orm::DbErr>()
                .is_some_and(is_unique_violation) =>
        {
            Err(phone_taken())
        }
        Err(e) => Err(e),
    }
}

/// The account as `GET /me` shows it: the user, their memberships and their roles.
pub struct Account {
    pub user: user::Model,
    pub memberships: Vec<(membership::Model, Option<community::Model>)>,
    pub grants: Vec<role_grant::Model>,
}

pub async fn account(state: &AppState, current: &CurrentUser) -> AppResult<Account> {
    let memberships = membership::Entity::find()
        .find_also_related(community::Entity)
        .filter(membership::Column::UserId.eq(current.id()))
        .order_by_asc(membership::Column::Id)
        .all(&state.db)
        .await?;
    Ok(Account {
        user: current.user.clone(),
        memberships,
        grants: current.grants.clone(),
    })
}

/// Everything held about the user, each capability contributing its part. Which tables and
/// columns it reads, and which user-id columns it leaves out and why, is declared in
/// [`crate::users::coverage`]; a test walks the schema against that declaration.
pub struct Export {
    pub account: Account,
    pub sessions: Vec<auth_session::Model>,
    pub uploads: Vec<upload::Model>,
    pub moderation: Vec<crate::entities::moderation_item::Model>,
    pub wishes: Vec<crate::wishes::service::MyWishData>,
    pub claims: Vec<crate::wishes::account::MyClaimData>,
    pub pair_units: Vec<crate::wishes::account::MyUnitMembership>,
    pub beans: crate::points::account::MyBeansData,
    pub shopping: crate::merchants::account::MyShopData,
    pub notifications: Vec<crate::notifications::account::MyNotification>,
}

pub async fn export(state: &AppState, current: &CurrentUser) -> AppResult<Export> {
    let db = &state.db;
    let id = current.id();
    let sessions = auth_session::Entity::find()
        .filter(auth_session::Column::UserId.eq(id))
        .order_by_asc(auth_session::Column::CreatedAt)
        .all(db)
        .await?;
    let uploads = upload::Entity::find()
        .filter(upload::Column::OwnerId.eq(id))
        .order_by_asc(upload::Column::CreatedAt)
        .all(db)
        .await?;
    Ok(Export {
        account: account(state, current).await?,
        sessions,
        uploads,
        moderation: queue::by_author(db, id).await?,
        wishes: crate::wishes::service::export_of(state, id).await?,
        claims: crate::wishes::account::claims_of(db, id).await?,
        pair_units: crate::wishes::account::units_of(db, id).await?,
        beans: crate::points::account::export_of(db, id).await?,
        shopping: crate::merchants::account::export_of(db, id).await?,
        notifications: crate::notifications::account::export_of(db, id).await?,
    })
}

/// The user's photos at erasure: those another person's record relies on (a wish's photos
/// or proof of its fulfilment, an offer's photo) and public ones stay, detached from them
/// (owner [`NO_OWNER`], still private to their community and served by signed URL); the rest
/// are deleted, and returned so their files can be removed after the commit. Runs after the
/// wishes have forgotten the user as a beneficiary (that clears their own wishes' photos).
async fn forget_uploads(txn: &impl ConnectionTrait, user_id: i64) -> AppResult<Vec<upload::Model>> {
    let own = upload::Entity::find()
        .filter(upload::Column::OwnerId.eq(user_id))
        .all(txn)
        .await?;
    let ids: Vec<String> = own.iter().map(|u| u.id.clone()).collect();
    let mut kept = crate::wishes::account::uploads_in_use(txn, &ids).await?;
    kept.extend(crate::merchants::account::photos_in_use(txn, &ids).await?);
    kept.extend(own.iter().filter(|u| u.is_public).map(|u| u.id.clone()));
    let (kept, gone): (Vec<_>, Vec<_>) = own.into_iter().partition(|u| kept.contains(&u.id));
    for chunk in kept.chunks(500) {
        upload::Entity::update_many()
            .col_expr(upload::Column::OwnerId, Expr::value(NO_OWNER))
            .filter(upload::Column::Id.is_in(chunk.iter().map(|u| u.id.clone())))
            .exec(txn)
            .await?;
    }
    for chunk in gone.chunks(500) {
        upload::Entity::delete_many()
            .filter(upload::Column::Id.is_in(chunk.iter().map(|u| u.id.clone())))
            .exec(txn)
            .await?;
    }
    Ok(gone)
}

/// The owner of an upload whose uploader erased their account while others relied on it.
pub const NO_OWNER: i64 = 0;

/// Erases the user's personal data. Rows others rely on (memberships, claims, ledger
/// postings, receipts, the photos of others' wishes and of offers) stay, pointing at an
/// anonymous account or at no one; the openid is released so the same WeChat user starts
/// afresh if they come back.
pub async fn erase(state: &AppState, current: &CurrentUser) -> AppResult<()> {
    let now = Utc::now();
    let txn = crate::db::begin_write(&state.db).await?;
    let mut active: user::ActiveModel = current.user.clone().into();
    active.openid = Set(format!("erased:{}", uuid::Uuid::new_v4()));
    active.unionid = Set(None);
    active.nickname = Set(None);
    active.avatar_url = Set(None);
    active.phone_enc = Set(None);
    active.phone_hash = Set(None);
    active.session_key_enc = Set(None);
    active.is_party_member = Set(false);
    active.party_work_unit = Set(None);
    active.party_report_community_id = Set(None);
    active.deleted_at = Set(Some(now));
    active.updated_at = Set(now);
    update_live(&txn, current.id(), active).await?;
    queue::forget_author(&txn, current.id()).await?;
    crate::wishes::service::forget_beneficiary(&txn, &state.crypto, current.id()).await?;
    outbox::Entity::update_many()
        .col_expr(outbox::Column::State, Expr::value("failed"))
        .col_expr(outbox::Column::Data, Expr::value("{}"))
        .col_expr(
            outbox::Column::LastError,
            Expr::value("recipient account erased"),
        )
        .filter(outbox::Column::UserId.eq(current.id()))
        .filter(outbox::Column::State.eq("pending"))
        .exec(&txn)
        .await?;
    let private_uploads = forget_uploads(&txn, current.id()).await?;
    membership::Entity::update_many()
        .col_expr(membership::Column::Status, Expr::value("left"))
        .col_expr(
            membership::Column::HouseholdId,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(membership::Column::UpdatedAt, Expr::value(now))
        .filter(membership::Column::UserId.eq(current.id()))
        .exec(&txn)
        .await?;
    role_grant::Entity::delete_many()
        .filter(role_grant::Column::UserId.eq(current.id()))
        .exec(&txn)
        .await?;
    crate::auth::service::revoke_all_sessions(&txn, current.id(), "erased").await?;
    txn.commit().await?;
    // Wishes for them were withdrawn or lost their details: the walls' copies are stale.
    crate::wishes::service::forget_walls(state);
    for u in private_uploads {
        if let Err(e) = state.storage.delete(&u.storage_key).await {
            tracing::warn!(upload = %u.id, error = format!("{e:#}"), "erased user's file not removed");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn phone_shapes() {
        assert!(super::valid_phone("13812341234"));
        assert!(!super::valid_phone("23812341234"));
        assert!(!super::valid_phone("1381234123"));
    }
}
