import { spawn } from 'node:child_process'
import { createHash, sign } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { request } from 'node:http'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { pino } from 'pino'
import { decodeAbiParameters } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterEach, describe, expect, test } from 'vitest'
import { NodeClient } from '../src/cli/client.ts'
import { reduceAudit } from '../src/core/audit/reduce.ts'
import { identityMessage } from '../src/core/identity.ts'
import { toJson } from '../src/core/json.ts'
import { fetchAudit } from '../src/domains/audit/cli/client.ts'
import { decodeOp } from '../src/ledger/op-decode.ts'
import { signingMessage, signOp } from '../src/ledger/op-encode.ts'
import { loadConfig } from '../src/node/config.ts'
import { createNode } from '../src/node/node.ts'
import { generateSigner } from '../src/store/key-file.ts'
import { TestNode } from './node-fixture.ts'

let node: TestNode | undefined
afterEach(async () => {
  await node?.stop()
  node = undefined
})

/** Creates `n` auditor accounts through the operator; answers their tokens. */
async function auditorTokens(t: TestNode, n: number): Promise<string[]> {
  const tokens: string[] = []
  for (let i = 1; i <= n; i++) {
    const { status, json } = await t.call('POST', '/accounts', {
      token: t.operatorToken,
      body: { name: `auditor${i}` },
    })
    expect(status).toBe(200)
    tokens.push(json.token)
  }
  return tokens
}

/** Runs an audit to AUDITING through the convenience routes; answers the audit id. */
async function runToAuditing(t: TestNode, name: string, tokens: string[], items: string[]) {
  const admin = t.operatorToken
  const created = await t.call('POST', '/audits', { token: admin, body: { name, bond: '1000' } })
  expect(created.status).toBe(200)
  const id = created.json.audit as string
  for (const description of items)
    expect(
      (await t.call('POST', `/audits/${id}/items`, { token: admin, body: { description } })).status,
    ).toBe(200)
  expect((await t.call('POST', `/audits/${id}/open`, { token: admin })).json.state).toBe(
    'AUDITOR_REGISTRATION',
  )
  for (const token of tokens)
    expect((await t.call('POST', `/audits/${id}/register`, { token })).status).toBe(200)
  expect((await t.call('POST', `/audits/${id}/close`, { token: admin })).status).toBe(200)
  expect((await t.call('POST', `/audits/${id}/start`, { token: admin })).json.state).toBe(
    'AUDITING',
  )
  return id
}

/** Each auditor answers its inspections one at a time, as `next` gives them. */
async function answerAll(t: TestNode, id: string, tokens: string[], answer: (i: number) => string) {
  for (const [i, token] of tokens.entries()) {
    for (;;) {
      const { json } = await t.call('GET', `/audits/${id}/next`, { token })
      if (!json.inspection) break
      const r = await t.call('POST', `/audits/${id}/answer`, { token, body: { answer: answer(i) } })
      expect(r.status).toBe(200)
    }
  }
}

/** Starts the test node and creates an audit there by a client-signed genesis (a new admin key). */
async function clientSignedAudit(name: string, bond: string) {
  const started = await TestNode.start()
  node = started
  const client = new NodeClient(started.url)
  const admin = generateSigner()
  const genesis = await client.submit(admin, {
    doc: null,
    type: 'audit.create',
    body: { name, bond },
  })
  return { node: started, client, admin, genesis }
}

/** Two more accounts, named apart from `auditorTokens`'. */
async function auditorTokens2(t: TestNode): Promise<string[]> {
  const tokens: string[] = []
  for (const name of ['other1', 'other2']) {
    const { json } = await t.call('POST', '/accounts', { token: t.operatorToken, body: { name } })
    tokens.push(json.token)
  }
  return tokens
}

describe('node HTTP API', () => {
  test('runs a whole audit through the convenience routes, and anyone can recompute the result', async () => {
    node = await TestNode.start()
    const tokens = await auditorTokens(node, 3)
    const id = await runToAuditing(node, 'Downtown Street Lights', tokens, [
      'light 12 works',
      'light 13 works',
    ])
    await answerAll(node, id, tokens, (i) => (i === 2 ? 'no' : ' YES '))
    const stop = await node.call(
      'POST',
      `/audits/${encodeURIComponent('Downtown Street Lights')}/stop`,
      {
        token: node.operatorToken,
      },
    )
    expect(stop.json.state).toBe('WAITING_FOR_CONTRACT')
    const { json: view } = await node.call('GET', `/audits/${id}`)
    expect(view.state).toBe('WAITING_FOR_CONTRACT')
    expect(view.items.map((i: { answers: number }) => i.answers)).toEqual([3, 3])
    expect(view.results.items.map((i: { result: boolean }) => i.result)).toEqual([true, true])
    // 2 items × 3 = 6 inspections, reward 1000/6; the dissenter is slashed to 0 units.
    expect(view.settlement.amounts.map(Number).sort()).toEqual([333, 333])
    expect(view.settlement.remainder).toBe('334')
    // Recompute from the raw ops, trusting nothing the node computed.
    const { json: dump } = await node.call('GET', `/docs/${id}/ops`)
    const recomputed = reduceAudit(dump.ops.map((hex: string) => decodeOp(Buffer.from(hex, 'hex'))))
    expect(recomputed.settlement?.encoded).toBe(view.settlement.encoded)
  })

  test('runs a whole audit through POST /ops with client-signed ops', async () => {
    const { node, client, admin, genesis } = await clientSignedAudit('client-signed', '900')
    const doc = genesis.id
    await client.submit(admin, { doc, type: 'audit.item.add', body: { description: 'A' } })
    await client.submit(admin, { doc, type: 'audit.open', body: {} })
    const people = [1, 2, 3].map(() => ({
      signer: generateSigner(),
      account: privateKeyToAccount(generatePrivateKey()),
    }))
    for (const p of people) {
      const proof = await p.account.signMessage({ message: identityMessage(p.signer.publicKey) })
      await client.submit(p.signer, {
        doc,
        type: 'audit.register',
        body: { payout: p.account.address, proof },
      })
    }
    await client.submit(admin, { doc, type: 'audit.close', body: {} })
    await client.submit(admin, { doc, type: 'audit.start', body: {} })
    const audit = await fetchAudit(client, doc)
    for (const inspection of audit.inspections) {
      const p = people.find(
        (q) => Buffer.from(q.signer.publicKey).toString('hex') === inspection.auditor,
      )!
      await client.submit(p.signer, {
        doc,
        type: 'audit.answer',
        body: { item: inspection.item, answer: true },
      })
    }
    await client.submit(admin, { doc, type: 'audit.stop', body: {} })
    const { json } = await node.call('GET', '/audits/client-signed')
    expect(json.state).toBe('WAITING_FOR_CONTRACT')
    expect(json.settlement.amounts).toEqual(['300', '300', '300'])
    expect(json.rejected).toEqual([])
  })
})

