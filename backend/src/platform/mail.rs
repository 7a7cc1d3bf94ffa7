//! Outgoing e-mail: SMTP when `SMTP_HOST` is set, otherwise the message (with its link) is
//! logged, so local development works without a mail server.

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor, message::header::ContentType,
    transport::smtp::authentication::Credentials,
};

use crate::platform::settings::SmtpSettings;

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
        // Port 465 is implicit TLS; anything else starts plain and upgrades with STARTTLS when the
        // server offers it (a local relay on port 25 or a dev catcher need not).
        let mut builder = if smtp.port == 465 {
            AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)?
        } else {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host).tls(
                lettre::transport::smtp::client::Tls::Opportunistic(
                    lettre::transport::smtp::client::TlsParameters::new(smtp.host.clone())?,
                ),
            )
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

    /// Sends one plain-text message. `link` is logged in log mode (and never in SMTP mode).
    pub async fn send(&self, to: &str, subject: &str, body: &str, link: &str) -> anyhow::Result<()> {
        match self {
            Self::Log(outbox) => {
                tracing::info!(subject, link, "e-mail not sent (no SMTP configured); link logged instead");
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
