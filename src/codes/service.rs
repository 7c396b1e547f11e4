//! Making, resolving, revoking and drawing codes.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::auth::access::{Admin, CommunityAccess, CommunityGuard, CurrentUser};
use crate::entities::{community, qr_code};
use crate::error::{AppError, AppResult, ErrorCode, is_unique_violation};
use crate::pagination::Keyset;
use crate::state::AppState;
use crate::wechat::WeChatError;

/// What a code is for. Later capabilities add activity check-in and votes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Opens the community's join page.
    JoinCommunity,
    /// A shop's counter code (收款码): the resident scans it and confirms what to pay. Made
    /// by the merchant's staff or managers; the target is the merchant.
    MerchantCounter,
    /// A wish's shareable page; the target is the wish.
    Wish,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::JoinCommunity => "join_community",
            Purpose::MerchantCounter => "merchant_counter",
            Purpose::Wish => "wish",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "join_community" => Some(Purpose::JoinCommunity),
            "merchant_counter" => Some(Purpose::MerchantCounter),
            "wish" => Some(Purpose::Wish),
            _ => None,
        }
    }
}

const SCENE_LEN: usize = 16;
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// 16 characters from 62: about 95 random bits, well inside WeChat's 32-character scene.
fn new_scene() -> anyhow::Result<String> {
    let mut bytes = [0u8; SCENE_LEN];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
    // 62 * 4 = 248: reject the top 8 values so every character is equally likely.
    let mut out = String::with_capacity(SCENE_LEN);
    let mut pool = bytes.to_vec();
    while out.len() < SCENE_LEN {
        if pool.is_empty() {
            let mut more = [0u8; SCENE_LEN];
            getrandom::fill(&mut more).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
            pool.extend_from_slice(&more);
        }
        let b = pool.remove(0);
        if b < 248 {
            out.push(ALPHABET[(b % 62) as usize] as char);
        }
    }
    Ok(out)
}

