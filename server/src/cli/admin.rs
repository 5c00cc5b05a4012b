//! `passerelle admin …`: account management from the server's own terminal, for the
//! first admin account and for recovery. Each action is recorded in the access log as
//! done by the local operator.

use clap::{Args, Subcommand};
use passerelle_shared::protocol::v1::admin::{Account, CreateAccount, UpdateAccount};
use passerelle_shared::protocol::v1::{Attributes, Role};

use crate::app::accounts;
use crate::audit::Actor;
use crate::state::AppState;

/// Admin subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an institution.
    CreateInstitution {
        /// Its name, e.g. "Police municipale".
        name: String,
    },
    /// Create an account; its generated password is printed once.
    CreateUser(CreateUserArgs),
    /// Change an account's role.
    SetRole {
        /// Login or id.
        user: String,
        /// member, coordinator, admin, auditor or external.
        role: String,
    },
    /// Replace an account's password with a generated one, printed once.
    ResetPassword {
        /// Login or id.
        user: String,
    },
    /// Forget an account's TOTP secret (lost phone); the next login enrols again.
    ResetMfa {
        /// Login or id.
        user: String,
    },
    /// Disable logging in, and close every session.
    Disable {
        /// Login or id.
        user: String,
    },
    /// Enable logging in again.
    Enable {
        /// Login or id.
        user: String,
    },
    /// Lift a lock-out after repeated failures.
    Unlock {
        /// Login or id.
        user: String,
    },
    /// List institutions and accounts.
    List,
}

/// `passerelle admin create-user`.
#[derive(Debug, Args)]
pub struct CreateUserArgs {
    /// Login (letters, digits, '.', '-', '_').
    #[arg(long)]
    pub login: String,
    /// Name shown to colleagues.
    #[arg(long)]
    pub name: String,
    /// Institution name or id.
    #[arg(long)]
    pub institution: String,
    /// member, coordinator, admin, auditor or external.
    #[arg(long)]
    pub role: String,
    /// Bound by professional secrecy (child-protection channels).
    #[arg(long)]
    pub secrecy: bool,
    /// Social-action professional (shared social secrecy channels).
    #[arg(long)]
    pub social_action: bool,
}

fn operator() -> Actor {
    Actor {
        login: Some("cli-operator".into()),
        ..Actor::default()
    }
}

fn parse_role(name: &str) -> anyhow::Result<Role> {
    Role::parse(name).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown role {name:?}: use member, coordinator, admin, auditor or external"
        )
    })
}

fn print_account(account: &Account) {
    println!(
        "{:<24} {:<12} {:<8} {:<9} {:<6} {}",
        account.login,
        account.role.as_str(),
        if account.disabled {
            "disabled"
        } else if account.locked {
            "locked"
        } else {
            "active"
        },
        if account.totp_enrolled {
            "totp"
        } else {
            "no-totp"
        },
        if account.attributes.bound_by_professional_secrecy {
            "secret"
        } else {
            ""
        },
        account.display_name,
    );
}

/// Runs one admin subcommand.
pub async fn run(state: &AppState, command: AdminCommand) -> anyhow::Result<()> {
    let actor = operator();
    match command {
        AdminCommand::CreateInstitution { name } => {
            let institution = accounts::create_institution(state, actor, &name).await?;
            println!(
                "Institution created: {} ({})",
                institution.name, institution.id
            );
        }
        AdminCommand::CreateUser(args) => {
            let institutions = accounts::list_institutions(state).await?;
            let institution = institutions
                .iter()
                .find(|i| i.id == args.institution || i.name == args.institution)
                .ok_or_else(|| anyhow::anyhow!("unknown institution {:?}", args.institution))?;
            let (account, password) = accounts::create_account(
                state,
                actor,
                CreateAccount {
                    login: args.login,
                    display_name: args.name,
                    institution_id: institution.id.clone(),
                    role: parse_role(&args.role)?,
                    attributes: Attributes {
                        bound_by_professional_secrecy: args.secrecy,
                        social_action_professional: args.social_action,
                    },
                },
            )
            .await?;
            println!("Account created: {} ({})", account.login, account.id);
            println!(
                "One-time password (hand it over in person): {}",
                password.as_str()
            );
        }
        AdminCommand::SetRole { user, role } => {
            let account = accounts::find_account(state, &user).await?;
            let update = UpdateAccount {
                role: Some(parse_role(&role)?),
                ..UpdateAccount::default()
            };
            print_account(&accounts::update_account(state, actor, &account.id, update).await?);
        }
        AdminCommand::ResetPassword { user } => {
            let account = accounts::find_account(state, &user).await?;
            let (account, password) = accounts::reset_password(state, actor, &account.id).await?;
            println!(
                "Password reset for {}; every session closed.",
                account.login
            );
            println!(
                "One-time password (hand it over in person): {}",
                password.as_str()
            );
        }
        AdminCommand::ResetMfa { user } => {
            let account = accounts::find_account(state, &user).await?;
            let account = accounts::reset_mfa(state, actor, &account.id).await?;
            println!(
                "TOTP reset for {}: the next login enrols a new authenticator.",
                account.login
            );
        }
        AdminCommand::Disable { user } => {
            let account = accounts::find_account(state, &user).await?;
            print_account(&accounts::set_disabled(state, actor, &account.id, true).await?);
        }
        AdminCommand::Enable { user } => {
            let account = accounts::find_account(state, &user).await?;
            print_account(&accounts::set_disabled(state, actor, &account.id, false).await?);
        }
        AdminCommand::Unlock { user } => {
            let account = accounts::find_account(state, &user).await?;
            print_account(&accounts::unlock(state, actor, &account.id).await?);
        }
        AdminCommand::List => {
            let institutions = accounts::list_institutions(state).await?;
            let users = accounts::list_accounts(state).await?;
            for institution in institutions {
                println!("{}", institution.name);
                for account in users.iter().filter(|u| u.institution_id == institution.id) {
                    print!("  ");
                    print_account(account);
                }
            }
        }
    }
    Ok(())
}
