import { join } from 'node:path'
import type { Command } from 'commander'
import { contextOf, type GlobalOptions, printJson, withNodeOptions } from '../../../cli/context.ts'
import { formatAmount, parseAmount, type TokenUnit } from '../../../core/amount.ts'
import { BaseError } from '../../../errors/base.ts'
import { DEFAULT_CHANNEL_BLOCKS, type ExpiryOptions, parseWhole } from './client-args.ts'
import type { EscrowAccess } from './escrow-access.ts'

// The paying client of payment channels: `rwa channel open | add-funds | extend | state |
// claim-timeout | deposit | withdraw | balance` on the escrow, and `rwa call <url>`, which pays
// per call from a channel. The verbs follow snet-cli's (`channel open-init`, `channel extend-add`,
// `channel claim-timeout`, `account deposit`, `call`). Registering loads no heavy module: each
// action imports what it uses.

type EscrowOptions = GlobalOptions & { service?: string; escrow?: string; rpc?: string }

/** The file where the client keeps its channels' nonces and authorised amounts (mode 0600). */
export const CLIENT_STATE_FILE = 'channel-client.json'

/** Adds `rwa channel …` (the paying side) and `rwa call` to the program. */
export function addClientCommands(program: Command): void {
  const channel =
    program.commands.find((c) => c.name() === 'channel') ??
    program.command('channel').description('payment channels (SingularityNET Multi-Party Escrow)')
  addOpenCommand(channel)
  addAddFundsCommand(channel)
  addExtendCommand(channel)
  addStateCommand(channel)
  addClaimTimeoutCommand(channel)
  addWalletCommands(channel)
  addCallCommand(program)
}

/** The escrow options of every chain command. */
function withEscrowOptions(command: Command): Command {
  return withNodeOptions(command)
    .option('--service <url>', 'the service whose escrow and chain to use (its GET /channel terms)')
    .option('--escrow <address>', 'the MultiPartyEscrow to use (with --rpc)')
    .option('--rpc <url>', "the chain's JSON-RPC URL (default: the service's or the node's)")
}

async function accessOf(o: EscrowOptions, service?: string): Promise<EscrowAccess> {
  const { escrowAccess } = await import('./escrow-access.ts')
  return escrowAccess({
    service: service ?? o.service,
    escrow: o.escrow,
    rpc: o.rpc,
    node: contextOf(o).client,
  })
}

async function stateStore(o: GlobalOptions) {
  const { fileClientState } = await import('./client-state.ts')
  return fileClientState({ path: join(contextOf(o).dataDir, CLIENT_STATE_FILE) })
}

function addOpenCommand(channel: Command): void {
  withNodeOptions(
    channel
      .command('open')
      .description(
        'open a channel to a service from your Ethereum key (--eth-key), depositing its value (snet: channel open-init)',
      ),
  )
    .argument('<service-url>', "the service's URL (its terms are at <service-url>/channel)")
    .argument(
      '<amount>',
      'the value to lock: base units, or a decimal with the token\'s symbol ("1.5 RWAT")',
    )
    .option(
      '--blocks <n>',
      `the channel lasts n blocks from now (default ${DEFAULT_CHANNEL_BLOCKS})`,
    )
    .option('--expiration <block>', 'the block from which you may take the value back')
    .option('--signer <address>', 'another key that signs payments for you (default: your own)')
    .option('--rpc <url>', "the chain's JSON-RPC URL (default: the one the service names)")
    .addHelpText(
      'after',
      '\nExamples:\n  $ rwa channel open http://127.0.0.1:8720 "10 RWAT" --eth-key me.eth\n  $ rwa channel open http://127.0.0.1:8720 1000 --blocks 5000',
    )
    .action(
      async (
        service: string,
        amountText: string,
        o: EscrowOptions & ExpiryOptions & { signer?: string },
      ) => {
        const ctx = contextOf(o)
        const access = await accessOf(o, service)
        const { openChannelFor } = await import('./client-actions.ts')
        const opened = await openChannelFor(access, ctx.ethKey(), {
          amount: parseAmount(amountText, access.unit),
          expiry: o,
          signer: o.signer,
          state: await stateStore(o),
        })
        if (ctx.json) return printJson(opened)
        console.log(
          `Opened channel ${opened.channelId} to ${opened.recipient} with ${formatAmount(opened.value, access.unit)}, expiring at block ${opened.expiration}; tx ${opened.tx}.`,
        )
        console.log(
          `Pay with it: rwa call ${access.service?.origin ?? service}/<path> --channel ${opened.channelId}`,
        )
      },
    )
}

