import type { CliPart } from '../../plugin.ts'
import { addClientCommands } from './client-commands.ts'
import { addTreasurerCommands } from './treasurer-commands.ts'

/** `rwa channel …` and `rwa call` (a client paying per call), and `rwa treasurer …` (the service). */
export const channelCli: CliPart = {
  register(program) {
    addClientCommands(program)
    addTreasurerCommands(program)
  },
}
