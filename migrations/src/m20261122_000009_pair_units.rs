//! Paired units (结对单位): work units whose members claim wishes on the unit's behalf, each
//! with an annual quota, serving one or several communities of a street.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PairUnits {
    Table,
    Id,
    StreetId,
    Name,
    Contact,
    AnnualQuota,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PairUnitCommunities {
    Table,
    UnitId,
    CommunityId,
}

#[derive(DeriveIden)]
enum PairUnitMembers {
    Table,
    UnitId,
    UserId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Wishes {
    Table,
    UnitId,
}

#[derive(DeriveIden)]
enum WishClaims {
    Table,
    UnitId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(PairUnits::Table)
                .col(big_pk_auto(PairUnits::Id))
                .col(big_integer(PairUnits::StreetId))
                .col(string_len(PairUnits::Name, 64))
                .col(string_len(PairUnits::Contact, 64))
                .col(integer(PairUnits::AnnualQuota))
                .col(big_integer(PairUnits::CreatedBy))
                .col(timestamp_with_time_zone(PairUnits::CreatedAt))
                .check(Expr::col(PairUnits::AnnualQuota).gte(0))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(PairUnitCommunities::Table)
                .col(big_integer(PairUnitCommunities::UnitId))
                .col(big_integer(PairUnitCommunities::CommunityId))
                .primary_key(
                    Index::create()
                        .col(PairUnitCommunities::UnitId)
                        .col(PairUnitCommunities::CommunityId),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(PairUnitMembers::Table)
                .col(big_integer(PairUnitMembers::UnitId))
                .col(big_integer(PairUnitMembers::UserId))
                .col(timestamp_with_time_zone(PairUnitMembers::CreatedAt))
                .primary_key(
                    Index::create()
                        .col(PairUnitMembers::UnitId)
                        .col(PairUnitMembers::UserId),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_pair_unit_members_user")
                .table(PairUnitMembers::Table)
                .col(PairUnitMembers::UserId)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Wishes::Table)
                .add_column(big_integer_null(Wishes::UnitId))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(WishClaims::Table)
                .add_column(big_integer_null(WishClaims::UnitId))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_wish_claims_unit")
                .table(WishClaims::Table)
                .col(WishClaims::UnitId)
                .col(WishClaims::CreatedAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_wish_claims_unit")
                .table(WishClaims::Table)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(WishClaims::Table)
                .drop_column(WishClaims::UnitId)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Wishes::Table)
                .drop_column(Wishes::UnitId)
                .to_owned(),
        )
        .await?;
        for table in [
            PairUnitMembers::Table.into_iden(),
            PairUnitCommunities::Table.into_iden(),
            PairUnits::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