function addAddFundsCommand(channel: Command): void {
  withEscrowOptions(
    channel
      .command('add-funds')
      .description(
        'add value to a channel, depositing what your escrow balance lacks (snet: channel extend-add --amount)',
      ),
  )
    .argument('<id>', 'the channel id')
    .argument('<amount>', "base units, or a decimal with the token's symbol")
    .addHelpText(
      'after',
      '\nExample:\n  $ rwa channel add-funds 3 "5 RWAT" --service http://127.0.0.1:8720',
    )
    .action(async (id: string, amountText: string, o: EscrowOptions) => {
      const ctx = contextOf(o)
      const access = await accessOf(o)
      const { addFunds } = await import('./client-actions.ts')
      const done = await addFunds(
        access,
        ctx.ethKey(),
        parseWhole('Channel id', id),
        parseAmount(amountText, access.unit),
      )
      if (ctx.json) return printJson(done)
      const deposited =
        done.deposited > 0n ? ` (deposited ${formatAmount(done.deposited, access.unit)} first)` : ''
      console.log(
        `Channel ${done.channelId} now holds ${formatAmount(done.value, access.unit)}${deposited}; tx ${done.tx}.`,
      )
    })
}

function addExtendCommand(channel: Command): void {
  withEscrowOptions(
    channel
      .command('extend')
      .description(
        "move a channel's expiration later, optionally adding funds (snet: channel extend-add)",
      ),
  )
    .argument('<id>', 'the channel id')
    .option('--blocks <n>', 'the new expiration is n blocks from now')
    .option('--expiration <block>', 'the new expiration block')
    .option('--amount <amount>', 'also add this value (channelExtendAndAddFunds)')
    .addHelpText(
      'after',
      '\nExample:\n  $ rwa channel extend 3 --blocks 20000 --service http://127.0.0.1:8720',
    )
    .action(async (id: string, o: EscrowOptions & ExpiryOptions & { amount?: string }) => {
      const ctx = contextOf(o)
      const access = await accessOf(o)
      const { extendChannel } = await import('./client-actions.ts')
      const amount = o.amount === undefined ? 0n : parseAmount(o.amount, access.unit)
      const done = await extendChannel(
        access,
        ctx.ethKey(),
        parseWhole('Channel id', id),
        o,
        amount,
      )
      if (ctx.json) return printJson(done)
      console.log(
        `Channel ${done.channelId} now expires at block ${done.expiration} and holds ${formatAmount(done.value, access.unit)}; tx ${done.tx}.`,
      )
    })
}

function addStateCommand(channel: Command): void {
  withEscrowOptions(
    channel
      .command('state')
      .description(
        'a channel as the chain holds it and, with --service, as the service signs it (snet: channel print-initialized, client get-channel-state)',
      ),
  )
    .argument('<id>', 'the channel id')
    .addHelpText(
      'after',
      '\nExample:\n  $ rwa channel state 3 --service http://127.0.0.1:8720 --eth-key me.eth',
    )
    .action(async (id: string, o: EscrowOptions) => {
      const ctx = contextOf(o)
      const access = await accessOf(o)
      const { channelState } = await import('./client-actions.ts')
      const needKey = access.service !== undefined
      const report = await channelState(access, parseWhole('Channel id', id), {
        key: needKey ? ctx.ethKey() : undefined,
        state: await stateStore(o),
      })
      if (ctx.json) return printJson(report)
      for (const line of describeState(report, access.unit)) console.log(line)
    })
}

type StateReport = Awaited<ReturnType<typeof import('./client-actions.ts').channelState>>

/** The lines `rwa channel state` prints. */
export function describeState(report: StateReport, unit: TokenUnit): string[] {
  const { chain, currentBlock, service } = report
  const left = chain.expiration - currentBlock
  const when =
    left > 0n
      ? `in ${left} blocks`
      : 'expired: the sender may take the value back (rwa channel claim-timeout)'
  const lines = [
    `Channel ${chain.channelId} (escrow ${report.escrow}):`,
    `  nonce       ${chain.nonce}`,
    `  sender      ${chain.sender}`,
    `  signer      ${chain.signer}`,
    `  recipient   ${chain.recipient}`,
    `  group       ${chain.groupId}`,
    `  value       ${formatAmount(chain.value, unit)}`,
    `  expiration  block ${chain.expiration} (${when}; now ${currentBlock})`,
  ]
  if (service)
    lines.push(
      `At the service (signed by you): nonce ${service.nonce}, authorised ${formatAmount(service.authorised, unit)}, left ${formatAmount(chain.value - service.authorised, unit)}.`,
    )
  return lines
}

function addClaimTimeoutCommand(channel: Command): void {
  withEscrowOptions(
    channel
      .command('claim-timeout')
      .description(
        "take an expired channel's value back to your escrow balance (snet: channel claim-timeout)",
      ),
  )
    .argument('<id>', 'the channel id')
    .addHelpText(
      'after',
      '\nExample:\n  $ rwa channel claim-timeout 3 --service http://127.0.0.1:8720 --eth-key me.eth',
    )
    .action(async (id: string, o: EscrowOptions) => {
      const ctx = contextOf(o)
      const access = await accessOf(o)
      const { claimTimeout } = await import('./client-actions.ts')
      const done = await claimTimeout(
        access,
        ctx.ethKey(),
        parseWhole('Channel id', id),
        await stateStore(o),
      )
      if (ctx.json) return printJson(done)
      console.log(
        `Took ${formatAmount(done.refunded, access.unit)} back from channel ${done.channelId} to your escrow balance; tx ${done.tx}. Withdraw it with "rwa channel withdraw".`,
      )
    })
}

