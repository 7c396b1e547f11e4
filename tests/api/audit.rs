//! The audit trail: every listed staff action writes its entry with the right actor, kind and
//! object, in the action's own transaction (a refused action leaves none; an entry that
//! cannot be written undoes the action); trails are refused across communities and streets;
//! filters, paging and the workbook; the database refuses to edit or delete an entry.

use linli::auth::roles::Role;
use linli::entities::{audit_entry, membership, redemption, role_grant, settlement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, Set,
};
use serde_json::{Value, json};

use crate::helpers::*;

/// The whole trail at `path` (newest first), following every cursor.
async fn trail(app: &TestApp, path: &str, token: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit=100&cursor={c}"),
            None => format!("{path}{sep}limit=100"),
        };
        let page = app.get(&url, token).await;
        let body = page.assert_status(200);
        out.extend(body["items"].as_array().unwrap().iter().cloned());
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

fn community_trail(c: i64) -> String {
    format!("/api/v1/communities/{c}/audit")
}

/// The one entry of `kind` about `object_id`, checked for its actor.
#[track_caller]
fn entry<'a>(entries: &'a [Value], kind: &str, object_id: i64, actor: i64) -> &'a Value {
    let found: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == kind && e["object_id"].as_i64() == Some(object_id))
        .collect();
    assert_eq!(found.len(), 1, "{kind} {object_id} in {entries:#?}");
    assert_eq!(found[0]["actor_user_id"].as_i64(), Some(actor), "{kind}");
    found[0]
}

async fn entries(app: &TestApp) -> u64 {
    audit_entry::Entity::find()
        .count(&app.state.db)
        .await
        .unwrap()
}

async fn join(app: &TestApp, user: &TestUser, community: i64) -> i64 {
    let joined = app
        .post(
            &format!("/api/v1/communities/{community}/join"),
            &user.token,
            json!({}),
        )
        .await;
    joined.assert_status(201)["membership_id"].as_i64().unwrap()
}

async fn adjust(app: &TestApp, c: i64, admin: &str, key: &str, user_id: i64, n: i64) -> Reply {
    let res = app
        .http
        .post(format!(
            "{}/api/v1/communities/{c}/points/adjustments",
            app.address
        ))
        .bearer_auth(admin)
        .header("Idempotency-Key", key)
        .json(&json!({"user_id": user_id, "amount": n, "reason": "志愿服务奖励"}))
        .send()
        .await
        .unwrap();
    TestApp::reply(res).await
}

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> Reply {
    app.call(reqwest::Method::PUT, path, Some(token), Some(body))
        .await
}

