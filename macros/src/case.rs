//! `rename_all`: the case conventions serde users know, applied to event names.

use heck::{ToKebabCase, ToLowerCamelCase, ToShoutyKebabCase, ToShoutySnakeCase, ToSnakeCase};

// The variants are named after the conventions they apply, as serde names them.
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenameRule {
    LowerCase,
    UpperCase,
    PascalCase,
    CamelCase,
    SnakeCase,
    ScreamingSnakeCase,
    KebabCase,
    ScreamingKebabCase,
}

impl RenameRule {
    pub const UNKNOWN: &'static str = "unknown case: use one of \"lowercase\", \"UPPERCASE\", \
        \"PascalCase\", \"camelCase\", \"snake_case\", \"SCREAMING_SNAKE_CASE\", \"kebab-case\", \
        \"SCREAMING-KEBAB-CASE\"";

    pub fn from_str(name: &str) -> Option<Self> {
        Some(match name {
            "lowercase" => RenameRule::LowerCase,
            "UPPERCASE" => RenameRule::UpperCase,
            "PascalCase" => RenameRule::PascalCase,
            "camelCase" => RenameRule::CamelCase,
            "snake_case" => RenameRule::SnakeCase,
            "SCREAMING_SNAKE_CASE" => RenameRule::ScreamingSnakeCase,
            "kebab-case" => RenameRule::KebabCase,
            "SCREAMING-KEBAB-CASE" => RenameRule::ScreamingKebabCase,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RenameRule::LowerCase => "lowercase",
            RenameRule::UpperCase => "UPPERCASE",
            RenameRule::PascalCase => "PascalCase",
            RenameRule::CamelCase => "camelCase",
            RenameRule::SnakeCase => "snake_case",
            RenameRule::ScreamingSnakeCase => "SCREAMING_SNAKE_CASE",
            RenameRule::KebabCase => "kebab-case",
            RenameRule::ScreamingKebabCase => "SCREAMING-KEBAB-CASE",
        }
    }

    /// Renames a variant identifier (written in PascalCase).
    pub fn apply(self, variant: &str) -> String {
        match self {
            RenameRule::LowerCase => variant.to_lowercase(),
            RenameRule::UpperCase => variant.to_uppercase(),
            RenameRule::PascalCase => variant.to_owned(),
            RenameRule::CamelCase => variant.to_lower_camel_case(),
            RenameRule::SnakeCase => variant.to_snake_case(),
            RenameRule::ScreamingSnakeCase => variant.to_shouty_snake_case(),
            RenameRule::KebabCase => variant.to_kebab_case(),
            RenameRule::ScreamingKebabCase => variant.to_shouty_kebab_case(),
        }
    }

    /// Renames a field identifier (written in snake_case), as serde's `rename_all` does.
    pub fn apply_to_field(self, field: &str) -> String {
        match self {
            RenameRule::LowerCase | RenameRule::SnakeCase => field.to_owned(),
            RenameRule::UpperCase | RenameRule::ScreamingSnakeCase => field.to_uppercase(),
            RenameRule::PascalCase => heck::ToPascalCase::to_pascal_case(field),
            RenameRule::CamelCase => field.to_lower_camel_case(),
            RenameRule::KebabCase => field.replace('_', "-"),
            RenameRule::ScreamingKebabCase => field.to_uppercase().replace('_', "-"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RenameRule::*;

    #[test]
    fn variants() {
        assert_eq!(SnakeCase.apply("JobFinished"), "job_finished");
        assert_eq!(KebabCase.apply("JobFinished"), "job-finished");
        assert_eq!(CamelCase.apply("JobFinished"), "jobFinished");
        assert_eq!(ScreamingSnakeCase.apply("JobFinished"), "JOB_FINISHED");
        assert_eq!(LowerCase.apply("JobFinished"), "jobfinished");
        assert_eq!(CamelCase.apply_to_field("unix_ms"), "unixMs");
    }
}
