//! Sending queued notifications. `run_once` does one pass; the background job calls it on a
//! timer. Each row is claimed by a conditional update (pending → sending, with a claim token
//! and a lease), so two workers never send the same message; a worker that dies mid-send
//! leaves a lease that expires, and only then may the row be tried again.

use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::entities::{outbox, user};
use crate::state::AppState;
use crate::wechat::WeChatError;

/// How long a claimed row is reserved for the worker that claimed it.
const LEASE: Duration = Duration::from_secs(300);
const BATCH: u64 = 20;

/// WeChat errcodes that no retry will fix: the user refused or unsubscribed (43101), a bad
/// openid (40003), a bad template id (40037), bad data (47003).
fn is_permanent(errcode: i64) -> bool {
    matches!(errcode, 43101 | 40003 | 40037 | 47003)
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
}

enum Outcome {
    Sent,
    Retry(String),
    Failed(String),
}

/// One pass over the due messages.
pub async fn run_once(state: &AppState) -> anyhow::Result<Pass> {
    let now = Utc::now();
    // Leases of workers that died mid-send run out; their rows are due again.
    outbox::Entity::update_many()
        .col_expr(outbox::Column::State, Expr::value("pending"))
        .col_expr(
            outbox::Column::ClaimToken,
            Expr::value(Option::<String>::None),
        )
        .filter(outbox::Column::State.eq("sending"))
        .filter(outbox::Column::LockedUntil.lt(now))
        .exec(&state.db)
        .await?;
    let due: Vec<i64> = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::Id)
        .filter(outbox::Column::State.eq("pending"))
        .filter(outbox::Column::NextAttemptAt.lte(now))
        .order_by_asc(outbox::Column::Id)
        .limit(BATCH)
        .into_tuple()
        .all(&state.db)
        .await?;
    let mut pass = Pass::default();
    for id in due {
        let token = uuid::Uuid::new_v4().to_string();
        let lease = chrono::Duration::from_std(LEASE)?;
        let claimed = outbox::Entity::update_many()
            .col_expr(outbox::Column::State, Expr::value("sending"))
            .col_expr(outbox::Column::ClaimToken, Expr::value(token.clone()))
            .col_expr(outbox::Column::LockedUntil, Expr::value(Utc::now() + lease))
            .filter(outbox::Column::Id.eq(id))
            .filter(outbox::Column::State.eq("pending"))
            .exec(&state.db)
            .await?;
        if claimed.rows_affected != 1 {
            continue; // another worker has it
        }
        let Some(row) = outbox::Entity::find_by_id(id).one(&state.db).await? else {
            continue;
        };
        let outcome = match deliver(state, &row).await {
            Outcome::Retry(error)
                if row.attempts + 1 >= state.settings.notifications.max_attempts =>
            {
                Outcome::Failed(format!(
                    "gave up after {} attempts: {error}",
                    row.attempts + 1
                ))
            }
            other => other,
        };
        record(state, &row, &token, &outcome).await?;
        match outcome {
            Outcome::Sent => pass.sent += 1,
            Outcome::Retry(_) => pass.retried += 1,
            Outcome::Failed(_) => pass.failed += 1,
        }
    }
    Ok(pass)
}

async fn deliver(state: &AppState, row: &outbox::Model) -> Outcome {
    let recipient = match user::Entity::find_by_id(row.user_id).one(&state.db).await {
        Ok(Some(u)) if u.deleted_at.is_none() => u,
        Ok(_) => return Outcome::Failed("recipient account erased".into()),
        Err(e) => return Outcome::Retry(format!("database: {e}")),
    };
    let Some(template_id) = row.template_id.as_deref() else {
        return Outcome::Failed("no template".into());
    };
    let data: serde_json::Value = match serde_json::from_str(&row.data) {
        Ok(v) => v,
        Err(e) => return Outcome::Failed(format!("stored data unreadable: {e}")),
    };
    if state.wechat.dev_login_enabled() {
        tracing::info!(
            outbox_id = row.id,
            event = %row.event,
            template_id,
            "development mode: notification not sent to WeChat"
        );
        return Outcome::Sent;
    }
    match state
        .wechat
        .send_subscribe_message(&recipient.openid, template_id, row.page.as_deref(), &data)
        .await
    {
        Ok(()) => Outcome::Sent,
        Err(WeChatError::Api { errcode, errmsg }) if is_permanent(errcode) => {
            Outcome::Failed(format!("WeChat {errcode}: {errmsg}"))
        }
        Err(e) => Outcome::Retry(e.to_string()),
    }
}

/// Writes the outcome, only if this worker still holds the claim.
async fn record(
    state: &AppState,
    row: &outbox::Model,
    token: &str,
    outcome: &Outcome,
) -> anyhow::Result<()> {
    let now = Utc::now();
    let attempts = row.attempts + 1;
    let mut update = outbox::Entity::update_many()
        .col_expr(outbox::Column::Attempts, Expr::value(attempts))
        .col_expr(
            outbox::Column::ClaimToken,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            outbox::Column::LockedUntil,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        );
    update = match outcome {
        Outcome::Sent => update
            .col_expr(outbox::Column::State, Expr::value("sent"))
            .col_expr(outbox::Column::SentAt, Expr::value(now))
            .col_expr(
                outbox::Column::LastError,
                Expr::value(Option::<String>::None),
            ),
        Outcome::Failed(error) => update
            .col_expr(outbox::Column::State, Expr::value("failed"))
            .col_expr(outbox::Column::LastError, Expr::value(truncate(error))),
        Outcome::Retry(error) => update
            .col_expr(outbox::Column::State, Expr::value("pending"))
            .col_expr(
                outbox::Column::NextAttemptAt,
                Expr::value(now + backoff(attempts)),
            )
            .col_expr(outbox::Column::LastError, Expr::value(truncate(error))),
    };
    update
        .filter(outbox::Column::Id.eq(row.id))
        .filter(outbox::Column::ClaimToken.eq(token))
        .exec(&state.db)
        .await?;
    Ok(())
}

/// 30 s, 1 min, 2 min, … at most an hour.
fn backoff(attempts: i32) -> chrono::Duration {
    let seconds = 30i64.saturating_mul(1i64 << attempts.clamp(1, 7).saturating_sub(1));
    chrono::Duration::seconds(seconds.min(3600))
}

fn truncate(s: &str) -> String {
    s.chars().take(250).collect()
}

/// Runs passes until told to stop.
pub async fn run(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let interval = Duration::from_millis(state.settings.notifications.poll_interval_ms.max(100));
    loop {
        let started = std::time::Instant::now();
        let pass = run_once(&state).await;
        state
            .metrics
            .job_run("notifications", pass.is_ok(), started.elapsed());
        match pass {
            Ok(pass) if pass != Pass::default() => {
                tracing::info!(
                    sent = pass.sent,
                    retried = pass.retried,
                    failed = pass.failed,
                    "outbox pass"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = format!("{e:#}"), "outbox pass failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1).num_seconds(), 30);
        assert_eq!(backoff(2).num_seconds(), 60);
        assert_eq!(backoff(20).num_seconds(), 1920);
        assert!(is_permanent(43101) && !is_permanent(-1));
    }
}
