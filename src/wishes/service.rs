//! Posting, reviewing, claiming, fulfilling and confirming wishes. Every change of state goes
//! through [`change`]: the state machine says whether it is allowed, and a conditional update
//! (`WHERE state = <the state we saw>`) makes sure two people cannot both make it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use serde_json::json;

use crate::audit::{self, AuditKind, Entry, ObjectType};
use crate::auth::access::{Admin, CommunityAccess, CommunityGuard, CurrentUser, Reviewer};
use crate::auth::roles::Role;
use crate::communities::residents;
use crate::entities::{community, upload, wish, wish_claim};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::moderation::check::{Outcome, Scene, check};
use crate::notifications::outbox::{self, Event};
use crate::pagination::Keyset;
use crate::points::earning::{self, AwardRequest, EarnEvent};
use crate::state::AppState;
use crate::validate;
use crate::wishes::state::{Action, WishState, transition};
use crate::wishes::units;

pub const GROUPS: [&str; 6] = [
    "低保户",
    "残疾人",
    "独居老人",
    "留守儿童",
    "外来务工人员",
    "其他",
];

/// 王** for 王小明: the family name and a mask, nothing more.
pub fn mask_name(name: &str) -> String {
    match name.chars().next() {
        Some(first) => format!("{first}**"),
        None => "**".to_owned(),
    }
}

/// Who the wish is for, when a grid worker or building leader posts it (代录).
pub struct OnBehalf<'a> {
    pub name: &'a str,
    pub phone: Option<&'a str>,
    pub address: Option<&'a str>,
    /// The beneficiary agreed to the wish being posted for them.
    pub consent: bool,
}

pub struct WishInput<'a> {
    pub title: &'a str,
    pub description: &'a str,
    pub category: &'a str,
    pub estimated_cost: i64,
    pub beneficiary_group: &'a str,
    /// The resident's own name, shown masked (posting for themselves).
    pub beneficiary_name: Option<&'a str>,
    pub contact_phone: Option<&'a str>,
    pub address: Option<&'a str>,
    pub due_at: DateTime<Utc>,
    pub photo_upload_ids: &'a [String],
    pub on_behalf: Option<OnBehalf<'a>>,
}

/// The checked text and facts of a wish, ready to store.
struct Checked {
    title: String,
    description: String,
    category: String,
    estimated_cost: i32,
    group: String,
    name: String,
    phone: Option<String>,
    address: Option<String>,
    photos: Option<String>,
    check_label: Option<String>,
}

fn bad(field: &str, message: &str) -> AppError {
    AppError::validation(field, message)
}

async fn check_input(
    state: &AppState,
    author: &CurrentUser,
    community_id: i64,
    input: &WishInput<'_>,
) -> AppResult<Checked> {
    let rules = crate::wishes::rules::for_community(state, community_id).await?;
    let max_due_days = state.settings.wishes.max_due_days;
    let title = validate::text("title", input.title, 40)?;
    let description = validate::paragraph("description", input.description, 500)?;
    let category = validate::text("category", input.category, 16)?;
    if !rules.categories.contains(&category) {
        return Err(bad(
            "category",
            &format!("类别须为：{}", rules.categories.join("、")),
        ));
    }
    if !(0..=rules.max_cost_yuan).contains(&input.estimated_cost) {
        return Err(bad(
            "estimated_cost",
            &format!("微心愿的预估费用须在 0 到 {} 元之间", rules.max_cost_yuan),
        ));
    }
    if !GROUPS.contains(&input.beneficiary_group) {
        return Err(bad(
            "beneficiary_group",
            &format!("对象类别须为：{}", GROUPS.join("、")),
        ));
    }
    let now = Utc::now();
    if input.due_at <= now || input.due_at > now + chrono::Duration::days(max_due_days) {
        return Err(bad(
            "due_at",
            &format!("截止日期须在今后 {max_due_days} 天以内"),
        ));
    }
    if input.photo_upload_ids.len() > 6 {
        return Err(bad("photo_upload_ids", "最多 6 张照片"));
    }
    let photos = own_uploads(
        state,
        community_id,
        input.photo_upload_ids,
        "photo_upload_ids",
    )
    .await?;
    let (name, phone, address) = match &input.on_behalf {
        Some(b) => {
            if !b.consent {
                return Err(bad("on_behalf.consent", "代录须征得本人同意"));
            }
            (
                validate::text("on_behalf.name", b.name, 20)?,
                phone("on_behalf.phone", b.phone)?,
                validate::optional_text("on_behalf.address", b.address, 100)?,
            )
        }
        None => (
            validate::text(
                "beneficiary_name",
                input.beneficiary_name.unwrap_or_default(),
                20,
            )?,
            phone("contact_phone", input.contact_phone)?,
            validate::optional_text("address", input.address, 100)?,
        ),
    };
    let text = format!("{title}\n{description}");
    let check_label = match check(state, &author.user, Scene::Forum, "description", &text).await? {
        Outcome::Publish => None,
        Outcome::Hold { source, label } => Some(
            format!("{source}:{}", label.unwrap_or_default())
                .chars()
                .take(64)
                .collect(),
        ),
    };
    Ok(Checked {
        title,
        description,
        category,
        estimated_cost: input.estimated_cost as i32,
        group: input.beneficiary_group.to_owned(),
        name,
        phone,
        address,
        photos,
        check_label,
    })
}

