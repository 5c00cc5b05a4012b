//! # passerelle-tests
//!
//! Test support for the integration suites: [`TestServer`] starts the real application
//! on an ephemeral port with its own data directory (and, for PostgreSQL, its own
//! database), a manual clock, and helpers to create accounts and log in as a user would.
//!
//! Every suite runs on both backends: `PASSERELLE_TEST_BACKEND=sqlite` (the default) or
//! `postgres` picks the one [`TestServer::spawn`] uses; `scripts/test.sh` runs the
//! integration suite once with each.

pub mod pg;
pub mod webauthn;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use base64::Engine;
use passerelle_server::audit::Actor;
use passerelle_server::clock::{Clock, ManualClock};
use passerelle_server::config::Config;
use passerelle_server::AppState;
use passerelle_shared::client::{Client, Device};
use passerelle_shared::protocol::v1::admin::CreateAccount;
use passerelle_shared::protocol::v1::auth::Me;
use passerelle_shared::protocol::v1::auth::{
    LoginChallenge, LoginRequest, NextStep, SessionOpened, TotpRequest,
};
use passerelle_shared::protocol::v1::{Attributes, InstitutionKind, Role};
use tokio::sync::oneshot;

/// A running server for one test.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its state, for direct checks (the database, the access log).
    pub state: AppState,
    /// The clock the server reads; tests move it forward instead of sleeping.
    pub clock: Arc<ManualClock>,
    /// Its data directory, deleted with the server.
    pub data_dir: tempfile::TempDir,
    /// A PostgreSQL database made for this server, dropped with it.
    pub pg: Option<pg::TestDatabase>,
    /// Where the access log's checkpoint key lives: apart from the data directory, as in
    /// production.
    pub keys_dir: tempfile::TempDir,
    config: Config,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// An account created for a test, with what its user knows.
#[derive(Debug)]
pub struct TestUser {
    /// Account id.
    pub id: String,
    /// Login.
    pub login: String,
    /// Password.
    pub password: String,
    /// Role.
    pub role: Role,
    /// Institution id.
    pub institution_id: String,
    /// The TOTP secret, once enrolled (like the user's phone).
    pub totp_secret: Mutex<Option<Vec<u8>>>,
}

/// A logged-in session.
#[derive(Clone, Debug)]
pub struct Session {
    /// The bearer token.
    pub token: String,
    /// The session id.
    pub session_id: String,
}

/// The database a test server runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded SQLite file of the data directory.
    Sqlite,
    /// A PostgreSQL database made for the test (see [`pg`]).
    Postgres,
}

impl Backend {
    /// The backend `PASSERELLE_TEST_BACKEND` names: `sqlite` (also when unset) or
    /// `postgres`. Anything else is an error, so that a typo cannot silently test SQLite.
    pub fn from_env() -> anyhow::Result<Backend> {
        match std::env::var("PASSERELLE_TEST_BACKEND") {
            Err(std::env::VarError::NotPresent) => Ok(Backend::Sqlite),
            Ok(name) => match name.as_str() {
                "" | "sqlite" => Ok(Backend::Sqlite),
                "postgres" | "postgresql" => Ok(Backend::Postgres),
                other => anyhow::bail!(
                    "PASSERELLE_TEST_BACKEND must be sqlite or postgres, not {other:?}"
                ),
            },
            Err(err) => Err(err.into()),
        }
    }
}

impl TestServer {
    /// A server on a fresh database of the backend `PASSERELLE_TEST_BACKEND` names.
    pub async fn spawn() -> anyhow::Result<TestServer> {
        TestServer::spawn_with(|_| {}).await
    }

