// `arrears users add|list|password|deactivate|roles|token`: staff accounts and machine API
// tokens. Passwords come from standard input (--password-stdin) or a hidden prompt on a
// terminal, never from the command line (it would sit in the shell history and `ps`).
import type { Command } from 'commander';
import { ValidationError } from '../domain/errors.ts';
import { PERMISSION_DESCRIPTIONS } from '../domain/permissions.ts';
import { resetTotp } from '../services/two-factor.ts';
import { addUser, createToken, listRoles, listTokens, listUsers, passwordProblem, revokeToken, updateUser } from '../services/users.ts';
import { action, printJson, withContext } from './context.ts';
import { table } from './settings.ts';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** Reads a line from the terminal without echoing it. */
function readHidden(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.setEncoding('utf8');
    stdin.resume();
    let value = '';
    const finish = (err?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003' || ch === '\u0004') return finish(ValidationError.of('cancelled', { field: 'password' }));
        value = ch === '\u007f' || ch === '\b' ? value.slice(0, -1) : value + ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** The new password: from standard input, or asked twice on a terminal. */
async function newPassword(fromStdin: boolean | undefined): Promise<string> {
  if (fromStdin) return readStdin();
  if (!process.stdin.isTTY) throw ValidationError.of('give --password-stdin (and the password on standard input), or run this in a terminal to be asked', { field: '--password-stdin' });
  const first = await readHidden('Password: ');
  const reason = passwordProblem(first);
  if (reason) throw ValidationError.of(reason, { field: 'password' });
  if ((await readHidden('Again: ')) !== first) throw ValidationError.of('the two passwords differ', { field: 'password' });
  return first;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerUsers(program: Command): void {
  const users = program.command('users').description('staff users, roles and API tokens');

  users
    .command('add <username>')
    .description('add a user (the first one: `arrears users add admin --role admin`)')
    .option('--role <role>', 'a role to give (repeat for more): admin, business_office, circulation, viewer or a custom one', collect)
    .option('--display-name <name>', 'the name shown in the staff app')
    .option('--password-stdin', 'read the password from standard input instead of asking')
    .option('--no-password', 'no password: the user only uses API tokens')
    .option('--json', 'print the user as JSON')
    .action(
      action(async (username: string, opts: { role?: string[]; displayName?: string; passwordStdin?: boolean; password: boolean; json?: boolean }, cmd: Command) => {
        const password = opts.password ? await newPassword(opts.passwordStdin) : null;
        const user = await withContext(cmd, (ctx) => addUser(ctx, { username, password, displayName: opts.displayName, roles: opts.role ?? ['viewer'] }));
        if (opts.json) return printJson(user);
        console.log(`added user ${user.username} (id ${user.id}) with role${user.roles.length === 1 ? '' : 's'} ${user.roles.join(', ') || 'none'}`);
        if (password) console.log('Sign in at the staff app, or POST /api/login.');
      }),
    );

  users
    .command('list')
    .description('every user, their roles and whether they are active')
    .option('--json', 'as JSON')
    .action(
      action(async (opts: { json?: boolean }, cmd: Command) => {
        const list = await withContext(cmd, (ctx) => listUsers(ctx.database.db));
        if (opts.json) return printJson(list);
        if (list.length === 0) return console.log('no users yet: add one with `arrears users add <username> --role admin`');
        console.log(
          table([
            ['id', 'username', 'name', 'roles', 'active', 'password'],
            ...list.map((u) => [String(u.id), u.username, u.displayName, u.roles.join(',') || '-', u.active ? 'yes' : 'no', u.hasPassword ? 'yes' : 'tokens only']),
          ]),
        );
      }),
    );

  users
    .command('password <username>')
    .description("set a user's password (their sessions end and their API tokens are revoked)")
    .option('--password-stdin', 'read the password from standard input instead of asking')
    .action(
      action(async (username: string, opts: { passwordStdin?: boolean }, cmd: Command) => {
        const password = await newPassword(opts.passwordStdin);
        const user = await withContext(cmd, (ctx) => updateUser(ctx, username, { password }));
        console.log(`password of ${user.username} changed`);
      }),
    );

  users
    .command('roles-of <username> <roles...>')
    .description("replace a user's roles")
    .action(
      action(async (username: string, roles: string[], _opts: unknown, cmd: Command) => {
        const user = await withContext(cmd, (ctx) => updateUser(ctx, username, { roles }));
        console.log(`${user.username} now has ${user.roles.join(', ')}`);
      }),
    );

  for (const [name, active] of [
    ['deactivate', false],
    ['activate', true],
  ] as const) {
    users
      .command(`${name} <username>`)
      .description(active ? 'let a deactivated user sign in again (with new API tokens: the old ones stay revoked)' : 'stop a user signing in: their sessions end and their API tokens are revoked')
      .action(
        action(async (username: string, _opts: unknown, cmd: Command) => {
          const user = await withContext(cmd, (ctx) => updateUser(ctx, username, { active }));
          console.log(`${user.username} is ${user.active ? 'active' : 'deactivated'}`);
        }),
      );
  }

  users
    .command('reset-2fa <username>')
    .description("turn off a user's two-factor sign-in (authenticator and recovery codes lost); their sessions end and they set it up again")
    .action(
      action(async (username: string, _opts: unknown, cmd: Command) => {
        await withContext(cmd, (ctx) => resetTotp(ctx, username));
        console.log(`two-factor sign-in of ${username.trim().toLowerCase()} reset: they sign in with their password and set it up again`);
      }),
    );

  users
    .command('roles')
    .description('the roles and the permissions each grants')
    .option('--json', 'as JSON')
    .action(
      action(async (opts: { json?: boolean }, cmd: Command) => {
        const roles = await withContext(cmd, (ctx) => listRoles(ctx.database.db));
        if (opts.json) return printJson(roles);
        for (const r of roles) {
          console.log(`${r.name}${r.builtIn ? '' : ' (custom)'}: ${r.description} — ${r.users} user${r.users === 1 ? '' : 's'}`);
          for (const p of r.permissions) console.log(`  ${p.padEnd(18)} ${PERMISSION_DESCRIPTIONS[p]}`);
        }
      }),
    );

  const token = users.command('token').description('API tokens for machines: `Authorization: Bearer <token>`');

  token
    .command('create <username>')
    .description('create a token for the user and print it (shown this once; only its hash is kept)')
    .requiredOption('--name <name>', 'what the token is for, e.g. "ILS nightly export"')
    .action(
      action(async (username: string, opts: { name: string }, cmd: Command) => {
        const created = await withContext(cmd, (ctx) => createToken(ctx, username, opts.name));
        process.stderr.write(`token ${created.id} "${created.name}" for ${created.username}; it is shown once, keep it now:\n`);
        console.log(created.token);
      }),
    );

  token
    .command('list [username]')
    .description("tokens (every user's, or one user's), never the tokens themselves")
    .option('--json', 'as JSON')
    .action(
      action(async (username: string | undefined, opts: { json?: boolean }, cmd: Command) => {
        const list = await withContext(cmd, (ctx) => listTokens(ctx.database.db, username));
        if (opts.json) return printJson(list);
        if (list.length === 0) return console.log('no tokens');
        const when = (d: Date | null) => (d ? d.toISOString() : '-');
        console.log(
          table([
            ['id', 'user', 'name', 'created', 'last used', 'revoked'],
            ...list.map((t) => [String(t.id), t.username, t.name, when(t.createdAt), when(t.lastUsedAt), when(t.revokedAt)]),
          ]),
        );
      }),
    );

  token
    .command('revoke <id>')
    .description('revoke a token: it stops working at once')
    .action(
      action(async (id: string, _opts: unknown, cmd: Command) => {
        if (!/^\d{1,15}$/.test(id)) throw ValidationError.of(`"${id}" is not a token id`, { field: 'id' });
        const t = await withContext(cmd, (ctx) => revokeToken(ctx, Number(id)));
        console.log(`revoked token ${t.id} "${t.name}" of ${t.username}`);
      }),
    );
}
