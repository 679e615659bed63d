import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { NodeConfigError } from './errors.ts'

// Apart from config.ts so that finding a node (the CLI does it on every command) does not load
// what validating its config needs (zod).

/** Default HTTP port of a node (`--port 0` picks a free one). */
export const DEFAULT_PORT = 8720

/** Where a node's files live: `--data-dir`, else `$RWA_HOME/<name>`, else `~/.rwa/<name>`. */
export function resolveDataDir(
  name: string,
  { dataDir, env = process.env }: { dataDir?: string | undefined; env?: NodeJS.ProcessEnv } = {},
): string {
  assertNodeName(name)
  if (dataDir) return resolve(dataDir)
  return join(env.RWA_HOME ? resolve(env.RWA_HOME) : join(homedir(), '.rwa'), name)
}

/** Node names become folder names, so they are kept to letters, digits, `-`, `_` and `.`. */
export function assertNodeName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name))
    throw new NodeConfigError(
      `"${name}" is not a usable node name; use 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit.`,
    )
}