describe('node authorisation', () => {
  test("an auditor's token cannot run admin actions, act for others, or create accounts", async () => {
    node = await TestNode.start()
    const [auditor] = await auditorTokens(node, 1)
    const created = await node.call('POST', '/audits', {
      token: node.operatorToken,
      body: { name: 'a', bond: '10' },
    })
    const id = created.json.audit
    const open = await node.call('POST', `/audits/${id}/open`, { token: auditor })
    expect(open.status).toBe(403)
    expect(open.json).toMatchObject({
      error: 'AuditPermissionError',
      message: expect.stringContaining('Only an admin'),
    })
    expect(
      (await node.call('POST', '/accounts', { token: auditor, body: { name: 'x' } })).status,
    ).toBe(403)
    expect((await node.call('POST', `/audits/${id}/open`)).status).toBe(401)
    const challenge = await fetch(`${node.url}/audits/${id}/open`, { method: 'POST' })
    expect(challenge.headers.get('www-authenticate')).toBe('Bearer realm="rwa"')
    const forged = await node.call('POST', `/audits/${id}/open`, { token: `${auditor}x` })
    expect(forged).toMatchObject({ status: 401, json: { error: 'UnauthorizedError' } })
    const { json: view } = await node.call('GET', `/audits/${id}`)
    expect(view.state).toBe('INITIALIZATION')
    // A token signs as its own account only: what it registers is its own key.
    const [, other] = await auditorTokens2(node)
    await node.call('POST', `/audits/${id}/open`, { token: node.operatorToken })
    await node.call('POST', `/audits/${id}/register`, { token: auditor })
    const me = (await node.call('GET', '/accounts/me', { token: auditor })).json
    const them = (await node.call('GET', '/accounts/me', { token: other })).json
    const { json: after } = await node.call('GET', `/audits/${id}`)
    expect(after.auditors.map((a: { key: string }) => a.key)).toEqual([me.key])
    expect(me.key).not.toBe(them.key)
  })

  test('a forged or tampered op is rejected and changes nothing', async () => {
    node = await TestNode.start()
    const client = new NodeClient(node.url)
    const admin = generateSigner()
    const genesis = await client.submit(admin, {
      doc: null,
      type: 'audit.create',
      body: { name: 'f', bond: '10' },
    })
    const mallory = generateSigner()
    // Mallory makes an "open" that claims the admin as author, signed with her own key.
    const honest = signOp(
      {
        v: 1,
        doc: genesis.id,
        author: admin.publicKey,
        seq: 2,
        deps: [genesis.id],
        time: 1,
        type: 'audit.open',
        body: {},
      },
      admin,
    )
    const forged = new Uint8Array(honest.bytes)
    const sigAt = Buffer.from(forged).indexOf(Buffer.from(honest.op.sig))
    forged.set(sign(null, signingMessage(honest.idBytes), mallory.privateKey), sigAt)
    const tampered = new Uint8Array(genesis.bytes)
    tampered[tampered.length - 5]! ^= 1
    const { status, json } = await node.call('POST', '/ops', {
      body: {
        ops: [Buffer.from(forged).toString('hex'), Buffer.from(tampered).toString('hex')],
      },
    })
    expect(status).toBe(200)
    expect(json.results.map((r: { ok: boolean }) => r.ok)).toEqual([false, false])
    expect(json.results[0].error).toBe('InvalidSignatureError')
    expect((await node.call('GET', '/audits/f')).json.state).toBe('INITIALIZATION')
    expect((await node.call('GET', '/status')).json.accepted).toBe(1)
  })
})

/**
 * POSTs with node:http, reading the answer even if the node stops reading the body: a string is
 * sent whole (with its content-length), an array in pieces (chunked, no length), 30 ms apart.
 */
