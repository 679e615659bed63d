import type { DomainEntry } from '../plugin.ts'

/** How the shells find the price feeds without loading them: the plug-in and the commands, on demand. */
export const feedEntry: DomainEntry = {
  plugin: async () => (await import('./index.ts')).feedPlugin,
  cli: async () => (await import('./cli/commands.ts')).feedCli,
}
