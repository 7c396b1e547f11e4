//! What the poster writes: a new wish, and edits to one no one has claimed yet (which send it
//! back to review). The text and facts are checked in `input`; an edit is a move of the
//! wish's life like any other (`lifecycle::make`).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, Set};

use crate::auth::access::{Admin, CommunityAccess, CommunityGuard, CurrentUser};
use crate::auth::roles::Role;
use crate::entities::wish;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::wishes::input::{WishInput, bad, check_input, encrypt, encrypt_opt, mask_name};
use crate::wishes::lifecycle::{Move, make, nothing_else};
use crate::wishes::queries::forget_walls;
use crate::wishes::standing::{load, state_of};
use crate::wishes::state::{Action, WishState, transition};

/// Posts a wish: a verified resident for themselves, or a grid worker / building leader for
/// someone who cannot use a phone. It waits for a community admin.
pub async fn post(
    state: &AppState,
    author: &CurrentUser,
    access: &CommunityAccess,
    input: WishInput<'_>,
) -> AppResult<wish::Model> {
    let proxy = input.on_behalf.is_some();
    let allowed = if proxy {
        access.has(Role::GridWorker) || access.has(Role::BuildingLeader) || Admin::allows(access)
    } else {
        access.has(Role::Resident)
    };
    if !allowed {
        return Err(AppError::forbidden());
    }
    let community_id = access.community.id;
    let c = check_input(state, author, community_id, &input).await?;
    let now = Utc::now();
    let posted = wish::ActiveModel {
        community_id: Set(community_id),
        poster_id: Set(author.id()),
        beneficiary_id: Set((!proxy).then(|| author.id())),
        beneficiary_name_enc: Set(encrypt(state, &c.name)?),
        beneficiary_masked: Set(mask_name(&c.name)),
        contact_phone_enc: Set(encrypt_opt(state, c.phone.as_ref())?),
        address_enc: Set(encrypt_opt(state, c.address.as_ref())?),
        proxy: Set(proxy),
        consent_at: Set(proxy.then_some(now)),
        title: Set(c.title),
        description: Set(c.description),
        category: Set(c.category),
        estimated_cost: Set(c.estimated_cost),
        beneficiary_group: Set(c.group),
        due_at: Set(input.due_at),
        photo_upload_ids: Set(c.photos),
        state: Set(WishState::PendingReview.as_str().to_owned()),
        check_label: Set(c.check_label),
        claim_round: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&state.db)
    .await?;
    // Staff walls show wishes waiting for review.
    forget_walls(state);
    Ok(posted)
}

/// The poster edits a wish that no one has claimed yet; it goes back to review.
pub async fn edit(
    state: &AppState,
    current: &CurrentUser,
    wish_id: i64,
    input: WishInput<'_>,
) -> AppResult<wish::Model> {
    let (w, _) = load(state, current, wish_id).await?;
    if w.poster_id != current.id() {
        return Err(AppError::forbidden());
    }
    transition(state_of(&w)?, Action::Edit)?;
    if input.on_behalf.is_some() != w.proxy {
        return Err(bad("on_behalf", "不能更改代录方式"));
    }
    let c = check_input(state, current, w.community_id, &input).await?;
    let set = vec![
        (wish::Column::Title, Expr::value(c.title)),
        (wish::Column::Description, Expr::value(c.description)),
        (wish::Column::Category, Expr::value(c.category)),
        (wish::Column::EstimatedCost, Expr::value(c.estimated_cost)),
        (wish::Column::BeneficiaryGroup, Expr::value(c.group)),
        (
            wish::Column::BeneficiaryNameEnc,
            Expr::value(encrypt(state, &c.name)?),
        ),
        (
            wish::Column::BeneficiaryMasked,
            Expr::value(mask_name(&c.name)),
        ),
        (
            wish::Column::ContactPhoneEnc,
            Expr::value(encrypt_opt(state, c.phone.as_ref())?),
        ),
        (
            wish::Column::AddressEnc,
            Expr::value(encrypt_opt(state, c.address.as_ref())?),
        ),
        (wish::Column::DueAt, Expr::value(input.due_at)),
        (wish::Column::PhotoUploadIds, Expr::value(c.photos)),
        (wish::Column::CheckLabel, Expr::value(c.check_label)),
        (
            wish::Column::ReviewNote,
            Expr::value(Option::<String>::None),
        ),
        (
            wish::Column::PublishedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        ),
    ];
    make(state, &w, Move::new(Action::Edit, set), nothing_else).await
}
