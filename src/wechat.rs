//! The WeChat platform client. Every call goes through one reqwest client with a configurable
//! base URL, so tests point it at a local fake. WeChat reports most errors as HTTP 200 with an
//! `errcode`; a missing `errcode` (or 0) means success.

use std::time::Duration;

use secrecy::ExposeSecret;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::cache::{Cache, CacheError};
use crate::config::WeChatSettings;
use crate::error::{AppError, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum WeChatError {
    #[error("the code is invalid or already used")]
    InvalidCode,
    #[error("WeChat rate limit")]
    RateLimited,
    #[error("WeChat flags the user as high-risk")]
    UserBlocked,
    #[error("WeChat is busy")]
    Busy,
    #[error("WeChat unreachable: {0}")]
    Unreachable(String),
    #[error("WeChat error {errcode}: {errmsg}")]
    Api { errcode: i64, errmsg: String },
    #[error(transparent)]
    Cache(#[from] CacheError),
}

impl From<WeChatError> for AppError {
    fn from(err: WeChatError) -> Self {
        match err {
            WeChatError::InvalidCode => AppError::new(
                ErrorCode::WechatCodeInvalid,
                "微信授权码无效或已使用，请重新授权",
            ),
            WeChatError::RateLimited => AppError::Client {
                code: ErrorCode::WechatRateLimited,
                message: "微信接口调用过于频繁，请稍后再试".into(),
                field: None,
                retry_after: Some(60),
            },
            WeChatError::UserBlocked => AppError::new(
                ErrorCode::WechatUserBlocked,
                "微信判定该账号存在风险，暂时无法登录",
            ),
            WeChatError::Busy | WeChatError::Unreachable(_) => {
                tracing::warn!(error = %err, "WeChat unavailable");
                AppError::Client {
                    code: ErrorCode::WechatUnavailable,
                    message: "微信服务暂时不可用，请稍后再试".into(),
                    field: None,
                    retry_after: Some(5),
                }
            }
            WeChatError::Api {
                errcode,
                ref errmsg,
            } => {
                tracing::error!(errcode, errmsg = %errmsg, "unexpected WeChat error");
                AppError::new(ErrorCode::WechatError, "微信服务返回错误，请稍后再试")
            }
            WeChatError::Cache(e) => e.into(),
        }
    }
}

/// What `code2Session` tells us about a user. The session key stays on the server.
#[derive(Debug, Clone)]
pub struct WeChatSession {
    pub openid: String,
    pub unionid: Option<String>,
    pub session_key: String,
}

#[derive(Clone)]
pub struct WeChat {
    http: reqwest::Client,
    settings: WeChatSettings,
    cache: Cache,
    /// Where each call's outcome is counted (`/metrics`), once the application sets it.
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
}

#[derive(Deserialize)]
struct Envelope {
    errcode: Option<i64>,
    errmsg: Option<String>,
}

#[derive(Deserialize)]
struct SessionReply {
    openid: Option<String>,
    unionid: Option<String>,
    session_key: Option<String>,
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: Option<String>,
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct SecCheckReply {
    result: Option<SecCheckResult>,
}

#[derive(Deserialize)]
struct SecCheckResult {
    suggest: Option<String>,
    label: Option<serde_json::Value>,
}

/// WeChat's verdict on a piece of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextVerdict {
    Pass,
    Review { label: Option<String> },
    Risky { label: Option<String> },
}

#[derive(Deserialize)]
struct PhoneReply {
    phone_info: Option<PhoneInfo>,
}

#[derive(Deserialize)]
struct PhoneInfo {
    #[serde(rename = "purePhoneNumber")]
    pure_phone_number: Option<String>,
}

const TOKEN_KEY: &str = "wechat:access_token";
const TOKEN_LOCK: &str = "wechat:access_token:lock";

/// Codes meaning the access token is no longer good.
fn is_token_error(errcode: i64) -> bool {
    matches!(errcode, 40001 | 40014 | 42001)
}

impl WeChat {
    pub fn new(settings: WeChatSettings, cache: Cache) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.timeout_ms.max(1)))
            .build()?;
        Ok(Self {
            http,
            settings,
            cache,
            metrics: None,
        })
    }

    /// Counts each call's outcome by API in `metrics`.
    pub fn observed_by(mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Counts one outcome of a call to `api` (its URL path: a fixed set, no identifiers).
    fn count(&self, api: &str, outcome: impl FnOnce() -> String) {
        if let Some(m) = &self.metrics {
            m.wechat_call(api, outcome());
        }
    }

    fn count_errcode(&self, api: &str, errcode: i64) {
        self.count(api, || match errcode {
            0 => "ok".to_owned(),
            -1 => "busy".to_owned(),
            code => format!("errcode_{code}"),
        });
    }

    pub fn dev_login_enabled(&self) -> bool {
        self.settings.dev_login
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.settings.base_url.trim_end_matches('/'), path)
    }

    fn secret(&self) -> &str {
        (self.settings.app_secret.as_ref())
            .map(ExposeSecret::expose_secret)
            .unwrap_or_default()
    }

    /// Sends a request and reads the whole reply; network failures and non-2xx answers mean
    /// WeChat is unreachable.
    /// Sends one request; returns the body, its content type and the API called (the URL
    /// path, for counting).
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(bytes::Bytes, String, String), WeChatError> {
        let request = request
            .build()
            .map_err(|e| WeChatError::Unreachable(e.without_url().to_string()))?;
        let api = request.url().path().to_owned();
        let unreachable = |e: String| {
            self.count(&api, || "unreachable".to_owned());
            WeChatError::Unreachable(e)
        };
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| unreachable(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(unreachable(format!("HTTP {}", response.status())));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response
            .bytes()
            .await
            .map_err(|e| unreachable(e.without_url().to_string()))?;
        Ok((body, content_type, api))
    }

    /// Waits before retry `attempt` of a busy answer, or says to give up.
    async fn busy_backoff(&self, attempt: &mut u32) -> Result<(), WeChatError> {
        if *attempt >= self.settings.busy_retries {
            return Err(WeChatError::Busy);
        }
        *attempt += 1;
        tokio::time::sleep(Duration::from_millis(100 * (1 << *attempt))).await;
        Ok(())
    }

    /// Sends a request, retrying "system busy" (-1) with backoff, and decodes the JSON reply.
    /// Returns the errcode separately so callers can map the codes that matter to them.
    async fn call<T: DeserializeOwned>(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Result<T, (i64, String)>, WeChatError> {
        let mut attempt = 0;
        loop {
            let (body, _, api) = self.send(build()).await?;
            let envelope: Envelope = serde_json::from_slice(&body)
                .map_err(|e| WeChatError::Unreachable(format!("unreadable reply: {e}")))?;
            self.count_errcode(&api, envelope.errcode.unwrap_or(0));
            match envelope.errcode.unwrap_or(0) {
                0 => {
                    let value = serde_json::from_slice(&body)
                        .map_err(|e| WeChatError::Unreachable(format!("unreadable reply: {e}")))?;
                    return Ok(Ok(value));
                }
                -1 => self.busy_backoff(&mut attempt).await?,
                code => return Ok(Err((code, envelope.errmsg.unwrap_or_default()))),
            }
        }
    }

    /// Like [`Self::call`] for APIs that answer with bytes (an image) on success and JSON on
    /// failure: the body is looked at before it is treated as an image.
    async fn call_bytes(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Result<(Vec<u8>, String), (i64, String)>, WeChatError> {
        let mut attempt = 0;
        loop {
            let (body, content_type, api) = self.send(build()).await?;
            let looks_json = content_type.contains("json")
                || body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
            if !looks_json {
                self.count_errcode(&api, 0);
                return Ok(Ok((body.to_vec(), content_type)));
            }
            let envelope: Envelope = serde_json::from_slice(&body)
                .map_err(|e| WeChatError::Unreachable(format!("unreadable reply: {e}")))?;
            self.count_errcode(&api, envelope.errcode.unwrap_or(0));
            match envelope.errcode.unwrap_or(0) {
                -1 => self.busy_backoff(&mut attempt).await?,
                code => return Ok(Err((code, envelope.errmsg.unwrap_or_default()))),
            }
        }
    }

    /// `code2Session`: exchanges a login code for the user's openid and session key.
    pub async fn code_to_session(&self, code: &str) -> Result<WeChatSession, WeChatError> {
        if self.settings.dev_login
            && let Some(name) = code.strip_prefix("dev:")
        {
            return dev_session(name);
        }
        let reply: Result<SessionReply, _> = self
            .call(|| {
                self.http.get(self.url("/sns/jscode2session")).query(&[
                    ("appid", self.settings.appid.as_str()),
                    ("secret", self.secret()),
                    ("js_code", code),
                    ("grant_type", "authorization_code"),
                ])
            })
            .await?;
        match reply {
            Ok(SessionReply {
                openid: Some(openid),
                unionid,
                session_key: Some(session_key),
            }) if !openid.is_empty() => Ok(WeChatSession {
                openid,
                unionid: unionid.filter(|u| !u.is_empty()),
                session_key,
            }),
            Ok(_) => Err(WeChatError::Api {
                errcode: 0,
                errmsg: "reply without openid or session_key".into(),
            }),
            Err((40029 | 40163, _)) => Err(WeChatError::InvalidCode),
            Err((45011, _)) => Err(WeChatError::RateLimited),
            Err((40226, _)) => Err(WeChatError::UserBlocked),
            Err((errcode, errmsg)) => Err(WeChatError::Api { errcode, errmsg }),
        }
    }

    /// The phone number behind a `getPhoneNumber` button code.
    pub async fn phone_number(&self, code: &str) -> Result<String, WeChatError> {
        if self.settings.dev_login
            && let Some(number) = code.strip_prefix("dev:")
        {
            if number.len() == 11 && number.chars().all(|c| c.is_ascii_digit()) {
                return Ok(number.to_owned());
            }
            return Err(WeChatError::InvalidCode);
        }
        let body = &serde_json::json!({ "code": code });
        let reply: PhoneReply = self
            .with_access_token(|token: String| async move {
                self.call(|| {
                    self.http
                        .post(self.url("/wxa/business/getuserphonenumber"))
                        .query(&[("access_token", token.as_str())])
                        .json(&body)
                })
                .await
            })
            .await
            .map_err(|e| match e {
                WeChatError::Api {
                    errcode: 40029 | 40163,
                    ..
                } => WeChatError::InvalidCode,
                WeChatError::Api { errcode: 45011, .. } => WeChatError::RateLimited,
                other => other,
            })?;
        reply
            .phone_info
            .and_then(|p| p.pure_phone_number)
            .filter(|p| !p.is_empty())
            .ok_or(WeChatError::Api {
                errcode: 0,
                errmsg: "reply without phone number".into(),
            })
    }

    /// Calls an API that needs the access token; if WeChat says the token is stale, drops it
    /// (only if no other process has replaced it already), fetches a new one and retries once.
    async fn with_access_token<T, F, Fut>(&self, call: F) -> Result<T, WeChatError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<Result<T, (i64, String)>, WeChatError>>,
    {
        let mut token = self.access_token().await?;
        for attempt in 0..2 {
            match call(token.clone()).await? {
                Ok(value) => return Ok(value),
                Err((errcode, _)) if is_token_error(errcode) && attempt == 0 => {
                    self.cache.delete_if_equals(TOKEN_KEY, &token).await?;
                    token = self.access_token().await?;
                }
                Err((errcode, errmsg)) => return Err(WeChatError::Api { errcode, errmsg }),
            }
        }
        Err(WeChatError::Busy)
    }

    /// 内容安全: asks WeChat whether a user's text may be published (`msg_sec_check` v2).
    /// `errcode 0` only means the call worked; the verdict is `result.suggest`.
    pub async fn check_text(
        &self,
        openid: &str,
        scene: u8,
        content: &str,
    ) -> Result<TextVerdict, WeChatError> {
        let body = serde_json::json!({
            "content": content,
            "version": 2,
            "scene": scene,
            "openid": openid,
        });
        let body = &body;
        let reply: SecCheckReply = self
            .with_access_token(|token: String| async move {
                self.call(|| {
                    self.http
                        .post(self.url("/wxa/msg_sec_check"))
                        .query(&[("access_token", token.as_str())])
                        .json(&body)
                })
                .await
            })
            .await?;
        let result = reply.result.ok_or(WeChatError::Api {
            errcode: 0,
            errmsg: "reply without result".into(),
        })?;
        let label = result.label.map(|l| match l {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        });
        match result.suggest.as_deref() {
            Some("pass") => Ok(TextVerdict::Pass),
            Some("review") => Ok(TextVerdict::Review { label }),
            Some("risky") => Ok(TextVerdict::Risky { label }),
            other => Err(WeChatError::Api {
                errcode: 0,
                errmsg: format!("unknown suggest {other:?}"),
            }),
        }
    }

    /// 小程序码 (`getwxacodeunlimit`): the image for `scene` opening `page`. The body is an
    /// image on success and JSON on failure.
    pub async fn mini_program_code(
        &self,
        scene: &str,
        page: &str,
    ) -> Result<(Vec<u8>, String), WeChatError> {
        let body = serde_json::json!({
            "scene": scene,
            "page": page,
            "check_path": false,
            "env_version": self.settings.env_version,
        });
        let body = &body;
        self.with_access_token(|token: String| async move {
            self.call_bytes(|| {
                self.http
                    .post(self.url("/wxa/getwxacodeunlimit"))
                    .query(&[("access_token", token.as_str())])
                    .json(&body)
            })
            .await
        })
        .await
    }

    /// 订阅消息: sends one subscription message. The caller decides, from the errcode, whether
    /// a failure is worth retrying.
    pub async fn send_subscribe_message(
        &self,
        openid: &str,
        template_id: &str,
        page: Option<&str>,
        data: &serde_json::Value,
    ) -> Result<(), WeChatError> {
        let mut body = serde_json::json!({
            "touser": openid,
            "template_id": template_id,
            "data": data,
            "miniprogram_state": self.settings.miniprogram_state,
            "lang": "zh_CN",
        });
        if let Some(page) = page {
            body["page"] = serde_json::Value::String(page.to_owned());
        }
        let body = &body;
        let _: serde_json::Value = self
            .with_access_token(|token: String| async move {
                self.call(|| {
                    self.http
                        .post(self.url("/cgi-bin/message/subscribe/send"))
                        .query(&[("access_token", token.as_str())])
                        .json(&body)
                })
                .await
            })
            .await?;
        Ok(())
    }

    /// The app's access token, shared by every process through the cache. When it is missing,
    /// one process fetches it under a lock; the others wait for it.
    pub async fn access_token(&self) -> Result<String, WeChatError> {
        // The lock outlives the slowest fetch (every try timing out, with backoff between),
        // and waiters wait as long, so a slow WeChat never makes two processes fetch at once.
        let retries = self.settings.busy_retries.min(5);
        let budget = Duration::from_millis(
            self.settings.timeout_ms.max(1) * u64::from(retries + 1) + (100 << (retries + 1)),
        ) + Duration::from_secs(2);
        let deadline = tokio::time::Instant::now() + budget;
        loop {
            if let Some(token) = self.cache.get(TOKEN_KEY).await? {
                return Ok(token);
            }
            let owner = uuid::Uuid::new_v4().to_string();
            if self.cache.set_nx(TOKEN_LOCK, &owner, budget).await? {
                let fetched = self.fetch_access_token().await;
                let stored = match &fetched {
                    Ok((token, ttl)) => self.cache.set(TOKEN_KEY, token, *ttl).await,
                    Err(_) => Ok(()),
                };
                // Released whatever happened, so nobody waits on a lock no one holds.
                let released = self.cache.delete_if_equals(TOKEN_LOCK, &owner).await;
                stored?;
                released?;
                return fetched.map(|(token, _)| token);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(WeChatError::Busy);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn fetch_access_token(&self) -> Result<(String, Duration), WeChatError> {
        let body = serde_json::json!({
            "grant_type": "client_credential",
            "appid": self.settings.appid,
            "secret": self.secret(),
            "force_refresh": false,
        });
        let reply: TokenReply = match self
            .call(|| {
                self.http
                    .post(self.url("/cgi-bin/stable_token"))
                    .json(&body)
            })
            .await?
        {
            Ok(reply) => reply,
            Err((errcode, errmsg)) => return Err(WeChatError::Api { errcode, errmsg }),
        };
        let token = reply
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or(WeChatError::Api {
                errcode: 0,
                errmsg: "reply without access_token".into(),
            })?;
        // Refresh five minutes before WeChat says it expires.
        let ttl = reply.expires_in.unwrap_or(7200).saturating_sub(300).max(60);
        Ok((token, Duration::from_secs(ttl)))
    }
}

/// Development login: `dev:<name>` is a stable fake user, so the product can be tried without
/// WeChat. Only reachable when `wechat.dev_login` is on, which production refuses.
fn dev_session(name: &str) -> Result<WeChatSession, WeChatError> {
    let valid = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        return Err(WeChatError::InvalidCode);
    }
    Ok(WeChatSession {
        openid: format!("dev_{name}"),
        unionid: None,
        session_key: format!("dev-session-key-{name}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_names() {
        assert_eq!(dev_session("alice").unwrap().openid, "dev_alice");
        assert!(dev_session("").is_err());
        assert!(dev_session("a b").is_err());
    }
}
