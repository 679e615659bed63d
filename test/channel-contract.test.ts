import { type AbiParameter, type Address, type Hex, keccak256, parseAbi, stringToHex } from 'viem'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { multiPartyEscrowAbi } from '../src/chain/artifacts.ts'
import {
  type Channel,
  channelAddFunds,
  channelClaim,
  channelClaimTimeout,
  channelExtend,
  channelExtendAndAddFunds,
  depositAndOpenChannel,
  MAX_CLAIMS_PER_TRANSACTION,
  MpeArgumentError,
  MpeError,
  MpeNotFoundError,
  mpeDeposit,
  mpeTransfer,
  mpeWithdraw,
  multiChannelClaim,
  openChannel,
  openChannelByThirdParty,
  readChannel,
  readMpeBalance,
  readNextChannelId,
  recoverClaimSigner,
  signClaim,
  signThirdPartyOpen,
  type ThirdPartyOpen,
} from '../src/chain/mpe.ts'
import { dev, hasAnvil } from './fixtures/escrow-chain.ts'
import { type MpeChain, startMpeChain } from './fixtures/mpe-chain.ts'

// MultiPartyEscrow on a fresh anvil: a client deposits, opens channels and signs ever larger
// amounts; the service claims them; every claim the contract must refuse is refused with its
// reason, and the tokens the escrow holds always equal its balances plus its channels' values.

type Account = ReturnType<typeof dev>

const payer = dev(4)
const clientSigner = dev(5)
const service = dev(6)
const thirdParty = dev(7)
const stranger = dev(9)
const GROUP: Hex = keccak256(stringToHex('rwa channel test group'))
const PRICE = 10n

/** The error a call rejects with (fails when it resolves). */
async function rejection(call: Promise<unknown>): Promise<unknown> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error, 'the call succeeded').toBeDefined()
  return error
}

/** The contract's reason for refusing a call. */
async function refusal(call: Promise<unknown>): Promise<string> {
  const error = await rejection(call)
  expect(error).toBeInstanceOf(MpeError)
  return (error as MpeError).reason
}

/** SingularityNET MultiPartyEscrow's interface (platform-contracts), written out from its source. */
const ORIGINAL = parseAbi([
  'event ChannelOpen(uint256 channelId, uint256 nonce, address indexed sender, address signer, address indexed recipient, bytes32 indexed groupId, uint256 amount, uint256 expiration)',
  'event ChannelClaim(uint256 indexed channelId, uint256 nonce, address indexed recipient, uint256 claimAmount, uint256 plannedAmount, uint256 sendBackAmount, uint256 keepAmount)',
  'event ChannelSenderClaim(uint256 indexed channelId, uint256 nonce, uint256 claimAmount)',
  'event ChannelExtend(uint256 indexed channelId, uint256 newExpiration)',
  'event ChannelAddFunds(uint256 indexed channelId, uint256 additionalFunds)',
  'event DepositFunds(address indexed sender, uint256 amount)',
  'event WithdrawFunds(address indexed sender, uint256 amount)',
  'event TransferFunds(address indexed sender, address indexed receiver, uint256 amount)',
  'function channels(uint256) view returns (uint256 nonce, address sender, address signer, address recipient, bytes32 groupId, uint256 value, uint256 expiration)',
  'function balances(address) view returns (uint256)',
  'function nextChannelId() view returns (uint256)',
  'function token() view returns (address)',
  'function usedMessages(bytes32) view returns (bool)',
  'function deposit(uint256 value) returns (bool)',
  'function withdraw(uint256 value) returns (bool)',
  'function transfer(address receiver, uint256 value) returns (bool)',
  'function openChannel(address signer, address recipient, bytes32 groupId, uint256 value, uint256 expiration) returns (bool)',
  'function openChannelByThirdParty(address sender, address signer, address recipient, bytes32 groupId, uint256 value, uint256 expiration, uint256 messageNonce, uint8 v, bytes32 r, bytes32 s) returns (bool)',
  'function depositAndOpenChannel(address signer, address recipient, bytes32 groupId, uint256 value, uint256 expiration) returns (bool)',
  'function multiChannelClaim(uint256[] channelIds, uint256[] actualAmounts, uint256[] plannedAmounts, bool[] isSendbacks, uint8[] v, bytes32[] r, bytes32[] s)',
  'function channelClaim(uint256 channelId, uint256 actualAmount, uint256 plannedAmount, uint8 v, bytes32 r, bytes32 s, bool isSendback)',
  'function channelExtend(uint256 channelId, uint256 newExpiration) returns (bool)',
  'function channelAddFunds(uint256 channelId, uint256 amount) returns (bool)',
  'function channelExtendAndAddFunds(uint256 channelId, uint256 newExpiration, uint256 amount)',
  'function channelClaimTimeout(uint256 channelId)',
])

