// Typed lint for every layer, plus the import boundaries of DESIGN section 2: which folder may
// import `electron`, `node:*` and `onnxruntime-node`.
import { builtinModules } from 'node:module'
import eslint from '@eslint/js'
import prettier from 'eslint-config-prettier'
import pluginVue from 'eslint-plugin-vue'
import globals from 'globals'
import { defineConfig } from 'eslint/config'
import tseslint from 'typescript-eslint'

const nodeBuiltins = {
  regex: `^(node:.*|(${builtinModules.map((m) => m.replace('/', '\\/')).join('|')})(\\/.*)?)$`,
  message: 'Node built-ins are not available here: keep this code runtime-neutral or move it to src-main.',
}
const electron = {
  regex: '^electron(\\/.*)?$',
  message:
    'Only src-main/electron/** may import electron (the inference host, web host and CLI run without it).',
}
const ort = {
  regex: '^onnxruntime-(node|common|web)(\\/.*)?$',
  message: 'onnxruntime-node is owned by one adapter module: import it only under src-main/host/ort/**.',
}
const nativeOrMainOnly = {
  regex: '^(sharp|electron-store|electron-log)(\\/.*)?$',
  message: 'This package needs Node or Electron: use it from src-main.',
}
const uiOnly = {
  regex: '^(vue|pinia|echarts|vue-echarts)(\\/.*)?$',
  message: 'UI libraries belong in src-renderer.',
}
const intoMain = {
  regex: '(^|\\/)src-main(\\/|$)',
  message: 'Only the renderer may reach into src-main, and only for the preload API type.',
}
const intoRenderer = { regex: '(^|\\/)src-renderer(\\/|$)', message: 'Nothing imports the renderer.' }
const intoTestsOrModels = {
  regex: '(^|\\/)(test|models)(\\/|$)',
  message: 'Application code does not import tests or models/.',
}

/**
 * `@typescript-eslint/no-restricted-imports` with the given patterns (a later config object
 * replaces an earlier one for the files it matches).
 * @param {...{ regex: string, message: string, allowTypeImports?: boolean }} patterns
 * @returns {import('eslint').Linter.RulesRecord}
 */
const restrict = (...patterns) => ({ '@typescript-eslint/no-restricted-imports': ['error', { patterns }] })

export default defineConfig(
  {
    ignores: ['node_modules/', 'out/', 'dist/', 'coverage/', 'test-results/', 'models/', 'build/', 'shared/'],
  },
  eslint.configs.recommended,
  tseslint.configs.strictTypeChecked,
  pluginVue.configs['flat/recommended'],
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
        extraFileExtensions: ['.vue'],
        parser: tseslint.parser,
      },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
    },
  },
  {
    files: ['**/*.js'],
    languageOptions: { globals: globals.node },
  },
  {
    // The desktop harness's `electron` stand-in: plain JavaScript that Node loads as it is (the
    // built app must run without a TypeScript loader), partly sent into the page.
    files: ['test/desktop/standin/**/*.{cjs,mjs}'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },

  // Import boundaries. Default for tooling files: no electron, no onnxruntime-node.
  { files: ['**/*.{ts,js,vue}'], rules: restrict(electron, ort) },
  {
    files: ['src-shared/**/*.ts'],
    rules: restrict(
      nodeBuiltins,
      electron,
      ort,
      nativeOrMainOnly,
      uiOnly,
      intoMain,
      intoRenderer,
      intoTestsOrModels,
    ),
  },
  {
    files: ['src-main/**/*.ts'],
    ignores: ['src-main/electron/**', 'src-main/host/ort/**'],
    rules: restrict(electron, ort, uiOnly, intoRenderer, intoTestsOrModels),
  },
  {
    files: ['src-main/electron/**/*.ts'],
    ignores: ['src-main/electron/preload.ts'],
    rules: restrict(ort, uiOnly, intoRenderer, intoTestsOrModels),
  },
  {
    // Sandboxed preload: only electron's renderer modules and shared code.
    files: ['src-main/electron/preload.ts'],
    rules: restrict(nodeBuiltins, ort, nativeOrMainOnly, uiOnly, intoRenderer, intoTestsOrModels),
  },
  {
    files: ['src-main/host/ort/**/*.ts'],
    rules: restrict(electron, uiOnly, intoRenderer, intoTestsOrModels),
  },
  {
    // The preload type import brings Electron's (and so Node's) typings into the renderer's
    // program, so the compiler alone would accept these globals here.
    files: ['src-renderer/**/*.{ts,vue}'],
    rules: {
      'no-restricted-globals': [
        'error',
        ...[
          'process',
          'Buffer',
          'global',
          'require',
          'module',
          '__dirname',
          '__filename',
          'setImmediate',
        ].map((name) => ({ name, message: 'Node globals do not exist in the sandboxed renderer.' })),
      ],
    },
  },
  {
    files: ['src-renderer/**/*.{ts,vue}'],
    rules: restrict(
      nodeBuiltins,
      electron,
      ort,
      nativeOrMainOnly,
      intoTestsOrModels,
      {
        regex: '(^|\\/)src-main\\/(?!electron\\/preload$)',
        message: 'The renderer reaches src-main only through the preload API type (src-renderer/src/api.ts).',
      },
      {
        regex: '(^|\\/)src-main\\/electron\\/preload$',
        allowTypeImports: true,
        message: 'Import the preload API as a type only (`import type { StudioApi }`).',
      },
    ),
  },
  { files: ['test/**/*.ts'], rules: { '@typescript-eslint/no-restricted-imports': 'off' } },
  {
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  prettier,
)
