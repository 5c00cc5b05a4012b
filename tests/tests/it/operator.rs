//! The operator's command line (issue 24): accounts imported from a CSV file, checked
//! line by line before anything is created, with the rules in `--help`.

use clap::CommandFactory as _;
use passerelle_server::app::accounts;
use passerelle_server::cli::admin::{run, AdminCommand};
use passerelle_server::cli::Cli;
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::TestServer;

async fn institution(server: &TestServer, name: &str, kind: &str) {
    run(
        &server.state,
        AdminCommand::CreateInstitution {
            name: name.into(),
            kind: kind.into(),
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_csv_file_creates_the_councils_accounts_or_nothing() {
    let server = TestServer::spawn().await.unwrap();
    institution(&server, "Mairie", "collectivite").await;
    institution(&server, "Police municipale", "police_municipale").await;
    let dir = tempfile::tempdir().unwrap();
    let before = accounts::list_accounts(&server.state).await.unwrap().len();

    // One bad line among good ones: nothing is created, and every refusal names its line
    // and its rule in French.
    let bad = dir.path().join("mauvais.csv");
    std::fs::write(
        &bad,
        "login,name,institution,role,secrecy,social_action\n\
         c.durand,Claire Durand,Mairie,coordinator,non,non\n\
         s1,Sophie,Mairie,member\n\
         p.leroy,Paul Leroy,Gendarmerie,member\n\
         m.petit,Marc Petit,Police municipale,chef\n",
    )
    .unwrap();
    let refused = run(
        &server.state,
        AdminCommand::ImportUsers { file: bad.clone() },
    )
    .await
    .unwrap_err()
    .to_string();
    for expected in [
        "aucun compte créé",
        "Ligne 3 : identifiant « s1 » refusé",
        "3 à 64 caractères",
        "Ligne 4 : institution « Gendarmerie » inconnue",
        "Ligne 5 : rôle « chef » inconnu",
    ] {
        assert!(
            refused.contains(expected),
            "{expected:?} missing from:\n{refused}"
        );
    }
    assert!(!refused.contains("Ligne 2"), "{refused}");
    assert_eq!(
        accounts::list_accounts(&server.state).await.unwrap().len(),
        before,
        "a refused file creates no account"
    );

    // The corrected file creates every account, with its role, institution and attributes.
    let good = dir.path().join("conseil.csv");
    std::fs::write(
        &good,
        "login,name,institution,role,secrecy,social_action\r\n\
         c.durand,\"Durand, Claire\",Mairie,coordinator,non,non\r\n\
         s.martin,Sophie Martin,Mairie,member,oui,\r\n\
         m.petit,Marc Petit,Police municipale,member\r\n",
    )
    .unwrap();
    run(
        &server.state,
        AdminCommand::ImportUsers { file: good.clone() },
    )
    .await
    .unwrap();
    let all = accounts::list_accounts(&server.state).await.unwrap();
    let find = |login: &str| all.iter().find(|a| a.login == login).unwrap();
    assert_eq!(find("c.durand").display_name, "Durand, Claire");
    assert_eq!(find("c.durand").role, Role::Coordinator);
    assert!(find("s.martin").attributes.bound_by_professional_secrecy);
    assert!(!find("m.petit").attributes.bound_by_professional_secrecy);
    assert_eq!(all.len(), before + 3);
    // Their passwords went through the operator's hands: each must be replaced at the
    // first login, as the admin console's are.
    for login in ["c.durand", "s.martin", "m.petit"] {
        let created =
            crate::support::audit_events(&server, &find(login).id, "admin_user_created").await;
        assert_eq!(created.len(), 1, "{login}");
        assert!(
            created[0].details.contains("\"provisional_password\":true"),
            "{login}: {}",
            created[0].details
        );
    }

    // Run twice by mistake: refused (the logins exist), nothing duplicated.
    let again = run(&server.state, AdminCommand::ImportUsers { file: good })
        .await
        .unwrap_err()
        .to_string();
    assert!(
        again.contains("Ligne 2 : l'identifiant « c.durand » existe déjà"),
        "{again}"
    );
    assert_eq!(
        accounts::list_accounts(&server.state).await.unwrap().len(),
        before + 3
    );
}

#[test]
fn the_account_commands_state_their_rules_in_help() {
    let mut cli = Cli::command();
    let admin = cli.find_subcommand_mut("admin").unwrap();
    for name in ["import-users", "create-user"] {
        let help = admin
            .find_subcommand_mut(name)
            .unwrap()
            .render_long_help()
            .to_string();
        for rule in [
            "3 to 64 characters: letters, digits, '.', '-' or '_'",
            "1 to 200 characters",
            "at least 12 characters",
        ] {
            assert!(help.contains(rule), "{name} --help lacks {rule:?}:\n{help}");
        }
    }
}
