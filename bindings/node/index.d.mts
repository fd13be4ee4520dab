// Types of the ESM entry point (index.mjs): the same declarations as index.d.ts.
export * from './index.js'
import * as provisio from './index.js'
export default provisio