function rawPost(
  url: string,
  token: string,
  body: string | string[],
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; connection: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          ...headers,
        },
      },
      (res) => {
        let text = ''
        res.on('data', (chunk) => {
          text += chunk
        })
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: text, connection: res.headers.connection }),
        )
      },
    )
    req.on('error', (error) => {
      const code = (error as NodeJS.ErrnoException).code
      if (code !== 'ECONNRESET' && code !== 'EPIPE') reject(error)
    })
    if (typeof body === 'string') return req.end(body)
    const send = (i: number) => {
      if (req.destroyed) return
      if (i === body.length) return req.end()
      req.write(body[i]!)
      setTimeout(() => send(i + 1), 30)
    }
    send(0)
  })
}

/** Starts the test node with one audit, created by the operator. */
async function startWithAudit(
  name: string,
): Promise<{ node: TestNode; admin: string; id: string }> {
  const started = await TestNode.start()
  node = started
  const admin = started.operatorToken
  const created = await started.call('POST', '/audits', {
    token: admin,
    body: { name, bond: '10' },
  })
  return { node: started, admin, id: created.json.audit }
}

describe('node request bodies', () => {
  test('a body sent in pieces is read whole; one over the limit without a length is refused, closing the connection', async () => {
    const { node, admin, id } = await startWithAudit('p')
    const pieces = await rawPost(`${node.url}/audits/${id}/items`, admin, [
      '{"descri',
      'ption": "lamp ',
      '7"}',
    ])
    expect(pieces.status).toBe(200)
    // The same with its length declared: the first piece is buffered, the rest still to come.
    const declared = ['{"description":', ' "lamp 8"}']
    const withLength = await rawPost(`${node.url}/audits/${id}/items`, admin, declared, {
      'content-length': String(declared.join('').length),
    })
    expect(withLength.status).toBe(200)
    const big = await rawPost(
      `${node.url}/audits/${id}/items`,
      admin,
      Array.from({ length: 40 }, () => 'x'.repeat(65_536)),
    )
    // The refused rest is not read: the node closes the connection instead.
    expect([big.status, JSON.parse(big.body).error, big.connection]).toEqual([
      413,
      'PayloadTooLargeError',
      'close',
    ])
    const items = (await node.call('GET', `/audits/${id}/items`)).json.items
    expect(items.map((i: { description: string }) => i.description)).toEqual(['lamp 7', 'lamp 8'])
  })
})

describe('node bad input', () => {
  test('answers each bad request with the right status and a clear message, and keeps serving', async () => {
    const { node, admin, id } = await startWithAudit('b')
    await node.call('POST', `/audits/${id}/items`, { token: admin, body: { description: 'x' } })
    const before = (await node.call('GET', '/status')).json.accepted
    const cases: [string, string, { raw?: string; body?: unknown }, number, string][] = [
      ['POST', `/audits/${id}/items`, { raw: '{"description": ' }, 400, 'MalformedJsonError'],
      ['POST', `/audits/${id}/items`, { body: {} }, 400, 'ValidationError'],
      ['POST', `/audits/${id}/items`, { body: { description: 42 } }, 400, 'ValidationError'],
      ['POST', '/audits', { body: { name: 'c', bond: -1 } }, 400, 'ValidationError'],
      ['POST', '/audits/no-such-audit/open', {}, 404, 'AuditNotFoundError'],
      ['POST', `/audits/${id}/close`, {}, 409, 'AuditOpRefusedError'],
      [
        'POST',
        `/audits/${id}/params`,
        { body: { name: 'num_audits_per_item', value: 4 } },
        422,
        'InvalidAuditInputError',
      ],
      ['POST', '/ops', { body: { ops: ['zz'] } }, 400, 'ValidationError'],
      ['GET', '/nowhere', {}, 404, 'NotFoundError'],
      // Parameters are checked before the genesis is signed: nothing joins the log.
      ['POST', '/audits', { body: { name: 'c', bond: '0' } }, 422, 'InvalidAuditInputError'],
      [
        'POST',
        '/audits',
        { body: { name: 'c', bond: `${2n ** 256n}` } },
        422,
        'InvalidAuditInputError',
      ],
      [
        'POST',
        '/audits',
        { body: { name: 'c', bond: '1', auditsPerItem: 4 } },
        422,
        'InvalidAuditInputError',
      ],
      [
        'POST',
        '/audits',
        { body: { name: 'c', bond: '1', reward: { mode: 'classic', extra: 1 } } },
        422,
        'InvalidAuditInputError',
      ],
      ['POST', '/audits', { body: { name: 'b', bond: '1' } }, 409, 'AuditNameTakenError'],
      ['POST', '/audits', { raw: '[1]' }, 400, 'ValidationError'],
      [
        'POST',
        '/audits',
        { raw: `{"name":"d","bond":"1","reward":${'['.repeat(40)}${']'.repeat(40)}}` },
        400,
        'MalformedJsonError',
      ],
      [
        'POST',
        '/audits',
        { raw: `{"name":"d","bond":"1","reward":${'['.repeat(100_000)}${']'.repeat(100_000)}}` },
        400,
        'MalformedJsonError',
      ],
      [
        'POST',
        `/audits/${id}/params`,
        { body: { name: '__proto__', value: 1 } },
        422,
        'InvalidAuditInputError',
      ],
      ['GET', `/audits/${id}/auditors/nope`, {}, 404, 'NotFoundError'],
      [
        'POST',
        `/audits/${id}/items`,
        { body: { description: 'bench\u001b[2J 1' } },
        422,
        'InvalidAuditInputError',
      ],
      // A "%" in an audit name is decoded once, by the router.
      ['GET', '/audits/100%25%20sure', {}, 404, 'AuditNotFoundError'],
      ['GET', '/audits/%25zz/items', {}, 404, 'AuditNotFoundError'],
    ]
    for (const [method, path, options, status, error] of cases) {
      const r = await node.call(method, path, { token: admin, ...options })
      expect([path, r.status, r.json.error]).toEqual([path, status, error])
      expect(r.json.message).toMatch(/\S.*[.;]/)
    }
    const big = await rawPost(`${node.url}/audits/${id}/items`, admin, 'x'.repeat(2_000_000))
    expect([big.status, JSON.parse(big.body).error]).toEqual([413, 'PayloadTooLargeError'])
    const wrongState = await node.call('POST', `/audits/${id}/close`, { token: admin })
    expect(wrongState.json.message).toContain('INITIALIZATION')
    const garbageOp = await node.call('POST', '/ops', { body: { ops: ['a1617601'] } })
    expect(garbageOp.json.results[0]).toMatchObject({ ok: false, error: 'NotAnOpError' })
    expect((await node.call('GET', '/status')).json.accepted).toBe(before)
    expect((await node.call('GET', `/audits/${id}/items`)).json.items).toHaveLength(1)
  })
})

