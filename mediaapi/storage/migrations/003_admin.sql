-- What the admin API marks on media (docs/admin-api.md, "Media").
-- quarantined_by is the admin who quarantined the media ('' when it is
-- not): quarantined media is never served again, locally or to other
-- servers, though its file stays on disk. safe_from_quarantine protects
-- media (sticker packs, shared images) from quarantines of a room's or a
-- user's media. last_access_ts is when the media was last served (at a
-- coarse grain, see mediaapi/access.go); deletions by age go by it.
ALTER TABLE media ADD COLUMN quarantined_by TEXT NOT NULL DEFAULT '';
ALTER TABLE media ADD COLUMN safe_from_quarantine BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE media ADD COLUMN last_access_ts BIGINT NOT NULL DEFAULT 0;
UPDATE media SET last_access_ts = created_ts;
CREATE INDEX media_quarantined ON media (sha256) WHERE quarantined_by <> '';
