//! One pagination type for every list: keyset (cursor) pages with a bounded limit. The cursor
//! is opaque to clients: it encodes the last id of the page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{AppError, AppResult};

pub const DEFAULT_LIMIT: u64 = 20;
pub const MAX_LIMIT: u64 = 100;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A checked page request: fetch ids greater than `after`, at most `limit` of them.
#[derive(Debug, Clone, Copy)]
pub struct Keyset {
    pub after: Option<i64>,
    pub limit: u64,
}

impl PageQuery {
    pub fn keyset(&self) -> AppResult<Keyset> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(AppError::invalid_parameter(
                "limit",
                "每页数量须在 1 到 100 之间",
            ));
        }
        // An empty cursor is the first page, as an absent one is.
        let after = match self.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(
                decode_cursor(c)
                    .ok_or_else(|| AppError::invalid_parameter("cursor", "翻页游标无效"))?,
            ),
        };
        Ok(Keyset { after, limit })
    }
}

impl Keyset {
    /// `query` cut to this page in ascending id order: ids after the cursor, and one row more
    /// than the page holds (which only says that there is a next page; see [`Page::from_rows`]).
    pub fn ascending<E: EntityTrait>(self, query: Select<E>, id: E::Column) -> Select<E> {
        let query = match self.after {
            Some(after) => query.filter(id.gt(after)),
            None => query,
        };
        query.order_by_asc(id).limit(self.limit + 1)
    }

    /// Like [`Keyset::ascending`], newest first: ids before the cursor.
    pub fn descending<E: EntityTrait>(self, query: Select<E>, id: E::Column) -> Select<E> {
        let query = match self.after {
            Some(before) => query.filter(id.lt(before)),
            None => query,
        };
        query.order_by_desc(id).limit(self.limit + 1)
    }
}

fn decode_cursor(cursor: &str) -> Option<i64> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix("id:")?.parse().ok()
}

fn encode_cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("id:{id}"))
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched in id order: the extra row only says
    /// that there is a next page.
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        keyset: Keyset,
        id: impl Fn(&R) -> i64,
        view: impl FnMut(R) -> AppResult<T>,
    ) -> AppResult<Self> {
        let more = rows.len() as u64 > keyset.limit;
        rows.truncate(keyset.limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| encode_cursor(id(r)))
        } else {
            None
        };
        let items = rows.into_iter().map(view).collect::<AppResult<Vec<T>>>()?;
        Ok(Page { items, next_cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_limits() {
        let q = PageQuery {
            cursor: Some(encode_cursor(42)),
            limit: Some(5),
        };
        let k = q.keyset().unwrap();
        assert_eq!((k.after, k.limit), (Some(42), 5));
        let bad_limit = PageQuery {
            cursor: None,
            limit: Some(1000),
        };
        assert!(bad_limit.keyset().is_err());
        let bad_cursor = PageQuery {
            cursor: Some("!!".into()),
            limit: None,
        };
        assert!(bad_cursor.keyset().is_err());
        let page = Page::from_rows(
            vec![1, 2, 3],
            Keyset {
                after: None,
                limit: 2,
            },
            |r| *r,
            Ok,
        )
        .unwrap();
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next_cursor, Some(encode_cursor(2)));
    }

    #[test]
    fn keysets_cut_queries_to_one_page_and_one_more() {
        use crate::entities::district;
        use sea_orm::{DbBackend, QueryTrait};
        let page = Keyset {
            after: Some(42),
            limit: 20,
        };
        let up = page
            .ascending(district::Entity::find(), district::Column::Id)
            .build(DbBackend::Sqlite)
            .to_string();
        assert!(up.contains(r#""districts"."id" > 42"#), "{up}");
        assert!(
            up.contains(r#"ORDER BY "districts"."id" ASC LIMIT 21"#),
            "{up}"
        );
        let down = page
            .descending(district::Entity::find(), district::Column::Id)
            .build(DbBackend::Sqlite)
            .to_string();
        assert!(down.contains(r#""districts"."id" < 42"#), "{down}");
        assert!(
            down.contains(r#"ORDER BY "districts"."id" DESC LIMIT 21"#),
            "{down}"
        );
        let first = Keyset {
            after: None,
            limit: 5,
        }
        .ascending(district::Entity::find(), district::Column::Id)
        .build(DbBackend::Sqlite)
        .to_string();
        assert!(!first.contains("WHERE"), "{first}");
    }
}
