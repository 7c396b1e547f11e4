//! Each listed staff action writes its entry with the right actor, kind and object; a
//! refused action writes none; an action whose entry cannot be written does not happen.

use linli::auth::roles::Role;
use linli::entities::{membership, redemption, role_grant, settlement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, Set,
};
use serde_json::{Value, json};

use super::{adjust, community_trail, entries, entry, trail};
use crate::helpers::*;
use crate::support::merchants::{cashier, last_month, new_merchant, sell};
use crate::support::wishes::{post_wish, review, step, wish_body};
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
    app.put(&rules, &w.admin_a.token, rule(10))
        .await
        .assert_status(200);
    app.put(&rules, &w.admin_a.token, rule(15))
        .await
        .assert_status(200);
    app.put(&rules, &w.admin_a.token, rule(-1))
        .await
        .assert_error(422, "VALIDATION_FAILED");
    let wish_rules = format!("/api/v1/communities/{a}/wishes/rules");
    let body = json!({"categories": ["助医", "陪伴"], "max_cost_yuan": 300, "claim_days": 10});
    app.put(&wish_rules, &w.admin_a.token, body)
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

#[tokio::test]
async fn wish_reviews_and_dispute_decisions_are_recorded() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = w.community_a;
    let poster = app.login("poster").await;
    verified_resident(&app, &poster, a, &w.admin_a).await;
    let v = app.login("volunteer").await;
    verified_resident(&app, &v, a, &w.admin_a).await;
    let good = post_wish(&app, a, &poster, wish_body()).await;
    let bad = post_wish(&app, a, &poster, wish_body()).await;
    review(&app, good, &w.admin_a.token, None)
        .await
        .assert_status(200);
    review(&app, bad, &w.admin_a.token, Some("请补充说明"))
        .await
        .assert_status(200);
    let before = entries(&app).await;
    review(&app, good, &w.admin_a.token, None)
        .await
        .assert_error(409, "WISH_STATE_CONFLICT");
    assert_eq!(entries(&app).await, before);

    step(&app, good, "claim", &v.token, json!({}))
        .await
        .assert_status(200);
    let proof = crate::support::uploads::upload(
        &app,
        a,
        &v.token,
        "p.jpg",
        "image/jpeg",
        crate::support::uploads::JPEG.to_vec(),
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
    let merchant_id = new_merchant(app, w.community_a, &w.admin_a, "惠民超市").await;
    let staff = cashier(app, merchant_id, &w.admin_a, "cashier").await;
    Shop { merchant_id, staff }
}

async fn sale(app: &TestApp, w: &World, s: &Shop, buyer: &TestUser, key: &str) -> i64 {
    let r = sell(app, w.community_a, s.merchant_id, &s.staff, buyer, key, 7).await;
    r.assert_status(201)["redemption_id"].as_i64().unwrap()
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
        app.put(&status, &w.admin_a.token, json!({"status": st}))
            .await
            .assert_status(code);
    }
    app.put(&status, &w.admin_a.token, json!({"status": "closed"}))
        .await
        .assert_error(422, "VALIDATION_FAILED");

    let staff_grant = role_grant::Entity::find()
        .filter(role_grant::Column::UserId.eq(s.staff.id))
        .filter(role_grant::Column::Role.eq("merchant_staff"))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    // Removed through the shop's staff list (the role-grant route records the same kind).
    let removed = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/merchants/{}/staff/{}", s.merchant_id, s.staff.id),
            Some(&w.admin_a.token),
            None,
        )
        .await;
    assert!(removed.status.is_success(), "{}", removed.body);

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
    assert_eq!(e["detail"]["community_ids"], json!([a]));
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
    // Every entry of a community carries its street.
    assert!(
        all.iter()
            .all(|e| e["street_id"].as_i64() == Some(w.street_id))
    );
    // Admitted by the street for A and B: in A's trail (its home) and the street's.
    let e = entry(&all, "merchant.admitted", street_shop, w.platform.id);
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
async fn a_streets_paired_units_are_recorded_in_the_streets_trail() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let keeper = app.login("street-keeper").await;
    app.grant(&keeper, Role::StreetAdmin, w.street_id).await;
    let unit = app
        .post(
            &format!("/api/v1/streets/{}/pair-units", w.street_id),
            &keeper.token,
            json!({"name": "区税务局第一党支部", "contact": "0871-1111111",
                   "annual_quota": 3, "community_ids": [w.community_a]}),
        )
        .await;
    let unit_id = unit.assert_status(201)["id"].as_i64().unwrap();
    let officer = app.login("tax-officer").await;
    let members = format!("/api/v1/pair-units/{unit_id}/members");
    let one = format!("{members}/{}", officer.id);
    let before = entries(&app).await;
    for _ in 0..2 {
        app.post(&members, &keeper.token, json!({"user_id": officer.id}))
            .await
            .assert_status(204);
    }
    assert_eq!(
        entries(&app).await,
        before + 1,
        "adding a member twice adds once"
    );
    app.call(reqwest::Method::DELETE, &one, Some(&keeper.token), None)
        .await
        .assert_status(204);
    // No longer a member: nothing to remove, and nothing recorded.
    app.call(reqwest::Method::DELETE, &one, Some(&keeper.token), None)
        .await
        .assert_error(404, "NOT_FOUND");
    assert_eq!(
        entries(&app).await,
        before + 2,
        "removing twice removes once"
    );

    let street = trail(
        &app,
        &format!(
            "/api/v1/streets/{}/audit?actor_user_id={}",
            w.street_id, keeper.id
        ),
        &keeper.token,
    )
    .await;
    let kinds: Vec<&str> = street.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "pair_unit.member_removed",
            "pair_unit.member_added",
            "pair_unit.created"
        ]
    );
    for e in &street {
        assert_eq!(e["object_id"].as_i64(), Some(unit_id));
        assert_eq!(e["street_id"].as_i64(), Some(w.street_id));
        assert_eq!(e["community_id"], Value::Null);
    }
    assert_eq!(street[0]["detail"]["user_id"].as_i64(), Some(officer.id));
    let community = trail(&app, &community_trail(w.community_a), &w.admin_a.token).await;
    assert!(!community.iter().any(|e| e["object_type"] == "pair_unit"));
}
