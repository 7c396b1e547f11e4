use sea_orm::entity::prelude::*;

/// 结对单位: a work unit whose members claim wishes on its behalf.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "pair_units")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The street that paired it; it serves communities of this street.
    pub street_id: i64,
    pub name: String,
    pub contact: String,
    /// Wishes it takes on per calendar year.
    pub annual_quota: i32,
    pub created_by: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
