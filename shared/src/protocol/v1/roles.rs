//! Roles and attributes of an account (docs/ARCHITECTURE.md, CHARTER.md C5 and C6).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The one role of an account. Roles are separate duties: an admin is not an auditor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A professional: reads and writes in the channels they belong to.
    Member,
    /// A CLSPD coordinator or session facilitator: also creates channels and manages members.
    Coordinator,
    /// Manages institutions, accounts, devices and charter versions; reads no message and no log.
    Admin,
    /// The DPO or référent: reads, filters, exports and verifies the access log; nothing else.
    Auditor,
    /// An association or a mediator outside the institutions: only the channels they were added to.
    External,
}

impl Role {
    /// Every role, for listings and tests.
    pub const ALL: [Role; 5] = [
        Role::Member,
        Role::Coordinator,
        Role::Admin,
        Role::Auditor,
        Role::External,
    ];

    /// The stable name stored in the database and shown in the access log.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Coordinator => "coordinator",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
            Role::External => "external",
        }
    }

    /// Parses the stable name.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == name)
    }
}

/// Attributes that legal regimes check (CHARTER.md C5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Attributes {
    /// Bound by professional secrecy: required for `child_protection` channels (CASF L226-2-2).
    #[serde(default)]
    pub bound_by_professional_secrecy: bool,
    /// A social-action professional: required for `shared_secret_social` channels (CASF L121-6-2).
    #[serde(default)]
    pub social_action_professional: bool,
}

/// What an institution is, from a closed list (CHARTER.md C5): it bounds the attributes its
/// people may be given, so that no tick box can make a police officer a social-action
/// professional. The table is documented in docs/CHARTER-MAPPING.md.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InstitutionKind {
    /// Police nationale (commissariat).
    PoliceNationale,
    /// Police municipale.
    PoliceMunicipale,
    /// Éducation nationale (schools: teachers, school nurses and social workers).
    EducationNationale,
    /// The département's social services (ASE, service social départemental).
    ActionSocialeDepartement,
    /// Centre communal d'action sociale.
    Ccas,
    /// Protection judiciaire de la jeunesse.
    Pjj,
    /// Justice (parquet, juges, SPIP).
    Justice,
    /// Health (hospital, CMP, PMI doctors).
    Sante,
    /// Mission locale.
    MissionLocale,
    /// Public-tranquillity mediators.
    Mediation,
    /// The intervenant social au commissariat (social workers placed at the police
    /// station): refers people to the CLSPD's institutions (issue 21, item 1).
    InterventionSocialeCommissariat,
    /// The municipality or another local authority (the CLSPD's coordination).
    Collectivite,
    /// An association approved for social or child-protection work.
    AssociationHabilitee,
    /// Not yet classified (institutions created before types existed): admits no protected
    /// attribute until an admin gives it its type.
    #[default]
    Autre,
}

impl InstitutionKind {
    /// Every kind, in the order the admin's list shows them.
    pub const ALL: [InstitutionKind; 14] = [
        InstitutionKind::PoliceNationale,
        InstitutionKind::PoliceMunicipale,
        InstitutionKind::EducationNationale,
        InstitutionKind::ActionSocialeDepartement,
        InstitutionKind::Ccas,
        InstitutionKind::Pjj,
        InstitutionKind::Justice,
        InstitutionKind::Sante,
        InstitutionKind::MissionLocale,
        InstitutionKind::Mediation,
        InstitutionKind::InterventionSocialeCommissariat,
        InstitutionKind::Collectivite,
        InstitutionKind::AssociationHabilitee,
        InstitutionKind::Autre,
    ];

    /// The stable name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            InstitutionKind::PoliceNationale => "police_nationale",
            InstitutionKind::PoliceMunicipale => "police_municipale",
            InstitutionKind::EducationNationale => "education_nationale",
            InstitutionKind::ActionSocialeDepartement => "action_sociale_departement",
            InstitutionKind::Ccas => "ccas",
            InstitutionKind::Pjj => "pjj",
            InstitutionKind::Justice => "justice",
            InstitutionKind::Sante => "sante",
            InstitutionKind::MissionLocale => "mission_locale",
            InstitutionKind::Mediation => "mediation",
            InstitutionKind::InterventionSocialeCommissariat => "intervention_sociale_commissariat",
            InstitutionKind::Collectivite => "collectivite",
            InstitutionKind::AssociationHabilitee => "association_habilitee",
            InstitutionKind::Autre => "autre",
        }
    }

    /// Parses the stable name.
    pub fn parse(name: &str) -> Option<InstitutionKind> {
        InstitutionKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }

    /// Whether people of this kind of institution may be social-action professionals
    /// (CASF L121-6-2: the shared social secret of `shared_secret_social` channels).
    pub fn admits_social_action(self) -> bool {
        matches!(
            self,
            InstitutionKind::EducationNationale
                | InstitutionKind::ActionSocialeDepartement
                | InstitutionKind::Ccas
                | InstitutionKind::Pjj
                | InstitutionKind::MissionLocale
                | InstitutionKind::InterventionSocialeCommissariat
                | InstitutionKind::Collectivite
                | InstitutionKind::AssociationHabilitee
        )
    }

    /// Whether people of this kind of institution may be bound by the professional
    /// secrecy of child protection (CASF L226-2-2: `child_protection` channels).
    pub fn admits_child_protection_secrecy(self) -> bool {
        matches!(
            self,
            InstitutionKind::EducationNationale
                | InstitutionKind::ActionSocialeDepartement
                | InstitutionKind::Ccas
                | InstitutionKind::Pjj
                | InstitutionKind::Justice
                | InstitutionKind::Sante
                | InstitutionKind::InterventionSocialeCommissariat
                | InstitutionKind::Collectivite
                | InstitutionKind::AssociationHabilitee
        )
    }

    /// The first attribute of `attributes` that contradicts this kind, by its stable
    /// refusal code, if any.
    pub fn contradiction(self, attributes: Attributes) -> Option<&'static str> {
        if attributes.social_action_professional && !self.admits_social_action() {
            return Some("social_action_not_allowed");
        }
        if attributes.bound_by_professional_secrecy && !self.admits_child_protection_secrecy() {
            return Some("secrecy_not_allowed");
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_round_trips_through_its_name_and_json() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            let json = serde_json::to_string(&role).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
        }
        assert_eq!(Role::parse("superuser"), None);
    }

    #[test]
    fn every_institution_kind_round_trips_and_police_cannot_hold_a_social_secret() {
        for kind in InstitutionKind::ALL {
            assert_eq!(InstitutionKind::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        let social = Attributes {
            bound_by_professional_secrecy: false,
            social_action_professional: true,
        };
        let secrecy = Attributes {
            bound_by_professional_secrecy: true,
            social_action_professional: false,
        };
        for police in [
            InstitutionKind::PoliceNationale,
            InstitutionKind::PoliceMunicipale,
        ] {
            assert_eq!(
                police.contradiction(social),
                Some("social_action_not_allowed")
            );
            assert_eq!(police.contradiction(secrecy), Some("secrecy_not_allowed"));
            assert_eq!(police.contradiction(Attributes::default()), None);
        }
        assert_eq!(InstitutionKind::Ccas.contradiction(social), None);
        assert_eq!(InstitutionKind::Sante.contradiction(secrecy), None);
        assert_eq!(
            InstitutionKind::Sante.contradiction(social),
            Some("social_action_not_allowed")
        );
        assert_eq!(
            InstitutionKind::Autre.contradiction(secrecy),
            Some("secrecy_not_allowed")
        );
    }
}
