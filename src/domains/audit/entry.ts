import type { DomainEntry } from '../plugin.ts'

/** How the shells find the audits without loading them: the plug-in and the commands, on demand. */
export const auditEntry: DomainEntry = {
  plugin: async () => (await import('./index.ts')).auditPlugin,
  cli: async () => (await import('./cli/commands.ts')).auditCli,
}
