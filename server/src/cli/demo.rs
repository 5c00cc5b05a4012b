//! `passerelle demo`: a ready-to-try server with the institutions of a CLSPD and one
//! account per role. Each run gives the demo accounts fresh passwords and TOTP secrets
//! and prints them: nothing secret is kept in clear anywhere. Their passkeys and security
//! keys are forgotten too, so that the admin and the auditor (whose role requires a key)
//! register one at their first login of the run.

use std::fmt::Write as _;

use passerelle_shared::protocol::v1::admin::CreateAccount;
use passerelle_shared::protocol::v1::{Attributes, InstitutionKind, Role};
use zeroize::Zeroizing;

use crate::app::accounts;
use crate::app::charter;
use crate::app::reports::{self, Counted};
use crate::audit::Actor;
use crate::auth::{password, totp};
use crate::db;
use crate::state::AppState;

/// The institutions of a typical CLSPD, with their type (CHARTER.md C5).
pub const INSTITUTIONS: [(&str, InstitutionKind); 10] = [
    (
        "Police nationale (commissariat)",
        InstitutionKind::PoliceNationale,
    ),
    ("Police municipale", InstitutionKind::PoliceMunicipale),
    (
        "Éducation nationale (collège)",
        InstitutionKind::EducationNationale,
    ),
    (
        "Conseil départemental (action sociale, ASE)",
        InstitutionKind::ActionSocialeDepartement,
    ),
    ("CCAS", InstitutionKind::Ccas),
    ("PJJ", InstitutionKind::Pjj),
    ("Mission locale", InstitutionKind::MissionLocale),
    ("Mairie (coordination CLSPD)", InstitutionKind::Collectivite),
    (
        "Intervenant social au commissariat",
        InstitutionKind::InterventionSocialeCommissariat,
    ),
    ("Médiation", InstitutionKind::Mediation),
];

/// One demo account.
pub struct DemoAccount {
    /// Login.
    pub login: &'static str,
    /// Name.
    pub name: &'static str,
    /// Institution (one of [`INSTITUTIONS`]).
    pub institution: &'static str,
    /// Role.
    pub role: Role,
    /// Attributes.
    pub attributes: Attributes,
}

const SOCIAL: Attributes = Attributes {
    bound_by_professional_secrecy: true,
    social_action_professional: true,
};
const NONE: Attributes = Attributes {
    bound_by_professional_secrecy: false,
    social_action_professional: false,
};

/// One account per role, and a second professional so that two institutions can talk.
pub const ACCOUNTS: [DemoAccount; 7] = [
    DemoAccount {
        login: "coordinatrice",
        name: "Claire Martin",
        institution: INSTITUTIONS[7].0,
        role: Role::Coordinator,
        // The coordinator the mayor designates among the social-action professionals
        // (CASF L121-6-2), who may also open child-protection channels: the demo shows
        // every legal regime.
        attributes: SOCIAL,
    },
    DemoAccount {
        login: "policier",
        name: "Karim Benali",
        institution: INSTITUTIONS[0].0,
        role: Role::Member,
        attributes: NONE,
    },
    DemoAccount {
        login: "assistante.sociale",
        name: "Sophie Leroy",
        institution: INSTITUTIONS[3].0,
        role: Role::Member,
        attributes: SOCIAL,
    },
    DemoAccount {
        login: "intervenant.social",
        name: "Nadia Haddad",
        institution: INSTITUTIONS[8].0,
        role: Role::Member,
        // A social worker placed at the police station: refers people to the social
        // services (issue 21, item 1).
        attributes: SOCIAL,
    },
    DemoAccount {
        login: "mediateur",
        name: "Jean Moreau",
        institution: INSTITUTIONS[9].0,
        role: Role::External,
        attributes: NONE,
    },
    DemoAccount {
        login: "admin",
        name: "Administration Passerelle",
        institution: INSTITUTIONS[7].0,
        role: Role::Admin,
        attributes: NONE,
    },
    DemoAccount {
        login: "dpo",
        name: "Déléguée à la protection des données",
        institution: INSTITUTIONS[7].0,
        role: Role::Auditor,
        attributes: NONE,
    },
];

