import {
  type Address,
  ContractFunctionRevertedError,
  type Hex,
  hashTypedData,
  keccak256,
  type PublicClient,
  toHex,
  type BaseError as ViemError,
} from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { auditEscrowAbi, testTokenAbi } from '../src/chain/artifacts.ts'
import type { Devnet } from '../src/chain/devnet.ts'
import {
  auditIdOf,
  NATIVE,
  settlementTypedData,
  sortSignatures,
  type Wallet,
} from '../src/chain/escrow.ts'
import {
  batchSettlementTypedData,
  depositToPool,
  impactPoolId,
  NO_MEMO,
  poolDeposits,
  readPool,
  recoverBatchSigner,
  stakeMemo,
} from '../src/chain/pools.ts'
import { InvalidImpactDecisionError } from '../src/core/impact/decide.ts'
import { dev, type EscrowChain, hasAnvil, startEscrowChain } from './fixtures/escrow-chain.ts'
import { makeGenesis, testSigner } from './helpers.ts'

let devnet: Devnet
let client: PublicClient
let owner: Wallet
let sponsor: Wallet
let escrow: Address
let token: Address
const signers = [dev(1), dev(2), dev(3)]
let escrowChain: EscrowChain
const walletOf = (account: ReturnType<typeof dev>): Wallet => escrowChain.walletOf(account)

let poolCounter = 0
/** A fresh pool id (a fresh community's native or token pool). */
function newPoolId(tokenId = 0): Hex {
  poolCounter++
  const community = makeGenesis(testSigner(1), { name: `pool test ${poolCounter}` }).id
  return impactPoolId(community, tokenId)
}

function payees(n: number): Address[] {
  return Array.from({ length: n }, () => privateKeyToAccount(generatePrivateKey()).address)
}

type Batch = { poolId: Hex; batch: bigint; payees: Address[]; amounts: bigint[] }

async function sign(
  by: readonly ReturnType<typeof dev>[],
  report: Batch,
  domain: { chainId?: number; escrow?: Address } = {},
): Promise<Hex[]> {
  const typed = batchSettlementTypedData({
    chainId: domain.chainId ?? devnet.chainId,
    escrow: domain.escrow ?? escrow,
    ...report,
  })
  const signed = await Promise.all(
    by.map(async (s) => ({ signer: s.address, signature: await s.signTypedData(typed) })),
  )
  return sortSignatures(signed)
}

async function send(wallet: Wallet, functionName: string, args: unknown[], value?: bigint) {
  const { request } = await client.simulateContract({
    account: wallet.account,
    address: escrow,
    abi: auditEscrowAbi,
    functionName,
    args,
    ...(value === undefined ? {} : { value }),
  } as unknown as Parameters<PublicClient['simulateContract']>[0])
  const hash = await wallet.writeContract(request as Parameters<Wallet['writeContract']>[0])
  return client.waitForTransactionReceipt({ hash })
}

const settleBatch = (r: Batch, signatures: Hex[]) =>
  send(owner, 'settleBatch', [r.poolId, r.batch, r.payees, r.amounts, signatures])

/** The custom error a call reverts with: its name and arguments. */
async function revertOf(call: Promise<unknown>): Promise<{ name: string; args: unknown[] }> {
  try {
    await call
  } catch (error) {
    const reverted = (error as ViemError).walk?.((e) => e instanceof ContractFunctionRevertedError)
    if (reverted instanceof ContractFunctionRevertedError)
      return { name: reverted.data?.errorName ?? 'unnamed', args: [...(reverted.data?.args ?? [])] }
    throw error
  }
  throw new Error('the call did not revert')
}
const revertName = async (call: Promise<unknown>) => (await revertOf(call)).name

const owed = (tokenAddress: Address, who: Address) =>
  client.readContract({
    address: escrow,
    abi: auditEscrowAbi,
    functionName: 'owed',
    args: [tokenAddress, who],
  })

const balance = (who: Address) =>
  client.readContract({ address: token, abi: testTokenAbi, functionName: 'balanceOf', args: [who] })

/** A pool funded with `amount` of native ETH by the sponsor. */
async function nativePool(amount: bigint): Promise<Hex> {
  const poolId = newPoolId()
  await depositToPool(sponsor, client, { escrow, poolId, token: NATIVE, amount, memo: NO_MEMO })
  return poolId
}

