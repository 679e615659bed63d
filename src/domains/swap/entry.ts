import type { DomainEntry } from '../plugin.ts'

/** How the shells find SWAP accounting without loading it: the plug-in and the commands, on demand. */
export const swapEntry: DomainEntry = {
  plugin: async () => (await import('./index.ts')).swapPlugin,
  cli: async () => (await import('./cli/commands.ts')).swapCli,
}
