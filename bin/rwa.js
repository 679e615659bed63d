#!/usr/bin/env node
// The rwa command: runs the CLI built from src/ (bin/cli-build.js rebuilds it first when a source
// changed), or, where it cannot be built, the TypeScript sources through tsx's loader.
import { builtCli } from './cli-build.js'

const built = await builtCli()
if (built) await import(built)
else {
  const { register } = await import('tsx/esm/api')
  register()
  await import('../src/cli/main.ts')
}
