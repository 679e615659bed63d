/** The audit state machine of the original RWA, by number (0–9). */
export const AUDIT_STATES = [
  'INITIALIZATION',
  'AUDITOR_REGISTRATION',
  'AUDITOR_REGISTRATION_COMPLETE',
  'AUDITING',
  'AUDITING_FINISHED',
  'CALCULATED_ITEM_RESULTS',
  'CALCULATED_AUDIT_RESULTS',
  'CALCULATED_AUDITOR_RESULTS',
  'WAITING_FOR_CONTRACT',
  'COMPLETE',
] as const

export type AuditStateName = (typeof AUDIT_STATES)[number]

export const S = {
  INITIALIZATION: 0,
  AUDITOR_REGISTRATION: 1,
  AUDITOR_REGISTRATION_COMPLETE: 2,
  AUDITING: 3,
  AUDITING_FINISHED: 4,
  CALCULATED_ITEM_RESULTS: 5,
  CALCULATED_AUDIT_RESULTS: 6,
  CALCULATED_AUDITOR_RESULTS: 7,
  WAITING_FOR_CONTRACT: 8,
  COMPLETE: 9,
} as const

/** Op types of an audit document. */
export const AUDIT_OP = {
  create: 'audit.create',
  addItem: 'audit.item.add',
  deleteItem: 'audit.item.delete',
  setParam: 'audit.param.set',
  open: 'audit.open',
  close: 'audit.close',
  start: 'audit.start',
  stop: 'audit.stop',
  finish: 'audit.finish',
  settled: 'audit.settled',
  register: 'audit.register',
  answer: 'audit.answer',
  commit: 'audit.commit',
  reveal: 'audit.reveal',
  reassign: 'audit.reassign',
  signSettlement: 'audit.settlement.sign',
} as const

export type AuditOpType = (typeof AUDIT_OP)[keyof typeof AUDIT_OP]

/** The command word of each op type, as users type it (the original bot's words where it had them). */
export const COMMAND_OF: Record<AuditOpType, string> = {
  'audit.create': 'create',
  'audit.item.add': 'add',
  'audit.item.delete': 'del',
  'audit.param.set': 'set',
  'audit.open': 'open',
  'audit.close': 'close',
  'audit.start': 'start',
  'audit.stop': 'stop',
  'audit.finish': 'finish',
  'audit.settled': 'settled',
  'audit.register': 'register',
  'audit.answer': 'answer',
  'audit.commit': 'commit',
  'audit.reveal': 'reveal',
  'audit.reassign': 'reassign',
  'audit.settlement.sign': 'sign the settlement',
}

const BEFORE_START = [S.INITIALIZATION, S.AUDITOR_REGISTRATION, S.AUDITOR_REGISTRATION_COMPLETE]

/**
 * The states in which the admin's control ops may apply: the machine enforces them, and the chat
 * and other shells explain a refusal from the same table.
 */
export const ALLOWED_STATES = {
  [AUDIT_OP.addItem]: [S.INITIALIZATION],
  [AUDIT_OP.deleteItem]: BEFORE_START,
  [AUDIT_OP.setParam]: BEFORE_START,
  [AUDIT_OP.open]: [S.INITIALIZATION],
  [AUDIT_OP.close]: [S.AUDITOR_REGISTRATION],
  [AUDIT_OP.start]: [S.AUDITOR_REGISTRATION_COMPLETE],
  [AUDIT_OP.stop]: [S.AUDITING],
} as const satisfies Partial<Record<AuditOpType, readonly number[]>>
