//! Validated identifiers that cross the wire.
//!
//! Logins are normalised once, here, so that "Marie.Dupont" and "marie.dupont" are one
//! account everywhere: in the database, in throttling and in the access log.
//!
//! The ids of users, devices, channels (and so cases) and institutions are newtypes over
//! `String`: all are opaque strings on the wire, and a plain `String` let a device id be
//! passed where a user id was expected without the compiler noticing. Each is
//! `#[serde(transparent)]`, so the JSON does not change; the server's database entities
//! keep plain strings and convert at their edge.
//!
//! ```compile_fail,E0308
//! use passerelle_shared::ids::{DeviceId, UserId};
//!
//! fn user_of(user: &UserId) -> &str {
//!     user
//! }
//!
//! let device = DeviceId::from("device-1");
//! user_of(&device); // a device id is not a user id
//! ```

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use utoipa::ToSchema;

/// Defines an opaque string id: transparent on the wire, a string in the OpenAPI
/// document, readable as a `&str` everywhere a string is needed.
macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
        )]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The id as a string, for the database and other edges that keep strings.
            pub fn into_string(self) -> String {
                self.0
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl From<&String> for $name {
            fn from(id: &String) -> Self {
                Self(id.clone())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

string_id! {
    /// An account's id.
    UserId
}

string_id! {
    /// A device's id: one account has several (browser, phone, linked devices), each
    /// with its own keys.
    DeviceId
}

string_id! {
    /// A channel's id.
    ChannelId
}

string_id! {
    /// An institution's id.
    InstitutionId
}

/// A case's id. A case is a channel (named by a random case reference, with its own
/// lifecycle): its id is the channel's, and a case id goes everywhere a channel id does
/// (messages, keys, membership), so it is the same type rather than a second newtype
/// that would need converting at every such call.
pub type CaseId = ChannelId;

/// Why a login was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LoginError {
    /// Fewer than 3 or more than 64 characters.
    #[error("a login has 3 to 64 characters")]
    Length,
    /// Something other than a–z, 0–9, `.`, `-`, `_`.
    #[error("a login uses only a-z, 0-9, '.', '-' and '_'")]
    Characters,
}

/// Normalises and validates a login: trimmed, lower-case ASCII letters, digits, `.`, `-`, `_`.
pub fn normalise_login(raw: &str) -> Result<String, LoginError> {
    let login = raw.trim().to_ascii_lowercase();
    if !(3..=64).contains(&login.len()) {
        return Err(LoginError::Length);
    }
    if !login
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err(LoginError::Characters);
    }
    Ok(login)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_are_case_insensitive_and_trimmed() {
        assert_eq!(
            normalise_login("  Marie.Dupont ").as_deref(),
            Ok("marie.dupont")
        );
    }

    #[test]
    fn ids_are_plain_strings_on_the_wire() {
        let user = UserId::from("u-1");
        assert_eq!(
            serde_json::to_string(&user).ok().as_deref(),
            Some("\"u-1\"")
        );
        let back: Result<UserId, _> = serde_json::from_str("\"u-1\"");
        assert_eq!(back.ok(), Some(user.clone()));
        assert_eq!(user, "u-1");
        assert_eq!(user.to_string(), "u-1");
        assert_eq!(user.into_string(), "u-1");
    }

    #[test]
    fn logins_with_other_characters_are_refused() {
        assert_eq!(normalise_login("marie dupont"), Err(LoginError::Characters));
        assert_eq!(normalise_login("élodie"), Err(LoginError::Characters));
        assert_eq!(normalise_login("ab"), Err(LoginError::Length));
    }
}
