// vitest globalSetup: builds the CLI once before the tests that spawn it, so that their first
// spawns, all at once, do not each build it (bin/rwa.js would, and be right, only slower).
import { builtCli } from '../bin/cli-build.js'

export default async function setup(): Promise<void> {
  await builtCli()
}
