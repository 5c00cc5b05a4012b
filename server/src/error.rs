//! The one error type of the HTTP API.
//!
//! Every variant has a stable snake_case `code` and a French message for people; the HTTP
//! status is decided in one place, [`ApiError::status`]. Internal causes are logged here
//! and never reach the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use passerelle_shared::protocol::v1::error::{ErrorBody, ErrorDetail};

use crate::policy::Refusal;

/// `Result` with [`ApiError`] by default.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// What can go wrong in a request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body or a parameter is malformed; the text says which field, never a value.
    #[error("invalid request: {0}")]
    BadRequest(String),
    /// 401: no session, or the session has ended.
    #[error("not authenticated")]
    Unauthenticated,
    /// 401: wrong login or password, or an unknown login (deliberately the same).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// 401: wrong, expired or replayed TOTP code.
    #[error("invalid TOTP code")]
    InvalidTotp,
    /// 401: the login challenge is malformed or expired.
    #[error("invalid login challenge")]
    InvalidChallenge,
    /// 403: the account is locked after repeated failures.
    #[error("account locked")]
    AccountLocked,
    /// 403: the account is disabled by an admin.
    #[error("account disabled")]
    AccountDisabled,
    /// 403: the role or the situation does not allow it.
    #[error("forbidden")]
    Forbidden,
    /// 403: a charter rule closes the channel to the caller until they act: accept the
    /// charter (`charter_not_accepted`, `charter_not_published`) or the group's rules
    /// (`rules_not_accepted`, `rules_not_published`), give a written reason to read an
    /// archive (`archive_reason_required`); or the channel is read-only now
    /// (`channel_closed`, `session_ended`, `session_not_started`); or the caller no longer
    /// meets its regime (`regime_not_met`, `institution_not_allowed`).
    #[error("blocked by the charter: {0:?}")]
    Blocked(Refusal),
    /// 403: a cookie-authenticated request came from another origin.
    #[error("cross-origin request refused")]
    BadOrigin,
    /// 404: no such thing, or the caller may not know that it exists.
    #[error("not found")]
    NotFound,
    /// 405: the route exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: it already exists (a login, an institution name).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// 412: the resource changed since the client read it (`If-Match`).
    #[error("precondition failed")]
    PreconditionFailed,
    /// 413: the body is too large.
    #[error("payload too large")]
    PayloadTooLarge,
    /// 431: the request's header fields are too many or too large.
    #[error("request headers too large")]
    HeadersTooLarge,
    /// 422: well-formed but unacceptable (a weak password, an unknown institution).
    #[error("unprocessable: {0}")]
    Unprocessable(&'static str),
    /// A passkey or security key was refused, or is needed: see [`WebauthnRefusal`].
    #[error("webauthn: {0:?}")]
    Webauthn(WebauthnRefusal),
    /// 429: too many attempts; try again later.
    #[error("too many attempts")]
    TooManyAttempts,
    /// 500: something failed inside; the cause is logged, not returned.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
    /// 503: this node cannot serve now (it cannot read the access feed); try again.
    #[error("unavailable")]
    Unavailable,
}

