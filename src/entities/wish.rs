use sea_orm::entity::prelude::*;

/// 微心愿: a small, concrete wish of a resident in difficulty.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "wishes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub community_id: i64,
    /// Who entered the wish: the resident, or a grid worker / building leader (代录).
    pub poster_id: i64,
    /// The beneficiary's own account, when they posted it themselves.
    pub beneficiary_id: Option<i64>,
    /// The beneficiary's name, encrypted.
    pub beneficiary_name_enc: String,
    /// What the wall shows of the beneficiary: 王**.
    pub beneficiary_masked: String,
    /// How the claimer reaches the beneficiary, encrypted.
    pub contact_phone_enc: Option<String>,
    pub address_enc: Option<String>,
    /// Posted on the beneficiary's behalf, with their consent recorded at `consent_at`.
    pub proxy: bool,
    pub consent_at: Option<DateTimeUtc>,
    pub title: String,
    pub description: String,
    pub category: String,
    /// Estimated cost in yuan.
    pub estimated_cost: i32,
    /// 低保户, 残疾人, 独居老人, 留守儿童, 外来务工人员 or 其他.
    pub beneficiary_group: String,
    /// The latest moment the wish is still useful.
    pub due_at: DateTimeUtc,
    /// JSON array of upload ids.
    pub photo_upload_ids: Option<String>,
    /// pending_review, published, claimed, fulfilled, confirmed, disputed, rejected or
    /// withdrawn.
    pub state: String,
    pub review_note: Option<String>,
    /// Set when the content check asked for a person to look (shown to reviewers).
    pub check_label: Option<String>,
    pub reviewed_by: Option<i64>,
    pub claim_round: i32,
    pub claimer_id: Option<i64>,
    pub claimed_at: Option<DateTimeUtc>,
    pub claim_deadline: Option<DateTimeUtc>,
    pub fulfil_note: Option<String>,
    pub proof_upload_ids: Option<String>,
    pub fulfilled_at: Option<DateTimeUtc>,
    pub confirmed_by: Option<i64>,
    pub confirmed_at: Option<DateTimeUtc>,
    pub dispute_reason: Option<String>,
    pub thanks_note: Option<String>,
    pub thanks_at: Option<DateTimeUtc>,
    pub published_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The paired unit the current claim was made for.
    pub unit_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
