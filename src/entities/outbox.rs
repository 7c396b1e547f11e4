use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub community_id: Option<i64>,
    pub user_id: i64,
    pub event: String,
    pub template_id: Option<String>,
    pub page: Option<String>,
    /// The template data as WeChat expects it: {"thing1": {"value": "…"}, …}.
    pub data: String,
    /// pending, sending, sent, failed or skipped.
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    pub locked_until: Option<DateTimeUtc>,
    pub claim_token: Option<String>,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
