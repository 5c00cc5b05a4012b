//! The one e-mail Passerelle sends: « Vous avez de nouveaux messages sur Passerelle »,
//! with the site's address and nothing else — no content, no sender, no channel name, since
//! an e-mail leaves the end-to-end encrypted perimeter and may be read by anyone on its way.

use std::time::Duration;

use anyhow::Context;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use zeroize::Zeroizing;

use crate::config::{Config, NoticesConfig, SmtpTls};

/// The subject of every notice.
pub(crate) const SUBJECT: &str = "Vous avez de nouveaux messages sur Passerelle";

/// The environment variable that may hold the SMTP password (instead of a file).
const PASSWORD_ENV: &str = "PASSERELLE_SMTP_PASSWORD";

/// A connection setting to the relay and the message every notice carries.
pub(crate) struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    body: String,
}

/// Why a notice was not sent, as the access log and the metrics tell it: a category and
/// the relay's reply code, never the relay's text (it may quote the address).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SendFailure {
    /// `refused` (a permanent 5xx), `deferred` (a transient 4xx), `timeout`, `tls`,
    /// `address` (the stored address is not one) or `unreachable`.
    pub(crate) kind: &'static str,
    /// The SMTP reply code, when the relay answered.
    pub(crate) code: Option<u16>,
}

impl Mailer {
    /// The mailer of `config.notices`; the relay is reached only when a notice is sent.
    pub(crate) fn from_config(config: &Config) -> anyhow::Result<Mailer> {
        let notices = &config.notices;
        let builder = match notices.smtp_tls {
            SmtpTls::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&notices.smtp_host)?
            }
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&notices.smtp_host)?,
            SmtpTls::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(notices.smtp_host.clone())
            }
        };
        let mut builder = builder
            .port(notices.port())
            .timeout(Some(Duration::from_secs(notices.smtp_timeout_secs)));
        if let Some(username) = &notices.smtp_username {
            let password = password(notices)?;
            builder = builder.credentials(Credentials::new(
                username.clone(),
                password.as_str().to_owned(),
            ));
        }
        let from = notices
            .from
            .parse::<Mailbox>()
            .context("notices.from is not an address")?;
        Ok(Mailer {
            transport: builder.build(),
            from,
            body: body(&config.origin()),
        })
    }

    /// Sends the notice to `to`.
    pub(crate) async fn send(&self, to: &str) -> Result<(), SendFailure> {
        let address = |_| SendFailure {
            kind: "address",
            code: None,
        };
        let to: Mailbox = to.parse().map_err(address)?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(SUBJECT)
            .header(ContentType::TEXT_PLAIN)
            .body(self.body.clone())
            .map_err(|_| SendFailure {
                kind: "address",
                code: None,
            })?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|err| SendFailure {
                kind: if err.is_permanent() {
                    "refused"
                } else if err.is_transient() {
                    "deferred"
                } else if err.is_timeout() {
                    "timeout"
                } else if err.is_tls() {
                    "tls"
                } else {
                    "unreachable"
                },
                code: err.status().map(u16::from),
            })
    }
}

/// The relay's password: `smtp_password_file`, else `PASSERELLE_SMTP_PASSWORD`.
fn password(notices: &NoticesConfig) -> anyhow::Result<Zeroizing<String>> {
    if let Some(path) = &notices.smtp_password_file {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        );
        return Ok(Zeroizing::new(
            text.trim_end_matches(['\r', '\n']).to_owned(),
        ));
    }
    std::env::var(PASSWORD_ENV)
        .map(Zeroizing::new)
        .with_context(|| {
            format!("notices.smtp_username is set: put the password in notices.smtp_password_file or {PASSWORD_ENV}")
        })
}

/// The text of every notice: what happened and where to go, in words a busy professional
/// reads at a glance; why it says no more; how to stop them.
fn body(origin: &str) -> String {
    format!(
        "Bonjour,\r\n\r\n\
         Vous avez de nouveaux messages sur Passerelle.\r\n\
         Pour les lire, connectez-vous : {origin}\r\n\r\n\
         Par sécurité, cet e-mail ne contient ni le contenu des messages, ni leur \
         expéditeur, ni le nom de la conversation.\r\n\
         Pour ne plus recevoir ces avis, décochez « Me prévenir par e-mail » dans \
         « Sécurité du compte » sur Passerelle.\r\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_names_the_site_and_says_nothing_else() {
        let text = body("https://passerelle.ville.example.fr");
        assert!(text.contains("https://passerelle.ville.example.fr"));
        assert!(text.contains("Vous avez de nouveaux messages sur Passerelle."));
    }
}
