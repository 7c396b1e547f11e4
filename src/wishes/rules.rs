//! Each community's rules for wishes — its categories, the cost cap, the days a claimer has —
//! set by its admins, or the configured defaults.

use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::audit::{self, AuditKind, Entry, ObjectType};
use crate::entities::wish_setting;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::validate;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WishRules {
    /// The categories residents choose from (1 to 20, each at most 16 characters).
    pub categories: Vec<String>,
    /// The most a wish may cost, in yuan (1 to 10000).
    pub max_cost_yuan: i64,
    /// Days a claimer has before the claim goes back to the wall (1 to 60).
    pub claim_days: i64,
}

/// The community's rules: its own if its admins set them, the configured defaults if not.
pub async fn for_community(state: &AppState, community_id: i64) -> AppResult<WishRules> {
    read(&state.db, state, community_id).await
}

async fn read(
    db: &impl ConnectionTrait,
    state: &AppState,
    community_id: i64,
) -> AppResult<WishRules> {
    let defaults = &state.settings.wishes;
    let Some(row) = wish_setting::Entity::find_by_id(community_id)
        .one(db)
        .await?
    else {
        return Ok(WishRules {
            categories: defaults.categories.clone(),
            max_cost_yuan: defaults.max_cost_yuan,
            claim_days: defaults.claim_days,
        });
    };
    Ok(WishRules {
        categories: crate::json_text::read("wish_settings.categories", &row.categories)?,
        max_cost_yuan: row.max_cost_yuan.into(),
        claim_days: row.claim_days.into(),
    })
}

/// Checks and stores a community's rules (its admins).
pub async fn set(
    state: &AppState,
    admin_id: i64,
    community_id: i64,
    rules: WishRules,
) -> AppResult<WishRules> {
    if rules.categories.is_empty() || rules.categories.len() > 20 {
        return Err(AppError::validation("categories", "类别须有 1 到 20 个"));
    }
    let mut categories: Vec<String> = Vec::new();
    for c in &rules.categories {
        let c = validate::text("categories", c, 16)?;
        if categories.contains(&c) {
            return Err(AppError::validation("categories", "类别不能重复"));
        }
        categories.push(c);
    }
    if !(1..=10_000).contains(&rules.max_cost_yuan) {
        return Err(AppError::validation(
            "max_cost_yuan",
            "费用上限须在 1 到 10000 元之间",
        ));
    }
    if !(1..=60).contains(&rules.claim_days) {
        return Err(AppError::validation(
            "claim_days",
            "认领期限须在 1 到 60 天之间",
        ));
    }
    let json = crate::json_text::write(&categories)?;
    let txn = crate::db::begin_write(&state.db).await?;
    // A no-op update locks the row being replaced, so the "before" recorded is what this
    // change replaced.
    wish_setting::Entity::update_many()
        .col_expr(
            wish_setting::Column::ClaimDays,
            Expr::col(wish_setting::Column::ClaimDays),
        )
        .filter(wish_setting::Column::CommunityId.eq(community_id))
        .exec(&txn)
        .await?;
    let before = read(&txn, state, community_id).await?;
    wish_setting::Entity::insert(wish_setting::ActiveModel {
        community_id: Set(community_id),
        categories: Set(json),
        max_cost_yuan: Set(rules.max_cost_yuan as i32),
        claim_days: Set(rules.claim_days as i32),
        updated_by: Set(admin_id),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(wish_setting::Column::CommunityId)
            .update_columns([
                wish_setting::Column::Categories,
                wish_setting::Column::MaxCostYuan,
                wish_setting::Column::ClaimDays,
                wish_setting::Column::UpdatedBy,
                wish_setting::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    let after = read(&txn, state, community_id).await?;
    let entry = Entry::new(
        AuditKind::WishesRulesChanged,
        ObjectType::WishRules,
        community_id,
    )
    .by(admin_id)
    .in_community(community_id)
    .detail(json!({"before": before, "after": after}));
    audit::record(&txn, entry).await?;
    txn.commit().await?;
    Ok(after)
}
