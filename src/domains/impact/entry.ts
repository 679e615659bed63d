import type { DomainEntry } from '../plugin.ts'

/** How the shells find the impact communities without loading them: the plug-in and the commands, on demand. */
export const impactEntry: DomainEntry = {
  plugin: async () => (await import('./index.ts')).impactPlugin,
  cli: async () => (await import('./cli/commands.ts')).impactCli,
}
