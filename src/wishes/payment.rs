//! Paying the claimer of a confirmed wish through the earning rules, once per claim by its
//! business key — right after the confirmation commits, or later by the release job.

use crate::entities::wish;
use crate::error::AppResult;
use crate::points::earning::{self, AwardRequest, EarnEvent};
use crate::state::AppState;

/// The business key that pays a claim once.
pub(super) fn award_key(w: &wish::Model) -> String {
    format!("wish:{}:round:{}", w.id, w.claim_round)
}

/// Pays the claimer of a confirmed wish through the earning rules. The key makes a second
/// call (a retry, a second confirmer) pay nothing more.
pub(super) async fn pay(state: &AppState, w: &wish::Model) -> AppResult<()> {
    let Some(claimer) = w.claimer_id else {
        return Ok(());
    };
    // Beans are spent where one lives: a paired unit's member from elsewhere is credited in
    // the unit's report, not with beans they could not spend.
    let resident =
        crate::communities::residents::verified_resident(&state.db, w.community_id, claimer)
            .await?
            .is_some();
    if !resident {
        return Ok(());
    }
    earning::award(
        state,
        AwardRequest {
            community_id: w.community_id,
            user_id: claimer,
            event: EarnEvent::WishFulfilled,
            units: 1,
            key: &award_key(w),
            ref_type: Some("wish"),
            ref_id: Some(w.id),
        },
    )
    .await?;
    Ok(())
}

/// Pays the claimer of a wish whose confirmation has committed. The confirmation stands
/// whatever happens here, so a payment that fails now (the database gone a moment, a
/// conflict lost three times) is not the client's failure: it is logged and left to the
/// release job, which pays confirmed wishes left unpaid — once, by the same key.
pub(super) async fn pay_after_commit(state: &AppState, w: &wish::Model) {
    if let Err(e) = pay(state, w).await {
        tracing::warn!(
            wish_id = w.id,
            error = format!("{e:#}"),
            "payment of a confirmed wish left to the release job"
        );
    }
}
