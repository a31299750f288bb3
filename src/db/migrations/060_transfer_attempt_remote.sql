-- Where a delivered file landed (sftp://host/path, s3://bucket/key, mailto:…, a folder path),
-- so staff can tell the agency exactly where to look. Empty for failed attempts.
ALTER TABLE transfer_attempts ADD COLUMN remote text NOT NULL DEFAULT '';
