-- Two-factor sign-in (TOTP, RFC 6238) and its recovery codes (issue 16).

-- The TOTP secret, encrypted like agency credentials (services/secrets.ts: AES-256-GCM with
-- ARREARS_SECRET_KEY); set while enrolling, in force once totp_enabled_at is set.
ALTER TABLE users ADD COLUMN totp_secret text;
ALTER TABLE users ADD COLUMN totp_enabled_at timestamptz;
-- The 30-second time step of the last code accepted: a code, once used, is refused again.
ALTER TABLE users ADD COLUMN totp_last_step bigint;

-- One-time codes for signing in without the authenticator, shown once; kept only as sha256
-- (each holds 50 random bits, so a fast hash is enough).
CREATE TABLE user_recovery_codes (
  user_id     integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  code_hash   text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  used_at     timestamptz,
  PRIMARY KEY (user_id, code_hash)
);
