//! Turning raw client input into values the services can trust, once, at the edge.

use crate::error::{AppError, AppResult};

/// A trimmed, non-empty text of at most `max` characters with no control characters.
pub fn text(field: &str, value: &str, max: usize) -> AppResult<String> {
    checked(field, value.trim(), max, false)
}

/// Like [`text`], but line breaks are kept (descriptions, notes).
pub fn paragraph(field: &str, value: &str, max: usize) -> AppResult<String> {
    checked(field, value.replace("\r\n", "\n").trim(), max, true)
}

fn checked(field: &str, trimmed: &str, max: usize, lines: bool) -> AppResult<String> {
    if trimmed.is_empty() {
        return Err(AppError::validation(field, format!("{field} 不能为空")));
    }
    if trimmed.chars().count() > max {
        return Err(AppError::validation(
            field,
            format!("{field} 不能超过 {max} 个字符"),
        ));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && !(lines && c == '\n'))
    {
        return Err(AppError::validation(
            field,
            format!("{field} 含有不允许的字符"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// Like [`text`], but absent stays absent.
pub fn optional_text(field: &str, value: Option<&str>, max: usize) -> AppResult<Option<String>> {
    value.map(|v| text(field, v, max)).transpose()
}

/// An https URL of reasonable length (avatars and other links shown to others).
pub fn https_url(field: &str, value: &str) -> AppResult<String> {
    let value = text(field, value, 512)?;
    let ok = value
        .strip_prefix("https://")
        .is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace));
    if !ok {
        return Err(AppError::validation(
            field,
            format!("{field} 须为 https 链接"),
        ));
    }
    Ok(value)
}

/// For a PATCH body's nullable field: left out, it stays as it is (`None`); `null` clears it
/// (`Some(None)`); a value sets it (`Some(Some(v))`). Use with `#[serde(default)]`.
pub fn patched<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rules() {
        assert_eq!(text("name", "  阳光社区 ", 10).unwrap(), "阳光社区");
        assert!(text("name", "   ", 10).is_err());
        assert!(text("name", "一二三四五六", 5).is_err());
        assert!(text("name", "a\u{0}b", 5).is_err());
        assert!(https_url("avatar_url", "http://x").is_err());
        assert!(https_url("avatar_url", "https://img.example/a.png").is_ok());
    }
}
