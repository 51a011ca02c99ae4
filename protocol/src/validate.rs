//! Parse-don't-validate newtypes. Each has a private field and a `parse` that
//! returns a [`Invalid`] naming the field and the reason, so a value of the type is
//! known to be valid everywhere it travels (origin, edge, SDK).

use serde::Serialize;

/// Why a value was rejected: the seed's `data.field` and `data.reason`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invalid {
    pub field: &'static str,
    pub reason: String,
}

impl Invalid {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self { field, reason: reason.into() }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for Invalid {}

macro_rules! string_newtype {
    ($name:ident) => {
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl $name {
            pub fn into_inner(self) -> String {
                self.0
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

/// An email address, trimmed and lower-cased (addresses compare case-insensitively here).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);
string_newtype!(Email);

impl Email {
    pub const MAX_LEN: usize = 254;
    /// A stricter form of the rule as a regular expression (with lengths up to
    /// [`Self::MAX_LEN`]): no dots before the `@`, no surrounding spaces. Every address it
    /// admits is taken.
    pub const PATTERN: &'static str =
        r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$";

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let field = "email";
        let s = raw.trim().to_ascii_lowercase();
        if s.is_empty() {
            return Err(Invalid::new(field, "email is required"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(Invalid::new(field, format!("email is longer than {} characters", Self::MAX_LEN)));
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err(Invalid::new(field, "email must contain '@'"));
        };
        if local.is_empty() || local.len() > 64 {
            return Err(Invalid::new(field, "the part before '@' must be 1 to 64 characters"));
        }
        let local_ok = local.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        if !local_ok || local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(Invalid::new(field, "the part before '@' has characters an address cannot have"));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 {
            return Err(Invalid::new(field, "the domain must contain a dot"));
        }
        for label in &labels {
            let ok = !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !ok {
                return Err(Invalid::new(field, "the domain is not a valid host name"));
            }
        }
        Ok(Self(s))
    }
}

/// A public user name: 3 to 32 characters of letters, digits, `_`, `.`, `-`, starting
/// with a letter or digit. Unique case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);
string_newtype!(Username);

impl Username {
    pub const MIN_LEN: usize = 3;
    pub const MAX_LEN: usize = 32;
    /// The rule as a regular expression (with lengths in characters), before trimming.
    pub const PATTERN: &'static str = "^[A-Za-z0-9][A-Za-z0-9_.-]*$";

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let field = "username";
        let s = raw.trim();
        let n = s.chars().count();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&n) {
            return Err(Invalid::new(field, format!("username must be {} to {} characters", Self::MIN_LEN, Self::MAX_LEN)));
        }
        if !s.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
            return Err(Invalid::new(field, "username may contain only letters, digits, '_', '.' and '-'"));
        }
        if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(Invalid::new(field, "username must start with a letter or digit"));
        }
        Ok(Self(s.to_string()))
    }
}

/// A password as typed: 8 to 128 characters, not only whitespace (OWASP ASVS 2.1).
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    pub const MIN_LEN: usize = 8;
    pub const MAX_LEN: usize = 128;
    /// The rule as a regular expression (with lengths in characters): not only whitespace.
    pub const PATTERN: &'static str = r"\S";

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Self::parse_field(raw, "password")
    }

    pub fn parse_field(raw: &str, field: &'static str) -> Result<Self, Invalid> {
        let n = raw.chars().count();
        if n < Self::MIN_LEN {
            return Err(Invalid::new(field, format!("password must be at least {} characters", Self::MIN_LEN)));
        }
        if n > Self::MAX_LEN {
            return Err(Invalid::new(field, format!("password must be at most {} characters", Self::MAX_LEN)));
        }
        if raw.trim().is_empty() {
            return Err(Invalid::new(field, "password cannot be only whitespace"));
        }
        Ok(Self(raw.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A save slot name: 1 to 50 characters of letters, digits, `_`, `.`, `-`. A name shaped
/// like a UUID is refused, because the saves routes accept a save id in the same place.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SlotName(String);
string_newtype!(SlotName);

impl SlotName {
    pub const MAX_LEN: usize = 50;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let field = "slot_name";
        if raw.is_empty() {
            return Err(Invalid::new(field, "slot_name is required"));
        }
        if raw.len() > Self::MAX_LEN {
            return Err(Invalid::new(field, format!("slot_name must be at most {} characters", Self::MAX_LEN)));
        }
        if !raw.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
            return Err(Invalid::new(field, "slot_name may contain only letters, digits, '_', '.' and '-'"));
        }
        if raw == "." || raw == ".." || raw == "history" {
            return Err(Invalid::new(field, "slot_name is reserved"));
        }
        if uuid::Uuid::parse_str(raw).is_ok() {
            return Err(Invalid::new(field, "slot_name cannot have the form of a save id (UUID)"));
        }
        Ok(Self(raw.to_string()))
    }
}

/// A game id: a slug like `my-awesome-game`, 3 to 64 characters of lower-case letters,
/// digits and `-`, starting with a letter and not ending with `-`. The OpenAPI document
/// states the same rule as [`GameSlug::PATTERN`] with lengths 3 to 64.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GameSlug(String);
string_newtype!(GameSlug);

impl GameSlug {
    /// The rule as a regular expression (with lengths 3 to 64), as the OpenAPI document's
    /// `game_id` parameters state it.
    pub const PATTERN: &'static str = "^[a-z][a-z0-9-]*[a-z0-9]$";

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let field = "game_id";
        let n = raw.len();
        if !(3..=64).contains(&n) {
            return Err(Invalid::new(field, "game_id must be 3 to 64 characters"));
        }
        if !raw.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err(Invalid::new(field, "game_id may contain only lower-case letters, digits and '-'"));
        }
        if !raw.starts_with(|c: char| c.is_ascii_lowercase()) || raw.ends_with('-') {
            return Err(Invalid::new(field, "game_id must start with a letter and not end with '-'"));
        }
        Ok(Self(raw.to_string()))
    }
}