impl ApiError {
    /// The HTTP status of each variant, decided here only.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated
            | ApiError::InvalidCredentials
            | ApiError::InvalidTotp
            | ApiError::InvalidChallenge => StatusCode::UNAUTHORIZED,
            ApiError::AccountLocked
            | ApiError::AccountDisabled
            | ApiError::Forbidden
            | ApiError::Blocked(_)
            | ApiError::BadOrigin => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Webauthn(refusal) => refusal.status(),
        }
    }

    /// The stable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::InvalidTotp => "invalid_totp",
            ApiError::InvalidChallenge => "invalid_challenge",
            ApiError::AccountLocked => "account_locked",
            ApiError::AccountDisabled => "account_disabled",
            ApiError::Forbidden => "forbidden",
            ApiError::BadOrigin => "bad_origin",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Conflict(code) | ApiError::Unprocessable(code) => code,
            ApiError::Blocked(refusal) => refusal.code(),
            ApiError::PreconditionFailed => "version_conflict",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::HeadersTooLarge => "headers_too_large",
            ApiError::TooManyAttempts => "too_many_attempts",
            ApiError::Internal(_) => "internal_error",
            ApiError::Unavailable => "unavailable",
            ApiError::Webauthn(refusal) => refusal.code(),
        }
    }

    /// The French message shown to people.
    pub fn message(&self) -> String {
        match self {
            ApiError::BadRequest(what) => format!("Requête invalide : {what}."),
            ApiError::Unauthenticated => {
                "Votre session a expiré ou n'existe pas. Veuillez vous reconnecter.".into()
            }
            ApiError::InvalidCredentials => "Identifiant ou mot de passe incorrect.".into(),
            ApiError::InvalidTotp => {
                "Code de vérification incorrect ou déjà utilisé. Attendez le code suivant.".into()
            }
            ApiError::InvalidChallenge => {
                "La connexion a expiré. Saisissez à nouveau votre mot de passe.".into()
            }
            ApiError::AccountLocked => {
                "Compte temporairement verrouillé après plusieurs échecs. Réessayez plus tard, \
                 ou demandez à l'administrateur de le déverrouiller."
                    .into()
            }
            ApiError::AccountDisabled => {
                "Compte désactivé. Contactez l'administrateur.".into()
            }
            ApiError::Forbidden => "Vous n'avez pas accès à cette fonction.".into(),
            ApiError::Blocked(refusal) => refusal.message().into(),
            ApiError::BadOrigin => "Requête refusée : origine non autorisée.".into(),
            ApiError::NotFound => "Élément introuvable.".into(),
            ApiError::MethodNotAllowed => {
                "Cette opération n'est pas possible à cette adresse.".into()
            }
            ApiError::Conflict(code) => conflict_message(code).into(),
            ApiError::PreconditionFailed => {
                "Un autre appareil a modifié cet élément entre-temps. Rechargez puis réessayez.".into()
            }
            ApiError::PayloadTooLarge => "Le contenu envoyé est trop volumineux.".into(),
            ApiError::HeadersTooLarge => {
                "Les en-têtes de la requête sont trop nombreux ou trop volumineux.".into()
            }
            ApiError::Unprocessable(code) => unprocessable_message(code).into(),
            ApiError::TooManyAttempts => {
                "Trop de tentatives. Patientez quelques minutes avant de réessayer.".into()
            }
            ApiError::Internal(_) => {
                "Une erreur interne est survenue. Réessayez ; si elle persiste, prévenez l'administrateur."
                    .into()
            }
            ApiError::Unavailable => "Service momentanément indisponible ; réessayez.".into(),
            ApiError::Webauthn(refusal) => refusal.message().into(),
        }
    }

    /// Wraps an internal failure.
    pub fn internal(cause: impl Into<anyhow::Error>) -> ApiError {
        ApiError::Internal(cause.into())
    }
}

/// Why a passkey or security key ceremony was refused. The browser shows the message;
/// the cause the verifier found stays in the access log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebauthnRefusal {
    /// The ceremony is unknown, used already or expired.
    Expired,
    /// The credential is not one of this account's (or of anyone's, passwordless).
    UnknownCredential,
    /// The signature, challenge or flags do not verify, or the counter went back (a
    /// cloned key or a replayed answer).
    Failed,
    /// The answer was made for another site (a phishing page).
    WrongOrigin,
    /// The role requires a passkey: a TOTP code alone no longer opens a session.
    Required,
    /// The role requires a passkey and the account has none yet: only registering one is
    /// possible with this session.
    RegistrationRequired,
    /// This authenticator model is not on the allow-list of the admin role.
    ModelNotAllowed,
    /// Removing the last credential of an account whose role requires one.
    LastRequired,
    /// The credential is registered already.
    AlreadyRegistered,
    /// The server has no relying party (its public origin is an address).
    Unavailable,
}

