-- What the administrator has been told by email (ARREARS_ALERT_TO) of what needs attention
-- (services/attention.ts): an item is mailed when it first appears and again each day it
-- stays; once it is gone its row goes too, so its return is news again.
CREATE TABLE attention_alerts (
  key            text PRIMARY KEY,             -- the item's key, e.g. "connector:3:writes-refused"
  first_seen_at  timestamptz NOT NULL,
  last_sent_at   timestamptz NOT NULL
);
