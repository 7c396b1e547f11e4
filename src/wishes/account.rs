//! Privacy (PIPL): what the wishes capability holds about one person, for the export of their
//! data — the wishes they posted or that are for them ([`export_of`]), the wishes they
//! claimed, the paired units they claim for — and for erasure ([`forget_beneficiary`], and
//! which of their photos other people's wishes rely on); [`reveal`] decrypts a stored
//! personal field for someone entitled to it.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use utoipa::ToSchema;

use crate::entities::{pair_unit, pair_unit_member, wish, wish_claim};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::wishes::state::WishState;

/// A wish they claimed as a volunteer (圆梦使者), in any round.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyClaimData {
    pub claim_id: i64,
    pub wish_id: i64,
    pub community_id: Option<i64>,
    pub title: Option<String>,
    pub round: i32,
    /// active, fulfilled, confirmed, released, …
    pub status: String,
    /// The paired unit they claimed for, if any.
    pub unit_id: Option<i64>,
    pub claimed_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// A paired unit (结对单位) they are a member of.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyUnitMembership {
    pub unit_id: i64,
    pub unit_name: Option<String>,
    pub joined_at: DateTime<Utc>,
}

pub async fn claims_of(db: &impl ConnectionTrait, user_id: i64) -> AppResult<Vec<MyClaimData>> {
    let claims = wish_claim::Entity::find()
        .filter(wish_claim::Column::ClaimerId.eq(user_id))
        .order_by_asc(wish_claim::Column::Id)
        .all(db)
        .await?;
    let wishes = wish::Entity::find()
        .filter(wish::Column::Id.is_in(claims.iter().map(|c| c.wish_id)))
        .all(db)
        .await?;
    Ok(claims
        .into_iter()
        .map(|c| {
            let w = wishes.iter().find(|w| w.id == c.wish_id);
            MyClaimData {
                claim_id: c.id,
                wish_id: c.wish_id,
                community_id: w.map(|w| w.community_id),
                title: w.map(|w| w.title.clone()),
                round: c.round,
                status: c.status,
                unit_id: c.unit_id,
                claimed_at: c.created_at,
                ended_at: c.ended_at,
            }
        })
        .collect())
}

pub async fn units_of(db: &impl ConnectionTrait, user_id: i64) -> AppResult<Vec<MyUnitMembership>> {
    let rows = pair_unit_member::Entity::find()
        .filter(pair_unit_member::Column::UserId.eq(user_id))
        .all(db)
        .await?;
    let units = pair_unit::Entity::find()
        .filter(pair_unit::Column::Id.is_in(rows.iter().map(|r| r.unit_id)))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| MyUnitMembership {
            unit_name: units
                .iter()
                .find(|u| u.id == r.unit_id)
                .map(|u| u.name.clone()),
            unit_id: r.unit_id,
            joined_at: r.created_at,
        })
        .collect())
}

