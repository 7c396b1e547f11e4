//! Writing an entry (inside the caller's transaction) and reading a trail: a community's, or a
//! street's (its communities' entries and its own), newest first, filtered by actor, kind and
//! time; and the same as an Excel workbook.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use sea_orm::sea_query::{Expr, Query, SubQueryStatement};
use sea_orm::{
    ActiveEnum, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Select,
};

use crate::calendar::cst;
use crate::entities::audit_entry::{self, AuditKind, ObjectType};
use crate::entities::community;
use crate::error::{AppError, AppResult};
use crate::pagination::Keyset;

/// One entry to write. Build it with [`Entry::new`] and say where it belongs.
#[derive(Debug, Clone)]
pub struct Entry {
    pub kind: AuditKind,
    pub object_type: ObjectType,
    pub object_id: i64,
    pub actor_user_id: Option<i64>,
    pub community_id: Option<i64>,
    pub street_id: Option<i64>,
    /// Ids, states, amounts — the before and after that matter. Never names, phones or
    /// free text someone typed: erasing a person must not need to edit the trail.
    pub detail: serde_json::Value,
}

impl Entry {
    pub fn new(kind: AuditKind, object_type: ObjectType, object_id: i64) -> Entry {
        Entry {
            kind,
            object_type,
            object_id,
            actor_user_id: None,
            community_id: None,
            street_id: None,
            detail: serde_json::Value::Object(Default::default()),
        }
    }

    /// Who acted; `None` is the operator at the command line.
    pub fn by(mut self, actor: impl Into<Option<i64>>) -> Entry {
        self.actor_user_id = actor.into();
        self
    }

    pub fn in_community(mut self, community_id: impl Into<Option<i64>>) -> Entry {
        self.community_id = community_id.into();
        self
    }

    /// The street, when the action is the street's; a community's entry gets its street
    /// without being told.
    pub fn in_street(mut self, street_id: impl Into<Option<i64>>) -> Entry {
        self.street_id = street_id.into();
        self
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Entry {
        self.detail = detail;
        self
    }
}

/// Writes `entry`. Call it with the action's own transaction, before its commit: the entry
/// and the action then stand or fall together. An entry of a community is also its street's:
/// the street is looked up in the same statement, so a street's trail is one index range.
pub async fn record(db: &impl ConnectionTrait, entry: Entry) -> AppResult<()> {
    use audit_entry::Column as C;
    let street = match (entry.street_id, entry.community_id) {
        (Some(s), _) => Expr::value(s),
        (None, Some(c)) => Expr::from(SubQueryStatement::from(
            Query::select()
                .column(community::Column::StreetId)
                .from(community::Entity)
                .and_where(community::Column::Id.eq(c))
                .to_owned(),
        )),
        (None, None) => Expr::value(Option::<i64>::None),
    };
    let insert = Query::insert()
        .into_table(audit_entry::Entity)
        .columns([
            C::CommunityId,
            C::StreetId,
            C::ActorUserId,
            C::Kind,
            C::ObjectType,
            C::ObjectId,
            C::Detail,
            C::CreatedAt,
        ])
        .values([
            Expr::value(entry.community_id),
            street,
            Expr::value(entry.actor_user_id),
            Expr::value(entry.kind.to_value()),
            Expr::value(entry.object_type.to_value()),
            Expr::value(entry.object_id),
            Expr::value(entry.detail.to_string()),
            Expr::value(Utc::now()),
        ])
        .map_err(|e| AppError::Internal(e.into()))?
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

/// Whose trail is read.
#[derive(Debug, Clone, Copy)]
pub enum Trail {
    Community(i64),
    /// The street's own entries and those of every community in it (which carry the
    /// street too).
    Street(i64),
}

/// A checked filter: each part narrows the trail.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub actor_user_id: Option<i64>,
    pub kind: Option<AuditKind>,
    /// From this instant on (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Before this instant (exclusive).
    pub to: Option<DateTime<Utc>>,
}

impl Filter {
    /// Parses the query's raw values. A date (`YYYY-MM-DD`) is a whole day in China time: as
    /// `from` its first instant, as `to` the day is included. Anything else must be RFC 3339.
    pub fn parse(
        actor_user_id: Option<&str>,
        kind: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
    ) -> AppResult<Filter> {
        let actor_user_id = actor_user_id
            .map(|s| {
                s.parse::<i64>()
                    .ok()
                    .filter(|id| *id > 0)
                    .ok_or_else(|| AppError::invalid_parameter("actor_user_id", "用户编号无效"))
            })
            .transpose()?;
        let kind = kind
            .map(|s| {
                AuditKind::parse(s)
                    .ok_or_else(|| AppError::invalid_parameter("kind", "没有这种操作类型"))
            })
            .transpose()?;
        let from = from.map(|s| instant("from", s, false)).transpose()?;
        let to = to.map(|s| instant("to", s, true)).transpose()?;
        if let (Some(f), Some(t)) = (from, to)
            && t <= f
        {
            return Err(AppError::invalid_parameter("to", "结束时间须晚于开始时间"));
        }
        Ok(Filter {
            actor_user_id,
            kind,
            from,
            to,
        })
    }
}

/// A date or an RFC 3339 time (four-digit years, as both formats have them).
fn instant(field: &str, s: &str, end_of_day: bool) -> AppResult<DateTime<Utc>> {
    let bad = || AppError::invalid_parameter(field, "时间须为 YYYY-MM-DD 或 RFC 3339 格式");
    let at = if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        t.with_timezone(&Utc)
    } else {
        // chrono accepts one-digit months and days; a date here is exactly ten characters.
        if s.len() != 10 {
            return Err(bad());
        }
        let day = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad())?;
        let day = if end_of_day {
            day.succ_opt()
        } else {
            Some(day)
        }
        .ok_or_else(bad)?;
        day.and_hms_opt(0, 0, 0)
            .and_then(|t| cst().from_local_datetime(&t).single())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(bad)?
    };
    Ok(at)
}

