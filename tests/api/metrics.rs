//! `/metrics` shows the background jobs' passes by job and outcome.

use std::time::{Duration, Instant};

use crate::helpers::*;

#[tokio::test]
async fn the_outbox_worker_and_the_expiry_job_report_their_passes() {
    let app = spawn_app_with(|s| {
        s.notifications.worker_enabled = true;
        s.notifications.poll_interval_ms = 100;
        s.points.expiry_job_enabled = true;
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = app
            .http
            .get(format!("{}/metrics", app.address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let seen = |job: &str| {
            text.contains(&format!(
                "linli_job_runs_total{{job=\"{job}\",outcome=\"ok\"}}"
            )) && text.contains(&format!(
                "linli_job_duration_seconds_count{{job=\"{job}\"}}"
            ))
        };
        if seen("notifications") && seen("bean_expiry") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no job passes in /metrics: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Beans awarded through the earning rules are counted; redemptions and the beans they spent
/// are read from the database, so a retry of a sale does not count twice.
#[tokio::test]
async fn awards_and_redemptions_show_in_metrics() {
    use crate::support::merchants::{funded_resident, pay_code_for, redeem, shop};
    let app = spawn_app().await;
    let s = shop(&app).await;
    let buyer = funded_resident(&app, &s.w, "metered-buyer", 30).await;
    let code = pay_code_for(&app, s.w.community_a, &buyer).await;
    let body = serde_json::json!({"merchant_id": s.merchant_id, "pay_code": code, "amount": 7});
    // The till's retry gets the same receipt and is not a second sale.
    for _ in 0..2 {
        redeem(&app, &s.staff.token, "m-1", body.clone())
            .await
            .assert_status(201);
    }
    app.call(
        reqwest::Method::PUT,
        &format!("/api/v1/communities/{}/points/rules", s.w.community_a),
        Some(&s.w.admin_a.token),
        Some(serde_json::json!({"event_kind": "wish_fulfilled", "beans_per_unit": 5})),
    )
    .await
    .assert_status(200);
    linli::points::earning::award(
        &app.state,
        linli::points::earning::AwardRequest {
            community_id: s.w.community_a,
            user_id: buyer.id,
            event: linli::points::earning::EarnEvent::WishFulfilled,
            units: 1,
            key: "metrics-award",
            ref_type: None,
            ref_id: None,
        },
    )
    .await
    .unwrap();
    let text = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("linli_redemptions 1\n"), "{text}");
    assert!(text.contains("linli_beans_spent 7\n"), "{text}");
    assert!(text.contains("linli_beans_awarded_total 5\n"), "{text}");
}
