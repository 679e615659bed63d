#!/usr/bin/env node
// The rwa command: runs the TypeScript sources through tsx's loader, so no build step is needed.
import { register } from 'tsx/esm/api'

register()
await import('../src/cli/main.ts')