fn select(trail: Trail, filter: &Filter) -> Select<audit_entry::Entity> {
    use audit_entry::Column;
    let mut query = audit_entry::Entity::find();
    query = match trail {
        Trail::Community(id) => query.filter(Column::CommunityId.eq(id)),
        Trail::Street(id) => query.filter(Column::StreetId.eq(id)),
    };
    if let Some(actor) = filter.actor_user_id {
        query = query.filter(Column::ActorUserId.eq(actor));
    }
    if let Some(kind) = filter.kind {
        query = query.filter(Column::Kind.eq(kind));
    }
    if let Some(from) = filter.from {
        query = query.filter(Column::CreatedAt.gte(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(Column::CreatedAt.lt(to));
    }
    query
}

/// One page of the trail, newest first: up to `page.limit + 1` rows (the extra one says there
/// is a next page).
pub async fn list(
    db: &impl ConnectionTrait,
    trail: Trail,
    filter: &Filter,
    page: Keyset,
) -> AppResult<Vec<audit_entry::Model>> {
    let query = select(trail, filter);
    Ok(page
        .descending(query, audit_entry::Column::Id)
        .all(db)
        .await?)
}

/// The most entries one workbook holds; a larger trail is exported in date ranges.
pub const MAX_EXPORT: u64 = 20_000;

/// The whole filtered trail for a workbook, newest first. Refused, rather than cut short
/// without saying, when it holds more than [`MAX_EXPORT`] entries.
pub async fn export(
    db: &impl ConnectionTrait,
    trail: Trail,
    filter: &Filter,
) -> AppResult<Vec<audit_entry::Model>> {
    let rows = select(trail, filter)
        .order_by_desc(audit_entry::Column::Id)
        .limit(MAX_EXPORT + 1)
        .all(db)
        .await?;
    if rows.len() as u64 > MAX_EXPORT {
        return Err(AppError::validation(
            "from",
            format!("导出条目超过 {MAX_EXPORT} 条，请用 from 和 to 缩小时间范围"),
        ));
    }
    Ok(rows)
}

/// The entries as an Excel workbook, one row each. Everything that is not a number is written
/// as text, so nothing in a detail can run as a formula.
pub fn to_xlsx(rows: &[audit_entry::Model]) -> anyhow::Result<Vec<u8>> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = book.add_worksheet();
    sheet.set_name("操作记录")?;
    let heads = [
        ("编号", 10.0),
        ("时间（北京时间）", 20.0),
        ("操作人编号", 12.0),
        ("操作类型", 24.0),
        ("对象类型", 16.0),
        ("对象编号", 10.0),
        ("社区编号", 10.0),
        ("街道编号", 10.0),
        ("详情", 60.0),
    ];
    for (col, (head, width)) in (0u16..).zip(heads) {
        sheet.write_string_with_format(0, col, head, &bold)?;
        sheet.set_column_width(col, width)?;
    }
    for (row, e) in (1u32..).zip(rows) {
        let number = |v: Option<i64>| v.map(|n| n as f64);
        sheet.write_number(row, 0, e.id as f64)?;
        let at = e.created_at.with_timezone(&cst());
        sheet.write_string(row, 1, at.format("%Y-%m-%d %H:%M:%S").to_string())?;
        if let Some(actor) = number(e.actor_user_id) {
            sheet.write_number(row, 2, actor)?;
        }
        sheet.write_string(row, 3, e.kind.name())?;
        sheet.write_string(row, 4, object_type_name(e.object_type))?;
        sheet.write_number(row, 5, e.object_id as f64)?;
        if let Some(c) = number(e.community_id) {
            sheet.write_number(row, 6, c)?;
        }
        if let Some(s) = number(e.street_id) {
            sheet.write_number(row, 7, s)?;
        }
        sheet.write_string(row, 8, &e.detail)?;
    }
    Ok(book.save_to_buffer()?)
}

fn object_type_name(t: ObjectType) -> String {
    t.to_value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_or_name_the_bad_field() {
        let f = Filter::parse(
            Some("7"),
            Some("membership.approved"),
            Some("2026-12-01"),
            Some("2026-12-01"),
        )
        .unwrap();
        assert_eq!(f.actor_user_id, Some(7));
        assert_eq!(f.kind, Some(AuditKind::MembershipApproved));
        // A date is the whole day in China time.
        assert_eq!(
            f.from.unwrap().to_rfc3339(),
            "2026-11-30T16:00:00+00:00".to_owned()
        );
        assert_eq!(
            f.to.unwrap().to_rfc3339(),
            "2026-12-01T16:00:00+00:00".to_owned()
        );
        let t = Filter::parse(None, None, Some("2026-12-01T08:00:00+08:00"), None).unwrap();
        assert_eq!(t.from.unwrap().to_rfc3339(), "2026-12-01T00:00:00+00:00");
        for (args, field) in [
            ((Some("x"), None, None, None), "actor_user_id"),
            ((Some("0"), None, None, None), "actor_user_id"),
            ((None, Some("wish.eaten"), None, None), "kind"),
            ((None, None, Some("2026-1-5"), None), "from"),
            ((None, None, None, Some("yesterday")), "to"),
            ((None, None, Some("2026-12-02"), Some("2026-12-01")), "to"),
        ] {
            let err = Filter::parse(args.0, args.1, args.2, args.3).unwrap_err();
            let AppError::Client { field: got, .. } = err else {
                panic!("{args:?}: not a client error");
            };
            assert_eq!(got.as_deref(), Some(field), "{args:?}");
        }
    }

    #[test]
    fn every_kind_has_a_stable_name_that_parses_back() {
        use sea_orm::Iterable;
        for kind in AuditKind::iter() {
            let name = kind.name();
            assert!(name.contains('.'), "{name}");
            assert_eq!(AuditKind::parse(&name), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::String(name)
            );
        }
    }
}
