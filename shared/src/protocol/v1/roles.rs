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
}
