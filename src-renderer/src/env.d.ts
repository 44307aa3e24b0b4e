/// <reference types="vite/client" />

// Lets tools without Vue support (the type-aware linter) see `.vue` imports; vue-tsc checks the real files.
declare module '*.vue' {
  import type { DefineComponent } from 'vue'
  const component: DefineComponent
  export default component
}
