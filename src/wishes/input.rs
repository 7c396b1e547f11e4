//! Checking what a poster sends — the text, the facts, who the wish is for and its photos —
//! refused field by field before anything is stored; and the encryption of the beneficiary's
//! details on their way into the row.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::auth::access::CurrentUser;
use crate::entities::upload;
use crate::error::{AppError, AppResult};
use crate::moderation::check::{Outcome, Scene, check};
use crate::state::AppState;
use crate::validate;
use crate::wishes::rules::WishRules;

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
pub(super) struct Checked {
    pub title: String,
    pub description: String,
    pub category: String,
    pub estimated_cost: i32,
    pub group: String,
    pub name: String,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub photos: Option<String>,
    pub check_label: Option<String>,
}

pub(super) fn bad(field: &str, message: &str) -> AppError {
    AppError::validation(field, message)
}

/// Checks a wish as posted or edited, in the order a poster reads the form: its text and
/// facts, its photos, who it is for, then the content check of its text.
pub(super) async fn check_input(
    state: &AppState,
    author: &CurrentUser,
    community_id: i64,
    input: &WishInput<'_>,
) -> AppResult<Checked> {
    let rules = crate::wishes::rules::for_community(state, community_id).await?;
    let title = validate::text("title", input.title, 40)?;
    let description = validate::paragraph("description", input.description, 500)?;
    let category = validate::text("category", input.category, 16)?;
    check_facts(&rules, state.settings.wishes.max_due_days, &category, input)?;
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
    let (name, phone, address) = who_for(input)?;
    let text = format!("{title}\n{description}");
    let check_label = content_label(state, author, &text).await?;
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

/// The community's rules on category and cost, the known groups, and a due date within reach.
fn check_facts(
    rules: &WishRules,
    max_due_days: i64,
    category: &str,
    input: &WishInput<'_>,
) -> AppResult<()> {
    if !rules.categories.iter().any(|c| c == category) {
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
    Ok(())
}

/// The beneficiary's name, phone and address: theirs when posting for themselves, or those
/// a grid worker entered with the beneficiary's consent (代录).
fn who_for(input: &WishInput<'_>) -> AppResult<(String, Option<String>, Option<String>)> {
    match &input.on_behalf {
        Some(b) => {
            if !b.consent {
                return Err(bad("on_behalf.consent", "代录须征得本人同意"));
            }
            Ok((
                validate::text("on_behalf.name", b.name, 20)?,
                phone("on_behalf.phone", b.phone)?,
                validate::optional_text("on_behalf.address", b.address, 100)?,
            ))
        }
        None => Ok((
            validate::text(
                "beneficiary_name",
                input.beneficiary_name.unwrap_or_default(),
                20,
            )?,
            phone("contact_phone", input.contact_phone)?,
            validate::optional_text("address", input.address, 100)?,
        )),
    }
}

/// What the content check said, kept with the wish for the reviewer: nothing when it may be
/// published, otherwise its source and label.
async fn content_label(
    state: &AppState,
    author: &CurrentUser,
    text: &str,
) -> AppResult<Option<String>> {
    Ok(
        match check(state, &author.user, Scene::Forum, "description", text).await? {
            Outcome::Publish => None,
            Outcome::Hold { source, label } => Some(
                format!("{source}:{}", label.unwrap_or_default())
                    .chars()
                    .take(64)
                    .collect(),
            ),
        },
    )
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
pub(super) async fn own_uploads(
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
    crate::json_text::write(&ids).map(Some)
}

pub(super) fn encrypt(state: &AppState, value: &str) -> AppResult<String> {
    state.crypto.encrypt(value).map_err(AppError::Internal)
}

pub(super) fn encrypt_opt(state: &AppState, value: Option<&String>) -> AppResult<Option<String>> {
    value.map(|v| encrypt(state, v)).transpose()
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
