-- Staff sign-in and permissions (issue 6): the built-in roles, session idle expiry, API
-- token use, and the audit log read by actor. The built-in roles are defined in
-- src/domain/permissions.ts; test/users.test.ts checks these rows against it.

-- Built-in roles are managed by migrations, not by staff; custom roles have built_in = false.
ALTER TABLE roles ADD COLUMN built_in boolean NOT NULL DEFAULT false;

INSERT INTO roles (name, description, permissions, built_in) VALUES
  ('admin', 'System administrator: every permission',
   '{parameters.view,settings.edit,runs.run,ledger.view,imports.run,recordsets.manage,balances.settle,users.manage,audit.view}', true),
  ('business_office', 'Business office: runs, the second-agency workflow, settling balances and the audit log',
   '{parameters.view,runs.run,ledger.view,recordsets.manage,balances.settle,audit.view}', true),
  ('circulation', 'Circulation staff: review and run reports, the second-agency workflow',
   '{parameters.view,runs.run,ledger.view,recordsets.manage}', true),
  ('viewer', 'Read only: parameters, ledgers, referrals and files',
   '{parameters.view,ledger.view}', true)
ON CONFLICT (name) DO UPDATE SET description = excluded.description, permissions = excluded.permissions, built_in = true;

-- A session ends at expires_at (absolute) or after a configured idle time since last_seen_at.
ALTER TABLE sessions ADD COLUMN last_seen_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Shown to administrators so unused machine tokens can be revoked.
ALTER TABLE api_tokens ADD COLUMN last_used_at timestamptz;
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- GET /api/audit?actor=…: one user's actions, newest first.
CREATE INDEX audit_log_actor ON audit_log (actor, at);
