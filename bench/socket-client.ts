/**
 * A web-host client for the benches, run as a process of its own
 * (`node --input-type=module -e SOCKET_CLIENT <ws url> <job json>`): queues one job and exits when
 * it is done.
 */
export const SOCKET_CLIENT = `
import WebSocket from 'ws'
const ws = new WebSocket(process.argv[1])
ws.on('open', () => ws.send(JSON.stringify({ type: 'call', id: 1, channel: 'queue:add', args: { jobs: [JSON.parse(process.argv[2])] } })))
let id
ws.on('message', (d) => {
  const m = JSON.parse(String(d))
  if (m.type === 'result' && m.id === 1) id = m.result.jobIds[0]
  if (m.type === 'error') { console.error(m.error.message); process.exit(1) }
  if (m.type === 'event' && m.event === 'queue:changed' && id && m.data.jobs.some((j) => j.id === id && j.state === 'done')) { ws.close(); process.exit(0) }
})
`
