//! A wish's life after it is posted (`posting`): reviewed, claimed, fulfilled, confirmed (or disputed and resolved),
//! released or withdrawn, thanked. Every change of state goes through [`change`]: the state
//! machine (`state::transition`) says whether it is allowed, and a conditional update
//! (`WHERE state = <the state we saw>`) makes sure two people cannot both make it. The
//! operations check who may act and what they send, then hand the move to [`make`], which
//! runs the same sequence for each.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    Set,
};
use serde_json::json;

use crate::audit::{self, AuditKind, Entry, ObjectType};
use crate::auth::access::{Admin, CommunityGuard, CurrentUser, Member};
use crate::entities::{wish, wish_claim};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::moderation::check::{Outcome, Scene, check};
use crate::notifications::outbox::{self, Event};
use crate::state::AppState;
use crate::validate;
use crate::wishes::input::{bad, own_uploads};
use crate::wishes::payment::pay_after_commit;
use crate::wishes::queries::forget_walls;
use crate::wishes::standing::{load, standing, state_of};
use crate::wishes::state::{Action, WishState, transition};
use crate::wishes::units;

/// The one way a wish changes state: checks the move is allowed from the state we saw, then
/// makes it only if the wish is still in that state. `set` adds the columns the move writes.
async fn change(
    db: &DatabaseTransaction,
    w: &wish::Model,
    action: Action,
    set: Vec<(wish::Column, SimpleExpr)>,
) -> AppResult<WishState> {
    let from = state_of(w)?;
    let to = transition(from, action)?;
    let mut update = wish::Entity::update_many()
        .col_expr(wish::Column::State, Expr::value(to.as_str()))
        .col_expr(wish::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(wish::Column::Id.eq(w.id))
        .filter(wish::Column::State.eq(from.as_str()))
        // The wish as we saw it: a request that read it before a later claim or edit cannot
        // act on the newer one.
        .filter(wish::Column::ClaimRound.eq(w.claim_round))
        .filter(wish::Column::UpdatedAt.eq(w.updated_at));
    for (col, value) in set {
        update = update.col_expr(col, value);
    }
    if update.exec(db).await?.rows_affected == 1 {
        return Ok(to);
    }
    // Someone else moved it first: say why from where it is now.
    let now_state = wish::Entity::find_by_id(w.id)
        .one(db)
        .await?
        .map(|x| state_of(&x))
        .transpose()?
        .ok_or_else(AppError::not_found)?;
    transition(now_state, action)?;
    Err(AppError::new(
        ErrorCode::WishStateConflict,
        "心愿状态刚刚发生了变化，请刷新后重试",
    ))
}

pub(super) async fn reload(db: &impl ConnectionTrait, id: i64) -> AppResult<wish::Model> {
    wish::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(AppError::not_found)
}

/// One move in a wish's life: the action asked of the state machine, the columns it writes,
/// and what follows from it in the same transaction.
pub(super) struct Move {
    action: Action,
    set: Vec<(wish::Column, SimpleExpr)>,
    /// The current claim ends, with this status.
    ends_claim: Option<&'static str>,
    /// The poster and the beneficiary are told: the event, and the result they read.
    tell: Option<(Event, &'static str)>,
}

impl Move {
    pub(super) fn new(action: Action, set: Vec<(wish::Column, SimpleExpr)>) -> Self {
        Self {
            action,
            set,
            ends_claim: None,
            tell: None,
        }
    }

    pub(super) fn ending_claim(mut self, status: &'static str) -> Self {
        self.ends_claim = Some(status);
        self
    }

    pub(super) fn telling(mut self, event: Event, result: &'static str) -> Self {
        self.tell = Some((event, result));
        self
    }
}

/// The sequence every change of a wish's state runs once the operation has loaded the wish
/// (`w`, as the caller saw it) and checked who may act: begin → change through the one gate
/// → the claim ended → `also` (rows the move writes beside the wish — a claim, an audit
/// entry — given the state moved to) → reload → the parties told → commit → the walls' read
/// copies forgotten. Returns the wish as the transaction left it; on any error nothing is
/// written (the transaction is rolled back when dropped).
pub(super) async fn make(
    state: &AppState,
    w: &wish::Model,
    mv: Move,
    also: impl AsyncFnOnce(&DatabaseTransaction, WishState) -> AppResult<()>,
) -> AppResult<wish::Model> {
    let txn = crate::db::begin_write(&state.db).await?;
    let to = change(&txn, w, mv.action, mv.set).await?;
    if let Some(status) = mv.ends_claim {
        end_claim(&txn, w, status).await?;
    }
    also(&txn, to).await?;
    let now = reload(&txn, w.id).await?;
    if let Some((event, result)) = mv.tell {
        tell_parties(&txn, state, &now, event, result).await?;
    }
    txn.commit().await?;
    forget_walls(state);
    Ok(now)
}

/// A move that writes nothing beside the wish.
pub(super) async fn nothing_else(_: &DatabaseTransaction, _: WishState) -> AppResult<()> {
    Ok(())
}

/// Notifies the poster (and the beneficiary, if they have their own account).
async fn tell_parties(
    db: &impl ConnectionTrait,
    state: &AppState,
    w: &wish::Model,
    event: Event,
    result: &str,
) -> AppResult<()> {
    let mut to = vec![w.poster_id];
    if let Some(b) = w.beneficiary_id
        && b != w.poster_id
    {
        to.push(b);
    }
    for user in to {
        tell(db, state, w, user, event, result).await?;
    }
    Ok(())
}

/// Queues one notification about `w` for `user`.
pub(super) async fn tell(
    db: &impl ConnectionTrait,
    state: &AppState,
    w: &wish::Model,
    user: i64,
    event: Event,
    result: &str,
) -> AppResult<()> {
    let mut fields = BTreeMap::new();
    fields.insert("title", w.title.clone());
    fields.insert("result", result.to_owned());
    fields.insert("time", Utc::now().format("%Y-%m-%d %H:%M").to_string());
    outbox::enqueue(
        db,
        &state.settings.notifications,
        event,
        user,
        Some(w.community_id),
        &fields,
    )
    .await?;
    Ok(())
}

pub async fn withdraw(
    state: &AppState,
    current: &CurrentUser,
    wish_id: i64,
) -> AppResult<wish::Model> {
    let (w, _) = load(state, current, wish_id).await?;
    if w.poster_id != current.id() && w.beneficiary_id != Some(current.id()) {
        return Err(AppError::forbidden());
    }
    make(state, &w, Move::new(Action::Withdraw, vec![]), nothing_else).await
}

/// A community admin approves (publishes) or rejects a wish, with a reason the poster sees,
/// deciding on the version they read (`seen`, the wish's `updated_at`).
pub async fn review(
    state: &AppState,
    current: &CurrentUser,
    wish_id: i64,
    approve: bool,
    reason: Option<&str>,
    seen: DateTime<Utc>,
) -> AppResult<wish::Model> {
    let (w, access) = load(state, current, wish_id).await?;
    if !Admin::allows(&access) {
        return Err(AppError::forbidden());
    }
    // The admin decides on the text they read: an edit since then must be read first.
    if w.updated_at != seen {
        return Err(AppError::new(
            ErrorCode::WishStateConflict,
            "心愿内容已更新，请刷新后重新审核",
        ));
    }
    let reviewer = (wish::Column::ReviewedBy, Expr::value(current.id()));
    let (mv, kind) = if approve {
        let published = (wish::Column::PublishedAt, Expr::value(Utc::now()));
        let mv = Move::new(Action::Approve, vec![published, reviewer]);
        (
            mv.telling(Event::WishReviewed, "已发布"),
            AuditKind::WishApproved,
        )
    } else {
        let reason = validate::text("reason", reason.unwrap_or_default(), 200)?;
        let note = (wish::Column::ReviewNote, Expr::value(reason));
        let mv = Move::new(Action::Reject, vec![note, reviewer]);
        (
            mv.telling(Event::WishReviewed, "未通过"),
            AuditKind::WishRejected,
        )
    };
    make(state, &w, mv, async |txn, to| {
        let entry = Entry::new(kind, ObjectType::Wish, w.id)
            .by(current.id())
            .in_community(w.community_id)
            .detail(json!({"before": w.state, "after": to.as_str()}));
        audit::record(txn, entry).await
    })
    .await
}

/// Claims a published wish, for oneself or for a paired unit one belongs to. Of many claimers
/// at once, the conditional update lets exactly one through; the claim row (unique per wish
/// and round) records it. A unit's claims are counted against its annual quota with the
/// unit's row locked (after the wish's row: no other path locks a unit's row).
pub async fn claim(
    state: &AppState,
    current: &CurrentUser,
    wish_id: i64,
    unit_id: Option<i64>,
) -> AppResult<wish::Model> {
    let (w, access) = load(state, current, wish_id).await?;
    let unit = match unit_id {
        Some(u) => Some(units::for_claim(state, current, u, w.community_id).await?),
        None if Member::allows(&access) => None,
        None => return Err(AppError::forbidden()),
    };
    transition(state_of(&w)?, Action::Claim)?;
    if w.poster_id == current.id() || w.beneficiary_id == Some(current.id()) {
        return Err(AppError::new(
            ErrorCode::WishNotClaimable,
            "不能认领自己发布的心愿",
        ));
    }
    let now = Utc::now();
    if w.due_at <= now {
        return Err(AppError::new(ErrorCode::WishNotClaimable, "该心愿已过期"));
    }
    let days = crate::wishes::rules::for_community(state, w.community_id)
        .await?
        .claim_days;
    let deadline = std::cmp::min(now + chrono::Duration::days(days), w.due_at);
    let round = w.claim_round + 1;
    let unit_id = unit.as_ref().map(|u| u.id);
    let set = vec![
        (wish::Column::ClaimRound, Expr::value(round)),
        (wish::Column::ClaimerId, Expr::value(current.id())),
        (wish::Column::ClaimedAt, Expr::value(now)),
        (wish::Column::ClaimDeadline, Expr::value(deadline)),
        (wish::Column::UnitId, Expr::value(unit_id)),
    ];
    let mv = Move::new(Action::Claim, set).telling(Event::WishClaimed, "已被认领");
    make(state, &w, mv, async |txn, _| {
        if let Some(u) = &unit {
            units::reserve(txn, u).await?;
        }
        wish_claim::ActiveModel {
            wish_id: Set(w.id),
            round: Set(round),
            claimer_id: Set(current.id()),
            status: Set("active".into()),
            created_at: Set(now),
            ended_at: Set(None),
            unit_id: Set(unit_id),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        Ok(())
    })
    .await
}

/// Closes the current claim with `status`.
async fn end_claim(db: &impl ConnectionTrait, w: &wish::Model, status: &str) -> AppResult<()> {
    wish_claim::Entity::update_many()
        .col_expr(wish_claim::Column::Status, Expr::value(status))
        .col_expr(wish_claim::Column::EndedAt, Expr::value(Utc::now()))
        .filter(wish_claim::Column::WishId.eq(w.id))
        .filter(wish_claim::Column::Round.eq(w.claim_round))
        .exec(db)
        .await?;
    Ok(())
}

/// The columns a wish going back to the wall clears: its claim and fulfilment.
pub(super) fn back_on_the_wall() -> Vec<(wish::Column, SimpleExpr)> {
    let none_time = || Expr::value(Option::<DateTime<Utc>>::None);
    vec![
        (wish::Column::ClaimerId, Expr::value(Option::<i64>::None)),
        (wish::Column::ClaimedAt, none_time()),
        (wish::Column::ClaimDeadline, none_time()),
        (
            wish::Column::FulfilNote,
            Expr::value(Option::<String>::None),
        ),
        (
            wish::Column::ProofUploadIds,
            Expr::value(Option::<String>::None),
        ),
        (wish::Column::FulfilledAt, none_time()),
    ]
}

/// The claimer gives the wish back to the wall.
pub async fn release(
    state: &AppState,
    current: &CurrentUser,
    wish_id: i64,
) -> AppResult<wish::Model> {
    let (w, access) = load(state, current, wish_id).await?;
    if !standing(&w, current, &access).is_claimer {
        return Err(AppError::forbidden());
    }
    let mv = Move::new(Action::Release, back_on_the_wall())
        .ending_claim("released")
        .telling(Event::WishReleased, "已放弃认领");
    make(state, &w, mv, nothing_else).await
}

/// The claimer marks the wish fulfilled, with a note and photos as proof.
pub async fn fulfil(
    state: &AppState,
    current: &CurrentUser,
    wish_id: i64,
    note: &str,
    proof_upload_ids: &[String],
) -> AppResult<wish::Model> {
    let (w, access) = load(state, current, wish_id).await?;
    if !standing(&w, current, &access).is_claimer {
        return Err(AppError::forbidden());
    }
    let note = validate::paragraph("note", note, 500)?;
    if proof_upload_ids.is_empty() || proof_upload_ids.len() > 6 {
        return Err(bad("proof_upload_ids", "请上传 1 到 6 张照片作为凭证"));
    }
    let proof = own_uploads(state, w.community_id, proof_upload_ids, "proof_upload_ids").await?;
    let set = vec![
        (wish::Column::FulfilNote, Expr::value(note)),
        (wish::Column::ProofUploadIds, Expr::value(proof)),
        (wish::Column::FulfilledAt, Expr::value(Utc::now())),
    ];
    let mv = Move::new(Action::Fulfil, set).telling(Event::WishFulfilled, "请确认");
    make(state, &w, mv, nothing_else).await
}

/// The beneficiary, the poster or a grid worker confirms the wish was fulfilled — or disputes
/// it, which sends it to the community admin. The claimer cannot confirm their own claim.
pub async fn confirm(
    state: &AppState,
    current: &CurrentUser,
    wish_id: i64,
    dispute: Option<&str>,
) -> AppResult<wish::Model> {
    let (w, access) = load(state, current, wish_id).await?;
    let s = standing(&w, current, &access);
    if s.is_claimer || w.claimer_id == Some(current.id()) {
        return Err(AppError::new(
            ErrorCode::Forbidden,
            "认领人不能确认自己的认领",
        ));
    }
    if !(s.is_poster || s.is_beneficiary || s.is_staff) {
        return Err(AppError::forbidden());
    }
    if let Some(reason) = dispute {
        let reason = validate::text("reason", reason, 200)?;
        let set = vec![(wish::Column::DisputeReason, Expr::value(reason))];
        return make(state, &w, Move::new(Action::Dispute, set), nothing_else).await;
    }
    // Confirming again (a double tap, a second confirmer) changes nothing and pays nothing.
    if state_of(&w)? == WishState::Confirmed {
        pay_after_commit(state, &w).await;
        return Ok(w);
    }
    let set = vec![
        (wish::Column::ConfirmedBy, Expr::value(current.id())),
        (wish::Column::ConfirmedAt, Expr::value(Utc::now())),
    ];
    let mv = Move::new(Action::Confirm, set).ending_claim("confirmed");
    match make(state, &w, mv, nothing_else).await {
        Ok(w) => {
            pay_after_commit(state, &w).await;
            Ok(w)
        }
        Err(e) => {
            // Someone confirmed it at the same moment: the same outcome, paid once.
            let now = reload(&state.db, w.id).await?;
            if state_of(&now)? != WishState::Confirmed {
                return Err(e);
            }
            pay_after_commit(state, &now).await;
            Ok(now)
        }
    }
}

/// A community admin settles a dispute: done (the claimer is paid) or not (back on the wall).
pub async fn resolve(
    state: &AppState,
    current: &CurrentUser,
    wish_id: i64,
    done: bool,
) -> AppResult<wish::Model> {
    let (w, access) = load(state, current, wish_id).await?;
    if !Admin::allows(&access) {
        return Err(AppError::forbidden());
    }
    let mv = if done {
        let set = vec![
            (wish::Column::ConfirmedBy, Expr::value(current.id())),
            (wish::Column::ConfirmedAt, Expr::value(Utc::now())),
        ];
        Move::new(Action::ResolveDone, set).ending_claim("confirmed")
    } else {
        Move::new(Action::ResolveReopen, back_on_the_wall()).ending_claim("rejected")
    };
    let resolved = make(state, &w, mv, async |txn, to| {
        let entry = Entry::new(AuditKind::WishDisputeResolved, ObjectType::Wish, w.id)
            .by(current.id())
            .in_community(w.community_id)
            .detail(json!({
                "before": w.state, "after": to.as_str(), "done": done,
                "claimer_id": w.claimer_id, "claim_round": w.claim_round,
            }));
        audit::record(txn, entry).await
    })
    .await?;
    if done {
        pay_after_commit(state, &resolved).await;
    }
    Ok(resolved)
}

/// The beneficiary (or the poster for them) thanks the claimer (回访反馈), once.
pub async fn thank(
    state: &AppState,
    current: &CurrentUser,
    wish_id: i64,
    note: &str,
) -> AppResult<wish::Model> {
    let (w, access) = load(state, current, wish_id).await?;
    let s = standing(&w, current, &access);
    if !(s.is_poster || s.is_beneficiary) {
        return Err(AppError::forbidden());
    }
    if state_of(&w)? != WishState::Confirmed {
        return Err(AppError::new(
            ErrorCode::WishStateConflict,
            "心愿确认完成后才能留言感谢",
        ));
    }
    let note = validate::paragraph("note", note, 300)?;
    if let Outcome::Hold { .. } = check(state, &current.user, Scene::Comment, "note", &note).await?
    {
        return Err(AppError::new(
            ErrorCode::ContentRisky,
            "留言需要人工审核，请修改后再试",
        ));
    }
    let done = wish::Entity::update_many()
        .col_expr(wish::Column::ThanksNote, Expr::value(note))
        .col_expr(wish::Column::ThanksAt, Expr::value(Utc::now()))
        .filter(wish::Column::Id.eq(w.id))
        .filter(wish::Column::ThanksNote.is_null())
        .exec(&state.db)
        .await?;
    if done.rows_affected != 1 {
        return Err(AppError::new(ErrorCode::WishStateConflict, "已经留过言了"));
    }
    // The wall's cards show the thank-you note.
    forget_walls(state);
    reload(&state.db, w.id).await
}
