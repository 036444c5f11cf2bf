//! The risk scale used by pages and `risk()`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::KbError;

/// How bad an exposed port is, ordered `None < Low < Medium < High < Critical`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
    strum::EnumString,
)]
#[serde(rename_all = "lowercase")]
#[strum(
    serialize_all = "lowercase",
    ascii_case_insensitive,
    parse_err_ty = KbError,
    parse_err_fn = KbError::unknown_severity
)]
pub enum Severity {
    /// Harmless.
    None,
    /// Normally fine when patched.
    Low,
    /// Needs care: configuration decides.
    Medium,
    /// A serious exposure.
    High,
    /// Routinely mass-exploited, or gives code execution or data without credentials.
    Critical,
}

impl Severity {
    /// Every level, lowest first.
    pub const ALL: &'static [Severity] = <Severity as strum::VariantArray>::VARIANTS;

    /// The lowercase name (`none` .. `critical`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered() {
        assert!(Severity::None < Severity::Low);
        assert!(Severity::Low < Severity::Medium);
        assert!(Severity::Medium < Severity::High);
        assert!(Severity::High < Severity::Critical);
    }

    #[test]
    fn display_parse_and_serde_agree() {
        for &s in Severity::ALL {
            assert_eq!(s.to_string().parse::<Severity>(), Ok(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        assert!("severe".parse::<Severity>().is_err());
    }
}
