//! Merchant endpoints: admitting merchants (by a community or a street), staff invitations,
//! offers, pay codes and counter codes, redemption at the counter, receipts, reversals and
//! statements.

use actix_web::{HttpResponse, get, patch, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::extract::{Admin, CurrentUser, InCommunity, Member};
use crate::entities::{merchant, offer};
use crate::error::{AppResult, ErrorBody};
use crate::http::body::Body;
use crate::http::idempotency::{IdempotencyKey, OptionalIdempotencyKey};
use crate::merchants::redemption::{self, CounterPayment, Receipt, RedeemRequest};
use crate::merchants::service::{self, NewMerchant, OfferInput};
use crate::merchants::settlement::{self, Statement};
use crate::merchants::staff;
use crate::pagination::{Page, PageQuery};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MerchantInput {
    #[schema(example = "惠民超市")]
    pub name: String,
    pub address: String,
    #[schema(example = "超市")]
    pub category: String,
    /// The shop's business contact.
    pub contact: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreetMerchantInput {
    #[schema(example = "惠民超市")]
    pub name: String,
    pub address: String,
    #[schema(example = "超市")]
    pub category: String,
    pub contact: String,
    /// The street's communities whose residents' beans it accepts; the first is its home.
    pub community_ids: Vec<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct MerchantView {
    pub id: i64,
    /// The home community (whose admins manage the merchant, with the street's).
    pub community_id: i64,
    /// Every community whose beans the merchant accepts, home first.
    pub community_ids: Vec<i64>,
    pub name: String,
    pub address: String,
    pub category: String,
    pub contact: String,
    /// active or suspended.
    pub status: String,
    pub created_at: DateTime<Utc>,
}

impl MerchantView {
    fn new(m: merchant::Model, community_ids: Vec<i64>) -> Self {
        Self {
            id: m.id,
            community_id: m.community_id,
            community_ids,
            name: m.name,
            address: m.address,
            category: m.category,
            contact: m.contact,
            status: m.status,
            created_at: m.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusInput {
    /// active or suspended.
    pub status: String,
}

#[derive(Serialize, ToSchema)]
pub struct Invitation {
    /// Give this to the new member of staff; it is shown only once.
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinStaff {
    pub code: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOffer {
    #[schema(example = "大米 5kg")]
    pub name: String,
    /// Beans per redemption.
    pub price: i64,
    /// Absent: unlimited.
    pub stock: Option<i64>,
    pub per_resident_limit: Option<i64>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    /// One of the shop's uploads (`POST /merchants/{merchant_id}/uploads`).
    pub photo_upload_id: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferChange {
    pub name: Option<String>,
    pub price: Option<i64>,
    /// `null`: unlimited.
    #[serde(default, deserialize_with = "crate::validate::patched")]
    #[schema(value_type = Option<i64>)]
    pub stock: Option<Option<i64>>,
    /// `null`: no limit.
    #[serde(default, deserialize_with = "crate::validate::patched")]
    #[schema(value_type = Option<i64>)]
    pub per_resident_limit: Option<Option<i64>>,
    /// `null`: from now.
    #[serde(default, deserialize_with = "crate::validate::patched")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub valid_from: Option<Option<DateTime<Utc>>>,
    /// `null`: no end.
    #[serde(default, deserialize_with = "crate::validate::patched")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub valid_until: Option<Option<DateTime<Utc>>>,
    /// `null`: no photo.
    #[serde(default, deserialize_with = "crate::validate::patched")]
    #[schema(value_type = Option<String>)]
    pub photo_upload_id: Option<Option<String>>,
    pub active: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct OfferView {
    pub id: i64,
    pub merchant_id: i64,
    pub merchant_name: Option<String>,
    pub name: String,
    pub price: i64,
    pub stock: Option<i64>,
    pub per_resident_limit: Option<i64>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub photo_upload_id: Option<String>,
    pub active: bool,
}

fn offer_view(o: offer::Model, merchant_name: Option<String>) -> OfferView {
    OfferView {
        id: o.id,
        merchant_id: o.merchant_id,
        merchant_name,
        name: o.name,
        price: o.price,
        stock: o.stock,
        per_resident_limit: o.per_resident_limit,
        valid_from: o.valid_from,
        valid_until: o.valid_until,
        photo_upload_id: o.photo_upload_id,
        active: o.active,
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PayCodeQuery {
    /// The community whose beans to spend.
    pub community_id: i64,
}

#[derive(Serialize, ToSchema)]
pub struct PayCode {
    /// 18 digits, shown as a QR code and as a number; works once, until `expires_at`.
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRedemption {
    pub merchant_id: i64,
    /// The resident's pay code, as scanned.
    pub pay_code: String,
    /// The offer redeemed — or give `amount` instead.
    pub offer_id: Option<i64>,
    /// Beans to take, when no offer is chosen.
    pub amount: Option<i64>,
}

/// POST /api/v1/communities/{community_id}/merchants — 社区商家入驻
///
/// Admits a merchant to the community (community admins).
#[utoipa::path(
    operation_id = "create_merchant",
    tag = "merchants",
    security(("bearer" = [])),
    params(("community_id" = i64, Path)),
    request_body = MerchantInput,
    responses((status = 201, body = MerchantView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
#[post("/{community_id}/merchants")]
pub async fn create_merchant(
    state: web::Data<AppState>,
    ctx: InCommunity<Admin>,
    body: Body<MerchantInput>,
) -> AppResult<HttpResponse> {
    let b = body.into_inner();
    let (m, served) = service::create(
        &state,
        &ctx.user,
        &[ctx.community_id()],
        NewMerchant {
            name: &b.name,
            address: &b.address,
            category: &b.category,
            contact: &b.contact,
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(MerchantView::new(m, served)))
}

/// POST /api/v1/streets/{street_id}/merchants — 街道商家入驻
///
/// Admits a merchant for several communities of the street (street admins): it accepts the
/// beans of each, and its sales are booked in the resident's own community.
#[utoipa::path(
    operation_id = "create_street_merchant",
    tag = "merchants",
    security(("bearer" = [])),
    params(("street_id" = i64, Path)),
    request_body = StreetMerchantInput,
    responses((status = 201, body = MerchantView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
#[post("/{street_id}/merchants")]
pub async fn create_street_merchant(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    body: Body<StreetMerchantInput>,
) -> AppResult<HttpResponse> {
    let b = body.into_inner();
    let (m, served) = service::create_for_street(
        &state,
        &user,
        path.into_inner(),
        &b.community_ids,
        NewMerchant {
            name: &b.name,
            address: &b.address,
            category: &b.category,
            contact: &b.contact,
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(MerchantView::new(m, served)))
}

/// GET /api/v1/communities/{community_id}/merchants — 社区商家列表
///
/// The community's merchants (its members).
#[utoipa::path(
    operation_id = "list_merchants",
    tag = "merchants",
    security(("bearer" = [])),
    params(("community_id" = i64, Path), PageQuery),
    responses((status = 200, body = Page<MerchantView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/{community_id}/merchants")]
pub async fn list_merchants(
    state: web::Data<AppState>,
    ctx: InCommunity<Member>,
    page: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let keyset = page.keyset()?;
    let rows = service::list(&state, ctx.community_id(), keyset).await?;
    let mut served = service::served_many(&state.db, &rows).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        keyset,
        |m| m.id,
        |m| {
            let ids = served.remove(&m.id).unwrap_or_default();
            Ok(MerchantView::new(m, ids))
        },
    )?))
}

/// PUT /api/v1/merchants/{merchant_id}/status — 停用或恢复商家
///
/// Suspends or reactivates a merchant (its community's admins).
#[utoipa::path(
    operation_id = "set_merchant_status",
    tag = "merchants",
    security(("bearer" = [])),
    params(("merchant_id" = i64, Path)),
    request_body = StatusInput,
    responses((status = 200, body = MerchantView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
#[put("/{merchant_id}/status")]
pub async fn set_status(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    body: Body<StatusInput>,
) -> AppResult<HttpResponse> {
    let m = service::set_status(&state, &user, path.into_inner(), &body.0.status).await?;
    let served = service::served(&state.db, &m).await?;
    Ok(HttpResponse::Ok().json(MerchantView::new(m, served)))
}

/// POST /api/v1/merchants/{merchant_id}/invites — 邀请店员
///
/// Makes a one-time invitation code for a member of staff (its community's admins).
#[utoipa::path(
    operation_id = "invite_merchant_staff",
    tag = "merchants",
    security(("bearer" = [])),
    params(("merchant_id" = i64, Path)),
    responses((status = 201, body = Invitation), (status = 404, body = ErrorBody))
)]
#[post("/{merchant_id}/invites")]
pub async fn invite(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let (code, expires_at) = service::invite(&state, &user, path.into_inner()).await?;
    Ok(HttpResponse::Created().json(Invitation { code, expires_at }))
}

/// POST /api/v1/merchant/staff/join — 凭邀请码加入店员
///
/// Joins a merchant's staff with an invitation code.
#[utoipa::path(
    operation_id = "join_merchant_staff",
    tag = "merchants",
    security(("bearer" = [])),
    request_body = JoinStaff,
    responses((status = 200, body = MerchantView), (status = 410, description = "INVITE_INVALID", body = ErrorBody))
)]
#[post("/staff/join")]
pub async fn join_staff(
    state: web::Data<AppState>,
    user: CurrentUser,
    body: Body<JoinStaff>,
) -> AppResult<HttpResponse> {
    let m = service::accept_invite(&state, &user, &body.0.code).await?;
    let served = service::served(&state.db, &m).await?;
    Ok(HttpResponse::Ok().json(MerchantView::new(m, served)))
}

/// POST /api/v1/merchants/{merchant_id}/offers — 新增优惠
///
/// Adds an offer (the merchant's staff or its community's admins).
#[utoipa::path(
    operation_id = "create_offer",
    tag = "merchants",
    security(("bearer" = [])),
    params(("merchant_id" = i64, Path)),
    request_body = NewOffer,
    responses((status = 201, body = OfferView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
#[post("/{merchant_id}/offers")]
pub async fn create_offer(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    body: Body<NewOffer>,
) -> AppResult<HttpResponse> {
    let b = body.into_inner();
    let (o, shop) = service::create_offer(
        &state,
        &user,
        path.into_inner(),
        OfferInput {
            name: b.name,
            price: b.price,
            stock: b.stock,
            per_resident_limit: b.per_resident_limit,
            valid_from: b.valid_from,
            valid_until: b.valid_until,
            photo_upload_id: b.photo_upload_id,
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(offer_view(o, Some(shop.name))))
}

/// GET /api/v1/merchants/{merchant_id}/offers — 商家全部优惠
///
/// All of a merchant's offers, withdrawn ones too (its staff and admins).
#[utoipa::path(
    operation_id = "list_merchant_offers",
    tag = "merchants",
    security(("bearer" = [])),
    params(("merchant_id" = i64, Path), PageQuery),
    responses((status = 200, body = Page<OfferView>), (status = 404, body = ErrorBody))
)]
#[get("/{merchant_id}/offers")]
pub async fn merchant_offers(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    page: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let keyset = page.keyset()?;
    let (shop, rows) = service::offers_of(&state, &user, path.into_inner(), keyset).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        keyset,
        |o| o.id,
        |o| Ok(offer_view(o, Some(shop.name.clone()))),
    )?))
}

/// PATCH /api/v1/offers/{offer_id} — 修改优惠
///
/// Changes an offer: name, price, stock, limit, validity or photo (a field left out stays as
/// it is, `null` clears it), or withdraws it. Receipts already given keep what was sold.
#[utoipa::path(
    operation_id = "update_offer",
    tag = "merchants",
    security(("bearer" = [])),
    params(("offer_id" = i64, Path)),
    request_body = OfferChange,
    responses((status = 200, body = OfferView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
#[patch("/{offer_id}")]
pub async fn update_offer(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    body: Body<OfferChange>,
) -> AppResult<HttpResponse> {
    let b = body.into_inner();
    let change = service::OfferEdit {
        name: b.name,
        price: b.price,
        stock: b.stock,
        per_resident_limit: b.per_resident_limit,
        valid_from: b.valid_from,
        valid_until: b.valid_until,
        photo_upload_id: b.photo_upload_id,
        active: b.active,
    };
    let (o, shop) = service::update_offer(&state, &user, path.into_inner(), change).await?;
    Ok(HttpResponse::Ok().json(offer_view(o, Some(shop.name))))
}

/// GET /api/v1/communities/{community_id}/offers — 社区可用优惠
///
/// The offers a resident can use now in this community.
#[utoipa::path(
    operation_id = "list_community_offers",
    tag = "merchants",
    security(("bearer" = [])),
    params(("community_id" = i64, Path), PageQuery),
    responses((status = 200, body = Page<OfferView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/{community_id}/offers")]
pub async fn community_offers(
    state: web::Data<AppState>,
    ctx: InCommunity<Member>,
    page: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let keyset = page.keyset()?;
    let rows = service::offers_for_residents(&state, ctx.community_id(), keyset).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        keyset,
        |(o, _)| o.id,
        |(o, m)| Ok(offer_view(o, Some(m.name))),
    )?))
}

/// GET /api/v1/me/pay-code — 我的付款码
///
/// A fresh pay code (付款码) for spending this community's beans: about a minute, once.
#[utoipa::path(
    operation_id = "get_pay_code",
    tag = "merchants",
    security(("bearer" = [])),
    params(PayCodeQuery),
    responses((status = 200, body = PayCode), (status = 404, description = "not a verified resident of the community", body = ErrorBody))
)]
#[get("/pay-code")]
pub async fn pay_code(
    state: web::Data<AppState>,
    user: CurrentUser,
    query: web::Query<PayCodeQuery>,
) -> AppResult<HttpResponse> {
    let (code, expires_at) =
        crate::merchants::pay_codes::issue_pay_code(&state, &user, query.community_id).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(PayCode { code, expires_at }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCounterPayment {
    /// The scene of the shop's counter code (收款码), as scanned.
    pub scene: String,
    /// Whose beans to spend; needed only when the resident belongs to several communities
    /// the shop serves.
    pub community_id: Option<i64>,
    /// The offer bought — or give `amount` instead.
    pub offer_id: Option<i64>,
    /// Beans to pay, when no offer is chosen.
    pub amount: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct CounterCode {
    /// The short random id the shop's mini-program code carries.
    pub scene: String,
    /// The mini-program page the code opens.
    pub page: String,
    /// Where staff fetch the image to print.
    pub image_url: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct RedemptionLine {
    pub id: i64,
    pub offer_id: Option<i64>,
    pub user_id: i64,
    pub community_id: i64,
    pub amount: i64,
    /// pay_code or counter_code.
    pub channel: String,
    /// The member of staff who scanned the pay code (absent for a counter-code payment,
    /// which the resident made).
    pub staff_user_id: Option<i64>,
    /// Their nickname, masked (王**).
    pub staff_name_masked: Option<String>,
    /// completed or reversed.
    pub status: String,
    pub created_at: DateTime<Utc>,
}

/// POST /api/v1/merchants/{merchant_id}/counter-codes — 生成收款码
///
/// A new counter code (收款码) for the shop (its staff and managers): print it by the till;
/// residents scan it and confirm what they pay. Revoke old ones at `/codes/{scene}/revoke`.
#[utoipa::path(
    operation_id = "create_counter_code",
    tag = "merchants",
    security(("bearer" = [])),
    params(("merchant_id" = i64, Path)),
    responses((status = 201, body = CounterCode), (status = 404, body = ErrorBody))
)]
#[post("/{merchant_id}/counter-codes")]
pub async fn create_counter_code(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let code = service::counter_code(&state, &user, path.into_inner()).await?;
    Ok(HttpResponse::Created().json(CounterCode {
        image_url: format!("/api/v1/codes/{}/image", code.scene),
        scene: code.scene,
        page: code.page,
        created_at: code.created_at,
    }))
}

/// POST /api/v1/me/counter-payments — 扫收款码付金豆
///
/// The resident scanned the shop's counter code and confirms what to pay: the wallet is
/// debited, the merchant credited, one taken from stock. Requires `Idempotency-Key`: a retry
/// returns the same receipt. Staff see it in the shop's redemptions.
#[utoipa::path(
    operation_id = "pay_at_counter",
    tag = "merchants",
    security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "1–64 visible characters, one per payment", pattern = r"^[ \t]*[!-~]{1,64}[ \t]*$")),
    request_body = NewCounterPayment,
    responses(
        (status = 201, body = Receipt),
        (status = 403, description = "COMMUNITY_NOT_SERVED", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "INSUFFICIENT_BEANS, OUT_OF_STOCK, OFFER_LIMIT_REACHED, OFFER_UNAVAILABLE, MERCHANT_SUSPENDED, IDEMPOTENCY_KEY_REUSED", body = ErrorBody),
        (status = 410, description = "CODE_EXPIRED, CODE_REVOKED", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
#[post("/counter-payments")]
pub async fn pay_at_counter(
    state: web::Data<AppState>,
    user: CurrentUser,
    key: IdempotencyKey,
    body: Body<NewCounterPayment>,
) -> AppResult<HttpResponse> {
    let b = body.into_inner();
    let receipt = redemption::pay_at_counter(
        &state,
        &user,
        CounterPayment {
            scene: b.scene,
            community_id: b.community_id,
            offer_id: b.offer_id,
            amount: b.amount,
        },
        &key.0,
    )
    .await?;
    Ok(HttpResponse::Created().json(receipt))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RedemptionFilter {
    /// Only the sales this member of staff made (pay codes they scanned).
    pub staff_user_id: Option<i64>,
}

/// GET /api/v1/merchants/{merchant_id}/redemptions — 商家核销记录
///
/// The shop's redemptions, newest first.
///
/// Each names the member of staff who made it; `?staff_user_id=` keeps one member's sales
/// (its staff and managers).
#[utoipa::path(
    operation_id = "list_merchant_redemptions",
    tag = "merchants",
    security(("bearer" = [])),
    params(("merchant_id" = i64, Path), RedemptionFilter, PageQuery),
    responses((status = 200, body = Page<RedemptionLine>), (status = 400, description = "INVALID_PARAMETER", body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/{merchant_id}/redemptions")]
pub async fn list_redemptions(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    filter: web::Query<RedemptionFilter>,
    page: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let keyset = page.keyset()?;
    let rows = redemption::list(
        &state,
        &user,
        path.into_inner(),
        filter.staff_user_id,
        keyset,
    )
    .await?;
    let by_staff = |r: &crate::entities::redemption::Model| {
        (r.channel == redemption::Channel::PayCode.as_str()).then_some(r.staff_id)
    };
    let names = staff::names(&state.db, rows.iter().filter_map(by_staff)).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        keyset,
        |r| r.id,
        |r| {
            let staff_user_id = by_staff(&r);
            Ok(RedemptionLine {
                staff_name_masked: staff_user_id.and_then(|id| names.get(&id).cloned()),
                staff_user_id,
                id: r.id,
                offer_id: r.offer_id,
                user_id: r.user_id,
                community_id: r.community_id,
                amount: r.amount,
                channel: r.channel,
                status: r.status,
                created_at: r.created_at,
            })
        },
    )?))
}

/// POST /api/v1/merchant/redemptions — 扫付款码核销
///
/// Staff scan a resident's pay code: the wallet is debited, the merchant credited, one taken
/// from stock. Requires `Idempotency-Key`: a retry returns the same receipt.
#[utoipa::path(
    operation_id = "redeem_pay_code",
    tag = "merchants",
    security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "1–64 visible characters, one per redemption", pattern = r"^[ \t]*[!-~]{1,64}[ \t]*$")),
    request_body = NewRedemption,
    responses(
        (status = 201, body = Receipt),
        (status = 403, description = "NOT_MERCHANT_STAFF, COMMUNITY_NOT_SERVED", body = ErrorBody),
        (status = 409, description = "INSUFFICIENT_BEANS, OUT_OF_STOCK, OFFER_LIMIT_REACHED, OFFER_UNAVAILABLE, MERCHANT_SUSPENDED, IDEMPOTENCY_KEY_REUSED", body = ErrorBody),
        (status = 410, description = "PAY_CODE_INVALID", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
#[post("/redemptions")]
pub async fn redeem(
    state: web::Data<AppState>,
    user: CurrentUser,
    key: IdempotencyKey,
    body: Body<NewRedemption>,
) -> AppResult<HttpResponse> {
    let b = body.into_inner();
    let receipt = redemption::redeem(
        &state,
        &user,
        RedeemRequest {
            merchant_id: b.merchant_id,
            pay_code: b.pay_code,
            offer_id: b.offer_id,
            amount: b.amount,
        },
        &key.0,
    )
    .await?;
    Ok(HttpResponse::Created().json(receipt))
}

/// GET /api/v1/redemptions/{redemption_id} — 核销凭证
///
/// A redemption's receipt (the resident, the merchant's staff and admins).
#[utoipa::path(
    operation_id = "get_receipt",
    tag = "merchants",
    security(("bearer" = [])),
    params(("redemption_id" = i64, Path)),
    responses((status = 200, body = Receipt), (status = 404, body = ErrorBody))
)]
#[get("/{redemption_id}")]
pub async fn get_receipt(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(redemption::receipt(&state, &user, path.into_inner()).await?))
}

/// POST /api/v1/redemptions/{redemption_id}/reverse — 撤销核销
///
/// Reverses a redemption (staff within the window, community admins any time): the beans go back to
/// the wallet, one back into stock. The answer is the reversed receipt. With an `Idempotency-Key`,
/// a retry by the same person with the same key (a till that heard nothing back) gets the same
/// receipt again; any other second reversal is `ALREADY_REVERSED`.
#[utoipa::path(
    operation_id = "reverse_redemption",
    tag = "merchants",
    security(("bearer" = [])),
    params(
        ("redemption_id" = i64, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "Optional, 1–64 visible characters: a retry with the same key gets the same receipt"),
    ),
    responses(
        (status = 200, body = Receipt),
        (status = 400, description = "INVALID_PARAMETER (a malformed Idempotency-Key)", body = ErrorBody),
        (status = 403, description = "REVERSAL_WINDOW_PASSED", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "ALREADY_REVERSED, INSUFFICIENT_BEANS", body = ErrorBody),
    )
)]
#[post("/{redemption_id}/reverse")]
pub async fn reverse(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    key: OptionalIdempotencyKey,
) -> AppResult<HttpResponse> {
    let receipt =
        crate::merchants::reversal::reverse(&state, &user, path.into_inner(), key.0.as_deref())
            .await?;
    Ok(HttpResponse::Ok().json(receipt))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatementFormat {
    /// json (default), csv or xlsx.
    #[param(pattern = "^(json|csv|xlsx)$")]
    pub format: Option<String>,
}

/// GET /api/v1/merchants/{merchant_id}/statements/{month} — 月度对账单
///
/// A merchant's monthly statement (对账单): per offer and per day, reversals, beans to settle
/// (its staff and admins). `?format=csv` or `?format=xlsx` for a spreadsheet.
#[utoipa::path(
    operation_id = "get_statement",
    tag = "merchants",
    security(("bearer" = [])),
    params(("merchant_id" = i64, Path), ("month" = String, Path, description = "YYYY-MM, 2000-01 to 2100-12", pattern = r"^(20[0-9]{2}-(0[1-9]|1[0-2])|2100-(0[1-9]|1[0-2]))$"), StatementFormat),
    responses(
        (status = 200, description = "JSON by default; CSV or XLSX as `format` asks", content(
            (Statement = "application/json"),
            (String = "text/csv"),
            ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        )),
        (status = 400, description = "INVALID_PARAMETER", body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
#[get("/{merchant_id}/statements/{month}")]
pub async fn get_statement(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<(i64, String)>,
    format: web::Query<StatementFormat>,
) -> AppResult<HttpResponse> {
    let (merchant_id, month) = path.into_inner();
    let s = settlement::statement(&state, &user, merchant_id, &month).await?;
    match format.format.as_deref() {
        None | Some("json") => Ok(HttpResponse::Ok().json(s)),
        Some("csv") => Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                "Content-Disposition",
                format!("attachment; filename=\"statement-{merchant_id}-{month}.csv\""),
            ))
            .body(settlement::to_csv(&s))),
        Some("xlsx") => Ok(HttpResponse::Ok()
            .content_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
            .insert_header((
                "Content-Disposition",
                format!("attachment; filename=\"statement-{merchant_id}-{month}.xlsx\""),
            ))
            .body(settlement::to_xlsx(&s).map_err(crate::error::AppError::Internal)?)),
        Some(_) => Err(crate::error::AppError::invalid_parameter(
            "format",
            "format 须为 json、csv 或 xlsx",
        )),
    }
}

/// POST /api/v1/merchants/{merchant_id}/statements/{month}/settle — 月度结算
///
/// Marks a finished month settled: its beans move to the settlement account (the merchant's
/// community admins). Once per month.
#[utoipa::path(
    operation_id = "settle_statement",
    tag = "merchants",
    security(("bearer" = [])),
    params(("merchant_id" = i64, Path), ("month" = String, Path, description = "YYYY-MM, 2000-01 to 2100-12", pattern = r"^(20[0-9]{2}-(0[1-9]|1[0-2])|2100-(0[1-9]|1[0-2]))$")),
    responses(
        (status = 200, body = Statement),
        (status = 404, body = ErrorBody),
        (status = 409, description = "SETTLEMENT_NOT_ALLOWED", body = ErrorBody),
    )
)]
#[post("/{merchant_id}/statements/{month}/settle")]
pub async fn settle(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<(i64, String)>,
) -> AppResult<HttpResponse> {
    let (merchant_id, month) = path.into_inner();
    Ok(HttpResponse::Ok().json(settlement::settle(&state, &user, merchant_id, &month).await?))
}

// Registration: the routes this module serves, added to the shared scope of each first path
// segment by `crate::api`.

/// `/communities/{community_id}/merchants` and `…/offers`.
pub fn communities_scope(cfg: &mut ServiceConfig) {
    cfg.service(create_merchant)
        .service(list_merchants)
        .service(community_offers);
}

/// `/merchant/…`: what a member of a shop's staff does at the counter.
pub fn merchant_scope(cfg: &mut ServiceConfig) {
    cfg.service(redeem).service(join_staff);
}

/// `/me/pay-code` and `/me/counter-payments`: the resident's side of paying.
pub fn me_scope(cfg: &mut ServiceConfig) {
    cfg.service(pay_code).service(pay_at_counter);
}

/// `/streets/{street_id}/merchants`.
pub fn streets_scope(cfg: &mut ServiceConfig) {
    cfg.service(create_street_merchant);
}

/// `/merchants/{merchant_id}/…`: status, invitations, offers, counter codes, redemptions,
/// statements and staff.
pub fn merchants_scope(cfg: &mut ServiceConfig) {
    cfg.service(set_status)
        .service(invite)
        .service(create_offer)
        .service(merchant_offers)
        .service(create_counter_code)
        .service(list_redemptions)
        .service(get_statement)
        .service(settle)
        .service(super::staff_routes::list_staff)
        .service(super::staff_routes::remove_staff);
}

/// `/offers/{offer_id}`.
pub fn offers_scope(cfg: &mut ServiceConfig) {
    cfg.service(update_offer);
}

/// `/redemptions/{redemption_id}`: receipts and reversals.
pub fn redemptions_scope(cfg: &mut ServiceConfig) {
    cfg.service(get_receipt).service(reverse);
}
