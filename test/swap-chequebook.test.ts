import {
  type AbiParameter,
  type Address,
  type Hex,
  type PublicClient,
  parseAbi,
  parseEventLogs,
} from 'viem'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { chequebookAbi, testTokenAbi } from '../src/chain/artifacts.ts'
import {
  type Cashed,
  ChequebookArgumentError,
  ChequebookError,
  cashChequeBeneficiary,
  cashChequeFor,
  decreaseHardDeposit,
  deployChequebook,
  depositToChequebook,
  increaseHardDeposit,
  isChequebook,
  prepareDecreaseHardDeposit,
  readChequebook,
  readHardDeposit,
  readLiquidBalanceFor,
  readPaidOut,
  setCustomHardDepositTimeout,
  withdrawFromChequebook,
} from '../src/chain/chequebook.ts'
import { type Devnet, startDevnet } from '../src/chain/devnet.ts'
import { deployTestToken, type Wallet } from '../src/chain/escrow.ts'
import {
  type SignedCheque,
  signCashout,
  signCheque,
  signCustomDecreaseTimeout,
} from '../src/core/swap/cheque.ts'
import { dev, devnetClients, hasAnvil } from './fixtures/escrow-chain.ts'

// The Chequebook on a fresh anvil, through the wrappers of src/chain/chequebook.ts: an issuer
// funds it and signs cumulative cheques; beneficiaries (or a third party with their consent)
// cash them; what the chequebook cannot cover bounces; hard deposits reserve funds for one
// beneficiary and are taken back only after their timeout. Each scenario gets its own chequebook.

type Account = ReturnType<typeof dev>

const minter = dev(0)
const issuer = dev(1)
const beneficiary = dev(2)
const relayed = dev(3)
const relayer = dev(4)
const payee = dev(5)
const reserved = dev(6)
const other = dev(7)
const stranger = dev(9)