describe('node auditor input', () => {
  test('an empty item and a malformed payout address get precise refusals, and the own address in any case is accepted', async () => {
    node = await TestNode.start()
    const tokens = await auditorTokens(node, 3)
    const created = await node.call('POST', '/audits', {
      token: node.operatorToken,
      body: { name: 'r', bond: '10' },
    })
    const id = created.json.audit as string
    await node.call('POST', `/audits/${id}/items`, {
      token: node.operatorToken,
      body: { description: 'x' },
    })
    await node.call('POST', `/audits/${id}/open`, { token: node.operatorToken })
    const bad = await node.call('POST', `/audits/${id}/register`, {
      token: tokens[0],
      body: { payout: '0x123' },
    })
    expect([bad.status, bad.json.error]).toEqual([422, 'InvalidPayoutAddressError'])
    expect(bad.json.message).toContain('is not an Ethereum address')
    const me = await node.call('GET', '/accounts/me', { token: tokens[0] })
    const lower = await node.call('POST', `/audits/${id}/register`, {
      token: tokens[0],
      body: { payout: (me.json.address as string).toLowerCase() },
    })
    expect(lower.status).toBe(200)
    for (const token of tokens.slice(1))
      await node.call('POST', `/audits/${id}/register`, { token })
    await node.call('POST', `/audits/${id}/close`, { token: node.operatorToken })
    await node.call('POST', `/audits/${id}/start`, { token: node.operatorToken })
    const empty = await node.call('POST', `/audits/${id}/answer`, {
      token: tokens[0],
      body: { answer: 'yes', item: '' },
    })
    expect([empty.status, empty.json.error]).toEqual([400, 'ValidationError'])
    expect(empty.json.message).toContain('leave "item" out')
    const state = await node.call('GET', `/audits/${id}`)
    expect(state.json.inspections).toEqual({ outstanding: 3 })
  })
})

describe('node reassignment', () => {
  test('POST /audits/:audit/reassign gives a missed inspection to a backup after its deadline', async () => {
    node = await TestNode.start()
    const admin = node.operatorToken
    const tokens = await auditorTokens(node, 4)
    const created = await node.call('POST', '/audits', {
      token: admin,
      body: { name: 'late', bond: '900', inspectionDeadline: 1000 },
    })
    const id = created.json.audit as string
    await node.call('POST', `/audits/${id}/items`, { token: admin, body: { description: 'x' } })
    await node.call('POST', `/audits/${id}/open`, { token: admin })
    for (const token of tokens) await node.call('POST', `/audits/${id}/register`, { token })
    await node.call('POST', `/audits/${id}/close`, { token: admin })
    await node.call('POST', `/audits/${id}/start`, { token: admin })
    const [missed] = (await node.call('GET', `/audits/${id}`)).json.outstanding
    const early = await node.call('POST', `/audits/${id}/reassign`, {
      token: admin,
      body: { item: 1, auditor: missed.auditor },
    })
    expect([early.status, early.json.message]).toEqual([409, expect.stringContaining('due at')])
    await new Promise((resolve) => setTimeout(resolve, 1100)) // past the 1 s deadline
    const bad = await node.call('POST', `/audits/${id}/reassign`, {
      token: admin,
      body: { item: 1, auditor: 'nope' },
    })
    expect([bad.status, bad.json.error]).toEqual([400, 'ValidationError'])
    const done = await node.call('POST', `/audits/${id}/reassign`, {
      token: admin,
      body: { item: 1, auditor: missed.auditor },
    })
    expect(done.status).toBe(200)
    const after = (await node.call('GET', `/audits/${id}`)).json
    expect(after.inspections).toMatchObject({ reassigned: 1, outstanding: 3 })
    expect(after.outstanding.map((o: { auditor: string }) => o.auditor)).not.toContain(
      missed.auditor,
    )
    // An auditor's token may not reassign.
    const auditor = await node.call('POST', `/audits/${id}/reassign`, {
      token: tokens[0],
      body: { item: 1, auditor: after.outstanding[0].auditor },
    })
    expect(auditor.status).toBe(403)
  })
})

