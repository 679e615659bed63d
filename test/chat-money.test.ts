import { statSync } from 'node:fs'
import { join } from 'node:path'
import { type Address, createPublicClient, type Hex, http, type PublicClient } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { NATIVE } from '../src/chain/escrow.ts'
import { fundAudit, owedTo } from '../src/chain/payments.ts'
import { ETH_UNIT, formatAmount } from '../src/core/amount.ts'
import { auditIdOf } from '../src/core/audit/settlement-report.ts'
import type { AuditState } from '../src/core/audit/state.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { readEthKeyFile, writeEthKeyFile } from '../src/store/key-file.ts'
import { CHAT_PASSWORD, ChatUser, foreignWords } from './fixtures/chat-user.ts'
import { ProsodyFixture } from './fixtures/prosody.ts'
import { TestNode } from './node-fixture.ts'
import { hasSystemService, SYSTEM_SERVICES } from './system.ts'

const run = hasSystemService(SYSTEM_SERVICES.prosody)
const BOT = 'rwa@localhost'
const AUDIT = 'Lamps'
const ITEMS = ['lamp 1 is lit', 'lamp 2 is lit']
const TX = /transaction (0x[0-9a-f]{64})/

/** The one line of `message` that is a command, its `<…>` placeholder replaced by `keyFile`. */
function commandIn(message: string, command: RegExp, keyFile: string): string[] {
  const line = message.split('\n').find((l) => command.test(l))
  if (!line) throw new Error(`no command matching ${command} in:\n${message}`)
  expect(line).toMatch(/--eth-key <[^>]+>$/)
  // Split as a shell would: words, and "double-quoted" strings as one word.
  const words = [...line.replace(/<[^>]+>$/, keyFile).matchAll(/"([^"]*)"|(\S+)/g)]
  return words.map((m) => m[1] ?? m[2]!)
}

/** Waits (the settler looks every 2 s; CLI and chain calls take seconds here) for `done`. */
async function eventually(done: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await done()) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`${what} did not happen within a minute`)
}

