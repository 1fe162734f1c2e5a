-- Nothing looks read marks up by user: "seen by" walks a room's marks from a message on
-- (idx_chatread_room_message), and users are disabled, never deleted, so no cascade looks
-- for a user's marks either. One index write fewer for every message sent.
DROP INDEX idx_chatread_user_message;
