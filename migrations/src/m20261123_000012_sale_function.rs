//! On PostgreSQL, a counter sale runs as one call to `linli_sale` (`sql/sale_v1.sql`): one
//! round trip to the database instead of one per statement. SQLite has no stored functions;
//! there the server runs the same steps as separate statements.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        m.get_connection()
            .execute_unprepared(include_str!("sql/sale_v1.sql"))
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        m.get_connection()
            .execute_unprepared(
                "DROP FUNCTION IF EXISTS linli_sale(bigint, text, bigint, bigint, bigint, bigint, \
                 text, text, bigint, text, timestamptz, integer); \
                 DROP FUNCTION IF EXISTS linli_account(bigint, text, bigint, integer, timestamptz);",
            )
            .await?;
        Ok(())
    }
}