fn phone(field: &str, value: Option<&str>) -> AppResult<Option<String>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(p)
            if (7..=20).contains(&p.len())
                && p.bytes().all(|b| b.is_ascii_digit() || b == b'-') =>
        {
            Ok(Some(p.to_owned()))
        }
        Some(_) => Err(bad(field, "电话号码格式不正确")),
    }
}

/// Upload ids that belong to the community, as a JSON array; anything else is refused.
async fn own_uploads(
    state: &AppState,
    community_id: i64,
    ids: &[String],
    field: &str,
) -> AppResult<Option<String>> {
    if ids.is_empty() {
        return Ok(None);
    }
    // Upload ids are UUIDs: anything else names no upload and never reaches the query.
    let ids = ids
        .iter()
        .map(|id| {
            uuid::Uuid::parse_str(id)
                .map(|u| u.to_string())
                .map_err(|_| bad(field, "照片须先上传到本社区"))
        })
        .collect::<AppResult<Vec<String>>>()?;
    let found = upload::Entity::find()
        .filter(upload::Column::Id.is_in(ids.iter().cloned()))
        .filter(upload::Column::CommunityId.eq(community_id))
        .all(&state.db)
        .await?;
    if found.len() != ids.len() {
        return Err(bad(field, "照片须先上传到本社区"));
    }
    serde_json::to_string(&ids)
        .map(Some)
        .map_err(|e| AppError::Internal(e.into()))
}

fn encrypt(state: &AppState, value: &str) -> AppResult<String> {
    state.crypto.encrypt(value).map_err(AppError::Internal)
}

fn encrypt_opt(state: &AppState, value: Option<&String>) -> AppResult<Option<String>> {
    value.map(|v| encrypt(state, v)).transpose()
}

/// Posts a wish: a verified resident for themselves, or a grid worker / building leader for
/// someone who cannot use a phone. It waits for a community admin.
pub async fn post(
    state: &AppState,
    author: &CurrentUser,
    access: &CommunityAccess,
    input: WishInput<'_>,
) -> AppResult<wish::Model> {
    let proxy = input.on_behalf.is_some();
    let allowed = if proxy {
        access.has(Role::GridWorker) || access.has(Role::BuildingLeader) || Admin::allows(access)
    } else {
        access.has(Role::Resident)
    };
    if !allowed {
        return Err(AppError::forbidden());
    }
    let community_id = access.community.id;
    let c = check_input(state, author, community_id, &input).await?;
    let now = Utc::now();
    Ok(wish::ActiveModel {
        community_id: Set(community_id),
        poster_id: Set(author.id()),
        beneficiary_id: Set((!proxy).then(|| author.id())),
        beneficiary_name_enc: Set(encrypt(state, &c.name)?),
        beneficiary_masked: Set(mask_name(&c.name)),
        contact_phone_enc: Set(encrypt_opt(state, c.phone.as_ref())?),
        address_enc: Set(encrypt_opt(state, c.address.as_ref())?),
        proxy: Set(proxy),
        consent_at: Set(proxy.then_some(now)),
        title: Set(c.title),
        description: Set(c.description),
        category: Set(c.category),
        estimated_cost: Set(c.estimated_cost),
        beneficiary_group: Set(c.group),
        due_at: Set(input.due_at),
        photo_upload_ids: Set(c.photos),
        state: Set(WishState::PendingReview.as_str().to_owned()),
        check_label: Set(c.check_label),
        claim_round: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&state.db)
    .await?)
}

/// A wish and the caller's standing in its community; 404 for callers with no tie to it.
pub async fn load(
    state: &AppState,
    current: &CurrentUser,
    wish_id: i64,
) -> AppResult<(wish::Model, CommunityAccess)> {
    let w = wish::Entity::find_by_id(wish_id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)?;
    let access = match CommunityAccess::load(&state.db, current, w.community_id).await {
        Ok(access) => access,
        Err(e) if e.code() == ErrorCode::NotFound => {
            // A member of a paired unit serving the community sees its wall, as a visitor.
            if !units::serves_member(&state.db, current.id(), w.community_id).await? {
                return Err(e);
            }
            visitor(state, w.community_id).await?
        }
        Err(e) => return Err(e),
    };
    let is_party = w.poster_id == current.id() || w.beneficiary_id == Some(current.id());
    let visible = matches!(
        state_of(&w)?,
        WishState::Published
            | WishState::Claimed
            | WishState::Fulfilled
            | WishState::Confirmed
            | WishState::Disputed
    );
    if !(visible || is_party || Reviewer::allows(&access) || w.claimer_id == Some(current.id())) {
        return Err(AppError::not_found());
    }
    Ok((w, access))
}

/// The standing of a paired unit's member in a community they do not belong to: no roles.
async fn visitor(state: &AppState, community_id: i64) -> AppResult<CommunityAccess> {
    let community = community::Entity::find_by_id(community_id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)?;
    Ok(CommunityAccess {
        community,
        membership: None,
        roles: Vec::new(),
        is_oversight: false,
    })
}

pub fn state_of(w: &wish::Model) -> AppResult<WishState> {
    WishState::parse(&w.state)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("wish {} in unknown state", w.id)))
}

