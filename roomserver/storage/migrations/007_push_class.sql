-- What the default push rules make of an event, for the unread counts of
-- /sync: 0 nothing, 1 notifies, 2 notifies and highlights every member.
-- mentions holds the user ids the event mentions (space separated).
-- Events stored before get the class their type had in the counts then.
ALTER TABLE events ADD COLUMN push_class SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN mentions TEXT;
UPDATE events SET push_class = 1 WHERE state_key IS NULL AND type IN ('m.room.message', 'm.room.encrypted', 'm.call.invite', 'm.poll.start', 'org.matrix.msc3381.poll.start') AND (rel_type IS NULL OR rel_type != 'm.replace');
