//! Recording notifications.

use std::collections::BTreeMap;

use chrono::{FixedOffset, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde_json::{Map, Value, json};

use crate::config::NotificationSettings;
use crate::entities::outbox;
use crate::error::AppResult;

/// The events users are told about. Each maps to a template in `[notifications.events.*]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    MembershipApproved,
    MembershipRejected,
    /// Some of a resident's 金豆 expire soon.
    BeansExpiring,
    /// A wish was approved or rejected (to its poster and beneficiary).
    WishReviewed,
    /// A wish was claimed.
    WishClaimed,
    /// A claim was given up or ran out of time.
    WishReleased,
    /// The claimer says the wish is fulfilled: please confirm.
    WishFulfilled,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::MembershipApproved => "membership_approved",
            Event::MembershipRejected => "membership_rejected",
            Event::BeansExpiring => "beans_expiring",
            Event::WishReviewed => "wish_reviewed",
            Event::WishClaimed => "wish_claimed",
            Event::WishReleased => "wish_released",
            Event::WishFulfilled => "wish_fulfilled",
        }
    }
}

/// WeChat's value limits by key kind (thing: 20 characters, phrase: 5, …).
fn fit(key: &str, value: &str) -> String {
    let max = if key.starts_with("phrase") {
        5
    } else if key.starts_with("thing") {
        20
    } else if key.starts_with("name") {
        10
    } else {
        32
    };
    value.chars().take(max).collect()
}

/// Local (China Standard) time as subscription messages show it.
pub fn local_time_now() -> String {
    const FORMAT: &str = "%Y-%m-%d %H:%M";
    match FixedOffset::east_opt(8 * 3600) {
        Some(cst) => Utc::now().with_timezone(&cst).format(FORMAT).to_string(),
        None => Utc::now().format(FORMAT).to_string(),
    }
}

/// Records a notification in the caller's transaction. Without a configured template it is
/// recorded as skipped, so admins can see what was not sent and why.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    settings: &NotificationSettings,
    event: Event,
    user_id: i64,
    community_id: Option<i64>,
    fields: &BTreeMap<&str, String>,
) -> AppResult<()> {
    let now = Utc::now();
    let template = settings
        .events
        .get(event.as_str())
        .filter(|t| !t.template_id.trim().is_empty());
    let (state, template_id, page, data, last_error) = match template {
        Some(t) => {
            let mut data = Map::new();
            for (key, field) in &t.fields {
                let value = fields
                    .get(field.as_str())
                    .map(String::as_str)
                    .unwrap_or("-");
                data.insert(key.clone(), json!({ "value": fit(key, value) }));
            }
            (
                "pending",
                Some(t.template_id.clone()),
                t.page.clone(),
                Value::Object(data),
                None,
            )
        }
        None => (
            "skipped",
            None,
            None,
            Value::Object(Map::new()),
            Some("no template configured for this event".to_owned()),
        ),
    };
    outbox::ActiveModel {
        community_id: Set(community_id),
        user_id: Set(user_id),
        event: Set(event.as_str().to_owned()),
        template_id: Set(template_id),
        page: Set(page),
        data: Set(data.to_string()),
        state: Set(state.to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        locked_until: Set(None),
        claim_token: Set(None),
        last_error: Set(last_error),
        created_at: Set(now),
        sent_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Notifications waiting to be sent, and the creation time of the oldest (for `/metrics`).
pub async fn backlog(db: &impl ConnectionTrait) -> AppResult<(i64, Option<chrono::DateTime<Utc>>)> {
    use sea_orm::sea_query::{Expr, ExprTrait};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
    let row: Option<(i64, Option<chrono::DateTime<Utc>>)> = outbox::Entity::find()
        .select_only()
        .column_as(Expr::col(outbox::Column::Id).count(), "pending")
        .column_as(Expr::col(outbox::Column::CreatedAt).min(), "oldest")
        .filter(outbox::Column::State.is_in(["pending", "sending"]))
        .into_tuple()
        .one(db)
        .await?;
    Ok(row.unwrap_or((0, None)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_fit_wechat_limits() {
        assert_eq!(fit("phrase2", "已通过审核了"), "已通过审核");
        assert_eq!(fit("thing1", &"社".repeat(30)).chars().count(), 20);
        assert_eq!(local_time_now().len(), 16);
    }
}
