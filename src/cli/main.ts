import { CommanderError } from 'commander'
import { BaseError } from '../errors/base.ts'
import { hoistLeadingOptions } from './args.ts'
import { createProgram } from './program.ts'

// Start-up cost is what every command pays: this file and the commands' registration import
// only commander and light modules; each action imports what it uses (viem, the node, the chain).
try {
  const [node, script, ...args] = process.argv
  await (await createProgram())
    .exitOverride()
    .parseAsync([node!, script!, ...hoistLeadingOptions(args)])
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode)
  if (error instanceof BaseError) {
    console.error(`error: ${error.shortMessage}`)
    process.exit(1)
  }
  // A chain client's error: its short message, not pages of ABI and request.
  const { BaseError: ViemError } = await import('viem')
  if (error instanceof ViemError) {
    console.error(`error: ${error.shortMessage}`)
    process.exit(1)
  }
  throw error
}
