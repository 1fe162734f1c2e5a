//! Ids of the chat's things, each its own type so that one cannot be passed for another.
//! On the wire and in the database they are plain integers.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

macro_rules! id_type {
    ($($(#[$meta:meta])* $name:ident),+ $(,)?) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )+};
}

id_type!(
    /// A user account.
    UserId,
    /// A room: direct, group or channel.
    RoomId,
    /// A message, text, file or system notice.
    MessageId,
    /// A file attached to a message.
    AttachmentId,
);
