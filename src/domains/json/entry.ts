import type { DomainEntry } from '../plugin.ts'

/** How the shells find JSON documents without loading them: the plug-in and the commands, on demand. */
export const jsonEntry: DomainEntry = {
  plugin: async () => (await import('./index.ts')).jsonPlugin,
  cli: async () => (await import('./cli/commands.ts')).jsonCli,
}
