//! The permission matrix of the contract, in one place. Every handler asks `authorize`.
//!
//! Order matters: a room the caller is not a member of answers 404 before any 403, so that
//! nobody learns that a room exists by being told they may not touch it.

use super::{text_enum, InvalidInput, Role, UserId};

text_enum!(
    /// A global permission held by a user.
    Permission, "permissions" {
        Read => "chat.read",
        Create => "chat.create",
        Update => "chat.update",
        Delete => "chat.delete",
        ManageRooms => "chat.manage_rooms",
    }
);

impl Permission {
    /// Parses a comma-separated list such as `chat.read,chat.create`.
    pub fn parse_list(text: &str) -> Result<Vec<Permission>, InvalidInput> {
        Self::parse_all(text.split(',').map(str::trim).filter(|p| !p.is_empty()))
    }

    /// Parses permission names, each kept once (a name given twice is granted once).
    pub fn parse_all<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Vec<Permission>, InvalidInput> {
        let mut permissions = Vec::new();
        for name in names {
            let permission = Permission::parse(name)?;
            if !permissions.contains(&permission) {
                permissions.push(permission);
            }
        }
        Ok(permissions)
    }
}

/// What a caller wants to do. Room actions carry the caller's role there (`None`: not a
/// member).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// List my rooms, open my all-rooms stream, search users, browse channels.
    Browse,
    /// Read a room: its messages, members, receipts, files, its stream.
    ReadRoom(Option<Role>),
    /// Open or create a direct conversation.
    OpenDirect,
    /// Send a message or upload a file; signal typing.
    Send(Option<Role>),
    /// Edit a message (only its sender).
    Edit { role: Option<Role>, is_sender: bool },
    /// Delete a message (its sender, or a room admin or moderator).
    Delete { role: Option<Role>, is_sender: bool },
    /// Create a group or a channel.
    CreateRoom,
    /// Rename a room, add or remove members, change roles.
    ManageRoom(Option<Role>),
    /// Join a channel (an open room).
    JoinChannel,
    /// Mute, leave, mark read: my own membership.
    OwnMembership(Option<Role>),
    /// Manage user accounts.
    ManageUsers,
    /// Pin or unpin a message: a room admin or moderator, or anyone in a direct room.
    Pin { role: Option<Role>, direct: bool },
}

/// Why an action was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The room (or what is in it) is not visible to the caller.
    NotFound,
    /// Visible, but the caller lacks the permission or the role.
    Forbidden(&'static str),
}

/// A caller's global grants.
pub trait Grants {
    fn is_admin(&self) -> bool;
    fn holds(&self, permission: Permission) -> bool;
}

pub fn authorize(who: &impl Grants, action: Action) -> Result<(), Denied> {
    use Permission::*;
    let need = |p: Permission, what: &'static str| {
        if who.is_admin() || who.holds(p) {
            Ok(())
        } else {
            Err(Denied::Forbidden(what))
        }
    };
    let member = |role: Option<Role>| role.ok_or(Denied::NotFound);
    match action {
        Action::Browse => need(Read, "reading chats needs the chat.read permission"),
        Action::ReadRoom(role) => {
            member(role)?;
            need(Read, "reading chats needs the chat.read permission")
        }
        Action::OpenDirect => need(Create, "starting a conversation needs the chat.create permission"),
        Action::Send(role) => {
            member(role)?;
            need(Create, "sending messages needs the chat.create permission")
        }
        Action::Edit { role, is_sender } => {
            member(role)?;
            need(Update, "editing messages needs the chat.update permission")?;
            if is_sender {
                Ok(())
            } else {
                Err(Denied::Forbidden("only the sender may edit a message"))
            }
        }
        Action::Delete { role, is_sender } => {
            let role = member(role)?;
            need(Delete, "deleting messages needs the chat.delete permission")?;
            if is_sender || role.moderates() {
                Ok(())
            } else {
                Err(Denied::Forbidden("only the sender or a room admin or moderator may delete a message"))
            }
        }
        Action::CreateRoom => need(ManageRooms, "creating rooms needs the chat.manage_rooms permission"),
        Action::ManageRoom(role) => {
            let role = member(role)?;
            need(ManageRooms, "managing rooms needs the chat.manage_rooms permission")?;
            if role == Role::Admin {
                Ok(())
            } else {
                Err(Denied::Forbidden("only a room admin may manage this room"))
            }
        }
        Action::JoinChannel => need(Read, "joining channels needs the chat.read permission"),
        Action::OwnMembership(role) => member(role).map(|_| ()),
        Action::Pin { role, direct } => {
            let role = member(role)?;
            need(Read, "reading chats needs the chat.read permission")?;
            if direct || role.moderates() {
                Ok(())
            } else {
                Err(Denied::Forbidden("only a room admin or moderator may pin messages"))
            }
        }
        Action::ManageUsers => {
            if who.is_admin() {
                Ok(())
            } else {
                Err(Denied::Forbidden("managing users needs an administrator"))
            }
        }
    }
}

