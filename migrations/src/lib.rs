//! Schema migrations for Linli. Every migration here must run on both SQLite (the embedded
//! default) and PostgreSQL (production); the test suite runs them on both.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_foundation;
mod m20261122_000002_platform;
mod m20261122_000003_ledger;
mod m20261122_000004_earning;
mod m20261122_000005_merchants;
mod m20261122_000006_settlements;
mod m20261122_000007_merchant_reach;
mod m20261122_000008_wishes;
mod m20261122_000009_pair_units;
mod m20261122_000010_wish_settings;
mod m20261123_000011_receipt_names;
mod m20261123_000012_lot_spends_and_sale;
mod m20261201_000013_merchant_uploads;
mod m20261201_000014_audit;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_foundation::Migration),
            Box::new(m20261122_000002_platform::Migration),
            Box::new(m20261122_000003_ledger::Migration),
            Box::new(m20261122_000004_earning::Migration),
            Box::new(m20261122_000005_merchants::Migration),
            Box::new(m20261122_000006_settlements::Migration),
            Box::new(m20261122_000007_merchant_reach::Migration),
            Box::new(m20261122_000008_wishes::Migration),
            Box::new(m20261122_000009_pair_units::Migration),
            Box::new(m20261122_000010_wish_settings::Migration),
            Box::new(m20261123_000011_receipt_names::Migration),
            Box::new(m20261123_000012_lot_spends_and_sale::Migration),
            Box::new(m20261201_000013_merchant_uploads::Migration),
            Box::new(m20261201_000014_audit::Migration),
        ]
    }
}
pub use sea_orm_migration::MigrationStatus;
