//! `/communities/{id}/points/*`: a resident's balance and history, the 志愿之星 ranking, earning
//! rules, and admins' manual awards and deductions.

use actix_web::{HttpResponse, get, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::extract::{Admin, InCommunity, Member};
use crate::error::{AppResult, ErrorBody};
use crate::http::body::Body;
use crate::http::idempotency::IdempotencyKey;
use crate::pagination::{Page, PageQuery};
use crate::points::adjustments::{self, AdjustmentReceipt};
use crate::points::earning::{self, EarnEvent, Rule};
use crate::points::ranking::{self, Ranking};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct ExpiringLot {
    pub amount: i64,
    pub expires_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct MyBeans {
    pub community_id: i64,
    pub balance: i64,
    /// Beans that expire within 30 days.
    pub expiring_soon: i64,
    /// Where the balance sits, soonest to expire first (at most 20 lots).
    pub lots: Vec<ExpiringLot>,
}

#[derive(Serialize, ToSchema)]
pub struct HistoryItem {
    pub id: i64,
    pub transaction_id: i64,
    /// manual_award, manual_deduct (later: activity hours, wish fulfilled, redemption, …).
    pub kind: String,
    /// Positive when beans came in, negative when they went out.
    pub amount: i64,
    pub reason: String,
    /// What the movement came from.
    pub ref_type: Option<String>,
    pub ref_id: Option<i64>,
    pub created_at: DateTime<Utc>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAdjustment {
    pub user_id: i64,
    /// Positive awards, negative deducts; at most 100000 either way.
    #[schema(example = 20)]
    pub amount: i64,
    #[schema(example = "协助社区疫苗接种登记")]
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct AdjustmentItem {
    pub id: i64,
    #[serde(flatten)]
    pub receipt: AdjustmentReceipt,
}

/// GET /api/v1/communities/{community_id}/points/me — 我的金豆
///
/// The caller's 金豆 in this community: balance and when they expire.
#[utoipa::path(
    operation_id = "get_my_beans",
    tag = "points",
    security(("bearer" = [])),
    params(("community_id" = i64, Path)),
    responses((status = 200, body = MyBeans), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/{community_id}/points/me")]
pub async fn my_beans(
    state: web::Data<AppState>,
    ctx: InCommunity<Member>,
) -> AppResult<HttpResponse> {
    let b = adjustments::balance(&state, ctx.community_id(), ctx.user.id()).await?;
    let soon = Utc::now() + chrono::Duration::days(30);
    Ok(HttpResponse::Ok().json(MyBeans {
        community_id: ctx.community_id(),
        balance: b.balance,
        expiring_soon: b
            .lots
            .iter()
            .filter(|(_, t)| *t <= soon)
            .map(|(a, _)| a)
            .sum(),
        lots: b
            .lots
            .into_iter()
            .map(|(amount, expires_at)| ExpiringLot { amount, expires_at })
            .collect(),
    }))
}

/// GET /api/v1/communities/{community_id}/points/me/history — 我的金豆明细
///
/// The caller's 金豆 history in this community, newest first, each line with its reason.
#[utoipa::path(
    operation_id = "list_my_bean_history",
    tag = "points",
    security(("bearer" = [])),
    params(("community_id" = i64, Path), PageQuery),
    responses((status = 200, body = Page<HistoryItem>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/{community_id}/points/me/history")]
pub async fn my_history(
    state: web::Data<AppState>,
    ctx: InCommunity<Member>,
    page: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let keyset = page.keyset()?;
    let lines = adjustments::history(&state, ctx.community_id(), ctx.user.id(), keyset).await?;
    let page = Page::from_rows(
        lines,
        keyset,
        |l| l.posting_id,
        |l| {
            Ok(HistoryItem {
                id: l.posting_id,
                transaction_id: l.tx.id,
                kind: l.tx.kind,
                amount: l.amount,
                reason: l.tx.reason,
                ref_type: l.tx.ref_type,
                ref_id: l.tx.ref_id,
                created_at: l.tx.created_at,
            })
        },
    )?;
    Ok(HttpResponse::Ok().json(page))
}

/// POST /api/v1/communities/{community_id}/points/adjustments — 人工发放或扣减金豆
///
/// Awards (positive) or deducts (negative) beans by hand, with a reason (community admins).
/// Requires an `Idempotency-Key` header: a retry with the same key and body gets the first
/// answer back and moves nothing; the same key with a different body is refused.
#[utoipa::path(
    operation_id = "create_bean_adjustment",
    tag = "points",
    security(("bearer" = [])),
    params(
        ("community_id" = i64, Path),
        ("Idempotency-Key" = String, Header, description = "1–64 visible characters, one per adjustment", pattern = r"^[ \t]*[!-~]{1,64}[ \t]*$"),
    ),
    request_body = NewAdjustment,
    responses(
        (status = 201, body = AdjustmentReceipt),
        (status = 400, description = "INVALID_PARAMETER (Idempotency-Key)", body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "INSUFFICIENT_BEANS, IDEMPOTENCY_KEY_REUSED", body = ErrorBody),
        (status = 422, description = "VALIDATION_FAILED", body = ErrorBody),
    )
)]
#[post("/{community_id}/points/adjustments")]
pub async fn create_adjustment(
    state: web::Data<AppState>,
    ctx: InCommunity<Admin>,
    key: IdempotencyKey,
    body: Body<NewAdjustment>,
) -> AppResult<HttpResponse> {
    let b = body.into_inner();
    let receipt = adjustments::adjust(
        &state,
        &ctx.user,
        ctx.community_id(),
        b.user_id,
        b.amount,
        &b.reason,
        &key.0,
    )
    .await?;
    Ok(HttpResponse::Created().json(receipt))
}

/// GET /api/v1/communities/{community_id}/points/adjustments — 金豆人工调整记录
///
/// The manual adjustments, newest first: who, whom, how many, why. Each is also in the
/// community's audit trail (`GET /api/v1/communities/{community_id}/audit`).
#[utoipa::path(
    operation_id = "list_bean_adjustments",
    tag = "points",
    security(("bearer" = [])),
    params(("community_id" = i64, Path), PageQuery),
    responses((status = 200, body = Page<AdjustmentItem>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/{community_id}/points/adjustments")]
pub async fn list_adjustments(
    state: web::Data<AppState>,
    ctx: InCommunity<Admin>,
    page: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let keyset = page.keyset()?;
    let rows = adjustments::list(&state, ctx.community_id(), keyset).await?;
    let page = Page::from_rows(
        rows,
        keyset,
        |(id, _)| *id,
        |(id, receipt)| Ok(AdjustmentItem { id, receipt }),
    )?;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Serialize, ToSchema)]
pub struct RuleView {
    #[serde(flatten)]
    pub rule: Rule,
    pub updated_by: Option<i64>,
    pub updated_at: DateTime<Utc>,
}

fn rule_view(m: crate::entities::earning_rule::Model) -> Option<RuleView> {
    let event_kind = match m.event_kind.as_str() {
        "wish_fulfilled" => EarnEvent::WishFulfilled,
        "activity_hours" => EarnEvent::ActivityHours,
        _ => return None,
    };
    Some(RuleView {
        rule: Rule {
            event_kind,
            beans_per_unit: m.beans_per_unit,
            daily_cap: m.daily_cap,
            monthly_cap: m.monthly_cap,
        },
        updated_by: m.updated_by,
        updated_at: m.updated_at,
    })
}

/// GET /api/v1/communities/{community_id}/points/rules — 金豆获取规则
///
/// How beans are earned in this community: per event kind, the beans and the caps.
#[utoipa::path(
    operation_id = "list_earning_rules",
    tag = "points",
    security(("bearer" = [])),
    params(("community_id" = i64, Path)),
    responses((status = 200, body = Vec<RuleView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/{community_id}/points/rules")]
pub async fn list_rules(
    state: web::Data<AppState>,
    ctx: InCommunity<Member>,
) -> AppResult<HttpResponse> {
    let rules = earning::rules(&state, ctx.community_id()).await?;
    Ok(HttpResponse::Ok().json(rules.into_iter().filter_map(rule_view).collect::<Vec<_>>()))
}

/// PUT /api/v1/communities/{community_id}/points/rules — 设置金豆获取规则
///
/// Sets the rule for one kind of event: beans per event (or per service hour) and the caps
/// per person per day and per month (community admins).
#[utoipa::path(
    operation_id = "set_earning_rule",
    tag = "points",
    security(("bearer" = [])),
    params(("community_id" = i64, Path)),
    request_body = Rule,
    responses(
        (status = 200, body = RuleView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
#[put("/{community_id}/points/rules")]
pub async fn set_rule(
    state: web::Data<AppState>,
    ctx: InCommunity<Admin>,
    body: Body<Rule>,
) -> AppResult<HttpResponse> {
    let saved = earning::set_rule(&state, ctx.user.id(), ctx.community_id(), &body.0).await?;
    let view = rule_view(saved)
        .ok_or_else(|| crate::error::AppError::Internal(anyhow::anyhow!("unknown rule kind")))?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RankingQuery {
    /// YYYY-MM (China time), year 0001 to 9999; this month when absent.
    #[param(pattern = r"^(20[0-9]{2}-(0[1-9]|1[0-2])|2100-(0[1-9]|1[0-2]))$")]
    pub month: Option<String>,
    /// How many stars, 1 to 50 (default 10).
    #[param(minimum = 1, maximum = 50)]
    pub limit: Option<u64>,
}

/// GET /api/v1/communities/{community_id}/points/ranking — 志愿之星榜
///
/// 志愿之星: the month's top earners in the community (beans earned by volunteering and
/// fulfilling wishes) and the caller's own place.
#[utoipa::path(
    operation_id = "get_ranking",
    tag = "points",
    security(("bearer" = [])),
    params(("community_id" = i64, Path), RankingQuery),
    responses(
        (status = 200, body = Ranking),
        (status = 400, description = "INVALID_PARAMETER (month, limit)", body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
#[get("/{community_id}/points/ranking")]
pub async fn get_ranking(
    state: web::Data<AppState>,
    ctx: InCommunity<Member>,
    query: web::Query<RankingQuery>,
) -> AppResult<HttpResponse> {
    let q = query.into_inner();
    let r = ranking::ranking(
        &state,
        ctx.community_id(),
        q.month.as_deref(),
        q.limit.unwrap_or(10),
        ctx.user.id(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(r))
}

/// POST /api/v1/communities/{community_id}/points/ranking/rebuild — 重算志愿之星榜
///
/// Rebuilds a month's ranking from the ledger now (community admins), e.g. after a correction.
#[utoipa::path(
    operation_id = "rebuild_ranking",
    tag = "points",
    security(("bearer" = [])),
    params(("community_id" = i64, Path), RankingQuery),
    responses(
        (status = 200, body = Ranking),
        (status = 400, description = "INVALID_PARAMETER (month, limit)", body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
#[post("/{community_id}/points/ranking/rebuild")]
pub async fn rebuild_ranking(
    state: web::Data<AppState>,
    ctx: InCommunity<Admin>,
    query: web::Query<RankingQuery>,
) -> AppResult<HttpResponse> {
    let q = query.into_inner();
    ranking::checked_limit(q.limit.unwrap_or(10))?;
    let month = q
        .month
        .unwrap_or_else(|| crate::calendar::month_of(Utc::now()));
    crate::calendar::month_bounds(&month)?;
    ranking::rebuild(&state, ctx.community_id(), &month).await?;
    let r = ranking::ranking(
        &state,
        ctx.community_id(),
        Some(&month),
        q.limit.unwrap_or(10),
        ctx.user.id(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(r))
}

// Registration: the routes this module serves, added to the shared scope of each first path
// segment by `crate::api`.

/// `/communities/{community_id}/points/…`: the caller's beans first, the most read.
pub fn communities_scope(cfg: &mut ServiceConfig) {
    cfg.service(my_beans)
        .service(my_history)
        .service(create_adjustment)
        .service(list_adjustments)
        .service(list_rules)
        .service(set_rule)
        .service(get_ranking)
        .service(rebuild_ranking);
}
