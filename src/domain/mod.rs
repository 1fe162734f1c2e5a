//! Validated input types and the chat's rules. No I/O here.

pub mod events;
pub mod ids;
pub mod input;
pub mod markup;
pub mod permissions;
pub mod reactions;
pub mod search;
pub mod views;

pub use events::{EventKind, PassingEvent, RoomEvent};
pub use ids::{AttachmentId, MessageId, RoomId, UserId};
pub use input::{parse_json, parse_query, InvalidInput};
pub use permissions::{Action, Actor, Permission};

/// Where the HTTP API lives; views carry links under it.
pub const API_PREFIX: &str = "/chat/api";

use input::invalid;

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Result<Self, $crate::domain::InvalidInput> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::domain::InvalidInput(format!(
                        concat!($field, " must be one of: {}"),
                        [$($text),+].join(", ")
                    ))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}
pub(crate) use text_enum;

text_enum!(
    /// The three kinds of room.
    RoomType, "room_type" { Direct => "direct", Group => "group", Channel => "channel" }
);

text_enum!(
    /// A member's role in a room.
    Role, "role" { Member => "member", Admin => "admin", Moderator => "moderator" }
);

text_enum!(
    MessageType, "message_type" { Text => "text", File => "file", System => "system" }
);

impl Role {
    /// Admins and moderators may delete other members' messages.
    pub fn moderates(self) -> bool {
        matches!(self, Role::Admin | Role::Moderator)
    }
}

/// A login name: 1-32 of `a-z 0-9 . _ -`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(text: &str) -> Result<Self, InvalidInput> {
        let ok_len = (1..=32).contains(&text.len());
        let ok_chars =
            text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'));
        if ok_len && ok_chars {
            Ok(Self(text.to_owned()))
        } else {
            Err(invalid("username must be 1-32 characters of a-z, 0-9, '.', '_' and '-'"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password of at least 8 characters (and at most 1024, so hashing stays cheap).
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

impl Password {
    pub fn parse(text: &str) -> Result<Self, InvalidInput> {
        match text.chars().count() {
            0..=7 => Err(invalid("password must be at least 8 characters")),
            8..=1024 => Ok(Self(text.to_owned())),
            _ => Err(invalid("password must be at most 1024 characters")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn trimmed_text(field: &str, text: &str, max: usize) -> Result<String, InvalidInput> {
    let trimmed = text.trim();
    let len = trimmed.chars().count();
    if len == 0 || len > max {
        return Err(invalid(format!("{field} must be 1-{max} characters")));
    }
    if trimmed.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
        return Err(invalid(format!("{field} must not contain control characters")));
    }
    Ok(trimmed.to_owned())
}

fn one_line(field: &str, text: &str, max: usize) -> Result<String, InvalidInput> {
    let line = trimmed_text(field, text, max)?;
    if line.contains(['\n', '\r']) {
        return Err(invalid(format!("{field} must be one line")));
    }
    Ok(line)
}

/// A display name: trimmed, 1-64 characters, one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(text: &str) -> Result<Self, InvalidInput> {
        one_line("display_name", text, 64).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A group or channel name: trimmed, 1-80 characters, one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomName(String);

impl RoomName {
    pub fn parse(text: &str) -> Result<Self, InvalidInput> {
        one_line("name", text, 80).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An API token's name: trimmed, 1-80 characters, one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenName(String);

impl TokenName {
    pub fn parse(text: &str) -> Result<Self, InvalidInput> {
        one_line("name", text, 80).map(Self)
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

pub const MAX_MESSAGE_CHARS: usize = 10_000;

/// Message text: trimmed, 1-10,000 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageContent(String);

impl MessageContent {
    pub fn parse(text: &str) -> Result<Self, InvalidInput> {
        trimmed_text("content", text, MAX_MESSAGE_CHARS).map(Self)
    }

    /// Content that may be empty: a message that carries files needs no text.
    pub fn parse_optional(text: &str) -> Result<Self, InvalidInput> {
        if text.trim().is_empty() {
            Ok(Self(String::new()))
        } else {
            Self::parse(text)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The first characters of a message, for reply quotes.
pub fn excerpt(content: &str) -> String {
    const EXCERPT_CHARS: usize = 100;
    let mut chars = content.chars();
    let head: String = chars.by_ref().take(EXCERPT_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

/// The key that makes one direct room per pair of users, whichever asks first.
pub fn direct_key(a: UserId, b: UserId) -> String {
    format!("{}:{}", a.min(b), a.max(b))
}

/// The other user of a direct room's key, as seen by `me`; `None` when `me` is not one of
/// the pair.
pub fn direct_peer(key: &str, me: UserId) -> Option<UserId> {
    let (low, high) = key.split_once(':')?;
    let (low, high) = (UserId(low.parse().ok()?), UserId(high.parse().ok()?));
    if me == low {
        Some(high)
    } else if me == high {
        Some(low)
    } else {
        None
    }
}

/// Formats stored microseconds as RFC 3339 UTC with milliseconds.
pub fn format_time(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["a", "alice", "bob.smith", "x_y-z9", &"a".repeat(32)] {
            assert!(Username::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Alice", "al ice", "é", "a/b", &"a".repeat(33)] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"x".repeat(1025)).is_err());
    }

    #[test]
    fn message_content_is_trimmed_and_bounded() {
        assert_eq!(MessageContent::parse("  hi \n").unwrap().as_str(), "hi");
        assert!(MessageContent::parse("   ").is_err());
        assert!(MessageContent::parse(&"é".repeat(10_000)).is_ok());
        assert!(MessageContent::parse(&"é".repeat(10_001)).is_err());
        assert!(MessageContent::parse("line\nbreak").is_ok());
        assert!(MessageContent::parse("nul\0").is_err());
        assert_eq!(MessageContent::parse_optional(" ").unwrap().as_str(), "");
    }

    #[test]
    fn the_peer_of_a_direct_key_is_the_other_user() {
        let key = direct_key(UserId(7), UserId(3));
        assert_eq!(key, "3:7");
        assert_eq!(direct_peer(&key, UserId(3)), Some(UserId(7)));
        assert_eq!(direct_peer(&key, UserId(7)), Some(UserId(3)));
        assert_eq!(direct_peer(&key, UserId(5)), None);
        assert_eq!(direct_peer("junk", UserId(3)), None);
    }

    #[test]
    fn room_names() {
        assert!(RoomName::parse("General").is_ok());
        assert!(RoomName::parse("").is_err());
        assert!(RoomName::parse(&"n".repeat(81)).is_err());
        assert!(RoomName::parse("two\nlines").is_err());
    }

    #[test]
    fn enums_round_trip() {
        for t in RoomType::ALL {
            assert_eq!(RoomType::parse(t.as_str()).unwrap(), *t);
        }
        assert!(Role::parse("owner").is_err());
        assert!(Role::Moderator.moderates() && !Role::Member.moderates());
    }

    #[test]
    fn excerpts_and_keys() {
        assert_eq!(excerpt("short"), "short");
        assert_eq!(excerpt(&"x".repeat(150)).chars().count(), 101);
        assert_eq!(direct_key(UserId(9), UserId(2)), "2:9");
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000Z");
    }
}
