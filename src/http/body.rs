//! `Body<T>`: a JSON request body, read with the configured size limit and decoded so that a
//! client always learns what was wrong: 415 when it is not JSON, 413 when too large, 400 when
//! the JSON is malformed, 422 naming the field when a field is missing or of the wrong type.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use serde::de::DeserializeOwned;

use crate::error::{AppError, ErrorCode};

pub struct Body<T>(pub T);

impl<T> Body<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// The JSON body limit, stored in app data by startup.
#[derive(Clone, Copy)]
pub struct JsonLimit(pub usize);

fn too_large() -> AppError {
    AppError::new(ErrorCode::PayloadTooLarge, "请求内容过大")
}

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
        .unwrap_or(false)
}

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<JsonLimit>()
            .map(|l| l.0)
            .unwrap_or(64 * 1024);
        if !is_json(req) {
            return Box::pin(async {
                Err(AppError::new(
                    ErrorCode::UnsupportedMediaType,
                    "请求内容须为 JSON (Content-Type: application/json)",
                ))
            });
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Box::pin(async { Err(too_large()) });
        }
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes =
                bytes
                    .await
                    .map_err(|e| match e.as_error::<actix_web::error::PayloadError>() {
                        Some(actix_web::error::PayloadError::Overflow) => too_large(),
                        _ => AppError::new(ErrorCode::MalformedJson, "请求内容读取失败，请重试"),
                    })?;
            if bytes.len() > limit {
                return Err(too_large());
            }
            decode(&bytes).map(Body)
        })
    }
}

/// Decodes JSON, telling syntax errors (400) from shape errors (422, with the field path).
/// A body is always an object: serde would otherwise read a struct from an array by position
/// (`["五华区"]` as `{"name": "五华区"}`). A string holding NUL is refused before any type sees
/// it, since PostgreSQL cannot store one.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let malformed = || AppError::new(ErrorCode::MalformedJson, "请求内容不是有效的 JSON");
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|_| malformed())?;
    if !value.is_object() {
        return Err(AppError::validation(
            "body",
            "请求内容须为 JSON 对象 ({...})",
        ));
    }
    if let Some(field) = nul_in(&value, &mut String::new()) {
        return Err(AppError::validation(
            &field,
            format!("字段 {field} 含有不允许的字符"),
        ));
    }
    serde_path_to_error::deserialize::<_, T>(value).map_err(|err| {
        let mut field = err.path().to_string();
        let text = err.inner().to_string();
        if let Some(missing) = text.strip_prefix("missing field `") {
            let name = missing.split('`').next().unwrap_or_default();
            field = if field == "." {
                name.to_owned()
            } else {
                format!("{field}.{name}")
            };
        }
        let field = if field.is_empty() || field == "." {
            "body".to_owned()
        } else {
            field
        };
        let message = if text.starts_with("missing field") {
            format!("缺少字段 {field}")
        } else if text.starts_with("unknown field") {
            format!("不支持的字段 {field}")
        } else {
            format!("字段 {field} 的类型或取值有误")
        };
        AppError::Client {
            code: ErrorCode::ValidationFailed,
            message,
            field: Some(field),
            retry_after: None,
        }
    })
}

/// The path (`a.b[2]`) of the first string or key holding NUL, if any.
fn nul_in(value: &serde_json::Value, path: &mut String) -> Option<String> {
    use serde_json::Value;
    let here = |path: &String| {
        if path.is_empty() {
            "body".to_owned()
        } else {
            path.clone()
        }
    };
    match value {
        Value::String(s) if s.contains('\0') => Some(here(path)),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = nul_in(item, path);
            path.truncate(len);
            found
        }),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key);
            let found = if key.contains('\0') {
                Some(here(path))
            } else {
                nul_in(item, path)
            };
            path.truncate(len);
            found
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AppError;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        inner: Option<Inner>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        n: i64,
    }

    fn field_of(e: AppError) -> (ErrorCode, Option<String>) {
        match e {
            AppError::Client { code, field, .. } => (code, field),
            _ => panic!("not a client error"),
        }
    }

    #[test]
    fn classifies_errors() {
        assert_eq!(
            field_of(decode::<Sample>(b"{").unwrap_err()).0,
            ErrorCode::MalformedJson
        );
        assert_eq!(
            field_of(decode::<Sample>(b"{}").unwrap_err()),
            (ErrorCode::ValidationFailed, Some("name".into()))
        );
        assert_eq!(
            field_of(decode::<Sample>(br#"{"name": 5}"#).unwrap_err()),
            (ErrorCode::ValidationFailed, Some("name".into()))
        );
        assert_eq!(
            field_of(decode::<Sample>(br#"{"name":"a","inner":{"n":"x"}}"#).unwrap_err()),
            (ErrorCode::ValidationFailed, Some("inner.n".into()))
        );
        assert_eq!(
            field_of(decode::<Sample>(br#"{"name":"a"} trailing"#).unwrap_err()).0,
            ErrorCode::MalformedJson
        );
        assert!(decode::<Sample>(br#"{"name":"a"}"#).is_ok());
        // A struct is not read from an array by position, nor from an empty one.
        assert_eq!(
            field_of(decode::<Sample>(br#"["a"]"#).unwrap_err()),
            (ErrorCode::ValidationFailed, Some("body".into()))
        );
        assert_eq!(
            field_of(decode::<Sample>(b"[]").unwrap_err()).0,
            ErrorCode::ValidationFailed
        );
        assert_eq!(
            field_of(decode::<Sample>(br#"{"name":"a\u0000b"}"#).unwrap_err()),
            (ErrorCode::ValidationFailed, Some("name".into()))
        );
        assert_eq!(
            field_of(
                decode::<Sample>(br#"{"name":"a","inner":{"n":1,"x":["ok","\u0000"]}}"#)
                    .unwrap_err()
            ),
            (ErrorCode::ValidationFailed, Some("inner.x[1]".into()))
        );
        // An escaped backslash before u0000 is text, not NUL.
        assert!(decode::<Sample>(br#"{"name":"a\\u0000"}"#).is_ok());
    }
}
