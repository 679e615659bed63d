import { InvalidAnswerError } from './errors.ts'

const TRUE_WORDS = ['yes', 'true', '1', 'y', 't'] as const
const FALSE_WORDS = ['no', 'false', '0', 'n', 'f'] as const

/**
 * Parses an auditor's answer exactly as the original RWA bot: trimmed, any case;
 * `yes true 1 y t` mean true, `no false 0 n f` mean false.
 * @throws InvalidAnswerError listing the accepted words for anything else.
 */
export function parseAnswer(text: string): boolean {
  const word = text.trim().toLowerCase()
  if ((TRUE_WORDS as readonly string[]).includes(word)) return true
  if ((FALSE_WORDS as readonly string[]).includes(word)) return false
  throw new InvalidAnswerError(
    `"${text.trim()}" is not an answer; reply with one of ${TRUE_WORDS.join(', ')} for yes, or ${FALSE_WORDS.join(', ')} for no.`,
  )
}
