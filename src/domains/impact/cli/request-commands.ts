import type { Command } from 'commander'
import { contextOf, type GlobalOptions, printJson } from '../../../cli/context.ts'
import type { ImpactReducer } from '../../../core/impact/domain.ts'
import type { Signer } from '../../../ledger/keys.ts'
import {
  type Acted,
  type AuthOptions,
  authClient,
  type Ctx,
  findRequest,
  ImpactCliError,
  impactOp,
  listCommunities,
  loadCommunity,
  readTextArgument,
} from './client.ts'
import { formatRequest } from './format.ts'
import { cmd, report, signAndSend } from './shared.ts'

const collect = (value: string, all: string[]) => [...all, value]

/**
 * Checks a genesis with the rules every node runs on it (a bad genesis would stay in every log
 * for good), before it is signed for the node.
 */
async function checkGenesis(signer: Signer, body: Record<string, unknown>): Promise<void> {
  const { signOp } = await import('../../../ledger/op-encode.ts')
  const { createImpactReducer } = await import('../../../core/impact/domain.ts')
  const draft = signOp(
    {
      v: 1,
      doc: null,
      author: signer.publicKey,
      seq: 1,
      deps: [],
      time: Date.now(),
      type: impactOp('impact.create'),
      body,
    },
    signer,
  )
  createImpactReducer(draft)
}

/** A whole number option, or the error naming it. */
function count(value: string | undefined, field: string): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d{1,9}$/.test(value.trim()))
    throw new ImpactCliError(`"${field}" must be a whole number; got "${value}".`)
  return Number(value.trim())
}

type CreateOptions = GlobalOptions & {
  governor: string[]
  threshold?: string
  blocksPerDay?: string
}

function addCreate(impact: Command): void {
  cmd(
    impact,
    'create',
    'start a community; your key is its governor unless --governor names others',
    'rwa impact create "Green Barcelona" --governor <key1> --governor <key2> --threshold 2',
  )
    .argument('<name>', "the community's name, unique on the node")
    .option('--governor <key>', 'a governor (repeat for each); default your key', collect, [])
    .option('--threshold <m>', 'governors that must approve a registry change (default 1)')
    .option('--blocks-per-day <n>', 'blocks of the settlement chain per day (default 7200)')
    .action(async (name: string, o: CreateOptions) => {
      const ctx = contextOf(o)
      const signer = ctx.signer()
      const threshold = count(o.threshold, 'threshold')
      const blocksPerDay = count(o.blocksPerDay, 'blocks-per-day')
      const body = {
        name,
        ...(o.governor.length > 0 ? { governors: o.governor.map((g) => g.toLowerCase()) } : {}),
        ...(threshold === undefined ? {} : { threshold }),
        ...(blocksPerDay === undefined ? {} : { blocksPerDay }),
      }
      await checkGenesis(signer, body)
      if ((await listCommunities(ctx))?.some((c) => c.name === name))
        throw new ImpactCliError(
          `An impact community is named "${name}" already; choose another name.`,
        )
      const op = await ctx.client.submit(signer, {
        doc: null,
        type: impactOp('impact.create'),
        body,
      })
      const sent = { op: op.id, community: op.id, type: impactOp('impact.create') }
      report(ctx, sent, { name }, `Created impact community "${name}": ${op.id}`)
    })
}

function addApprove(impact: Command): void {
  cmd(
    impact,
    'approve',
    "approve another governor's pending registry change (applied at the threshold)",
    'rwa impact approve "Green Barcelona" <proposal>',
  )
    .argument('<community>', 'community name or id')
    .argument('<proposal>', 'the op id of the change (see "rwa impact show")')
    .action(async (ref: string, proposal: string, o: GlobalOptions) => {
      const ctx = contextOf(o)
      const { op, after } = await signAndSend(ctx, ref, impactOp('impact.approve'), { proposal })
      const pending = after.state().proposals.find((p) => p.id === proposal)
      const sent = { op: op.id, community: after.machine.id, type: impactOp('impact.approve') }
      report(
        ctx,
        sent,
        { applied: pending === undefined },
        pending
          ? `Approved: ${pending.approvals.length} of ${after.state().threshold} governors (op ${op.id}).`
          : `Approved: the change is applied (op ${op.id}).`,
      )
    })
}

