//! The one audit trail of staff actions (`audit_entries`): who did what, when, to which
//! object, with the before and after that matter. Rows are written in the transaction of the
//! action they record and are never changed: triggers refuse UPDATE and DELETE (and, on
//! PostgreSQL, TRUNCATE), whoever connects.
//!
//! `community_id` is the community the action belongs to; `street_id` its street — the
//! community's for a community's action, the street's own for what a street does without a
//! community (a street admin granted, a paired unit). Both are empty for platform actions.
//! Entries hold ids and states only, never names or phone numbers, so erasing a user never
//! needs to edit one.

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEntries {
    Table,
    Id,
    CommunityId,
    StreetId,
    ActorUserId,
    Kind,
    ObjectType,
    ObjectId,
    Detail,
    CreatedAt,
}

const SQLITE_TRIGGERS: [&str; 2] = [
    "CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries \
     BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END",
    "CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries \
     BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END",
];

const POSTGRES_TRIGGERS: &str = "
CREATE FUNCTION linli_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit entries are append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION linli_audit_append_only();
CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
    FOR EACH STATEMENT EXECUTE FUNCTION linli_audit_append_only();
";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(AuditEntries::Table)
                .col(big_pk_auto(AuditEntries::Id))
                .col(big_integer_null(AuditEntries::CommunityId))
                .col(big_integer_null(AuditEntries::StreetId))
                // Empty for the operator at the command line (`linli admin grant`).
                .col(big_integer_null(AuditEntries::ActorUserId))
                .col(string_len(AuditEntries::Kind, 64))
                .col(string_len(AuditEntries::ObjectType, 32))
                .col(big_integer(AuditEntries::ObjectId))
                .col(text(AuditEntries::Detail))
                .col(timestamp_with_time_zone(AuditEntries::CreatedAt))
                .to_owned(),
        )
        .await?;
        // The two trails, each read newest first.
        for (name, column) in [
            ("idx_audit_community", AuditEntries::CommunityId),
            ("idx_audit_street", AuditEntries::StreetId),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(AuditEntries::Table)
                    .col(column)
                    .col((AuditEntries::Id, IndexOrder::Desc))
                    .to_owned(),
            )
            .await?;
        }
        let db = m.get_connection();
        match m.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(POSTGRES_TRIGGERS).await?;
            }
            _ => {
                for sql in SQLITE_TRIGGERS {
                    db.execute_unprepared(sql).await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Dropping the table drops its triggers; the function is PostgreSQL's own object.
        m.drop_table(Table::drop().table(AuditEntries::Table).to_owned())
            .await?;
        if m.get_database_backend() == DbBackend::Postgres {
            m.get_connection()
                .execute_unprepared("DROP FUNCTION IF EXISTS linli_audit_append_only()")
                .await?;
        }
        Ok(())
    }
}
