//! One error shape for every response: `{"code": "...", "message": "中文", "field": ...}`.
//! Handlers and services return [`AppError`]; it is turned into HTTP once, here. Internal causes
//! are logged with their chain and never sent to the client.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

/// Stable machine codes a client can switch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The body is not valid JSON or has the wrong shape.
    MalformedJson,
    /// The body is not `application/json`, or an upload is not a JPEG, PNG or WebP image.
    UnsupportedMediaType,
    /// A multipart upload could not be read.
    MalformedUpload,
    /// A field failed validation; `field` names it.
    ValidationFailed,
    /// A path or query parameter is not valid.
    InvalidParameter,
    /// No bearer token was sent.
    Unauthenticated,
    /// The bearer token is forged, malformed, for another audience, or revoked.
    TokenInvalid,
    /// The bearer token has expired; refresh it.
    TokenExpired,
    /// The refresh token is unknown, expired or revoked.
    RefreshTokenInvalid,
    /// A refresh token was used twice; the whole login has been revoked.
    RefreshTokenReused,
    /// The caller's role does not allow this.
    Forbidden,
    /// Nothing here, or nothing the caller may see.
    NotFound,
    /// The path exists but not with this method; `Allow` lists the methods it has.
    MethodNotAllowed,
    /// The body is larger than allowed.
    PayloadTooLarge,
    /// Too many requests; retry after `Retry-After` seconds.
    RateLimited,
    /// The WeChat login or phone code is invalid or already used.
    WechatCodeInvalid,
    /// WeChat is limiting our requests.
    WechatRateLimited,
    /// WeChat flags this user as high-risk.
    WechatUserBlocked,
    /// WeChat is busy or unreachable.
    WechatUnavailable,
    /// WeChat answered with an error we do not expect.
    WechatError,
    /// The user already joined (or asked to join) this community.
    AlreadyMember,
    /// The membership is not waiting for review.
    MembershipNotPending,
    /// Only a verified membership can be placed in a household.
    MembershipNotVerified,
    /// The role already exists for this user and scope.
    RoleAlreadyGranted,
    /// Something with this name already exists here.
    NameTaken,
    /// The phone number is bound to another account.
    PhoneTaken,
    /// The content check refused the text; `field` names it.
    ContentRisky,
    /// The moderation item has already been decided.
    ModerationDecided,
    /// The wallet does not hold enough beans.
    InsufficientBeans,
    /// The pay code is unknown, used or expired: show a fresh one.
    PayCodeInvalid,
    /// The offer has no stock left.
    OutOfStock,
    /// The resident has redeemed this offer as often as it allows.
    OfferLimitReached,
    /// The offer is withdrawn or outside its validity period.
    OfferUnavailable,
    /// The merchant is suspended.
    MerchantSuspended,
    /// The resident's wallet is in a community this merchant does not serve.
    CommunityNotServed,
    /// The caller is not staff of this merchant.
    NotMerchantStaff,
    /// The redemption has already been reversed.
    AlreadyReversed,
    /// Too late for staff to reverse; ask a community admin.
    ReversalWindowPassed,
    /// The invitation code is unknown, used or expired.
    InviteInvalid,
    /// A month can be settled only once it is over, and only once.
    SettlementNotAllowed,
    /// The Idempotency-Key was already used for a different request.
    IdempotencyKeyReused,
    /// The code (mini-program code) has expired.
    CodeExpired,
    /// The code has been revoked by the community.
    CodeRevoked,
    /// Someone else has claimed this wish.
    WishAlreadyClaimed,
    /// The wish is not open to claims (not published, withdrawn, past its date, or the
    /// caller's own).
    WishNotClaimable,
    /// The wish can no longer be edited or withdrawn.
    WishNotEditable,
    /// The wish is not in a state that allows this.
    WishStateConflict,
    /// The paired unit has taken on as many wishes this year as its quota allows.
    UnitQuotaReached,
    /// A dependency (cache) is unavailable; retry later.
    ServiceUnavailable,
    /// Something went wrong on our side; it has been logged.
    InternalError,
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub code: ErrorCode,
    /// A message for people, in Chinese.
    #[schema(example = "请求参数有误")]
    pub message: String,
    /// The field at fault, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{code:?}: {message}")]
    Client {
        code: ErrorCode,
        message: String,
        field: Option<String>,
        retry_after: Option<u64>,
    },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
    #[error("service unavailable")]
    Unavailable(#[source] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError::Client {
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        AppError::Client {
            code: ErrorCode::ValidationFailed,
            message: message.into(),
            field: Some(field.to_owned()),
            retry_after: None,
        }
    }

    /// A path or query parameter that does not parse or is out of range.
    pub fn invalid_parameter(field: &str, message: impl Into<String>) -> Self {
        AppError::Client {
            code: ErrorCode::InvalidParameter,
            message: message.into(),
            field: Some(field.to_owned()),
            retry_after: None,
        }
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "未找到该资源")
    }

    pub fn forbidden() -> Self {
        Self::new(ErrorCode::Forbidden, "无权执行此操作")
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        AppError::Client {
            code: ErrorCode::RateLimited,
            message: "请求过于频繁，请稍后再试".into(),
            field: None,
            retry_after: Some(retry_after.max(1)),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::Client { code, .. } => *code,
            AppError::Internal(_) => ErrorCode::InternalError,
            AppError::Unavailable(_) => ErrorCode::ServiceUnavailable,
        }
    }
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            MalformedJson | MalformedUpload | InvalidParameter | WechatCodeInvalid => {
                StatusCode::BAD_REQUEST
            }
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ValidationFailed | ContentRisky => StatusCode::UNPROCESSABLE_ENTITY,
            Unauthenticated | TokenInvalid | TokenExpired | RefreshTokenInvalid
            | RefreshTokenReused => StatusCode::UNAUTHORIZED,
            Forbidden | WechatUserBlocked => StatusCode::FORBIDDEN,
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AlreadyMember
            | MembershipNotPending
            | MembershipNotVerified
            | RoleAlreadyGranted
            | NameTaken
            | PhoneTaken
            | ModerationDecided
            | InsufficientBeans
            | IdempotencyKeyReused
            | OutOfStock
            | OfferLimitReached
            | OfferUnavailable
            | MerchantSuspended
            | AlreadyReversed
            | SettlementNotAllowed
            | WishAlreadyClaimed
            | WishNotClaimable
            | WishNotEditable
            | WishStateConflict
            | UnitQuotaReached => StatusCode::CONFLICT,
            PayCodeInvalid | InviteInvalid => StatusCode::GONE,
            CommunityNotServed | NotMerchantStaff | ReversalWindowPassed => StatusCode::FORBIDDEN,
            CodeExpired | CodeRevoked => StatusCode::GONE,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            RateLimited | WechatRateLimited => StatusCode::TOO_MANY_REQUESTS,
            WechatError => StatusCode::BAD_GATEWAY,
            WechatUnavailable | ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        self.code().status()
    }

    fn error_response(&self) -> HttpResponse {
        let (message, field, retry_after) = match self {
            AppError::Client {
                message,
                field,
                retry_after,
                ..
            } => (message.clone(), field.clone(), *retry_after),
            AppError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error");
                ("服务器内部错误，请稍后再试".to_owned(), None, None)
            }
            AppError::Unavailable(cause) => {
                tracing::warn!(error = format!("{cause:#}"), "dependency unavailable");
                ("服务暂时不可用，请稍后再试".to_owned(), None, Some(5))
            }
        };
        let mut response = HttpResponse::build(self.status_code());
        if let Some(seconds) = retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response.json(ErrorBody {
            code: self.code(),
            message,
            field,
        })
    }
}

