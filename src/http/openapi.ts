import { jsonSchemaTransform } from 'fastify-type-provider-zod';

/** The document's sections, in the order /docs shows them. */
export const API_TAGS = [
  { name: 'bins', description: 'The registry of bins with their live state; bins-file imports (CSV, GeoJSON, NGSI-LD)' },
  { name: 'devices', description: "Devices' MQTT secrets" },
  { name: 'alerts', description: 'Alerts raised by the rules (full, battery, fire, offline, …)' },
  { name: 'dispatches', description: 'Collection jobs sent to crews over WhatsApp' },
  { name: 'zones and crews', description: 'Zones of the city and the crews that serve them' },
  { name: 'reports', description: "Residents' reports (WhatsApp, Open311) and their photos" },
  { name: 'notices', description: "Notices to residents subscribed to a zone by chat; subscription counts and consent records" },
  { name: 'whatsapp', description: 'Messages sent and received; the sandbox that stands in for phones' },
  { name: 'live page', description: "The live page's settings, a bin's history and the event stream (Server-Sent Events)" },
  { name: 'open311', description: 'Open311 GeoReport v2: services and service requests, for other city systems' },
  { name: 'webhooks', description: "Meta's WhatsApp webhook (handshake and deliveries, checked by signature)" },
  { name: 'operations', description: 'Liveness, readiness and Prometheus metrics' },
] as const;

type Tag = (typeof API_TAGS)[number]['name'];

