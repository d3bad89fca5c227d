export { Upstreams, type UpstreamsDeps } from './upstreams.js';
export { UpstreamClient, subscriptionFilter, type UpstreamClientOptions } from './upstream-client.js';
export { createUplinkHandler, type UplinkHandler, type UplinkHandlerDeps, type Verdict } from './uplink-handler.js';
export { readInstanceId, redactUrl, upstreamClientId } from './client-id.js';
