//! The wish's state machine: every change of state is checked here, in one function.

use crate::error::{AppError, AppResult, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WishState {
    /// Posted, waiting for a community admin.
    PendingReview,
    /// On the wall, open to claims.
    Published,
    /// One volunteer has claimed it.
    Claimed,
    /// The claimer says it is done; waiting for the beneficiary, poster or grid worker.
    Fulfilled,
    /// Confirmed done: beans paid to the claimer.
    Confirmed,
    /// The fulfilment was disputed; a community admin decides.
    Disputed,
    /// Refused by the admin (the poster sees why and may edit it).
    Rejected,
    /// Taken back by the poster.
    Withdrawn,
}

impl WishState {
    pub fn as_str(self) -> &'static str {
        match self {
            WishState::PendingReview => "pending_review",
            WishState::Published => "published",
            WishState::Claimed => "claimed",
            WishState::Fulfilled => "fulfilled",
            WishState::Confirmed => "confirmed",
            WishState::Disputed => "disputed",
            WishState::Rejected => "rejected",
            WishState::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending_review" => WishState::PendingReview,
            "published" => WishState::Published,
            "claimed" => WishState::Claimed,
            "fulfilled" => WishState::Fulfilled,
            "confirmed" => WishState::Confirmed,
            "disputed" => WishState::Disputed,
            "rejected" => WishState::Rejected,
            "withdrawn" => WishState::Withdrawn,
            _ => return None,
        })
    }

    pub const ALL: [WishState; 8] = [
        WishState::PendingReview,
        WishState::Published,
        WishState::Claimed,
        WishState::Fulfilled,
        WishState::Confirmed,
        WishState::Disputed,
        WishState::Rejected,
        WishState::Withdrawn,
    ];
}

/// What someone does to a wish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Edit,
    Withdraw,
    Approve,
    Reject,
    Claim,
    /// The claimer gives it back.
    Release,
    /// The claim ran past its deadline.
    Expire,
    Fulfil,
    Confirm,
    Dispute,
    /// The admin settles a dispute as done.
    ResolveDone,
    /// The admin settles a dispute as not done: back on the wall.
    ResolveReopen,
}

fn refuse(code: ErrorCode, message: &str) -> AppError {
    AppError::new(code, message)
}

/// The state `action` leads to from `from`, or the error that says why it cannot happen.
pub fn transition(from: WishState, action: Action) -> AppResult<WishState> {
    use Action::*;
    use WishState::*;
    match (action, from) {
        (Edit, PendingReview | Published | Rejected) => Ok(PendingReview),
        (Edit, _) => Err(refuse(
            ErrorCode::WishNotEditable,
            "心愿已被认领或已结束，不能再修改",
        )),
        (Withdraw, PendingReview | Published | Rejected) => Ok(Withdrawn),
        (Withdraw, _) => Err(refuse(
            ErrorCode::WishNotEditable,
            "心愿已被认领或已结束，不能撤回",
        )),
        (Approve, PendingReview) => Ok(Published),
        (Reject, PendingReview) => Ok(Rejected),
        (Approve | Reject, _) => Err(refuse(ErrorCode::WishStateConflict, "该心愿不在待审核状态")),
        (Claim, Published) => Ok(Claimed),
        (Claim, Claimed | Fulfilled | Confirmed | Disputed) => {
            Err(refuse(ErrorCode::WishAlreadyClaimed, "该心愿已被认领"))
        }
        (Claim, _) => Err(refuse(ErrorCode::WishNotClaimable, "该心愿当前不可认领")),
        (Release | Expire, Claimed) => Ok(Published),
        (Fulfil, Claimed) => Ok(Fulfilled),
        (Release | Expire | Fulfil, _) => {
            Err(refuse(ErrorCode::WishStateConflict, "该心愿不在认领中"))
        }
        (Confirm | Dispute, Fulfilled) => Ok(if action == Confirm {
            Confirmed
        } else {
            Disputed
        }),
        (Confirm | Dispute, _) => Err(refuse(
            ErrorCode::WishStateConflict,
            "该心愿尚未标记为已完成",
        )),
        (ResolveDone, Disputed) => Ok(Confirmed),
        (ResolveReopen, Disputed) => Ok(Published),
        (ResolveDone | ResolveReopen, _) => Err(refuse(
            ErrorCode::WishStateConflict,
            "该心愿没有待处理的异议",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;
    use WishState::*;

    const ACTIONS: [Action; 12] = [
        Edit,
        Withdraw,
        Approve,
        Reject,
        Claim,
        Release,
        Expire,
        Fulfil,
        Confirm,
        Dispute,
        ResolveDone,
        ResolveReopen,
    ];

    /// Every pair of state and action: exactly these are allowed.
    #[test]
    fn only_the_listed_transitions_are_allowed() {
        let allowed = [
            (PendingReview, Edit, PendingReview),
            (Published, Edit, PendingReview),
            (Rejected, Edit, PendingReview),
            (PendingReview, Withdraw, Withdrawn),
            (Published, Withdraw, Withdrawn),
            (Rejected, Withdraw, Withdrawn),
            (PendingReview, Approve, Published),
            (PendingReview, Reject, Rejected),
            (Published, Claim, Claimed),
            (Claimed, Release, Published),
            (Claimed, Expire, Published),
            (Claimed, Fulfil, Fulfilled),
            (Fulfilled, Confirm, Confirmed),
            (Fulfilled, Dispute, Disputed),
            (Disputed, ResolveDone, Confirmed),
            (Disputed, ResolveReopen, Published),
        ];
        for from in WishState::ALL {
            for action in ACTIONS {
                let expected = allowed
                    .iter()
                    .find(|(f, a, _)| *f == from && *a == action)
                    .map(|(_, _, to)| *to);
                match (transition(from, action), expected) {
                    (Ok(to), Some(want)) => assert_eq!(to, want, "{from:?} {action:?}"),
                    (Err(_), None) => {}
                    (got, want) => panic!("{from:?} {action:?}: {got:?}, expected {want:?}"),
                }
            }
        }
    }

    #[test]
    fn claims_on_taken_wishes_say_so() {
        let err = transition(Claimed, Claim).unwrap_err();
        assert_eq!(err.code(), ErrorCode::WishAlreadyClaimed);
        let err = transition(Withdrawn, Claim).unwrap_err();
        assert_eq!(err.code(), ErrorCode::WishNotClaimable);
        for s in WishState::ALL {
            assert_eq!(WishState::parse(s.as_str()), Some(s));
        }
    }
}
