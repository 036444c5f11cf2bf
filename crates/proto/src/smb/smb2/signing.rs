//! Message signing as a server announces it.

/// Whether the server signs messages, in the words nmap's smb2-security-mode uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::VariantArray)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
#[strum(serialize_all = "kebab-case")]
pub enum Signing {
    /// The server does not sign.
    Disabled,
    /// The server can sign but does not insist: open to relay attacks.
    EnabledNotRequired,
    /// The server requires signed messages.
    Required,
}

impl Signing {
    /// From the two bits a negotiate response carries; "required" wins over "enabled".
    pub fn from_flags(enabled: bool, required: bool) -> Self {
        match (enabled, required) {
            (_, true) => Signing::Required,
            (true, false) => Signing::EnabledNotRequired,
            (false, false) => Signing::Disabled,
        }
    }

    /// The stable label: "disabled", "enabled-not-required" or "required".
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl std::fmt::Display for Signing {
    /// Writes [`Signing::as_str`].
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(Signing::from_flags(true, true).as_str(), "required");
        assert_eq!(Signing::from_flags(false, true).as_str(), "required");
        assert_eq!(
            Signing::from_flags(true, false).to_string(),
            "enabled-not-required"
        );
        assert_eq!(Signing::from_flags(false, false).as_str(), "disabled");
    }
}