/// Who is acting: a signed-in user, or the seed and the command line acting as one.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: UserId,
    pub display_name: String,
    pub is_admin: bool,
    pub permissions: Vec<Permission>,
}

impl Grants for Actor {
    fn is_admin(&self) -> bool {
        self.is_admin
    }

    fn holds(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }
}

impl Actor {
    /// Checks an action against the permission matrix.
    pub fn may(&self, action: Action) -> Result<(), Denied> {
        authorize(self, action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_permission_named_twice_is_kept_once() {
        assert_eq!(
            Permission::parse_list("chat.read, chat.create,chat.read").unwrap(),
            vec![Permission::Read, Permission::Create]
        );
        assert!(Permission::parse_all(["chat.read", "chat.nope"]).is_err());
    }

    struct Caller(bool, Vec<Permission>);

    impl Grants for Caller {
        fn is_admin(&self) -> bool {
            self.0
        }
        fn holds(&self, p: Permission) -> bool {
            self.1.contains(&p)
        }
    }

    fn user(perms: &[Permission]) -> Caller {
        Caller(false, perms.to_vec())
    }

    #[test]
    fn non_members_get_not_found_before_forbidden() {
        let nobody = user(&[]);
        for action in [
            Action::ReadRoom(None),
            Action::Send(None),
            Action::Edit { role: None, is_sender: true },
            Action::Delete { role: None, is_sender: true },
            Action::ManageRoom(None),
            Action::OwnMembership(None),
        ] {
            assert_eq!(authorize(&nobody, action), Err(Denied::NotFound), "{action:?}");
        }
    }

    #[test]
    fn each_room_action_needs_its_permission() {
        let m = Some(Role::Member);
        let cases = [
            (Action::ReadRoom(m), Permission::Read),
            (Action::Send(m), Permission::Create),
            (Action::Edit { role: m, is_sender: true }, Permission::Update),
            (Action::Delete { role: m, is_sender: true }, Permission::Delete),
            (Action::ManageRoom(Some(Role::Admin)), Permission::ManageRooms),
            (Action::CreateRoom, Permission::ManageRooms),
            (Action::OpenDirect, Permission::Create),
            (Action::Browse, Permission::Read),
            (Action::JoinChannel, Permission::Read),
        ];
        for (action, permission) in cases {
            assert!(authorize(&user(&[permission]), action).is_ok(), "{action:?}");
            let others: Vec<_> = Permission::ALL.iter().copied().filter(|p| *p != permission).collect();
            assert!(matches!(authorize(&user(&others), action), Err(Denied::Forbidden(_))), "{action:?}");
            assert!(authorize(&Caller(true, vec![]), action).is_ok(), "admin {action:?}");
        }
    }

    #[test]
    fn roles_and_ownership() {
        let all = user(Permission::ALL);
        let member = Some(Role::Member);
        assert!(authorize(&all, Action::Edit { role: member, is_sender: false }).is_err());
        assert!(authorize(&all, Action::Delete { role: member, is_sender: false }).is_err());
        assert!(authorize(&all, Action::Delete { role: Some(Role::Moderator), is_sender: false }).is_ok());
        assert!(authorize(&all, Action::Delete { role: Some(Role::Admin), is_sender: false }).is_ok());
        assert!(authorize(&all, Action::ManageRoom(Some(Role::Moderator))).is_err());
        assert!(authorize(&user(&[]), Action::OwnMembership(member)).is_ok());
        assert!(authorize(&all, Action::ManageUsers).is_err());
        assert!(authorize(&Caller(true, vec![]), Action::ManageUsers).is_ok());
        assert_eq!(Permission::parse_list("chat.read, chat.create").unwrap().len(), 2);
        assert!(Permission::parse_list("chat.read,chat.fly").is_err());
    }
}
