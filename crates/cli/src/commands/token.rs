//! `portwatch token create|list|revoke`.

use crate::args::{TokenArgs, TokenCommand};
use anyhow::{Result, bail};
use portwatch_web::auth::{Role, tokens};

/// Runs the command.
pub fn run(args: TokenArgs) -> Result<u8> {
    super::runtime()?.block_on(async move {
        let store = crate::db::open(args.db.url(), None).await?;
        match args.command {
            TokenCommand::Create { role, name } => {
                let role: Role = role.parse().map_err(anyhow::Error::msg)?;
                if name.trim().is_empty() || name.len() > 64 {
                    bail!("--name must be 1 to 64 characters");
                }
                let (token, id) = tokens::create(&store, &name, role).await?;
                println!("{token}");
                eprintln!(
                    "token #{id} ({role}, \"{name}\") created in {}; it is shown only this once",
                    store.name()
                );
            }
            TokenCommand::List => {
                for t in store.tokens().await? {
                    println!(
                        "#{}  {:<6}  {:<24}  created {}  {}",
                        t.id,
                        t.role,
                        t.name,
                        super::history::when(t.created_at),
                        match (t.revoked_at, t.last_used_at) {
                            (Some(r), _) => format!("revoked {}", super::history::when(r)),
                            (None, Some(u)) => format!("last used {}", super::history::when(u)),
                            (None, None) => "never used".to_string(),
                        }
                    );
                }
            }
            TokenCommand::Revoke { id } => {
                if !store.revoke_token(id).await? {
                    bail!("no live token #{id}");
                }
                eprintln!("token #{id} revoked");
            }
        }
        Ok(crate::exit::OK)
    })
}
