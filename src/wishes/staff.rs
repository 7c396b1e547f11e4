//! What community and street staff see of wishes: what needs attention, monthly figures, and
//! the community's records as CSV (电子化台账).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use utoipa::ToSchema;

use crate::calendar::{cst, month_bounds};
use crate::entities::{wish, wish_claim};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::wishes::state::WishState;

/// Most rows one export or attention list returns.
pub const MAX_ROWS: u64 = 10_000;

/// Wishes that need a person: disputed, or past their date and not yet done.
pub async fn attention(state: &AppState, community_id: i64) -> AppResult<Vec<wish::Model>> {
    let now = Utc::now();
    let open = [
        WishState::Published.as_str(),
        WishState::Claimed.as_str(),
        WishState::Fulfilled.as_str(),
    ];
    Ok(wish::Entity::find()
        .filter(wish::Column::CommunityId.eq(community_id))
        .filter(
            wish::Column::State
                .eq(WishState::Disputed.as_str())
                .or(wish::Column::State
                    .is_in(open)
                    .and(wish::Column::DueAt.lte(now))),
        )
        .order_by_asc(wish::Column::DueAt)
        .limit(500)
        .all(&state.db)
        .await?)
}

#[derive(Debug, Default, Serialize, ToSchema, PartialEq)]
pub struct MonthFigures {
    /// YYYY-MM, China time.
    pub month: String,
    pub posted: u64,
    pub claimed: u64,
    /// Confirmed fulfilled in the month.
    pub fulfilled: u64,
    /// Average days from publication to confirmation, for the month's fulfilled wishes.
    pub average_days_to_fulfil: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommunityFigures {
    pub community_id: i64,
    pub months: Vec<MonthFigures>,
}

/// The last `months` months (this one included), China time.
fn recent_months(months: u32) -> AppResult<Vec<String>> {
    let now = Utc::now().with_timezone(&cst());
    let (mut y, mut m) = (now.year(), now.month());
    let mut out = Vec::new();
    for _ in 0..months {
        out.push(format!("{y:04}-{m:02}"));
        if m == 1 {
            y -= 1;
            m = 12;
        } else {
            m -= 1;
        }
    }
    out.reverse();
    Ok(out)
}

fn month_key(at: DateTime<Utc>) -> String {
    crate::calendar::month_of(at)
}

/// Per month, per community: posted, claimed, fulfilled, average days to fulfil.
pub async fn figures(
    state: &AppState,
    communities: &[i64],
    months: u32,
) -> AppResult<Vec<CommunityFigures>> {
    if !(1..=24).contains(&months) {
        return Err(AppError::invalid_parameter(
            "months",
            "月份数须在 1 到 24 之间",
        ));
    }
    let labels = recent_months(months)?;
    let (start, _) = month_bounds(&labels[0])?;
    let (wishes, claims, community_of) = since(state, communities, start).await?;
    Ok(communities
        .iter()
        .map(|&community| tally(community, &labels, &wishes, &claims, &community_of))
        .collect())
}

/// The wishes posted or confirmed since `start`, the claims made since then, and which
/// community each claimed wish is in.
async fn since(
    state: &AppState,
    communities: &[i64],
    start: DateTime<Utc>,
) -> AppResult<(Vec<wish::Model>, Vec<wish_claim::Model>, BTreeMap<i64, i64>)> {
    let wishes = wish::Entity::find()
        .filter(wish::Column::CommunityId.is_in(communities.iter().copied()))
        .filter(
            wish::Column::CreatedAt
                .gte(start)
                .or(wish::Column::ConfirmedAt.gte(start)),
        )
        .all(&state.db)
        .await?;
    let claims = wish_claim::Entity::find()
        .filter(wish_claim::Column::CreatedAt.gte(start))
        .filter(
            wish_claim::Column::WishId.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(wish::Column::Id)
                    .from(wish::Entity)
                    .and_where(wish::Column::CommunityId.is_in(communities.iter().copied()))
                    .to_owned(),
            ),
        )
        .all(&state.db)
        .await?;
    let community_of: BTreeMap<i64, i64> = wish::Entity::find()
        .select_only()
        .column(wish::Column::Id)
        .column(wish::Column::CommunityId)
        .filter(wish::Column::Id.is_in(claims.iter().map(|c| c.wish_id)))
        .into_tuple::<(i64, i64)>()
        .all(&state.db)
        .await?
        .into_iter()
        .collect();
    Ok((wishes, claims, community_of))
}

