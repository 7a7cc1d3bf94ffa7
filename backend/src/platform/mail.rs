//! Outgoing e-mail: SMTP when `SMTP_HOST` is set, otherwise the message is kept in memory only
//! (the last 100, for the tests) and a log line says a mail was not sent. Links carry one-time
//! tokens, so they are never logged; without SMTP, `dearme users verify` is the operator's path.

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor, message::header::ContentType,
    transport::smtp::authentication::Credentials,
};

use crate::platform::settings::{SmtpSettings, SmtpTls};

/// Messages the log mailer "sent", newest last (bounded): what a developer or a test reads the
/// link from.
pub type Outbox = std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<SentMail>>>;

#[derive(Clone, Debug)]
pub struct SentMail {
    pub to: String,
    pub subject: String,
    pub link: String,
}

#[derive(Clone)]
pub enum Mailer {
    Log(Outbox),
    Smtp { transport: AsyncSmtpTransport<Tokio1Executor>, from: String },
}

impl Mailer {
    pub fn new(smtp: Option<&SmtpSettings>) -> anyhow::Result<Self> {
        let Some(smtp) = smtp else {
            return Ok(Self::Log(Outbox::default()));
        };
        // Port 465 is implicit TLS; any other port must upgrade with STARTTLS (`Tls::Required`:
        // a server, or a man in the middle, that does not offer it is refused), unless
        // SMTP_TLS=none says plain text is wanted (a local catcher in development).
        let mut builder = match (smtp.tls, smtp.port) {
            (SmtpTls::Required, 465) => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)?,
            (SmtpTls::Required, _) => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)?,
            (SmtpTls::None, _) => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
        }
        .port(smtp.port)
        .timeout(Some(std::time::Duration::from_secs(10)));
        if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        Ok(Self::Smtp { transport: builder.build(), from: smtp.from.clone() })
    }

    /// What the log mailer recorded (empty for SMTP).
    pub fn outbox(&self) -> Vec<SentMail> {
        match self {
            Self::Log(outbox) => {
                outbox.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().cloned().collect()
            }
            Self::Smtp { .. } => Vec::new(),
        }
    }

    /// Sends one plain-text message. The link (a token) is never logged.
    pub async fn send(&self, to: &str, subject: &str, body: &str, link: &str) -> anyhow::Result<()> {
        match self {
            Self::Log(outbox) => {
                tracing::info!(subject, "e-mail not sent (no SMTP configured)");
                let mut outbox = outbox.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if outbox.len() >= 100 {
                    outbox.pop_front();
                }
                outbox.push_back(SentMail { to: to.to_owned(), subject: subject.to_owned(), link: link.to_owned() });
                Ok(())
            }
            Self::Smtp { transport, from } => {
                let message = Message::builder()
                    .from(from.parse()?)
                    .to(to.parse()?)
                    .subject(subject)
                    .header(ContentType::TEXT_PLAIN)
                    .body(body.to_owned())?;
                transport.send(message).await?;
                Ok(())
            }
        }
    }
}
