//! The 金豆 ledger as other tests use it: awarding beans, reading a balance, counting the
//! ledger's transactions and checking the books.

use linli::entities::ledger_transaction;
use linli::points::ledger::verify;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, TestUser};

/// POST /api/v1/communities/{community}/points/adjustments as `admin`, with the
/// Idempotency-Key `key` when there is one.
pub async fn adjust(
    app: &TestApp,
    community: i64,
    admin: &str,
    key: Option<&str>,
    body: Value,
) -> Reply {
    let path = format!("/api/v1/communities/{community}/points/adjustments");
    match key {
        Some(k) => app.post_with_key(&path, admin, k, body).await,
        None => app.post(&path, admin, body).await,
    }
}

/// `admin` awards (or, with a negative `amount`, deducts) beans for volunteering.
pub async fn award(
    app: &TestApp,
    community: i64,
    admin: &str,
    key: &str,
    user_id: i64,
    amount: i64,
) -> Reply {
    let body = json!({"user_id": user_id, "amount": amount, "reason": "志愿服务奖励"});
    adjust(app, community, admin, Some(key), body).await
}

/// GET /api/v1/communities/{community}/points/me: the user's balance there.
pub async fn balance(app: &TestApp, community: i64, user: &TestUser) -> i64 {
    let me = app
        .get(
            &format!("/api/v1/communities/{community}/points/me"),
            &user.token,
        )
        .await;
    me.assert_status(200)["balance"].as_i64().unwrap()
}

/// How many ledger transactions there are (a refusal must not add one).
pub async fn transactions(app: &TestApp) -> u64 {
    ledger_transaction::Entity::find()
        .count(&app.state.db)
        .await
        .unwrap()
}

/// The ledger's own check finds nothing wrong.
pub async fn books_are_right(app: &TestApp) {
    let problems = verify(&app.state.db).await.unwrap();
    assert!(problems.is_empty(), "{problems:?}");
}