describe.skipIf(!hasAnvil())('reward pools in AuditEscrow on anvil', () => {
  beforeAll(async () => {
    escrowChain = await startEscrowChain()
    ;({ devnet, client, owner, sponsor, escrow, token } = escrowChain)
  }, 60_000)

  afterAll(async () => {
    await devnet?.stop()
  })

  describe('deposit', () => {
    test('native ETH: the first deposit fixes the token, others add to it, memos are logged', async () => {
      const poolId = newPoolId()
      const from = await client.getBlockNumber({ cacheTime: 0 })
      const before = await client.getBalance({ address: escrow })
      await depositToPool(sponsor, client, {
        escrow,
        poolId,
        token: NATIVE,
        amount: 5n,
        memo: NO_MEMO,
      })
      const key = 'ab'.repeat(32)
      const staker = walletOf(dev(5))
      const txHash = await depositToPool(staker, client, {
        escrow,
        poolId,
        token: NATIVE,
        amount: 7n,
        memo: stakeMemo(key),
      })
      expect(await readPool(client, escrow, poolId)).toEqual({
        token: NATIVE,
        funded: 12n,
        paid: 0n,
        batches: 0n,
        open: true,
      })
      expect((await client.getBalance({ address: escrow })) - before).toBe(12n)
      const logs = await poolDeposits(
        client,
        escrow,
        poolId,
        from,
        await client.getBlockNumber({ cacheTime: 0 }),
      )
      expect(logs.map(({ from, token, amount, memo }) => ({ from, token, amount, memo }))).toEqual([
        { from: sponsor.account.address, token: NATIVE, amount: 5n, memo: NO_MEMO },
        { from: staker.account.address, token: NATIVE, amount: 7n, memo: `0x${key}` },
      ])
      expect(logs[1]!.txHash).toBe(txHash)
      expect(logs[0]!.blockNumber).toBeLessThan(logs[1]!.blockNumber)
      expect(typeof logs[1]!.logIndex).toBe('number')
    })

    test('an ERC-20: approved then pulled, and a deposit in another token is refused', async () => {
      const poolId = newPoolId(1)
      const before = await balance(sponsor.account.address)
      await depositToPool(sponsor, client, { escrow, poolId, token, amount: 300n, memo: NO_MEMO })
      expect(await readPool(client, escrow, poolId)).toMatchObject({ token, funded: 300n })
      expect(before - (await balance(sponsor.account.address))).toBe(300n)
      expect(await balance(escrow)).toBeGreaterThanOrEqual(300n)
      const refused = await revertOf(send(sponsor, 'deposit', [poolId, NATIVE, 1n, NO_MEMO], 1n))
      expect(refused).toEqual({ name: 'TokenMismatch', args: [token] })
      await expect(
        depositToPool(sponsor, client, {
          escrow,
          poolId,
          token: NATIVE,
          amount: 1n,
          memo: NO_MEMO,
        }),
      ).rejects.toThrow(/\(TokenMismatch\): the pool was first funded in another token/)
    })

    test('an ERC-20 allowance that already covers the amount is not approved again', async () => {
      const poolId = newPoolId(1)
      const approve = await sponsor.writeContract({
        address: token,
        abi: testTokenAbi,
        functionName: 'approve',
        args: [escrow, 50n],
      })
      await client.waitForTransactionReceipt({ hash: approve })
      const nonce = () =>
        client.getTransactionCount({ address: sponsor.account.address, blockTag: 'latest' })
      const before = await nonce()
      await depositToPool(sponsor, client, { escrow, poolId, token, amount: 50n, memo: NO_MEMO })
      expect((await nonce()) - before).toBe(1)
      await depositToPool(sponsor, client, { escrow, poolId, token, amount: 20n, memo: NO_MEMO })
      expect((await nonce()) - before).toBe(3) // the allowance was spent: approve, then deposit
      expect((await readPool(client, escrow, poolId)).funded).toBe(70n)
    })

    test('a native pool refuses an ERC-20 deposit', async () => {
      const poolId = await nativePool(1n)
      await expect(
        depositToPool(sponsor, client, { escrow, poolId, token, amount: 1n, memo: NO_MEMO }),
      ).rejects.toThrow(/\(TokenMismatch\): the pool was first funded in another token/)
    })

    test('zero is refused by the contract and by depositToPool', async () => {
      const poolId = newPoolId()
      expect(await revertName(send(sponsor, 'deposit', [poolId, NATIVE, 0n, NO_MEMO], 0n))).toBe(
        'ZeroAmount',
      )
      await expect(
        depositToPool(sponsor, client, {
          escrow,
          poolId,
          token: NATIVE,
          amount: 0n,
          memo: NO_MEMO,
        }),
      ).rejects.toThrow(/not positive/)
      expect((await readPool(client, escrow, poolId)).open).toBe(false)
    })

    test('a value other than the native amount, or any value with an ERC-20, is refused', async () => {
      const poolId = newPoolId()
      expect(await revertOf(send(sponsor, 'deposit', [poolId, NATIVE, 10n, NO_MEMO], 9n))).toEqual({
        name: 'WrongValue',
        args: [9n, 10n],
      })
      expect(
        await revertOf(send(sponsor, 'deposit', [newPoolId(1), token, 10n, NO_MEMO], 10n)),
      ).toEqual({ name: 'WrongValue', args: [10n, 0n] })
      // The refused deposit did not fix the token.
      expect(await readPool(client, escrow, poolId)).toMatchObject({ open: false, funded: 0n })
    })

    test('poolDeposits refuses a range longer than a page', async () => {
      await expect(poolDeposits(client, escrow, newPoolId(), 0n, 10_000n)).rejects.toThrow(
        /page by page/,
      )
      await expect(poolDeposits(client, escrow, newPoolId(), 5n, 4n)).rejects.toThrow(
        /page by page/,
      )
    })
  })

  describe('settleBatch', () => {
    test('the TypeScript digest is the contract batchDigest, and recovers its signer', async () => {
      const r: Batch = { poolId: newPoolId(), batch: 3n, payees: payees(2), amounts: [1n, 2n] }
      const typed = batchSettlementTypedData({ chainId: devnet.chainId, escrow, ...r })
      const onChain = await client.readContract({
        address: escrow,
        abi: auditEscrowAbi,
        functionName: 'batchDigest',
        args: [r.poolId, r.batch, typed.message.payoutsHash, 3n],
      })
      expect(hashTypedData(typed)).toBe(onChain)
      // Not the audit digest of the same numbers: a settlement cannot be replayed as a batch.
      expect(
        hashTypedData(
          settlementTypedData({ chainId: devnet.chainId, escrow, auditId: r.poolId, ...r }),
        ),
      ).not.toBe(onChain)
      const [signature] = await sign([signers[1]!], r)
      expect(recoverBatchSigner({ chainId: devnet.chainId, escrow, ...r }, signature!)).toBe(
        signers[1]!.address,
      )
      expect(
        recoverBatchSigner({ chainId: devnet.chainId, escrow, ...r, batch: 4n }, signature!),
      ).not.toBe(signers[1]!.address)
    })

    test('batch 0 then 1 settle in order, credit owed, and payees withdraw', async () => {
      const poolId = await nativePool(1000n)
      const first: Batch = { poolId, batch: 0n, payees: payees(2), amounts: [100n, 200n] }
      const receipt = await settleBatch(first, await sign([signers[2]!, signers[0]!], first))
      expect(receipt.status).toBe('success')
      const second: Batch = { poolId, batch: 1n, payees: [first.payees[0]!], amounts: [50n] }
      await settleBatch(second, await sign(signers.slice(1), second))
      expect(await readPool(client, escrow, poolId)).toEqual({
        token: NATIVE,
        funded: 1000n,
        paid: 350n,
        batches: 2n,
        open: true,
      })
      expect(await owed(NATIVE, first.payees[0]!)).toBe(150n)
      expect(await owed(NATIVE, first.payees[1]!)).toBe(200n)
      const events = await client.getContractEvents({
        address: escrow,
        abi: auditEscrowAbi,
        eventName: 'BatchSettled',
        args: { poolId },
        fromBlock: 0n,
        strict: true,
      })
      expect(events.map((e) => [e.args.batch, e.args.total])).toEqual([
        [0n, 300n],
        [1n, 50n],
      ])

      const payee = first.payees[1]!
      await client.request({
        method: 'anvil_setBalance' as never,
        params: [payee, '0x56BC75E2D63100000'] as never,
      })
      await client.request({
        method: 'anvil_impersonateAccount' as never,
        params: [payee] as never,
      })
      const before = await client.getBalance({ address: payee })
      const hash = await owner.writeContract({
        account: payee,
        address: escrow,
        abi: auditEscrowAbi,
        functionName: 'withdraw',
        args: [NATIVE],
      } as never)
      const withdrawn = await client.waitForTransactionReceipt({ hash })
      const gas = withdrawn.gasUsed * withdrawn.effectiveGasPrice
      expect((await client.getBalance({ address: payee })) - before + gas).toBe(200n)
      expect(await owed(NATIVE, payee)).toBe(0n)
    })

    test('an ERC-20 batch credits the token and pays out on withdraw', async () => {
      const poolId = newPoolId(1)
      await depositToPool(sponsor, client, { escrow, poolId, token, amount: 90n, memo: NO_MEMO })
      const to = walletOf(dev(6))
      const r: Batch = { poolId, batch: 0n, payees: [to.account.address], amounts: [90n] }
      await settleBatch(r, await sign(signers.slice(0, 2), r))
      expect(await owed(token, to.account.address)).toBe(90n)
      const before = await balance(to.account.address)
      await send(to, 'withdraw', [token])
      expect((await balance(to.account.address)) - before).toBe(90n)
    })

    test('replaying batch 0, or skipping to batch 2, is refused', async () => {
      const poolId = await nativePool(100n)
      const r: Batch = { poolId, batch: 0n, payees: payees(1), amounts: [10n] }
      const signatures = await sign(signers.slice(0, 2), r)
      await settleBatch(r, signatures)
      expect(await revertOf(settleBatch(r, signatures))).toEqual({
        name: 'BatchOutOfOrder',
        args: [1n, 0n],
      })
      const skip = { ...r, batch: 2n }
      expect(await revertOf(settleBatch(skip, await sign(signers.slice(0, 2), skip)))).toEqual({
        name: 'BatchOutOfOrder',
        args: [1n, 2n],
      })
      expect(await owed(NATIVE, r.payees[0]!)).toBe(10n)
    })

    test('a total above what the pool holds unpaid is refused', async () => {
      const poolId = await nativePool(100n)
      const first: Batch = { poolId, batch: 0n, payees: payees(1), amounts: [60n] }
      await settleBatch(first, await sign(signers.slice(0, 2), first))
      const second: Batch = { poolId, batch: 1n, payees: payees(2), amounts: [20n, 21n] }
      expect(await revertOf(settleBatch(second, await sign(signers.slice(0, 2), second)))).toEqual({
        name: 'TotalAbovePool',
        args: [41n, 40n],
      })
      const exact = { ...second, amounts: [20n, 20n] }
      expect((await settleBatch(exact, await sign(signers.slice(0, 2), exact))).status).toBe(
        'success',
      )
      expect(await readPool(client, escrow, poolId)).toMatchObject({ paid: 100n, batches: 2n })
    })

    test('an empty batch advances the count and pays nothing', async () => {
      const poolId = await nativePool(5n)
      const empty: Batch = { poolId, batch: 0n, payees: [], amounts: [] }
      await settleBatch(empty, await sign(signers.slice(0, 2), empty))
      expect(await readPool(client, escrow, poolId)).toMatchObject({
        funded: 5n,
        paid: 0n,
        batches: 1n,
      })
    })

    describe('refuses signatures', () => {
      const batch = async (): Promise<Batch> => ({
        poolId: await nativePool(100n),
        batch: 0n,
        payees: payees(2),
        amounts: [10n, 20n],
      })

      test('too few', async () => {
        const r = await batch()
        expect(await revertName(settleBatch(r, await sign([signers[0]!], r)))).toBe(
          'TooFewSignatures',
        )
      })

      test('unsorted', async () => {
        const r = await batch()
        const sorted = await sign(signers.slice(0, 2), r)
        expect(await revertName(settleBatch(r, [...sorted].reverse()))).toBe('SignersNotSorted')
      })

      test('a duplicate signer', async () => {
        const r = await batch()
        const [one] = await sign([signers[0]!], r)
        expect(await revertName(settleBatch(r, [one!, one!]))).toBe('DuplicateSigner')
      })

      test('a non-signer', async () => {
        const r = await batch()
        expect(await revertName(settleBatch(r, await sign([signers[0]!, dev(7)], r)))).toBe(
          'NotASigner',
        )
      })

      test('made for another batch number or tampered amounts', async () => {
        const r = await batch()
        const forOne = await sign(signers.slice(0, 2), { ...r, batch: 1n })
        expect(await revertName(settleBatch(r, forOne))).toBe('NotASigner')
        const signatures = await sign(signers.slice(0, 2), r)
        expect(await revertName(settleBatch({ ...r, amounts: [10n, 21n] }, signatures))).toBe(
          'NotASigner',
        )
        expect((await readPool(client, escrow, r.poolId)).batches).toBe(0n)
      })

      test('an audit Settlement signature is not a batch signature', async () => {
        const r = await batch()
        const typed = settlementTypedData({
          chainId: devnet.chainId,
          escrow,
          auditId: r.poolId,
          payees: r.payees,
          amounts: r.amounts,
        })
        const signed = await Promise.all(
          signers
            .slice(0, 2)
            .map(async (s) => ({ signer: s.address, signature: await s.signTypedData(typed) })),
        )
        expect(await revertName(settleBatch(r, sortSignatures(signed)))).toBe('NotASigner')
      })
    })

    test('audits settle unchanged beside pools', async () => {
      const auditId = auditIdOf(makeGenesis(testSigner(2), { name: 'audit beside pools' }).id)
      await send(sponsor, 'fund', [auditId, NATIVE, 100n], 100n)
      const to = payees(1)
      const typed = settlementTypedData({
        chainId: devnet.chainId,
        escrow,
        auditId,
        payees: to,
        amounts: [70n],
      })
      const signed = await Promise.all(
        signers
          .slice(0, 2)
          .map(async (s) => ({ signer: s.address, signature: await s.signTypedData(typed) })),
      )
      await send(owner, 'settle', [auditId, to, [70n], sortSignatures(signed)])
      expect(await owed(NATIVE, to[0]!)).toBe(70n)
    })
  })
})

