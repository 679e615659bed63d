import fc from 'fast-check'
import {
  type Address,
  getAddress,
  type Hex,
  parseSignature,
  recoverAddress,
  serializeSignature,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { chequebookAbi, testTokenAbi } from '../src/chain/artifacts.ts'
import {
  ChequebookError,
  cashChequeBeneficiary,
  deployChequebook,
  depositToChequebook,
  readPaidOut,
} from '../src/chain/chequebook.ts'
import { type Devnet, startDevnet } from '../src/chain/devnet.ts'
import { deployTestToken, type Wallet } from '../src/chain/escrow.ts'
import {
  CHEQUE_TYPEHASH,
  CHEQUEBOOK_DOMAIN_TYPEHASH,
  type Cheque,
  ChequeError,
  chequeDigest,
  chequeDomainSeparator,
  recoverChequeSigner,
  type SignedCheque,
  signCheque,
} from '../src/core/swap/cheque.ts'
import { dev, devnetClients, hasAnvil } from './fixtures/escrow-chain.ts'

// Cheques are Swarm's EIP-712 messages, byte for byte: the spec's vector
// (/work/shared/specs/payments.md, "SWAP accounting and cheques"), a signature by the public
// development key #0, and the Chequebook contract on anvil accepting what signCheque signs.

/** anvil's development key #0 (public: devnet only). */
const DEV_KEY_0 = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
const DEV_ADDRESS_0 = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'
const issuer = privateKeyToAccount(DEV_KEY_0)

/** The spec's vector. */
const VECTOR: Cheque = {
  chequebook: '0x1111111111111111111111111111111111111111',
  beneficiary: '0x2222222222222222222222222222222222222222',
  cumulativePayout: 1_000_000n,
}
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

/** The malleable twin of a signature: s → n − s, v flipped; it recovers the same key. */
function highS(signature: Hex): Hex {
  const { r, s, yParity } = parseSignature(signature)
  const twin = SECP256K1_N - BigInt(s)
  return serializeSignature({
    r,
    s: `0x${twin.toString(16).padStart(64, '0')}`,
    yParity: yParity === 0 ? 1 : 0,
  })
}

/** A signature with v written as 0 or 1 instead of 27 or 28. */
function zeroBasedV(signature: Hex): Hex {
  const v = Number.parseInt(signature.slice(130), 16)
  return `${signature.slice(0, 130)}0${v - 27}` as Hex
}

describe('cheque format', () => {
  test("the cheque typehash is the spec's", () => {
    expect(CHEQUE_TYPEHASH).toBe(
      '0x48ebe6deff4a5ee645c01506a026031e2a945d6f41f1f4e5098ad65347492c12',
    )
  })

  test("the spec's vector: domain separator and digest on chain 100", () => {
    expect(chequeDomainSeparator(100)).toBe(
      '0x96c88d906ec4db44d18a417ad0c738e5d1176fa13c70907f494fdb4d42ec4203',
    )
    expect(chequeDigest(VECTOR, 100)).toBe(
      '0x4cafef01ee590f30266e6013036c07fc6f0af131fab88b5d2cf01d1dfbb046b4',
    )
  })

  test('every field and the chain id change the digest', () => {
    const base = chequeDigest(VECTOR, 100)
    expect(chequeDigest(VECTOR, 31337)).not.toBe(base)
    expect(chequeDigest({ ...VECTOR, cumulativePayout: 1_000_001n }, 100)).not.toBe(base)
    expect(chequeDigest({ ...VECTOR, beneficiary: VECTOR.chequebook }, 100)).not.toBe(base)
    expect(chequeDigest({ ...VECTOR, chequebook: VECTOR.beneficiary }, 100)).not.toBe(base)
    expect(chequeDomainSeparator(1)).not.toBe(chequeDomainSeparator(100))
  })

  test('a lowercase address gives the same digest as its checksummed form', () => {
    const lower = { ...VECTOR, beneficiary: issuer.address.toLowerCase() as Address }
    expect(chequeDigest(lower, 100)).toBe(
      chequeDigest({ ...VECTOR, beneficiary: issuer.address }, 100),
    )
  })

  test('refuses fields that are not addresses or uint256, and a chain id that is not positive', () => {
    const bad: [Cheque, number][] = [
      [{ ...VECTOR, chequebook: '0x1234' as Address }, 100],
      [{ ...VECTOR, beneficiary: 'peer' as Address }, 100],
      [{ ...VECTOR, cumulativePayout: -1n }, 100],
      [{ ...VECTOR, cumulativePayout: 2n ** 256n }, 100],
      [{ ...VECTOR, cumulativePayout: 5 as unknown as bigint }, 100],
      [VECTOR, 0],
      [VECTOR, 1.5],
      [VECTOR, Number.NaN],
    ]
    for (const [cheque, chainId] of bad)
      expect(() => chequeDigest(cheque, chainId), JSON.stringify(String(chainId))).toThrow(
        ChequeError,
      )
  })
})

describe('signCheque and recoverChequeSigner', () => {
  test('a cheque signed by development key #0 recovers to its address', async () => {
    expect(issuer.address).toBe(DEV_ADDRESS_0)
    const signature = await signCheque(issuer, VECTOR, 100)
    expect(await recoverChequeSigner({ ...VECTOR, signature }, 100)).toBe(DEV_ADDRESS_0)
    // The signature is over chequeDigest itself, as the contract's ecrecover sees it.
    expect(await recoverAddress({ hash: chequeDigest(VECTOR, 100), signature })).toBe(DEV_ADDRESS_0)
    expect([27, 28]).toContain(Number.parseInt(signature.slice(130), 16))
  })

  test('another amount, beneficiary or chain recovers another address', async () => {
    const signature = await signCheque(issuer, VECTOR, 100)
    const others: [SignedCheque, number][] = [
      [{ ...VECTOR, cumulativePayout: 2_000_000n, signature }, 100],
      [{ ...VECTOR, beneficiary: DEV_ADDRESS_0, signature }, 100],
      [{ ...VECTOR, signature }, 1],
    ]
    for (const [cheque, chainId] of others)
      expect(await recoverChequeSigner(cheque, chainId)).not.toBe(DEV_ADDRESS_0)
  })

  test('refuses signatures the contract refuses: high s, v 0 or 1, wrong length, not hex', async () => {
    const signature = await signCheque(issuer, VECTOR, 100)
    // The high-s twin is a valid secp256k1 signature of the same key: refused all the same.
    expect(
      await recoverAddress({ hash: chequeDigest(VECTOR, 100), signature: highS(signature) }),
    ).toBe(DEV_ADDRESS_0)
    for (const bad of [
      highS(signature),
      zeroBasedV(signature),
      signature.slice(0, 130) as Hex,
      `${signature}00` as Hex,
      `0x${'zz'.repeat(65)}` as Hex,
      '' as Hex,
    ])
      await expect(recoverChequeSigner({ ...VECTOR, signature: bad }, 100)).rejects.toThrow(
        ChequeError,
      )
  })

  test('round trip: any cheque signed by a key recovers to that key', async () => {
    const address = fc
      .uint8Array({ minLength: 20, maxLength: 20 })
      .map((bytes) => getAddress(`0x${Buffer.from(bytes).toString('hex')}`))
    await fc.assert(
      fc.asyncProperty(
        address,
        address,
        fc.bigInt({ min: 0n, max: 2n ** 256n - 1n }),
        fc.integer({ min: 1, max: 2 ** 40 }),
        async (chequebook, beneficiary, cumulativePayout, chainId) => {
          const cheque = { chequebook, beneficiary, cumulativePayout }
          const signature = await signCheque(issuer, cheque, chainId)
          expect(await recoverChequeSigner({ ...cheque, signature }, chainId)).toBe(DEV_ADDRESS_0)
        },
      ),
      { numRuns: 40 },
    )
  })
})

describe.skipIf(!hasAnvil())('the Chequebook contract agrees', () => {
  // Chain 100, as the spec's vector: the contract's domain separator is the one above.
  let devnet: Devnet
  let client: ReturnType<typeof devnetClients>['client']
  let chequebook: Address
  let beneficiaryWallet: Wallet
  const beneficiary = dev(3)

  beforeAll(async () => {
    devnet = await startDevnet({ chainId: 100 })
    const clients = devnetClients(devnet)
    client = clients.client
    const owner = clients.walletOf(dev(0))
    beneficiaryWallet = clients.walletOf(beneficiary)
    const token = await deployTestToken(owner, client)
    const hash = await owner.writeContract({
      address: token,
      abi: testTokenAbi,
      functionName: 'mint',
      args: [owner.account.address, 10n ** 24n],
    })
    await client.waitForTransactionReceipt({ hash })
    chequebook = await deployChequebook(owner, client, { token })
    await depositToChequebook(owner, client, { chequebook, amount: 1_000_000n })
  })

  afterAll(async () => {
    await devnet?.stop()
  })

  test("the contract's typehashes are ours", async () => {
    const read = (functionName: 'CHEQUE_TYPEHASH' | 'EIP712DOMAIN_TYPEHASH') =>
      client.readContract({ address: chequebook, abi: chequebookAbi, functionName })
    expect(await read('CHEQUE_TYPEHASH')).toBe(CHEQUE_TYPEHASH)
    expect(await read('EIP712DOMAIN_TYPEHASH')).toBe(CHEQUEBOOK_DOMAIN_TYPEHASH)
  })

  test('the contract pays a cheque signed by signCheque, and refuses the same cheque malleated', async () => {
    const cheque = { chequebook, beneficiary: beneficiary.address, cumulativePayout: 2_500n }
    const signature = await signCheque(issuer, cheque, devnet.chainId)
    for (const bad of [highS(signature), zeroBasedV(signature)]) {
      const error = await cashChequeBeneficiary(beneficiaryWallet, client, {
        cheque: { ...cheque, signature: bad },
      }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ChequebookError)
      expect((error as ChequebookError).reason).toBe('MalformedSignature')
    }
    const cashed = await cashChequeBeneficiary(beneficiaryWallet, client, {
      cheque: { ...cheque, signature },
    })
    expect(cashed.paid).toBe(2_500n)
    expect(await readPaidOut(client, chequebook, beneficiary.address)).toBe(2_500n)
  })

  test('a cheque signed for another chain recovers to another signer, and the contract refuses it', async () => {
    const cheque = { chequebook, beneficiary: beneficiary.address, cumulativePayout: 9_000n }
    const signature = await signCheque(issuer, cheque, 1)
    const recovered = await recoverChequeSigner({ ...cheque, signature }, devnet.chainId)
    const error = await cashChequeBeneficiary(beneficiaryWallet, client, {
      cheque: { ...cheque, signature },
    }).catch((e: unknown) => e)
    expect((error as ChequebookError).reason).toBe('NotIssuerSignature')
    // The contract recovered the same wrong signer as recoverChequeSigner did.
    expect((error as ChequebookError).shortMessage).toContain(`signed by ${recovered}`)
  })
})