describe.runIf(run)('funding, settlement and withdrawal by chat on the devnet', () => {
  let prosody: ProsodyFixture
  let node: TestNode
  let admin: ChatUser
  let auditors: ChatUser[]
  let chain: PublicClient
  let escrow: Address
  let audit: OpId
  let stopped: AuditState
  /** What each auditor heard when the audit settled. */
  const settled = new Map<ChatUser, string>()
  let adminSettled: string
  let settleTx: Hex

  /** What the settlement pays `person`, as chat shows it. */
  const payOf = (person: ChatUser) => {
    const s = stopped.settlement!
    const i = s.payees.indexOf(person.wallet.address)
    return formatAmount(i < 0 ? 0n : s.amounts[i]!, ETH_UNIT)
  }

  /**
   * Runs an audit by chat from `create` to `stop`: Carol answers no for `carolSaysNo`, everyone
   * else yes. Answers the admin's notice when it finished, and what each auditor heard then.
   */
  async function runByChat(
    name: string,
    bond: string,
    items: readonly string[],
    carolSaysNo?: string,
  ): Promise<{ notice: string; results: Map<ChatUser, string> }> {
    for (const user of [admin, ...auditors]) await user.rest()
    expect(await admin.ask(`create ${name} ${bond}`)).toBe(
      `Created "${name}" with a bond of ${bond}. Add items with "add <description>", then "open".`,
    )
    for (const item of items) expect(await admin.ask(`add ${item}`)).toContain(`Added "${item}"`)
    expect(await admin.ask('open')).toContain('is open for registration')
    for (const person of auditors)
      expect(await person.register(name)).toBe(
        `You're registered for "${name}", paid to ${person.wallet.address}. Your first inspection comes when the audit starts.`,
      )
    expect(await admin.ask('close')).toContain('closed with 3 auditors')
    for (const person of auditors)
      expect(await person.next()).toContain('you are one of 3 auditors')
    const inspections = items.length * 3
    expect(await admin.ask('start')).toBe(
      `"${name}" has started: ${inspections} inspections went out to 3 auditors.`,
    )
    for (const person of auditors) {
      let prompt = await person.until(new RegExp(`^Audit "${name}", inspection 1 of`))
      for (let n = 1; n <= items.length; n++) {
        const no = person === auditors[2] && carolSaysNo && prompt.includes(carolSaysNo)
        expect(await person.ask(no ? 'no' : 'yes')).toContain('recorded')
        prompt = await person.next()
      }
      expect(prompt).toContain(`That was your last inspection in "${name}"`)
    }
    // The reply and the notice race each other: take both, in either order.
    const said = [await admin.ask('stop'), await admin.next()]
    expect(said).toContain(`"${name}" is stopped. Its results come next.`)
    const notice = said.find((m) => m.startsWith(`Audit "${name}" is finished`))
    expect(notice).toBeDefined()
    const results = new Map<ChatUser, string>()
    for (const person of auditors)
      results.set(person, await person.until(new RegExp(`^Audit "${name}" is finished`)))
    return { notice: notice!, results }
  }

  /**
   * Waits for audit `name` to settle; answers what the admin heard then, once every auditor
   * heard it too (so that nothing of it is left to arrive in the next audit's conversation).
   */
  async function settledFor(name: string): Promise<string> {
    const id = node.node.audits.resolve(name) as OpId
    await eventually(async () => (await node.node.audits.stateName(id)) === 'COMPLETE', name)
    const heard = new RegExp(`^Audit "${name}" is settled on chain`)
    for (const person of auditors) expect(await person.until(heard)).toMatch(TX)
    return admin.until(heard)
  }

  beforeAll(async () => {
    prosody = await ProsodyFixture.start()
    await prosody.register('rwa', CHAT_PASSWORD)
    node = await TestNode.startDevnet({
      extraConfig: `[xmpp]\nservice = "${prosody.service}"\ndomain = "localhost"\nusername = "rwa"\npassword = "${CHAT_PASSWORD}"\nadmins = ["boss@localhost"]`,
    })
    const info = node.node.chain!.info
    chain = createPublicClient({ transport: http(info.rpcUrl) })
    escrow = info.escrow
    admin = await ChatUser.connect(prosody, 'boss', BOT)
    auditors = [
      await ChatUser.connect(prosody, 'alice', BOT),
      await ChatUser.connect(prosody, 'bob', BOT),
      await ChatUser.connect(prosody, 'carol', BOT),
    ]
    await admin.awaitBot()
  }, 120_000)

  afterAll(async () => {
    for (const user of [admin, ...(auditors ?? [])]) await user?.stop()
    await node?.stop()
    await prosody?.stop()
  })

  test('the admin runs an audit by chat and is told how much to fund, where, and the command, which funds it', async () => {
    const { notice, results } = await runByChat(AUDIT, '0.0009 ETH', ITEMS, ITEMS[1])
    audit = node.node.audits.resolve(AUDIT) as OpId
    stopped = await node.node.audits.state(audit)
    expect(stopped.state).toBe('WAITING_FOR_CONTRACT')
    const total = formatAmount(stopped.settlement!.total, ETH_UNIT)
    // 0.0009 ETH over 6 inspections: 0.00015 ETH an answer with the majority.
    expect([payOf(auditors[0]!), payOf(auditors[1]!)]).toEqual(['0.0003 ETH', '0.0003 ETH'])
    expect(total).toBe('0.000675 ETH')
    expect(notice.split('\n')[0]).toBe(
      `Audit "${AUDIT}" is finished: send "results" for its results, or "settlement" for what it pays each auditor.`,
    )
    expect(notice).toContain(
      `To pay the auditors, fund its escrow with ${total}, the total its settlement pays out.\nThe escrow contract ${escrow} on chain 31337 holds it`,
    )
    expect(notice).toContain(`${node.url}/ui/audits/${audit}`)
    expect(notice).toContain(
      `\n  rwa audit fund ${audit} "${total}" --node ${node.url} --eth-key <`,
    )
    for (const person of auditors)
      expect(results.get(person)).toContain(
        `your compensation is ${payOf(person)}, for ${person.wallet.address}`,
      )

    const operatorKey = join(node.dataDir, 'keys', 'operator.eth')
    const [rwa, ...args] = commandIn(notice, /^ {2}rwa audit fund /, operatorKey)
    expect([rwa, ...args]).toEqual([
      'rwa',
      'audit',
      'fund',
      audit,
      total,
      '--node',
      node.url,
      '--eth-key',
      operatorKey,
    ])
    const funded = await node.rwa(...args)
    expect(funded.stderr).toBe('')
    expect(funded.stdout).toMatch(
      new RegExp(`^Funded "${AUDIT}" with ${total.replace('.', '\\.')}; tx 0x[0-9a-f]{64}\\.\\n$`),
    )
  }, 240_000)

  test('once the node settles, the admin and every auditor hear it with a transaction anvil mined', async () => {
    expect(stopped).toBeDefined()
    await eventually(
      async () => (await node.node.audits.stateName(audit)) === 'COMPLETE',
      'settlement',
    )
    adminSettled = await admin.until(/settled/)
    settleTx = TX.exec(adminSettled)![1] as Hex
    expect(adminSettled).toBe(
      `Audit "${AUDIT}" is settled on chain in transaction ${settleTx}. Its auditors can now withdraw their pay.`,
    )
    for (const person of auditors) {
      const message = await person.until(/is settled on chain/)
      settled.set(person, message)
      expect(TX.exec(message)?.[1]).toBe(settleTx)
    }
    const receipt = await chain.getTransactionReceipt({ hash: settleTx })
    expect(receipt.status).toBe('success')
    expect(receipt.to?.toLowerCase()).toBe(escrow.toLowerCase())
  }, 120_000)

  test('each auditor is told its pay, that the escrow holds it, what it owes in all, the page and the command; the command withdraws it', async () => {
    expect(settleTx).toBeDefined()
    for (const person of auditors) {
      const address = person.wallet.address
      const message = settled.get(person)!
      expect(message).toContain(
        `: your compensation of ${payOf(person)} waits in the escrow for ${address}.`,
      )
      expect(message).toContain(`The escrow owes that address ${payOf(person)} in all.`)
      expect(message).toContain(`${node.url}/ui/audits/payouts/${address}`)
      expect(message.split('\n').at(-1)).toBe(
        `  rwa payout withdraw --node ${node.url} --eth-key <the Ethereum key file of ${address}>`,
      )
    }

    const alice = auditors[0]!
    const address = alice.wallet.address
    const keyFile = join(node.root, 'alice.eth')
    writeEthKeyFile(keyFile, alice.walletKey)
    expect(statSync(keyFile).mode & 0o777).toBe(0o600)
    // A payee pays its own gas: the devnet gives Alice 1 ETH.
    await chain.request({
      method: 'anvil_setBalance' as never,
      params: [address, '0xDE0B6B3A7640000'] as never,
    })
    const before = await chain.getBalance({ address })
    expect(before).toBe(10n ** 18n)
    const owed = await owedTo(node.node.chain!.info, address, NATIVE)
    expect(formatAmount(owed, ETH_UNIT)).toBe(payOf(alice))

    const [rwa, ...args] = commandIn(settled.get(alice)!, /^ {2}rwa payout withdraw /, keyFile)
    expect([rwa, ...args]).toEqual([
      'rwa',
      'payout',
      'withdraw',
      '--node',
      node.url,
      '--eth-key',
      keyFile,
    ])
    const withdrew = await node.rwa(...args)
    expect(withdrew.stderr).toBe('')
    const tx = /^Withdrew (\S+ ETH); tx (0x[0-9a-f]{64})\.$/m.exec(withdrew.stdout)
    expect(tx?.[1]).toBe(payOf(alice))
    const receipt = await chain.getTransactionReceipt({ hash: tx![2] as Hex })
    expect(receipt.status).toBe('success')
    expect(await owedTo(node.node.chain!.info, address, NATIVE)).toBe(0n)
    const gas = receipt.gasUsed * receipt.effectiveGasPrice
    expect(await chain.getBalance({ address })).toBe(before + owed - gas)
  }, 120_000)

  test('"result" after settlement repeats the pay and how to withdraw; "settlement" names the transaction', async () => {
    expect(settleTx).toBeDefined()
    const [alice, bob, carol] = auditors as [ChatUser, ChatUser, ChatUser]
    for (const person of [bob, carol]) {
      const result = await person.ask('result')
      const address = person.wallet.address
      expect(result).toContain(`your compensation is ${payOf(person)}, for ${address}`)
      expect(result).toContain(`settled in transaction ${settleTx}`)
      expect(result).toContain(`The escrow owes that address ${payOf(person)} in all.`)
      expect(result).toContain(`${node.url}/ui/audits/payouts/${address}`)
      expect(result.split('\n').at(-1)).toBe(
        `  rwa payout withdraw --node ${node.url} --eth-key <the Ethereum key file of ${address}>`,
      )
    }
    // Alice has withdrawn: the escrow no longer holds her pay, and chat must not say it does.
    const withdrawn = await alice.ask(`result ${AUDIT}`)
    expect(withdrawn).toContain(`your compensation is ${payOf(alice)}, for ${alice.wallet.address}`)
    expect(withdrawn).toContain(`settled in transaction ${settleTx}`)
    expect(withdrawn).not.toContain('waits in the escrow')
    expect(withdrawn).toContain('The escrow owes that address nothing more in ETH now')

    const settlement = await admin.ask('settlement')
    for (const person of auditors)
      expect(settlement).toContain(`${person.wallet.address} (${person.jid}): ${payOf(person)}`)
    expect(settlement.split('\n').at(-1)).toBe(`Settled on chain in transaction ${settleTx}.`)
  }, 60_000)

  test('an escrow funded in part: "settlement" says what it holds and gives the command for the rest, which settles it', async () => {
    const name = 'Benches'
    const { notice } = await runByChat(name, '0.0006 ETH', ['bench 1 is clean'])
    expect(notice).toContain(`fund its escrow with 0.0006 ETH, the total its settlement pays out.`)
    const operatorKey = join(node.dataDir, 'keys', 'operator.eth')
    const part = await node.rwa('audit', 'fund', name, '0.0001 ETH', '--eth-key', operatorKey)
    expect(part.stdout).toContain(`Funded "${name}" with 0.0001 ETH`)
    const settlement = await admin.ask('settlement')
    expect(settlement).toContain(
      'Its escrow holds 0.0001 ETH of the 0.0006 ETH it needs (the total its settlement pays out); fund the other 0.0005 ETH from the wallet that funded it',
    )
    const [, ...args] = commandIn(settlement, /^ {2}rwa audit fund /, operatorKey)
    expect(args.slice(0, 4)).toEqual([
      'audit',
      'fund',
      node.node.audits.resolve(name),
      '0.0005 ETH',
    ])
    expect((await node.rwa(...args)).stdout).toContain(`Funded "${name}" with 0.0005 ETH`)
    const settled = await settledFor(name)
    const receipt = await chain.getTransactionReceipt({ hash: TX.exec(settled)![1] as Hex })
    expect(receipt.status).toBe('success')
  }, 240_000)

  test('an escrow funded beyond its payouts: the admins hear what is credited back and the command to withdraw it, which does', async () => {
    const name = 'Roads'
    await runByChat(name, '0.0009 ETH', ['road 1 is paved', 'road 2 is paved'], 'road 2 is paved')
    // The admin funds the whole bond; the settlement pays out 0.000675 ETH of it.
    const operatorKey = join(node.dataDir, 'keys', 'operator.eth')
    const funded = await node.rwa('audit', 'fund', name, '0.0009 ETH', '--eth-key', operatorKey)
    expect(funded.stdout).toContain(`Funded "${name}" with 0.0009 ETH`)
    const settled = await settledFor(name)
    expect(settled.split('\n').slice(1)).toEqual([
      'The 0.000225 ETH funded beyond its payouts is credited back to the wallet that funded it; withdraw it from the command line:',
      `  rwa payout withdraw --node ${node.url} --eth-key <the Ethereum key file that funded it>`,
    ])
    const [, ...args] = commandIn(settled, /^ {2}rwa payout withdraw /, operatorKey)
    const withdrew = await node.rwa(...args)
    expect(withdrew.stdout).toMatch(/^Withdrew 0\.000225 ETH; tx 0x[0-9a-f]{64}\.\n$/)
    const sponsor = privateKeyToAccount(readEthKeyFile(operatorKey)).address
    expect(await owedTo(node.node.chain!.info, sponsor, NATIVE)).toBe(0n)
  }, 240_000)

  test('an escrow funded in another token: "settlement" says which token it holds and that nobody settles it', async () => {
    const name = 'Parks'
    await runByChat(name, '0.0003 ETH', ['the pond is clean'])
    const state = await node.node.audits.state(node.node.audits.resolve(name) as OpId)
    const info = node.node.chain!.info
    await fundAudit({
      info,
      account: privateKeyToAccount(readEthKeyFile(join(node.dataDir, 'keys', 'operator.eth'))),
      auditId: auditIdOf(state.id),
      token: info.token!,
      amount: 300n,
    })
    const settlement = await admin.ask('settlement')
    expect(settlement).toContain(
      `Its escrow holds 300 base units of another token (${info.token}) than "${name}" pays in, so no node settles it`,
    )
    expect(settlement).not.toMatch(/already holds|I'll tell you when it settles/)
  }, 240_000)

  test('while the chain does not answer, "result" still comes at once, without what the escrow owes', async () => {
    await node.withSilentChain(async () => {
      const bob = auditors[1]!
      const result = await bob.ask(`result ${AUDIT}`)
      expect(result).toContain(`your compensation is ${payOf(bob)}, for ${bob.wallet.address}`)
      expect(result).toContain(
        `settled in transaction ${settleTx} and paid into the escrow for you.`,
      )
      expect(result).not.toContain('in all')
      expect(result.split('\n').at(-1)).toBe(
        `  rwa payout withdraw --node ${node.url} --eth-key <the Ethereum key file of ${bob.wallet.address}>`,
      )
    })
  }, 60_000)

  test('an audit that pays nobody needs no funding and completes without a transaction', async () => {
    const name = 'Nobody'
    for (const user of [admin, ...auditors]) await user.rest()
    expect(await admin.ask(`create ${name} 0.0003 ETH`)).toContain(`Created "${name}"`)
    expect(await admin.ask('add the fountain runs')).toContain('Added')
    expect(await admin.ask('open')).toContain('is open for registration')
    for (const person of auditors) expect(await person.register(name)).toContain('registered')
    expect(await admin.ask('close')).toContain('closed with 3 auditors')
    expect(await admin.ask('start')).toContain('has started')
    // Nobody answers: stopped by force, every inspection is missing and no reward is earned.
    const said = [await admin.ask('stop force'), await admin.next()]
    const notice = said.find((m) => m.startsWith(`Audit "${name}" is finished`))
    expect(notice).toContain(
      "It pays nobody (no auditor earned anything), so it needs no funding: it completes without a transaction, and I'll tell you when it does.",
    )
    expect(notice).not.toContain('rwa audit fund')
    const id = node.node.audits.resolve(name) as OpId
    // The escrow refuses to settle what nobody funded: the node completes it without the chain.
    await eventually(async () => (await node.node.audits.stateName(id)) === 'COMPLETE', name)
    const complete = `Audit "${name}" is complete: it paid nobody, so nothing went through the chain.`
    expect(await admin.until(/^Audit "Nobody" is complete/)).toBe(complete)
    for (const person of auditors)
      expect(await person.until(/^Audit "Nobody" is complete/)).toBe(complete)
  }, 120_000)

  test('no message anyone got uses a word of the CLI or the HTTP API', () => {
    expect(ChatUser.everything.length).toBeGreaterThan(30)
    expect(ChatUser.everything.some((m) => m.includes('rwa payout withdraw --node'))).toBe(true)
    expect(foreignWords(ChatUser.everything)).toEqual([])
  })
})
