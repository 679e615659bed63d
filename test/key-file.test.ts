import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { signOp, verifyOp } from '../src/ledger/op.ts'
import { generateSigner, readKeyFile, writeKeyFile } from '../src/store/key-file.ts'

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
    expect(() => readKeyFile(join(dir, 'absent.pem'))).toThrow(/rwa key new/)
    const bad = join(dir, 'bad.pem')
    writeFileSync(bad, 'not a key', { mode: 0o600 })
    expect(() => readKeyFile(bad)).toThrow(/PKCS#8 PEM/)
  })
})
