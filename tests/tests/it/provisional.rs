//! Provisional passwords (CHARTER.md C15): a password an administrator generated (a new
//! account, a reset) opens a session that may do nothing but replace it — no channel, no
//! key, no WebSocket — and the refusals are logged.

use std::sync::Mutex;

use passerelle_shared::client::Client;
use passerelle_shared::protocol::v1::admin::{
    AccountWithPassword, CreateAccount, ImportAccounts, ImportedAccounts,
};
use passerelle_shared::protocol::v1::auth::{ChangePasswordRequest, Me};
use passerelle_shared::protocol::v1::error::ErrorBody;
use passerelle_shared::protocol::v1::{Attributes, Role};
use passerelle_tests::{TestServer, TestUser};
use reqwest::{Method, StatusCode};

use crate::support::admin_client;

/// An account created through the admin API, as the console creates it.
async fn created_by_admin(server: &TestServer, admin: &Client, login: &str) -> TestUser {
    let institution_id = server.institution("CCAS").await.unwrap();
    let created: AccountWithPassword = admin
        .post(
            "/admin/users",
            &CreateAccount {
                login: login.into(),
                display_name: "Nadia Provisoire".into(),
                institution_id: institution_id.clone().into(),
                role: Role::Member,
                attributes: Attributes::default(),
            },
        )
        .await
        .unwrap();
    TestUser {
        id: created.account.id.to_string(),
        login: login.into(),
        password: created.password,
        role: Role::Member,
        institution_id,
        totp_secret: Mutex::new(None),
    }
}

async fn refusal(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: ErrorBody = response.json().await.unwrap();
    (status, body.error.code)
}

