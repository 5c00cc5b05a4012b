//! The accounts of a council in one go, from the spreadsheet the coordinator keeps:
//! `passerelle admin import-users FILE.csv`, or the admin console's « Importer une liste ». Every line is checked before any account is
//! created: a file with one bad line creates nothing, and each refusal names its line and
//! the rule, in French, so that the operator fixes the file and runs it again.

use std::collections::HashMap;

use passerelle_shared::ids::normalise_login;
use passerelle_shared::protocol::v1::admin::{Account, CreateAccount, Institution};
use passerelle_shared::protocol::v1::{Attributes, Role};

use serde_json::json;
use zeroize::Zeroizing;

use crate::app::accounts;
use crate::auth::CurrentUser;
use crate::error::{ApiError, Result as ApiResult};
use crate::policy::Capability;
use crate::state::AppState;

/// The most accounts one file may create: a council's wave of newcomers, not a directory.
pub const MAX_ROWS: usize = 500;

/// The columns, in this order, on a first line of headers.
pub const HEADER: [&str; 6] = [
    "login",
    "name",
    "institution",
    "role",
    "secrecy",
    "social_action",
];

/// What `import-users --help` states (the same rules as `create-user`).
pub const IMPORT_RULES: &str = "File: UTF-8 CSV, comma-separated, fields may be \"quoted\"; first line:\n  \
  login,name,institution,role,secrecy,social_action   (the last two columns are optional)\n\
Rules, checked on every line before anything is created:\n  \
  login          3 to 64 characters: letters, digits, '.', '-' or '_'; unique in the file and on the server\n  \
  name           1 to 200 characters\n  \
  institution    the name or id of an existing institution (passerelle admin create-institution)\n  \
  role           member, coordinator, admin, auditor or external\n  \
  secrecy        oui/non (also yes/no, 1/0, empty = non): bound by professional secrecy\n  \
  social_action  oui/non: social-action professional\n  \
  password       generated for each account and printed once (login,password lines on standard\n                 \
  output); a password the user chooses later must have at least 12 characters";

/// One line of the file, checked.
#[derive(Debug)]
pub struct Row {
    /// The line number in the file (1 is the header).
    pub line: usize,
    /// The account to create.
    pub account: CreateAccount,
}