    /// A server whose configuration `adjust` may change (the listener is always port 0),
    /// on a fresh database of the backend `PASSERELLE_TEST_BACKEND` names.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> anyhow::Result<TestServer> {
        TestServer::spawn_on(Backend::from_env()?, adjust).await
    }

    /// A server on a fresh database of `backend`, whose configuration `adjust` may change.
    pub async fn spawn_on(
        backend: Backend,
        adjust: impl FnOnce(&mut Config),
    ) -> anyhow::Result<TestServer> {
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(pg::TestDatabase::create().await?),
        };
        let data_dir = tempfile::tempdir()?;
        let keys_dir = tempfile::tempdir()?;
        let mut config = Config {
            data_dir: data_dir.path().to_path_buf(),
            tls: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: pg.as_ref().map(|database| database.url.clone()),
            ..Config::default()
        };
        config.audit.log_key_file = Some(keys_dir.path().join("audit-log.key"));
        config.audit.generate_log_key = true;
        // The suites sign admins and auditors in with TOTP; the WebAuthn suite turns the
        // default policy (a key required for them) back on where it tests it.
        config.webauthn.required_roles.clear();
        adjust(&mut config);
        TestServer::start(config, data_dir, keys_dir, pg).await
    }

    /// The backend this server runs on.
    pub fn backend(&self) -> Backend {
        if self.pg.is_some() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// A server on its own new PostgreSQL database, whatever the environment says.
    pub async fn spawn_postgres() -> anyhow::Result<TestServer> {
        TestServer::spawn_on(Backend::Postgres, |_| {}).await
    }

    async fn start(
        mut config: Config,
        data_dir: tempfile::TempDir,
        keys_dir: tempfile::TempDir,
        pg: Option<pg::TestDatabase>,
    ) -> anyhow::Result<TestServer> {
        if let Ok(filter) = std::env::var("PASSERELLE_TEST_LOG") {
            // Server logs while debugging a test: PASSERELLE_TEST_LOG=debug cargo test …
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
        let listener = std::net::TcpListener::bind(config.listen)?;
        let addr = listener.local_addr()?;
        config.listen = addr;
        if config.tls {
            // Generated now, so that tests can read the certificate the server will use.
            passerelle_server::tls::load_or_generate(&config)?;
        }
        let clock = ManualClock::starting_now();
        let state = AppState::build(config.clone(), clock.clone() as Arc<dyn Clock>).await?;
        let (shutdown, on_shutdown) = oneshot::channel::<()>();
        let task = tokio::spawn(passerelle_server::serve(
            listener,
            state.clone(),
            async move {
                let _ = on_shutdown.await;
            },
        ));
        Ok(TestServer {
            addr,
            state,
            clock,
            data_dir,
            pg,
            keys_dir,
            config,
            shutdown: Some(shutdown),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:port` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The origin browsers would use.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A plain HTTP client (no cookies).
    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::new()
    }

    /// Creates an institution (or finds it) and returns its id. Its type admits every
    /// attribute (a département's social services); use [`Self::institution_of_kind`]
    /// where the type matters.
    pub async fn institution(&self, name: &str) -> anyhow::Result<String> {
        self.institution_of_kind(name, InstitutionKind::ActionSocialeDepartement)
            .await
    }

    /// Creates an institution of `kind` (or finds it by name) and returns its id.
    pub async fn institution_of_kind(
        &self,
        name: &str,
        kind: InstitutionKind,
    ) -> anyhow::Result<String> {
        let existing = passerelle_server::app::accounts::list_institutions(&self.state).await?;
        if let Some(found) = existing.into_iter().find(|i| i.name == name) {
            return Ok(found.id.into_string());
        }
        Ok(passerelle_server::app::accounts::create_institution(
            &self.state,
            Actor::default(),
            name,
            kind,
        )
        .await?
        .id
        .into_string())
    }

    /// Creates an account in `institution` with `role`.
    pub async fn create_user(
        &self,
        login: &str,
        role: Role,
        institution: &str,
    ) -> anyhow::Result<TestUser> {
        self.create_user_with(login, role, institution, Attributes::default())
            .await
    }

    /// Creates an account with attributes.
    pub async fn create_user_with(
        &self,
        login: &str,
        role: Role,
        institution: &str,
        attributes: Attributes,
    ) -> anyhow::Result<TestUser> {
        let institution_id = self.institution(institution).await?;
        let (account, password) = passerelle_server::app::accounts::create_account(
            &self.state,
            Actor::default(),
            CreateAccount {
                login: login.into(),
                display_name: format!("Test {login}"),
                institution_id: institution_id.clone().into(),
                role,
                attributes,
            },
        )
        .await?;
        Ok(TestUser {
            id: account.id.into_string(),
            login: account.login,
            password: password.to_string(),
            role,
            institution_id,
            totp_secret: Mutex::new(None),
        })
    }

    /// The password step, as a client would send it.
    pub async fn password_step(
        &self,
        login: &str,
        password: &str,
    ) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .http()
            .post(self.url("/api/v1/auth/login"))
            .json(&LoginRequest {
                login: login.into(),
                password: password.into(),
            })
            .send()
            .await?)
    }

    /// The TOTP step.
    pub async fn totp_step(
        &self,
        challenge: &str,
        code: &str,
        bearer: bool,
    ) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .http()
            .post(self.url("/api/v1/auth/totp"))
            .json(&TotpRequest {
                challenge: challenge.into(),
                code: code.into(),
                bearer,
            })
            .send()
            .await?)
    }

    /// The code the user's authenticator shows now (by the server's clock).
    pub fn current_code(&self, user: &TestUser) -> anyhow::Result<String> {
        let secret = user
            .totp_secret
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .clone()
            .context("TOTP not enrolled yet")?;
        totp_code(&secret, &user.login, self.clock.now_ms())
    }

    /// Logs in as a user would (enrolling TOTP the first time) and returns a bearer
    /// session. Moves the clock to the next TOTP step first, since a code is single-use.
    pub async fn login(&self, user: &TestUser) -> anyhow::Result<Session> {
        self.clock.advance_ms(30_000);
        let response = self.password_step(&user.login, &user.password).await?;
        anyhow::ensure!(
            response.status().is_success(),
            "password step: {}",
            response.status()
        );
        let challenge: LoginChallenge = response.json().await?;
        if challenge.next == NextStep::TotpEnrolment {
            let enrolment = challenge.enrolment.context("enrolment missing")?;
            let secret = base32_decode(&enrolment.secret_base32)?;
            *user
                .totp_secret
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))? = Some(secret);
        }
        let code = self.current_code(user)?;
        let response = self.totp_step(&challenge.challenge, &code, true).await?;
        anyhow::ensure!(
            response.status().is_success(),
            "TOTP step: {}",
            response.status()
        );
        let opened: SessionOpened = response.json().await?;
        Ok(Session {
            token: opened.token.context("no token")?,
            session_id: opened.session_id,
        })
    }

    /// A logged-in SDK client for `user`.
    pub async fn client(&self, user: &TestUser) -> anyhow::Result<Client> {
        let session = self.login(user).await?;
        let me: Me = self
            .http()
            .get(self.url("/api/v1/me"))
            .bearer_auth(&session.token)
            .send()
            .await?
            .json()
            .await?;
        Ok(Client::with_token(&self.url(""), session.token, me))
    }

    /// A logged-in SDK client with its first device enrolled, and the recovery code.
    pub async fn enrolled(&self, user: &TestUser) -> anyhow::Result<(Client, Device, String)> {
        let mut client = self.client(user).await?;
        let enrolment = client.enrol_first_device("Poste de test").await?;
        let code = enrolment.recovery_code.to_display_string().to_string();
        Ok((client, enrolment.device, code))
    }

    /// Stops the server and starts a new one on the same data directory, database and
    /// port (clients reconnect to the same address). The clock carries on.
    pub async fn restart(mut self) -> anyhow::Result<TestServer> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.await??;
        }
        let data_dir = std::mem::replace(&mut self.data_dir, tempfile::tempdir()?);
        let keys_dir = std::mem::replace(&mut self.keys_dir, tempfile::tempdir()?);
        let pg = self.pg.take();
        let now = self.clock.now_ms();
        self.state.db.clone().close().await?;
        let mut restarted = TestServer::start(self.config.clone(), data_dir, keys_dir, pg).await?;
        let offset = now - restarted.clock.now_ms();
        restarted.clock.advance_ms(offset.max(0));
        restarted.addr = self.addr;
        Ok(restarted)
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.await??;
        }
        Ok(())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// The TOTP code for `secret` at `now_ms`, as an authenticator app computes it.
pub fn totp_code(secret: &[u8], login: &str, now_ms: i64) -> anyhow::Result<String> {
    let totp = totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        secret.to_vec(),
        Some("Passerelle".into()),
        login.into(),
    )
    .map_err(|err| anyhow::anyhow!("{err}"))?;
    Ok(totp.generate(u64::try_from(now_ms / 1000)?))
}

/// Decodes an RFC 4648 base32 secret as authenticator apps do.
pub fn base32_decode(text: &str) -> anyhow::Result<Vec<u8>> {
    totp_rs::Secret::Encoded(text.to_owned())
        .to_bytes()
        .map_err(|err| anyhow::anyhow!("bad base32: {err:?}"))
}

/// Unpadded base64url, the encoding of keys and tokens on the wire.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The access-log events recorded for `target` (all when `None`), as (action, outcome).
pub async fn audit_actions(server: &TestServer, target: Option<&str>) -> Vec<(String, String)> {
    let filter = passerelle_server::audit::EventFilter {
        target: target.map(str::to_owned),
        ..Default::default()
    };
    let mut actions = Vec::new();
    let mut after = 0;
    loop {
        let page = match server.state.audit.query(&filter, after, 1000).await {
            Ok(page) => page,
            Err(err) => panic!("cannot query the access log: {err}"),
        };
        actions.extend(page.events.into_iter().map(|e| (e.action, e.outcome)));
        match page.next_after_seq {
            Some(next) => after = next,
            None => return actions,
        }
    }
}
