export { buildHttp, type HttpDeps, type Readiness } from './server.js';
export { binRoutes } from './routes/bins.js';
export { deviceRoutes, type DeviceRouteDeps } from './routes/devices.js';
export { messageRoutes, type MessageRouteDeps } from './routes/messages.js';
export { opsRoutes, dispatchView, type OpsRouteDeps } from './routes/ops.js';
export { reportRoutes, reportView } from './routes/reports.js';
export { Access, isLoopback } from './auth.js';
export { API_TOKEN_FILE, loadApiToken, pageAddress, type ApiToken } from './api-token.js';