/** Swarm's ERC20SimpleSwap interface (swap-swear-and-swindle), written out from its source. */
const ORIGINAL = parseAbi([
  'event ChequeCashed(address indexed beneficiary, address indexed recipient, address indexed caller, uint256 totalPayout, uint256 cumulativePayout, uint256 callerPayout)',
  'event ChequeBounced()',
  'event HardDepositAmountChanged(address indexed beneficiary, uint256 amount)',
  'event HardDepositDecreasePrepared(address indexed beneficiary, uint256 decreaseAmount)',
  'event HardDepositTimeoutChanged(address indexed beneficiary, uint256 timeout)',
  'event Withdraw(uint256 amount)',
  'function defaultHardDepositTimeout() view returns (uint256)',
  'function hardDeposits(address) view returns (uint256 amount, uint256 decreaseAmount, uint256 timeout, uint256 canBeDecreasedAt)',
  'function EIP712DOMAIN_TYPEHASH() view returns (bytes32)',
  'function CHEQUE_TYPEHASH() view returns (bytes32)',
  'function CASHOUT_TYPEHASH() view returns (bytes32)',
  'function CUSTOMDECREASETIMEOUT_TYPEHASH() view returns (bytes32)',
  'function token() view returns (address)',
  'function paidOut(address) view returns (uint256)',
  'function totalPaidOut() view returns (uint256)',
  'function totalHardDeposit() view returns (uint256)',
  'function issuer() view returns (address)',
  'function bounced() view returns (bool)',
  'function balance() view returns (uint256)',
  'function liquidBalance() view returns (uint256)',
  'function liquidBalanceFor(address beneficiary) view returns (uint256)',
  'function cashCheque(address beneficiary, address recipient, uint256 cumulativePayout, bytes beneficiarySig, uint256 callerPayout, bytes issuerSig)',
  'function cashChequeBeneficiary(address recipient, uint256 cumulativePayout, bytes issuerSig)',
  'function prepareDecreaseHardDeposit(address beneficiary, uint256 decreaseAmount)',
  'function decreaseHardDeposit(address beneficiary)',
  'function increaseHardDeposit(address beneficiary, uint256 amount)',
  'function setCustomHardDepositTimeout(address beneficiary, uint256 hardDepositTimeout, bytes beneficiarySig)',
  'function withdraw(uint256 amount)',
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
  expect(error).toBeInstanceOf(ChequebookError)
  return (error as ChequebookError).reason
}

describe('Chequebook interface', () => {
  test("has every function and event of Swarm's ERC20SimpleSwap but init (a constructor here)", () => {
    const ours = new Map(
      chequebookAbi
        .filter((item) => item.type === 'function' || item.type === 'event')
        .map((item) => [`${item.type} ${item.name}`, shape(item)]),
    )
    for (const item of ORIGINAL) expect(ours.get(`${item.type} ${item.name}`)).toBe(shape(item))
    expect(ours.size).toBe(ORIGINAL.length)
  })
})

describe.skipIf(!hasAnvil())('Chequebook on anvil', () => {
  let devnet: Devnet
  let client: PublicClient
  let walletOf: (account: Account) => Wallet
  let token: Address

  const tokenBalance = (owner: Address) =>
    client.readContract({
      address: token,
      abi: testTokenAbi,
      functionName: 'balanceOf',
      args: [owner],
    })

  /** A new chequebook of `issuer`, funded with `fund`. */
  async function fresh(fund: bigint, hardDepositTimeout?: bigint): Promise<Address> {
    const options = hardDepositTimeout === undefined ? { token } : { token, hardDepositTimeout }
    const chequebook = await deployChequebook(walletOf(issuer), client, options)
    if (fund > 0n) await depositToChequebook(walletOf(issuer), client, { chequebook, amount: fund })
    return chequebook
  }

  /** A cheque from `chequebook`'s issuer (or `by`) to `to` for `cumulativePayout` in total. */
  async function cheque(
    chequebook: Address,
    to: Account,
    cumulativePayout: bigint,
    by: Account = issuer,
  ): Promise<SignedCheque> {
    const fields = { chequebook, beneficiary: to.address, cumulativePayout }
    return { ...fields, signature: await signCheque(by, fields, devnet.chainId) }
  }

  const cash = (to: Account, signed: SignedCheque, recipient?: Address) =>
    cashChequeBeneficiary(
      walletOf(to),
      client,
      recipient ? { cheque: signed, recipient } : { cheque: signed },
    )

  /** Moves the devnet's clock on by `seconds` and mines a block there. */
  async function elapse(seconds: number): Promise<void> {
    await client.request({ method: 'evm_increaseTime' as never, params: [seconds] as never })
    await client.request({ method: 'evm_mine' as never, params: [] as never })
  }

  const latestTimestamp = async () => (await client.getBlock({ blockTag: 'latest' })).timestamp

  beforeAll(async () => {
    devnet = await startDevnet()
    ;({ client, walletOf } = devnetClients(devnet))
    token = await deployTestToken(walletOf(minter), client)
    const hash = await walletOf(minter).writeContract({
      address: token,
      abi: testTokenAbi,
      functionName: 'mint',
      args: [issuer.address, 10n ** 24n],
    })
    await client.waitForTransactionReceipt({ hash })
  })

  afterAll(async () => {
    await devnet?.stop()
  })

  test('deploys with the wallet as issuer, and a deposit is the balance, all of it liquid', async () => {
    const chequebook = await fresh(0n)
    expect(await readChequebook(client, chequebook)).toEqual({
      issuer: issuer.address,
      token,
      balance: 0n,
      liquidBalance: 0n,
      totalPaidOut: 0n,
      totalHardDeposit: 0n,
      bounced: false,
    })
    const before = await tokenBalance(issuer.address)
    await depositToChequebook(walletOf(issuer), client, { chequebook, amount: 7_000n })
    expect(await tokenBalance(issuer.address)).toBe(before - 7_000n)
    expect(await readChequebook(client, chequebook)).toMatchObject({
      balance: 7_000n,
      liquidBalance: 7_000n,
    })
    await expect(
      client.readContract({
        address: chequebook,
        abi: chequebookAbi,
        functionName: 'defaultHardDepositTimeout',
      }),
    ).resolves.toBe(86_400n)
  })

  test('refuses to deploy over an address without a token contract, and a deposit beyond the funds', async () => {
    await expect(
      deployChequebook(walletOf(issuer), client, { token: stranger.address }),
    ).rejects.toThrow(ChequebookArgumentError)
    const chequebook = await fresh(0n)
    const error = await rejection(
      depositToChequebook(walletOf(stranger), client, { chequebook, amount: 1n }),
    )
    expect((error as ChequebookError).reason).toBe('InsufficientBalance')
    expect((error as ChequebookError).shortMessage).toMatch(/token.*balance 0 is below 1/)
  })

  test('the beneficiary cashes a cheque: its balance moves by exactly the cheque, paidOut records it', async () => {
    const chequebook = await fresh(10_000n)
    const before = await tokenBalance(beneficiary.address)
    const cashed = await cash(beneficiary, await cheque(chequebook, beneficiary, 1_000n))
    expect(cashed).toMatchObject({ paid: 1_000n, cumulativePayout: 1_000n, bounced: false })
    expect(await tokenBalance(beneficiary.address)).toBe(before + 1_000n)
    expect(await readPaidOut(client, chequebook, beneficiary.address)).toBe(1_000n)
    expect(await readChequebook(client, chequebook)).toMatchObject({
      balance: 9_000n,
      totalPaidOut: 1_000n,
      bounced: false,
    })
    const receipt = await client.getTransactionReceipt({ hash: cashed.txHash })
    // A budget, not a measurement: a cold cash (three storage slots go from zero: paidOut,
    // totalPaidOut and the recipient's token balance) costs about 119 000 gas.
    expect(receipt.gasUsed).toBeLessThan(125_000n)
  })

  test('a later cumulative cheque pays only the difference; an older one is refused', async () => {
    const chequebook = await fresh(10_000n)
    await cash(beneficiary, await cheque(chequebook, beneficiary, 1_000n))
    const before = await tokenBalance(payee.address)
    const second = await cash(
      beneficiary,
      await cheque(chequebook, beneficiary, 2_500n),
      payee.address,
    )
    expect(second).toMatchObject({ paid: 1_500n, cumulativePayout: 2_500n, bounced: false })
    expect(await tokenBalance(payee.address)).toBe(before + 1_500n)
    expect(await readPaidOut(client, chequebook, beneficiary.address)).toBe(2_500n)
    // The same cheque again pays nothing (as Swarm's contract): cumulative, not additive.
    const again = await cash(beneficiary, await cheque(chequebook, beneficiary, 2_500n))
    expect(again.paid).toBe(0n)
    const older = await rejection(cash(beneficiary, await cheque(chequebook, beneficiary, 1_000n)))
    expect((older as ChequebookError).reason).toBe('CumulativeBelowPaidOut')
    expect((older as ChequebookError).shortMessage).toContain('1000 is below the 2500 already paid')
  })

  test('a cheque signed by another key than the issuer reverts, naming both, and pays nothing', async () => {
    const chequebook = await fresh(10_000n)
    const error = await rejection(
      cash(beneficiary, await cheque(chequebook, beneficiary, 1_000n, stranger)),
    )
    expect(error).toBeInstanceOf(ChequebookError)
    expect((error as ChequebookError).reason).toBe('NotIssuerSignature')
    expect((error as ChequebookError).shortMessage).toContain(
      `signed by ${stranger.address}, not by the issuer ${issuer.address}`,
    )
    expect(await readPaidOut(client, chequebook, beneficiary.address)).toBe(0n)
    // Cashed by someone else than the beneficiary: refused before anything is sent.
    await expect(
      cashChequeBeneficiary(walletOf(stranger), client, {
        cheque: await cheque(chequebook, beneficiary, 1_000n),
      }),
    ).rejects.toThrow(ChequebookArgumentError)
  })

  test("a third party cashes with the beneficiary's Cashout consent and keeps the caller payout", async () => {
    const chequebook = await fresh(10_000n)
    const signed = await cheque(chequebook, relayed, 3_000n)
    const consent = {
      chequebook,
      sender: relayer.address,
      requestPayout: 3_000n,
      recipient: payee.address,
      callerPayout: 120n,
    }
    const beneficiarySignature = await signCashout(relayed, consent, devnet.chainId)
    const [payeeBefore, relayerBefore] = [
      await tokenBalance(payee.address),
      await tokenBalance(relayer.address),
    ]
    // Sent by another than the Cashout names: refused, naming the beneficiary.
    const forged = cashChequeFor(walletOf(stranger), client, {
      cheque: signed,
      recipient: payee.address,
      callerPayout: 120n,
      beneficiarySignature,
    })
    expect(await refusal(forged)).toBe('NotBeneficiarySignature')
    // A caller payout other than the signed one breaks the consent too.
    const greedy = cashChequeFor(walletOf(relayer), client, {
      cheque: signed,
      recipient: payee.address,
      callerPayout: 500n,
      beneficiarySignature,
    })
    expect(await refusal(greedy)).toBe('NotBeneficiarySignature')
    const cashed = await cashChequeFor(walletOf(relayer), client, {
      cheque: signed,
      recipient: payee.address,
      callerPayout: 120n,
      beneficiarySignature,
    })
    expect(cashed).toMatchObject({ paid: 3_000n, cumulativePayout: 3_000n, bounced: false })
    expect(await tokenBalance(payee.address)).toBe(payeeBefore + 2_880n)
    expect(await tokenBalance(relayer.address)).toBe(relayerBefore + 120n)
    expect(await readPaidOut(client, chequebook, relayed.address)).toBe(3_000n)
    const receipt = await client.getTransactionReceipt({ hash: cashed.txHash })
    const [event] = parseEventLogs({
      abi: chequebookAbi,
      logs: receipt.logs,
      eventName: 'ChequeCashed',
    })
    expect(event?.args).toEqual({
      beneficiary: relayed.address,
      recipient: payee.address,
      caller: relayer.address,
      totalPayout: 3_000n,
      cumulativePayout: 3_000n,
      callerPayout: 120n,
    })
  })

  test('a caller payout above what the cheque pays is refused', async () => {
    const chequebook = await fresh(100n)
    const signed = await cheque(chequebook, relayed, 1_000n)
    const consent = {
      chequebook,
      sender: relayer.address,
      requestPayout: 1_000n,
      recipient: payee.address,
      callerPayout: 150n,
    }
    const beneficiarySignature = await signCashout(relayed, consent, devnet.chainId)
    const call = cashChequeFor(walletOf(relayer), client, {
      cheque: signed,
      recipient: payee.address,
      callerPayout: 150n,
      beneficiarySignature,
    })
    // The chequebook holds 100: the cheque would pay 100, less than the 150 the caller wants.
    expect(await refusal(call)).toBe('CallerPayoutAbovePayout')
  })

  test('a cheque above the liquid balance bounces: it pays what there is and sets bounced for ever', async () => {
    const chequebook = await fresh(1_000n)
    const before = await tokenBalance(beneficiary.address)
    const signed = await cheque(chequebook, beneficiary, 1_500n)
    const cashed: Cashed = await cash(beneficiary, signed)
    expect(cashed).toMatchObject({ paid: 1_000n, cumulativePayout: 1_500n, bounced: true })
    expect(await tokenBalance(beneficiary.address)).toBe(before + 1_000n)
    const receipt = await client.getTransactionReceipt({ hash: cashed.txHash })
    const events = parseEventLogs({ abi: chequebookAbi, logs: receipt.logs })
    expect(events.map((e) => e.eventName)).toContain('ChequeBounced')
    expect(await readChequebook(client, chequebook)).toMatchObject({
      balance: 0n,
      totalPaidOut: 1_000n,
      bounced: true,
    })
    expect(await readPaidOut(client, chequebook, beneficiary.address)).toBe(1_000n)
    // Funded again, the same cheque pays the rest; the flag stays.
    await depositToChequebook(walletOf(issuer), client, { chequebook, amount: 2_000n })
    const rest = await cash(beneficiary, signed)
    expect(rest).toMatchObject({ paid: 500n, bounced: false })
    expect((await readChequebook(client, chequebook)).bounced).toBe(true)
  })

  test('the issuer withdraws the liquid balance; another account and a larger amount are refused', async () => {
    const chequebook = await fresh(5_000n)
    const before = await tokenBalance(issuer.address)
    const hash: Hex = await withdrawFromChequebook(walletOf(issuer), client, {
      chequebook,
      amount: 1_200n,
    })
    expect(await tokenBalance(issuer.address)).toBe(before + 1_200n)
    const receipt = await client.getTransactionReceipt({ hash })
    const [event] = parseEventLogs({
      abi: chequebookAbi,
      logs: receipt.logs,
      eventName: 'Withdraw',
    })
    expect(event?.args.amount).toBe(1_200n)
    const foreign = await rejection(
      withdrawFromChequebook(walletOf(stranger), client, { chequebook, amount: 1n }),
    )
    expect((foreign as ChequebookError).reason).toBe('NotIssuer')
    expect((foreign as ChequebookError).shortMessage).toContain(
      `${stranger.address} is not the issuer ${issuer.address}`,
    )
    // 3 800 left, 1 000 of it reserved: 2 800 is liquid.
    await increaseHardDeposit(walletOf(issuer), client, {
      chequebook,
      beneficiary: reserved.address,
      amount: 1_000n,
    })
    const above = await rejection(
      withdrawFromChequebook(walletOf(issuer), client, { chequebook, amount: 2_801n }),
    )
    expect((above as ChequebookError).reason).toBe('AboveLiquidBalance')
    expect((above as ChequebookError).shortMessage).toContain(
      '2801 is above the liquid balance 2800',
    )
    await withdrawFromChequebook(walletOf(issuer), client, { chequebook, amount: 2_800n })
    expect(await readChequebook(client, chequebook)).toMatchObject({
      balance: 1_000n,
      liquidBalance: 0n,
    })
  })

  test('a hard deposit is reserved for its beneficiary: others bounce at the liquid balance', async () => {
    const chequebook = await fresh(10_000n)
    const hardDeposit = { chequebook, beneficiary: reserved.address }
    await increaseHardDeposit(walletOf(issuer), client, { ...hardDeposit, amount: 4_000n })
    expect(await readChequebook(client, chequebook)).toMatchObject({
      balance: 10_000n,
      liquidBalance: 6_000n,
      totalHardDeposit: 4_000n,
    })
    expect(await readLiquidBalanceFor(client, chequebook, reserved.address)).toBe(10_000n)
    expect(await readLiquidBalanceFor(client, chequebook, other.address)).toBe(6_000n)
    expect(
      await refusal(
        increaseHardDeposit(walletOf(issuer), client, { ...hardDeposit, amount: 6_001n }),
      ),
    ).toBe('HardDepositAboveBalance')
    expect(
      await refusal(
        increaseHardDeposit(walletOf(stranger), client, { ...hardDeposit, amount: 1n }),
      ),
    ).toBe('NotIssuer')
    // Another beneficiary's cheque for 7 000 gets the 6 000 liquid, not the reserved 4 000.
    const otherCash = await cash(other, await cheque(chequebook, other, 7_000n))
    expect(otherCash).toMatchObject({ paid: 6_000n, bounced: true })
    // The reserved beneficiary's cheque is paid from its hard deposit.
    const reservedCash = await cash(reserved, await cheque(chequebook, reserved, 2_500n))
    expect(reservedCash).toMatchObject({ paid: 2_500n, bounced: false })
    expect(await readHardDeposit(client, chequebook, reserved.address)).toMatchObject({
      amount: 1_500n,
    })
    expect(await readChequebook(client, chequebook)).toMatchObject({
      balance: 1_500n,
      totalHardDeposit: 1_500n,
      liquidBalance: 0n,
    })
  })

  test('a hard deposit decreases only after its timeout, once per preparation', async () => {
    const chequebook = await fresh(10_000n, 3_600n)
    const hardDeposit = { chequebook, beneficiary: reserved.address }
    await increaseHardDeposit(walletOf(issuer), client, { ...hardDeposit, amount: 4_000n })
    expect(await refusal(decreaseHardDeposit(walletOf(stranger), client, hardDeposit))).toBe(
      'NoDecreasePrepared',
    )
    expect(
      await refusal(
        prepareDecreaseHardDeposit(walletOf(issuer), client, { ...hardDeposit, amount: 4_001n }),
      ),
    ).toBe('DecreaseAboveHardDeposit')
    expect(
      await refusal(
        prepareDecreaseHardDeposit(walletOf(stranger), client, { ...hardDeposit, amount: 1n }),
      ),
    ).toBe('NotIssuer')
    await prepareDecreaseHardDeposit(walletOf(issuer), client, { ...hardDeposit, amount: 1_500n })
    const prepared = await readHardDeposit(client, chequebook, reserved.address)
    expect(prepared).toEqual({
      amount: 4_000n,
      decreaseAmount: 1_500n,
      timeout: 0n,
      canBeDecreasedAt: (await latestTimestamp()) + 3_600n,
    })
    const early = await rejection(decreaseHardDeposit(walletOf(stranger), client, hardDeposit))
    expect((early as ChequebookError).reason).toBe('DecreaseNotDue')
    expect((early as ChequebookError).shortMessage).toContain(
      `from unix time ${prepared.canBeDecreasedAt} on`,
    )
    await elapse(3_600)
    // Anyone may apply a due decrease.
    await decreaseHardDeposit(walletOf(stranger), client, hardDeposit)
    expect(await readHardDeposit(client, chequebook, reserved.address)).toMatchObject({
      amount: 2_500n,
      canBeDecreasedAt: 0n,
    })
    expect(await readChequebook(client, chequebook)).toMatchObject({
      totalHardDeposit: 2_500n,
      liquidBalance: 7_500n,
    })
    expect(await refusal(decreaseHardDeposit(walletOf(stranger), client, hardDeposit))).toBe(
      'NoDecreasePrepared',
    )
  })

  test('a decrease prepared before a cash that used the deposit takes what is left', async () => {
    const chequebook = await fresh(1_000n, 60n)
    const hardDeposit = { chequebook, beneficiary: reserved.address }
    await increaseHardDeposit(walletOf(issuer), client, { ...hardDeposit, amount: 1_000n })
    await prepareDecreaseHardDeposit(walletOf(issuer), client, { ...hardDeposit, amount: 1_000n })
    // The beneficiary cashes before the timeout: that is what the timeout is for.
    await cash(reserved, await cheque(chequebook, reserved, 600n))
    await elapse(60)
    await decreaseHardDeposit(walletOf(issuer), client, hardDeposit)
    expect((await readHardDeposit(client, chequebook, reserved.address)).amount).toBe(0n)
    expect(await readChequebook(client, chequebook)).toMatchObject({
      balance: 400n,
      totalHardDeposit: 0n,
      liquidBalance: 400n,
    })
  })

  test("a custom decrease timeout needs the beneficiary's signature, and then applies", async () => {
    const chequebook = await fresh(10_000n, 60n)
    const hardDeposit = { chequebook, beneficiary: reserved.address }
    const consent = { chequebook, beneficiary: reserved.address, decreaseTimeout: 7_200n }
    const forged = await signCustomDecreaseTimeout(stranger, consent, devnet.chainId)
    const error = await rejection(
      setCustomHardDepositTimeout(walletOf(issuer), client, {
        ...hardDeposit,
        timeout: 7_200n,
        beneficiarySignature: forged,
      }),
    )
    expect((error as ChequebookError).reason).toBe('NotBeneficiarySignature')
    const beneficiarySignature = await signCustomDecreaseTimeout(reserved, consent, devnet.chainId)
    await setCustomHardDepositTimeout(walletOf(issuer), client, {
      ...hardDeposit,
      timeout: 7_200n,
      beneficiarySignature,
    })
    await increaseHardDeposit(walletOf(issuer), client, { ...hardDeposit, amount: 100n })
    await prepareDecreaseHardDeposit(walletOf(issuer), client, { ...hardDeposit, amount: 100n })
    expect(await readHardDeposit(client, chequebook, reserved.address)).toMatchObject({
      timeout: 7_200n,
      canBeDecreasedAt: (await latestTimestamp()) + 7_200n,
    })
    // The chequebook's default (60 s) no longer applies to this beneficiary.
    await elapse(61)
    expect(await refusal(decreaseHardDeposit(walletOf(issuer), client, hardDeposit))).toBe(
      'DecreaseNotDue',
    )
  })

  test('isChequebook knows a chequebook by its code, whatever its issuer and token', async () => {
    const ours = await fresh(0n)
    const anotherToken = await deployTestToken(walletOf(stranger), client)
    const theirs = await deployChequebook(walletOf(stranger), client, {
      token: anotherToken,
      hardDepositTimeout: 1n,
    })
    expect(await isChequebook(client, ours)).toBe(true)
    expect(await isChequebook(client, theirs)).toBe(true)
    expect(await isChequebook(client, token)).toBe(false)
    expect(await isChequebook(client, stranger.address)).toBe(false)
    expect(await isChequebook(client, '0x000000000000000000000000000000000000dEaD')).toBe(false)
    await expect(isChequebook(client, 'not an address' as Address)).rejects.toThrow(
      ChequebookArgumentError,
    )
  })
})
