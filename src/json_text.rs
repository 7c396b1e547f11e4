//! JSON kept in a text column (a wish's photo and proof id lists, a community's wish
//! categories), written and read here and nowhere else, as the type it holds. A stored value
//! that does not read back is an error naming its column — never silently an empty list,
//! which would hide a photo or a category from everyone.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{AppError, AppResult};

/// The value stored in `column`.
pub fn read<T: DeserializeOwned>(column: &str, text: &str) -> AppResult<T> {
    serde_json::from_str(text).map_err(|e| {
        AppError::Internal(anyhow::Error::new(e).context(format!("stored {column} is not valid")))
    })
}

/// Like [`read`] for a nullable column: absent is the type's empty value.
pub fn read_or_default<T: DeserializeOwned + Default>(
    column: &str,
    text: Option<&str>,
) -> AppResult<T> {
    text.map_or_else(|| Ok(T::default()), |t| read(column, t))
}

/// The text to store for `value`.
pub fn write<T: Serialize>(value: &T) -> AppResult<String> {
    serde_json::to_string(value).map_err(|e| AppError::Internal(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_absent_and_malformed() {
        let ids = vec!["a".to_owned(), "b".to_owned()];
        let text = write(&ids).unwrap();
        assert_eq!(read::<Vec<String>>("photo_upload_ids", &text).unwrap(), ids);
        assert!(
            read_or_default::<Vec<String>>("photo_upload_ids", None)
                .unwrap()
                .is_empty()
        );
        let err = read::<Vec<String>>("photo_upload_ids", "[\"a\",").unwrap_err();
        assert!(matches!(err, AppError::Internal(_)));
        assert!(format!("{:#}", anyhow::anyhow!(err)).contains("photo_upload_ids"));
    }
}
