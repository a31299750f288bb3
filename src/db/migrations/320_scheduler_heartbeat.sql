-- The server's background loop says, once a pass, that it is alive and at what local time its
-- scheduler runs reports (src/services/background.ts). `arrears status` and `arrears schedule
-- status`, run from cron or a shell without the server's environment, read both instead of
-- guessing from their own, and name a server that stopped passing while runs are scheduled.
CREATE TABLE scheduler_heartbeat (
  id        integer PRIMARY KEY CHECK (id = 1),  -- one row: the server that passed last
  run_time  text NOT NULL,                       -- HH:MM, that server's ARREARS_SCHEDULE_TIME
  host      text NOT NULL,
  pid       integer NOT NULL,
  beat_at   timestamptz NOT NULL
);
