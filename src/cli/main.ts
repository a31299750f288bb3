#!/usr/bin/env node
// The `arrears` command: a thin layer that parses, calls a service and prints. The commands
// are listed in commands.ts; only the one being run is loaded, so the CLI starts at once.
import { CommanderError, type Command } from 'commander';
import { buildProgram } from './commands.ts';

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
