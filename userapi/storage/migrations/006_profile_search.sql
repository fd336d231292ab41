-- What the user directory matches a search term against when it searches
-- all users: the user id and display name, lower-cased by the userapi
-- (SQL's LOWER only knows ASCII in SQLite).
ALTER TABLE profiles ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE profiles SET search_text = LOWER(user_id || ' ' || displayname);