#[tokio::test]
async fn memberships_roles_rules_and_adjustments_are_recorded_and_refusals_are_not() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = w.community_a;
    let alice = app.login("alice").await;
    let bob = app.login("bob").await;
    let m_alice = join(&app, &alice, a).await;
    let m_bob = join(&app, &bob, a).await;
    let approve = format!("/api/v1/communities/{a}/memberships/{m_alice}/approve");
    app.post(&approve, &w.admin_a.token, json!({}))
        .await
        .assert_status(200);
    app.post(
        &format!("/api/v1/communities/{a}/memberships/{m_bob}/reject"),
        &w.admin_a.token,
        json!({"reason": "信息不符"}),
    )
    .await
    .assert_status(200);
    // Deciding again is refused, and refused actions leave nothing.
    let before = entries(&app).await;
    app.post(&approve, &w.admin_a.token, json!({}))
        .await
        .assert_error(409, "MEMBERSHIP_NOT_PENDING");
    assert_eq!(entries(&app).await, before);

    let granted = app
        .post(
            "/api/v1/role-grants",
            &w.admin_a.token,
            json!({"user_id": alice.id, "role": "grid_worker", "scope_id": a}),
        )
        .await;
    let grant_id = granted.assert_status(201)["id"].as_i64().unwrap();
    app.post(
        "/api/v1/role-grants",
        &w.admin_a.token,
        json!({"user_id": alice.id, "role": "grid_worker", "scope_id": a}),
    )
    .await
    .assert_error(409, "ROLE_ALREADY_GRANTED");
    let revoke = format!("/api/v1/role-grants/{grant_id}");
    app.call(
        reqwest::Method::DELETE,
        &revoke,
        Some(&w.admin_a.token),
        None,
    )
    .await
    .assert_status(204);
    app.call(
        reqwest::Method::DELETE,
        &revoke,
        Some(&w.admin_a.token),
        None,
    )
    .await
    .assert_error(404, "NOT_FOUND");

    let rules = format!("/api/v1/communities/{a}/points/rules");
    let rule = |beans: i64| json!({"event_kind": "wish_fulfilled", "beans_per_unit": beans, "daily_cap": 50, "monthly_cap": null});
    put(&app, &rules, &w.admin_a.token, rule(10))
        .await
        .assert_status(200);
    put(&app, &rules, &w.admin_a.token, rule(15))
        .await
        .assert_status(200);
    put(&app, &rules, &w.admin_a.token, rule(-1))
        .await
        .assert_error(422, "VALIDATION_FAILED");
    let wish_rules = format!("/api/v1/communities/{a}/wishes/rules");
    let body = json!({"categories": ["助医", "陪伴"], "max_cost_yuan": 300, "claim_days": 10});
    put(&app, &wish_rules, &w.admin_a.token, body)
        .await
        .assert_status(200);

    let award = adjust(&app, a, &w.admin_a.token, "k-1", alice.id, 30).await;
    let tx_id = award.assert_status(201)["transaction_id"].as_i64().unwrap();
    let before = entries(&app).await;
    adjust(&app, a, &w.admin_a.token, "k-1", alice.id, 30)
        .await
        .assert_status(201);
    adjust(&app, a, &w.admin_a.token, "k-2", alice.id, -31)
        .await
        .assert_error(409, "INSUFFICIENT_BEANS");
    assert_eq!(
        entries(&app).await,
        before,
        "a replay or refusal records nothing"
    );

    let all = trail(&app, &community_trail(a), &w.admin_a.token).await;
    let e = entry(&all, "membership.approved", m_alice, w.admin_a.id);
    assert_eq!(e["object_type"], "membership");
    assert_eq!(e["community_id"].as_i64(), Some(a));
    assert_eq!(e["detail"]["user_id"].as_i64(), Some(alice.id));
    assert_eq!(
        (&e["detail"]["before"], &e["detail"]["after"]),
        (&json!("pending"), &json!("verified"))
    );
    let e = entry(&all, "membership.rejected", m_bob, w.admin_a.id);
    assert_eq!(e["detail"]["after"], "rejected");
    assert!(!e.to_string().contains("信息不符"), "no typed text: {e}");
    let e = entry(&all, "role.granted", grant_id, w.admin_a.id);
    assert_eq!(e["detail"]["role"], "grid_worker");
    entry(&all, "role.revoked", grant_id, w.admin_a.id);
    let changes: Vec<&Value> = all
        .iter()
        .filter(|e| e["kind"] == "points.rules_changed")
        .collect();
    assert_eq!(changes.len(), 2);
    // Newest first: the second change replaced the first.
    assert_eq!(changes[0]["detail"]["before"]["beans_per_unit"], 10);
    assert_eq!(changes[0]["detail"]["after"]["beans_per_unit"], 15);
    assert_eq!(changes[1]["detail"]["before"], Value::Null);
    let e = entry(&all, "wishes.rules_changed", a, w.admin_a.id);
    assert_eq!(e["detail"]["after"]["max_cost_yuan"], 300);
    assert_eq!(e["detail"]["before"]["max_cost_yuan"], 200);
    let e = entry(&all, "points.adjusted", tx_id, w.admin_a.id);
    assert_eq!(e["detail"]["amount"], 30);
    assert_eq!(e["object_type"], "ledger_transaction");
    // Grants made at the command line are recorded with no actor.
    let cli: Vec<&Value> = all
        .iter()
        .filter(|e| e["kind"] == "role.granted" && e["actor_user_id"].is_null())
        .collect();
    assert_eq!(cli.len(), 1, "admin_a's own grant");
    // The manual adjustments' own list still answers.
    let list = app
        .get(
            &format!("/api/v1/communities/{a}/points/adjustments"),
            &w.admin_a.token,
        )
        .await;
    assert_eq!(
        list.assert_status(200)["items"].as_array().unwrap().len(),
        1
    );
}