/// A display name (organization, game, key): 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DisplayName(String);
string_newtype!(DisplayName);

impl DisplayName {
    /// The rule as a regular expression (with lengths 1 to 100 characters), before
    /// trimming: no control characters and not only whitespace.
    pub const PATTERN: &'static str = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$";

    pub fn parse(raw: &str, field: &'static str) -> Result<Self, Invalid> {
        let s = raw.trim();
        let n = s.chars().count();
        if !(1..=100).contains(&n) {
            return Err(Invalid::new(field, format!("{field} must be 1 to 100 characters")));
        }
        if s.chars().any(char::is_control) {
            return Err(Invalid::new(field, format!("{field} cannot contain control characters")));
        }
        Ok(Self(s.to_string()))
    }
}

/// A device id for guest login: 16 to 128 visible ASCII characters, generated by the
/// client once per install and kept private (it is the guest's credential).
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceId(String);

impl std::fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceId(<redacted>)")
    }
}

impl DeviceId {
    /// The rule as a regular expression (with lengths 16 to 128): visible ASCII.
    pub const PATTERN: &'static str = "^[!-~]+$";

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let field = "device_id";
        if !(16..=128).contains(&raw.len()) {
            return Err(Invalid::new(field, "device_id must be 16 to 128 characters"));
        }
        if !raw.chars().all(|c| c.is_ascii_graphic()) {
            return Err(Invalid::new(field, "device_id may contain only visible ASCII characters"));
        }
        Ok(Self(raw.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// `limit` of a read: a whole number from 1 to `max`, `default` when absent.
pub fn parse_limit(raw: Option<&str>, default: u32, max: u32) -> Result<u32, Invalid> {
    match raw {
        None => Ok(default),
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(Invalid::new("limit", format!("limit must be a whole number from 1 to {max}"))),
        },
    }
}

/// [`parse_id`]'s rule as a regular expression (lengths 1 to 64): any three or more of the
/// characters, or one or two that are not all dots.
pub const ID_PATTERN: &str = "^(?:[A-Za-z0-9._-]{3,}|[A-Za-z0-9_-][A-Za-z0-9._-]?|\\.[A-Za-z0-9_-])$";

/// A player's user id as the routes take it: a hyphenated UUID.
pub const UUID_PATTERN: &str = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// An identifier chosen by a developer (leaderboards, achievements): 1 to 64 of
/// `A-Z a-z 0-9 _ - .`, not `.` or `..` (safe in a URL path segment).
pub fn parse_id(raw: &str, field: &'static str) -> Result<String, Invalid> {
    if raw.is_empty() || raw.len() > 64 {
        return Err(Invalid::new(field, format!("{field} must be 1 to 64 characters")));
    }
    if !raw.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) || raw == "." || raw == ".." {
        return Err(Invalid::new(field, format!("{field} may contain only letters, digits, '_', '-' and '.'")));
    }
    Ok(raw.to_string())
}

/// An http(s) URL of at most 500 characters (the seed's `avatar_url VARCHAR(500)`).
pub fn parse_http_url(raw: &str, field: &'static str) -> Result<String, Invalid> {
    if raw.len() > 500 {
        return Err(Invalid::new(field, format!("{field} must be at most 500 characters")));
    }
    let lower = raw.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(|| Invalid::new(field, format!("{field} must start with http:// or https://")))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Invalid::new(field, format!("{field} is not a valid URL")));
    }
    Ok(raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(Email::parse(" User@Example.COM ").unwrap().as_str(), "user@example.com");
        for bad in ["", "no-at", "@x.com", "a@", "a@b", "a@-b.com", "a..b@x.com", "a b@x.com", "a@x..com"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(Email::parse(&format!("{}@x.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn usernames() {
        assert!(Username::parse("Player_1").is_ok());
        for bad in ["ab", "_lead", "has space", "emoji🙂", &"x".repeat(33)] {
            assert!(Username::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn passwords() {
        assert!(Password::parse("correct horse").is_ok());
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("         ").is_err());
        assert!(Password::parse(&"p".repeat(129)).is_err());
        assert_eq!(format!("{:?}", Password::parse("secret-secret").unwrap()), "Password(<redacted>)");
    }

    #[test]
    fn slots() {
        assert!(SlotName::parse("slot1").is_ok());
        for bad in ["", "a/b", "..", "history", "5f0c5c1e-3c1d-4a63-9d59-1f1f3f6c2b77", &"s".repeat(51)] {
            assert!(SlotName::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn game_slugs() {
        assert!(GameSlug::parse("my-awesome-game").is_ok());
        for bad in ["My-Game", "1game", "ga", "game-", "g_a_m_e"] {
            assert!(GameSlug::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn urls() {
        assert!(parse_http_url("https://cdn.example.com/a.png", "avatar_url").is_ok());
        assert!(parse_http_url("javascript:alert(1)", "avatar_url").is_err());
        assert!(parse_http_url("https://", "avatar_url").is_err());
    }
}
