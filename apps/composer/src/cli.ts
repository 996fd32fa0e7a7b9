#!/usr/bin/env node
import { runCli } from './cli-program';

runCli(process.argv.slice(2)).then((code) => {
  // exit explicitly: an embedded database may leave timers behind after close
  process.exit(code);
});
