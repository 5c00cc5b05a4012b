//! The OpenAPI document at `/api/v1/openapi.json`.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;

use crate::state::AppState;

/// The API description, generated from the handlers and the `shared` DTOs.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Passerelle",
        description = "Messagerie chiffrée de bout en bout du CLSPD"
    ),
    paths(
        super::auth::password_step,
        super::auth::totp_step,
        super::auth::logout,
        super::auth::list_sessions,
        super::auth::revoke_session,
        super::me::me,
        super::me::change_password,
        super::me::notices,
        super::me::set_notices,
        super::webauthn::login,
        super::webauthn::begin_passwordless,
        super::webauthn::finish_passwordless,
        super::webauthn::list,
        super::webauthn::begin_registration,
        super::webauthn::finish_registration,
        super::webauthn::rename,
        super::webauthn::remove,
        super::admin::list_institutions,
        super::admin::create_institution,
        super::admin::update_institution,
        super::admin::list_users,
        super::admin::create_user,
        super::admin::import_users,
        super::admin::update_user,
        super::admin::reset_password,
        super::admin::reset_mfa,
        super::admin::disable,
        super::admin::enable,
        super::admin::unlock,
        super::admin::set_email,
        super::invitations::create,
        super::invitations::accept,
        super::audit::list_events,
        super::audit::daily_counts,
        super::audit::export,
        super::audit::verify,
        super::audit::public_key,
        super::audit::checkpoints,
        super::audit::head,
        super::audit::inclusion_proof,
        super::audit::consistency_proof,
        super::reports::annual,
        super::keys::publish_identity,
        super::keys::register_device,
        super::keys::reset_keys,
        super::keys::revoke_device,
        super::keys::user_keys,
        super::keys::get_backup,
        super::keys::put_backup,
        super::keys::create_link_request,
        super::keys::pending_link_requests,
        super::keys::link_request,
        super::keys::approve_link_request,
        super::keys::refuse_link_request,
        super::keys::rewrapped_keys,
        super::channels::list,
        super::channels::destroyed,
        super::channels::create,
        super::channels::detail,
        super::channels::add_member,
        super::channels::remove_member,
        super::channels::leave,
        super::channels::epoch_state,
        super::channels::publish_epoch,
        super::channels::device_keys,
        super::channels::history,
        super::channels::upload,
        super::channels::download,
        super::channels::directory,
        super::channels::institutions,
        super::charter::publish_charter,
        super::charter::charter_status,
        super::charter::accept_charter,
        super::charter::rules_status,
        super::charter::publish_rules,
        super::charter::accept_rules,
        super::cases::create,
        super::cases::notice_templates,
        super::cases::get_case,
        super::cases::update,
        super::cases::record_information,
        super::cases::archive,
        super::cases::open_archived,
        super::field_reports::file,
        super::field_reports::list,
        super::field_reports::get_report,
        super::field_reports::update,
        super::practice::create,
        super::practice::get_session,
    )
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`.
pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
}
