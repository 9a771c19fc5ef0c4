// The simulator as a library, for tests and benchmarks that need realistic traffic.
export { runSimulation, type SimulationOptions, type SimulationSummary, type SimulationState } from './simulate.js'
export { HeraldProducer, type CallResult } from './producer.js'
export { loadTarget, findDevSecrets, type HeraldTarget } from './settings.js'
export * from './scenarios.js'
export { BackendReceiver, describeUpdate, type BackendReceiverOptions, type ReceivedUpdate } from './backend-receiver.js'
