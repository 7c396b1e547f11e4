//! The `Idempotency-Key` header: required where a retry must not repeat an effect (moving
//! beans), optional where the effect can happen once anyway and the key only lets a retry get
//! the first answer again (a reversal). 1 to 64 visible ASCII characters.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload};

use crate::error::AppError;

pub struct IdempotencyKey(pub String);

/// The header's values as the OpenAPI document states them: 1 to 64 visible ASCII
/// characters, with the spaces or tabs around them that HTTP allows.
pub const PATTERN: &str = r"^[ \t]*[!-~]{1,64}[ \t]*$";

fn parse(req: &HttpRequest) -> Result<IdempotencyKey, AppError> {
    let bad = || {
        AppError::invalid_parameter(
            "Idempotency-Key",
            "请在请求头 Idempotency-Key 中提供 1 到 64 个可见字符的请求编号",
        )
    };
    let value = req
        .headers()
        .get("idempotency-key")
        .ok_or_else(bad)?
        .to_str()
        .map_err(|_| bad())?
        .trim();
    if value.is_empty() || value.len() > 64 || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(IdempotencyKey(value.to_owned()))
}

impl FromRequest for IdempotencyKey {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(parse(req))
    }
}

/// An `Idempotency-Key` the client may send: absent is `None`, but one that is sent must be
/// well formed.
pub struct OptionalIdempotencyKey(pub Option<String>);

impl FromRequest for OptionalIdempotencyKey {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if req.headers().get("idempotency-key").is_none() {
            return ready(Ok(OptionalIdempotencyKey(None)));
        }
        ready(parse(req).map(|k| OptionalIdempotencyKey(Some(k.0))))
    }
}
