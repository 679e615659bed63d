import {
  ALLOWED_STATES,
  AUDIT_OP,
  AUDIT_STATES,
  type AuditStateName,
} from '../../core/audit/states.ts'

/**
 * The chat's own words: what an audit's state means to a person, counts with the right grammar,
 * and audit names as people type them. Nothing here names a CLI flag, an HTTP field or a state
 * in capitals; those belong to the CLI and the API.
 */

/** What an audit in each state is doing, as a phrase after "it is". */
export const PHASE: Record<AuditStateName, string> = {
  INITIALIZATION: 'being set up',
  AUDITOR_REGISTRATION: 'open for registration',
  AUDITOR_REGISTRATION_COMPLETE: 'closed for registration and not started yet',
  AUDITING: 'auditing',
  AUDITING_FINISHED: 'finished, with its results being computed',
  CALCULATED_ITEM_RESULTS: 'finished, with its results being computed',
  CALCULATED_AUDIT_RESULTS: 'finished, with its results being computed',
  CALCULATED_AUDITOR_RESULTS: 'finished, with its results being computed',
  WAITING_FOR_CONTRACT: 'finished and waiting to be funded and settled on chain',
  COMPLETE: 'settled',
}

/** The states in which each admin command can act: the audit machine's own table. */
export const ALLOWED_IN: Record<string, readonly number[]> = {
  add: ALLOWED_STATES[AUDIT_OP.addItem],
  del: ALLOWED_STATES[AUDIT_OP.deleteItem],
  set: ALLOWED_STATES[AUDIT_OP.setParam],
  open: ALLOWED_STATES[AUDIT_OP.open],
  close: ALLOWED_STATES[AUDIT_OP.close],
  start: ALLOWED_STATES[AUDIT_OP.start],
  stop: ALLOWED_STATES[AUDIT_OP.stop],
}

/** Why `command` cannot act on an audit in `state`, in chat words; undefined when it can. */
export function refusedNow(command: string, name: string, state: number): string | undefined {
  const allowed = ALLOWED_IN[command]
  if (!allowed || allowed.includes(state)) return undefined
  const when = [...new Set(allowed.map((s) => PHASE[AUDIT_STATES[s]!]))].join(' or ')
  return `"${name}" is ${PHASE[AUDIT_STATES[state]!]}; "${command}" works only while it is ${when}.`
}

/** `1 item`, `3 items`: a count with its noun in the right number. */
export function count(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`
}

/** Parameter names as chat's `set` takes them (the original bot's). */
export const CHAT_PARAMS = ['num_audits_per_item', 'slashing_ratio', 'inspection_deadline'] as const

/** CLI and HTTP words that may reach chat inside an error of the shared audit rules. */
const FOREIGN: [RegExp, string][] = [
  [/ \("--force", or "force": true\)/g, ' ("stop force")'],
  [/\bsend the signature as "proof"/g, 'send me the signature'],
  [/, reassign them after their deadline \("reassign"\)/g, ''],
  [/\b(auditsPerItem)\b/g, 'num_audits_per_item'],
  [/\b(slashingRatio)\b/g, 'slashing_ratio'],
  [/\b(inspectionDeadline)\b/g, 'inspection_deadline'],
]
const STATE_WORD = new RegExp(
  `\\b(${[...AUDIT_STATES].sort((a, b) => b.length - a.length).join('|')})\\b`,
  'g',
)

/**
 * An error of the shared audit rules (written for the CLI and the API) in chat words: states by
 * what they mean, chat commands instead of flags and fields. The chat checks most things itself
 * first and words them its own way; this catches the rest.
 */
export function inChatWords(text: string): string {
  let out = text.replace(STATE_WORD, (state) => PHASE[state as AuditStateName])
  for (const [pattern, words] of FOREIGN) out = out.replace(pattern, words)
  return out
    .replace(/ is in state /g, ' is ')
    .replace(/ is only allowed in /g, ' works only while it is ')
}

/**
 * An audit name as people may type it: Unicode NFC (a decomposed "ü" is the composed one),
 * case-folded, runs of spaces as one.
 */
export function looseName(text: string): string {
  return text.normalize('NFC').toLowerCase().replace(/\s+/g, ' ').trim()
}

/** Edit distance of two short strings, or `max + 1` once it is over `max`. */
export function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    let best = i
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + cost)
      best = Math.min(best, row[j]!)
    }
    if (best > max) return max + 1
    previous = row
  }
  return previous[b.length]!
}

/** Names longer than this are not compared for typos (the text is someone's sentence). */
const MAX_FUZZY = 120

/**
 * The audit `text` probably means when it is not exactly one's name: the same name but for case,
 * Unicode form and spacing, or one or two typos away (for names of 6 characters or more).
 */
export function nearMiss<T extends { name: string }>(
  text: string,
  audits: Iterable<T>,
): T | undefined {
  const loose = looseName(text)
  if (loose.length === 0 || loose.length > MAX_FUZZY) return undefined
  let best: T | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  for (const audit of audits) {
    const name = looseName(audit.name)
    if (name === loose) return audit
    if (name.length < 6 || loose.length < 6) continue
    const max = name.length < 12 ? 1 : 2
    const distance = editDistance(loose, name, max)
    if (distance <= max && distance < bestDistance) {
      best = audit
      bestDistance = distance
    }
  }
  return best
}