/** The payout address: `--payout`, else the address of the user's Ethereum key file. */
async function payoutOf(ctx: Ctx, payout: string | undefined): Promise<string> {
  if (payout !== undefined) return payout
  let key: `0x${string}`
  try {
    key = ctx.ethKey()
  } catch (cause) {
    throw new ImpactCliError(
      '"payout" defaults to the address of your --eth-key file, which cannot be read; pass --payout <address> or --eth-key <file>.',
      { cause },
    )
  }
  const { privateKeyToAccount } = await import('viem/accounts')
  return privateKeyToAccount(key).address
}

/** Prints a request after a command changed it (`after`: the community recomputed since). */
async function showRequestAfter(
  ctx: Ctx,
  sent: Acted,
  request: string,
  line: string,
  after?: ImpactReducer,
) {
  after ??= await loadCommunity(ctx, sent.community)
  const state = findRequest(after, request)
  if (ctx.json) return printJson({ ...sent, request: state })
  console.log(line)
  console.log(formatRequest(state, after.state()))
}

function addUserVerbs(impact: Command): void {
  cmd(
    impact,
    'request-approval',
    "requestApproval: ask for approval of an impact action (the action's fields, ≤ 8192 bytes)",
    'rwa impact request-approval "Green Barcelona" \'{"impactactionid":1,"description":"Planted a new tree","namesurname":"Jhone Smith","phonenumber":"+13489383845"}\'',
  )
    .argument('<community>', 'community name or id')
    .argument('<info>', 'the approval request JSON, or @file holding it')
    .option('--payout <address>', 'where the reward is paid (default: your --eth-key address)')
    .action(async (ref: string, infoArg: string, o: GlobalOptions & { payout?: string }) => {
      const ctx = contextOf(o)
      const info = readTextArgument(infoArg, 'info')
      const body = { info, payout: await payoutOf(ctx, o.payout) }
      const { op, after } = await signAndSend(ctx, ref, impactOp('impact.request'), body)
      const sent = { op: op.id, community: after.machine.id, type: impactOp('impact.request') }
      await showRequestAfter(ctx, sent, op.id, `Requested approval: request ${op.id}`, after)
    })

  cmd(
    impact,
    'vote',
    'voteApprovalRequest: an assigned auditor votes Y or N, once',
    'rwa impact vote "Green Barcelona" <request> Y --otherinfo bafy…',
  )
    .argument('<community>', 'community name or id')
    .argument('<request>', 'the request id (or a unique prefix of at least 8 characters)')
    .argument('<vote>', 'Y to approve, N to refuse')
    .option('--otherinfo <cid>', 'evidence of the inspection (a CID, at most 1024 bytes)')
    .action(
      async (
        ref: string,
        requestRef: string,
        vote: string,
        o: GlobalOptions & { otherinfo?: string },
      ) => {
        const ctx = contextOf(o)
        const v = vote.trim().toUpperCase()
        if (v !== 'Y' && v !== 'N')
          throw new ImpactCliError(`"vote" must be Y or N; got "${vote}".`)
        const community = await loadCommunity(ctx, ref)
        const request = findRequest(community, requestRef).id
        const { encodeVote } = await import('../../../core/impact/formats.ts')
        const text = encodeVote({ vote: v, ...(o.otherinfo ? { otherinfo: o.otherinfo } : {}) })
        const { op, after } = await signAndSend(ctx, community, impactOp('impact.vote'), {
          request,
          vote: text,
        })
        const sent = { op: op.id, community: after.machine.id, type: impactOp('impact.vote') }
        await showRequestAfter(ctx, sent, request, `Voted ${v} on ${request} (op ${op.id}).`, after)
      },
    )

  cmd(
    impact,
    'attest',
    'an oracle attests a request (paid rewardsoracle if it is approved)',
    'rwa impact attest "Green Barcelona" <request> --otherinfo bafy…',
  )
    .argument('<community>', 'community name or id')
    .argument('<request>', 'the request id (or a unique prefix)')
    .option('--otherinfo <text>', 'what the oracle checked (at most 1024 bytes)')
    .action(async (ref: string, requestRef: string, o: GlobalOptions & { otherinfo?: string }) => {
      const ctx = contextOf(o)
      const community = await loadCommunity(ctx, ref)
      const request = findRequest(community, requestRef).id
      const body = { request, ...(o.otherinfo ? { otherinfo: o.otherinfo } : {}) }
      const { op, after } = await signAndSend(ctx, community, impactOp('impact.attest'), body)
      const sent = { op: op.id, community: after.machine.id, type: impactOp('impact.attest') }
      await showRequestAfter(ctx, sent, request, `Attested ${request} (op ${op.id}).`, after)
    })
}

