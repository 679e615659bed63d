import { readFileSync } from 'node:fs'
import { Command } from 'commander'
import { DOMAIN_ENTRIES } from '../domains/entries.ts'
import type { DomainEntry } from '../domains/plugin.ts'
import { BaseError } from '../errors/base.ts'
import {
  generateSigner,
  readEthKeyFile,
  readKeyFile,
  readSecretFile,
  writeEthKeyFile,
  writeKeyFile,
} from '../store/key-file.ts'
import { printJson } from './context.ts'
import { addNodeCommands } from './node-commands.ts'

const { version } = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
) as { version: string }

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')

/** Reads an op from a file, or explains that the argument is neither hex nor a readable file. */
function readOpFile(path: string): Buffer {
  try {
    return readFileSync(path)
  } catch (cause) {
    throw new BaseError(
      `"${path}" is neither an op in hex (an even number of 0-9a-f digits) nor a readable file.`,
      { cause },
    )
  }
}

/**
 * Builds the `rwa` command line: the node's commands, then each domain's (`domains`, default
 * every registered one). Registering loads no heavy module: each action imports what it uses.
 */
export async function createProgram({
  domains = DOMAIN_ENTRIES,
}: {
  domains?: readonly DomainEntry[]
} = {}): Promise<Command> {
  const program = new Command('rwa')
    .description(
      'Real World Auditor: pay independent people to assess real-world facts, on a signed replicated log.',
    )
    .version(version, '-v, --version')
    .showHelpAfterError('(add --help to the command for its usage and an example)')

  addNodeCommands(program, { domains })
  for (const entry of domains) (await entry.cli?.())?.register(program)

  const key = program
    .command('key')
    .description('manage key files: Ed25519 (signing ops) and Ethereum (payouts, funding)')
  key
    .command('new')
    .argument('<file>', 'where to write the key (refuses to overwrite)')
    .description('create a new Ed25519 key file (PKCS#8 PEM, mode 0600); prints its public key')
    .addHelpText('after', '\nExample:\n  $ rwa key new alice.key')
    .action((file: string) => {
      const signer = generateSigner()
      writeKeyFile(file, signer)
      console.log(hex(signer.publicKey))
    })
  key
    .command('new-eth')
    .argument('<file>', 'where to write the key (refuses to overwrite)')
    .description('create a new Ethereum key file (mode 0600) for --eth-key; prints its address')
    .addHelpText('after', '\nExample:\n  $ rwa key new-eth me.eth')
    .action(async (file: string) => {
      const { generatePrivateKey, privateKeyToAccount } = await import('viem/accounts')
      const privateKey = generatePrivateKey()
      writeEthKeyFile(file, privateKey)
      console.log(privateKeyToAccount(privateKey).address)
    })
  key
    .command('show')
    .argument('<file>', 'a key file')
    .description("print a key file's public key (Ed25519) or address (Ethereum)")
    .addHelpText('after', '\nExample:\n  $ rwa key show alice.key')
    .action(async (file: string) => {
      if (/-----BEGIN/.test(readSecretFile(file)))
        return console.log(hex(readKeyFile(file).publicKey))
      const { privateKeyToAccount } = await import('viem/accounts')
      console.log(privateKeyToAccount(readEthKeyFile(file)).address)
    })

  program
    .command('op')
    .description('inspect ops')
    .command('decode')
    .argument('<op>', 'the signed op as hex, or a file holding its bytes')
    .option('--json', 'print machine-readable JSON (the default output is JSON too)')
    .description('decode a signed op, check its encoding and signature, and print it')
    .addHelpText('after', '\nExample:\n  $ rwa op decode op.bin')
    .action(async (input: string) => {
      const { decodeOp } = await import('../ledger/op-decode.ts')
      const { verifyOp } = await import('../ledger/op-encode.ts')
      const bytes = /^([0-9a-f]{2})+$/i.test(input) ? Buffer.from(input, 'hex') : readOpFile(input)
      const op = decodeOp(new Uint8Array(bytes))
      const { author, sig, body, ...rest } = op.op
      const json = {
        id: op.id,
        ...rest,
        author: hex(author),
        body,
        sig: hex(sig),
        signatureValid: verifyOp(op),
      }
      printJson(json)
    })
  return program
}
