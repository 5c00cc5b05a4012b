//! `passerelle demo`: a ready-to-try server with the institutions of a CLSPD and one
//! account per role. Each run gives the demo accounts fresh passwords and TOTP secrets
//! and prints them: nothing secret is kept in clear anywhere. Their passkeys and security
//! keys are forgotten too, so that the admin and the auditor (whose role requires a key)
//! register one at their first login of the run.

use std::fmt::Write as _;

use passerelle_shared::protocol::v1::admin::CreateAccount;
use passerelle_shared::protocol::v1::cases::{
    CreateCase, InformationMethod, LocalScheme, Programme,
};
use passerelle_shared::protocol::v1::channels::{ChannelKind, CreateChannel, LegalRegime};
use passerelle_shared::protocol::v1::field_reports::{FieldReportCategory, FieldReportStatus};
use passerelle_shared::protocol::v1::referrals::{ReferralReason, ReferralStatus};
use passerelle_shared::protocol::v1::{Attributes, InstitutionKind, Role};
use zeroize::Zeroizing;

use crate::app::accounts;
use crate::app::charter;
use crate::app::reports::{self, Counted};
use crate::audit::Actor;
use crate::auth::CurrentUser;
use crate::auth::{password, totp};
use crate::db;
use crate::db::entities::{field_report, referral, user};
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

/// One account per role, and the professionals of the CLSPD's weekly work: a police
/// officer, a social worker, the intervenant social, a school's CPE and a mediator.
pub const ACCOUNTS: [DemoAccount; 8] = [
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
        login: "cpe.college",
        name: "Lucie Garnier",
        institution: INSTITUTIONS[2].0,
        role: Role::Member,
        // The school's conseillère principale d'éducation: refers excluded pupils under
        // ACTE (issue 21, item 4).
        attributes: NONE,
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
                        institution_id: institution.id.into(),
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
    let referrer = find_account(state, "intervenant.social").await?;
    let referent = find_account(state, "assistante.sociale").await?;
    if !db::referrals::visible(&state.db, &referrer.id, &referent.institution_id, true)
        .await?
        .is_empty()
    {
        return Ok(());
    }
    insert_referral(
        state,
        DemoReferral {
            client_id: "demo-orientation-logement",
            referrer: &referrer,
            referent: &referent,
            reason: ReferralReason::Housing,
            programme: Programme::ViolenceAgainstWomenAndDomesticViolence,
            destroy_limit: None,
            scheme: None,
        },
    )
    .await
}

/// A referral the demo seeds: proposed to `referent`, of their institution, the person
/// informed in person and consenting. Without a note: a note is sealed by a device.
struct DemoReferral<'a> {
    client_id: &'static str,
    referrer: &'a user::Model,
    referent: &'a user::Model,
    reason: ReferralReason,
    programme: Programme,
    destroy_limit: Option<i64>,
    scheme: Option<LocalScheme>,
}