impl WebauthnRefusal {
    fn status(self) -> StatusCode {
        match self {
            WebauthnRefusal::Expired
            | WebauthnRefusal::UnknownCredential
            | WebauthnRefusal::Failed
            | WebauthnRefusal::WrongOrigin => StatusCode::UNAUTHORIZED,
            WebauthnRefusal::Required | WebauthnRefusal::RegistrationRequired => {
                StatusCode::FORBIDDEN
            }
            WebauthnRefusal::ModelNotAllowed | WebauthnRefusal::LastRequired => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            WebauthnRefusal::AlreadyRegistered => StatusCode::CONFLICT,
            WebauthnRefusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            WebauthnRefusal::Expired => "webauthn_expired",
            WebauthnRefusal::UnknownCredential => "webauthn_unknown_credential",
            WebauthnRefusal::Failed => "webauthn_failed",
            WebauthnRefusal::WrongOrigin => "webauthn_wrong_origin",
            WebauthnRefusal::Required => "webauthn_required",
            WebauthnRefusal::RegistrationRequired => "webauthn_registration_required",
            WebauthnRefusal::ModelNotAllowed => "webauthn_model_not_allowed",
            WebauthnRefusal::LastRequired => "webauthn_last_required",
            WebauthnRefusal::AlreadyRegistered => "webauthn_already_registered",
            WebauthnRefusal::Unavailable => "webauthn_unavailable",
        }
    }

    fn message(self) -> &'static str {
        match self {
            WebauthnRefusal::Expired => {
                "La demande de la clé de sécurité a expiré ou a déjà servi. Recommencez."
            }
            WebauthnRefusal::UnknownCredential => {
                "Cette clé de sécurité n'est pas enregistrée pour ce compte."
            }
            WebauthnRefusal::Failed => {
                "La clé de sécurité n'a pas pu être vérifiée. Recommencez ; si cela se \
                 reproduit, prévenez l'administrateur."
            }
            WebauthnRefusal::WrongOrigin => {
                "Cette réponse de clé de sécurité a été faite pour un autre site : connexion \
                 refusée. Vérifiez l'adresse de la page."
            }
            WebauthnRefusal::Required => {
                "Votre rôle exige une clé de sécurité ou une clé d'accès : le code de \
                 vérification seul ne suffit pas."
            }
            WebauthnRefusal::RegistrationRequired => {
                "Votre rôle exige une clé de sécurité : enregistrez-en une avant de continuer."
            }
            WebauthnRefusal::ModelNotAllowed => {
                "Ce modèle de clé de sécurité n'est pas autorisé pour les administrateurs."
            }
            WebauthnRefusal::LastRequired => {
                "Impossible de retirer votre dernière clé : votre rôle l'exige. Enregistrez-en \
                 une autre d'abord."
            }
            WebauthnRefusal::AlreadyRegistered => "Cette clé de sécurité est déjà enregistrée.",
            WebauthnRefusal::Unavailable => {
                "Les clés de sécurité ne sont pas disponibles sur ce serveur."
            }
        }
    }
}

fn conflict_message(code: &str) -> &'static str {
    match code {
        "identity_in_use" => {
            "Votre clé d'identité ne peut changer tant que des appareils l'utilisent."
        }
        "identity_missing" => "Publiez d'abord votre clé d'identité.",
        "device_exists" => "Cet appareil est déjà enregistré.",
        "link_closed" => {
            "Cette demande d'ajout d'appareil n'est plus en attente : elle a été acceptée, \
             refusée ou a expiré. Recommencez depuis le nouvel appareil si besoin."
        }
        "epoch_conflict" => {
            "Un autre membre vient de renouveler la clé du canal ; la sienne est utilisée."
        }
        "version_outdated" => {
            "Une nouvelle version a été publiée entre-temps : lisez-la puis acceptez-la."
        }
        "version_exists" => "Une autre version vient d'être publiée ; rechargez puis réessayez.",
        "already_archived" => "Ce dossier est déjà archivé.",
        "kind_contradicts_members" => {
            "Des comptes de cette institution ont un attribut que ce type n'admet pas : \
             retirez-le d'abord de leur compte (ils quitteront les canaux protégés)."
        }
        _ => "Cet élément existe déjà.",
    }
}

