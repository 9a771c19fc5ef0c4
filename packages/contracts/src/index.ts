// Every wire shape of Herald: provider callbacks, internal bodies, stream events, gateway answers, errors.
export * from './providers.js'
export * from './orders.js'
export * from './registrations.js'
export * from './events.js'
export * from './sse.js'
export * from './errors.js'
export * from './stats.js'
export * from './validators.js'
