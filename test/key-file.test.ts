import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { signOp, verifyOp } from '../src/ledger/op-encode.ts'
import {
  generateSigner,
  readEthKeyFile,
  readKeyFile,
  readSecretFile,
  writeKeyFile,
} from '../src/store/key-file.ts'

const dirs: string[] = []
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rwa-keys-test-'))
  dirs.push(dir)
  return dir
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

describe('key files', () => {
  test('round-trip a key with mode 0600, and the key still signs', () => {
    const path = join(tempDir(), 'keys', 'node.pem')
    const signer = generateSigner()
    writeKeyFile(path, signer)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(readFileSync(path, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/)
    const back = readKeyFile(path)
    expect(Buffer.from(back.publicKey).equals(Buffer.from(signer.publicKey))).toBe(true)
    const op = signOp(
      {
        v: 1,
        doc: null,
        author: back.publicKey,
        seq: 1,
        deps: [],
        time: 0,
        type: 'test.create',
        body: {},
      },
      back,
    )
    expect(verifyOp(op)).toBe(true)
  })

  test('never overwrite an existing key', () => {
    const path = join(tempDir(), 'node.pem')
    const first = generateSigner()
    writeKeyFile(path, first)
    expect(() => writeKeyFile(path, generateSigner())).toThrow(
      expect.objectContaining({
        name: 'KeyFileError',
        message: expect.stringContaining('already exists'),
      }),
    )
    expect(Buffer.from(readKeyFile(path).publicKey).equals(Buffer.from(first.publicKey))).toBe(true)
  })

  test('refuse a key file readable by others, saying how to fix it', () => {
    const path = join(tempDir(), 'node.pem')
    writeKeyFile(path, generateSigner())
    chmodSync(path, 0o644)
    expect(() => readKeyFile(path)).toThrow(/chmod 600/)
  })

  test('explain a missing or malformed key file', () => {
    const dir = tempDir()
    expect(() => readKeyFile(join(dir, 'absent.pem'))).toThrow(/create one with "rwa key new /)
    // Other secrets (tokens, the libp2p key) are not made with a command: no Ethereum key advice.
    expect(() => readSecretFile(join(dir, 'absent.token'))).toThrow(
      /^Key file ".*absent\.token" does not exist; check the path\.$/,
    )
    expect(() => readEthKeyFile(join(dir, 'absent.eth'))).toThrow(/rwa key new-eth <file>/)
    const bad = join(dir, 'bad.pem')
    writeFileSync(bad, 'not a key', { mode: 0o600 })
    expect(() => readKeyFile(bad)).toThrow(/PKCS#8 PEM/)
  })
})

describe('local accounts and salts on disk', () => {
  test('an account whose creation a crash cut short (no Ed25519 key yet) can be created again', async () => {
    const { openAccounts } = await import('../src/node/accounts.ts')
    const dataDir = tempDir()
    const keys = join(dataDir, 'keys')
    // What a crash right after the first two files leaves behind.
    mkdirSync(keys, { mode: 0o700 })
    writeFileSync(join(keys, 'alice.eth'), 'half-written', { mode: 0o600 })
    writeFileSync(join(keys, 'alice.token'), 'rwa_never_handed_out\n', { mode: 0o600 })
    const accounts = openAccounts(dataDir)
    expect(accounts.get('alice')).toBeUndefined()
    const { account, token } = accounts.create({ name: 'alice' })
    expect(account.name).toBe('alice')
    expect(accounts.authenticate(`Bearer ${token}`).key).toBe(account.key)
    expect(() => accounts.authenticate('Bearer rwa_never_handed_out')).toThrow(/matches no account/)
    // A complete account is never replaced.
    expect(() => accounts.create({ name: 'alice' })).toThrow(/already exists/)
    expect(() => accounts.create({ name: '../evil' })).toThrow(
      expect.objectContaining({ name: 'InvalidAccountNameError' }),
    )
    // Chat addresses are stored bare and lowercase: one person, however it is written.
    const boss = accounts.create({ name: 'boss', jid: 'Boss@Example.org/phone' }).account
    expect(boss.jid).toBe('boss@example.org')
    expect(accounts.byJid('BOSS@example.org')?.key).toBe(boss.key)
    expect(accounts.custodialFor('boss@EXAMPLE.org/laptop').key).toBe(boss.key)
    expect(() => accounts.create({ name: 'boss2', jid: 'boss@example.org' })).toThrow(
      /already bound/,
    )
    expect(() => accounts.create({ name: 'x', jid: 'not a jid \u0000' })).toThrow(
      /is not a chat address/,
    )
  })

  test('an account bound to a full, mixed-case JID before JIDs were normalized is found by it', async () => {
    const { openAccounts } = await import('../src/node/accounts.ts')
    const dataDir = tempDir()
    openAccounts(dataDir).create({ name: 'boss', jid: 'boss@example.org' })
    // As an older version wrote it.
    const meta = join(dataDir, 'accounts', 'boss.json')
    writeFileSync(meta, JSON.stringify({ name: 'boss', jid: 'Boss@Example.org/phone' }))
    const accounts = openAccounts(dataDir)
    const boss = accounts.get('boss')!
    expect(boss.jid).toBe('boss@example.org')
    expect(accounts.byJid('boss@example.org')?.key).toBe(boss.key)
    expect(accounts.custodialFor('BOSS@example.org/laptop').key).toBe(boss.key)
    expect(() => accounts.create({ name: 'boss2', jid: 'boss@example.org' })).toThrow(
      /already bound/,
    )
  })

  test('the salt file is replaced whole, with mode 0600, and read back', async () => {
    const { fileSaltStore } = await import('../src/node/salt-store.ts')
    const path = join(tempDir(), 'keys', 'salts.json')
    const salts = fileSaltStore(path)
    salts.set('a/b/c', { answer: true, salt: new Uint8Array(32).fill(5) })
    salts.set('a/b/d', { answer: false, salt: new Uint8Array(32).fill(6) })
    salts.delete('a/b/c')
    expect(statSync(path).mode & 0o777).toBe(0o600)
    const again = fileSaltStore(path)
    expect(again.keys()).toEqual(['a/b/d'])
    expect(again.get('a/b/d')).toEqual({ answer: false, salt: new Uint8Array(32).fill(6) })
  })
})