/** A route's section, from its path (a new route under a known prefix is placed without being listed). */
export function tagOf(url: string): Tag {
  const rules: [RegExp, Tag][] = [
    [/^\/api\/devices\b/, 'devices'],
    [/^\/api\/bins\/[^/]+\/readings$/, 'live page'],
    [/^\/api\/bins\b/, 'bins'],
    [/^\/api\/alerts\b/, 'alerts'],
    [/^\/api\/dispatches\b/, 'dispatches'],
    [/^\/api\/(zones|crews)\b/, 'zones and crews'],
    [/^\/api\/reports\b/, 'reports'],
    [/^\/api\/(notices|subscriptions)\b/, 'notices'],
    [/^\/api\/(whatsapp|sandbox)\b/, 'whatsapp'],
    [/^\/api\/(events|page)\b/, 'live page'],
    [/^\/open311\//, 'open311'],
    [/^\/webhooks\//, 'webhooks'],
  ];
  return rules.find(([re]) => re.test(url))?.[1] ?? 'operations';
}

/** Summaries of the routes whose schema has none, by method and path as /docs shows them. */
const SUMMARIES: Record<string, string> = {
  'GET /healthz': 'Liveness: 200 while the process serves HTTP',
  'GET /readyz': 'Readiness: 200 when the broker listens, the store is open (and PostgreSQL answers, with store.url), the spool is not full and the journal records readings; 503 with the failing checks. Also this instance\'s id and who holds the lease for timed work',
  'GET /metrics': 'Prometheus metrics (text exposition format)',
  'GET /webhooks/whatsapp': "Meta's webhook handshake: echoes hub.challenge when hub.verify_token is whatsapp.verify_token",
  'POST /webhooks/whatsapp': 'WhatsApp deliveries (messages, statuses), signed with X-Hub-Signature-256; stored before the 200',
  'GET /open311/v2/services.json': 'The service list: one service per bin kind and the general report',
  'GET /open311/v2/services/{file}': "A service's definition: {file} is its service_code and .json",
  'GET /open311/v2/requests.json': 'Service requests (reports), newest first, filtered by ids, service, status and time',
  'POST /open311/v2/requests.json': 'Files a service request (api_key required when open311.api_keys is set)',
  'GET /open311/v2/requests/{file}': 'One service request: {file} is its service_request_id and .json',
  'GET /api/bins': 'Bins with their registry fields and live state, by zone and kind',
  'GET /api/bins/{id}': 'One bin with its live state (the id in any case)',
  'PUT /api/bins/{id}': 'Creates or replaces a bin',
  'POST /api/bins/import': 'Imports a bins file (text/csv or GeoJSON); every bad row is named, nothing is imported then',
  'DELETE /api/devices/{id}/secret': "Revokes a device's MQTT secret and closes its sessions",
  'GET /api/bins.ngsi-ld.json': 'The bins as NGSI-LD WasteContainer entities (FIWARE Smart Data Models)',
  'POST /api/bins/import-ngsi-ld': 'Imports bins from NGSI-LD WasteContainer entities',
  'GET /api/alerts': 'Alerts, newest first, by status, type and bin',
  'GET /api/dispatches': 'Collection jobs, newest first, by status and bin',
  'GET /api/dispatches/{id}': 'One job with its bins, crew and history',
  'POST /api/dispatches/{id}/cancel': 'Cancels a job (the crew is told)',
  'GET /api/zones': 'The zones',
  'PUT /api/zones/{id}': 'Creates or replaces a zone',
  'DELETE /api/zones/{id}': 'Deletes a zone',
  'GET /api/crews': 'The crews (phone numbers masked)',
  'PUT /api/crews/{id}': 'Creates or replaces a crew; its zones must exist',
  'DELETE /api/crews/{id}': 'Deletes a crew',
  'GET /api/reports': "Residents' reports, newest first, by status, bin and channel",
  'GET /api/reports/{id}': 'One report',
  'GET /api/reports/{id}/photo': "A report's photo",
  'POST /api/notices': 'Sends (or schedules) a notice to the subscribers of zones, of a radius or of the city; ?dry_run=true counts them',
  'GET /api/notices': 'Notices, newest first, with their figures',
  'GET /api/notices/{id}': 'One notice with its figures (targeted, sent, delivered, read, failed, replied, unsubscribed)',
  'POST /api/notices/{id}/cancel': 'Cancels a scheduled notice, or the rest of one being sent',
  'GET /api/subscriptions': "Residents' active subscriptions, counted by zone and language (never numbers)",
  'GET /api/subscriptions/consent.csv': 'Every consent record with pseudonyms, for an audit',
  'GET /api/whatsapp/messages': 'The newest WhatsApp messages sent (in sandbox mode: sent and received)',
  'GET /api/sandbox': 'Whether the WhatsApp sandbox is on (whatsapp.mode: sandbox)',
  'POST /api/sandbox/inbound': 'Sandbox mode: a message as if a phone sent it (text, button, list reply or location)',
  'GET /api/events':
    'The live page\'s event stream (Server-Sent Events: reading, alert, dispatch, report, message); the token may come as ?token= since EventSource sends no headers',
};

interface RouteSchema {
  summary?: string;
  tags?: string[];
  security?: unknown[];
  params?: unknown;
  querystring?: unknown;
  body?: unknown;
  response?: Record<string, unknown>;
  hide?: boolean;
}

const error = (description: string) => ({ type: 'object', description });

/** The error answers a route gives, by status: what the admin API, Open311 and the webhook answer besides success. */
function errorsOf(method: string, path: string, schema: RouteSchema): Record<string, ReturnType<typeof error>> {
  const out: Record<string, ReturnType<typeof error>> = {};
  const hasBody = method === 'POST' || method === 'PUT';
  if (path.startsWith('/api/')) {
    out['401'] = error('No token, or not this one: Authorization: Bearer <token> (http.api_token, or <data_dir>/api.token; not asked of this machine unless http.api_token is set)');
  }
  if (schema.params || schema.querystring || hasBody) out['400'] = error('A parameter or the body is not valid; the answer names the field and what is expected');
  if (/\{\w+\}/.test(path)) out['404'] = error(`No such ${path.includes('/open311/') ? 'service or request' : path.split('/')[2]!.replace(/s$/, '')} (or nothing there)`);
  if (hasBody) out['413'] = error('The body is larger than the route takes');
  if (method === 'POST' && path === '/open311/v2/requests.json') out['403'] = error('api_key missing or not one of open311.api_keys');
  if (path === '/webhooks/whatsapp') {
    if (method === 'GET') out['403'] = error('hub.verify_token is not whatsapp.verify_token');
    else {
      out['401'] = error('X-Hub-Signature-256 missing or wrong (whatsapp.app_secret)');
      out['503'] = error('The delivery could not be stored now (the database is unreachable); Meta delivers it again');
    }
  }
  if (path === '/metrics') out['401'] = error('From another machine without the token');
  if (path === '/readyz') out['503'] = error('Not ready: the failing checks');
  return out;
}

/** The zod transform, then each route's tag, summary, security and error answers. */
export const documentRoutes: typeof jsonSchemaTransform = (input) => {
  const out = jsonSchemaTransform(input);
  const schema = (out.schema ?? {}) as RouteSchema;
  out.schema = schema as typeof out.schema;
  if (schema.hide) return out;
  const path = out.url.replace(/:(\w+)/g, '{$1}');
  const method = [input.route.method].flat()[0]!.toUpperCase();
  schema.tags ??= [tagOf(path)];
  schema.summary ??= SUMMARIES[`${method} ${path}`];
  if (path.startsWith('/api/') || path === '/metrics') schema.security ??= [{ bearer: [] }];
  schema.response = { ...errorsOf(method, path, schema), ...schema.response };
  if (path === '/api/events') {
    schema.response['200'] ??= {
      description: 'A stream of `event: <type>` / `data: <JSON>` records, a comment line every 15 s; it stays open',
      content: { 'text/event-stream': { schema: { type: 'string' } } },
    };
  }
  return out;
};
