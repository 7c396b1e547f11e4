//! The moderation queue: held content waits here for a community admin (or, for platform-level
//! content such as nicknames, a platform admin). Approving applies the content where it
//! belongs; rejecting leaves it unpublished, with a reason.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use crate::auth::access::{Admin, CommunityAccess, CommunityGuard, CurrentUser};
use crate::entities::{moderation_item, user};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::pagination::Keyset;
use crate::state::AppState;
use crate::validate;

/// What kind of content an item holds, and so what approving it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A user's nickname; approving sets it.
    Nickname,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Nickname => "nickname",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        match s {
            "nickname" => Some(Kind::Nickname),
            _ => None,
        }
    }
}

pub struct Held<'a> {
    pub community_id: Option<i64>,
    pub kind: Kind,
    pub target_id: i64,
    pub author_id: i64,
    pub content: &'a str,
    pub source: &'a str,
    pub label: Option<String>,
}

/// Puts content in the queue, in the caller's transaction.
pub async fn hold(db: &impl ConnectionTrait, held: Held<'_>) -> AppResult<moderation_item::Model> {
    Ok(moderation_item::ActiveModel {
        community_id: Set(held.community_id),
        kind: Set(held.kind.as_str().to_owned()),
        target_id: Set(held.target_id),
        author_id: Set(held.author_id),
        content: Set(held.content.to_owned()),
        source: Set(held.source.to_owned()),
        label: Set(held.label),
        status: Set("pending".into()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// Retires pending items of `kind` for `target_id`: newer content has replaced them.
pub async fn supersede(db: &impl ConnectionTrait, kind: Kind, target_id: i64) -> AppResult<()> {
    moderation_item::Entity::update_many()
        .col_expr(moderation_item::Column::Status, Expr::value("superseded"))
        .filter(moderation_item::Column::Kind.eq(kind.as_str()))
        .filter(moderation_item::Column::TargetId.eq(target_id))
        .filter(moderation_item::Column::Status.eq("pending"))
        .exec(db)
        .await?;
    Ok(())
}

/// Erasure: what a user wrote is blanked and nothing of theirs waits for review any more.
pub async fn forget_author(db: &impl ConnectionTrait, author_id: i64) -> AppResult<()> {
    moderation_item::Entity::update_many()
        .col_expr(moderation_item::Column::Status, Expr::value("superseded"))
        .filter(moderation_item::Column::AuthorId.eq(author_id))
        .filter(moderation_item::Column::Status.eq("pending"))
        .exec(db)
        .await?;
    moderation_item::Entity::update_many()
        .col_expr(
            moderation_item::Column::Content,
            Expr::value("（用户已注销）"),
        )
        .filter(moderation_item::Column::AuthorId.eq(author_id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn by_author(
    db: &impl ConnectionTrait,
    author_id: i64,
) -> AppResult<Vec<moderation_item::Model>> {
    Ok(moderation_item::Entity::find()
        .filter(moderation_item::Column::AuthorId.eq(author_id))
        .order_by_asc(moderation_item::Column::Id)
        .all(db)
        .await?)
}

pub async fn list(
    state: &AppState,
    community_id: Option<i64>,
    status: &str,
    page: Keyset,
) -> AppResult<Vec<moderation_item::Model>> {
    let mut query =
        moderation_item::Entity::find().filter(moderation_item::Column::Status.eq(status));
    query = match community_id {
        Some(id) => query.filter(moderation_item::Column::CommunityId.eq(id)),
        None => query.filter(moderation_item::Column::CommunityId.is_null()),
    };
    Ok(page
        .ascending(query, moderation_item::Column::Id)
        .all(&state.db)
        .await?)
}

pub enum Decision {
    Approve,
    Reject { reason: String },
}

/// Decides a pending item. Only one decision wins (a conditional update); the approved content
/// is applied in the same transaction. An item the caller has no authority over is not found.
pub async fn decide(
    state: &AppState,
    current: &CurrentUser,
    item_id: i64,
    decision: Decision,
) -> AppResult<moderation_item::Model> {
    let item = moderation_item::Entity::find_by_id(item_id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)?;
    match item.community_id {
        Some(community_id) => {
            let access = CommunityAccess::load(&state.db, current, community_id).await?;
            if !Admin::allows(&access) {
                return Err(AppError::forbidden());
            }
        }
        None if current.is_platform_admin() => {}
        None => return Err(AppError::not_found()),
    }
    let (status, reason) = match &decision {
        Decision::Approve => ("approved", None),
        Decision::Reject { reason } => ("rejected", Some(validate::text("reason", reason, 200)?)),
    };
    let now = Utc::now();
    let txn = crate::db::begin_write(&state.db).await?;
    let changed = moderation_item::Entity::update_many()
        .col_expr(moderation_item::Column::Status, Expr::value(status))
        .col_expr(
            moderation_item::Column::ReviewedBy,
            Expr::value(current.id()),
        )
        .col_expr(moderation_item::Column::ReviewedAt, Expr::value(now))
        .col_expr(moderation_item::Column::Reason, Expr::value(reason))
        .filter(moderation_item::Column::Id.eq(item.id))
        .filter(moderation_item::Column::Status.eq("pending"))
        .exec(&txn)
        .await?;
    if changed.rows_affected == 0 {
        return Err(AppError::new(
            ErrorCode::ModerationDecided,
            "该内容已审核，无需重复处理",
        ));
    }
    if let Decision::Approve = decision {
        apply(&txn, &item).await?;
    }
    txn.commit().await?;
    moderation_item::Entity::find_by_id(item.id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)
}

/// Publishes approved content where it belongs.
async fn apply(db: &impl ConnectionTrait, item: &moderation_item::Model) -> AppResult<()> {
    match Kind::parse(&item.kind) {
        Some(Kind::Nickname) => {
            user::Entity::update_many()
                .col_expr(user::Column::Nickname, Expr::value(item.content.clone()))
                .col_expr(user::Column::UpdatedAt, Expr::value(Utc::now()))
                .filter(user::Column::Id.eq(item.target_id))
                .filter(user::Column::DeletedAt.is_null())
                .exec(db)
                .await?;
            Ok(())
        }
        None => Err(AppError::Internal(anyhow::anyhow!(
            "moderation item {} has unknown kind {}",
            item.id,
            item.kind
        ))),
    }
}
