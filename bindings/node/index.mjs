// ESM entry point: the same objects as the CommonJS one (index.js).
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const provisio = require('./index.js')

export const {
  setLogger,
  Providers,
  Dns,
  Storage,
  Compute,
  Ci,
  Secrets,
  Database,
  Repo,
  Mail,
  MemoryCloud,
  Faults,
  Blueprint,
  Engine,
  Secret,
  ProvisioError,
  NotFoundError,
  AlreadyExistsError,
  ConflictError,
  InvalidInputError,
  PermissionDeniedError,
  UnauthenticatedError,
  RateLimitedError,
  TransientError,
  TimeoutError,
  ProtectedError,
  UnsupportedError,
  CancelledError,
  UnexpectedError,
  ERROR_KINDS,
  REDACTED,
} = provisio

export default provisio
