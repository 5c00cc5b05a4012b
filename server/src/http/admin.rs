//! The admin API: institutions and accounts. Admins only; every refusal is logged.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use passerelle_shared::protocol::v1::admin::{
    Account, AccountWithPassword, CreateAccount, CreateInstitution, ImportAccounts,
    ImportedAccounts, Institution, UpdateAccount, UpdateInstitution,
};
use passerelle_shared::protocol::v1::routes;

use passerelle_shared::protocol::v1::notices::SetEmail;

use crate::app::{accounts, import};
use crate::auth::CurrentUser;
use crate::error::Result;
use crate::http::json::ApiJson;
use crate::http::routing::Endpoints;
use crate::policy::Capability;
use crate::state::AppState;

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .endpoint(routes::INSTITUTIONS, list_institutions)
        .endpoint(routes::INSTITUTION_CREATE, create_institution)
        .endpoint(routes::INSTITUTION_UPDATE, update_institution)
        .endpoint(routes::ACCOUNTS, list_users)
        .endpoint(routes::ACCOUNT_CREATE, create_user)
        .endpoint(routes::ACCOUNTS_IMPORT, import_users)
        .endpoint(routes::ACCOUNT_UPDATE, update_user)
        .endpoint(routes::ACCOUNT_RESET_PASSWORD, reset_password)
        .endpoint(routes::ACCOUNT_RESET_MFA, reset_mfa)
        .endpoint(routes::ACCOUNT_DISABLE, disable)
        .endpoint(routes::ACCOUNT_ENABLE, enable)
        .endpoint(routes::ACCOUNT_UNLOCK, unlock)
        .endpoint(routes::ACCOUNT_SET_EMAIL, set_email)
}

/// # `GET /api/v1/admin/institutions`
#[utoipa::path(get, path = routes::INSTITUTIONS.documented(), responses((status = 200, body = [Institution]), (status = 403)))]
pub(crate) async fn list_institutions(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<Vec<Institution>>> {
    user.require(
        &state,
        Capability::ManageAccounts,
        "admin_institutions_list",
    )
    .await?;
    accounts::list_institutions(&state).await.map(Json)
}

/// # `POST /api/v1/admin/institutions`
#[utoipa::path(post, path = routes::INSTITUTION_CREATE.documented(), request_body = CreateInstitution,
    responses((status = 201, body = Institution), (status = 403), (status = 409)))]
pub(crate) async fn create_institution(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<CreateInstitution>,
) -> Result<(StatusCode, Json<Institution>)> {
    user.require(
        &state,
        Capability::ManageAccounts,
        "admin_institution_create",
    )
    .await?;
    let institution =
        accounts::create_institution(&state, user.actor(), &request.name, request.kind).await?;
    Ok((StatusCode::CREATED, Json(institution)))
}

/// # `PATCH /api/v1/admin/institutions/{id}`
///
/// Gives an institution its type; refused (409) while one of its people holds an
/// attribute the type does not admit.
#[utoipa::path(patch, path = routes::INSTITUTION_UPDATE.documented(), request_body = UpdateInstitution,
    responses((status = 200, body = Institution), (status = 403), (status = 404), (status = 409)))]
pub(crate) async fn update_institution(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<UpdateInstitution>,
) -> Result<Json<Institution>> {
    user.require(
        &state,
        Capability::ManageAccounts,
        "admin_institution_update",
    )
    .await?;
    accounts::set_institution_kind(&state, user.actor(), &id, request.kind)
        .await
        .map(Json)
}

/// # `GET /api/v1/admin/users`
#[utoipa::path(get, path = routes::ACCOUNTS.documented(), responses((status = 200, body = [Account]), (status = 403)))]
pub(crate) async fn list_users(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<Vec<Account>>> {
    user.require(&state, Capability::ManageAccounts, "admin_users_list")
        .await?;
    accounts::list_accounts(&state).await.map(Json)
}

/// # `POST /api/v1/admin/users`
///
/// Answers the generated password once; the admin hands it over in person.
#[utoipa::path(post, path = routes::ACCOUNT_CREATE.documented(), request_body = CreateAccount,
    responses((status = 201, body = AccountWithPassword), (status = 403), (status = 409), (status = 422)))]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<CreateAccount>,
) -> Result<(StatusCode, Json<AccountWithPassword>)> {
    user.require(&state, Capability::ManageAccounts, "admin_user_create")
        .await?;
    let (account, password) =
        accounts::create_provisional_account(&state, user.actor(), request).await?;
    Ok((
        StatusCode::CREATED,
        Json(AccountWithPassword {
            account,
            password: password.to_string(),
        }),
    ))
}