/// One community's figures for the months `labels`.
fn tally(
    community: i64,
    labels: &[String],
    wishes: &[wish::Model],
    claims: &[wish_claim::Model],
    community_of: &BTreeMap<i64, i64>,
) -> CommunityFigures {
    let mut rows: BTreeMap<String, (MonthFigures, f64, u64)> = labels
        .iter()
        .map(|m| {
            (
                m.clone(),
                (
                    MonthFigures {
                        month: m.clone(),
                        ..Default::default()
                    },
                    0.0,
                    0,
                ),
            )
        })
        .collect();
    for w in wishes.iter().filter(|w| w.community_id == community) {
        if let Some(row) = rows.get_mut(&month_key(w.created_at)) {
            row.0.posted += 1;
        }
        if let Some(done) = w.confirmed_at
            && let Some(row) = rows.get_mut(&month_key(done))
        {
            row.0.fulfilled += 1;
            let from = w.published_at.unwrap_or(w.created_at);
            row.1 += (done - from).num_seconds() as f64 / 86_400.0;
            row.2 += 1;
        }
    }
    for c in claims {
        if community_of.get(&c.wish_id) == Some(&community)
            && let Some(row) = rows.get_mut(&month_key(c.created_at))
        {
            row.0.claimed += 1;
        }
    }
    CommunityFigures {
        community_id: community,
        months: rows
            .into_values()
            .map(|(mut f, days, n)| {
                f.average_days_to_fulfil = (n > 0).then(|| (days / n as f64 * 10.0).round() / 10.0);
                f
            })
            .collect(),
    }
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.with_timezone(&cst()).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// The community's wishes as CSV for its records (UTF-8 with a byte-order mark, so
/// spreadsheet programs show Chinese). Beneficiaries appear masked.
pub async fn export_csv(state: &AppState, community_id: i64) -> AppResult<String> {
    let rows = wish::Entity::find()
        .filter(wish::Column::CommunityId.eq(community_id))
        .order_by_asc(wish::Column::Id)
        .limit(MAX_ROWS)
        .all(&state.db)
        .await?;
    use crate::csv::{Cell, Sheet};
    let mut sheet = Sheet::new();
    let header: Vec<Cell<'_>> = "编号,标题,类别,对象类别,受益人,代录,预估费用(元),状态,发布时间,截止日期,认领人编号,结对单位编号,认领时间,完成时间,确认时间,感谢留言"
        .split(',')
        .map(Cell::from)
        .collect();
    sheet.row(&header);
    for w in &rows {
        sheet.row(&[
            w.id.into(),
            Cell::from(&w.title),
            Cell::from(&w.category),
            Cell::from(&w.beneficiary_group),
            Cell::from(&w.beneficiary_masked),
            if w.proxy { "是" } else { "否" }.into(),
            w.estimated_cost.into(),
            Cell::from(&w.state),
            time(w.published_at).into(),
            time(Some(w.due_at)).into(),
            w.claimer_id.into(),
            w.unit_id.into(),
            time(w.claimed_at).into(),
            time(w.fulfilled_at).into(),
            time(w.confirmed_at).into(),
            w.thanks_note.as_deref().unwrap_or_default().into(),
        ]);
    }
    Ok(sheet.finish())
}

/// How many wishes are in each state, across all communities (for `/metrics`).
pub async fn count_by_state(db: &impl sea_orm::ConnectionTrait) -> AppResult<Vec<(String, i64)>> {
    use sea_orm::sea_query::Expr;
    Ok(wish::Entity::find()
        .select_only()
        .column(wish::Column::State)
        .column_as(Expr::col(wish::Column::Id).count(), "n")
        .group_by(wish::Column::State)
        .into_tuple()
        .all(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_months_run_oldest_first_and_cross_years() {
        let months = recent_months(14).unwrap();
        assert_eq!(months.len(), 14);
        assert_eq!(
            months.last().unwrap(),
            &crate::calendar::month_of(Utc::now())
        );
        assert!(months.windows(2).all(|w| w[0] < w[1]));
    }
}