describe('node state hashes', () => {
  test('the cached state hash follows every op and equals the hash of the state', async () => {
    const { node, admin, id } = await startWithAudit('hashed')
    const fresh = async () =>
      createHash('sha256')
        .update(toJson(await node.node.audits.state(id as never)))
        .digest('hex')
    const first = await node.node.audits.stateHash(id as never)
    expect(first).toBe(await fresh())
    expect(await node.node.audits.stateHash(id as never)).toBe(first)
    await node.call('POST', `/audits/${id}/items`, { token: admin, body: { description: 'x' } })
    const second = await node.node.audits.stateHash(id as never)
    expect(second).not.toBe(first)
    expect(second).toBe(await fresh())
    const status = (await node.call('GET', '/status')).json
    expect(JSON.stringify(status)).toContain(second)
  })
})

describe('node lifecycle', () => {
  test('a second node on the same data dir is refused while the first runs, and a taken port cleans up after itself', async () => {
    node = await TestNode.start()
    const second = TestNode.create(node.dataDir)
    await expect(second.start()).rejects.toMatchObject({
      name: 'NodeRunningError',
      message: expect.stringContaining(`already running (pid ${process.pid}, ${node.url})`),
    })
    // The first node is untouched and still serves.
    expect((await node.call('GET', '/status')).status).toBe(200)
    await node.node.stop()
    // A port another program holds: one clear error, and nothing (lock, store) left held.
    const port = Number(new URL(node.url).port)
    const blocker = createServer().listen(port, '127.0.0.1')
    await new Promise((resolve) => blocker.once('listening', resolve))
    try {
      const clash = createNode(loadConfig(node.dataDir), {
        port,
        logger: pino({ level: 'silent' }),
        verifyPool: false,
        chain: { mode: 'none' },
        net: { enabled: false },
      })
      await expect(clash.start()).rejects.toMatchObject({
        name: 'PortInUseError',
        message: expect.stringContaining(`Port ${port} on 127.0.0.1 is already in use`),
      })
    } finally {
      blocker.close()
    }
    node.node = TestNode.create(node.dataDir)
    await node.node.start()
    expect((await node.call('GET', '/status')).status).toBe(200)
  })
})

