#!/usr/bin/env node
// Runs the TypeScript CLI through tsx so `npx arrears ...` works without a build step. It runs in
// this process (no child), so signals from a service manager reach `arrears start` directly.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
