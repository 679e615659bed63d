import type { Command } from 'commander'
import type { GlobalOptions } from '../../../cli/context.ts'
import { contextOf } from '../../../cli/context.ts'
import { ImpactCliError, impactOp, readTextArgument } from './client.ts'
import { cmd, report, signAndSend } from './shared.ts'

// The original's Super User extrinsics, one command each. Each is a registry change a governor
// signs: applied at once in a 1-of-n community, else a proposal the other governors approve.

type Options = GlobalOptions & { payout?: string; threshold?: string }

/** An id argument (a category's, an action's, an oracle's, a proxy's, a token's). */
function id(value: string, field: string): number {
  if (!/^\d{1,10}$/.test(value.trim()))
    throw new ImpactCliError(
      `"${field}" must be a whole number from 1 to 4294967295; got "${value}".`,
    )
  return Number(value.trim())
}

/** One registry verb: its op type, its arguments and how they make the body. */
type Verb = {
  name: string
  type: string
  description: string
  example: string
  args: [string, string][]
  options?: [string, string][]
  body(args: string[], o: Options): Record<string, unknown>
}

const destroyById = (name: string, type: string, what: string): Verb => ({
  name,
  type,
  description: `${name.replaceAll('-', ' ')}: remove ${what} (queries keep its history)`,
  example: `rwa impact ${name} "Green Barcelona" 1`,
  args: [['<uid>', `the ${what}'s id`]],
  body: ([uid]) => ({ uid: id(uid!, 'uid') }),
})

