//! The wishes' periodic job: claims past their deadline go back to the wall, and confirmed
//! wishes that a stopped process left unpaid are paid (every process may run it: releases
//! are conditional updates, awards keyed).

use chrono::Utc;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::entities::{earning_award, wish};
use crate::error::{AppError, AppResult};
use crate::notifications::outbox::Event;
use crate::state::AppState;
use crate::wishes::lifecycle::{Move, back_on_the_wall, make, tell};
use crate::wishes::payment::{award_key, pay};
use crate::wishes::state::{Action, WishState};

/// Releases claims past their deadline. Returns how many. Each release is a move of the
/// wish's life like a claimer's own (`lifecycle::make`), so it forgets the walls' copies too.
pub async fn release_overdue(state: &AppState) -> AppResult<u64> {
    let overdue = wish::Entity::find()
        .filter(wish::Column::State.eq(WishState::Claimed.as_str()))
        .filter(wish::Column::ClaimDeadline.lte(Utc::now()))
        .order_by_asc(wish::Column::ClaimDeadline)
        .limit(200)
        .all(&state.db)
        .await?;
    let mut released = 0;
    for w in overdue {
        let mv = Move::new(Action::Expire, back_on_the_wall())
            .ending_claim("expired")
            .telling(Event::WishReleased, "认领已超时");
        let expired = make(state, &w, mv, async |txn, _| match w.claimer_id {
            Some(claimer) => tell(txn, state, &w, claimer, Event::WishReleased, "认领已超时").await,
            None => Ok(()),
        })
        .await;
        match expired {
            Ok(_) => released += 1,
            // Fulfilled or released in the meantime: nothing to do.
            Err(AppError::Client { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(released)
}

/// Pays confirmed wishes whose payment did not happen (the process stopped between the
/// confirmation's commit and the award): confirmed in the last week, no award recorded for
/// them. The award's key makes this safe beside a confirmation paying at the same moment.
pub async fn pay_missed(state: &AppState) -> AppResult<u64> {
    let since = Utc::now() - chrono::Duration::days(7);
    let confirmed = wish::Entity::find()
        .filter(wish::Column::State.eq(WishState::Confirmed.as_str()))
        .filter(wish::Column::ConfirmedAt.gte(since))
        .filter(wish::Column::ClaimerId.is_not_null())
        .order_by_asc(wish::Column::ConfirmedAt)
        .limit(500)
        .all(&state.db)
        .await?;
    let awarded: Vec<String> = earning_award::Entity::find()
        .filter(earning_award::Column::RefType.eq("wish"))
        .filter(earning_award::Column::RefId.is_in(confirmed.iter().map(|w| w.id)))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|a| a.idempotency_key)
        .collect();
    let mut paid = 0;
    for w in confirmed {
        if !awarded.contains(&award_key(&w)) {
            pay(state, &w).await?;
            paid += 1;
        }
    }
    Ok(paid)
}

/// The periodic job that releases overdue claims and pays confirmed wishes a stopped process
/// left unpaid (every process may run it: releases are conditional updates, awards keyed).
pub async fn run_release_job(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let interval = std::time::Duration::from_secs(std::cmp::max(
        state.settings.wishes.release_interval_secs,
        10,
    ));
    loop {
        let started = std::time::Instant::now();
        let released = release_overdue(&state).await;
        let ok = released.is_ok();
        match released {
            Ok(0) => {}
            Ok(n) => tracing::info!(released = n, "overdue wish claims released"),
            Err(e) => tracing::warn!(error = ?e, "wish claim release pass failed"),
        }
        let paid = pay_missed(&state).await;
        state
            .metrics
            .job_run("wish_release", ok && paid.is_ok(), started.elapsed());
        if let Err(e) = paid {
            tracing::warn!(error = ?e, "paying confirmed wishes failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
    }
}
