#!/usr/bin/env node
// The `adhouse` command: runs the TypeScript sources through tsx (no build step).
import { register } from 'tsx/esm/api';

register();
await import('../cli.ts');
