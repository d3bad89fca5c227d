export { buildHttp, type HttpDeps, type Readiness } from './server.js';
