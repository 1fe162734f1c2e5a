// Shared by both backends; keep in step with migrations/sqlite and migrations/postgres.

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        display_name -> Text,
        password_hash -> Text,
        is_admin -> Bool,
        disabled -> Bool,
        created_at -> BigInt,
    }
}

diesel::table! {
    user_permissions (user_id, permission) {
        user_id -> BigInt,
        permission -> Text,
    }
}

diesel::table! {
    sessions (id) {
        id -> BigInt,
        user_id -> BigInt,
        token_hash -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        token_hash -> Text,
        name -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    chat_rooms (id) {
        id -> BigInt,
        name -> Text,
        room_type -> Text,
        created_by_id -> BigInt,
        direct_key -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        last_activity_at -> BigInt,
    }
}

diesel::table! {
    chat_room_members (id) {
        id -> BigInt,
        room_id -> BigInt,
        user_id -> BigInt,
        role -> Text,
        joined_at -> BigInt,
        last_read_at -> Nullable<BigInt>,
        last_read_message_id -> BigInt,
        is_muted -> Bool,
        notify -> Nullable<Text>,
    }
}

diesel::table! {
    chat_messages (id) {
        id -> BigInt,
        room_id -> BigInt,
        sender_id -> BigInt,
        content -> Text,
        message_type -> Text,
        reply_to_id -> Nullable<BigInt>,
        is_edited -> Bool,
        is_deleted -> Bool,
        created_at -> BigInt,
        edited_at -> Nullable<BigInt>,
        content_html -> Nullable<Text>,
        mentions_room -> Bool,
    }
}

diesel::table! {
    chat_mentions (message_id, user_id) {
        message_id -> BigInt,
        user_id -> BigInt,
    }
}

diesel::table! {
    chat_attachments (id) {
        id -> BigInt,
        message_id -> BigInt,
        room_id -> BigInt,
        file_name -> Text,
        stored_name -> Text,
        file_size -> BigInt,
        file_type -> Text,
        file_extension -> Text,
        thumbnail_name -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    chat_message_reads (id) {
        id -> BigInt,
        room_id -> BigInt,
        user_id -> BigInt,
        message_id -> BigInt,
        read_at -> BigInt,
    }
}

diesel::table! {
    chat_events (id) {
        id -> BigInt,
        room_id -> BigInt,
        kind -> Text,
        payload -> Text,
        target_user_id -> Nullable<BigInt>,
        created_at -> BigInt,
        message_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    chat_event_counter (id) {
        id -> Integer,
        last_id -> BigInt,
        pruned_through -> BigInt,
    }
}

diesel::joinable!(chat_room_members -> chat_rooms (room_id));
diesel::joinable!(chat_room_members -> users (user_id));
diesel::joinable!(chat_messages -> users (sender_id));
diesel::joinable!(chat_attachments -> chat_messages (message_id));
diesel::joinable!(chat_mentions -> chat_messages (message_id));
diesel::joinable!(user_permissions -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(api_tokens -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    user_permissions,
    sessions,
    api_tokens,
    chat_rooms,
    chat_room_members,
    chat_messages,
    chat_attachments,
    chat_message_reads,
    chat_events,
    chat_event_counter,
    chat_mentions,
);

diesel::table! {
    chat_reactions (id) {
        id -> BigInt,
        message_id -> BigInt,
        room_id -> BigInt,
        user_id -> BigInt,
        emoji -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    chat_pins (message_id) {
        message_id -> BigInt,
        room_id -> BigInt,
        pinned_by_id -> BigInt,
        pinned_at -> BigInt,
    }
}
