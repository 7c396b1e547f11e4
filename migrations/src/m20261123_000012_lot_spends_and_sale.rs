//! Which lots each spend took (`bean_lot_spends`), so that reversing a spend puts the beans
//! back into the lots they came from, with their own expiry — not into a fresh lot that would
//! expire later.
//!
//! And on PostgreSQL, a counter sale as one call to `linli_sale` (`sql/sale_v1.sql`): one
//! round trip to the database instead of one per statement. SQLite has no stored functions;
//! there the server runs the same steps as separate statements.

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BeanLotSpends {
    Table,
    TransactionId,
    LotId,
    Amount,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Written only by the ledger, in the database transaction of the spend it records;
        // read by the one reversal a transaction can have.
        m.create_table(
            Table::create()
                .table(BeanLotSpends::Table)
                .col(big_integer(BeanLotSpends::TransactionId))
                .col(big_integer(BeanLotSpends::LotId))
                .col(
                    big_integer(BeanLotSpends::Amount)
                        .check(Expr::col(BeanLotSpends::Amount).gt(0)),
                )
                .primary_key(
                    Index::create()
                        .col(BeanLotSpends::TransactionId)
                        .col(BeanLotSpends::LotId),
                )
                .to_owned(),
        )
        .await?;
        if m.get_database_backend() == DbBackend::Postgres {
            m.get_connection()
                .execute_unprepared(include_str!("sql/sale_v1.sql"))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == DbBackend::Postgres {
            m.get_connection()
                .execute_unprepared(
                    "DROP FUNCTION IF EXISTS linli_sale(bigint, text, bigint, bigint, bigint, \
                     bigint, text, text, bigint, text, timestamptz, integer); \
                     DROP FUNCTION IF EXISTS linli_account(bigint, text, bigint, integer, \
                     timestamptz);",
                )
                .await?;
        }
        m.drop_table(Table::drop().table(BeanLotSpends::Table).to_owned())
            .await
    }
}
