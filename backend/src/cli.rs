//! Operator commands, for a stack without SMTP (where a new account's verification link is only
//! logged): `dearme users verify EMAIL` marks an account's e-mail verified, and
//! `dearme users create EMAIL USERNAME` creates a verified account, its password read from
//! `DEARME_PASSWORD` or one line of stdin (never from the command line, which `ps` shows).
//!
//! Top layer, like `startup`: the same connections (`platform::core::Core`), sign-up rules
//! (`api::auth::Register`), password hashing and data functions as the API.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Context;

use crate::{
    api::{
        auth::{Register, hashing},
        users::cache_key,
    },
    data::users,
    platform::{
        core::Core,
        error::{ApiError, FieldError},
        http::validate::{Validate, Violations},
        settings::Settings,
    },
};

/// The environment variable `users create` reads the password from (else stdin). An input of one
/// invocation, not a setting: deliberately absent from `.env.example` and the compose environment.
pub const PASSWORD_VAR: &str = "DEARME_PASSWORD";

pub const USAGE: &str = "usage: dearme users <verify EMAIL | create EMAIL USERNAME>
  users verify EMAIL           mark the account's e-mail verified, so it can log in without the mailed link
  users create EMAIL USERNAME  create a verified account; the password comes from DEARME_PASSWORD,
                               else from one line of stdin (never from the command line)";

/// A `dearme users ...` command.
pub enum Command {
    Verify { email: String },
    Create { email: String, username: String },
}

impl Command {
    /// The command `args` (what follows `dearme users`) name, or `None` (then [`USAGE`]).
    pub fn parse(args: &[String]) -> Option<Self> {
        match args {
            [verb, email] if verb == "verify" => Some(Self::Verify { email: email.clone() }),
            [verb, email, username] if verb == "create" => {
                Some(Self::Create { email: email.clone(), username: username.clone() })
            }
            _ => None,
        }
    }
}

/// How a command ended: one line, for stdout (done, exit 0) or stderr (failed, exit 1).
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Done(String),
    Failed(String),
}

/// Runs `command` against the primary `settings` name (`DATABASE_URL`).
pub async fn run(command: Command, settings: &Settings) -> anyhow::Result<Outcome> {
    match command {
        Command::Verify { email } => verify(settings, &email).await,
        Command::Create { email, username } => {
            let password = read_password()?;
            create(settings, Register { email, username, password }).await
        }
    }
}

/// The shared connections, with their replica monitor stopped when this is dropped.
struct Wired {
    core: Core,
    monitor: tokio::task::JoinHandle<()>,
}

impl Wired {
    async fn new(settings: &Settings) -> anyhow::Result<Self> {
        let (core, monitor) = Core::start(settings).await?;
        Ok(Self { core, monitor })
    }
}

impl Drop for Wired {
    fn drop(&mut self) {
        self.monitor.abort();
    }
}

async fn verify(settings: &Settings, email: &str) -> anyhow::Result<Outcome> {
    let wired = Wired::new(settings).await?;
    let core = &wired.core;
    let mut db = core.db.writer().await?;
    let Some(account) = users::verify_by_email(&mut db, email).await? else {
        return Ok(Outcome::Failed(format!("no account with the e-mail {email}")));
    };
    // As the mailed link does: the cached copy sessions read must not keep the old flag.
    core.redis.del(&[cache_key(&core.redis, account.id)]).await;
    core.writes.committed(&mut db, account.id, &[]).await?;
    Ok(Outcome::Done(if account.was_verified {
        format!("{} (user {}) was already verified", account.email, account.id)
    } else {
        format!("verified {} (user {}): it can log in now", account.email, account.id)
    }))
}

async fn create(settings: &Settings, input: Register) -> anyhow::Result<Outcome> {
    let mut violations = Violations::new("body");
    input.validate(&mut violations);
    if let Err(ApiError::Validation(errors)) = violations.into_result() {
        return Ok(Outcome::Failed(format!("not created: {}", describe(&errors))));
    }
    let hash = hashing::hash(input.password).await?;
    let wired = Wired::new(settings).await?;
    let core = &wired.core;
    let mut db = core.db.writer().await?;
    let id = match users::insert(&mut db, &input.email, &input.username, &hash, true).await {
        Ok(id) => id,
        // A taken e-mail or username: the endpoint's own words.
        Err(err) => match ApiError::from(err) {
            ApiError::BadRequest(detail) => return Ok(Outcome::Failed(format!("not created: {detail}"))),
            other => return Err(other).context("creating the account"),
        },
    };
    core.writes.committed(&mut db, id, &[]).await?;
    Ok(Outcome::Done(format!(
        "created {} ({}, user {id}), e-mail verified: it can log in now",
        input.email, input.username
    )))
}

/// `password: String should have at least 8 characters; email: ...`: each field and its rule.
fn describe(errors: &[FieldError]) -> String {
    let field = |e: &FieldError| e.loc.last().and_then(|l| l.as_str()).unwrap_or("input").to_owned();
    errors.iter().map(|e| format!("{}: {}", field(e), e.msg)).collect::<Vec<_>>().join("; ")
}

/// `DEARME_PASSWORD`, else one line of stdin (without its line ending).
fn read_password() -> anyhow::Result<String> {
    if let Ok(password) = std::env::var(PASSWORD_VAR) {
        return Ok(password);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("password (it echoes; {PASSWORD_VAR} or a pipe does not): ");
        std::io::stderr().flush()?;
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line).context("reading the password from stdin")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

#[cfg(test)]
mod tests {
    use super::Command;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn only_the_two_commands_with_their_arguments_parse() {
        assert!(matches!(Command::parse(&args(&["verify", "a@b.co"])), Some(Command::Verify { .. })));
        assert!(matches!(Command::parse(&args(&["create", "a@b.co", "kim"])), Some(Command::Create { .. })));
        for bad in [&["verify"][..], &["create", "a@b.co"], &["create", "a@b.co", "kim", "pw"], &["delete", "a@b.co"]] {
            assert!(Command::parse(&args(bad)).is_none(), "{bad:?}");
        }
    }
}
