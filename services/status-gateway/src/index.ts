export { default as gatewayApp, type GatewayAppOptions } from './app.js'
export { loadGatewayConfig, GatewayEnv, type GatewayConfig } from './config.js'
