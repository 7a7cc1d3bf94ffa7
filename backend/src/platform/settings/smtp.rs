//! The SMTP relay's settings. Mail carries one-time tokens, so it goes over TLS unless a
//! development setup says otherwise (`SMTP_TLS=none`).

use std::str::FromStr;

use super::{Secret, check::Env};

#[derive(Clone, Debug)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
    pub tls: SmtpTls,
}

/// How the connection to the relay is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Port 465: TLS from the first byte; any other port: STARTTLS, and a server that does not
    /// offer it is refused (no silent downgrade to plain text).
    Required,
    /// Plain text: only for a local mail catcher in development.
    None,
}

impl FromStr for SmtpTls {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "required" => Ok(Self::Required),
            "none" => Ok(Self::None),
            _ => Err("the choices are required and none (development only)".into()),
        }
    }
}

impl SmtpSettings {
    /// `None` without `SMTP_HOST`: no mail is sent (development).
    pub(super) fn read(env: &mut Env<'_>) -> Option<Self> {
        let host = env.optional("SMTP_HOST")?;
        Some(Self {
            host,
            port: env.parse_or("SMTP_PORT", 25),
            username: env.optional("SMTP_USERNAME"),
            password: env.optional("SMTP_PASSWORD").map(Secret::new),
            from: env.optional("SMTP_FROM").unwrap_or_else(|| "DearMe <no-reply@dearme.local>".into()),
            tls: env.parse_or("SMTP_TLS", SmtpTls::Required),
        })
    }
}