fn due_in(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339()
}

async fn post_wish(app: &TestApp, c: i64, poster: &TestUser) -> i64 {
    let body = json!({
        "title": "想要一台收音机", "description": "旧收音机坏了。", "category": "生活用品",
        "estimated_cost": 80, "beneficiary_group": "独居老人", "beneficiary_name": "王小明",
        "due_at": due_in(30),
    });
    let made = app
        .post(
            &format!("/api/v1/communities/{c}/wishes"),
            &poster.token,
            body,
        )
        .await;
    made.assert_status(201)["id"].as_i64().unwrap()
}

async fn step(app: &TestApp, id: i64, action: &str, token: &str, body: Value) -> Reply {
    app.post(&format!("/api/v1/wishes/{id}/{action}"), token, body)
        .await
}

async fn review(app: &TestApp, id: i64, token: &str, reject: bool) -> Reply {
    let seen = app.get(&format!("/api/v1/wishes/{id}"), token).await;
    let updated_at = seen.body["updated_at"].clone();
    if reject {
        let body = json!({"reason": "请补充说明", "updated_at": updated_at});
        step(app, id, "reject", token, body).await
    } else {
        step(app, id, "approve", token, json!({"updated_at": updated_at})).await
    }
}

#[tokio::test]
async fn wish_reviews_and_dispute_decisions_are_recorded() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = w.community_a;
    let poster = app.login("poster").await;
    verified_resident(&app, &poster, a, &w.admin_a).await;
    let v = app.login("volunteer").await;
    verified_resident(&app, &v, a, &w.admin_a).await;
    let good = post_wish(&app, a, &poster).await;
    let bad = post_wish(&app, a, &poster).await;
    review(&app, good, &w.admin_a.token, false)
        .await
        .assert_status(200);
    review(&app, bad, &w.admin_a.token, true)
        .await
        .assert_status(200);
    let before = entries(&app).await;
    review(&app, good, &w.admin_a.token, false)
        .await
        .assert_error(409, "WISH_STATE_CONFLICT");
    assert_eq!(entries(&app).await, before);

    step(&app, good, "claim", &v.token, json!({}))
        .await
        .assert_status(200);
    let proof = crate::uploads::upload(
        &app,
        a,
        &v.token,
        "p.jpg",
        "image/jpeg",
        crate::uploads::JPEG.to_vec(),
    )
    .await;
    let proof = proof.assert_status(201)["id"].as_str().unwrap().to_owned();
    let body = json!({"note": "送到了", "proof_upload_ids": [proof]});
    step(&app, good, "fulfil", &v.token, body)
        .await
        .assert_status(200);
    step(
        &app,
        good,
        "dispute",
        &poster.token,
        json!({"reason": "没收到"}),
    )
    .await
    .assert_status(200);
    let resolve = json!({"done": true});
    step(&app, good, "resolve", &w.admin_a.token, resolve.clone())
        .await
        .assert_status(200);
    let before = entries(&app).await;
    step(&app, good, "resolve", &w.admin_a.token, resolve)
        .await
        .assert_status(409);
    assert_eq!(entries(&app).await, before);

    let all = trail(&app, &community_trail(a), &w.admin_a.token).await;
    let e = entry(&all, "wish.approved", good, w.admin_a.id);
    assert_eq!(e["object_type"], "wish");
    assert_eq!(e["detail"]["after"], "published");
    let e = entry(&all, "wish.rejected", bad, w.admin_a.id);
    assert_eq!(e["detail"]["after"], "rejected");
    assert!(!e.to_string().contains("请补充说明"));
    let e = entry(&all, "wish.dispute_resolved", good, w.admin_a.id);
    assert_eq!(
        (&e["detail"]["before"], &e["detail"]["after"]),
        (&json!("disputed"), &json!("confirmed"))
    );
    assert_eq!(e["detail"]["claimer_id"].as_i64(), Some(v.id));
    // No beneficiary's name anywhere in the trail.
    assert!(!serde_json::to_string(&all).unwrap().contains("王小明"));
}

