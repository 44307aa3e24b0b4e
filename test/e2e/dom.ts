/**
 * The little of the browser's DOM that the page scripts of these tests touch. The test programme
 * is compiled without the DOM library (it is Node code), so functions passed to `page.evaluate`
 * reach the page's globals through these types: `(globalThis as unknown as PageGlobals)`. Types
 * only: page functions are serialised, so they cannot call anything imported here.
 */

export interface PageElement {
  readonly tagName: string
  readonly textContent: string | null
  readonly nextElementSibling: PageElement | null
  readonly clientWidth: number
  readonly clientHeight: number
  readonly width: number
  readonly height: number
  getAttribute(name: string): string | null
  querySelector(selector: string): PageElement | null
  querySelectorAll(selector: string): ArrayLike<PageElement>
  dispatchEvent(event: unknown): boolean
  getContext(kind: '2d'): PageCanvasContext | null
}

export interface PageCanvasContext {
  getImageData(x: number, y: number, w: number, h: number): { readonly data: ArrayLike<number> }
}

export interface PageMutationRecord {
  readonly addedNodes: ArrayLike<PageElement>
}

export interface PageWebSocket {
  readyState: number
  onopen: (() => void) | null
  onmessage: ((event: { readonly data: unknown }) => void) | null
  onclose: ((event: { readonly code: number }) => void) | null
  onerror: (() => void) | null
  send(data: string): void
  close(): void
}

export interface PageDataTransfer {
  readonly items: { add(file: unknown): unknown }
}

export interface PageGlobals {
  readonly document: PageElement & {
    readonly body: PageElement
    readonly documentElement: PageElement
  }
  readonly location: { readonly host: string; readonly search: string }
  readonly devicePixelRatio: number
  readonly MutationObserver: new (callback: (records: ArrayLike<PageMutationRecord>) => void) => {
    observe(
      target: PageElement,
      options: { childList: boolean; subtree: boolean; characterData?: boolean },
    ): void
  }
  readonly WebSocket: new (url: string) => PageWebSocket
  readonly DataTransfer: new () => PageDataTransfer
  readonly File: new (parts: unknown[], name: string, options?: { type?: string }) => unknown
  readonly DragEvent: new (
    type: string,
    init: { dataTransfer: PageDataTransfer; bubbles: boolean; cancelable: boolean },
  ) => unknown
  readonly Uint8Array: Uint8ArrayConstructor
  readonly getComputedStyle: (element: PageElement) => { getPropertyValue(name: string): string }
  readonly performance: { now(): number }
  /** what the tests leave on the page */
  e2e?: Record<string, unknown>
}
