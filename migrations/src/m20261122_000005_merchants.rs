//! Merchants that accept 金豆: their staff (joined by invitation), offers with stock and
//! limits, residents' one-minute pay codes, and redemptions at the counter.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Merchants {
    Table,
    Id,
    CommunityId,
    Name,
    Address,
    Category,
    Contact,
    Status,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum MerchantInvites {
    Table,
    Id,
    MerchantId,
    CodeHash,
    ExpiresAt,
    UsedBy,
    UsedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Offers {
    Table,
    Id,
    MerchantId,
    Name,
    Price,
    Stock,
    PerResidentLimit,
    ValidFrom,
    ValidUntil,
    PhotoUploadId,
    Active,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PayCodes {
    Table,
    Id,
    CodeHash,
    UserId,
    CommunityId,
    ExpiresAt,
    UsedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Redemptions {
    Table,
    Id,
    MerchantId,
    OfferId,
    UserId,
    CommunityId,
    Amount,
    StaffId,
    TransactionId,
    Status,
    ReversalTransactionId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Merchants::Table)
                .col(big_pk_auto(Merchants::Id))
                .col(big_integer(Merchants::CommunityId))
                .col(string_len(Merchants::Name, 64))
                .col(string_len(Merchants::Address, 200))
                .col(string_len(Merchants::Category, 32))
                .col(string_len(Merchants::Contact, 64))
                .col(string_len(Merchants::Status, 16))
                .col(big_integer(Merchants::CreatedBy))
                .col(timestamp_with_time_zone(Merchants::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_merchants_community")
                .table(Merchants::Table)
                .col(Merchants::CommunityId)
                .col(Merchants::Id)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(MerchantInvites::Table)
                .col(big_pk_auto(MerchantInvites::Id))
                .col(big_integer(MerchantInvites::MerchantId))
                .col(string_len(MerchantInvites::CodeHash, 64))
                .col(timestamp_with_time_zone(MerchantInvites::ExpiresAt))
                .col(big_integer_null(MerchantInvites::UsedBy))
                .col(timestamp_with_time_zone_null(MerchantInvites::UsedAt))
                .col(timestamp_with_time_zone(MerchantInvites::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_merchant_invites_code")
                .table(MerchantInvites::Table)
                .col(MerchantInvites::CodeHash)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Offers::Table)
                .col(big_pk_auto(Offers::Id))
                .col(big_integer(Offers::MerchantId))
                .col(string_len(Offers::Name, 64))
                .col(big_integer(Offers::Price))
                .col(big_integer_null(Offers::Stock))
                .col(big_integer_null(Offers::PerResidentLimit))
                .col(timestamp_with_time_zone_null(Offers::ValidFrom))
                .col(timestamp_with_time_zone_null(Offers::ValidUntil))
                .col(string_len_null(Offers::PhotoUploadId, 36))
                .col(boolean(Offers::Active).default(true))
                .col(timestamp_with_time_zone(Offers::CreatedAt))
                .check(
                    Expr::col(Offers::Stock)
                        .is_null()
                        .or(Expr::col(Offers::Stock).gte(0)),
                )
                .check(Expr::col(Offers::Price).gt(0))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_offers_merchant")
                .table(Offers::Table)
                .col(Offers::MerchantId)
                .col(Offers::Id)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(PayCodes::Table)
                .col(big_pk_auto(PayCodes::Id))
                .col(string_len(PayCodes::CodeHash, 64))
                .col(big_integer(PayCodes::UserId))
                .col(big_integer(PayCodes::CommunityId))
                .col(timestamp_with_time_zone(PayCodes::ExpiresAt))
                .col(timestamp_with_time_zone_null(PayCodes::UsedAt))
                .col(timestamp_with_time_zone(PayCodes::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_pay_codes_code")
                .table(PayCodes::Table)
                .col(PayCodes::CodeHash)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Redemptions::Table)
                .col(big_pk_auto(Redemptions::Id))
                .col(big_integer(Redemptions::MerchantId))
                .col(big_integer_null(Redemptions::OfferId))
                .col(big_integer(Redemptions::UserId))
                .col(big_integer(Redemptions::CommunityId))
                .col(big_integer(Redemptions::Amount))
                .col(big_integer(Redemptions::StaffId))
                .col(big_integer(Redemptions::TransactionId))
                .col(string_len(Redemptions::Status, 16))
                .col(big_integer_null(Redemptions::ReversalTransactionId))
                .col(timestamp_with_time_zone(Redemptions::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_redemptions_transaction")
                .table(Redemptions::Table)
                .col(Redemptions::TransactionId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_redemptions_offer_user")
                .table(Redemptions::Table)
                .col(Redemptions::OfferId)
                .col(Redemptions::UserId)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_redemptions_merchant_time")
                .table(Redemptions::Table)
                .col(Redemptions::MerchantId)
                .col(Redemptions::CreatedAt)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Redemptions::Table.into_iden(),
            PayCodes::Table.into_iden(),
            Offers::Table.into_iden(),
            MerchantInvites::Table.into_iden(),
            Merchants::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