/// Which of `ids` a wish shows, as a photo of the wish or as proof of its fulfilment. The
/// lists are JSON arrays of upload ids (UUIDs), so a quoted id matches only itself.
pub async fn uploads_in_use(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> AppResult<HashSet<String>> {
    let mut used = HashSet::new();
    for chunk in ids.chunks(50) {
        let mut any = Condition::any();
        for id in chunk {
            let quoted = format!("%\"{id}\"%");
            any = any
                .add(wish::Column::PhotoUploadIds.like(quoted.clone()))
                .add(wish::Column::ProofUploadIds.like(quoted));
        }
        let wishes = wish::Entity::find().filter(any).all(db).await?;
        for w in wishes {
            for list in [&w.photo_upload_ids, &w.proof_upload_ids]
                .into_iter()
                .flatten()
            {
                match crate::json_text::read::<Vec<String>>("upload id list", list) {
                    Ok(listed) => used.extend(listed.into_iter().filter(|l| chunk.contains(l))),
                    // An unreadable list keeps whatever it mentions: better kept than lost.
                    Err(_) => used.extend(
                        chunk
                            .iter()
                            .filter(|id| list.contains(id.as_str()))
                            .cloned(),
                    ),
                }
            }
        }
    }
    Ok(used)
}

/// A wish in the export of one's own data (PIPL): what they posted, or was posted for them.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyWishData {
    pub wish_id: i64,
    pub community_id: i64,
    /// Posted by this user (or for them, by a grid worker).
    pub posted_by_me: bool,
    pub title: String,
    pub description: String,
    pub beneficiary_name: Option<String>,
    pub contact_phone: Option<String>,
    pub address: Option<String>,
    pub state: String,
    pub thanks_note: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The user's wishes, decrypted for them, for the export of their data.
pub async fn export_of(state: &AppState, user_id: i64) -> AppResult<Vec<MyWishData>> {
    let rows = wish::Entity::find()
        .filter(
            wish::Column::PosterId
                .eq(user_id)
                .or(wish::Column::BeneficiaryId.eq(user_id)),
        )
        .order_by_asc(wish::Column::Id)
        .all(&state.db)
        .await?;
    let mut out = Vec::new();
    for w in rows {
        // Someone else's details, entered by this user as a grid worker, are not theirs.
        let theirs = w.beneficiary_id == Some(user_id);
        out.push(MyWishData {
            wish_id: w.id,
            community_id: w.community_id,
            posted_by_me: w.poster_id == user_id,
            beneficiary_name: if theirs {
                reveal(state, Some(&w.beneficiary_name_enc))?
            } else {
                None
            },
            contact_phone: if theirs {
                reveal(state, w.contact_phone_enc.as_ref())?
            } else {
                None
            },
            address: if theirs {
                reveal(state, w.address_enc.as_ref())?
            } else {
                None
            },
            title: w.title,
            description: w.description,
            state: w.state,
            thanks_note: w.thanks_note,
            created_at: w.created_at,
        });
    }
    Ok(out)
}

/// When a resident erases their account: wishes for them lose the personal details (name,
/// phone, address, photos, their thank-you note); those not yet claimed are withdrawn, and
/// claimed ones stay for the claimer and staff to conclude without the contact details.
pub async fn forget_beneficiary(
    db: &impl ConnectionTrait,
    crypto: &crate::crypto::Crypto,
    user_id: i64,
) -> AppResult<()> {
    let now = Utc::now();
    let gone = crypto.encrypt("已注销用户").map_err(AppError::Internal)?;
    wish::Entity::update_many()
        .col_expr(
            wish::Column::State,
            Expr::value(WishState::Withdrawn.as_str()),
        )
        .col_expr(wish::Column::UpdatedAt, Expr::value(now))
        .filter(wish::Column::BeneficiaryId.eq(user_id))
        .filter(wish::Column::State.is_in([
            WishState::PendingReview.as_str(),
            WishState::Published.as_str(),
            WishState::Rejected.as_str(),
        ]))
        .exec(db)
        .await?;
    wish::Entity::update_many()
        .col_expr(wish::Column::BeneficiaryNameEnc, Expr::value(gone))
        .col_expr(wish::Column::BeneficiaryMasked, Expr::value("**"))
        .col_expr(
            wish::Column::ContactPhoneEnc,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            wish::Column::AddressEnc,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            wish::Column::PhotoUploadIds,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            wish::Column::ThanksNote,
            Expr::value(Option::<String>::None),
        )
        .col_expr(wish::Column::UpdatedAt, Expr::value(now))
        .filter(wish::Column::BeneficiaryId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Decrypts a stored personal field for someone entitled to it.
pub fn reveal(state: &AppState, stored: Option<&String>) -> AppResult<Option<String>> {
    stored
        .map(|s| state.crypto.decrypt(s).map_err(AppError::Internal))
        .transpose()
}