struct Shop {
    merchant_id: i64,
    staff: TestUser,
}

async fn shop(app: &TestApp, w: &World) -> Shop {
    let made = app
        .post(
            &format!("/api/v1/communities/{}/merchants", w.community_a),
            &w.admin_a.token,
            json!({"name": "惠民超市", "address": "人民路1号", "category": "超市", "contact": "0871-1234567"}),
        )
        .await;
    let merchant_id = made.assert_status(201)["id"].as_i64().unwrap();
    let invite = app
        .post(
            &format!("/api/v1/merchants/{merchant_id}/invites"),
            &w.admin_a.token,
            json!({}),
        )
        .await;
    let code = invite.assert_status(201)["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let staff = app.login("cashier").await;
    app.post(
        "/api/v1/merchant/staff/join",
        &staff.token,
        json!({"code": code}),
    )
    .await
    .assert_status(200);
    Shop { merchant_id, staff }
}

async fn sale(app: &TestApp, w: &World, s: &Shop, buyer: &TestUser, key: &str) -> i64 {
    let code = app
        .get(
            &format!("/api/v1/me/pay-code?community_id={}", w.community_a),
            &buyer.token,
        )
        .await;
    let code = code.assert_status(200)["code"].as_str().unwrap().to_owned();
    let res = app
        .http
        .post(format!("{}/api/v1/merchant/redemptions", app.address))
        .bearer_auth(&s.staff.token)
        .header("Idempotency-Key", key)
        .json(&json!({"merchant_id": s.merchant_id, "pay_code": code, "amount": 7}))
        .send()
        .await
        .unwrap();
    let r = TestApp::reply(res).await;
    r.assert_status(201)["redemption_id"].as_i64().unwrap()
}

/// The first month before this one (China time), and an instant inside it.
fn last_month() -> (String, chrono::DateTime<chrono::Utc>) {
    use chrono::{Datelike, TimeZone};
    let cst = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let now = chrono::Utc::now().with_timezone(&cst);
    let first = cst
        .with_ymd_and_hms(now.year(), now.month(), 1, 12, 0, 0)
        .unwrap();
    let inside = first - chrono::Duration::days(3);
    (inside.format("%Y-%m").to_string(), inside.to_utc())
}

#[tokio::test]
async fn merchant_admission_suspension_staff_reversals_and_settlements_are_recorded() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = w.community_a;
    let s = shop(&app, &w).await;
    let buyer = app.login("buyer").await;
    verified_resident(&app, &buyer, a, &w.admin_a).await;
    adjust(&app, a, &w.admin_a.token, "fund", buyer.id, 100)
        .await
        .assert_status(201);
    let kept = sale(&app, &w, &s, &buyer, "sale-1").await;
    let undone = sale(&app, &w, &s, &buyer, "sale-2").await;
    let reverse = format!("/api/v1/redemptions/{undone}/reverse");
    app.post(&reverse, &s.staff.token, json!({}))
        .await
        .assert_status(200);
    let before = entries(&app).await;
    app.post(&reverse, &w.admin_a.token, json!({}))
        .await
        .assert_error(409, "ALREADY_REVERSED");
    assert_eq!(
        entries(&app).await,
        before,
        "a refused reversal records nothing"
    );

    let (month, inside) = last_month();
    let row = redemption::Entity::find_by_id(kept)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let mut row: redemption::ActiveModel = row.into();
    row.created_at = Set(inside);
    row.update(&app.state.db).await.unwrap();
    let settle = format!(
        "/api/v1/merchants/{}/statements/{month}/settle",
        s.merchant_id
    );
    let settled = app.post(&settle, &w.admin_a.token, json!({})).await;
    assert_eq!(settled.assert_status(200)["settled"]["amount"], 7);
    let settlement_id = settlement::Entity::find()
        .filter(settlement::Column::MerchantId.eq(s.merchant_id))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
        .id;
    let before = entries(&app).await;
    app.post(&settle, &w.admin_a.token, json!({}))
        .await
        .assert_error(409, "SETTLEMENT_NOT_ALLOWED");
    assert_eq!(entries(&app).await, before);

    let status = format!("/api/v1/merchants/{}/status", s.merchant_id);
    for (st, code) in [("suspended", 200), ("suspended", 200), ("active", 200)] {
        put(&app, &status, &w.admin_a.token, json!({"status": st}))
            .await
            .assert_status(code);
    }
    put(&app, &status, &w.admin_a.token, json!({"status": "closed"}))
        .await
        .assert_error(422, "VALIDATION_FAILED");

    let staff_grant = role_grant::Entity::find()
        .filter(role_grant::Column::UserId.eq(s.staff.id))
        .filter(role_grant::Column::Role.eq("merchant_staff"))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    app.call(
        reqwest::Method::DELETE,
        &format!("/api/v1/role-grants/{}", staff_grant.id),
        Some(&w.admin_a.token),
        None,
    )
    .await
    .assert_status(204);

    let street = app
        .post(
            &format!("/api/v1/streets/{}/merchants", w.street_id),
            &w.platform.token,
            json!({"name": "街道便民店", "address": "拓东路2号", "category": "便民", "contact": "0871-7654321", "community_ids": [a, w.community_b]}),
        )
        .await;
    let street_shop = street.assert_status(201)["id"].as_i64().unwrap();

    let all = trail(&app, &community_trail(a), &w.admin_a.token).await;
    let e = entry(&all, "merchant.admitted", s.merchant_id, w.admin_a.id);
    assert_eq!(e["object_type"], "merchant");
    assert_eq!(e["street_id"], Value::Null);
    let e = entry(&all, "merchant_staff.joined", s.merchant_id, s.staff.id);
    assert_eq!(e["detail"]["user_id"].as_i64(), Some(s.staff.id));
    let e = entry(&all, "redemption.reversed", undone, s.staff.id);
    assert_eq!(e["detail"]["amount"], 7);
    assert_eq!(e["detail"]["user_id"].as_i64(), Some(buyer.id));
    let e = entry(&all, "settlement.settled", settlement_id, w.admin_a.id);
    assert_eq!(
        (&e["detail"]["month"], &e["detail"]["amount"]),
        (&json!(month), &json!(7))
    );
    let e = entry(&all, "merchant.suspended", s.merchant_id, w.admin_a.id);
    assert_eq!(e["detail"]["after"], "suspended");
    entry(&all, "merchant.reinstated", s.merchant_id, w.admin_a.id);
    let e = entry(&all, "merchant_staff.removed", staff_grant.id, w.admin_a.id);
    assert_eq!(e["detail"]["user_id"].as_i64(), Some(s.staff.id));
    // Admitted by the street for A and B: in A's trail (its home) and the street's.
    let e = entry(&all, "merchant.admitted", street_shop, w.platform.id);
    assert_eq!(e["street_id"].as_i64(), Some(w.street_id));
    assert_eq!(e["detail"]["community_ids"], json!([a, w.community_b]));
}

