//! Wishes as other tests use them: a wish's body, posting, review and the steps after it.

use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, TestUser};

/// A due date `days` from now.
pub fn due_in(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339()
}

/// A wish as a resident posts it, due in thirty days.
pub fn wish_body() -> Value {
    json!({
        "title": "想要一台收音机",
        "description": "独居多年，想听听戏曲节目。\n旧收音机坏了。",
        "category": "生活用品",
        "estimated_cost": 80,
        "beneficiary_group": "独居老人",
        "beneficiary_name": "王小明",
        "contact_phone": "13800001234",
        "address": "阳光小区3栋2单元501",
        "due_at": due_in(30),
    })
}

/// POST /api/v1/communities/{community}/wishes as `poster`; the wish's id.
pub async fn post_wish(app: &TestApp, community: i64, poster: &TestUser, body: Value) -> i64 {
    let made = app
        .post(
            &format!("/api/v1/communities/{community}/wishes"),
            &poster.token,
            body,
        )
        .await;
    made.assert_status(201)["id"].as_i64().unwrap()
}

/// Reviews the wish as `token` reads it now: approve (no reason) or reject with a reason.
pub async fn review(app: &TestApp, id: i64, token: &str, reject: Option<&str>) -> Reply {
    let seen = app.get(&format!("/api/v1/wishes/{id}"), token).await;
    let updated_at = seen.body["updated_at"].clone();
    match reject {
        None => step(app, id, "approve", token, json!({"updated_at": updated_at})).await,
        Some(reason) => {
            step(
                app,
                id,
                "reject",
                token,
                json!({"reason": reason, "updated_at": updated_at}),
            )
            .await
        }
    }
}

/// POST /api/v1/wishes/{id}/{action} (claim, fulfil, confirm, …).
pub async fn step(app: &TestApp, id: i64, action: &str, token: &str, body: Value) -> Reply {
    app.post(&format!("/api/v1/wishes/{id}/{action}"), token, body)
        .await
}

/// `volunteer` claims the wish and marks it fulfilled with a photo uploaded in `community`.
pub async fn claim_and_fulfil(app: &TestApp, community: i64, id: i64, volunteer: &TestUser) {
    step(app, id, "claim", &volunteer.token, json!({}))
        .await
        .assert_status(200);
    let proof = crate::support::uploads::photo(app, community, &volunteer.token, "proof.jpg").await;
    step(
        app,
        id,
        "fulfil",
        &volunteer.token,
        json!({"note": "送到了", "proof_upload_ids": [proof]}),
    )
    .await
    .assert_status(200);
}
