import { NodeRequestError } from '../../../cli/client.ts'

// A small server-sent events reader for `rwa doc watch` (node:http: fetch costs a command more
// to load than the rest of it).

/** Most characters of one event before the stream is given up as broken. */
const MAX_EVENT = 16 * 1024 * 1024

/**
 * Reads the SSE stream at `url`, calling `onEvent` with each event's name and parsed JSON data;
 * resolves when the node ends the stream.
 */
export async function followEvents(
  url: URL,
  onEvent: (event: string, data: unknown) => void,
): Promise<void> {
  const { request } =
    url.protocol === 'https:' ? await import('node:https') : await import('node:http')
  await new Promise<void>((resolve, reject) => {
    const req = request(url, { headers: { accept: 'text/event-stream' } }, (res) => {
      res.setEncoding('utf8')
      if (res.statusCode !== 200) {
        let text = ''
        res.on('data', (chunk: string) => {
          text += chunk
        })
        res.once('end', () => reject(refusal(res.statusCode ?? 0, text)))
        return
      }
      let buffer = ''
      let event = 'message'
      let data: string[] = []
      res.on('data', (chunk: string) => {
        buffer += chunk
        if (buffer.length > MAX_EVENT) {
          req.destroy()
          return reject(
            new NodeRequestError('The node sent an event too large to read.', 0, 'BadResponse'),
          )
        }
        for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
          const line = buffer.slice(0, nl).replace(/\r$/, '')
          buffer = buffer.slice(nl + 1)
          if (line === '') {
            if (data.length > 0) dispatch(event, data.join('\n'))
            event = 'message'
            data = []
          } else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''))
          else if (line.startsWith('event:')) event = line.slice(6).trim()
          // Comments (": keep-alive") and other fields are ignored.
        }
      })
      res.once('end', () => resolve())
      res.once('error', reject)
    })
    req.once('error', (cause) =>
      reject(
        new NodeRequestError(
          `No node answers at ${url.origin} (${(cause as Error).message}); start one with "rwa start", or pass --node <url>.`,
          0,
          'NodeUnreachable',
        ),
      ),
    )
    req.end()
    const dispatch = (name: string, text: string) => {
      try {
        onEvent(name, JSON.parse(text))
      } catch (error) {
        req.destroy()
        reject(error)
      }
    }
  })
}

function refusal(status: number, text: string): NodeRequestError {
  let body: { error?: string; message?: string } = {}
  try {
    body = JSON.parse(text)
  } catch {
    // not JSON: the status says enough
  }
  return new NodeRequestError(body.message ?? `HTTP ${status}`, status, body.error ?? 'HttpError')
}
