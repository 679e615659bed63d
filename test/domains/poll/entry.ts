import type { DomainEntry } from '../../../src/domains/plugin.ts'

/** How the shells find the polls without loading them (the CLI registers `poll` from this). */
export const pollEntry: DomainEntry = {
  plugin: async () => (await import('./index.ts')).pollPlugin,
  cli: async () => (await import('./cli.ts')).pollCli,
}
