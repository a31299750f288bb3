// Named permissions and the built-in roles. Each permission maps to the notion a library
// already knows from Sierra or CC&B, so an administrator can tell what a role may do.
// The built-in roles are seeded by migration 090; test/users.test.ts holds the two in step.

export const PERMISSIONS = [
  'parameters.view',
  'settings.edit',
  'runs.run',
  'ledger.view',
  'imports.run',
  'recordsets.manage',
  'balances.settle',
  'users.manage',
  'audit.view',
] as const;

export type Permission = (typeof PERMISSIONS)[number];

export const PERMISSION_DESCRIPTIONS: Record<Permission, string> = {
  'parameters.view': 'View the settings table, agencies and schedules (Sierra 373 View Circulation Parameters)',
  'settings.edit': 'Edit the settings table and agencies, including their credentials (Sierra 700 Edit Collection Agency Settings)',
  'runs.run': 'Dry-run and run reports, explain a patron, retry or release report files',
  'ledger.view': "View patrons' ledgers, referrals, runs, report files and their downloads",
  'imports.run': 'Import libraries, patrons, items, charges and payments',
  'recordsets.manage': 'Record sets, secure and release, cleared files, re-referral, exclusions',
  'balances.settle': 'Waive remaining balances or record collection-agency payments',
  'users.manage': 'Users, roles and API tokens',
  'audit.view': 'Read the audit log',
};

export interface RoleDefinition {
  name: string;
  description: string;
  permissions: readonly Permission[];
}

export const BUILT_IN_ROLES: readonly RoleDefinition[] = [
  { name: 'admin', description: 'System administrator: every permission', permissions: PERMISSIONS },
  {
    name: 'business_office',
    description: 'Business office: runs, the second-agency workflow, settling balances and the audit log',
    permissions: ['parameters.view', 'runs.run', 'ledger.view', 'recordsets.manage', 'balances.settle', 'audit.view'],
  },
  {
    name: 'circulation',
    description: 'Circulation staff: review and run reports, the second-agency workflow',
    permissions: ['parameters.view', 'runs.run', 'ledger.view', 'recordsets.manage'],
  },
  { name: 'viewer', description: 'Read only: parameters, ledgers, referrals and files', permissions: ['parameters.view', 'ledger.view'] },
];

export const BUILT_IN_ROLE_NAMES: readonly string[] = BUILT_IN_ROLES.map((r) => r.name);

export function isPermission(text: string): text is Permission {
  return (PERMISSIONS as readonly string[]).includes(text);
}

/** Every permission any of the roles grants, in PERMISSIONS order. */
export function permissionsOf(roles: readonly { permissions: readonly string[] }[]): Permission[] {
  const granted = new Set(roles.flatMap((r) => r.permissions));
  return PERMISSIONS.filter((p) => granted.has(p));
}
