import type { DomainEntry } from '../plugin.ts'

/** How the shells find payment channels without loading them: the plug-in and the commands, on demand. */
export const channelEntry: DomainEntry = {
  plugin: async () => (await import('./index.ts')).channelPlugin,
  cli: async () => (await import('./cli/commands.ts')).channelCli,
}
