//! How the domain's ids and enums are stored: ids as `BIGINT`, enums as their wire text.
//! With these, rows and queries carry `RoomId`, `Role`, … rather than bare integers and
//! strings.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{BigInt, Text};

use crate::domain::{AttachmentId, EventKind, MessageId, MessageType, Permission, Role, RoomId, RoomType, UserId};

macro_rules! stored_as_bigint {
    ($($id:ident),+) => {$(
        const _: () = {
            /// Brings diesel's expression and row impls to the domain's id type.
            #[derive(diesel::AsExpression, diesel::FromSqlRow)]
            #[diesel(foreign_derive, sql_type = BigInt)]
            #[allow(dead_code)]
            struct Stored($id);
        };

        impl<DB: Backend> ToSql<BigInt, DB> for $id
        where
            i64: ToSql<BigInt, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                self.0.to_sql(out)
            }
        }

        impl<DB: Backend> FromSql<BigInt, DB> for $id
        where
            i64: FromSql<BigInt, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                i64::from_sql(bytes).map($id)
            }
        }
    )+};
}

macro_rules! stored_as_text {
    ($($kind:ident),+) => {$(
        const _: () = {
            #[derive(diesel::AsExpression, diesel::FromSqlRow)]
            #[diesel(foreign_derive, sql_type = Text)]
            #[allow(dead_code)]
            struct Stored($kind);
        };

        impl<DB: Backend> ToSql<Text, DB> for $kind
        where
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                self.as_str().to_sql(out)
            }
        }

        impl<DB: Backend> FromSql<Text, DB> for $kind
        where
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let text = String::from_sql(bytes)?;
                $kind::parse(&text).map_err(|e| e.0.into())
            }
        }
    )+};
}

stored_as_bigint!(UserId, RoomId, MessageId, AttachmentId);
stored_as_text!(RoomType, Role, MessageType, Permission, EventKind);