/// Who is the caller to this wish.
pub struct Standing {
    pub is_poster: bool,
    pub is_beneficiary: bool,
    pub is_claimer: bool,
    /// Grid workers and admins of the community (and above).
    pub is_staff: bool,
    pub is_admin: bool,
}

pub fn standing(w: &wish::Model, current: &CurrentUser, access: &CommunityAccess) -> Standing {
    Standing {
        is_poster: w.poster_id == current.id(),
        is_beneficiary: w.beneficiary_id == Some(current.id()),
        // The claimer needs the beneficiary's details while the claim is live, not after.
        is_claimer: w.claimer_id == Some(current.id())
            && matches!(
                WishState::parse(&w.state),
                Some(WishState::Claimed | WishState::Fulfilled | WishState::Disputed)
            ),
        is_staff: Reviewer::allows(access),
        is_admin: Admin::allows(access),
    }
}

/// The one way a wish changes state: checks the move is allowed from the state we saw, then
/// makes it only if the wish is still in that state. `set` adds the columns the move writes.
async fn change(
    db: &DatabaseTransaction,
    w: &wish::Model,
    action: Action,
    set: Vec<(wish::Column, SimpleExpr)>,
) -> AppResult<WishState> {
    let from = state_of(w)?;
    let to = transition(from, action)?;
    let mut update = wish::Entity::update_many()
        .col_expr(wish::Column::State, Expr::value(to.as_str()))
        .col_expr(wish::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(wish::Column::Id.eq(w.id))
        .filter(wish::Column::State.eq(from.as_str()))
        // The wish as we saw it: a request that read it before a later claim or edit cannot
        // act on the newer one.
        .filter(wish::Column::ClaimRound.eq(w.claim_round))
        .filter(wish::Column::UpdatedAt.eq(w.updated_at));
    for (col, value) in set {
        update = update.col_expr(col, value);
    }
    if update.exec(db).await?.rows_affected == 1 {
        return Ok(to);
    }
    // Someone else moved it first: say why from where it is now.
    let now_state = wish::Entity::find_by_id(w.id)
        .one(db)
        .await?
        .map(|x| state_of(&x))
        .transpose()?
        .ok_or_else(AppError::not_found)?;
    transition(now_state, action)?;
    Err(AppError::new(
        ErrorCode::WishStateConflict,
        "心愿状态刚刚发生了变化，请刷新后重试",
    ))
}

async fn reload(db: &impl ConnectionTrait, id: i64) -> AppResult<wish::Model> {
    wish::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(AppError::not_found)
}

/// Notifies the poster (and the beneficiary, if they have their own account).
async fn tell_parties(
    db: &impl ConnectionTrait,
    state: &AppState,
    w: &wish::Model,
    event: Event,
    result: &str,
) -> AppResult<()> {
    let mut fields = BTreeMap::new();
    fields.insert("title", w.title.clone());
    fields.insert("result", result.to_owned());
    fields.insert("time", Utc::now().format("%Y-%m-%d %H:%M").to_string());
    let mut to = vec![w.poster_id];
    if let Some(b) = w.beneficiary_id
        && b != w.poster_id
    {
        to.push(b);
    }
    for user in to {
        outbox::enqueue(
            db,
            &state.settings.notifications,
            event,
            user,
            Some(w.community_id),
            &fields,
        )
        .await?;
    }
    Ok(())
}

/// The poster edits a wish that no one has claimed yet; it goes back to review.
pub async fn edit(
    state: &AppState,
    current: &CurrentUser,
    wish_id: i64,
    input: WishInput<'_>,
) -> AppResult<wish::Model> {
    let (w, _) = load(state, current, wish_id).await?;
    if w.poster_id != current.id() {
        return Err(AppError::forbidden());
    }
    transition(state_of(&w)?, Action::Edit)?;
    if input.on_behalf.is_some() != w.proxy {
        return Err(bad("on_behalf", "不能更改代录方式"));
    }
    let c = check_input(state, current, w.community_id, &input).await?;
    let txn = crate::db::begin_write(&state.db).await?;
    change(
        &txn,
        &w,
        Action::Edit,
        vec![
            (wish::Column::Title, Expr::value(c.title)),
            (wish::Column::Description, Expr::value(c.description)),
            (wish::Column::Category, Expr::value(c.category)),
            (wish::Column::EstimatedCost, Expr::value(c.estimated_cost)),
            (wish::Column::BeneficiaryGroup, Expr::value(c.group)),
            (
                wish::Column::BeneficiaryNameEnc,
                Expr::value(encrypt(state, &c.name)?),
            ),
            (
                wish::Column::BeneficiaryMasked,
                Expr::value(mask_name(&c.name)),
            ),
            (
                wish::Column::ContactPhoneEnc,
                Expr::value(encrypt_opt(state, c.phone.as_ref())?),
            ),
            (
                wish::Column::AddressEnc,
                Expr::value(encrypt_opt(state, c.address.as_ref())?),
            ),
            (wish::Column::DueAt, Expr::value(input.due_at)),
            (wish::Column::PhotoUploadIds, Expr::value(c.photos)),
            (wish::Column::CheckLabel, Expr::value(c.check_label)),
            (
                wish::Column::ReviewNote,
                Expr::value(Option::<String>::None),
            ),
            (
                wish::Column::PublishedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            ),
        ],
    )
    .await?;
    let w = reload(&txn, w.id).await?;
    txn.commit().await?;
    Ok(w)
}

pub async fn withdraw(
    state: &AppState,
    current: &CurrentUser,
    wish_id: i64,
) -> AppResult<wish::Model> {
    let (w, _) = load(state, current, wish_id).await?;
    if w.poster_id != current.id() && w.beneficiary_id != Some(current.id()) {
        return Err(AppError::forbidden());
    }
    let txn = crate::db::begin_write(&state.db).await?;
    change(&txn, &w, Action::Withdraw, vec![]).await?;
    let w = reload(&txn, w.id).await?;
    txn.commit().await?;
    Ok(w)
}

/// A community admin approves (publishes) or rejects a wish, with a reason the poster sees,
/// deciding on the version they read (`seen`, the wish's `updated_at`).
pub async fn review(
    state: &AppState,
    current: &CurrentUser,
    wish_id: i64,
    approve: bool,
    reason: Option<&str>,
    seen: DateTime<Utc>,
) -> AppResult<wish::Model> {
    let (w, access) = load(state, current, wish_id).await?;
    if !Admin::allows(&access) {
        return Err(AppError::forbidden());
    }
    // The admin decides on the text they read: an edit since then must be read first.
    if w.updated_at != seen {
        return Err(AppError::new(
            ErrorCode::WishStateConflict,
            "心愿内容已更新，请刷新后重新审核",
        ));
    }
    let now = Utc::now();
    let txn = crate::db::begin_write(&state.db).await?;
    if approve {
        change(
            &txn,
            &w,
            Action::Approve,
            vec![
                (wish::Column::PublishedAt, Expr::value(now)),
                (wish::Column::ReviewedBy, Expr::value(current.id())),
            ],
        )
        .await?;
    } else {
        let reason = validate::text("reason", reason.unwrap_or_default(), 200)?;
        change(
            &txn,
            &w,
            Action::Reject,
            vec![
                (wish::Column::ReviewNote, Expr::value(reason)),
                (wish::Column::ReviewedBy, Expr::value(current.id())),
            ],
        )
        .await?;
    }
    let before = w.state.clone();
    let w = reload(&txn, w.id).await?;
    let result = if approve { "已发布" } else { "未通过" };
    tell_parties(&txn, state, &w, Event::WishReviewed, result).await?;
    let kind = if approve {
        AuditKind::WishApproved
    } else {
        AuditKind::WishRejected
    };
    let entry = Entry::new(kind, ObjectType::Wish, w.id)
        .by(current.id())
        .in_community(w.community_id)
        .detail(json!({"before": before, "after": w.state}));
    audit::record(&txn, entry).await?;
    txn.commit().await?;
    Ok(w)
}

/// Claims a published wish, for oneself or for a paired unit one belongs to. Of many claimers
/// at once, the conditional update lets exactly one through; the claim row (unique per wish
/// and round) records it. A unit's claims are counted against its annual quota with the
/// unit's row locked.
pub async fn claim(
    state: &AppState,
    current: &CurrentUser,
    wish_id: i64,
    unit_id: Option<i64>,
) -> AppResult<wish::Model> {
    let (w, access) = load(state, current, wish_id).await?;
    let unit = match unit_id {
        Some(u) => Some(units::for_claim(state, current, u, w.community_id).await?),
        None if crate::auth::access::Member::allows(&access) => None,
        None => return Err(AppError::forbidden()),
    };
    let from = state_of(&w)?;
    transition(from, Action::Claim)?;
    if w.poster_id == current.id() || w.beneficiary_id == Some(current.id()) {
        return Err(AppError::new(
            ErrorCode::WishNotClaimable,
            "不能认领自己发布的心愿",
        ));
    }
    let now = Utc::now();
    if w.due_at <= now {
        return Err(AppError::new(ErrorCode::WishNotClaimable, "该心愿已过期"));
    }
    let deadline = std::cmp::min(
        now + chrono::Duration::days(
            crate::wishes::rules::for_community(state, w.community_id)
                .await?
                .claim_days,
        ),
        w.due_at,
    );
    let round = w.claim_round + 1;
    let txn = crate::db::begin_write(&state.db).await?;
    if let Some(u) = &unit {
        units::reserve(&txn, u).await?;
    }
    change(
        &txn,
        &w,
        Action::Claim,
        vec![
            (wish::Column::ClaimRound, Expr::value(round)),
            (wish::Column::ClaimerId, Expr::value(current.id())),
            (wish::Column::ClaimedAt, Expr::value(now)),
            (wish::Column::ClaimDeadline, Expr::value(deadline)),
            (
                wish::Column::UnitId,
                Expr::value(unit.as_ref().map(|u| u.id)),
            ),
        ],
    )
    .await?;
    wish_claim::ActiveModel {
        wish_id: Set(w.id),
        round: Set(round),
        claimer_id: Set(current.id()),
        status: Set("active".into()),
        created_at: Set(now),
        ended_at: Set(None),
        unit_id: Set(unit.as_ref().map(|u| u.id)),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let w = reload(&txn, w.id).await?;
    tell_parties(&txn, state, &w, Event::WishClaimed, "已被认领").await?;
    txn.commit().await?;
    Ok(w)
}

/// Closes the current claim with `status`.
async fn end_claim(db: &impl ConnectionTrait, w: &wish::Model, status: &str) -> AppResult<()> {
    wish_claim::Entity::update_many()
        .col_expr(wish_claim::Column::Status, Expr::value(status))
        .col_expr(wish_claim::Column::EndedAt, Expr::value(Utc::now()))
        .filter(wish_claim::Column::WishId.eq(w.id))
        .filter(wish_claim::Column::Round.eq(w.claim_round))
        .exec(db)
        .await?;
    Ok(())
}

fn back_on_the_wall() -> Vec<(wish::Column, SimpleExpr)> {
    vec![
        (wish::Column::ClaimerId, Expr::value(Option::<i64>::None)),
        (
            wish::Column::ClaimedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        ),
        (
            wish::Column::ClaimDeadline,
            Expr::value(Option::<DateTime<Utc>>::None),
        ),
        (
            wish::Column::FulfilNote,
            Expr::value(Option::<String>::None),
        ),
        (
            wish::Column::ProofUploadIds,
            Expr::value(Option::<String>::None),
        ),
        (
            wish::Column::FulfilledAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        ),
    ]
}

/// The claimer gives the wish back to the wall.
pub async fn release(
    state: &AppState,
    current: &CurrentUser,
    wish_id: i64,
) -> AppResult<wish::Model> {
    let (w, access) = load(state, current, wish_id).await?;
    if !standing(&w, current, &access).is_claimer {
        return Err(AppError::forbidden());
    }
    let txn = crate::db::begin_write(&state.db).await?;
    change(&txn, &w, Action::Release, back_on_the_wall()).await?;
    end_claim(&txn, &w, "released").await?;
    tell_parties(&txn, state, &w, Event::WishReleased, "已放弃认领").await?;
    let w = reload(&txn, w.id).await?;
    txn.commit().await?;
    Ok(w)
}

/// Releases claims past their deadline (the periodic job). Returns how many.
pub async fn release_overdue(state: &AppState) -> AppResult<u64> {
    let now = Utc::now();
    let overdue = wish::Entity::find()
        .filter(wish::Column::State.eq(WishState::Claimed.as_str()))
        .filter(wish::Column::ClaimDeadline.lte(now))
        .order_by_asc(wish::Column::ClaimDeadline)
        .limit(200)
        .all(&state.db)
        .await?;
    let mut released = 0;
    for w in overdue {
        let txn = crate::db::begin_write(&state.db).await?;
        match change(&txn, &w, Action::Expire, back_on_the_wall()).await {
            Ok(_) => {
                end_claim(&txn, &w, "expired").await?;
                tell_parties(&txn, state, &w, Event::WishReleased, "认领已超时").await?;
                if let Some(claimer) = w.claimer_id {
                    let mut fields = BTreeMap::new();
                    fields.insert("title", w.title.clone());
                    fields.insert("result", "认领已超时".to_owned());
                    fields.insert("time", now.format("%Y-%m-%d %H:%M").to_string());
                    outbox::enqueue(
                        &txn,
                        &state.settings.notifications,
                        Event::WishReleased,
                        claimer,
                        Some(w.community_id),
                        &fields,
                    )
                    .await?;
                }
                txn.commit().await?;
                released += 1;
            }
            // Fulfilled or released in the meantime: nothing to do.
            Err(AppError::Client { .. }) => txn.rollback().await?,
            Err(e) => return Err(e),
        }
    }
    if released > 0 {
        state.reads.walls.clear();
    }
    Ok(released)
}

/// The claimer marks the wish fulfilled, with a note and photos as proof.
pub async fn fulfil(
    state: &AppState,
    current: &CurrentUser,
    wish_id: i64,
    note: &str,
    proof_upload_ids: &[String],
) -> AppResult<wish::Model> {
    let (w, access) = load(state, current, wish_id).await?;
    if !standing(&w, current, &access).is_claimer {
        return Err(AppError::forbidden());
    }
    let note = validate::paragraph("note", note, 500)?;
    if proof_upload_ids.is_empty() || proof_upload_ids.len() > 6 {
        return Err(bad("proof_upload_ids", "请上传 1 到 6 张照片作为凭证"));
    }
    let proof = own_uploads(state, w.community_id, proof_upload_ids, "proof_upload_ids").await?;
    let txn = crate::db::begin_write(&state.db).await?;
    change(
        &txn,
        &w,
        Action::Fulfil,
        vec![
            (wish::Column::FulfilNote, Expr::value(note)),
            (wish::Column::ProofUploadIds, Expr::value(proof)),
            (wish::Column::FulfilledAt, Expr::value(Utc::now())),
        ],
    )
    .await?;
    let w = reload(&txn, w.id).await?;
    tell_parties(&txn, state, &w, Event::WishFulfilled, "请确认").await?;
    txn.commit().await?;
    Ok(w)
}

/// The business key that pays a claim once.
fn award_key(w: &wish::Model) -> String {
    format!("wish:{}:round:{}", w.id, w.claim_round)
}

/// Pays the claimer of a confirmed wish through the earning rules. The key makes a second
/// call (a retry, a second confirmer) pay nothing more.
async fn pay(state: &AppState, w: &wish::Model) -> AppResult<()> {
    let Some(claimer) = w.claimer_id else {
        return Ok(());
    };
    // Beans are spent where one lives: a paired unit's member from elsewhere is credited in
    // the unit's report, not with beans they could not spend.
    let resident = residents::verified_resident(&state.db, w.community_id, claimer)
        .await?
        .is_some();
    if !resident {
        return Ok(());
    }
    earning::award(
        state,
        AwardRequest {
            community_id: w.community_id,
            user_id: claimer,
            event: EarnEvent::WishFulfilled,
            units: 1,
            key: &award_key(w),
            ref_type: Some("wish"),
            ref_id: Some(w.id),
        },
    )
    .await?;
    Ok(())
}

/// Pays the claimer of a wish whose confirmation has committed. The confirmation stands
/// whatever happens here, so a payment that fails now (the database gone a moment, a
/// conflict lost three times) is not the client's failure: it is logged and left to the
/// release job, which pays confirmed wishes left unpaid — once, by the same key.
async fn pay_after_commit(state: &AppState, w: &wish::Model) {
    if let Err(e) = pay(state, w).await {
        tracing::warn!(
            wish_id = w.id,
            error = format!("{e:#}"),
            "payment of a confirmed wish left to the release job"
        );
    }
}

/// The beneficiary, the poster or a grid worker confirms the wish was fulfilled — or disputes
/// it, which sends it to the community admin. The claimer cannot confirm their own claim.
pub async fn confirm(
    state: &AppState,
    current: &CurrentUser,
    wish_id: i64,
    dispute: Option<&str>,
) -> AppResult<wish::Model> {
    let (w, access) = load(state, current, wish_id).await?;
    let s = standing(&w, current, &access);
    if s.is_claimer || w.claimer_id == Some(current.id()) {
        return Err(AppError::new(
            ErrorCode::Forbidden,
            "认领人不能确认自己的认领",
        ));
    }
    if !(s.is_poster || s.is_beneficiary || s.is_staff) {
        return Err(AppError::forbidden());
    }
    // Confirming again (a double tap, a second confirmer) changes nothing and pays nothing.
    if dispute.is_none() && state_of(&w)? == WishState::Confirmed {
        pay_after_commit(state, &w).await;
        return Ok(w);
    }
    let txn = crate::db::begin_write(&state.db).await?;
    match dispute {
        None => {
            let confirmed = change(
                &txn,
                &w,
                Action::Confirm,
                vec![
                    (wish::Column::ConfirmedBy, Expr::value(current.id())),
                    (wish::Column::ConfirmedAt, Expr::value(Utc::now())),
                ],
            )
            .await;
            if let Err(e) = confirmed {
                // Someone confirmed it at the same moment: the same outcome, paid once.
                txn.rollback().await?;
                let now = reload(&state.db, w.id).await?;
                if state_of(&now)? == WishState::Confirmed {
                    pay_after_commit(state, &now).await;
                    return Ok(now);
                }
                return Err(e);
            }
            end_claim(&txn, &w, "confirmed").await?;
        }
        Some(reason) => {
            let reason = validate::text("reason", reason, 200)?;
            change(
                &txn,
                &w,
                Action::Dispute,
                vec![(wish::Column::DisputeReason, Expr::value(reason))],
            )
            .await?;
        }
    }
    let w = reload(&txn, w.id).await?;
    txn.commit().await?;
    if dispute.is_none() {
        pay_after_commit(state, &w).await;
    }
    Ok(w)
}

/// A community admin settles a dispute: done (the claimer is paid) or not (back on the wall).
pub async fn resolve(
    state: &AppState,
    current: &CurrentUser,
    wish_id: i64,
    done: bool,
) -> AppResult<wish::Model> {
    let (w, access) = load(state, current, wish_id).await?;
    if !Admin::allows(&access) {
        return Err(AppError::forbidden());
    }
    let txn = crate::db::begin_write(&state.db).await?;
    if done {
        change(
            &txn,
            &w,
            Action::ResolveDone,
            vec![
                (wish::Column::ConfirmedBy, Expr::value(current.id())),
                (wish::Column::ConfirmedAt, Expr::value(Utc::now())),
            ],
        )
        .await?;
        end_claim(&txn, &w, "confirmed").await?;
    } else {
        change(&txn, &w, Action::ResolveReopen, back_on_the_wall()).await?;
        end_claim(&txn, &w, "rejected").await?;
    }
    let (before, claimer, round) = (w.state.clone(), w.claimer_id, w.claim_round);
    let w = reload(&txn, w.id).await?;
    let entry = Entry::new(AuditKind::WishDisputeResolved, ObjectType::Wish, w.id)
        .by(current.id())
        .in_community(w.community_id)
        .detail(json!({
            "before": before, "after": w.state, "done": done,
            "claimer_id": claimer, "claim_round": round,
        }));
    audit::record(&txn, entry).await?;
    txn.commit().await?;
    if done {
        pay_after_commit(state, &w).await;
    }
    Ok(w)
}

/// The beneficiary (or the poster for them) thanks the claimer (回访反馈), once.
pub async fn thank(
    state: &AppState,
    current: &CurrentUser,
    wish_id: i64,
    note: &str,
) -> AppResult<wish::Model> {
    let (w, access) = load(state, current, wish_id).await?;
    let s = standing(&w, current, &access);
    if !(s.is_poster || s.is_beneficiary) {
        return Err(AppError::forbidden());
    }
    if state_of(&w)? != WishState::Confirmed {
        return Err(AppError::new(
            ErrorCode::WishStateConflict,
            "心愿确认完成后才能留言感谢",
        ));
    }
    let note = validate::paragraph("note", note, 300)?;
    if let Outcome::Hold { .. } = check(state, &current.user, Scene::Comment, "note", &note).await?
    {
        return Err(AppError::new(
            ErrorCode::ContentRisky,
            "留言需要人工审核，请修改后再试",
        ));
    }
    let done = wish::Entity::update_many()
        .col_expr(wish::Column::ThanksNote, Expr::value(note))
        .col_expr(wish::Column::ThanksAt, Expr::value(Utc::now()))
        .filter(wish::Column::Id.eq(w.id))
        .filter(wish::Column::ThanksNote.is_null())
        .exec(&state.db)
        .await?;
    if done.rows_affected != 1 {
        return Err(AppError::new(ErrorCode::WishStateConflict, "已经留过言了"));
    }
    reload(&state.db, w.id).await
}

/// How the wall is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WallOrder {
    Newest,
    SoonestDue,
}

/// One page of a community's wall: wishes in `states`, optionally of one category.
/// Newest pages by id; soonest-due pages by (due_at, id), continuing after the cursor's wish.
pub async fn wall(
    state: &AppState,
    communities: &[i64],
    states: &[WishState],
    category: Option<&str>,
    order: WallOrder,
    page: Keyset,
) -> AppResult<Vec<wish::Model>> {
    let after_due = match (order, page.after) {
        (WallOrder::SoonestDue, Some(after)) => wish::Entity::find_by_id(after)
            .filter(wish::Column::CommunityId.is_in(communities.iter().copied()))
            .one(&state.db)
            .await?
            .map(|w| w.due_at),
        _ => None,
    };
    let mut query = wish::Entity::find()
        .filter(wish::Column::CommunityId.is_in(communities.iter().copied()))
        .filter(wish::Column::State.is_in(states.iter().map(|s| s.as_str())));
    if let Some(c) = category {
        query = query.filter(wish::Column::Category.eq(c));
    }
    match order {
        WallOrder::Newest => {
            if let Some(after) = page.after {
                query = query.filter(wish::Column::Id.lt(after));
            }
            query = query.order_by_desc(wish::Column::Id);
        }
        WallOrder::SoonestDue => {
            if let (Some(after), Some(due)) = (page.after, after_due) {
                query = query.filter(
                    wish::Column::DueAt
                        .gt(due)
                        .or(wish::Column::DueAt.eq(due).and(wish::Column::Id.gt(after))),
                );
            }
            query = query
                .order_by_asc(wish::Column::DueAt)
                .order_by_asc(wish::Column::Id);
        }
    }
    Ok(query.limit(page.limit + 1).all(&state.db).await?)
}

/// The caller's own wishes: posted by them, or for them.
pub async fn mine(
    state: &AppState,
    current: &CurrentUser,
    page: Keyset,
) -> AppResult<Vec<wish::Model>> {
    let mut query = wish::Entity::find().filter(
        wish::Column::PosterId
            .eq(current.id())
            .or(wish::Column::BeneficiaryId.eq(current.id())),
    );
    if let Some(after) = page.after {
        query = query.filter(wish::Column::Id.lt(after));
    }
    Ok(query
        .order_by_desc(wish::Column::Id)
        .limit(page.limit + 1)
        .all(&state.db)
        .await?)
}

/// The caller's claims, newest first: their record as 圆梦使者.
pub async fn my_claims(
    state: &AppState,
    current: &CurrentUser,
    page: Keyset,
) -> AppResult<Vec<(wish_claim::Model, Option<wish::Model>)>> {
    let mut query =
        wish_claim::Entity::find().filter(wish_claim::Column::ClaimerId.eq(current.id()));
    if let Some(before) = page.after {
        query = query.filter(wish_claim::Column::Id.lt(before));
    }
    let claims = query
        .order_by_desc(wish_claim::Column::Id)
        .limit(page.limit + 1)
        .all(&state.db)
        .await?;
    let wishes = wish::Entity::find()
        .filter(wish::Column::Id.is_in(claims.iter().map(|c| c.wish_id)))
        .all(&state.db)
        .await?;
    Ok(claims
        .into_iter()
        .map(|c| {
            let w = wishes.iter().find(|w| w.id == c.wish_id).cloned();
            (c, w)
        })
        .collect())
}

/// The wish's share code (a mini-program code of its public page), made once.
pub async fn share_code(
    state: &AppState,
    current: &CurrentUser,
    wish_id: i64,
) -> AppResult<crate::entities::qr_code::Model> {
    let (w, _) = load(state, current, wish_id).await?;
    if state_of(&w)? != WishState::Published {
        return Err(AppError::new(
            ErrorCode::WishStateConflict,
            "只有墙上待认领的心愿可以分享",
        ));
    }
    crate::codes::service::for_wish(state, current.id(), w.community_id, w.id).await
}

/// A wish in the export of one's own data (PIPL): what they posted, or was posted for them.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct MyWishData {
    pub wish_id: i64,
    pub community_id: i64,
    /// Posted by this user (or for them, by a grid worker).
    pub posted_by_me: bool,
    pub title: String,
    pub description: String,
    pub beneficiary_name: Option<String>,
    pub contact_phone: Option<String>,
    pub address: Option<String>,
    pub state: String,
    pub thanks_note: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The user's wishes, decrypted for them, for the export of their data.
pub async fn export_of(state: &AppState, user_id: i64) -> AppResult<Vec<MyWishData>> {
    let rows = wish::Entity::find()
        .filter(
            wish::Column::PosterId
                .eq(user_id)
                .or(wish::Column::BeneficiaryId.eq(user_id)),
        )
        .order_by_asc(wish::Column::Id)
        .all(&state.db)
        .await?;
    let mut out = Vec::new();
    for w in rows {
        // Someone else's details, entered by this user as a grid worker, are not theirs.
        let theirs = w.beneficiary_id == Some(user_id);
        out.push(MyWishData {
            wish_id: w.id,
            community_id: w.community_id,
            posted_by_me: w.poster_id == user_id,
            beneficiary_name: if theirs {
                reveal(state, Some(&w.beneficiary_name_enc))?
            } else {
                None
            },
            contact_phone: if theirs {
                reveal(state, w.contact_phone_enc.as_ref())?
            } else {
                None
            },
            address: if theirs {
                reveal(state, w.address_enc.as_ref())?
            } else {
                None
            },
            title: w.title,
            description: w.description,
            state: w.state,
            thanks_note: w.thanks_note,
            created_at: w.created_at,
        });
    }
    Ok(out)
}

/// When a resident erases their account: wishes for them lose the personal details (name,
/// phone, address, photos, their thank-you note); those not yet claimed are withdrawn, and
/// claimed ones stay for the claimer and staff to conclude without the contact details.
pub async fn forget_beneficiary(
    db: &impl ConnectionTrait,
    crypto: &crate::crypto::Crypto,
    user_id: i64,
) -> AppResult<()> {
    let now = Utc::now();
    let gone = crypto.encrypt("已注销用户").map_err(AppError::Internal)?;
    wish::Entity::update_many()
        .col_expr(
            wish::Column::State,
            Expr::value(WishState::Withdrawn.as_str()),
        )
        .col_expr(wish::Column::UpdatedAt, Expr::value(now))
        .filter(wish::Column::BeneficiaryId.eq(user_id))
        .filter(wish::Column::State.is_in([
            WishState::PendingReview.as_str(),
            WishState::Published.as_str(),
            WishState::Rejected.as_str(),
        ]))
        .exec(db)
        .await?;
    wish::Entity::update_many()
        .col_expr(wish::Column::BeneficiaryNameEnc, Expr::value(gone))
        .col_expr(wish::Column::BeneficiaryMasked, Expr::value("**"))
        .col_expr(
            wish::Column::ContactPhoneEnc,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            wish::Column::AddressEnc,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            wish::Column::PhotoUploadIds,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            wish::Column::ThanksNote,
            Expr::value(Option::<String>::None),
        )
        .col_expr(wish::Column::UpdatedAt, Expr::value(now))
        .filter(wish::Column::BeneficiaryId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Decrypts a stored personal field for someone entitled to it.
pub fn reveal(state: &AppState, stored: Option<&String>) -> AppResult<Option<String>> {
    stored
        .map(|s| state.crypto.decrypt(s).map_err(AppError::Internal))
        .transpose()
}

/// Pays confirmed wishes whose payment did not happen (the process stopped between the
/// confirmation's commit and the award): confirmed in the last week, no award recorded for
/// them. The award's key makes this safe beside a confirmation paying at the same moment.
pub async fn pay_missed(state: &AppState) -> AppResult<u64> {
    let since = Utc::now() - chrono::Duration::days(7);
    let confirmed = wish::Entity::find()
        .filter(wish::Column::State.eq(WishState::Confirmed.as_str()))
        .filter(wish::Column::ConfirmedAt.gte(since))
        .filter(wish::Column::ClaimerId.is_not_null())
        .order_by_asc(wish::Column::ConfirmedAt)
        .limit(500)
        .all(&state.db)
        .await?;
    let awarded: Vec<String> = crate::entities::earning_award::Entity::find()
        .filter(crate::entities::earning_award::Column::RefType.eq("wish"))
        .filter(crate::entities::earning_award::Column::RefId.is_in(confirmed.iter().map(|w| w.id)))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|a| a.idempotency_key)
        .collect();
    let mut paid = 0;
    for w in confirmed {
        if !awarded.contains(&award_key(&w)) {
            pay(state, &w).await?;
            paid += 1;
        }
    }
    Ok(paid)
}

/// The periodic job that releases overdue claims and pays confirmed wishes a stopped process
/// left unpaid (every process may run it: releases are conditional updates, awards keyed).
pub async fn run_release_job(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let interval = std::time::Duration::from_secs(std::cmp::max(
        state.settings.wishes.release_interval_secs,
        10,
    ));
    loop {
        match release_overdue(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(released = n, "overdue wish claims released"),
            Err(e) => tracing::warn!(error = ?e, "wish claim release pass failed"),
        }
        if let Err(e) = pay_missed(&state).await {
            tracing::warn!(error = ?e, "paying confirmed wishes failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_masked_to_the_family_name() {
        assert_eq!(mask_name("王小明"), "王**");
        assert_eq!(mask_name("欧阳娜娜"), "欧**");
        assert_eq!(mask_name(""), "**");
    }
}
