//! How a wish appears: as a card on the wall (the beneficiary masked, nothing private), and
//! in detail to each caller as their standing allows — private details to the poster, the
//! beneficiary, the live claimer and staff (the phone masked for staff), the review note to
//! those near the wish, the content check's label to staff.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::entities::wish;
use crate::error::AppResult;
use crate::state::AppState;
use crate::wishes::account::reveal;
use crate::wishes::standing::{Standing, state_of};
use crate::wishes::state::WishState;

/// A wish as the wall shows it: the beneficiary masked, no address, phone or photos.
#[derive(Serialize, ToSchema)]
pub struct WishCard {
    pub id: i64,
    pub community_id: i64,
    pub title: String,
    pub description: String,
    pub category: String,
    pub estimated_cost: i32,
    pub beneficiary_group: String,
    /// 王**.
    pub beneficiary: String,
    pub due_at: DateTime<Utc>,
    pub state: WishState,
    pub published_at: Option<DateTime<Utc>>,
    /// The thank-you note, once given.
    pub thanks_note: Option<String>,
}

/// What only the poster, the beneficiary, the claimer and staff see.
#[derive(Serialize, ToSchema)]
pub struct WishPrivate {
    pub beneficiary_name: String,
    /// In full for the claimer and the poster; masked for staff.
    pub contact_phone: Option<String>,
    pub address: Option<String>,
    pub photo_upload_ids: Vec<String>,
    pub proxy: bool,
    pub consent_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct WishDetail {
    #[serde(flatten)]
    pub card: WishCard,
    /// Absent for everyone else.
    pub private: Option<WishPrivate>,
    /// Why the admin rejected it (poster and staff).
    pub review_note: Option<String>,
    /// Whether the content check asked for a person to look (staff).
    pub check_label: Option<String>,
    pub claimer_id: Option<i64>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub claim_deadline: Option<DateTime<Utc>>,
    pub fulfil_note: Option<String>,
    pub proof_upload_ids: Vec<String>,
    pub fulfilled_at: Option<DateTime<Utc>>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub dispute_reason: Option<String>,
    /// Changes with every change to the wish; a reviewer sends back the one they read.
    pub updated_at: DateTime<Utc>,
    /// What the caller may do now.
    pub you: You,
}

#[derive(Serialize, ToSchema)]
pub struct You {
    pub is_poster: bool,
    pub is_claimer: bool,
    pub is_staff: bool,
}

pub fn card(w: &wish::Model) -> AppResult<WishCard> {
    Ok(WishCard {
        id: w.id,
        community_id: w.community_id,
        title: w.title.clone(),
        description: w.description.clone(),
        category: w.category.clone(),
        estimated_cost: w.estimated_cost,
        beneficiary_group: w.beneficiary_group.clone(),
        beneficiary: w.beneficiary_masked.clone(),
        due_at: w.due_at,
        state: state_of(w)?,
        published_at: w.published_at,
        thanks_note: w.thanks_note.clone(),
    })
}

/// A stored list of upload ids (see `json_text`): a malformed one is an error, not "none".
fn ids(column: &str, json: Option<&String>) -> AppResult<Vec<String>> {
    crate::json_text::read_or_default(column, json.map(String::as_str))
}

/// The wish as the caller may see it, by their standing.
pub fn detail(state: &AppState, w: &wish::Model, s: &Standing) -> AppResult<WishDetail> {
    let insider = s.is_poster || s.is_beneficiary || s.is_claimer || s.is_staff;
    let private = if insider {
        let phone = reveal(state, w.contact_phone_enc.as_ref())?;
        let full = s.is_poster || s.is_beneficiary || s.is_claimer;
        Some(WishPrivate {
            beneficiary_name: reveal(state, Some(&w.beneficiary_name_enc))?.unwrap_or_default(),
            contact_phone: if full {
                phone
            } else {
                phone.as_deref().map(crate::crypto::mask_phone)
            },
            address: reveal(state, w.address_enc.as_ref())?,
            photo_upload_ids: ids("photo_upload_ids", w.photo_upload_ids.as_ref())?,
            proxy: w.proxy,
            consent_at: w.consent_at,
        })
    } else {
        None
    };
    let near = s.is_poster || s.is_beneficiary || s.is_staff;
    Ok(WishDetail {
        card: card(w)?,
        private,
        review_note: if near { w.review_note.clone() } else { None },
        check_label: if s.is_staff {
            w.check_label.clone()
        } else {
            None
        },
        claimer_id: if insider { w.claimer_id } else { None },
        claimed_at: w.claimed_at,
        claim_deadline: if insider { w.claim_deadline } else { None },
        fulfil_note: if insider { w.fulfil_note.clone() } else { None },
        proof_upload_ids: if insider {
            ids("proof_upload_ids", w.proof_upload_ids.as_ref())?
        } else {
            Vec::new()
        },
        fulfilled_at: w.fulfilled_at,
        confirmed_at: w.confirmed_at,
        dispute_reason: if near || s.is_claimer {
            w.dispute_reason.clone()
        } else {
            None
        },
        updated_at: w.updated_at,
        you: You {
            is_poster: s.is_poster,
            is_claimer: s.is_claimer,
            is_staff: s.is_staff,
        },
    })
}