/// # `POST /api/v1/admin/users/import`
///
/// Creates the accounts of a CSV list, all or none: a refused file is a 422
/// `invalid_file` whose message names each refused line, one per line.
#[utoipa::path(post, path = routes::ACCOUNTS_IMPORT.documented(), request_body = ImportAccounts,
    responses((status = 201, body = ImportedAccounts), (status = 403), (status = 422)))]
pub(crate) async fn import_users(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<ImportAccounts>,
) -> Result<(StatusCode, Json<ImportedAccounts>)> {
    let created = import::import_accounts(&state, &user, &request.csv).await?;
    let accounts = created
        .into_iter()
        .map(|(account, password)| AccountWithPassword {
            account,
            password: password.to_string(),
        })
        .collect();
    Ok((StatusCode::CREATED, Json(ImportedAccounts { accounts })))
}

/// # `PATCH /api/v1/admin/users/{id}`
#[utoipa::path(patch, path = routes::ACCOUNT_UPDATE.documented(), request_body = UpdateAccount,
    responses((status = 200, body = Account), (status = 403), (status = 404)))]
pub(crate) async fn update_user(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<UpdateAccount>,
) -> Result<Json<Account>> {
    user.require(&state, Capability::ManageAccounts, "admin_user_update")
        .await?;
    accounts::update_account(&state, user.actor(), &id, request)
        .await
        .map(Json)
}

/// # `POST /api/v1/admin/users/{id}/reset-password`
#[utoipa::path(post, path = routes::ACCOUNT_RESET_PASSWORD.documented(),
    responses((status = 200, body = AccountWithPassword), (status = 403), (status = 404)))]
pub(crate) async fn reset_password(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<AccountWithPassword>> {
    user.require(&state, Capability::ManageAccounts, "admin_password_reset")
        .await?;
    let (account, password) = accounts::reset_password(&state, user.actor(), &id).await?;
    Ok(Json(AccountWithPassword {
        account,
        password: password.to_string(),
    }))
}

/// # `POST /api/v1/admin/users/{id}/reset-mfa`
#[utoipa::path(post, path = routes::ACCOUNT_RESET_MFA.documented(), responses((status = 200, body = Account), (status = 403), (status = 404)))]
pub(crate) async fn reset_mfa(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Account>> {
    user.require(&state, Capability::ManageAccounts, "admin_mfa_reset")
        .await?;
    accounts::reset_mfa(&state, user.actor(), &id)
        .await
        .map(Json)
}

/// # `POST /api/v1/admin/users/{id}/disable`
#[utoipa::path(post, path = routes::ACCOUNT_DISABLE.documented(), responses((status = 200, body = Account), (status = 403), (status = 404)))]
pub(crate) async fn disable(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Account>> {
    user.require(&state, Capability::ManageAccounts, "admin_user_disable")
        .await?;
    accounts::set_disabled(&state, user.actor(), &id, true)
        .await
        .map(Json)
}

/// # `POST /api/v1/admin/users/{id}/enable`
#[utoipa::path(post, path = routes::ACCOUNT_ENABLE.documented(), responses((status = 200, body = Account), (status = 403), (status = 404)))]
pub(crate) async fn enable(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Account>> {
    user.require(&state, Capability::ManageAccounts, "admin_user_enable")
        .await?;
    accounts::set_disabled(&state, user.actor(), &id, false)
        .await
        .map(Json)
}

/// # `POST /api/v1/admin/users/{id}/unlock`
#[utoipa::path(post, path = routes::ACCOUNT_UNLOCK.documented(), responses((status = 200, body = Account), (status = 403), (status = 404)))]
pub(crate) async fn unlock(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Account>> {
    user.require(&state, Capability::ManageAccounts, "admin_user_unlock")
        .await?;
    accounts::unlock(&state, user.actor(), &id).await.map(Json)
}

/// # `PUT /api/v1/admin/users/{id}/email`
///
/// Sets or removes the address offline notices go to; the person sees it on their
/// account page.
#[utoipa::path(put, path = routes::ACCOUNT_SET_EMAIL.documented(), request_body = SetEmail,
    responses((status = 204), (status = 403), (status = 404), (status = 422)))]
pub(crate) async fn set_email(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<SetEmail>,
) -> Result<StatusCode> {
    user.require(
        &state,
        Capability::ManageAccounts,
        "admin_user_email_change",
    )
    .await?;
    crate::app::notices::preferences::set_email(&state, user.actor(), &id, request.email).await?;
    Ok(StatusCode::NO_CONTENT)
}