/** The proxy's verbs: the node holds the proxy key and reads the chain's block, so they are routes. */
const PROXY_VERBS = [
  {
    name: 'assign-auditor',
    route: 'assign',
    description:
      "assignAuditor: the node's proxy draws the request's auditors with the chain's current block",
    example: 'rwa impact assign-auditor "Green Barcelona" <request> --maxdays 3',
  },
  {
    name: 'destroy-assigned-auditor',
    route: 'unassign',
    description: "destroyAssignedAuditor: the node's proxy unassigns an auditor past its deadline",
    example: 'rwa impact destroy-assigned-auditor "Green Barcelona" <request> <auditor>',
  },
  {
    name: 'decide',
    route: 'decide',
    description: "the node's proxy records the decision the votes reached (money moves)",
    example: 'rwa impact decide "Green Barcelona" <request>',
  },
  {
    name: 'expire',
    route: 'expire',
    description: "the node's proxy closes a request its action no longer takes",
    example: 'rwa impact expire "Green Barcelona" <request>',
  },
] as const

type ProxyOptions = AuthOptions & { maxdays?: string }

function addProxyVerbs(impact: Command): void {
  for (const verb of PROXY_VERBS) {
    const command = cmd(impact, verb.name, verb.description, verb.example)
      .argument('<community>', 'community name or id')
      .argument('<request>', 'the request id')
      .option(
        '--token <file>',
        "bearer token of the node's proxy account (default: the operator's)",
      )
    if (verb.route === 'unassign') command.argument('<auditor>', "the auditor's public key")
    if (verb.route === 'assign')
      command.option('--maxdays <days>', 'days each auditor has to vote (default: the node’s)')
    command.action(async (ref: string, requestRef: string, ...rest: unknown[]) => {
      const o = rest.at(-2) as ProxyOptions
      const ctx = contextOf(o)
      // Resolved here, so that a wrong id or prefix is refused before the node is asked.
      const reducer = await loadCommunity(ctx, ref)
      const community = reducer.machine.id
      const request = findRequest(reducer, requestRef).id
      const maxdays = count(o.maxdays, 'maxdays')
      const body =
        verb.route === 'unassign'
          ? { auditor: String(rest[0]).toLowerCase() }
          : maxdays === undefined
            ? {}
            : { maxdays }
      const path = `/impact/${encodeURIComponent(community)}/requests/${encodeURIComponent(request)}/${verb.route}`
      const acted = await authClient(o).post<Acted>(path, body)
      await showRequestAfter(ctx, acted, request, `Done: ${acted.type} (op ${acted.op}).`)
    })
  }
}

/** Adds `create`, `approve`, the users' verbs and the proxy's to `rwa impact`. */
export function addRequestCommands(impact: Command): void {
  addCreate(impact)
  addApprove(impact)
  addUserVerbs(impact)
  addProxyVerbs(impact)
}
