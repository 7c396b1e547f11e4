use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "qr_codes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The short random id carried in the mini-program code (unique).
    pub scene: String,
    pub purpose: String,
    pub community_id: i64,
    pub target_id: i64,
    pub page: String,
    pub expires_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    /// Where the generated image is kept, once made.
    pub image_key: Option<String>,
    pub image_type: Option<String>,
    pub created_by: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
