//! The `linli` command line: `serve` (the default), `migrate`, `admin` and `openapi`.

use clap::{Args, Parser, Subcommand};
use migration::{MigrationStatus, Migrator, MigratorTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::auth::roles::{Role, Scope};
use crate::communities::grants;
use crate::config::Settings;
use crate::entities::user;
use crate::error::AppError;
use crate::startup::{Application, build_state};

#[derive(Parser)]
#[command(name = "linli", version, about = "Linli 邻里: community life server")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply, roll back or list schema migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Grant or revoke a role by openid or user id: how the first platform admin is made.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Print the OpenAPI document (the committed copy is openapi/openapi.json).
    Openapi,
    /// Check the 金豆 books.
    Ledger {
        #[command(subcommand)]
        action: LedgerAction,
    },
}

#[derive(Subcommand)]
pub enum LedgerAction {
    /// Every balance equals the sum of its postings, every transaction sums to zero, and the
    /// lots agree with the balances. Prints what is wrong and exits non-zero if anything is.
    Verify,
}

#[derive(Subcommand)]
pub enum MigrateAction {
    /// Apply all pending migrations.
    Up,
    /// Roll back the last `steps` migrations.
    Down {
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether each is applied.
    Status,
}

#[derive(Subcommand)]
pub enum AdminAction {
    Grant(GrantArgs),
    Revoke(GrantArgs),
}

#[derive(Args)]
pub struct GrantArgs {
    /// The user's WeChat openid (for development logins: dev_<name>).
    #[arg(long, conflicts_with = "user_id", required_unless_present = "user_id")]
    pub openid: Option<String>,
    #[arg(long)]
    pub user_id: Option<i64>,
    /// platform_admin, street_admin, community_admin, grid_worker, building_leader,
    /// representative.
    #[arg(long)]
    pub role: String,
    /// Community id for community roles, street id for street_admin.
    #[arg(long)]
    pub scope_id: Option<i64>,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        print!("{}", crate::openapi::document_json()?);
        return Ok(());
    }
    let mut settings = Settings::from_env()?;
    crate::telemetry::init(&settings.log);
    match command {
        Command::Serve => {
            let app = Application::build(settings).await?;
            app.run_until_stopped().await?;
            tracing::info!("Linli stopped");
        }
        Command::Migrate { action } => {
            settings.database.migrate_on_start = false;
            let db = crate::db::connect(&settings.database).await?;
            match action {
                MigrateAction::Up => {
                    Migrator::up(&db, None).await?;
                    println!("migrations applied");
                }
                MigrateAction::Down { steps } => {
                    Migrator::down(&db, Some(steps)).await?;
                    println!("rolled back {steps} migration(s)");
                }
                MigrateAction::Status => {
                    for m in Migrator::get_migration_with_status(&db).await? {
                        let status = match m.status() {
                            MigrationStatus::Applied => "applied",
                            MigrationStatus::Pending => "pending",
                        };
                        println!("{status:8} {}", m.name());
                    }
                }
            }
        }
        Command::Admin { action } => {
            let state = build_state(settings).await?;
            let (args, granting) = match action {
                AdminAction::Grant(a) => (a, true),
                AdminAction::Revoke(a) => (a, false),
            };
            let role = Role::parse(&args.role)
                .filter(|r| r.grantable())
                .ok_or_else(|| anyhow::anyhow!("unknown role {}", args.role))?;
            let scope_id = match (role.scope(), args.scope_id) {
                (Scope::Platform, _) => 0,
                (_, Some(id)) => id,
                (_, None) => anyhow::bail!("--scope-id is required for {}", role.as_str()),
            };
            let found = match (&args.openid, args.user_id) {
                (Some(openid), _) => {
                    user::Entity::find()
                        .filter(user::Column::Openid.eq(openid.as_str()))
                        .one(&state.db)
                        .await?
                }
                (None, Some(id)) => user::Entity::find_by_id(id).one(&state.db).await?,
                (None, None) => None,
            };
            let found = found
                .filter(|u| u.deleted_at.is_none())
                .ok_or_else(|| anyhow::anyhow!("no such user (they must have logged in once)"))?;
            if granting {
                grants::insert_grant(&state, found.id, role, scope_id, None)
                    .await
                    .map_err(describe)?;
                println!(
                    "granted {} to user {} (scope {scope_id})",
                    role.as_str(),
                    found.id
                );
            } else {
                let removed = grants::delete_grant(&state, found.id, role, scope_id)
                    .await
                    .map_err(describe)?;
                println!(
                    "{} {} of user {} (scope {scope_id})",
                    if removed { "revoked" } else { "no grant" },
                    role.as_str(),
                    found.id
                );
            }
        }
        Command::Ledger {
            action: LedgerAction::Verify,
        } => {
            settings.database.migrate_on_start = false;
            let db = crate::db::connect(&settings.database).await?;
            let problems = crate::points::ledger::verify(&db).await?;
            if !problems.is_empty() {
                for p in &problems {
                    println!("{p}");
                }
                anyhow::bail!("the ledger has {} problem(s)", problems.len());
            }
            println!("ledger verified: balances, transactions and lots agree");
        }
        Command::Openapi => {}
    }
    Ok(())
}

fn describe(err: AppError) -> anyhow::Error {
    match err {
        AppError::Client { message, .. } => anyhow::anyhow!(message),
        AppError::Internal(e) | AppError::Unavailable(e) => e,
    }
}