impl From<sea_orm::DbErr> for AppError {
    /// A database that cannot be reached, is restarting or drops the connection is a
    /// dependency down (503 with `Retry-After`); anything else is our fault (500).
    fn from(err: sea_orm::DbErr) -> Self {
        if is_unreachable(&err) {
            return AppError::Unavailable(anyhow::Error::new(err).context("database"));
        }
        if is_data_refused(&err) {
            // A value the database cannot hold (too long for its column, a character it
            // cannot store) that a check at the edge missed: still the client's input, so a
            // 422 and nothing written — logged, since the edge check should have said which
            // field.
            tracing::warn!(error = %err, "database refused a value; a field check is missing");
            return AppError::new(
                ErrorCode::ValidationFailed,
                "输入的内容过长或含有不允许的字符",
            );
        }
        AppError::Internal(anyhow::Error::new(err).context("database"))
    }
}

/// PostgreSQL's data exceptions for a value of the wrong size or content (SQLSTATE 22001
/// too long, 22021 NUL or a character not in the encoding, 22P05 untranslatable).
fn is_data_refused(err: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr};
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err
    else {
        return false;
    };
    match e.as_ref() {
        sea_orm::sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| matches!(code.as_ref(), "22001" | "22021" | "22P05")),
        _ => false,
    }
}

/// Whether a database error says the database is out of reach rather than that a statement
/// was wrong: no connection to be had in time, the connection lost, or PostgreSQL shutting
/// down or not yet accepting connections (SQLSTATE class 08, 57P01–57P03, 53300).
pub fn is_unreachable(err: &sea_orm::DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    use sea_orm::{DbErr, RuntimeErr};
    let sqlx = match err {
        DbErr::ConnectionAcquire(_) => return true,
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        DbErr::Conn(_) => return true,
        _ => return false,
    };
    match sqlx.as_ref() {
        Sqlx::Io(_)
        | Sqlx::Tls(_)
        | Sqlx::Protocol(_)
        | Sqlx::PoolTimedOut
        | Sqlx::PoolClosed
        | Sqlx::WorkerCrashed => true,
        Sqlx::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

impl From<sea_orm::TransactionError<AppError>> for AppError {
    fn from(err: sea_orm::TransactionError<AppError>) -> Self {
        match err {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(app) => app,
        }
    }
}

impl From<crate::cache::CacheError> for AppError {
    fn from(err: crate::cache::CacheError) -> Self {
        AppError::Unavailable(anyhow::Error::new(err))
    }
}

/// True when a database error is a unique-constraint violation (both backends).
pub fn is_unique_violation(err: &sea_orm::DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
