import { CommanderError } from 'commander'
import { BaseError as ViemError } from 'viem'
import { BaseError } from '../errors/base.ts'
import { hoistLeadingOptions } from './args.ts'
import { createProgram } from './program.ts'

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
  if (error instanceof ViemError) {
    console.error(`error: ${error.shortMessage}`)
    process.exit(1)
  }
  throw error
}
