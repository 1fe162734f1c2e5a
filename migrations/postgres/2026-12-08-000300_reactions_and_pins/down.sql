DROP TABLE chat_pins;
DROP TABLE chat_reactions;
