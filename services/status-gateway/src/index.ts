export { default as gatewayApp, type GatewayAppOptions } from './app.js'
export { loadGatewayConfig, type GatewayConfig } from './config.js'
