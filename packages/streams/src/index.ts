export * from './layout.js'
export * from './redis.js'
export * from './publish.js'
export * from './read.js'
