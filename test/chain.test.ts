import {
  type Address,
  ContractFunctionRevertedError,
  type Hex,
  type PublicClient,
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
import { dev, type EscrowChain, startEscrowChain } from './fixtures/escrow-chain.ts'
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

let auditCounter = 0
/** A fresh audit id (the digest of a fresh genesis op's id). */
function newAuditId(): Hex {
  auditCounter++
  return auditIdOf(makeGenesis(testSigner(1), { name: `chain test ${auditCounter}` }).id)
}

function payees(n: number): Address[] {
  return Array.from({ length: n }, () => privateKeyToAccount(generatePrivateKey()).address)
}

async function sign(
  by: readonly ReturnType<typeof dev>[],
  report: { auditId: Hex; payees: Address[]; amounts: bigint[] },
  domain: { chainId?: number; escrow?: Address } = {},
): Promise<Hex[]> {
  const typed = settlementTypedData({
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

/** The custom error a call reverts with, by name. */
async function revertName(call: Promise<unknown>): Promise<string> {
  try {
    await call
  } catch (error) {
    const reverted = (error as ViemError).walk?.((e) => e instanceof ContractFunctionRevertedError)
    if (reverted instanceof ContractFunctionRevertedError)
      return reverted.data?.errorName ?? 'unnamed'
    throw error
  }
  throw new Error('the call did not revert')
}

const balance = (who: Address) =>
  client.readContract({ address: token, abi: testTokenAbi, functionName: 'balanceOf', args: [who] })

async function fundToken(auditId: Hex, amount: bigint) {
  await sponsor
    .writeContract({
      address: token,
      abi: testTokenAbi,
      functionName: 'approve',
      args: [escrow, amount],
    })
    .then((hash) => client.waitForTransactionReceipt({ hash }))
  await send(sponsor, 'fund', [auditId, token, amount])
}

beforeAll(async () => {
  escrowChain = await startEscrowChain()
  ;({ devnet, client, owner, sponsor, escrow, token } = escrowChain)
}, 60_000)

afterAll(async () => {
  await devnet?.stop()
})

describe('AuditEscrow on anvil', () => {
  test('fund, settle with 2 of 3 signatures, withdraw; the sponsor gets the remainder', async () => {
    const auditId = newAuditId()
    await fundToken(auditId, 1000n)
    const to = payees(3)
    const amounts = [333n, 333n, 100n]
    const before = await balance(sponsor.account.address)
    const receipt = await send(owner, 'settle', [
      auditId,
      to,
      amounts,
      await sign([signers[2]!, signers[0]!], { auditId, payees: to, amounts }),
    ])
    expect(receipt.status).toBe('success')
    for (const [i, payee] of to.entries()) {
      expect(
        await client.readContract({
          address: escrow,
          abi: auditEscrowAbi,
          functionName: 'owed',
          args: [token, payee],
        }),
      ).toBe(amounts[i])
    }
    // Each payee withdraws as itself (impersonated on the devnet, with some ETH for gas).
    for (const [i, payee] of to.entries()) {
      await client.request({
        method: 'anvil_setBalance' as never,
        params: [payee, '0x56BC75E2D63100000'] as never,
      })
      await client.request({
        method: 'anvil_impersonateAccount' as never,
        params: [payee] as never,
      })
      const hash = await owner.writeContract({
        account: payee,
        address: escrow,
        abi: auditEscrowAbi,
        functionName: 'withdraw',
        args: [token],
      } as never)
      await client.waitForTransactionReceipt({ hash })
      expect(await balance(payee)).toBe(amounts[i])
    }
    await send(sponsor, 'withdraw', [token])
    expect((await balance(sponsor.account.address)) - before).toBe(1000n - 766n)
    expect(await balance(escrow)).toBe(0n)
  })

  test('settles native ETH funding the same way', async () => {
    const auditId = newAuditId()
    await send(sponsor, 'fund', [auditId, NATIVE, 10n ** 18n], 10n ** 18n)
    const to = payees(2)
    const amounts = [4n * 10n ** 17n, 5n * 10n ** 17n]
    await send(owner, 'settle', [
      auditId,
      to,
      amounts,
      await sign(signers.slice(0, 2), { auditId, payees: to, amounts }),
    ])
    await client.request({
      method: 'anvil_setBalance' as never,
      params: [to[0], '0x56BC75E2D63100000'] as never,
    })
    await client.request({ method: 'anvil_impersonateAccount' as never, params: [to[0]] as never })
    const before = await client.getBalance({ address: to[0]! })
    const hash = await owner.writeContract({
      account: to[0]!,
      address: escrow,
      abi: auditEscrowAbi,
      functionName: 'withdraw',
      args: [NATIVE],
    } as never)
    const receipt = await client.waitForTransactionReceipt({ hash })
    const gas = receipt.gasUsed * receipt.effectiveGasPrice
    expect((await client.getBalance({ address: to[0]! })) - before + gas).toBe(amounts[0])
    const owedSponsor = await client.readContract({
      address: escrow,
      abi: auditEscrowAbi,
      functionName: 'owed',
      args: [NATIVE, sponsor.account.address],
    })
    expect(owedSponsor).toBe(10n ** 17n)
  })

  describe('refuses', () => {
    const report = () => {
      const auditId = newAuditId()
      const to = payees(2)
      return { auditId, payees: to, amounts: [10n, 20n] }
    }
    const settle = (r: { auditId: Hex; payees: Address[]; amounts: bigint[] }, signatures: Hex[]) =>
      send(owner, 'settle', [r.auditId, r.payees, r.amounts, signatures])

    test('too few signatures', async () => {
      const r = report()
      await fundToken(r.auditId, 100n)
      expect(await revertName(settle(r, await sign([signers[0]!], r)))).toBe('TooFewSignatures')
    })

    test('a duplicate signer', async () => {
      const r = report()
      await fundToken(r.auditId, 100n)
      const [one] = await sign([signers[0]!], r)
      expect(await revertName(settle(r, [one!, one!]))).toBe('DuplicateSigner')
    })

    test('a signature by a non-signer', async () => {
      const r = report()
      await fundToken(r.auditId, 100n)
      expect(await revertName(settle(r, await sign([signers[0]!, dev(7)], r)))).toBe('NotASigner')
    })

    test('a signature made for another audit', async () => {
      const r = report()
      await fundToken(r.auditId, 100n)
      const other = await sign(signers.slice(0, 2), { ...r, auditId: newAuditId() })
      expect(await revertName(settle(r, other))).toBe('NotASigner')
    })

    test('a signature made for another chain', async () => {
      const r = report()
      await fundToken(r.auditId, 100n)
      expect(await revertName(settle(r, await sign(signers.slice(0, 2), r, { chainId: 1 })))).toBe(
        'NotASigner',
      )
    })

    test('a signature made for another contract', async () => {
      const r = report()
      await fundToken(r.auditId, 100n)
      const elsewhere = await sign(signers.slice(0, 2), r, { escrow: token })
      expect(await revertName(settle(r, elsewhere))).toBe('NotASigner')
    })

    test('tampered amounts', async () => {
      const r = report()
      await fundToken(r.auditId, 100n)
      const signatures = await sign(signers.slice(0, 2), r)
      expect(await revertName(settle({ ...r, amounts: [10n, 21n] }, signatures))).toBe('NotASigner')
    })

    test('settling twice', async () => {
      const r = report()
      await fundToken(r.auditId, 100n)
      const signatures = await sign(signers.slice(0, 2), r)
      expect((await settle(r, signatures)).status).toBe('success')
      expect(await revertName(settle(r, signatures))).toBe('AlreadySettled')
    })

    test('a total above the funding', async () => {
      const r = report()
      await fundToken(r.auditId, 29n)
      expect(await revertName(settle(r, await sign(signers.slice(0, 2), r)))).toBe(
        'TotalAboveFunding',
      )
    })

    test('withdrawing with nothing owed', async () => {
      expect(await revertName(send(walletOf(dev(8)), 'withdraw', [token]))).toBe('NothingOwed')
    })

    test('an audit nobody funded', async () => {
      const r = report()
      expect(await revertName(settle(r, await sign(signers.slice(0, 2), r)))).toBe('NotFunded')
    })
  })
})
