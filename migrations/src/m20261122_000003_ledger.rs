//! The 金豆 ledger: accounts with stored balances, transactions of postings that sum to zero,
//! and the lots beans are earned in (for expiry, oldest first). Postings are only ever
//! inserted; balances are changed in the same database transaction as the postings.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LedgerAccounts {
    Table,
    Id,
    CommunityId,
    Kind,
    OwnerId,
    Shard,
    Balance,
    CreatedAt,
}

#[derive(DeriveIden)]
enum LedgerTransactions {
    Table,
    Id,
    CommunityId,
    Kind,
    IdempotencyKey,
    RequestHash,
    ReversesId,
    Reason,
    RefType,
    RefId,
    CreatedBy,
    Response,
    CreatedAt,
}

#[derive(DeriveIden)]
enum LedgerPostings {
    Table,
    Id,
    TransactionId,
    AccountId,
    Amount,
    CreatedAt,
}

#[derive(DeriveIden)]
enum BeanLots {
    Table,
    Id,
    AccountId,
    TransactionId,
    Amount,
    Remaining,
    ExpiresAt,
    NotifiedAt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // A merchant's till is split into shards (same kind and owner, shard 0..15): every sale
        // credits one shard, so concurrent sales do not queue on one row's lock through each
        // commit. Wallets and merchant accounts never go below zero: the database refuses it even if
        // a bug in the code tried. Issuing, settlement and expiry accounts are counterparts.
        m.create_table(
            Table::create()
                .table(LedgerAccounts::Table)
                .col(big_pk_auto(LedgerAccounts::Id))
                .col(big_integer(LedgerAccounts::CommunityId))
                .col(string_len(LedgerAccounts::Kind, 16))
                .col(big_integer(LedgerAccounts::OwnerId))
                .col(integer(LedgerAccounts::Shard).default(0))
                .col(big_integer(LedgerAccounts::Balance).default(0))
                .col(timestamp_with_time_zone(LedgerAccounts::CreatedAt))
                .check(
                    Expr::col(LedgerAccounts::Kind)
                        .is_not_in(["wallet", "merchant"])
                        .or(Expr::col(LedgerAccounts::Balance).gte(0)),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_ledger_accounts_owner")
                .table(LedgerAccounts::Table)
                .col(LedgerAccounts::CommunityId)
                .col(LedgerAccounts::Kind)
                .col(LedgerAccounts::OwnerId)
                .col(LedgerAccounts::Shard)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(LedgerTransactions::Table)
                .col(big_pk_auto(LedgerTransactions::Id))
                .col(big_integer(LedgerTransactions::CommunityId))
                .col(string_len(LedgerTransactions::Kind, 32))
                .col(string_len(LedgerTransactions::IdempotencyKey, 200))
                .col(string_len(LedgerTransactions::RequestHash, 64))
                .col(big_integer_null(LedgerTransactions::ReversesId))
                .col(string_len(LedgerTransactions::Reason, 200))
                .col(string_len_null(LedgerTransactions::RefType, 32))
                .col(big_integer_null(LedgerTransactions::RefId))
                .col(big_integer_null(LedgerTransactions::CreatedBy))
                .col(text_null(LedgerTransactions::Response))
                .col(timestamp_with_time_zone(LedgerTransactions::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_ledger_transactions_key")
                .table(LedgerTransactions::Table)
                .col(LedgerTransactions::CommunityId)
                .col(LedgerTransactions::IdempotencyKey)
                .unique()
                .to_owned(),
        )
        .await?;
        // A transaction is reversed at most once.
        m.create_index(
            Index::create()
                .name("ux_ledger_transactions_reverses")
                .table(LedgerTransactions::Table)
                .col(LedgerTransactions::ReversesId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_ledger_transactions_community_kind")
                .table(LedgerTransactions::Table)
                .col(LedgerTransactions::CommunityId)
                .col(LedgerTransactions::Kind)
                .col(LedgerTransactions::Id)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(LedgerPostings::Table)
                .col(big_pk_auto(LedgerPostings::Id))
                .col(big_integer(LedgerPostings::TransactionId))
                .col(big_integer(LedgerPostings::AccountId))
                .col(big_integer(LedgerPostings::Amount))
                .col(timestamp_with_time_zone(LedgerPostings::CreatedAt))
                .check(Expr::col(LedgerPostings::Amount).ne(0))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_postings_transaction")
                        .from(LedgerPostings::Table, LedgerPostings::TransactionId)
                        .to(LedgerTransactions::Table, LedgerTransactions::Id),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_postings_account")
                        .from(LedgerPostings::Table, LedgerPostings::AccountId)
                        .to(LedgerAccounts::Table, LedgerAccounts::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_ledger_postings_account_id")
                .table(LedgerPostings::Table)
                .col(LedgerPostings::AccountId)
                .col(LedgerPostings::Id)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_ledger_postings_transaction")
                .table(LedgerPostings::Table)
                .col(LedgerPostings::TransactionId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(BeanLots::Table)
                .col(big_pk_auto(BeanLots::Id))
                .col(big_integer(BeanLots::AccountId))
                .col(big_integer(BeanLots::TransactionId))
                .col(big_integer(BeanLots::Amount))
                .col(big_integer(BeanLots::Remaining))
                .col(timestamp_with_time_zone(BeanLots::ExpiresAt))
                .col(timestamp_with_time_zone_null(BeanLots::NotifiedAt))
                .col(timestamp_with_time_zone(BeanLots::CreatedAt))
                .check(
                    Expr::col(BeanLots::Remaining)
                        .gte(0)
                        .and(Expr::col(BeanLots::Remaining).lte(Expr::col(BeanLots::Amount))),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_bean_lots_expiry")
                .table(BeanLots::Table)
                .col(BeanLots::ExpiresAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_bean_lots_account_expiry")
                .table(BeanLots::Table)
                .col(BeanLots::AccountId)
                .col(BeanLots::ExpiresAt)
                .col(BeanLots::Id)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            BeanLots::Table.into_iden(),
            LedgerPostings::Table.into_iden(),
            LedgerTransactions::Table.into_iden(),
            LedgerAccounts::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
