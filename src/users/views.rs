//! How a user appears: in full to themselves, masked to staff who need to reach them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::crypto::{Crypto, mask_phone};
use crate::entities::user;
use crate::error::{AppError, AppResult};

/// The user's own profile, as they see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Profile {
    pub id: i64,
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
    /// The full number: only the user sees it.
    pub phone: Option<String>,
    /// 党员.
    pub is_party_member: bool,
    /// 在职党员报到: the work unit of a party member reporting to a community.
    pub party_work_unit: Option<String>,
    /// The community the party member reports to.
    pub party_report_community_id: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl Profile {
    pub fn for_self(crypto: &Crypto, u: &user::Model) -> AppResult<Self> {
        Ok(Profile {
            id: u.id,
            nickname: u.nickname.clone(),
            avatar_url: u.avatar_url.clone(),
            phone: decrypt_phone(crypto, u)?,
            is_party_member: u.is_party_member,
            party_work_unit: u.party_work_unit.clone(),
            party_report_community_id: u.party_report_community_id,
            created_at: u.created_at,
        })
    }
}

pub fn decrypt_phone(crypto: &Crypto, u: &user::Model) -> AppResult<Option<String>> {
    u.phone_enc
        .as_deref()
        .map(|enc| crypto.decrypt(enc).map_err(AppError::Internal))
        .transpose()
}

/// The phone masked (138****1234), for staff whose role needs to reach the person.
pub fn masked_phone(crypto: &Crypto, u: &user::Model) -> AppResult<Option<String>> {
    Ok(decrypt_phone(crypto, u)?.map(|p| mask_phone(&p)))
}
