export type { ReportView, Open311Source, Open311CreateArgs, Open311Error } from './types.js';
export { open311Error } from './types.js';
export { SERVICES, DEFAULT_SERVICE_CODE, type Open311Service } from './services.js';
export { toServiceRequest, publicDescription, toOpen311Status, fromOpen311Status, w3cDateTime, type ServiceRequest } from './service-request.js';
export { requestsQuerySchema, planRequestsQuery, findReports, parseW3cDateTime, MAX_SPAN_MS, MAX_REQUESTS, type RequestsQuery, type RequestsPlan } from './requests-query.js';
export { parseForm, postRequestSchema, toCreateArgs, type PostRequestBody } from './post-request.js';