fn unprocessable_message(code: &str) -> &'static str {
    match code {
        "weak_password" => "Le mot de passe doit comporter au moins 12 caractères.",
        "unknown_institution" => "Institution inconnue.",
        "invalid_login" => {
            "L'identifiant doit comporter 3 à 64 caractères : lettres, chiffres, « . », « - » ou « _ »."
        }
        "invalid_name" => "Le nom doit comporter 1 à 200 caractères.",
        "last_admin" => "Impossible : c'est le dernier administrateur actif.",
        "invalid_certificate" => "Le certificat de l'appareil n'est pas valide.",
        "invalid_epoch_keys" => {
            "Les clés du canal envoyées ne sont pas valides : elles doivent être chiffrées pour \
             exactement les appareils autorisés, et signées par l'un de vos appareils."
        }
        "invalid_link_request" => {
            "La demande d'ajout d'appareil n'est pas valide : reconnectez-vous sur le nouvel \
             appareil et recommencez."
        }
        "institution_not_allowed" => "L'institution de cette personne n'est pas autorisée dans ce canal.",
        "regime_not_met" => "Cette personne ne remplit pas les conditions du régime juridique du canal.",
        "role_cannot_join" => "Ce compte ne peut pas être membre d'un canal.",
        "already_member" => "Cette personne est déjà membre.",
        "reason_required" => "Indiquez le motif du retrait.",
        "invalid_channel" => "Ce canal ne peut pas être créé ainsi.",
        "use_dedicated_endpoint" => {
            "Les dossiers s'ouvrent par /cases et les séances d'analyse de pratiques par \
             /practice-sessions."
        }
        "invalid_text" => "Le texte doit être non vide et ne pas dépasser 100 Ko.",
        "no_charter" => "Aucune charte n'a encore été publiée.",
        "no_rules" => "Aucun règlement intérieur n'a encore été publié pour ce groupe.",
        "rules_inherited" => {
            "Ce canal suit le règlement intérieur de son groupe de travail : publiez-le dans le groupe."
        }
        "invalid_group" => "Le groupe indiqué n'est pas un groupe de travail dont vous êtes membre.",
        "invalid_dates" => "Les dates indiquées ne sont pas cohérentes.",
        "invalid_referent" => "Le référent doit être membre du dossier.",
        "note_too_long" => {
            "Texte trop long : 280 caractères au plus, sans nom ni donnée d'infraction ou de santé."
        }
        "invalid_reason" => "Indiquez le motif de la consultation (10 à 500 caractères).",
        "not_a_case" => "Cette action ne concerne que les dossiers.",
        "limit_can_only_move_earlier" => {
            "La date limite de conservation ne peut être qu'avancée."
        }
        "unknown_member" => "La personne indiquée n'est pas membre du dossier.",
        "destroy_limit_required" => {
            "Un dossier du programme jeunesse doit indiquer sa date limite de destruction : \
             les 25 ans de la personne (charte, C11)."
        }
        "social_action_not_allowed" => {
            "Le type de cette institution n'admet pas de professionnel de l'action sociale \
             (CASF L121-6-2) : retirez cet attribut, ou vérifiez l'institution de la personne."
        }
        "secrecy_not_allowed" => {
            "Le type de cette institution n'admet pas de personne tenue au secret \
             professionnel de la protection de l'enfance (CASF L226-2-2) : retirez cet \
             attribut, ou vérifiez l'institution de la personne."
        }
        "invalid_key_name" => "Le nom de la clé doit comporter 1 à 100 caractères.",
        "too_many_keys" => "Vous avez déjà 20 clés de sécurité : retirez-en une d'abord.",
        _ => "Cette valeur n'est pas acceptée.",
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        ApiError::Internal(err.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(error = %format!("{cause:#}"), "internal error");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: self.message(),
            },
        };
        (self.status(), Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_login_and_a_wrong_password_share_one_answer() {
        let err = ApiError::InvalidCredentials;
        assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(err.code(), "invalid_credentials");
    }

    #[test]
    fn charter_refusals_are_403_with_their_own_code_and_a_french_message() {
        for (refusal, code) in [
            (Refusal::CharterNotAccepted, "charter_not_accepted"),
            (Refusal::RulesNotAccepted, "rules_not_accepted"),
            (Refusal::ArchiveReasonRequired, "archive_reason_required"),
            (Refusal::SessionEnded, "session_ended"),
        ] {
            let err = ApiError::Blocked(refusal);
            assert_eq!(err.status(), StatusCode::FORBIDDEN);
            assert_eq!(err.code(), code);
            assert!(err.message().ends_with('.') && !err.message().contains('_'));
        }
    }

    #[test]
    fn internal_errors_do_not_reveal_their_cause() {
        let err = ApiError::internal(anyhow::anyhow!("disk /secret/path full"));
        assert!(!err.message().contains("/secret/path"));
        assert_eq!(err.code(), "internal_error");
    }
}