/// Parses and checks the whole file against the existing institutions and logins.
/// Returns every refusal (in French, with its line and rule) or every account to create.
pub fn check(
    text: &str,
    institutions: &[Institution],
    existing_logins: &[String],
) -> Result<Vec<Row>, Vec<String>> {
    let mut errors = Vec::new();
    let mut rows = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut lines = text
        .trim_start_matches('\u{feff}')
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim_end_matches('\r')));
    match lines.next() {
        Some((_, header)) => {
            let columns: Vec<String> = split(header)
                .unwrap_or_default()
                .iter()
                .map(|c| c.trim().to_ascii_lowercase())
                .collect();
            if columns.len() < 4 || columns.len() > 6 || columns[..] != HEADER[..columns.len()] {
                errors.push(format!(
                    "Ligne 1 : en-tête attendu « {} » (les deux dernières colonnes sont \
                     facultatives), trouvé « {header} ».",
                    HEADER.join(",")
                ));
                return Err(errors);
            }
        }
        None => {
            errors.push("Le fichier est vide : la première ligne doit être l'en-tête.".into());
            return Err(errors);
        }
    }
    for (line, text) in lines {
        if text.trim().is_empty() {
            continue;
        }
        let fields = match split(text) {
            Some(fields) => fields,
            None => {
                errors.push(format!(
                    "Ligne {line} : guillemet non fermé (un champ entre guillemets doit se \
                     terminer par un guillemet ; doublez ceux qu'il contient)."
                ));
                continue;
            }
        };
        if !(4..=6).contains(&fields.len()) {
            errors.push(format!(
                "Ligne {line} : {} colonne(s) au lieu de 4 à 6 ({}).",
                fields.len(),
                HEADER.join(",")
            ));
            continue;
        }
        let mut refuse = |what: String| errors.push(format!("Ligne {line} : {what}"));
        let login = match normalise_login(&fields[0]) {
            Ok(login) => login,
            Err(_) => {
                refuse(format!(
                    "identifiant « {} » refusé. {}",
                    fields[0].trim(),
                    ApiError::Unprocessable("invalid_login").message()
                ));
                continue;
            }
        };
        if let Some(first) = seen.get(&login) {
            refuse(format!(
                "l'identifiant « {login} » figure déjà à la ligne {first} : un identifiant est \
                 unique."
            ));
        } else if existing_logins.contains(&login) {
            refuse(format!(
                "l'identifiant « {login} » existe déjà sur le serveur : un identifiant est unique."
            ));
        }
        seen.entry(login.clone()).or_insert(line);
        let name = fields[1].trim();
        if name.is_empty() || name.chars().count() > 200 {
            refuse(format!(
                "nom refusé. {}",
                ApiError::Unprocessable("invalid_name").message()
            ));
        }
        let wanted = fields[2].trim();
        let institution = institutions
            .iter()
            .find(|i| i.id == wanted || i.name == wanted);
        if institution.is_none() {
            refuse(format!(
                "institution « {wanted} » inconnue : créez-la d'abord (console d'administration \
                 ou `passerelle admin create-institution`), puis écrivez son nom exact."
            ));
        }
        let role = Role::parse(fields[3].trim());
        if role.is_none() {
            refuse(format!(
                "rôle « {} » inconnu : member, coordinator, admin, auditor ou external.",
                fields[3].trim()
            ));
        }
        let mut flag = |index: usize, column: &str| match fields.get(index).map(|f| f.trim()) {
            None | Some("") => Some(false),
            Some(value) => match value.to_lowercase().as_str() {
                "oui" | "yes" | "1" | "true" | "vrai" => Some(true),
                "non" | "no" | "0" | "false" | "faux" => Some(false),
                _ => {
                    errors.push(format!(
                        "Ligne {line} : colonne {column} : « {value} » au lieu de oui ou non."
                    ));
                    None
                }
            },
        };
        let secrecy = flag(4, "secrecy");
        let social_action = flag(5, "social_action");
        if let (Some(institution), Some(role), Some(secrecy), Some(social_action)) =
            (institution, role, secrecy, social_action)
        {
            rows.push(Row {
                line,
                account: CreateAccount {
                    login,
                    display_name: name.to_owned(),
                    institution_id: institution.id.clone(),
                    role,
                    attributes: Attributes {
                        bound_by_professional_secrecy: secrecy,
                        social_action_professional: social_action,
                    },
                },
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if rows.len() > MAX_ROWS {
        return Err(vec![format!(
            "{} comptes dans le fichier : {MAX_ROWS} au plus par import, découpez-le.",
            rows.len()
        )]);
    }
    if rows.is_empty() {
        return Err(vec![
            "Aucun compte dans le fichier : une ligne par compte après l'en-tête.".into(),
        ]);
    }
    Ok(rows)
}

/// Imports the accounts of `csv` for an admin: every line is checked before any account
/// is created, so a file with one bad line creates nothing and the answer names each bad
/// line; the accounts are then written in one transaction, all or none. Each account gets a provisional password, shown once, to be changed at its first
/// login.
pub async fn import_accounts(
    state: &AppState,
    user: &CurrentUser,
    csv: &str,
) -> ApiResult<Vec<(Account, Zeroizing<String>)>> {
    const ACTION: &str = "admin_users_import";
    user.require(state, Capability::ManageAccounts, ACTION)
        .await?;
    let institutions = accounts::list_institutions(state).await?;
    let existing: Vec<String> = accounts::list_accounts(state)
        .await?
        .into_iter()
        .map(|account| account.login)
        .collect();
    let rows = match check(csv, &institutions, &existing) {
        Ok(rows) => rows,
        Err(errors) => {
            state
                .record_denial(
                    user.actor(),
                    ACTION,
                    None,
                    json!({ "reason": "invalid_lines", "lines": errors.len() }),
                )
                .await;
            return Err(ApiError::InvalidFile(format!(
                "Aucun compte créé : corrigez le fichier puis recommencez.\n{}",
                errors.join("\n")
            )));
        }
    };
    let created = accounts::create_provisional_accounts(
        state,
        user.actor(),
        rows.into_iter().map(|row| row.account).collect(),
    )
    .await?;
    state
        .record(
            user.actor(),
            ACTION,
            None,
            crate::audit::Outcome::Success,
            json!({ "accounts": created.len() }),
        )
        .await?;
    Ok(created)
}

/// Splits one CSV line (RFC 4180: commas, fields in double quotes with `""` for a
/// quote). `None` when a quote is left open.
fn split(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return None;
    }
    fields.push(field);
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mairie() -> Vec<Institution> {
        vec![Institution {
            id: "i1".into(),
            name: "Mairie".into(),
            kind: passerelle_shared::protocol::v1::InstitutionKind::Collectivite,
            created_at: 0,
        }]
    }

    #[test]
    fn quoted_fields_keep_their_commas_and_quotes() {
        assert_eq!(
            split(r#"a,"Dupont, Jean","dit ""JD""",x"#).unwrap(),
            ["a", "Dupont, Jean", "dit \"JD\"", "x"]
        );
        assert!(split(r#"a,"open"#).is_none());
    }

    #[test]
    fn a_good_file_gives_its_accounts() {
        let text = "login,name,institution,role,secrecy\n\
                    j.dupont,\"Dupont, Jean\",Mairie,coordinator,oui\n\
                    \n\
                    m.martin,Marie Martin,i1,member,\n";
        let rows = check(text, &mairie(), &[]).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].account.display_name, "Dupont, Jean");
        assert!(rows[0].account.attributes.bound_by_professional_secrecy);
        assert_eq!(rows[1].line, 4);
        assert_eq!(rows[1].account.role, Role::Member);
    }

    #[test]
    fn every_bad_line_is_named_with_its_rule() {
        let text = "login,name,institution,role\n\
                    s1,Sophie,Mairie,member\n\
                    ok.login,,Mairie,member\n\
                    ok.login,Autre,Préfecture,chef\n\
                    deja,Déjà là,Mairie,member\n";
        let errors = check(text, &mairie(), &["deja".to_owned()]).unwrap_err();
        let all = errors.join("\n");
        assert!(
            all.contains("Ligne 2 : identifiant « s1 » refusé") && all.contains("3 à 64"),
            "{all}"
        );
        assert!(
            all.contains("Ligne 3 : nom refusé") && all.contains("1 à 200"),
            "{all}"
        );
        assert!(all.contains("Ligne 4 : l'identifiant « ok.login » figure déjà à la ligne 3"));
        assert!(all.contains("Ligne 4 : institution « Préfecture » inconnue"));
        assert!(all.contains("Ligne 4 : rôle « chef » inconnu"));
        assert!(all.contains("Ligne 5 : l'identifiant « deja » existe déjà"));
    }

    #[test]
    fn a_wrong_header_is_refused_before_the_lines() {
        let errors = check("user,nom\nx,y\n", &mairie(), &[]).unwrap_err();
        assert!(
            errors[0].starts_with("Ligne 1 : en-tête attendu"),
            "{errors:?}"
        );
    }
}