/** An ABI item's shape apart from parameter names: kind, name, types, indexed flags and outputs. */
function shape(item: {
  type: string
  name?: string
  inputs?: readonly AbiParameter[]
  outputs?: readonly AbiParameter[]
}) {
  const params = (list: readonly AbiParameter[] = []) =>
    list.map((p) => `${p.type}${'indexed' in p && p.indexed ? ' indexed' : ''}`).join(',')
  return `${item.type} ${item.name}(${params(item.inputs)}) -> (${params(item.outputs)})`
}

describe('MultiPartyEscrow interface', () => {
  test("has every function and event of SingularityNET's, with the same types, indexing and returns", () => {
    const ours = new Map(
      multiPartyEscrowAbi
        .filter((item) => item.type === 'function' || item.type === 'event')
        .map((item) => [`${item.type} ${item.name}`, shape(item)]),
    )
    for (const item of ORIGINAL) expect(ours.get(`${item.type} ${item.name}`)).toBe(shape(item))
    // And nothing more: a client of the original sees the same contract.
    expect(ours.size).toBe(ORIGINAL.length)
  })
})

const run = hasAnvil()

describe.skipIf(!run)('MultiPartyEscrow on anvil', () => {
  let chain: MpeChain
  /** Every channel the tests opened, for the conservation check. */
  const opened: bigint[] = []

  const wallet = (account: Account) => chain.walletOf(account)
  const block = async () => chain.client.getBlockNumber({ cacheTime: 0 })
  const channel = async (id: bigint): Promise<Channel> => {
    const read = await readChannel(chain.client, chain.escrow, id)
    expect(read, `channel ${id} exists`).toBeDefined()
    return read!
  }
  const balance = (account: Account) => readMpeBalance(chain.client, chain.escrow, account.address)
  const sign = async (by: Account, id: bigint, amount: bigint) =>
    signClaim(by, chain.escrow, id, (await channel(id)).nonce, amount)

  /** Opens a channel from the client to the service, signed by `clientSigner`. */
  const open = async (value: bigint, blocks = 1000n, recipient: Address = service.address) => {
    const { channelId } = await openChannel(wallet(payer), chain.client, chain.escrow, {
      signer: clientSigner.address,
      recipient,
      groupId: GROUP,
      value,
      expiration: (await block()) + blocks,
    })
    opened.push(channelId)
    return channelId
  }

  beforeAll(async () => {
    chain = await startMpeChain({ payers: [payer.address, thirdParty.address] })
    await mpeDeposit(wallet(payer), chain.client, chain.escrow, 1_000_000n)
  }, 60_000)

  afterAll(async () => {
    await chain?.devnet.stop()
  })

  test('deposit, withdraw and transfer move escrow balances and tokens', async () => {
    const before = await chain.tokenBalance(thirdParty.address)
    await mpeDeposit(wallet(thirdParty), chain.client, chain.escrow, 5_000n)
    expect(await balance(thirdParty)).toBe(5_000n)
    expect(await chain.tokenBalance(thirdParty.address)).toBe(before - 5_000n)
    await mpeWithdraw(wallet(thirdParty), chain.client, chain.escrow, 1_000n)
    expect(await chain.tokenBalance(thirdParty.address)).toBe(before - 4_000n)
    await mpeTransfer(wallet(thirdParty), chain.client, chain.escrow, stranger.address, 500n)
    expect([await balance(thirdParty), await balance(stranger)]).toEqual([3_500n, 500n])
    await mpeWithdraw(wallet(stranger), chain.client, chain.escrow, 500n)
    expect(await chain.tokenBalance(stranger.address)).toBe(500n)
  })

  test('refuses to withdraw or transfer more than the balance, and a deposit without tokens', async () => {
    expect(await refusal(mpeWithdraw(wallet(stranger), chain.client, chain.escrow, 1n))).toBe(
      'InsufficientEscrowBalance',
    )
    const error = await rejection(
      mpeTransfer(wallet(stranger), chain.client, chain.escrow, service.address, 1n),
    )
    expect((error as MpeError).shortMessage).toMatch(
      /InsufficientEscrowBalance.*has 0 in the escrow and needs 1/,
    )
    // The token's own refusal comes through the escrow, named.
    expect(
      await refusal(mpeDeposit(wallet(stranger), chain.client, chain.escrow, 10n ** 30n)),
    ).toBe('InsufficientBalance')
  })

  test('openChannel locks the value of the sender and records the terms', async () => {
    const before = await balance(payer)
    const expiration = (await block()) + 500n
    const { channelId } = await openChannel(wallet(payer), chain.client, chain.escrow, {
      signer: clientSigner.address,
      recipient: service.address,
      groupId: GROUP,
      value: 700n,
      expiration,
    })
    opened.push(channelId)
    expect(await balance(payer)).toBe(before - 700n)
    expect(await channel(channelId)).toEqual({
      channelId,
      nonce: 0n,
      sender: payer.address,
      signer: clientSigner.address,
      recipient: service.address,
      groupId: GROUP,
      value: 700n,
      expiration,
    })
    expect(await readNextChannelId(chain.client, chain.escrow)).toBe(channelId + 1n)
    expect(await readChannel(chain.client, chain.escrow, channelId + 1n)).toBeUndefined()
  })

  test('refuses a channel above the balance, with a zero signer, or expiring past 2^96', async () => {
    const terms = {
      signer: clientSigner.address,
      recipient: service.address,
      groupId: GROUP,
      value: 1n,
      expiration: 10n,
    }
    expect(await refusal(openChannel(wallet(stranger), chain.client, chain.escrow, terms))).toBe(
      'InsufficientEscrowBalance',
    )
    const zero = { ...terms, signer: '0x0000000000000000000000000000000000000000' as Address }
    expect(await refusal(openChannel(wallet(payer), chain.client, chain.escrow, zero))).toBe(
      'ZeroSigner',
    )
    const far = { ...terms, expiration: 2n ** 96n }
    expect(
      await rejection(openChannel(wallet(payer), chain.client, chain.escrow, far)),
    ).toBeInstanceOf(MpeArgumentError)
  })

  test('the recipient claims on a signature by the signer, then by the sender, each on its nonce', async () => {
    const id = await open(1_000n)
    const before = await balance(service)
    await channelClaim(wallet(service), chain.client, chain.escrow, {
      channelId: id,
      plannedAmount: 300n,
      signature: await sign(clientSigner, id, 300n),
    })
    expect(await balance(service)).toBe(before + 300n)
    expect(await channel(id)).toMatchObject({ nonce: 1n, value: 700n })
    await channelClaim(wallet(service), chain.client, chain.escrow, {
      channelId: id,
      plannedAmount: 200n,
      actualAmount: 150n,
      signature: await sign(payer, id, 200n),
    })
    expect(await balance(service)).toBe(before + 450n)
    expect(await channel(id)).toMatchObject({ nonce: 2n, value: 550n })
  })

  test('refuses a wrong signer, an amount over the value, an old nonce, a stranger and actual above planned', async () => {
    const id = await open(500n)
    const service_ = wallet(service)
    const claim = (over: Partial<Parameters<typeof channelClaim>[3]>, by = service_) =>
      channelClaim(by, chain.client, chain.escrow, {
        channelId: id,
        plannedAmount: 100n,
        signature: '0x',
        ...over,
      })
    expect(await refusal(claim({ signature: await sign(stranger, id, 100n) }))).toBe(
      'InvalidSignature',
    )
    expect(await refusal(claim({ signature: await sign(service, id, 100n) }))).toBe(
      'InvalidSignature',
    )
    expect(
      await refusal(claim({ plannedAmount: 501n, signature: await sign(clientSigner, id, 501n) })),
    ).toBe('InsufficientChannelValue')
    const good = await sign(clientSigner, id, 100n)
    expect(await refusal(claim({ signature: good }, wallet(stranger)))).toBe('NotRecipient')
    expect(await refusal(claim({ signature: good, actualAmount: 101n }))).toBe('ActualAbovePlanned')
    // A signature of another amount than the one claimed recovers to someone else.
    expect(await refusal(claim({ signature: good, plannedAmount: 99n }))).toBe('InvalidSignature')
    expect(await channel(id)).toMatchObject({ nonce: 0n, value: 500n })
    await claim({ signature: good })
    // The same signature again is of nonce 0; the channel is at nonce 1 now.
    const error = await rejection(claim({ signature: good }))
    expect((error as MpeError).reason).toBe('InvalidSignature')
    expect((error as MpeError).shortMessage).toMatch(/neither its signer nor its sender/)
    expect(await channel(id)).toMatchObject({ nonce: 1n, value: 400n })
  })

  test('refuses claims, funds and extensions of a channel that does not exist', async () => {
    const missing = (await readNextChannelId(chain.client, chain.escrow)) + 5n
    const signature = await signClaim(clientSigner, chain.escrow, missing, 0n, 1n)
    const claim = { channelId: missing, plannedAmount: 1n, signature }
    expect(await refusal(channelClaim(wallet(service), chain.client, chain.escrow, claim))).toBe(
      'UnknownChannel',
    )
    expect(
      await refusal(channelAddFunds(wallet(payer), chain.client, chain.escrow, missing, 1n)),
    ).toBe('UnknownChannel')
    expect(
      await refusal(channelExtend(wallet(payer), chain.client, chain.escrow, missing, 10n ** 9n)),
    ).toBe('UnknownChannel')
  })

  test('100 paid calls sign increasing amounts; one claim takes the last, and calls go on at the next nonce', async () => {
    const id = await open(5_000n)
    const signatures: Hex[] = []
    for (let call = 1n; call <= 100n; call++) {
      const signature = await signClaim(clientSigner, chain.escrow, id, 0n, call * PRICE)
      expect(recoverClaimSigner(chain.escrow, id, 0n, call * PRICE, signature)).toBe(
        clientSigner.address,
      )
      signatures.push(signature)
    }
    const before = await balance(service)
    const { gasUsed } = await channelClaim(wallet(service), chain.client, chain.escrow, {
      channelId: id,
      plannedAmount: 100n * PRICE,
      signature: signatures.at(-1)!,
    })
    expect(gasUsed).toBeGreaterThan(21_000n)
    expect(await balance(service)).toBe(before + 1_000n)
    expect(await channel(id)).toMatchObject({ nonce: 1n, value: 4_000n })
    // Any earlier signature of nonce 0 is spent with it.
    expect(
      await refusal(
        channelClaim(wallet(service), chain.client, chain.escrow, {
          channelId: id,
          plannedAmount: 50n * PRICE,
          signature: signatures[49]!,
        }),
      ),
    ).toBe('InvalidSignature')
    // Amounts restart from 0 at nonce 1, against the reduced value.
    const next = await signClaim(clientSigner, chain.escrow, id, 1n, 3n * PRICE)
    await channelClaim(wallet(service), chain.client, chain.escrow, {
      channelId: id,
      plannedAmount: 3n * PRICE,
      signature: next,
    })
    expect(await balance(service)).toBe(before + 1_030n)
    expect(await channel(id)).toMatchObject({ nonce: 2n, value: 3_970n })
  })

  test('multiChannelClaim claims several channels in one transaction, one of them sent back', async () => {
    const ids = [await open(100n), await open(200n), await open(300n)]
    const amounts = [40n, 200n, 10n]
    const claims = await Promise.all(
      ids.map(async (channelId, i) => ({
        channelId,
        plannedAmount: amounts[i]!,
        signature: await sign(clientSigner, channelId, amounts[i]!),
        isSendback: i === 2,
      })),
    )
    const [serviceBefore, clientBefore] = [await balance(service), await balance(payer)]
    await multiChannelClaim(wallet(service), chain.client, chain.escrow, claims)
    expect(await balance(service)).toBe(serviceBefore + 250n)
    // The third channel's rest (300 − 10) went back to its sender.
    expect(await balance(payer)).toBe(clientBefore + 290n)
    expect((await Promise.all(ids.map(channel))).map((c) => [c.nonce, c.value])).toEqual([
      [1n, 60n],
      [1n, 0n],
      [1n, 0n],
    ])
    expect((await channel(ids[2]!)).expiration).toBe(0n)
  })

  test('multiChannelClaim refuses them all when one is refused, and bounds its batch', async () => {
    const ids = [await open(100n), await open(100n)]
    const claims = [
      { channelId: ids[0]!, plannedAmount: 10n, signature: await sign(clientSigner, ids[0]!, 10n) },
      { channelId: ids[1]!, plannedAmount: 10n, signature: await sign(stranger, ids[1]!, 10n) },
    ]
    expect(
      await refusal(multiChannelClaim(wallet(service), chain.client, chain.escrow, claims)),
    ).toBe('InvalidSignature')
    expect((await channel(ids[0]!)).nonce).toBe(0n)
    const tooMany = Array.from({ length: MAX_CLAIMS_PER_TRANSACTION + 1 }, () => claims[0]!)
    for (const batch of [[], tooMany])
      expect(
        await rejection(multiChannelClaim(wallet(service), chain.client, chain.escrow, batch)),
      ).toBeInstanceOf(MpeArgumentError)
  })

  test('channelClaimTimeout refuses before expiry and refunds the sender from the expiration block', async () => {
    const id = await open(800n, 20n)
    const signature = await sign(clientSigner, id, 100n)
    const early = await rejection(
      channelClaimTimeout(wallet(payer), chain.client, chain.escrow, id),
    )
    expect((early as MpeError).reason).toBe('ClaimTooEarly')
    expect(
      await refusal(channelClaimTimeout(wallet(service), chain.client, chain.escrow, id)),
    ).toBe('NotSender')
    const { expiration } = await channel(id)
    // Two blocks before the expiration the sender is still refused (the call runs in the next block at most).
    await chain.mine(Number(expiration - (await block()) - 2n))
    expect(await refusal(channelClaimTimeout(wallet(payer), chain.client, chain.escrow, id))).toBe(
      'ClaimTooEarly',
    )
    await chain.mine(2)
    expect(await block()).toBe(expiration)
    const before = await balance(payer)
    await channelClaimTimeout(wallet(payer), chain.client, chain.escrow, id)
    expect(await balance(payer)).toBe(before + 800n)
    expect(await channel(id)).toMatchObject({ nonce: 1n, value: 0n, expiration: 0n })
    // The service waited too long: its signature of nonce 0 pays nothing now (the channel is empty).
    expect(
      await refusal(
        channelClaim(wallet(service), chain.client, chain.escrow, {
          channelId: id,
          plannedAmount: 100n,
          signature,
        }),
      ),
    ).toBe('InsufficientChannelValue')
    // Refilled, the channel is at nonce 1: the old signature still pays nothing.
    await channelAddFunds(wallet(payer), chain.client, chain.escrow, id, 100n)
    expect(
      await refusal(
        channelClaim(wallet(service), chain.client, chain.escrow, {
          channelId: id,
          plannedAmount: 100n,
          signature,
        }),
      ),
    ).toBe('InvalidSignature')
  })

  test('the sender extends; anyone adds funds; extend-and-add does both', async () => {
    const id = await open(100n, 100n)
    const { expiration } = await channel(id)
    expect(
      await refusal(channelExtend(wallet(payer), chain.client, chain.escrow, id, expiration - 1n)),
    ).toBe('ExpirationDecreased')
    expect(
      await refusal(
        channelExtend(wallet(service), chain.client, chain.escrow, id, expiration + 1n),
      ),
    ).toBe('NotSender')
    await channelExtend(wallet(payer), chain.client, chain.escrow, id, expiration + 50n)
    expect((await channel(id)).expiration).toBe(expiration + 50n)
    const third = await balance(thirdParty)
    await channelAddFunds(wallet(thirdParty), chain.client, chain.escrow, id, 25n)
    expect(await balance(thirdParty)).toBe(third - 25n)
    await channelExtendAndAddFunds(
      wallet(payer),
      chain.client,
      chain.escrow,
      id,
      expiration + 80n,
      75n,
    )
    expect(await channel(id)).toMatchObject({ value: 200n, expiration: expiration + 80n })
    // A claim up to the new value now goes through.
    await channelClaim(wallet(service), chain.client, chain.escrow, {
      channelId: id,
      plannedAmount: 200n,
      signature: await sign(clientSigner, id, 200n),
    })
    expect((await channel(id)).value).toBe(0n)
  })

  test('depositAndOpenChannel takes tokens and opens in one go', async () => {
    const tokens = await chain.tokenBalance(payer.address)
    const escrowBalance = await balance(payer)
    const { channelId } = await depositAndOpenChannel(wallet(payer), chain.client, chain.escrow, {
      signer: clientSigner.address,
      recipient: service.address,
      groupId: GROUP,
      value: 333n,
      expiration: (await block()) + 100n,
    })
    opened.push(channelId)
    expect(await chain.tokenBalance(payer.address)).toBe(tokens - 333n)
    expect(await balance(payer)).toBe(escrowBalance)
    expect((await channel(channelId)).value).toBe(333n)
  })

  test('openChannelByThirdParty opens for a sender who signed, paid by the caller, once', async () => {
    const request: ThirdPartyOpen = {
      sender: payer.address,
      thirdParty: thirdParty.address,
      signer: clientSigner.address,
      recipient: service.address,
      groupId: GROUP,
      value: 400n,
      expiration: (await block()) + 100n,
      messageNonce: await block(),
    }
    const signature = await signThirdPartyOpen(payer, chain.escrow, request)
    const [third, sender] = [await balance(thirdParty), await balance(payer)]
    const { channelId } = await openChannelByThirdParty(
      wallet(thirdParty),
      chain.client,
      chain.escrow,
      request,
      signature,
    )
    opened.push(channelId)
    expect(await channel(channelId)).toMatchObject({
      sender: payer.address,
      signer: clientSigner.address,
      value: 400n,
    })
    expect([await balance(thirdParty), await balance(payer)]).toEqual([third - 400n, sender])
    const open = (by: Account, req: ThirdPartyOpen, sig: Hex) =>
      openChannelByThirdParty(wallet(by), chain.client, chain.escrow, req, sig)
    expect(await refusal(open(thirdParty, request, signature))).toBe('MessageUsed')
    const other = { ...request, messageNonce: request.messageNonce + 1n }
    expect(
      await refusal(
        open(thirdParty, other, await signThirdPartyOpen(stranger, chain.escrow, other)),
      ),
    ).toBe('InvalidThirdPartySignature')
    // Signed for one third party, sent by another: a different message, no longer the sender's.
    expect(
      await refusal(open(stranger, other, await signThirdPartyOpen(payer, chain.escrow, other))),
    ).toBe('InvalidThirdPartySignature')
  })

  test('no escrow at an address is named as such', async () => {
    const error = await rejection(readChannel(chain.client, stranger.address, 0n))
    expect(error).toBeInstanceOf(MpeNotFoundError)
  })

  test('the escrow holds exactly its balances plus its channels', async () => {
    const holders = [payer, clientSigner, service, thirdParty, stranger, dev(0)]
    const balances = await Promise.all(holders.map(balance))
    const next = await readNextChannelId(chain.client, chain.escrow)
    const channels = await Promise.all(
      Array.from({ length: Number(next) }, (_, i) => channel(BigInt(i))),
    )
    const locked = channels.reduce((sum, c) => sum + c.value, 0n)
    const held = balances.reduce((sum, b) => sum + b, 0n)
    expect(await chain.tokenBalance(chain.escrow)).toBe(held + locked)
    expect(opened.length).toBeGreaterThan(10)
  })
})
