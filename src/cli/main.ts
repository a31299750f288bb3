#!/usr/bin/env node
// The `arrears` command: a thin layer that parses, calls a service and prints. The commands
// are listed in commands.ts; only the one being run is loaded, so the CLI starts at once.
import { CommanderError, type Command } from 'commander';
import { buildProgram } from './commands.ts';

// Output cut short by its reader (`arrears connectors test koha | head -1`) is not an error of
// the command: stop quietly, as other Unix tools do, with what was asked for already done.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

const program = await buildProgram(process.argv.slice(2));

// A mistyped command or option is bad input (exit 2), like any other; help and version exit 0.
const overrideExits = (c: Command): void => {
  c.exitOverride();
  c.commands.forEach(overrideExits);
};
overrideExits(program);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (!(err instanceof CommanderError)) throw err;
  process.exitCode = err.exitCode === 0 ? 0 : 2;
}
