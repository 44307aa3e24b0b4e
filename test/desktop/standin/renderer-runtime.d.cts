/** Types of renderer-runtime.cjs (plain JavaScript, loaded by Node without a TypeScript loader). */
export declare function runtimeScript(config: { versions: object; platform: string }): string
export declare function preloadScript(preload: { file: string; source: string }): string