/// The charter the demo publishes, so that its channels can be used (without a published
/// charter, confidential channels stay closed).
pub const DEMO_CHARTER: &str = "\
# Charte d’échange d’informations du CLSPD (démonstration)

Texte de démonstration : chaque CLSPD adopte sa propre charte déontologique.

1. **Confidentialité.** Les faits et informations échangés dans les groupes de travail du \
CLSPD sont confidentiels (article L. 132-5 du code de la sécurité intérieure). Ils ne sont \
communiqués à aucun tiers : ni transfert vers un autre canal, ni export, ni copie.
2. **Besoin d’en connaître.** Je ne partage que les informations strictement nécessaires \
à la coordination de l’accompagnement, et seulement avec les membres nommés du groupe.
3. **Minimisation.** Les dossiers sont désignés par une référence aléatoire. Je n’écris ni \
le nom de la personne hors de l’espace chiffré prévu, ni d’information sur une infraction \
ou sur la santé qui ne soit indispensable.
4. **Information des personnes.** La personne concernée, ou ses représentants légaux, est \
informée de l’échange, sauf motif documenté tenant notamment à l’intérêt de l’enfant.
5. **Durée de conservation.** Les dossiers sont archivés à la fin du suivi et détruits au \
plus tard trois ans après ; la consultation d’une archive exige un motif écrit.
6. **Traçabilité.** Chaque accès est enregistré dans un journal consultable par le délégué \
à la protection des données. Un manquement à la confidentialité entraîne l’exclusion.
";

/// A demo account's credentials, printed once.
pub struct Credentials {
    /// Login.
    pub login: String,
    /// Role.
    pub role: Role,
    /// Password.
    pub password: Zeroizing<String>,
    /// TOTP secret in base32.
    pub totp_base32: Zeroizing<String>,
    /// The raw TOTP secret (tests compute codes from it).
    pub totp_secret: Zeroizing<Vec<u8>>,
}

/// Creates what is missing and gives every demo account a fresh password and TOTP secret.
pub async fn seed(state: &AppState) -> anyhow::Result<Vec<Credentials>> {
    let actor = Actor {
        login: Some("demo-seed".into()),
        ..Actor::default()
    };
    for (name, kind) in INSTITUTIONS {
        match db::accounts::find_institution_by_name(&state.db, name).await? {
            None => {
                accounts::create_institution(state, actor.clone(), name, kind).await?;
            }
            // A demo directory made before the intervenant social had a type of their own.
            Some(found) if found.kind != kind.as_str() => {
                db::accounts::set_institution_kind(&state.db, &found.id, kind.as_str()).await?;
            }
            Some(_) => {}
        }
    }
    let mut credentials = Vec::new();
    let mut admin_id = None;
    for demo in &ACCOUNTS {
        let user = match db::accounts::find_user_by_login(&state.db, demo.login).await? {
            Some(user) => user,
            None => {
                let institution =
                    db::accounts::find_institution_by_name(&state.db, demo.institution)
                        .await?
                        .ok_or_else(|| {
                            anyhow::anyhow!("missing institution {}", demo.institution)
                        })?;
                let (account, _) = accounts::create_account(
                    state,
                    actor.clone(),
                    CreateAccount {
                        login: demo.login.into(),
                        display_name: demo.name.into(),
                        institution_id: institution.id,
                        role: demo.role,
                        attributes: demo.attributes,
                    },
                )
                .await?;
                db::accounts::find_user(&state.db, &account.id)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("account vanished"))?
            }
        };
        if demo.role == Role::Admin {
            admin_id = Some(user.id.clone());
        }
        let password = password::generate(|buf| state.secrets.random(buf))?;
        let mut secret = Zeroizing::new(vec![0u8; 20]);
        state.secrets.random(&mut secret)?;
        let enrolment = totp::enrolment(&secret, &user.login)?;
        let mut user = user;
        user.password_hash = password::hash(password.clone()).await?;
        user.totp_secret_enc = Some(state.secrets.seal(&user.id, &secret)?);
        user.totp_pending_enc = None;
        user.totp_last_step = None;
        user.locked_at = None;
        user.failed_logins = 0;
        user.disabled = false;
        // The demo prints its passwords for the people trying it: usable as they are.
        user.password_change_required = false;
        let user = db::accounts::update_user(&state.db, user).await?;
        db::webauthn::remove_all(&state.db, &user.id).await?;
        crate::auth::lockout::clear(state, &crate::auth::lockout::login_key(state, &user.login))
            .await
            .map_err(|err| anyhow::anyhow!("{err}"))?;
        credentials.push(Credentials {
            login: demo.login.into(),
            role: demo.role,
            password,
            totp_base32: Zeroizing::new(enrolment.secret_base32),
            totp_secret: secret,
        });
    }
    if db::charter::current_charter_version(&state.db)
        .await?
        .is_none()
    {
        let publisher = admin_id.unwrap_or_else(|| "demo-seed".into());
        charter::publish_charter(state, actor.clone(), &publisher, DEMO_CHARTER)
            .await
            .map_err(|err| anyhow::anyhow!("cannot publish the demo charter: {err}"))?;
    }
    seed_referral(state).await?;
    Ok(credentials)
}

