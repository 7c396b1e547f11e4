//! The notifications sent (or to be sent) to one person, for the export of their data: which
//! event, what it said (the template data), and whether it went.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use utoipa::ToSchema;

use crate::entities::outbox;
use crate::error::AppResult;

#[derive(Debug, Serialize, ToSchema)]
pub struct MyNotification {
    pub event: String,
    pub community_id: Option<i64>,
    /// What the message said, as WeChat's template data.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// pending, sending, sent, failed or skipped.
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

pub async fn export_of(db: &impl ConnectionTrait, user_id: i64) -> AppResult<Vec<MyNotification>> {
    let rows = outbox::Entity::find()
        .filter(outbox::Column::UserId.eq(user_id))
        .order_by_asc(outbox::Column::Id)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|n| MyNotification {
            // Written by the server as JSON; an unreadable one is shown as its text.
            data: serde_json::from_str(&n.data).unwrap_or(serde_json::Value::String(n.data)),
            event: n.event,
            community_id: n.community_id,
            state: n.state,
            created_at: n.created_at,
            sent_at: n.sent_at,
        })
        .collect())
}