/// Makes every insert into the trail fail, as a full disk or a broken connection would.
async fn block_audit(app: &TestApp, on: bool) {
    let db = &app.state.db;
    let sql: &[&str] = match (db.get_database_backend(), on) {
        (DbBackend::Postgres, true) => &[
            "CREATE FUNCTION test_block_audit() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'audit blocked'; END $$",
            "CREATE TRIGGER test_block_audit BEFORE INSERT ON audit_entries \
             FOR EACH ROW EXECUTE FUNCTION test_block_audit()",
        ],
        (DbBackend::Postgres, false) => &["DROP TRIGGER test_block_audit ON audit_entries"],
        (_, true) => &[
            "CREATE TRIGGER test_block_audit BEFORE INSERT ON audit_entries \
             BEGIN SELECT RAISE(ABORT, 'audit blocked'); END",
        ],
        (_, false) => &["DROP TRIGGER test_block_audit"],
    };
    for s in sql {
        db.execute_unprepared(s).await.unwrap();
    }
}

#[tokio::test]
async fn an_action_whose_entry_cannot_be_written_does_not_happen() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = w.community_a;
    let alice = app.login("alice").await;
    let m = join(&app, &alice, a).await;
    let bob = app.login("bob").await;
    verified_resident(&app, &bob, a, &w.admin_a).await;
    let outbox_rows = || async {
        linli::entities::outbox::Entity::find()
            .count(&app.state.db)
            .await
            .unwrap()
    };
    let mails = outbox_rows().await;
    let before = entries(&app).await;

    block_audit(&app, true).await;
    let approve = format!("/api/v1/communities/{a}/memberships/{m}/approve");
    app.post(&approve, &w.admin_a.token, json!({}))
        .await
        .assert_status(500);
    adjust(&app, a, &w.admin_a.token, "blocked", bob.id, 50)
        .await
        .assert_status(500);
    let status = membership::Entity::find_by_id(m)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
        .status;
    assert_eq!(status, "pending", "the decision went with its entry");
    assert_eq!(outbox_rows().await, mails, "and so did its notice");
    let beans = app
        .get(&format!("/api/v1/communities/{a}/points/me"), &bob.token)
        .await;
    assert_eq!(beans.assert_status(200)["balance"], 0, "no beans moved");
    assert_eq!(entries(&app).await, before);

    // With the trail writable again, the same requests succeed and are recorded once.
    block_audit(&app, false).await;
    app.post(&approve, &w.admin_a.token, json!({}))
        .await
        .assert_status(200);
    adjust(&app, a, &w.admin_a.token, "blocked", bob.id, 50)
        .await
        .assert_status(201);
    assert_eq!(entries(&app).await, before + 2);
}

