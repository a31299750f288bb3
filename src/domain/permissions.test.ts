import { describe, expect, it } from 'vitest';
import { BUILT_IN_ROLES, PERMISSIONS, PERMISSION_DESCRIPTIONS, isPermission, permissionsOf } from './permissions.ts';

describe('permissions', () => {
  it('admin holds every permission and the other built-in roles only known ones', () => {
    expect(BUILT_IN_ROLES.find((r) => r.name === 'admin')!.permissions).toEqual(PERMISSIONS);
    for (const role of BUILT_IN_ROLES) for (const p of role.permissions) expect(isPermission(p)).toBe(true);
    expect(Object.keys(PERMISSION_DESCRIPTIONS).sort()).toEqual([...PERMISSIONS].sort());
  });

  it('viewing parameters and editing the settings table are separate (Sierra 373 and 700)', () => {
    const viewer = BUILT_IN_ROLES.find((r) => r.name === 'viewer')!;
    expect(viewer.permissions).toContain('parameters.view');
    expect(viewer.permissions).not.toContain('settings.edit');
  });

  it('unites the permissions of several roles in the canonical order, ignoring unknown names', () => {
    expect(permissionsOf([{ permissions: ['audit.view', 'ledger.view'] }, { permissions: ['ledger.view', 'parameters.view', 'no.such'] }])).toEqual([
      'parameters.view',
      'ledger.view',
      'audit.view',
    ]);
    expect(isPermission('settings.edit')).toBe(true);
    expect(isPermission('settings')).toBe(false);
  });
});
