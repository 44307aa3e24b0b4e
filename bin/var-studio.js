#!/usr/bin/env node
// Launcher for the `var-studio` CLI: registers tsx so the TypeScript sources run without a build.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../src-main/cli/main.ts')
process.exitCode = await main(process.argv.slice(2))
