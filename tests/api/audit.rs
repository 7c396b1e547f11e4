//! The audit trail. The actions and their entries are in `audit/actions.rs`; here, reading:
//! trails refused across communities and streets, filters, paging, the workbook, and the
//! database refusing to change or delete an entry.

use linli::auth::roles::Role;
use linli::entities::audit_entry;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, Set};
use serde_json::{Value, json};

use crate::helpers::*;
// As the trail names it: an adjustment of a resident's beans.
pub use crate::support::points::award as adjust;

mod actions;

/// The whole trail at `path` (newest first), following every cursor.
pub async fn trail(app: &TestApp, path: &str, token: &str) -> Vec<Value> {
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

pub fn community_trail(c: i64) -> String {
    format!("/api/v1/communities/{c}/audit")
}

/// The one entry of `kind` about `object_id`, checked for its actor.
#[track_caller]
pub fn entry<'a>(entries: &'a [Value], kind: &str, object_id: i64, actor: i64) -> &'a Value {
    let found: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == kind && e["object_id"].as_i64() == Some(object_id))
        .collect();
    assert_eq!(found.len(), 1, "{kind} {object_id} in {entries:#?}");
    assert_eq!(found[0]["actor_user_id"].as_i64(), Some(actor), "{kind}");
    found[0]
}

pub async fn entries(app: &TestApp) -> u64 {
    audit_entry::Entity::find()
        .count(&app.state.db)
        .await
        .unwrap()
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
        let (strings, sheet) = workbook(&bytes);
        assert!(
            strings.contains("操作类型") && strings.contains("membership.approved"),
            "{strings}"
        );
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
