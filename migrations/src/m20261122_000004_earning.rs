//! Earning rules per community (beans per event or per service hour, with daily and monthly
//! caps per person) and the record of every award, including what a cap held back.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EarningRules {
    Table,
    Id,
    CommunityId,
    EventKind,
    BeansPerUnit,
    DailyCap,
    MonthlyCap,
    UpdatedBy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum EarningAwards {
    Table,
    Id,
    CommunityId,
    UserId,
    EventKind,
    Units,
    Requested,
    Granted,
    IdempotencyKey,
    TransactionId,
    RefType,
    RefId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(EarningRules::Table)
                .col(big_pk_auto(EarningRules::Id))
                .col(big_integer(EarningRules::CommunityId))
                .col(string_len(EarningRules::EventKind, 32))
                .col(big_integer(EarningRules::BeansPerUnit))
                .col(big_integer_null(EarningRules::DailyCap))
                .col(big_integer_null(EarningRules::MonthlyCap))
                .col(big_integer_null(EarningRules::UpdatedBy))
                .col(timestamp_with_time_zone(EarningRules::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_earning_rules_kind")
                .table(EarningRules::Table)
                .col(EarningRules::CommunityId)
                .col(EarningRules::EventKind)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(EarningAwards::Table)
                .col(big_pk_auto(EarningAwards::Id))
                .col(big_integer(EarningAwards::CommunityId))
                .col(big_integer(EarningAwards::UserId))
                .col(string_len(EarningAwards::EventKind, 32))
                .col(big_integer(EarningAwards::Units))
                .col(big_integer(EarningAwards::Requested))
                .col(big_integer(EarningAwards::Granted))
                .col(string_len(EarningAwards::IdempotencyKey, 200))
                .col(big_integer_null(EarningAwards::TransactionId))
                .col(string_len_null(EarningAwards::RefType, 32))
                .col(big_integer_null(EarningAwards::RefId))
                .col(timestamp_with_time_zone(EarningAwards::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_earning_awards_key")
                .table(EarningAwards::Table)
                .col(EarningAwards::CommunityId)
                .col(EarningAwards::IdempotencyKey)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_earning_awards_user_time")
                .table(EarningAwards::Table)
                .col(EarningAwards::CommunityId)
                .col(EarningAwards::UserId)
                .col(EarningAwards::CreatedAt)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(EarningAwards::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(EarningRules::Table).to_owned())
            .await
    }
}