describe('pool report helpers', () => {
  const community = makeGenesis(testSigner(1), { name: 'pool ids' }).id

  test('impactPoolId is keccak256(abi.encode("rwa impact pool", auditId, token)), one per token', () => {
    const native = impactPoolId(community, 0)
    expect(native).toMatch(/^0x[0-9a-f]{64}$/)
    expect(impactPoolId(community, 1)).not.toBe(native)
    expect(impactPoolId(makeGenesis(testSigner(1), { name: 'other' }).id, 0)).not.toBe(native)
    // The encoding by hand: head (offset 0x60, auditId, token), then the string's length and bytes.
    const word = (n: bigint) => n.toString(16).padStart(64, '0')
    const text = Buffer.from('rwa impact pool').toString('hex').padEnd(64, '0')
    const encoded = `0x${word(0x60n)}${auditIdOf(community).slice(2)}${word(0n)}${word(15n)}${text}`
    expect(native).toBe(keccak256(encoded as Hex))
  })

  test('impactPoolId refuses a token that is not an id', () => {
    for (const bad of [-1, 1.5, 2 ** 32, Number.NaN])
      expect(() => impactPoolId(community, bad)).toThrow(InvalidImpactDecisionError)
  })

  test('stakeMemo is the 32-byte key, lower case, with or without 0x; NO_MEMO is zero', () => {
    const key = 'AB'.repeat(32)
    expect(stakeMemo(key)).toBe(`0x${'ab'.repeat(32)}`)
    expect(stakeMemo(`0x${key}`)).toBe(`0x${'ab'.repeat(32)}`)
    expect(NO_MEMO).toBe(toHex(0n, { size: 32 }))
    for (const bad of ['ab'.repeat(31), 'zz'.repeat(32), `${'ab'.repeat(32)}00`])
      expect(() => stakeMemo(bad)).toThrow(InvalidImpactDecisionError)
  })

  test('batchSettlementTypedData refuses payees and amounts of different lengths, and negatives', () => {
    const base = {
      chainId: 31337,
      escrow: privateKeyToAccount(generatePrivateKey()).address,
      poolId: impactPoolId(community, 0),
      batch: 0n,
    }
    expect(() => batchSettlementTypedData({ ...base, payees: payees(2), amounts: [1n] })).toThrow(
      /2 payees but 1 amounts/,
    )
    expect(() => batchSettlementTypedData({ ...base, payees: payees(1), amounts: [-1n] })).toThrow(
      /negative/,
    )
    expect(() =>
      batchSettlementTypedData({ ...base, batch: -1n, payees: [], amounts: [] }),
    ).toThrow(/out of range/)
    expect(
      batchSettlementTypedData({ ...base, payees: payees(2), amounts: [3n, 4n] }).message.total,
    ).toBe(7n)
  })

  test('recoverBatchSigner refuses a high-s twin and a malformed signature', async () => {
    const account = privateKeyToAccount(generatePrivateKey())
    const report = {
      chainId: 31337,
      escrow: account.address,
      poolId: impactPoolId(community, 0),
      batch: 2n,
      payees: payees(1),
      amounts: [5n],
    }
    const signature = await account.signTypedData(batchSettlementTypedData(report))
    expect(recoverBatchSigner(report, signature)).toBe(account.address)
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
    const s = BigInt(`0x${signature.slice(66, 130)}`)
    const v = Number.parseInt(signature.slice(130), 16)
    const twin =
      `${signature.slice(0, 66)}${(n - s).toString(16).padStart(64, '0')}${(v === 27 ? 28 : 27).toString(16)}` as Hex
    expect(recoverBatchSigner(report, twin)).toBeUndefined()
    expect(recoverBatchSigner(report, '0x1234')).toBeUndefined()
  })
})
