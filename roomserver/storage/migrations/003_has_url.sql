-- Whether content.url is set, for the contains_url filter.
ALTER TABLE events ADD COLUMN has_url SMALLINT NOT NULL DEFAULT 0;
