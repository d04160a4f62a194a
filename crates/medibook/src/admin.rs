//! `medibook admin …`: account administration at the command line, for the operator who runs
//! the installation. The first admin cannot be made through the API (only admins grant roles),
//! so it is made here: `medibook admin add --email ada@example.org`.

use std::sync::Arc;

use medibook_core::clock::{Clock, SystemClock};
use medibook_core::events::NoListeners;
use medibook_core::identity::{Email, Identifier, PhoneNumber, User};
use medibook_core::staff::Staff;
use medibook_store::Database;

use crate::app::{StartError, open_database};
use crate::settings::Settings;

/// What `medibook admin` can do.
#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// Make a user an admin, creating the account if it does not exist yet. They sign in with
    /// a one-time code like everyone else.
    Add(AddAdmin),
}

/// Whom to make an admin: exactly one of `--email` or `--phone`.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct AddAdmin {
    /// Their email address.
    #[arg(long)]
    pub email: Option<String>,
    /// Their phone number, in international form (+49 30 1234567).
    #[arg(long)]
    pub phone: Option<String>,
}

impl AddAdmin {
    /// The parsed email or phone.
    pub fn identifier(&self) -> Result<Identifier, StartError> {
        match (&self.email, &self.phone) {
            (Some(email), None) => Email::parse(email)
                .map(Identifier::Email)
                .map_err(|e| e.to_string()),
            (None, Some(phone)) => PhoneNumber::parse(phone)
                .map(Identifier::Phone)
                .map_err(|e| e.to_string()),
            _ => Err("give exactly one of --email or --phone".into()),
        }
    }
}

/// Runs an admin command against the configured database (migrating it first).
pub async fn run(settings: &Settings, command: AdminCommand) -> Result<(), StartError> {
    match command {
        AdminCommand::Add(add) => {
            let identifier = add.identifier()?;
            let database = open_database(settings).await?;
            let result = add_admin(&database, &identifier).await;
            database.close().await;
            let user = result?;
            println!(
                "{} is now an admin (user {})",
                describe(&identifier),
                user.id
            );
            Ok(())
        }
    }
}

/// Makes the user with `identifier` an admin (creating the account if needed) and records it in
/// the audit trail as done by the operator.
pub async fn add_admin(database: &Database, identifier: &Identifier) -> Result<User, StartError> {
    let store = Arc::new(database.clone());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let staff = Staff::new(
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        clock.clone(),
        Arc::new(NoListeners),
    );
    // The change and its audit entry (the operator, "(command line)") commit together.
    let change = staff
        .promote_to_admin(identifier)
        .await
        .map_err(|e| format!("cannot make {} an admin: {e}", describe(identifier)))?;
    Ok(change.after)
}

/// The identifier for the operator's terminal, phone numbers masked.
fn describe(identifier: &Identifier) -> String {
    match identifier {
        Identifier::Email(email) => email.to_string(),
        Identifier::Phone(phone) => phone.masked(),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: AdminCommand,
    }

    #[test]
    fn add_takes_exactly_one_of_email_or_phone() {
        let parsed = Cli::try_parse_from(["admin", "add", "--email", "Ada@Example.org"]).unwrap();
        let AdminCommand::Add(add) = parsed.command;
        assert_eq!(
            add.identifier().unwrap(),
            Identifier::Email(Email::parse("ada@example.org").unwrap())
        );
        let parsed = Cli::try_parse_from(["admin", "add", "--phone", "+49 30 1234567"]).unwrap();
        let AdminCommand::Add(add) = parsed.command;
        assert!(matches!(add.identifier().unwrap(), Identifier::Phone(_)));
        assert!(Cli::try_parse_from(["admin", "add"]).is_err());
        assert!(
            Cli::try_parse_from([
                "admin",
                "add",
                "--email",
                "a@b.org",
                "--phone",
                "+4930123456"
            ])
            .is_err()
        );
    }
}