#[tokio::test]
async fn trails_are_refused_across_communities_and_streets() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let (a, b) = (w.community_a, w.community_b);
    let alice = app.login("alice").await;
    let m_a = join(&app, &alice, a).await;
    app.post(
        &format!("/api/v1/communities/{a}/memberships/{m_a}/approve"),
        &w.admin_a.token,
        json!({}),
    )
    .await
    .assert_status(200);
    let carol = app.login("carol").await;
    let m_b = verified_resident(&app, &carol, b, &w.admin_b).await;

    for path in [community_trail(a), format!("{}/export", community_trail(a))] {
        app.get(&path, &w.admin_b.token)
            .await
            .assert_error(404, "NOT_FOUND");
        app.get(&path, &alice.token)
            .await
            .assert_error(403, "FORBIDDEN");
        app.call(reqwest::Method::GET, &path, None, None)
            .await
            .assert_error(401, "UNAUTHENTICATED");
    }
    let in_b = trail(&app, &community_trail(b), &w.admin_b.token).await;
    assert!(in_b.iter().all(|e| e["community_id"].as_i64() == Some(b)));
    entry(&in_b, "membership.approved", m_b, w.admin_b.id);
    assert!(!in_b.iter().any(|e| e["object_id"].as_i64() == Some(m_a)));

    // The street admin sees both communities and the street's own actions; a community admin
    // and another street's admin see no street at all.
    let street = format!("/api/v1/streets/{}/audit", w.street_id);
    let keeper = app.login("street-keeper").await;
    app.grant(&keeper, Role::StreetAdmin, w.street_id).await;
    let other_street = app
        .post(
            &format!(
                "/api/v1/districts/{}/streets",
                linli::entities::street::Entity::find_by_id(w.street_id)
                    .one(&app.state.db)
                    .await
                    .unwrap()
                    .unwrap()
                    .district_id
            ),
            &w.platform.token,
            json!({"name": "东华街道"}),
        )
        .await;
    let other_street = other_street.assert_status(201)["id"].as_i64().unwrap();
    let stranger = app.login("other-keeper").await;
    app.grant(&stranger, Role::StreetAdmin, other_street).await;
    for token in [&w.admin_a.token, &stranger.token] {
        app.get(&street, token).await.assert_error(404, "NOT_FOUND");
        app.get(&format!("{street}/export"), token)
            .await
            .assert_error(404, "NOT_FOUND");
    }
    app.get("/api/v1/streets/999999/audit", &w.platform.token)
        .await
        .assert_error(404, "NOT_FOUND");
    let seen = trail(&app, &street, &keeper.token).await;
    entry(&seen, "membership.approved", m_a, w.admin_a.id);
    entry(&seen, "membership.approved", m_b, w.admin_b.id);
    let keeper_grant = seen
        .iter()
        .find(|e| e["kind"] == "role.granted" && e["detail"]["role"] == "street_admin")
        .expect("the street admin's grant is the street's");
    assert_eq!(keeper_grant["street_id"].as_i64(), Some(w.street_id));
    assert_eq!(keeper_grant["community_id"], Value::Null);
    assert!(
        !seen.iter().any(|e| e["detail"]["role"] == "street_admin"
            && e["detail"]["scope_id"].as_i64() == Some(other_street)),
        "another street's grant is not this street's"
    );
    // The street trail is the platform admin's too.
    assert_eq!(
        trail(&app, &street, &w.platform.token).await.len(),
        seen.len()
    );
}