/// Stores a demo referral and counts it, as an opening would.
async fn insert_referral(state: &AppState, referral: DemoReferral<'_>) -> anyhow::Result<()> {
    db::referrals::insert(
        &state.db,
        referral::Model {
            id: uuid::Uuid::new_v4().to_string(),
            client_id: referral.client_id.into(),
            referrer_id: referral.referrer.id.clone(),
            target_institution: referral.referent.institution_id.clone(),
            reason: referral.reason.as_str().into(),
            consent_outcome: "consented".into(),
            consent_method: InformationMethod::InPerson.as_str().into(),
            consent_reason: None,
            programme: referral.programme.as_str().into(),
            destroy_limit: referral.destroy_limit,
            proposed_referent: Some(referral.referent.id.clone()),
            note: None,
            status: ReferralStatus::Proposed.as_str().into(),
            opened_at: state.now_ms(),
            decided_by: None,
            decided_at: None,
            decline_reason: None,
            decline_note: None,
            case_id: None,
            referent_id: None,
            followed_at: None,
            closed_at: None,
            scheme: referral
                .scheme
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?,
        },
    )
    .await?;
    reports::count(state, Counted::ReferralOpened(referral.reason))
        .await
        .map_err(|err| failed("a sample referral's count", err))
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

/// The demonstration's group of the mediators and their partners.
const MEDIATION_GROUP: &str = "Médiation et tranquillité publique";

/// The demonstration's groups under the two protected regimes (CHARTER.md C5): only the
/// social-action professionals join the first, only those bound by professional secrecy
/// the second; the police officer, the school's CPE and the mediator cannot be added.
const PROTECTED_GROUPS: [(&str, LegalRegime, &[&str]); 2] = [
    (
        "Secret partagé : accompagnement social",
        LegalRegime::SharedSecretSocial,
        &["assistante.sociale", "intervenant.social"],
    ),
    (
        "Protection de l’enfance",
        LegalRegime::ChildProtection,
        &["assistante.sociale"],
    ),
];

/// The internal rules the sample groups are created with, so that their members only have
/// to accept them (CHARTER.md C3).
const SAMPLE_GROUP_RULES: &str = "\
# Règlement intérieur du groupe (démonstration)

1. Les situations sont désignées par leur référence, jamais par le nom de la personne.
2. Seuls les membres nommés du groupe lisent ce qui s’y échange.
3. Chaque membre n’écrit que ce qui est nécessaire à la coordination.
";

/// What `passerelle demo` seeds unless `--no-sample-week`: a week of the CLSPD, ready to
/// be tried from the browser (README « What a CLSPD does each week »).
///
/// - the coordinator's cellule de veille with the social worker, two situations and a
///   meeting scheduled for tomorrow with both on its agenda, ready to be run from
///   « Réunions »;
/// - the mediation group (coordinator, police officer, mediator) with a field report of
///   the mediator waiting to be taken in charge in « Signalements »;
/// - an ACTE referral of the school's CPE to the town hall's youth service, waiting for
///   the coordinator in « Orientations »;
/// - a group under each protected regime ([`PROTECTED_GROUPS`]).
///
/// Each part is seeded once: a demo restarted on the same data directory adds nothing.
pub async fn seed_sample_week(state: &AppState) -> anyhow::Result<()> {
    let coordinator = demo_user(state, "coordinatrice").await?;
    seed_sample_meeting(state, &coordinator).await?;
    seed_field_report(state, &coordinator).await?;
    seed_acte_referral(state).await?;
    seed_protected_groups(state, &coordinator).await
}

/// One working group per protected regime, its members those the regime admits.
async fn seed_protected_groups(state: &AppState, coordinator: &CurrentUser) -> anyhow::Result<()> {
    for (name, regime, logins) in PROTECTED_GROUPS {
        if has_group(state, coordinator, name).await? {
            continue;
        }
        let mut members = Vec::new();
        for login in logins {
            members.push(find_account(state, login).await?);
        }
        let members: Vec<&user::Model> = members.iter().collect();
        sample_group(state, coordinator, name, regime, &members).await?;
    }
    Ok(())
}

/// A demo account, by login.
async fn find_account(state: &AppState, login: &str) -> anyhow::Result<user::Model> {
    db::accounts::find_user_by_login(&state.db, login)
        .await?
        .ok_or_else(|| anyhow::anyhow!("missing demo account {login}"))
}

/// A demo account acting as if signed in, for the seeding's requests.
async fn demo_user(state: &AppState, login: &str) -> anyhow::Result<CurrentUser> {
    let account = find_account(state, login).await?;
    Ok(CurrentUser {
        role: Role::parse(&account.role).unwrap_or(Role::Member),
        attributes: Attributes {
            bound_by_professional_secrecy: account.bound_by_professional_secrecy,
            social_action_professional: account.social_action_professional,
        },
        user_id: account.id,
        login: account.login,
        display_name: account.display_name,
        institution_id: account.institution_id,
        session_id: "demo-seed".into(),
        client: crate::auth::ClientInfo::default(),
        must_register_security_key: false,
        password_change_required: false,
    })
}

/// Whether `user` already has a working group called `name`.
async fn has_group(state: &AppState, user: &CurrentUser, name: &str) -> anyhow::Result<bool> {
    Ok(db::channels::of_user(&state.db, &user.user_id)
        .await?
        .into_iter()
        .any(|c| c.kind == ChannelKind::WorkingGroup.as_str() && c.name == name))
}

/// A working group of the coordinator with `members`, under `regime`, its rules published.
async fn sample_group(
    state: &AppState,
    coordinator: &CurrentUser,
    name: &str,
    regime: LegalRegime,
    members: &[&user::Model],
) -> anyhow::Result<String> {
    let group = crate::app::channels::create(
        state,
        coordinator,
        CreateChannel {
            kind: ChannelKind::WorkingGroup,
            name: name.into(),
            regime,
            institutions: members
                .iter()
                .map(|m| m.institution_id.as_str().into())
                .collect(),
            members: members.iter().map(|m| m.id.as_str().into()).collect(),
        },
    )
    .await
    .map_err(|err| failed(name, err))?;
    charter::publish_rules(state, coordinator, &group.id, SAMPLE_GROUP_RULES)
        .await
        .map_err(|err| failed("the sample group's rules", err))?;
    Ok(group.id.to_string())
}

fn failed(what: &str, err: crate::error::ApiError) -> anyhow::Error {
    anyhow::anyhow!("{what}: {err:?}")
}

/// The cellule de veille with the social worker, two situations of the group, and a
/// meeting scheduled for tomorrow with both on its agenda.
async fn seed_sample_meeting(state: &AppState, coordinator: &CurrentUser) -> anyhow::Result<()> {
    if has_group(state, coordinator, SAMPLE_GROUP).await? {
        return Ok(());
    }
    let social = find_account(state, "assistante.sociale").await?;
    let group_id = sample_group(
        state,
        coordinator,
        SAMPLE_GROUP,
        LegalRegime::ClspdConfidential,
        &[&social],
    )
    .await?;
    let mut agenda = Vec::new();
    for _ in 0..2 {
        let case = crate::app::cases::create(
            state,
            coordinator,
            CreateCase {
                programme: Programme::PublicTranquillity,
                reporting_institution: social.institution_id.clone().into(),
                regime: LegalRegime::ClspdConfidential,
                group_id: Some(group_id.clone().into()),
                institutions: vec![social.institution_id.clone().into()],
                members: vec![social.id.clone().into()],
                referent_user_id: Some(social.id.clone().into()),
                destroy_limit: None,
                scheme: None,
            },
        )
        .await
        .map_err(|err| failed("a sample case", err))?;
        agenda.push(case.channel.id.into_string());
    }
    let tomorrow = state.now_ms() + 24 * 3_600_000;
    crate::app::meetings::seed_scheduled(
        state,
        coordinator.actor(),
        &group_id,
        &coordinator.user_id,
        tomorrow,
        &agenda,
    )
    .await
    .map_err(|err| failed("the sample meeting", err))?;
    Ok(())
}

/// The mediation group (the coordinator, the police officer and the mediator) and a field
/// report of the mediator about a broken street light, filed this morning. No device
/// sealed a description for it: the browser says it is the demonstration's sample.
async fn seed_field_report(state: &AppState, coordinator: &CurrentUser) -> anyhow::Result<()> {
    if has_group(state, coordinator, MEDIATION_GROUP).await? {
        return Ok(());
    }
    let police = find_account(state, "policier").await?;
    let mediator = find_account(state, "mediateur").await?;
    let group_id = sample_group(
        state,
        coordinator,
        MEDIATION_GROUP,
        LegalRegime::ClspdConfidential,
        &[&police, &mediator],
    )
    .await?;
    let now = state.now_ms();
    let category = FieldReportCategory::TechnicalFault;
    let model = field_report::Model {
        id: uuid::Uuid::new_v4().to_string(),
        group_id: group_id.clone(),
        author_id: mediator.id.clone(),
        category: category.as_str().to_owned(),
        place: "Rue des Tilleuls, devant l’entrée B".to_owned(),
        observed_at: now - 2 * 3_600_000,
        filed_at: now,
        status: FieldReportStatus::New.as_str().to_owned(),
        description: String::new(),
        description_device: "demo-seed".to_owned(),
        description_msg_id: uuid::Uuid::new_v4().to_string(),
        epoch: 0,
        answer_epoch: None,
        handled_by: None,
        handled_at: None,
        answer: None,
        answered_by: None,
        answered_at: None,
    };
    let txn = db::begin_write(&state.db).await?;
    db::field_reports::insert(&txn, model.clone()).await?;
    reports::count_in(&txn, now, Counted::FieldReportFiled(category))
        .await
        .map_err(|err| failed("the sample report's count", err))?;
    reports::count_in(
        &txn,
        now,
        Counted::FieldReportReached(FieldReportStatus::New),
    )
    .await
    .map_err(|err| failed("the sample report's count", err))?;
    txn.commit().await?;
    Ok(())
}

/// An ACTE referral of the school's CPE: a pupil excluded for three days from tomorrow,
/// hosted by the town hall's youth service, waiting for the coordinator's answer.
async fn seed_acte_referral(state: &AppState) -> anyhow::Result<()> {
    const DAY_MS: i64 = 24 * 3_600_000;
    let cpe = find_account(state, "cpe.college").await?;
    let coordinator = find_account(state, "coordinatrice").await?;
    if !db::referrals::visible(&state.db, &cpe.id, &cpe.institution_id, false)
        .await?
        .is_empty()
    {
        return Ok(());
    }
    let now = state.now_ms();
    let tomorrow = (now / DAY_MS + 1) * DAY_MS;
    let scheme = LocalScheme::Acte {
        school_institution: cpe.institution_id.clone().into(),
        excluded_from: tomorrow,
        excluded_until: tomorrow + 2 * DAY_MS,
        host_institution: coordinator.institution_id.clone().into(),
    };
    insert_referral(
        state,
        DemoReferral {
            client_id: "demo-orientation-acte",
            referrer: &cpe,
            referent: &coordinator,
            reason: ReferralReason::Schooling,
            programme: Programme::YouthExposedToDelinquency,
            // A pupil of about fourteen: the case goes at the latest at their 25th birthday.
            destroy_limit: Some(crate::clock::years_after(now, 11)),
            scheme: Some(scheme),
        },
    )
    .await
}
