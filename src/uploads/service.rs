//! Saving uploads, signing their URLs and serving them.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};

use crate::auth::access::{CommunityAccess, CommunityGuard, CurrentUser, Member};
use crate::entities::{merchant_community, upload};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::state::AppState;

/// Recognises an image from its first bytes: (content type, file extension).
pub fn sniff_image(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(("image/jpeg", "jpg"))
    } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some(("image/png", "png"))
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(("image/webp", "webp"))
    } else {
        None
    }
}

/// Stores an image for `community_id` (for the shop `merchant_id`, if given). The caller has
/// checked the size, that it is an image, and that the owner may upload there.
pub async fn save(
    state: &AppState,
    owner: &CurrentUser,
    community_id: i64,
    merchant_id: Option<i64>,
    bytes: Vec<u8>,
    content_type: &str,
    ext: &str,
) -> AppResult<upload::Model> {
    let id = uuid::Uuid::new_v4().to_string();
    let key = format!("uploads/{community_id}/{id}.{ext}");
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let size = bytes.len() as i64;
    state
        .storage
        .put(&key, bytes)
        .await
        .map_err(AppError::Internal)?;
    Ok(upload::ActiveModel {
        id: Set(id),
        community_id: Set(community_id),
        owner_id: Set(owner.id()),
        content_type: Set(content_type.to_owned()),
        size: Set(size),
        sha256: Set(sha256),
        storage_key: Set(key),
        is_public: Set(false),
        merchant_id: Set(merchant_id),
        created_at: Set(Utc::now()),
    }
    .insert(&state.db)
    .await?)
}

fn signature(state: &AppState, id: &str, expires: i64) -> String {
    state
        .crypto
        .lookup_hash("file-url", &format!("{id}:{expires}"))
}

/// A URL for the file that works without a token until it expires.
pub fn signed_url(state: &AppState, id: &str) -> String {
    let expires = Utc::now().timestamp() + state.settings.storage.url_ttl_secs;
    format!(
        "/files/{id}?e={expires}&s={}",
        signature(state, id, expires)
    )
}

/// Compares in time independent of where the strings differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The upload's metadata, for someone allowed to see it: anyone signed in if it is public,
/// otherwise a member of its community. Everyone else gets 404.
/// Upload ids are UUIDs; anything else names nothing (and never reaches the database).
fn parse_id(id: &str) -> AppResult<String> {
    uuid::Uuid::parse_str(id)
        .map(|u| u.to_string())
        .map_err(|_| AppError::not_found())
}

pub async fn metadata(
    state: &AppState,
    current: &CurrentUser,
    id: &str,
) -> AppResult<upload::Model> {
    let found = upload::Entity::find_by_id(parse_id(id)?)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)?;
    if !found.is_public && !may_see(state, current, &found).await? {
        return Err(AppError::not_found());
    }
    Ok(found)
}

/// Who may see a private upload: whoever may use its community; for a shop's upload also the
/// shop's staff and members of the other communities it serves (its offers are shown there).
async fn may_see(
    state: &AppState,
    current: &CurrentUser,
    found: &upload::Model,
) -> AppResult<bool> {
    if let Some(merchant_id) = found.merchant_id
        && current.is_staff_of(merchant_id)
    {
        return Ok(true);
    }
    if allowed(may_use(state, current, found.community_id).await)? {
        return Ok(true);
    }
    let Some(merchant_id) = found.merchant_id else {
        return Ok(false);
    };
    let served: Vec<i64> = merchant_community::Entity::find()
        .filter(merchant_community::Column::MerchantId.eq(merchant_id))
        .filter(merchant_community::Column::CommunityId.ne(found.community_id))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|c| c.community_id)
        .collect();
    let open = CommunityAccess::load_many(&state.db, current, &served).await?;
    Ok(open.iter().any(Member::allows))
}

/// A refusal of `may_use` as `false`; a failure (database down) stays an error.
fn allowed(checked: AppResult<()>) -> AppResult<bool> {
    match checked {
        Ok(()) => Ok(true),
        Err(e) if matches!(e.code(), ErrorCode::NotFound | ErrorCode::Forbidden) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Who may upload to a community and see its private files: its members, and members of a
/// paired unit serving it (they claim and prove wishes there without living there).
pub async fn may_use(state: &AppState, current: &CurrentUser, community_id: i64) -> AppResult<()> {
    match CommunityAccess::load(&state.db, current, community_id).await {
        Ok(access) if Member::allows(&access) => Ok(()),
        Ok(_) => Err(AppError::forbidden()),
        Err(e) => {
            if crate::wishes::units::serves_member(&state.db, current.id(), community_id).await? {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}

/// The file behind a signed URL; a wrong, altered or expired signature finds nothing.
pub async fn fetch_signed(
    state: &AppState,
    id: &str,
    expires: i64,
    sig: &str,
) -> AppResult<(upload::Model, bytes::Bytes)> {
    if expires < Utc::now().timestamp() || !same(sig, &signature(state, id, expires)) {
        return Err(AppError::not_found());
    }
    let found = upload::Entity::find_by_id(parse_id(id)?)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)?;
    let bytes = state
        .storage
        .get(&found.storage_key)
        .await
        .map_err(AppError::Internal)?
        .ok_or_else(|| {
            tracing::warn!(upload = %found.id, "stored file missing");
            AppError::not_found()
        })?;
    Ok((found, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_bytes() {
        assert_eq!(
            sniff_image(&[0xFF, 0xD8, 0xFF, 0xE0]).unwrap().0,
            "image/jpeg"
        );
        assert_eq!(
            sniff_image(b"\x89PNG\r\n\x1a\n....").unwrap().0,
            "image/png"
        );
        assert_eq!(
            sniff_image(b"RIFF\0\0\0\0WEBPVP8 ").unwrap().0,
            "image/webp"
        );
        assert!(sniff_image(b"GIF89a").is_none());
        assert!(sniff_image(b"<svg xmlns=").is_none());
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