async fn change_password(client: &Client, current: &str, new: &str) -> reqwest::Response {
    client
        .request(Method::POST, "/me/password")
        .json(&ChangePasswordRequest {
            current_password: current.into(),
            new_password: new.into(),
        })
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_admin_generated_password_must_be_replaced_before_anything_else() {
    let server = TestServer::spawn().await.unwrap();
    let admin = admin_client(&server, "admin").await;
    let user = created_by_admin(&server, &admin, "nadia.provisoire").await;
    let client = server.client(&user).await.unwrap();
    assert!(client.me.password_change_required, "Me says so");

    // Everything else is refused, with a French message, and logged.
    for (method, path) in [
        (Method::GET, "/channels"),
        (Method::GET, "/auth/sessions"),
        (Method::GET, "/charter"),
        (Method::GET, "/directory"),
    ] {
        let response = client.request(method.clone(), path).send().await.unwrap();
        let status = response.status();
        let body: ErrorBody = response.json().await.unwrap();
        assert_eq!(
            (status, body.error.code.as_str()),
            (StatusCode::FORBIDDEN, "password_change_required"),
            "{method} {path}"
        );
        assert!(
            body.error.message.contains("provisoire"),
            "{}",
            body.error.message
        );
    }
    // No WebSocket either.
    assert!(client.connect("any-device").await.is_err());
    let filter = passerelle_server::audit::EventFilter {
        user: Some(user.id.clone()),
        action: Some("password_change_required".into()),
        ..Default::default()
    };
    let denials = server
        .state
        .audit
        .query(&filter, 0, 100)
        .await
        .unwrap()
        .events;
    assert!(
        denials.len() >= 5,
        "every refusal is logged: {}",
        denials.len()
    );

    // Keeping the provisional password is not replacing it.
    let response = change_password(&client, &user.password, &user.password).await;
    assert_eq!(
        refusal(response).await,
        (StatusCode::UNPROCESSABLE_ENTITY, "same_password".into())
    );
    let me: Me = client.get("/me").await.unwrap();
    assert!(me.password_change_required);

    // Replaced: the account works.
    let response = change_password(
        &client,
        &user.password,
        "une phrase que Nadia seule connaît",
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let me: Me = client.get("/me").await.unwrap();
    assert!(!me.password_change_required);
    let response = client
        .request(Method::GET, "/channels")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_reset_password_is_provisional_again_and_fixtures_are_not() {
    let server = TestServer::spawn().await.unwrap();
    let admin = admin_client(&server, "admin").await;
    // The admin itself (a fixture, like the demo's accounts) was never held back.
    assert!(!admin.me.password_change_required);
    let colleague = server
        .create_user("jules.fixe", Role::Member, "CCAS")
        .await
        .unwrap();
    let reset: AccountWithPassword = admin
        .post(
            &format!("/admin/users/{}/reset-password", colleague.id),
            &(),
        )
        .await
        .unwrap();
    let colleague = TestUser {
        password: reset.password,
        ..colleague
    };
    let client = server.client(&colleague).await.unwrap();
    assert!(client.me.password_change_required);
    let response = client
        .request(Method::GET, "/channels")
        .send()
        .await
        .unwrap();
    assert_eq!(
        refusal(response).await,
        (StatusCode::FORBIDDEN, "password_change_required".into())
    );
    // Logging out stays possible.
    let response = client
        .request(Method::POST, "/auth/logout")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

#[tokio::test]
async fn an_admin_imports_a_list_all_or_nothing_and_each_account_starts_provisional() {
    let server = TestServer::spawn().await.unwrap();
    let admin = admin_client(&server, "admin").await;
    let institution_id = server.institution("CCAS").await.unwrap();
    let accounts_before = admin
        .get::<Vec<serde_json::Value>>("/admin/users")
        .await
        .unwrap()
        .len();

    // One bad line refuses the whole file, naming every bad line; nothing is created.
    let broken = "login,name,institution,role\n\
                  nina.ccas,Nina Roux,CCAS,member\n\
                  omar.ccas,Omar Haddad,Bailleur inconnu,member\n\
                  nina.ccas,Nina Roux bis,CCAS,chef\n";
    let response = admin
        .request(Method::POST, "/admin/users/import")
        .json(&ImportAccounts { csv: broken.into() })
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error = response.json::<ErrorBody>().await.unwrap().error;
    assert_eq!(error.code, "invalid_file");
    let message = error.message;
    assert!(message.starts_with("Aucun compte créé"), "{message}");
    assert!(
        message.contains("Ligne 3 : institution « Bailleur inconnu » inconnue"),
        "{message}"
    );
    assert!(
        message.contains("Ligne 4 : l'identifiant « nina.ccas » figure déjà à la ligne 2"),
        "{message}"
    );
    assert!(message.contains("rôle « chef » inconnu"), "{message}");
    let accounts_after = admin
        .get::<Vec<serde_json::Value>>("/admin/users")
        .await
        .unwrap()
        .len();
    assert_eq!(accounts_after, accounts_before, "nothing half-created");
    let actions = crate::support::audit_actions(&server, None).await;
    assert!(actions.contains(&("admin_users_import".into(), "denied".into())));

    // A member may not import.
    let member = server
        .create_user("karim", Role::Member, "CCAS")
        .await
        .unwrap();
    let member = server.client(&member).await.unwrap();
    let response = member
        .request(Method::POST, "/admin/users/import")
        .json(&ImportAccounts {
            csv: "login,name,institution,role\nx.y,X Y,CCAS,admin\n".into(),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // The corrected file creates every account, each with a password to replace at once.
    let fixed = "login,name,institution,role,secrecy\n\
                 nina.ccas,Nina Roux,CCAS,member,oui\n\
                 omar.ccas,Omar Haddad,CCAS,coordinator,non\n";
    let imported: ImportedAccounts = admin
        .post("/admin/users/import", &ImportAccounts { csv: fixed.into() })
        .await
        .unwrap();
    let logins: Vec<&str> = imported
        .accounts
        .iter()
        .map(|a| a.account.login.as_str())
        .collect();
    assert_eq!(logins, ["nina.ccas", "omar.ccas"]);
    assert!(
        imported.accounts[0]
            .account
            .attributes
            .bound_by_professional_secrecy
    );
    assert_eq!(imported.accounts[1].account.role, Role::Coordinator);
    let nina = &imported.accounts[0];
    let user = TestUser {
        id: nina.account.id.to_string(),
        login: nina.account.login.clone(),
        password: nina.password.clone(),
        role: Role::Member,
        institution_id,
        totp_secret: Mutex::new(None),
    };
    let client = server.client(&user).await.unwrap();
    assert!(client.me.password_change_required);
    assert!(actions_of(&server)
        .await
        .contains(&("admin_users_import".into(), "success".into())));
}

async fn actions_of(server: &TestServer) -> Vec<(String, String)> {
    crate::support::audit_actions(server, None).await
}
