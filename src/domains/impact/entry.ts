import type { DomainEntry } from '../plugin.ts'

/** How the shells find the impact communities without loading them: the plug-in, on demand. */
export const impactEntry: DomainEntry = {
  plugin: async () => (await import('./index.ts')).impactPlugin,
}
