use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "moderation_items")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// None for platform-level items, such as nicknames.
    pub community_id: Option<i64>,
    /// What is held: nickname (later wish, topic, thanks).
    pub kind: String,
    /// The row the content belongs to (for a nickname, the user).
    pub target_id: i64,
    pub author_id: i64,
    pub content: String,
    /// Why it is held: wechat_review, wechat_unreachable or local_wordlist.
    pub source: String,
    pub label: Option<String>,
    /// pending, approved, rejected or superseded.
    pub status: String,
    pub reviewed_by: Option<i64>,
    pub reviewed_at: Option<DateTimeUtc>,
    pub reason: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
