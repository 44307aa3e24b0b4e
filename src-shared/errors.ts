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

/** A graph's inputs or outputs disagree with the manifest or with the `var-onnx/1` contract. */
export class GraphContractError extends ModelLoadError {
  readonly issues: readonly ManifestIssue[]

  constructor(message: string, issues: readonly ManifestIssue[] = [], options?: ErrorOptions) {
    super(message, options)
    this.name = 'GraphContractError'
    this.issues = issues
  }
}

/** One execution provider that was tried while opening a model, and why it was not used. */
export interface ProviderAttempt {
  readonly provider: string
  readonly ok: boolean
  readonly reason?: string
}

/** No execution provider could open the model, or an explicitly chosen one failed without fallback. */
export class ProviderError extends StudioError {
  readonly attempts: readonly ProviderAttempt[]

  constructor(message: string, attempts: readonly ProviderAttempt[] = [], options?: ErrorOptions) {
    super(message, options)
    this.name = 'ProviderError'
    this.attempts = attempts
  }
}

/** A graph failed while running; the message lists every input's type and dims. */
export class InferenceError extends StudioError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'InferenceError'
  }
}

/** A request names an unknown value or a knob outside its range; `field` says which one. */
export class InvalidRequestError extends StudioError {
  readonly field: string

  constructor(field: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'InvalidRequestError'
    this.field = field
  }
}

/** A message between a client and the inference host does not follow the protocol. */
export class ProtocolError extends StudioError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'ProtocolError'
  }
}

/** The inference host exited while requests were pending; it is restarted for the next call. */
export class HostCrashedError extends StudioError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'HostCrashedError'
  }
}
