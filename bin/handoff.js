#!/usr/bin/env node
// Entry point of the `handoff` command. The sources are TypeScript run through tsx's loader,
// so the same files serve development, tests and the shipped command.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
