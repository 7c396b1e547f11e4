//! The request side of who is calling: reads the bearer token, serves read requests from the
//! short-lived copies in `reads`, and loads the caller through `auth::access`. A handler
//! states what it needs by taking `CurrentUser` (the signed-in user) or `InCommunity<G>` (a
//! signed-in user inside the community named by the `{community_id}` path segment, with the
//! guard `G` already checked). The types themselves, and every rule about them, live in
//! `auth::access`; services use that module, never this one.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};

// Handlers name the guards of `InCommunity<G>` next to the extractors they take.
use crate::auth::access::CommunityAccess;
pub use crate::auth::access::{Admin, CommunityGuard, CurrentUser, Member, Reviewer};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::state::AppState;

fn bearer(req: &HttpRequest) -> AppResult<&str> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or_else(|| AppError::new(ErrorCode::Unauthenticated, "请先登录"))?;
    let value = header
        .to_str()
        .map_err(|_| AppError::new(ErrorCode::TokenInvalid, "登录凭证无效，请重新登录"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| AppError::new(ErrorCode::TokenInvalid, "登录凭证无效，请重新登录"))?;
    Ok(token)
}

fn state(req: &HttpRequest) -> AppResult<web::Data<AppState>> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("application state missing")))
}

async fn load_current_user(req: &HttpRequest) -> AppResult<CurrentUser> {
    if let Some(found) = req.extensions().get::<CurrentUser>() {
        return Ok(found.clone());
    }
    let state = state(req)?;
    let claims = state.tokens.verify(bearer(req)?)?;
    let invalid = || AppError::new(ErrorCode::TokenInvalid, "登录凭证无效，请重新登录");
    let user_id: i64 = claims.sub.parse().map_err(|_| invalid())?;
    let reading = is_read(req);
    if reading
        && let Some(cached) = state.reads.users.get(&claims.sid)
        && cached.id() == user_id
    {
        req.extensions_mut().insert(cached.clone());
        return Ok(cached);
    }
    let current = CurrentUser::load(&state.db, &claims.sid, user_id)
        .await?
        .ok_or_else(invalid)?;
    if reading {
        state
            .reads
            .users
            .put(current.session_id.clone(), current.clone());
    }
    req.extensions_mut().insert(current.clone());
    Ok(current)
}

/// A read request may use the short-lived copies in `reads`; a write never does.
fn is_read(req: &HttpRequest) -> bool {
    matches!(
        *req.method(),
        actix_web::http::Method::GET | actix_web::http::Method::HEAD
    )
}

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { load_current_user(&req).await })
    }
}

/// A signed-in user acting inside the community of the `{community_id}` path segment, whose
/// standing there satisfies `G`.
pub struct InCommunity<G> {
    pub user: CurrentUser,
    pub access: CommunityAccess,
    _guard: PhantomData<G>,
}

impl<G> InCommunity<G> {
    pub fn community_id(&self) -> i64 {
        self.access.community.id
    }
}

impl<G: CommunityGuard + 'static> FromRequest for InCommunity<G> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let user = load_current_user(&req).await?;
            let community_id: i64 = req
                .match_info()
                .get("community_id")
                .and_then(|s| s.parse().ok())
                .ok_or_else(AppError::not_found)?;
            let state = state(&req)?;
            let key = (user.id(), community_id);
            let cached = if is_read(&req) {
                state.reads.access.get(&key)
            } else {
                None
            };
            let access = match cached {
                Some(access) => access,
                None => {
                    let access = CommunityAccess::load(&state.db, &user, community_id).await?;
                    if is_read(&req) {
                        state.reads.access.put(key, access.clone());
                    }
                    access
                }
            };
            if !G::allows(&access) {
                return Err(AppError::forbidden());
            }
            Ok(InCommunity {
                user,
                access,
                _guard: PhantomData,
            })
        })
    }
}
