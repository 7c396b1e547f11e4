//! Login, refresh and logout. A login is a session (the token family): each refresh token is
//! single-use, rotating it keeps the session, and presenting a used one revokes the session.

use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::crypto::random_token;
use crate::entities::{auth_session, refresh_token, user};
use crate::error::{AppError, AppResult, ErrorCode, is_unique_violation};
use crate::state::AppState;
use crate::wechat::WeChatSession;

pub struct Tokens {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub user: user::Model,
}

/// Counts a login attempt against the per-IP and per-code limits.
async fn check_login_rate(state: &AppState, ip: &str, code: &str) -> AppResult<()> {
    let auth = &state.settings.auth;
    let (n, left) = state
        .cache
        .incr_window(&format!("rl:login:ip:{ip}"), Duration::from_secs(60))
        .await?;
    if n > auth.login_per_ip_per_minute {
        return Err(AppError::rate_limited(left));
    }
    let code_key = state.crypto.lookup_hash("login-code", code);
    let (n, left) = state
        .cache
        .incr_window(
            &format!("rl:login:code:{code_key}"),
            Duration::from_secs(600),
        )
        .await?;
    if n > auth.login_per_code {
        return Err(AppError::rate_limited(left));
    }
    Ok(())
}

pub async fn login(state: &AppState, code: &str, ip: &str) -> AppResult<Tokens> {
    let code = crate::validate::text("code", code, 256)?;
    check_login_rate(state, ip, &code).await?;
    let session = state.wechat.code_to_session(&code).await?;
    let user = upsert_user(state, &session).await?;
    start_session(state, user).await
}

/// Finds the user by openid or creates them; two first logins racing meet at the unique index.
async fn upsert_user(state: &AppState, session: &WeChatSession) -> AppResult<user::Model> {
    let session_key_enc = state
        .crypto
        .encrypt(&session.session_key)
        .map_err(AppError::Internal)?;
    let now = Utc::now();
    for _ in 0..2 {
        if let Some(existing) = user::Entity::find()
            .filter(user::Column::Openid.eq(&session.openid))
            .one(&state.db)
            .await?
        {
            let mut active: user::ActiveModel = existing.clone().into();
            active.session_key_enc = Set(Some(session_key_enc.clone()));
            if session.unionid.is_some() {
                active.unionid = Set(session.unionid.clone());
            }
            active.updated_at = Set(now);
            match crate::users::live::update_live(&state.db, existing.id, active).await {
                Ok(updated) => return Ok(updated),
                // Erased between the look-up and the write: its openid is gone; start afresh.
                Err(AppError::Client { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        let fresh = user::ActiveModel {
            openid: Set(session.openid.clone()),
            unionid: Set(session.unionid.clone()),
            session_key_enc: Set(Some(session_key_enc.clone())),
            is_party_member: Set(false),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        match fresh.insert(&state.db).await {
            Ok(created) => return Ok(created),
            Err(e) if is_unique_violation(&e) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::Internal(anyhow::anyhow!(
        "user could be neither found nor created"
    )))
}

fn refresh_hash(state: &AppState, token: &str) -> String {
    state.crypto.lookup_hash("refresh", token)
}

async fn new_refresh_token(
    state: &AppState,
    db: &impl sea_orm::ConnectionTrait,
    session_id: &str,
) -> AppResult<String> {
    let token = random_token(32).map_err(AppError::Internal)?;
    let now = Utc::now();
    refresh_token::ActiveModel {
        session_id: Set(session_id.to_owned()),
        token_hash: Set(refresh_hash(state, &token)),
        created_at: Set(now),
        expires_at: Set(now + chrono::Duration::days(state.settings.auth.refresh_ttl_days)),
        used_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(token)
}

/// Starts a new login session for `user` and returns its first tokens.
pub async fn start_session(state: &AppState, user: user::Model) -> AppResult<Tokens> {
    let session_id = uuid::Uuid::new_v4().to_string();
    let txn = crate::db::begin_write(&state.db).await?;
    auth_session::ActiveModel {
        id: Set(session_id.clone()),
        user_id: Set(user.id),
        created_at: Set(Utc::now()),
        revoked_at: Set(None),
        revoked_reason: Set(None),
    }
    .insert(&txn)
    .await?;
    let refresh_token = new_refresh_token(state, &txn, &session_id).await?;
    txn.commit().await?;
    Ok(Tokens {
        access_token: state.tokens.issue(user.id, &session_id)?,
        expires_in: state.tokens.access_ttl_secs,
        refresh_token,
        user,
    })
}

fn invalid_refresh() -> AppError {
    AppError::new(
        ErrorCode::RefreshTokenInvalid,
        "刷新凭证无效或已过期，请重新登录",
    )
}

/// Revokes a session (idempotent: the first reason stays).
pub async fn revoke_session(
    db: &impl sea_orm::ConnectionTrait,
    session_id: &str,
    reason: &str,
) -> AppResult<()> {
    auth_session::Entity::update_many()
        .col_expr(auth_session::Column::RevokedAt, Expr::value(Utc::now()))
        .col_expr(auth_session::Column::RevokedReason, Expr::value(reason))
        .filter(auth_session::Column::Id.eq(session_id))
        .filter(auth_session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Rotates a refresh token. A token used before (or raced by a concurrent use) revokes the
/// whole session: one of the two presenters is not the user.
pub async fn refresh(state: &AppState, presented: &str) -> AppResult<Tokens> {
    if presented.is_empty() || presented.len() > 256 {
        return Err(invalid_refresh());
    }
    let hash = refresh_hash(state, presented);
    let txn = crate::db::begin_write(&state.db).await?;
    let token = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(&hash))
        .one(&txn)
        .await?
        .ok_or_else(invalid_refresh)?;
    let session = auth_session::Entity::find_by_id(token.session_id.clone())
        .one(&txn)
        .await?
        .ok_or_else(invalid_refresh)?;
    if session.revoked_at.is_some() {
        return Err(invalid_refresh());
    }
    let now = Utc::now();
    let claimed = if token.used_at.is_some() {
        false
    } else {
        refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
            .filter(refresh_token::Column::Id.eq(token.id))
            .filter(refresh_token::Column::UsedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected
            == 1
    };
    if !claimed {
        revoke_session(&txn, &session.id, "refresh_reuse").await?;
        txn.commit().await?;
        tracing::warn!(session = %session.id, "refresh token reused; session revoked");
        return Err(AppError::new(
            ErrorCode::RefreshTokenReused,
            "登录凭证已被使用过，为保护账号安全已退出登录，请重新登录",
        ));
    }
    if token.expires_at < now {
        return Err(invalid_refresh());
    }
    let user = user::Entity::find_by_id(session.user_id)
        .one(&txn)
        .await?
        .filter(|u| u.deleted_at.is_none())
        .ok_or_else(invalid_refresh)?;
    let refresh_token = new_refresh_token(state, &txn, &session.id).await?;
    txn.commit().await?;
    Ok(Tokens {
        access_token: state.tokens.issue(user.id, &session.id)?,
        expires_in: state.tokens.access_ttl_secs,
        refresh_token,
        user,
    })
}

/// Revokes every session of a user (account deletion).
pub async fn revoke_all_sessions(
    db: &impl sea_orm::ConnectionTrait,
    user_id: i64,
    reason: &str,
) -> AppResult<()> {
    auth_session::Entity::update_many()
        .col_expr(auth_session::Column::RevokedAt, Expr::value(Utc::now()))
        .col_expr(auth_session::Column::RevokedReason, Expr::value(reason))
        .filter(auth_session::Column::UserId.eq(user_id))
        .filter(auth_session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}