function addWalletCommands(channel: Command): void {
  for (const [verb, snet, what] of [
    ['deposit', 'account deposit', 'move tokens from your Ethereum key into your escrow balance'],
    [
      'withdraw',
      'account withdraw',
      'move tokens from your escrow balance back to your Ethereum key',
    ],
  ] as const)
    withEscrowOptions(channel.command(verb).description(`${what} (snet: ${snet})`))
      .argument('<amount>', "base units, or a decimal with the token's symbol")
      .addHelpText('after', `\nExample:\n  $ rwa channel ${verb} "5 RWAT" --eth-key me.eth`)
      .action(async (amountText: string, o: EscrowOptions) => {
        const ctx = contextOf(o)
        const access = await accessOf(o)
        const { moveEscrowBalance } = await import('./client-actions.ts')
        const amount = parseAmount(amountText, access.unit)
        const done = await moveEscrowBalance(access, ctx.ethKey(), verb, amount)
        if (ctx.json) return printJson(done)
        console.log(
          `${verb === 'deposit' ? 'Deposited' : 'Withdrew'} ${formatAmount(amount, access.unit)}; your escrow balance is ${formatAmount(done.balance, access.unit)}; tx ${done.tx}.`,
        )
      })
  withEscrowOptions(
    channel
      .command('balance')
      .description('the escrow balance of an address, outside channels (snet: account balance)'),
  )
    .argument('[address]', 'whose (default: the address of --eth-key)')
    .addHelpText('after', '\nExample:\n  $ rwa channel balance --eth-key me.eth')
    .action(async (given: string | undefined, o: EscrowOptions) => {
      const ctx = contextOf(o)
      const access = await accessOf(o)
      const { escrowBalance } = await import('./client-actions.ts')
      const done = await escrowBalance(access, given ?? ctx.ethKey())
      if (ctx.json) return printJson({ ...done, token: access.unit })
      console.log(
        `${done.address} has ${formatAmount(done.balance, access.unit)} in escrow ${access.escrow}.`,
      )
    })
}

type CallOptions = GlobalOptions & {
  method?: string
  data?: string
  header: string[]
  channel?: string
  rpc?: string
}

function addCallCommand(program: Command): void {
  withNodeOptions(
    program
      .command('call')
      .description(
        'call a paid URL, paying from a payment channel signed by your --eth-key (snet: call)',
      ),
  )
    .argument('<url>', 'the URL to call (a priced route of a rwa service)')
    .option('-X, --method <method>', 'the HTTP method (default GET, or POST with --data)')
    .option('-d, --data <body>', 'the request body')
    .option(
      '-H, --header <name:value>',
      'a request header (repeatable)',
      (v: string, all: string[]) => [...all, v],
      [],
    )
    .option(
      '--channel <id>',
      'the channel to pay from (default: the last one used with this service)',
    )
    .option(
      '--rpc <url>',
      "a JSON-RPC URL to check a recovered state against (default: the service's)",
    )
    .addHelpText(
      'after',
      '\nThe answer goes to stdout, what it cost to stderr.\n\nExamples:\n  $ rwa call http://127.0.0.1:8720/call/echo/hello --channel 3 --eth-key me.eth\n  $ rwa call http://127.0.0.1:8720/call/echo/x -d \'{"a":1}\' -H content-type:application/json',
    )
    .action(async (url: string, o: CallOptions) => {
      const ctx = contextOf(o)
      const { runCall } = await import('./client-actions.ts')
      const result = await runCall({
        url,
        method: o.method,
        body: o.data,
        headers: parseHeaders(o.header),
        channel: o.channel === undefined ? undefined : parseWhole('--channel', o.channel),
        key: ctx.ethKey(),
        rpc: o.rpc,
        state: await stateStore(o),
      })
      if (ctx.json)
        return printJson({
          status: result.status,
          paid: result.paid,
          warning: result.warning,
          body: result.body.toString('utf8'),
        })
      process.stdout.write(result.body)
      const note = result.note
      if (note) console.error(note)
      if (result.status < 200 || result.status > 299)
        throw new BaseError(
          `The service answered HTTP ${result.status}${result.paid ? '' : '; nothing was paid'}.`,
        )
    })
}

/** `name:value` headers as a record, refusing ones that are not. */
export function parseHeaders(lines: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const at = line.indexOf(':')
    const name = at > 0 ? line.slice(0, at).trim() : ''
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/.test(name))
      throw new BaseError(
        `Header "${line.slice(0, 60)}" is not "name: value"; give e.g. -H "content-type: application/json".`,
      )
    if (/^snet-/i.test(name))
      throw new BaseError(`Header "${name}" is the payment's own; rwa call sets it.`)
    headers[name.toLowerCase()] = line.slice(at + 1).trim()
  }
  return headers
}
