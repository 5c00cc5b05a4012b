//! The OpenAPI document at `/api/v1/openapi.json`.

use axum::{Json, Router};
use passerelle_shared::protocol::v1::routes;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{Object, Required, Type};
use utoipa::{Modify, OpenApi};

use crate::http::routing::Endpoints;
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
        super::key_log::head,
        super::key_log::consistency,
        super::key_log::user_entries,
        super::key_log::entries,
        super::keys::get_backup,
        super::keys::put_backup,
        super::keys::get_backup_page,
        super::keys::put_backup_page,
        super::keys::put_backup_head,
        super::keys::create_link_request,
        super::keys::pending_link_requests,
        super::keys::link_request,
        super::keys::approve_link_request,
        super::keys::refuse_link_request,
        super::keys::rewrapped_keys,
        super::keys::publish_prekey,
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
        super::channels::keys_delivered,
        super::channels::history,
        super::channels::membership_events,
        super::channels::membership_log,
        super::channels::start_membership_log,
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
        super::cases::reseal_note,
        super::cases::archive,
        super::cases::open_archived,
        super::case_identity::open,
        super::case_identity::seal,
        super::case_identity::readers,
        super::titles::seal_title,
        super::coordinators::list,
        super::coordinators::set,
        super::field_reports::file,
        super::field_reports::list,
        super::field_reports::get_report,
        super::field_reports::update,
        super::meetings::schedule,
        super::meetings::list,
        super::meetings::get_meeting,
        super::meetings::attendance,
        super::meetings::decide,
        super::meetings::minutes,
        super::meetings::close,
        super::meetings::agenda,
        super::meetings::cancel,
        super::practice::create,
        super::practice::get_session,
        super::referrals::open,
        super::referrals::list,
        super::referrals::get_referral,
        super::referrals::accept,
        super::referrals::decline,
        super::referrals::advance,
    ),
    modifiers(&PathParameters)
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`.
pub fn router() -> Router<AppState> {
    Router::new().endpoint(routes::OPENAPI, || async { Json(ApiDoc::openapi()) })
}

/// Declares the `{parameters}` of each operation's path. utoipa reads them from a path
/// written as a literal; ours come from the route table (`path = routes::NAME.documented()`),
/// so they are added here, in the path's order, before the query parameters. A parameter
/// the operation declares itself (with a description) is kept as it is.
struct PathParameters;

impl Modify for PathParameters {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let names = path_parameter_names(path);
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                declare_path_parameters(operation, &names);
            }
        }
    }
}

/// The `{names}` of a path, in order.
fn path_parameter_names(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(str::to_owned)
        .collect()
}

fn declare_path_parameters(operation: &mut Operation, names: &[String]) {
    let mut others = operation.parameters.take().unwrap_or_default();
    let mut parameters: Vec<Parameter> = names
        .iter()
        .map(|name| {
            let declared = others
                .iter()
                .position(|p| p.parameter_in == ParameterIn::Path && &p.name == name);
            match declared {
                Some(at) => others.remove(at),
                None => ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(Object::with_type(Type::String)))
                    .build(),
            }
        })
        .collect();
    parameters.append(&mut others);
    if !parameters.is_empty() {
        operation.parameters = Some(parameters);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use passerelle_shared::protocol::v1::routes;
    use utoipa::OpenApi;

    use super::ApiDoc;

    /// The OpenAPI document's operations are exactly the route table's: an endpoint added
    /// without its line in the table, or a line without its documented handler, fails here.
    #[test]
    fn the_openapi_operations_are_exactly_the_route_table() {
        let document = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mut documented = BTreeSet::new();
        for (path, operations) in document["paths"].as_object().unwrap() {
            for method in operations.as_object().unwrap().keys() {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
        let table: BTreeSet<(String, String)> = routes::ALL
            .iter()
            .map(|e| {
                (
                    e.method.as_str().to_owned(),
                    format!("{}{}", routes::API_BASE, e.path),
                )
            })
            .collect();
        let undocumented: Vec<_> = table.difference(&documented).collect();
        let untabled: Vec<_> = documented.difference(&table).collect();
        assert!(
            undocumented.is_empty(),
            "routes of the table without an operation in the OpenAPI document: {undocumented:?}"
        );
        assert!(
            untabled.is_empty(),
            "operations of the OpenAPI document missing from the route table \
             (shared/src/protocol/v1/routes.rs): {untabled:?}"
        );
    }

    /// Every `{parameter}` of a path is declared, as a standard validator requires.
    #[test]
    fn every_path_parameter_is_declared() {
        let document = serde_json::to_value(ApiDoc::openapi()).unwrap();
        for (path, operations) in document["paths"].as_object().unwrap() {
            let names = super::path_parameter_names(path);
            for (method, operation) in operations.as_object().unwrap() {
                let declared: Vec<&str> = operation["parameters"]
                    .as_array()
                    .map(|list| {
                        list.iter()
                            .filter(|p| p["in"] == "path")
                            .filter_map(|p| p["name"].as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                assert_eq!(declared, names, "{method} {path}");
            }
        }
    }
}
