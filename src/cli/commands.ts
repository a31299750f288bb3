// Every top-level command: its name, the line `arrears --help` shows for it, and the module
// that defines it. Only the module of the command being run is imported, with its services
// and libraries (exceljs, the AWS SDK, ssh2, Fastify, argon2…); `arrears --help` imports none
// of them. The other commands are listed by name and summary only.
//
// To add a command: write src/cli/<feature>.ts exporting register<Feature>(program), and add
// one line here per top-level command it registers (commands of one module share its loader).
// test/cli.test.ts checks that this table and the modules agree.
import { Command } from 'commander';
import { IMPORT_KINDS } from '../domain/import-formats.ts';

export type Registrar = (program: Command) => void;

export interface CommandEntry {
  name: string;
  /** The same text the module gives .description(). */
  summary: string;
  load: () => Promise<Registrar>;
}

const migrate = async () => (await import('./migrate.ts')).registerMigrate;
const run = async () => (await import('./run.ts')).registerRun;
const settings = async () => (await import('./settings.ts')).registerSettings;
const agencies = async () => (await import('./agencies.ts')).registerAgencies;
const importFiles = async () => (await import('./import.ts')).registerImport;
const patron = async () => (await import('./patron.ts')).registerPatron;
const demo = async () => (await import('./demo.ts')).registerDemo;
const start = async () => (await import('./start.ts')).registerStart;
const explain = async () => (await import('./explain.ts')).registerExplain;
const files = async () => (await import('./files.ts')).registerFiles;
const recordsets = async () => (await import('./recordsets.ts')).registerRecordsets;
const secondAgency = async () => (await import('./second-agency.ts')).registerSecondAgency;
const users = async () => (await import('./users.ts')).registerUsers;
const exclusions = async () => (await import('./exclusions.ts')).registerExclusions;
const flags = async () => (await import('./flags.ts')).registerFlags;
const schedule = async () => (await import('./schedule.ts')).registerSchedule;
const backup = async () => (await import('./backup.ts')).registerBackup;
const connectors = async () => (await import('./connectors.ts')).registerConnectors;
const status = async () => (await import('./status.ts')).registerStatus;

/** In the order `arrears --help` lists them. */
export const COMMANDS: readonly CommandEntry[] = [
  { name: 'migrate', summary: 'apply pending database migrations (also done on every start)', load: migrate },
  { name: 'run', summary: 'evaluate the settings table for a report date: New Submissions, updates, removals, cancellations', load: run },
  { name: 'settings', summary: 'the Collection Agency Settings table (first matching entry applies)', load: settings },
  { name: 'agencies', summary: 'collection agencies and how their files are delivered', load: agencies },
  { name: 'import', summary: `import ${IMPORT_KINDS.join(', ')} from a .csv or .xlsx file (first row = header); all or nothing`, load: importFiles },
  { name: 'patron', summary: "show a patron's ledger: balance, flags, charges, payments, referrals and their history", load: patron },
  { name: 'demo', summary: 'generate the demo consortium (same seed and date, same files): write its import files with --out, or load it', load: demo },
  { name: 'start', summary: 'serve HTTP: applies migrations, loads a demo consortium into an empty database, stops on Ctrl-C or SIGTERM', load: start },
  { name: 'explain', summary: 'show which settings entry applies to a patron and every eligibility condition, measured and judged', load: explain },
  { name: 'files', summary: "the agencies' report files: list, show, download, retry delivery", load: files },
  { name: 'recordset', summary: 'record sets: named lists of patrons or items to work on in bulk (the second-agency workflow)', load: recordsets },
  { name: 'secure', summary: 'secure patron records (refused while items are linked to them; charges stay)', load: secondAgency },
  { name: 'release', summary: 'release secured patron records', load: secondAgency },
  { name: 'settle', summary: 'waive each patron\'s remaining balance, or record it as a "collection agency" payment', load: secondAgency },
  { name: 'cleared', summary: "import an agency's cleared-accounts file (.xlsx or .csv, patron ids only): clear their referrals and release them", load: secondAgency },
  { name: 'rerefer', summary: "return each patron's open referral (a return record) and refer them to another agency, without a second fee", load: secondAgency },
  { name: 'users', summary: 'staff users, roles and API tokens', load: users },
  { name: 'exclusions', summary: 'patrons excluded from New Submissions (review before sending)', load: exclusions },
  { name: 'flags', summary: 'flags back to the ILS: who is in collections, whose record is secured', load: flags },
  { name: 'schedule', summary: 'the automatic New Submission and Update schedule of each settings entry', load: schedule },
  { name: 'backup', summary: 'write the embedded database (and its key file) to one file; for PostgreSQL it prints the pg_dump command', load: backup },
  { name: 'restore', summary: 'restore a backup into the embedded data folder (--db); refuses a folder that is not empty without --force', load: backup },
  { name: 'connectors', summary: 'ILS connectors: read Koha or Evergreen directly and write the collections block back', load: connectors },
  { name: 'sync', summary: 'read the ILS into Arrears: the first time everything, then what changed (all or nothing)', load: connectors },
  { name: 'writeback', summary: 'apply the write-backs queued for a connector (a run does this after it commits)', load: connectors },
  { name: 'status', summary: 'what needs attention: failed syncs and write-backs, stale ILS data, failing deliveries, files held for review, late scheduled runs', load: status },
];

/**
 * The command the arguments name, before commander parses them: the first word that is not
 * a root option (--db takes a value), or for `help <command>` the command asked about.
 */
export function commandName(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return args[i + 1];
    if (arg === '--db') {
      i++;
      continue;
    }
    if (arg.startsWith('-')) continue;
    if (arg === 'help') return commandName(args.slice(i + 1)) ?? arg;
    return arg;
  }
  return undefined;
}

export function rootProgram(): Command {
  return new Command('arrears')
    .description('Refer overdue library debt to collection agencies and follow every referral.')
    .option('--db <url>', 'postgres:// URL, a PGlite data folder, or memory:// (default: ARREARS_DATABASE_URL or ./data)');
}

/**
 * The program for these arguments (process.argv without node and the script): the named
 * command in full, every other one as a name and summary for the help.
 */
export async function buildProgram(args: readonly string[]): Promise<Command> {
  const program = rootProgram();
  const wanted = COMMANDS.find((c) => c.name === commandName(args));
  const register = wanted ? await wanted.load() : undefined;
  for (const entry of COMMANDS) {
    if (register && entry.load === wanted!.load) {
      if (!program.commands.some((c) => c.name() === entry.name)) register(program);
    } else if (!program.commands.some((c) => c.name() === entry.name)) {
      program.command(entry.name).description(entry.summary);
    }
  }
  return program;
}
