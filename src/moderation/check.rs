//! The content check every capability calls before publishing a user's text.

use crate::entities::user;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::state::AppState;
use crate::wechat::TextVerdict;

/// WeChat's `scene` for `msg_sec_check`.
#[derive(Debug, Clone, Copy)]
pub enum Scene {
    /// 资料: nicknames and profiles.
    Profile = 1,
    /// 评论: comments and thank-you notes.
    Comment = 2,
    /// 论坛: posts such as wishes and topics.
    Forum = 3,
}

/// What to do with the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Publish,
    /// Keep it from the public until a person has looked at it.
    Hold {
        source: &'static str,
        label: Option<String>,
    },
}

/// Words that are refused, and words that send a text to review, in development mode.
const LOCAL_RISKY: &[&str] = &["赌博", "毒品", "诈骗", "色情", "枪支"];
const LOCAL_REVIEW: &[&str] = &["加微信", "代开发票", "兼职刷单", "贷款"];

fn local_verdict(text: &str) -> TextVerdict {
    if let Some(word) = LOCAL_RISKY.iter().find(|w| text.contains(*w)) {
        return TextVerdict::Risky {
            label: Some(format!("local:{word}")),
        };
    }
    if let Some(word) = LOCAL_REVIEW.iter().find(|w| text.contains(*w)) {
        return TextVerdict::Review {
            label: Some(format!("local:{word}")),
        };
    }
    TextVerdict::Pass
}

/// Checks `text` written by `author` for `field`. Risky text is refused with
/// `CONTENT_RISKY`; text WeChat wants reviewed, or that could not be checked, is held.
pub async fn check(
    state: &AppState,
    author: &user::Model,
    scene: Scene,
    field: &str,
    text: &str,
) -> AppResult<Outcome> {
    let (verdict, source) = if state.wechat.dev_login_enabled() {
        (local_verdict(text), "local_wordlist")
    } else {
        match state
            .wechat
            .check_text(&author.openid, scene as u8, text)
            .await
        {
            Ok(verdict) => (verdict, "wechat_review"),
            Err(e) => {
                tracing::warn!(error = %e, "content check unavailable; holding for review");
                return Ok(Outcome::Hold {
                    source: "wechat_unreachable",
                    label: None,
                });
            }
        }
    };
    match verdict {
        TextVerdict::Pass => Ok(Outcome::Publish),
        TextVerdict::Review { label } => Ok(Outcome::Hold { source, label }),
        TextVerdict::Risky { label } => {
            tracing::info!(label = ?label, field, "content refused as risky");
            Err(AppError::Client {
                code: ErrorCode::ContentRisky,
                message: "内容含有不适宜发布的信息，请修改后再提交".into(),
                field: Some(field.to_owned()),
                retry_after: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_list() {
        assert_eq!(local_verdict("帮忙修水管"), TextVerdict::Pass);
        assert!(matches!(
            local_verdict("网上赌博"),
            TextVerdict::Risky { .. }
        ));
        assert!(matches!(
            local_verdict("请加微信"),
            TextVerdict::Review { .. }
        ));
    }
}