const VERBS: Verb[] = [
  {
    name: 'create-category',
    type: impactOp('impact.category.create'),
    description: 'createCategory: a category of impact actions (description 5–127 bytes)',
    example: 'rwa impact create-category "Green Barcelona" 1 "Trees planted"',
    args: [
      ['<uid>', 'the category id, from 1'],
      ['<description>', 'what the category holds'],
    ],
    body: ([uid, description]) => ({ uid: id(uid!, 'uid'), description }),
  },
  destroyById('destroy-category', impactOp('impact.category.destroy'), 'category'),
  {
    name: 'create-impact-action',
    type: impactOp('impact.action.create'),
    description:
      "createImpactAction: an action, its window in blocks, its fields and rewards (the original's JSON)",
    example:
      'rwa impact create-impact-action "Green Barcelona" 1 @planting.json   # {"description":"Planting a tree","category":1,"auditors":2,…}',
    args: [
      ['<uid>', 'the impact action id, from 1'],
      ['<configuration>', 'the configuration JSON, or @file holding it'],
    ],
    body: ([uid, configuration]) => ({
      uid: id(uid!, 'uid'),
      configuration: readTextArgument(configuration!, 'configuration'),
    }),
  },
  destroyById('destroy-impact-action', impactOp('impact.action.destroy'), 'impact action'),
  {
    name: 'create-oracle',
    type: impactOp('impact.oracle.create'),
    description: 'createOracle: a key that may attest requests, paid rewardsoracle on approval',
    example:
      'rwa impact create-oracle "Green Barcelona" 1 \'{"description":"Tree Verification","account":"<key>"}\' --payout 0x…',
    args: [
      ['<uid>', 'the oracle id, from 1'],
      ['<configuration>', 'the configuration JSON, or @file holding it'],
    ],
    options: [['--payout <address>', 'where its rewards are paid (EIP-55)']],
    body: ([uid, configuration], o) => ({
      uid: id(uid!, 'uid'),
      configuration: readTextArgument(configuration!, 'configuration'),
      ...(o.payout === undefined ? {} : { payout: o.payout }),
    }),
  },
  destroyById('destroy-oracle', impactOp('impact.oracle.destroy'), 'oracle'),
  {
    name: 'create-auditor',
    type: impactOp('impact.auditor.create'),
    description: 'createAuditor: categories, area, stake required, and where it is paid',
    example:
      'rwa impact create-auditor "Green Barcelona" <key> \'{"description":"John Smith","categories":[1],"area":"41.40338,2.17403"}\' --payout 0x…',
    args: [
      ['<account>', "the auditor's Ed25519 public key (64 hex digits)"],
      ['<configuration>', 'the configuration JSON, or @file holding it'],
    ],
    options: [['--payout <address>', 'where its rewards and returned stake are paid (EIP-55)']],
    body: ([account, configuration], o) => {
      if (o.payout === undefined)
        throw new ImpactCliError(
          '"payout" is required for an auditor: pass --payout <address> (its rewards and returned stake go there).',
        )
      return {
        account: account!.toLowerCase(),
        configuration: readTextArgument(configuration!, 'configuration'),
        payout: o.payout,
      }
    },
  },
  {
    name: 'destroy-auditor',
    type: impactOp('impact.auditor.destroy'),
    description:
      'destroyAuditor: it votes no more; the proxy replaces it on its seats; its stake is returned',
    example: 'rwa impact destroy-auditor "Green Barcelona" <key>',
    args: [['<account>', "the auditor's public key"]],
    body: ([account]) => ({ account: account!.toLowerCase() }),
  },
  {
    name: 'create-proxy',
    type: impactOp('impact.proxy.create'),
    description: 'createProxy: the key of the node service that assigns, decides and settles',
    example: 'rwa impact create-proxy "Green Barcelona" 1 <key>',
    args: [
      ['<uid>', 'the proxy id, from 1'],
      ['<account>', "the proxy's Ed25519 public key"],
    ],
    body: ([uid, account]) => ({ uid: id(uid!, 'uid'), account: account!.toLowerCase() }),
  },
  destroyById('destroy-proxy', impactOp('impact.proxy.destroy'), 'proxy'),
  {
    name: 'set-token',
    type: impactOp('impact.token.set'),
    description: 'map a rewards token id (n ≥ 1) to an ERC-20 address; 0 is the native coin',
    example: 'rwa impact set-token "Green Barcelona" 1 0x…',
    args: [
      ['<id>', 'the token id used by rewardstoken'],
      ['<address>', 'the ERC-20 contract (EIP-55)'],
    ],
    body: ([token, address]) => ({ id: id(token!, 'id'), address }),
  },
  {
    name: 'set-governors',
    type: impactOp('impact.governors.set'),
    description: 'replace the governors and how many of them approve a change',
    example: 'rwa impact set-governors "Green Barcelona" <key1> <key2> <key3> --threshold 2',
    args: [['<governors...>', 'their Ed25519 public keys']],
    options: [['--threshold <m>', 'approvals a change needs (default 1)']],
    body: ([...governors], o) => ({
      governors: governors.map((g) => g.toLowerCase()),
      threshold: o.threshold === undefined ? 1 : id(o.threshold, 'threshold'),
    }),
  },
]

/** Adds the registry verbs to `rwa impact`. */
export function addRegistryCommands(impact: Command): void {
  for (const verb of VERBS) {
    const command = cmd(impact, verb.name, verb.description, verb.example).argument(
      '<community>',
      'community name or id',
    )
    for (const [name, text] of verb.args) command.argument(name, text)
    for (const [flags, text] of verb.options ?? []) command.option(flags, text)
    command.action(async (ref: string, ...rest: unknown[]) => {
      // commander passes the arguments, then the options, then the command.
      const o = rest.at(-2) as Options
      const args = rest.slice(0, verb.args.length).flat() as string[]
      const ctx = contextOf(o)
      const body = verb.body(args, o)
      const { op, after } = await signAndSend(ctx, ref, verb.type, body)
      const pending = after.state().proposals.find((p) => p.id === op.id)
      const sent = { op: op.id, community: after.machine.id, type: verb.type }
      const approvals = pending?.approvals.length
      report(
        ctx,
        sent,
        { applied: pending === undefined, ...(pending ? { approvals } : {}) },
        pending
          ? `Proposed ${verb.type} in "${after.name}" (op ${op.id}): ${approvals} of ${after.state().threshold} governors approved; the others run "rwa impact approve ${after.machine.id} ${op.id}".`
          : `Done: ${verb.type} in "${after.name}" (op ${op.id}).`,
      )
    })
  }
}
