/**
 * Named errors that cross process boundaries as `{ name, message, stack }`. The name is set
 * explicitly so it survives bundling and structured cloning; `cause` keeps the underlying error.
 */
export class StudioError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'StudioError'
  }
}

/** One problem in a manifest, located by a dotted path such as `graphs.var_step.file` or `begin[2]`. */
export interface ManifestIssue {
  readonly path: string
  readonly message: string
}

/** A model folder's manifest.json is missing, is not JSON, or does not match `var-onnx/1`. */
export class ManifestError extends StudioError {
  readonly issues: readonly ManifestIssue[]

  constructor(message: string, issues: readonly ManifestIssue[] = [], options?: ErrorOptions) {
    super(message, options)
    this.name = 'ManifestError'
    this.issues = issues
  }
}

/** A model's files are missing, damaged, or could not be opened by the runtime. */
export class ModelLoadError extends StudioError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'ModelLoadError'
  }
}

/** The request was cancelled by the user or superseded; not a failure to report. */
export class CancelledError extends StudioError {
  constructor(message = 'Cancelled', options?: ErrorOptions) {
    super(message, options)
    this.name = 'CancelledError'
  }
}
