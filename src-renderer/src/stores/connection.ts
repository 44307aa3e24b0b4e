import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { connectionStatus, hasHostAccess, onConnectionStatus } from '../api'
import type { ConnectionState, ConnectionStatus } from '../ws-bridge'

/** Banner text per state; `null` hides the banner. */
const BANNER = {
  connecting: 'Connecting to the studio host…',
  open: null,
  reconnecting: 'Lost the connection to the studio host. Reconnecting…',
  closed: 'Not connected to the studio host.',
  refused:
    'The studio host does not accept the token in this address (it changes every time the host starts). Open the address it printed last.',
} as const satisfies Record<ConnectionState, string | null>

/** The link to the host (always open in Electron; the WebSocket's state on the web host). */
export const useConnectionStore = defineStore('connection', () => {
  const status = ref<ConnectionStatus>(connectionStatus())
  /** bumps on every reconnect, so stores know to take a fresh snapshot */
  const reconnects = ref(0)

  onConnectionStatus((next) => {
    if (next.state === 'open' && next.wasOpen) reconnects.value += 1
    status.value = next
  })

  const banner = computed(() => {
    if (!hasHostAccess()) {
      return 'This page has no access token. Open the full address (with ?token=…) that `npm run web` printed.'
    }
    const text = BANNER[status.value.state]
    if (text && status.value.retryInMs !== undefined) {
      return `${text} (next try in ${Math.ceil(status.value.retryInMs / 1000)} s)`
    }
    return text
  })

  return { status, reconnects, banner }
})
