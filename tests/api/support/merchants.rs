//! Shops as other tests use them: a merchant with a cashier, funded residents, pay codes, sales
//! at the counter, offers, and the month a statement covers.

use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, TestUser, World, verified_resident, world};
use crate::support::points::award;

/// A world with one shop in community A and its cashier.
pub struct Shop {
    pub w: World,
    pub merchant_id: i64,
    pub staff: TestUser,
}

/// POST /api/v1/communities/{community}/merchants as its admin; the merchant's id.
pub async fn new_merchant(app: &TestApp, community: i64, admin: &TestUser, name: &str) -> i64 {
    let made = app
        .post(
            &format!("/api/v1/communities/{community}/merchants"),
            &admin.token,
            json!({"name": name, "address": "人民路1号", "category": "超市", "contact": "0871-1234567"}),
        )
        .await;
    made.assert_status(201)["id"].as_i64().unwrap()
}

/// POST /api/v1/merchants/{merchant_id}/invites: a fresh staff invitation's code.
pub async fn invite(app: &TestApp, merchant_id: i64, admin: &TestUser) -> String {
    let invite = app
        .post(
            &format!("/api/v1/merchants/{merchant_id}/invites"),
            &admin.token,
            json!({}),
        )
        .await;
    invite.assert_status(201)["code"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Signs `name` in and has them accept the invitation `code`
/// (POST /api/v1/merchant/staff/join).
pub async fn join_staff(app: &TestApp, code: &str, name: &str) -> TestUser {
    let staff = app.login(name).await;
    app.post(
        "/api/v1/merchant/staff/join",
        &staff.token,
        json!({"code": code}),
    )
    .await
    .assert_status(200);
    staff
}

/// Signs `name` in and has them join the merchant's staff with a fresh invitation.
pub async fn cashier(app: &TestApp, merchant_id: i64, admin: &TestUser, name: &str) -> TestUser {
    let code = invite(app, merchant_id, admin).await;
    join_staff(app, &code, name).await
}

/// A world, the shop 惠民超市 in community A and its cashier; an invitation works once.
pub async fn shop(app: &TestApp) -> Shop {
    let w = world(app).await;
    let merchant_id = new_merchant(app, w.community_a, &w.admin_a, "惠民超市").await;
    let code = invite(app, merchant_id, &w.admin_a).await;
    let staff = join_staff(app, &code, "cashier").await;
    // An invitation works once.
    let other = app.login("latecomer").await;
    app.post(
        "/api/v1/merchant/staff/join",
        &other.token,
        json!({"code": code}),
    )
    .await
    .assert_error(410, "INVITE_INVALID");
    Shop {
        w,
        merchant_id,
        staff,
    }
}

/// A verified resident of community A holding `beans` (awarded by its admin).
pub async fn funded_resident(app: &TestApp, w: &World, name: &str, beans: i64) -> TestUser {
    let r = app.login(name).await;
    verified_resident(app, &r, w.community_a, &w.admin_a).await;
    if beans > 0 {
        fund(app, w, &r, beans, &format!("fund-{name}")).await;
    }
    r
}

/// The community admin awards `beans` to the resident's wallet in community A.
pub async fn fund(app: &TestApp, w: &World, resident: &TestUser, beans: i64, key: &str) {
    award(
        app,
        w.community_a,
        &w.admin_a.token,
        key,
        resident.id,
        beans,
    )
    .await
    .assert_status(201);
}

/// GET /api/v1/me/pay-code: a fresh pay code of `user` in `community`.
pub async fn pay_code_for(app: &TestApp, community: i64, user: &TestUser) -> String {
    let reply = app
        .get(
            &format!("/api/v1/me/pay-code?community_id={community}"),
            &user.token,
        )
        .await;
    reply.assert_status(200)["code"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// POST /api/v1/merchant/redemptions as the cashier `staff`.
pub async fn redeem(app: &TestApp, staff: &str, key: &str, body: Value) -> Reply {
    app.post_with_key("/api/v1/merchant/redemptions", staff, key, body)
        .await
}

/// `staff` scans a fresh pay code of `resident` in `community` for `amount` beans.
pub async fn sell(
    app: &TestApp,
    community: i64,
    merchant_id: i64,
    staff: &TestUser,
    resident: &TestUser,
    key: &str,
    amount: i64,
) -> Reply {
    let code = pay_code_for(app, community, resident).await;
    let body = json!({"merchant_id": merchant_id, "pay_code": code, "amount": amount});
    redeem(app, &staff.token, key, body).await
}

/// POST /api/v1/merchants/{merchant_id}/offers as the shop's cashier; the offer's id.
pub async fn new_offer(app: &TestApp, s: &Shop, body: Value) -> i64 {
    let made = app
        .post(
            &format!("/api/v1/merchants/{}/offers", s.merchant_id),
            &s.staff.token,
            body,
        )
        .await;
    made.assert_status(201)["id"].as_i64().unwrap()
}

/// The month before this one (China time, as statements are cut), and a moment in it.
pub fn last_month() -> (String, chrono::DateTime<chrono::Utc>) {
    use chrono::{Datelike, TimeZone};
    let cst = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let now = chrono::Utc::now().with_timezone(&cst);
    let first = cst
        .with_ymd_and_hms(now.year(), now.month(), 1, 12, 0, 0)
        .unwrap();
    let then = first - chrono::Duration::days(3);
    (then.format("%Y-%m").to_string(), then.to_utc())
}