/// One referral of the intervenant social to the social services, proposed to the social
/// worker, waiting for her answer (and on the coordinator's dashboard), unless the demo
/// already has referrals. Without a note: a note is sealed by a device, and the demo
/// seeds none.
async fn seed_referral(state: &AppState) -> anyhow::Result<()> {
    use passerelle_shared::protocol::v1::cases::{InformationMethod, Programme};
    use passerelle_shared::protocol::v1::referrals::{ReferralReason, ReferralStatus};

    let find = |login: &'static str| async move {
        db::accounts::find_user_by_login(&state.db, login)
            .await?
            .ok_or_else(|| anyhow::anyhow!("missing demo account {login}"))
    };
    let referrer = find("intervenant.social").await?;
    let referent = find("assistante.sociale").await?;
    if !db::referrals::visible(&state.db, &referrer.id, &referent.institution_id, true)
        .await?
        .is_empty()
    {
        return Ok(());
    }
    let now = state.now_ms();
    db::referrals::insert(
        &state.db,
        db::entities::referral::Model {
            id: uuid::Uuid::new_v4().to_string(),
            client_id: "demo-orientation-logement".into(),
            referrer_id: referrer.id.clone(),
            target_institution: referent.institution_id.clone(),
            reason: ReferralReason::Housing.as_str().into(),
            consent_outcome: "consented".into(),
            consent_method: InformationMethod::InPerson.as_str().into(),
            consent_reason: None,
            programme: Programme::ViolenceAgainstWomenAndDomesticViolence
                .as_str()
                .into(),
            destroy_limit: None,
            proposed_referent: Some(referent.id.clone()),
            note: None,
            status: ReferralStatus::Proposed.as_str().into(),
            opened_at: now,
            decided_by: None,
            decided_at: None,
            decline_reason: None,
            decline_note: None,
            case_id: None,
            referent_id: None,
            followed_at: None,
            closed_at: None,
            scheme: None,
        },
    )
    .await?;
    reports::count(state, Counted::ReferralOpened(ReferralReason::Housing))
        .await
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    Ok(())
}