describe('node restart', () => {
  test('a request in progress when the node stops is answered, and what it did survives', async () => {
    const t = await TestNode.start()
    node = t
    const admin = t.operatorToken
    let stopped: Promise<void> | undefined
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        `${t.url}/audits`,
        {
          method: 'POST',
          headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        },
        (res) => {
          let text = ''
          res.on('data', (chunk) => {
            text += chunk
          })
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
        },
      )
      req.on('error', reject)
      // Half the body, then the node stops, then the rest.
      req.write('{"name":"late",', () =>
        setTimeout(() => {
          stopped = t.node.stop()
          setTimeout(() => req.end('"bond":"10"}'), 50)
        }, 100),
      )
    })
    expect(answer.status).toBe(200)
    await stopped
    await t.restart()
    const audits = (await t.call('GET', '/audits')).json.audits
    expect(audits.map((a: { name: string }) => a.name)).toEqual(['late'])
    expect(audits[0].id).toBe(JSON.parse(answer.body).audit)
  })

  test('stopping mid-audit and starting again gives identical state', async () => {
    node = await TestNode.start()
    const tokens = await auditorTokens(node, 3)
    const id = await runToAuditing(node, 'restart', tokens, ['A', 'B'])
    await answerAll(node, id, tokens.slice(0, 1), () => 'yes')
    const before = (await node.call('GET', `/audits/${id}`)).json
    await node.restart()
    expect((await node.call('GET', `/audits/${id}`)).json).toEqual(before)
    // The conversation goes on: the others still have their inspections.
    await answerAll(node, id, tokens.slice(1), () => 'no')
    expect(
      (await node.call('POST', `/audits/${id}/stop`, { token: node.operatorToken })).json.state,
    ).toBe('WAITING_FOR_CONTRACT')
  })

  test('commit–reveal through the convenience routes survives a restart between commit and reveal', async () => {
    node = await TestNode.start()
    const tokens = await auditorTokens(node, 3)
    const admin = node.operatorToken
    const id = (
      await node.call('POST', '/audits', {
        token: admin,
        body: { name: 'cr', bond: '300', commitReveal: true },
      })
    ).json.audit
    await node.call('POST', `/audits/${id}/items`, { token: admin, body: { description: 'A' } })
    await node.call('POST', `/audits/${id}/open`, { token: admin })
    for (const token of tokens) await node.call('POST', `/audits/${id}/register`, { token })
    await node.call('POST', `/audits/${id}/close`, { token: admin })
    await node.call('POST', `/audits/${id}/start`, { token: admin })
    for (const [i, token] of tokens.entries())
      expect(
        (
          await node.call('POST', `/audits/${id}/answer`, {
            token,
            body: { answer: i === 0 ? 'no' : 'yes' },
          })
        ).status,
      ).toBe(200)
    expect((await node.call('GET', `/audits/${id}`)).json.inspections).toEqual({ committed: 3 })
    expect((await node.call('POST', `/audits/${id}/stop`, { token: admin })).json.state).toBe(
      'AUDITING_FINISHED',
    )
    await node.restart()
    for (const token of tokens)
      expect(
        (await node.call('POST', `/audits/${id}/reveal`, { token })).json.revealed,
      ).toHaveLength(1)
    // Nothing left to reveal: a refusal, not an empty success.
    const again = await node.call('POST', `/audits/${id}/reveal`, { token: tokens[0] })
    expect([again.status, again.json.message]).toEqual([
      409,
      expect.stringContaining('no commitment made through this node waiting to be revealed'),
    ])
    expect((await node.call('POST', `/audits/${id}/finish`, { token: admin })).json.state).toBe(
      'WAITING_FOR_CONTRACT',
    )
    const { json } = await node.call('GET', `/audits/${id}`)
    expect(json.results.items[0]).toMatchObject({ yes: 2, no: 1, result: true })
  })

  test('a node killed with SIGKILL comes back with every acknowledged op', async () => {
    node = await TestNode.start()
    await node.node.stop()
    const bin = join(import.meta.dirname, '..', 'bin', 'rwa.js')
    const child = spawn(
      process.execPath,
      [bin, 'start', 'n1', '--data-dir', node.dataDir, '--port', '0', '--no-chain'],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    )
    const run = join(node.dataDir, 'run.json')
    for (let i = 0; i < 200 && !existsSync(run); i++) await new Promise((r) => setTimeout(r, 50))
    const url = JSON.parse(readFileSync(run, 'utf8')).url as string
    const token = node.operatorToken
    const post = (path: string, body?: unknown) =>
      fetch(`${url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body ?? {}),
      }).then((r) => r.json() as Promise<any>)
    const id = (await post('/audits', { name: 'killed', bond: '10' })).audit
    for (let i = 0; i < 20; i++) await post(`/audits/${id}/items`, { description: `item ${i}` })
    await post(`/audits/${id}/open`)
    const exited = new Promise((r) => child.once('exit', r))
    child.kill('SIGKILL')
    await exited
    node.node = TestNode.create(node.dataDir)
    await node.node.start()
    const { json } = await node.call('GET', `/audits/${id}`)
    expect(json.state).toBe('AUDITOR_REGISTRATION')
    expect(json.items).toHaveLength(20)
  })
})

describe('Chainlink external-adapter routes', () => {
  const oracleRequest = {
    requestId: '0x01',
    payment: '100000000000000000',
    callbackAddr: '0x0000000000000000000000000000000000000001',
    callbackFunctionId: '0x12345678',
    cancelExpiration: '1700000000',
    dataVersion: 1,
    data: '0x',
    requester: '0x0000000000000000000000000000000000000002',
    specId: '0x03',
  }

  test('refuse what a web page could send (no JSON content type, a foreign origin) and bad audit parameters', async () => {
    node = await TestNode.start()
    const body = JSON.stringify({ id: '9', data: { name: 'csrf', bond: '1' } })
    const post = async (headers: Record<string, string>, text = body) => {
      const response = await fetch(`${node!.url}/register_audit/`, {
        method: 'POST',
        headers,
        body: text,
      })
      return {
        status: response.status,
        json: (await response.json()) as {
          status: string
          jobRunID: string
          error: { name: string } & string
        },
      }
    }
    const plain = await post({ 'content-type': 'text/plain' })
    expect([plain.status, plain.json.status, plain.json.error.name]).toEqual([
      415,
      'errored',
      'UnsupportedMediaTypeError',
    ])
    const foreign = await post({
      'content-type': 'application/json',
      origin: 'https://evil.example',
    })
    // Refused before the adapter reads it, by the node-wide cross-site rule.
    expect([foreign.status, foreign.json.error]).toEqual([403, 'CrossSiteRequestError'])
    const invalid = await post(
      { 'content-type': 'application/json' },
      JSON.stringify({ id: '9', data: { name: 'x', bond: '0' } }),
    )
    expect([invalid.status, invalid.json.jobRunID, invalid.json.error.name]).toEqual([
      422,
      '9',
      'InvalidAuditInputError',
    ])
    const noData = await post({ 'content-type': 'application/json' }, '{"id":"6"}')
    expect([noData.status, noData.json.jobRunID, noData.json.error.name]).toEqual([
      400,
      '6',
      'ValidationError',
    ])
    expect((await node.call('GET', '/audits')).json.audits).toEqual([])
    // The Chainlink node's request: JSON, no Origin (a same-site one is accepted too).
    const ok = await post({
      'content-type': 'application/json; charset=utf-8',
      origin: new URL(node.url).origin,
    })
    expect(ok.status).toBe(200)
    const twice = await post({ 'content-type': 'application/json' })
    expect([twice.status, twice.json.error.name]).toEqual([409, 'AuditNameTakenError'])
  })

  test("error answers name the request's job run: a refused content type or origin, and a numeric bond; an unread body gets null", async () => {
    node = await TestNode.start()
    const body = JSON.stringify({ id: 'job-42', data: { name: 'ids', bond: '1' } })
    const post = (headers: Record<string, string>, text = body) =>
      rawPost(`${node!.url}/register_audit/`, '', text, headers).then((r) => ({
        status: r.status,
        json: JSON.parse(r.body),
      }))
    const plain = await post({ 'content-type': 'text/plain' })
    expect([plain.status, plain.json.jobRunID, plain.json.error.name]).toEqual([
      415,
      'job-42',
      'UnsupportedMediaTypeError',
    ])
    // A page of another name for this host passes the node-wide guard; the adapter refuses it.
    const port = new URL(node.url).port
    const other = await post({
      'content-type': 'application/json',
      origin: `http://localhost:${port}`,
    })
    expect([other.status, other.json.jobRunID, other.json.error.name]).toEqual([
      403,
      'job-42',
      'ForbiddenError',
    ])
    // Over the limit, the body is not read: its id is unknown, and no other job run's is given.
    const big = await post(
      { 'content-type': 'application/json' },
      `{"id":"job-43","data":{"name":"${'x'.repeat(2_000_000)}"}}`,
    )
    expect([big.status, big.json.jobRunID, big.json.error.name]).toEqual([
      413,
      null,
      'PayloadTooLargeError',
    ])
    // Amounts are strings, as everywhere in the API.
    const numeric = await post(
      { 'content-type': 'application/json' },
      JSON.stringify({ id: 44, data: { name: 'numbers', bond: 1000 } }),
    )
    expect([numeric.status, numeric.json.jobRunID, numeric.json.error.name]).toEqual([
      400,
      '44',
      'ValidationError',
    ])
    expect(numeric.json.error.message).toBe(
      'In the request data, "bond": an amount is a string of base units, e.g. "1000", not a JSON number (numbers lose digits past 2^53).',
    )
    const none = await post(
      { 'content-type': 'application/json' },
      '{"data":{"name":"no id","bond":"x"}}',
    )
    expect([none.status, none.json.jobRunID]).toEqual([422, '1'])
    expect((await node.call('GET', '/audits')).json.audits).toEqual([])
  })

  test("POST /ops refuses at ingest an op the audit's rules refuse on its causal past: it never joins the document", async () => {
    const { node, client, admin, genesis } = await clientSignedAudit('rules', '9')
    const size = node.node.ledger.log.size(genesis.id)
    // A stranger's "open": a validly signed op, but only an admin may open.
    await expect(
      client.submit(generateSigner(), { doc: genesis.id, type: 'audit.open', body: {} }),
    ).rejects.toMatchObject({
      status: 422,
      error: 'AuditPermissionError',
      message: expect.stringContaining('Only an admin'),
    })
    const stranger = generateSigner()
    const { heads } = (await node.call('GET', `/docs/${genesis.id}/heads`)).json
    const op = signOp(
      {
        v: 1,
        doc: genesis.id,
        author: stranger.publicKey,
        seq: 1,
        deps: heads,
        time: Date.now(),
        type: 'audit.open',
        body: {},
      },
      stranger,
    )
    const posted = await node.call('POST', '/ops', {
      body: { ops: [Buffer.from(op.bytes).toString('hex')] },
    })
    expect(posted.json.results[0]).toMatchObject({
      ok: false,
      error: 'OpRefusedError',
      rule: 'AuditPermissionError',
    })
    // Not part of the document: not a head, not counted, not gossiped.
    expect(node.node.ledger.log.size(genesis.id)).toBe(size)
    expect(node.node.ledger.log.heads(genesis.id)).toEqual(heads)
    // The admin's own open counts: no verdict.
    await client.submit(admin, { doc: genesis.id, type: 'audit.open', body: {} })
    expect((await node.call('GET', `/audits/${genesis.id}`)).json.state).toBe(
      'AUDITOR_REGISTRATION',
    )
  })

  test("a stranger's audit of the same name does not make this node's audit ambiguous", async () => {
    node = await TestNode.start()
    const ours = await node.call('POST', '/register_audit/', {
      body: { id: '1', data: { name: 'Shared name', bond: '100' } },
    })
    // Anyone may publish a genesis through POST /ops (or a peer): one with the same name.
    const copy = await new NodeClient(node.url).submit(generateSigner(), {
      doc: null,
      type: 'audit.create',
      body: { name: 'Shared name', bond: '1' },
    })
    expect((await node.call('GET', '/audits')).json.audits).toHaveLength(2)
    expect((await node.call('GET', '/audits/Shared%20name')).json.id).toBe(ours.json.result)
    const dump = await node.call('POST', '/data_dump/', {
      body: { id: '2', data: { name: 'Shared name' } },
    })
    expect([dump.status, dump.json.data.state]).toEqual([200, 'INITIALIZATION'])
    // The stranger's audit is still reachable by its id.
    expect((await node.call('GET', `/audits/${copy.id}`)).json.params.bond).toBe('1')
    // Listing this node's operator among its admins does not make a stranger's copy local.
    const operatorKey = (await node.call('GET', `/audits/${ours.json.result}`)).json.params
      .admins[0]
    await new NodeClient(node.url).submit(generateSigner(), {
      doc: null,
      type: 'audit.create',
      body: { name: 'Shared name', bond: '2', admins: [operatorKey] },
    })
    expect((await node.call('GET', '/audits/Shared%20name')).json.id).toBe(ours.json.result)
    // A name a stranger published first is still free for this node's own audit.
    await new NodeClient(node.url).submit(generateSigner(), {
      doc: null,
      type: 'audit.create',
      body: { name: 'Squatted', bond: '1' },
    })
    const mine = await node.call('POST', '/register_audit/', {
      body: { id: '3', data: { name: 'Squatted', bond: '100' } },
    })
    expect(mine.json.statusCode).toBe(200)
    expect((await node.call('GET', '/audits/Squatted')).json.id).toBe(mine.json.result)
  })

  test('register_audit and data_dump answer in the EA v2 shape, and the first fetch completes the audit', async () => {
    node = await TestNode.start()
    const reg = await node.call('POST', '/register_audit/', {
      body: {
        id: '7f4e',
        data: { name: 'Downtown Street Lights', admin_jid: 'admin@example.org', bond: '1000' },
        meta: { oracleRequest },
      },
    })
    expect(reg.status).toBe(200)
    expect(reg.json).toMatchObject({
      jobRunID: '7f4e',
      statusCode: 200,
      data: { result: reg.json.result },
    })
    const id = reg.json.result
    const again = await node.call('POST', '/register_audit/', {
      body: { id: '7f4f', data: { name: 'Downtown Street Lights', bond: '5' } },
    })
    expect(again.json).toMatchObject({
      jobRunID: '7f4f',
      status: 'errored',
      statusCode: 409,
      error: { name: 'AuditNameTakenError' },
    })

    const early = await node.call('POST', '/data_dump/', {
      body: { id: 'j1', data: { name: 'Downtown Street Lights' } },
    })
    expect(
      decodeAbiParameters([{ type: 'address[]' }, { type: 'uint256[]' }], early.json.data.response),
    ).toEqual([[], []])

    const tokens = await auditorTokens(node, 3)
    const admin = node.operatorToken
    await node.call('POST', `/audits/${id}/items`, { token: admin, body: { description: 'light' } })
    await node.call('POST', `/audits/${id}/open`, { token: admin })
    for (const token of tokens) await node.call('POST', `/audits/${id}/register`, { token })
    await node.call('POST', `/audits/${id}/close`, { token: admin })
    await node.call('POST', `/audits/${id}/start`, { token: admin })
    await answerAll(node, id, tokens, (i) => (i === 0 ? 'no' : 'yes'))
    await node.call('POST', `/audits/${id}/stop`, { token: admin })
    const { json: view } = await node.call('GET', `/audits/${id}`)

    const dump = await node.call('POST', '/data_dump/', {
      body: { id: 'j2', data: { name: 'Downtown Street Lights' } },
    })
    expect(dump.json).toMatchObject({ jobRunID: 'j2', statusCode: 200 })
    expect(dump.json.result).toBe(dump.json.data.response)
    expect(dump.json.data.result).toBe(dump.json.data.response)
    const [payees, amounts] = decodeAbiParameters(
      [{ type: 'address[]' }, { type: 'uint256[]' }],
      dump.json.data.response,
    )
    expect(payees).toEqual(view.settlement.payees)
    expect(amounts).toEqual([333n, 333n])
    expect((await node.call('GET', `/audits/${id}`)).json.state).toBe('COMPLETE')
    const second = await node.call('POST', '/data_dump/', {
      body: { id: 'j3', data: { name: 'Downtown Street Lights' } },
    })
    expect(second.json.result).toBe(dump.json.result)

    const unknown = await node.call('POST', '/data_dump/', {
      body: { id: 'j4', data: { name: 'nope' } },
    })
    expect(unknown.json).toMatchObject({
      jobRunID: 'j4',
      status: 'errored',
      statusCode: 404,
      error: { name: 'AuditNotFoundError' },
    })
    const garbage = await node.call('POST', '/data_dump/', { raw: '{nope' })
    expect(garbage.json).toMatchObject({
      status: 'errored',
      statusCode: 400,
      error: { name: 'MalformedJsonError' },
    })
    // Too large: the EA error shape, and the connection closed as on every route.
    const big = await rawPost(`${node.url}/data_dump/`, '', 'x'.repeat(2_000_000))
    expect([big.status, JSON.parse(big.body).error.name, big.connection]).toEqual([
      413,
      'PayloadTooLargeError',
      'close',
    ])
  })

  test('GET / shows the node and its audits, escaping their names', async () => {
    node = await TestNode.start()
    await node.call('POST', '/audits', {
      token: node.operatorToken,
      body: { name: '<b>lights</b>', bond: '9' },
    })
    const html = await (await fetch(`${node.url}/`)).text()
    expect(html).toContain('<h1>Node “n1”</h1>')
    expect(html).toContain('&#60;b&#62;lights&#60;/b&#62;</a></td><td>INITIALIZATION')
    expect(html).not.toContain('<b>lights')
  })

  test('GET /openapi.json documents the routes with their request schemas', async () => {
    node = await TestNode.start()
    const { json } = await node.call('GET', '/openapi.json')
    expect(json.openapi).toBe('3.1.0')
    const answer = json.paths['/audits/{audit}/answer'].post
    expect(answer.security).toEqual([{ bearer: [] }])
    expect(answer.requestBody.content['application/json'].schema.required).toEqual(['answer'])
    expect(Object.keys(json.paths)).toEqual(
      expect.arrayContaining(['/status', '/ops', '/audits/{audit}', '/audits/{audit}/reassign']),
    )
    // The Chainlink adapter routes too, with the request shape they take.
    const dump = json.paths['/data_dump/'].post
    expect(dump.tags).toEqual(['chainlink'])
    expect(dump.requestBody.content['application/json'].schema.properties.data.required).toEqual([
      'name',
    ])
    expect(json.paths['/register_audit/'].post.summary).toContain('content-type application/json')
  })
})
