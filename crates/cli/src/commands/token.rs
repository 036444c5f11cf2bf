//! `portwatch token create|list|revoke`.

use crate::args::{TokenArgs, TokenCommand};
use anyhow::{Result, bail};
use portwatch_web::auth::{Role, tokens};

/// Runs the command.
pub fn run(args: TokenArgs) -> Result<u8> {
    super::runtime()?.block_on(async move {
        let store = crate::db::open(args.db.url(), None).await?;
        match args.command {
            TokenCommand::Create {
                role,
                name,
                vantage,
            } => {
                let role: Role = role.parse().map_err(anyhow::Error::msg)?;
                if name.trim().is_empty() || name.len() > 64 {
                    bail!("--name must be 1 to 64 characters");
                }
                let (token, id) = match (role, vantage.as_deref()) {
                    (Role::Agent, Some(v)) if tokens::valid_vantage(v) => {
                        tokens::create_agent(&store, &name, v).await?
                    }
                    (Role::Agent, Some(v)) => bail!(
                        "--vantage '{v}': a vantage name is 1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit"
                    ),
                    (Role::Agent, None) => {
                        bail!("an agent token needs --vantage NAME (the vantage its agent scans from)")
                    }
                    (_, Some(_)) => bail!("--vantage is only for --role agent"),
                    (_, None) => tokens::create(&store, &name, role).await?,
                };
                println!("{token}");
                let bound = vantage.map(|v| format!(", vantage {v}")).unwrap_or_default();
                eprintln!(
                    "token #{id} ({role}{bound}, \"{name}\") created in {}; it is shown only this once",
                    store.name()
                );
            }
            TokenCommand::List => {
                for t in store.tokens().await? {
                    let role = match &t.vantage {
                        Some(v) => format!("{}:{v}", t.role),
                        None => t.role.clone(),
                    };
                    println!(
                        "#{}  {:<6}  {:<24}  created {}  {}",
                        t.id,
                        role,
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
