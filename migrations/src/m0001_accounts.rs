//! Institutions, accounts and sessions (the foundation).

use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0001_accounts"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("institutions"))
                    .col(ColumnDef::new(Alias::new("id")).string().not_null().primary_key())
                    .col(ColumnDef::new(Alias::new("name")).string().not_null().unique_key())
                    .col(ColumnDef::new(Alias::new("created_at")).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("users"))
                    .col(ColumnDef::new(Alias::new("id")).string().not_null().primary_key())
                    .col(ColumnDef::new(Alias::new("login")).string().not_null().unique_key())
                    .col(ColumnDef::new(Alias::new("display_name")).string().not_null())
                    .col(ColumnDef::new(Alias::new("institution_id")).string().not_null())
                    .col(ColumnDef::new(Alias::new("role")).string().not_null())
                    .col(
                        ColumnDef::new(Alias::new("bound_by_professional_secrecy"))
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(Alias::new("social_action_professional"))
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(ColumnDef::new(Alias::new("password_hash")).string().not_null())
                    .col(ColumnDef::new(Alias::new("totp_secret_enc")).string().null())
                    .col(ColumnDef::new(Alias::new("totp_pending_enc")).string().null())
                    .col(ColumnDef::new(Alias::new("totp_last_step")).big_integer().null())
                    .col(
                        ColumnDef::new(Alias::new("failed_logins"))
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(Alias::new("locked_at")).big_integer().null())
                    .col(
                        ColumnDef::new(Alias::new("disabled"))
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(ColumnDef::new(Alias::new("created_at")).big_integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_users_institution")
                            .from(Alias::new("users"), Alias::new("institution_id"))
                            .to(Alias::new("institutions"), Alias::new("id")),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("sessions"))
                    .col(ColumnDef::new(Alias::new("id")).string().not_null().primary_key())
                    .col(ColumnDef::new(Alias::new("user_id")).string().not_null())
                    .col(ColumnDef::new(Alias::new("token_hash")).string().not_null().unique_key())
                    .col(ColumnDef::new(Alias::new("kind")).string().not_null())
                    .col(ColumnDef::new(Alias::new("created_at")).big_integer().not_null())
                    .col(ColumnDef::new(Alias::new("last_seen_at")).big_integer().not_null())
                    .col(ColumnDef::new(Alias::new("expires_at")).big_integer().not_null())
                    .col(ColumnDef::new(Alias::new("ip")).string().null())
                    .col(ColumnDef::new(Alias::new("user_agent")).string().null())
                    .col(ColumnDef::new(Alias::new("revoked_at")).big_integer().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sessions_user")
                            .from(Alias::new("sessions"), Alias::new("user_id"))
                            .to(Alias::new("users"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_user")
                    .table(Alias::new("sessions"))
                    .col(Alias::new("user_id"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["sessions", "users", "institutions"] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