#[tokio::test]
async fn trails_filter_by_actor_kind_and_time_and_page_by_cursor() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = w.community_a;
    let alice = app.login("alice").await;
    verified_resident(&app, &alice, a, &w.admin_a).await;
    for i in 0..5 {
        let admin = if i % 2 == 0 { &w.admin_a } else { &w.platform };
        adjust(&app, a, &admin.token, &format!("k{i}"), alice.id, 1)
            .await
            .assert_status(201);
    }
    let path = community_trail(a);
    let all = trail(&app, &path, &w.admin_a.token).await;
    let ids: Vec<i64> = all.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|p| p[0] > p[1]), "newest first: {ids:?}");

    // Pages of two give every entry once, in the same order.
    let mut paged = Vec::new();
    let mut url = format!("{path}?limit=2");
    loop {
        let page = app.get(&url, &w.admin_a.token).await;
        let body = page.assert_status(200).clone();
        let items = body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        paged.extend(items.iter().map(|e| e["id"].as_i64().unwrap()));
        match body["next_cursor"].as_str() {
            Some(c) => url = format!("{path}?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(paged, ids);

    let count = |q: String| {
        let app = &app;
        let token = w.admin_a.token.clone();
        let path = path.clone();
        async move { trail(app, &format!("{path}?{q}"), &token).await }
    };
    let by_platform = count(format!("actor_user_id={}", w.platform.id)).await;
    assert_eq!(by_platform.len(), 2);
    let adjusted = count("kind=points.adjusted".into()).await;
    assert_eq!(adjusted.len(), 5);
    let mine = count(format!(
        "kind=points.adjusted&actor_user_id={}",
        w.admin_a.id
    ))
    .await;
    assert_eq!(mine.len(), 3);
    assert!(
        mine.iter()
            .all(|e| e["actor_user_id"].as_i64() == Some(w.admin_a.id))
    );
    let cst = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let today = chrono::Utc::now().with_timezone(&cst).date_naive();
    let day = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
    assert_eq!(count(format!("from={}", day(today))).await.len(), all.len());
    assert_eq!(
        count(format!("from={0}&to={0}", day(today))).await.len(),
        all.len()
    );
    assert_eq!(
        count(format!("from={}", day(today.succ_opt().unwrap())))
            .await
            .len(),
        0
    );
    assert_eq!(
        count(format!("to={}", day(today.pred_opt().unwrap())))
            .await
            .len(),
        0
    );
    let newest = all[0]["created_at"].as_str().unwrap().replace('+', "%2B");
    assert_eq!(count(format!("to={newest}")).await.len(), all.len() - 1);
    assert_eq!(count(format!("from={newest}")).await.len(), 1);

    for (query, field) in [
        ("kind=points.eaten", "kind"),
        ("kind=%00", "kind"),
        ("actor_user_id=abc", "actor_user_id"),
        ("actor_user_id=-3", "actor_user_id"),
        ("from=2026-13-01", "from"),
        ("from=0000-01-01", "from"),
        ("to=soon", "to"),
        ("from=2026-12-02&to=2026-12-01", "to"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("cursor=!!", "cursor"),
    ] {
        for url in [format!("{path}?{query}"), format!("{path}/export?{query}")] {
            if url.contains("/export?")
                && (query.starts_with("limit") || query.starts_with("cursor"))
            {
                continue;
            }
            let r = app.get(&url, &w.admin_a.token).await;
            r.assert_error(400, "INVALID_PARAMETER");
            assert_eq!(r.body["field"], field, "{url}");
        }
    }
}

#[tokio::test]
async fn the_trail_exports_as_a_workbook() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = w.community_a;
    let alice = app.login("alice").await;
    let m = verified_resident(&app, &alice, a, &w.admin_a).await;
    let keeper = app.login("street-keeper").await;
    app.grant(&keeper, Role::StreetAdmin, w.street_id).await;
    for (path, token) in [
        (format!("{}/export", community_trail(a)), &w.admin_a.token),
        (
            format!(
                "/api/v1/streets/{}/audit/export?kind=membership.approved",
                w.street_id
            ),
            &keeper.token,
        ),
    ] {
        let res = app
            .http
            .get(format!("{}{path}", app.address))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()["content-type"],
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        );
        let bytes = res.bytes().await.unwrap();
        let mut book = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
        let mut strings = String::new();
        std::io::Read::read_to_string(
            &mut book.by_name("xl/sharedStrings.xml").unwrap(),
            &mut strings,
        )
        .unwrap();
        assert!(
            strings.contains("操作类型") && strings.contains("membership.approved"),
            "{strings}"
        );
        let mut sheet = String::new();
        std::io::Read::read_to_string(
            &mut book.by_name("xl/worksheets/sheet1.xml").unwrap(),
            &mut sheet,
        )
        .unwrap();
        // The membership's id is a number cell; the detail is text, never a formula.
        assert!(sheet.contains(&format!("<v>{m}</v>")), "{sheet}");
        assert!(!sheet.contains("<f>"), "{sheet}");
    }
}

#[tokio::test]
async fn the_database_refuses_to_change_or_delete_an_entry() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let alice = app.login("alice").await;
    verified_resident(&app, &alice, w.community_a, &w.admin_a).await;
    let db = &app.state.db;
    let before = entries(&app).await;
    assert!(before > 0);
    let mut attempts = vec![
        "UPDATE audit_entries SET actor_user_id = 1",
        "UPDATE audit_entries SET detail = '{}' WHERE id = (SELECT MIN(id) FROM audit_entries)",
        "DELETE FROM audit_entries",
        "DELETE FROM audit_entries WHERE id = (SELECT MIN(id) FROM audit_entries)",
    ];
    if db.get_database_backend() == DbBackend::Postgres {
        attempts.push("TRUNCATE audit_entries");
    }
    for sql in attempts {
        let err = db.execute_unprepared(sql).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    // Through the entity layer too.
    let first = audit_entry::Entity::find().one(db).await.unwrap().unwrap();
    let mut edit: audit_entry::ActiveModel = first.clone().into();
    edit.object_id = Set(first.object_id + 1);
    assert!(edit.update(db).await.is_err());
    assert!(
        audit_entry::Entity::delete_by_id(first.id)
            .exec(db)
            .await
            .is_err()
    );
    assert_eq!(entries(&app).await, before);
    let still = audit_entry::Entity::find_by_id(first.id)
        .one(db)
        .await
        .unwrap();
    assert_eq!(still, Some(first));
}