/// A syntactically possible scene; anything else is not looked up.
pub fn plausible_scene(scene: &str) -> bool {
    !scene.is_empty() && scene.len() <= 32 && scene.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Makes a community code (community admins), e.g. the join poster's code.
pub async fn create(
    state: &AppState,
    current: &CurrentUser,
    community_id: i64,
    purpose: Purpose,
    valid_days: Option<i64>,
) -> AppResult<qr_code::Model> {
    if let Some(days) = valid_days
        && !(1..=3650).contains(&days)
    {
        return Err(AppError::validation(
            "valid_days",
            "有效天数须在 1 到 3650 之间",
        ));
    }
    let page = match purpose {
        Purpose::JoinCommunity => state.settings.codes.join_community_page.clone(),
        Purpose::MerchantCounter | Purpose::Wish => {
            return Err(AppError::validation(
                "purpose",
                "商户收款码和心愿分享码请在对应页面生成",
            ));
        }
    };
    let expires_at = valid_days.map(|d| Utc::now() + chrono::Duration::days(d));
    insert(
        state,
        current.id(),
        community_id,
        purpose,
        community_id,
        page,
        expires_at,
    )
    .await
}

/// The share code of a wish: made once, then the same code every time. The caller has
/// checked that `creator` may see the wish.
pub async fn for_wish(
    state: &AppState,
    creator: i64,
    community_id: i64,
    wish_id: i64,
) -> AppResult<qr_code::Model> {
    let existing = qr_code::Entity::find()
        .filter(qr_code::Column::Purpose.eq(Purpose::Wish.as_str()))
        .filter(qr_code::Column::TargetId.eq(wish_id))
        .filter(qr_code::Column::RevokedAt.is_null())
        .one(&state.db)
        .await?;
    if let Some(code) = existing {
        return Ok(code);
    }
    let page = state.settings.codes.wish_page.clone();
    insert(
        state,
        creator,
        community_id,
        Purpose::Wish,
        wish_id,
        page,
        None,
    )
    .await
}

/// Makes a merchant's counter code. The caller has checked that `creator` may.
pub async fn create_for_merchant(
    state: &AppState,
    creator: i64,
    community_id: i64,
    merchant_id: i64,
) -> AppResult<qr_code::Model> {
    let page = state.settings.codes.merchant_counter_page.clone();
    insert(
        state,
        creator,
        community_id,
        Purpose::MerchantCounter,
        merchant_id,
        page,
        None,
    )
    .await
}

async fn insert(
    state: &AppState,
    creator: i64,
    community_id: i64,
    purpose: Purpose,
    target_id: i64,
    page: String,
    expires_at: Option<DateTime<Utc>>,
) -> AppResult<qr_code::Model> {
    let now = Utc::now();
    for _ in 0..3 {
        let row = qr_code::ActiveModel {
            scene: Set(new_scene().map_err(AppError::Internal)?),
            purpose: Set(purpose.as_str().to_owned()),
            community_id: Set(community_id),
            target_id: Set(target_id),
            page: Set(page.clone()),
            expires_at: Set(expires_at),
            revoked_at: Set(None),
            image_key: Set(None),
            image_type: Set(None),
            created_by: Set(creator),
            created_at: Set(now),
            ..Default::default()
        };
        match row.insert(&state.db).await {
            Ok(created) => return Ok(created),
            Err(e) if is_unique_violation(&e) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::Internal(anyhow::anyhow!(
        "no free scene after three tries"
    )))
}

pub async fn list(
    state: &AppState,
    community_id: i64,
    page: Keyset,
) -> AppResult<Vec<qr_code::Model>> {
    let query = qr_code::Entity::find().filter(qr_code::Column::CommunityId.eq(community_id));
    Ok(page
        .ascending(query, qr_code::Column::Id)
        .all(&state.db)
        .await?)
}

async fn find(state: &AppState, scene: &str) -> AppResult<qr_code::Model> {
    if !plausible_scene(scene) {
        return Err(AppError::not_found());
    }
    qr_code::Entity::find()
        .filter(qr_code::Column::Scene.eq(scene))
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)
}

/// Refuses a code that was revoked or has expired.
fn check_valid(code: &qr_code::Model, now: DateTime<Utc>) -> AppResult<()> {
    if code.revoked_at.is_some() {
        return Err(AppError::new(
            ErrorCode::CodeRevoked,
            "该二维码已被社区停用",
        ));
    }
    if code.expires_at.is_some_and(|t| t <= now) {
        return Err(AppError::new(
            ErrorCode::CodeExpired,
            "该二维码已过期，请向社区索取新码",
        ));
    }
    Ok(())
}

/// What a scanned code opens, if it is still valid.
pub async fn resolve(
    state: &AppState,
    scene: &str,
) -> AppResult<(qr_code::Model, community::Model)> {
    let code = find(state, scene).await?;
    check_valid(&code, Utc::now())?;
    let community = community::Entity::find_by_id(code.community_id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)?;
    Ok((code, community))
}

/// Loads a code for someone who manages it: an admin of its community, or for a shop's
/// counter code the shop's staff. Others get 404.
async fn managed(
    state: &AppState,
    current: &CurrentUser,
    scene: &str,
) -> AppResult<qr_code::Model> {
    let code = find(state, scene).await?;
    if code.purpose == Purpose::MerchantCounter.as_str() && current.is_staff_of(code.target_id) {
        return Ok(code);
    }
    let access = CommunityAccess::load(&state.db, current, code.community_id).await?;
    if !Admin::allows(&access) {
        return Err(AppError::not_found());
    }
    Ok(code)
}

pub async fn revoke(
    state: &AppState,
    current: &CurrentUser,
    scene: &str,
) -> AppResult<qr_code::Model> {
    let code = managed(state, current, scene).await?;
    qr_code::Entity::update_many()
        .col_expr(qr_code::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(qr_code::Column::Id.eq(code.id))
        .filter(qr_code::Column::RevokedAt.is_null())
        .exec(&state.db)
        .await?;
    qr_code::Entity::find_by_id(code.id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)
}

/// The code's image: made once (by WeChat, or as a plain QR code in development mode), kept in
/// storage, and served from there afterwards.
pub async fn image(
    state: &AppState,
    current: &CurrentUser,
    scene: &str,
) -> AppResult<(bytes::Bytes, String)> {
    let code = managed(state, current, scene).await?;
    render(state, &code).await
}

/// Draws a code the caller may have (checked by the caller), or serves the stored image.
pub async fn render(state: &AppState, code: &qr_code::Model) -> AppResult<(bytes::Bytes, String)> {
    check_valid(code, Utc::now())?;
    if let (Some(key), Some(content_type)) = (&code.image_key, &code.image_type)
        && let Some(bytes) = state.storage.get(key).await.map_err(AppError::Internal)?
    {
        return Ok((bytes, content_type.clone()));
    }
    let (bytes, content_type, ext) = if state.wechat.dev_login_enabled() {
        let svg = plain_qr_svg(&format!("{}?scene={}", code.page, code.scene))?;
        (svg.into_bytes(), "image/svg+xml".to_owned(), "svg")
    } else {
        let (bytes, _) = state
            .wechat
            .mini_program_code(&code.scene, &code.page)
            .await
            .map_err(|e| match e {
                WeChatError::Api { errcode: 45009, .. } => WeChatError::RateLimited,
                other => other,
            })?;
        let Some((content_type, ext)) = crate::uploads::service::sniff_image(&bytes) else {
            return Err(WeChatError::Api {
                errcode: 0,
                errmsg: "mini-program code reply is not an image".into(),
            }
            .into());
        };
        (bytes, content_type.to_owned(), ext)
    };
    let key = format!("codes/{}.{ext}", code.scene);
    state
        .storage
        .put(&key, bytes.clone())
        .await
        .map_err(AppError::Internal)?;
    qr_code::Entity::update_many()
        .col_expr(qr_code::Column::ImageKey, Expr::value(key))
        .col_expr(
            qr_code::Column::ImageType,
            Expr::value(content_type.clone()),
        )
        .filter(qr_code::Column::Id.eq(code.id))
        .exec(&state.db)
        .await?;
    Ok((bytes::Bytes::from(bytes), content_type))
}

fn plain_qr_svg(text: &str) -> AppResult<String> {
    let qr = qrcode::QrCode::new(text.as_bytes())
        .map_err(|e| AppError::Internal(anyhow::anyhow!("QR encoding: {e}")))?;
    Ok(qr
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(280, 280)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenes_are_short_random_and_plausible() {
        let a = new_scene().unwrap();
        let b = new_scene().unwrap();
        assert_eq!(a.len(), 16);
        assert_ne!(a, b);
        assert!(plausible_scene(&a));
        assert!(!plausible_scene("a/b"));
        assert!(!plausible_scene(&"a".repeat(33)));
    }
}