/// The text printed on the terminal.
pub fn banner(url: &str, credentials: &[Credentials]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\nPasserelle (démonstration) : {url}\n");
    let _ = writeln!(
        out,
        "{:<20} {:<12} {:<24} Secret TOTP (application d'authentification)",
        "Identifiant", "Rôle", "Mot de passe"
    );
    for c in credentials {
        let _ = writeln!(
            out,
            "{:<20} {:<12} {:<24} {}",
            c.login,
            c.role.as_str(),
            c.password.as_str(),
            c.totp_base32.as_str()
        );
    }
    let _ = writeln!(
        out,
        "\nAjoutez le secret TOTP dans une application d'authentification (saisie manuelle),\n\
         puis connectez-vous. Ces identifiants changent à chaque lancement de la démonstration.\n"
    );
    out
}

/// The demonstration's cellule de veille.
const SAMPLE_GROUP: &str = "Cellule de veille";

/// `passerelle demo --sample-meeting`: the coordinator's cellule de veille with the social
/// worker, two situations of the group and a meeting scheduled for tomorrow with both on
/// its agenda, ready to be run from « Réunions ». Seeded once; off by default, so that a
/// fresh demo starts empty as its first steps describe.
pub async fn seed_sample_meeting(state: &AppState) -> anyhow::Result<()> {
    use passerelle_shared::protocol::v1::cases::{CreateCase, Programme};
    use passerelle_shared::protocol::v1::channels::{ChannelKind, CreateChannel, LegalRegime};

    let find = |login: &'static str| async move {
        db::accounts::find_user_by_login(&state.db, login)
            .await?
            .ok_or_else(|| anyhow::anyhow!("missing demo account {login}"))
    };
    let coordinator = find("coordinatrice").await?;
    let social = find("assistante.sociale").await?;
    let already = db::channels::of_user(&state.db, &coordinator.id)
        .await?
        .into_iter()
        .any(|c| c.kind == ChannelKind::WorkingGroup.as_str() && c.name == SAMPLE_GROUP);
    if already {
        return Ok(());
    }
    let user = crate::auth::CurrentUser {
        user_id: coordinator.id.clone(),
        login: coordinator.login.clone(),
        display_name: coordinator.display_name.clone(),
        institution_id: coordinator.institution_id.clone(),
        role: Role::Coordinator,
        attributes: Attributes {
            bound_by_professional_secrecy: coordinator.bound_by_professional_secrecy,
            social_action_professional: coordinator.social_action_professional,
        },
        session_id: "demo-seed".into(),
        client: crate::auth::ClientInfo::default(),
        must_register_security_key: false,
        password_change_required: false,
    };
    let failed = |what: &str, err: crate::error::ApiError| anyhow::anyhow!("{what}: {err:?}");
    let group = crate::app::channels::create(
        state,
        &user,
        CreateChannel {
            kind: ChannelKind::WorkingGroup,
            name: SAMPLE_GROUP.into(),
            regime: LegalRegime::ClspdConfidential,
            institutions: vec![social.institution_id.clone()],
            members: vec![social.id.clone()],
        },
    )
    .await
    .map_err(|err| failed("the sample group", err))?;
    let mut agenda = Vec::new();
    for _ in 0..2 {
        let case = crate::app::cases::create(
            state,
            &user,
            CreateCase {
                programme: Programme::PublicTranquillity,
                reporting_institution: social.institution_id.clone(),
                regime: LegalRegime::ClspdConfidential,
                group_id: Some(group.id.clone()),
                institutions: vec![social.institution_id.clone()],
                members: vec![social.id.clone()],
                referent_user_id: Some(social.id.clone()),
                destroy_limit: None,
                scheme: None,
            },
        )
        .await
        .map_err(|err| failed("a sample case", err))?;
        agenda.push(case.channel.id);
    }
    let tomorrow = state.now_ms() + 24 * 3_600_000;
    crate::app::meetings::seed_scheduled(
        state,
        user.actor(),
        &group.id,
        &coordinator.id,
        tomorrow,
        &agenda,
    )
    .await
    .map_err(|err| failed("the sample meeting", err))?;
    Ok(())
}
