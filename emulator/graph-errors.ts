import { randomBytes } from 'node:crypto';

/** The body Meta's Graph API answers an error with (Cloud API error response syntax). */
export interface GraphErrorBody {
  error: {
    message: string;
    type: string;
    code: number;
    error_subcode?: number;
    error_data?: { messaging_product: 'whatsapp'; details: string };
    fbtrace_id: string;
  };
}

interface CatalogEntry {
  httpStatus: number;
  title: string;
  details: string;
  type?: string;
}

/** Codes binbridge meets, with the HTTP status, title and details Meta gives them. */
export const ERROR_CATALOG: Readonly<Record<number, CatalogEntry>> = {
  1: { httpStatus: 500, title: 'An unknown error occurred', details: 'Invalid request or possible server error.' },
  2: { httpStatus: 503, title: 'Service temporarily unavailable', details: 'Temporary due to downtime or due to being overloaded.' },
  4: { httpStatus: 429, title: 'Application request limit reached', details: 'The app has reached its API call rate limit.' },
  100: { httpStatus: 400, title: 'Invalid parameter', details: 'Invalid parameter' },
  2500: { httpStatus: 400, title: 'Unknown path components', details: 'The path is not part of the Graph API.' },
  190: { httpStatus: 401, title: 'Invalid OAuth access token - Cannot parse access token', details: 'Invalid OAuth access token' },
  368: { httpStatus: 400, title: 'Temporarily blocked for policies violations', details: 'The WhatsApp Business Account associated with the app has been restricted or disabled for violating a platform policy.' },
  80007: { httpStatus: 429, title: 'Rate limit issues', details: 'The WhatsApp Business Account has reached its rate limit.' },
  130429: { httpStatus: 400, title: 'Rate limit hit', details: 'Message failed to send because there were too many messages sent from this phone number in a short period of time.' },
  131000: { httpStatus: 500, title: 'Something went wrong', details: 'Message failed to send due to an unknown error.' },
  131008: { httpStatus: 400, title: 'Required parameter is missing', details: 'The request is missing a required parameter.' },
  131009: { httpStatus: 400, title: 'Parameter value is not valid', details: 'One or more parameter values are invalid.' },
  131026: { httpStatus: 400, title: 'Message undeliverable', details: 'Message Undeliverable.' },
  131047: { httpStatus: 400, title: 'Re-engagement message', details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.' },
  131048: { httpStatus: 400, title: 'Spam rate limit hit', details: 'Message failed to send because there are restrictions on how many messages can be sent from this phone number.' },
  131056: { httpStatus: 400, title: '(Business Account, Consumer Account) pair rate limit hit', details: 'Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.' },
  131057: { httpStatus: 400, title: 'Account in maintenance mode', details: 'Business Account is in maintenance mode.' },
  132000: { httpStatus: 400, title: 'Number of parameters does not match the expected number of params', details: 'The number of variable parameter values does not match the number of parameters the template expects.' },
  132001: { httpStatus: 400, title: 'Template name does not exist in the translation', details: 'The template does not exist in the specified language or has not been approved.' },
  132018: { httpStatus: 400, title: 'There was an issue with the parameters in your template.', details: 'Param text cannot have new-line/tab characters or more than 4 consecutive spaces.' },
};

export function fbtraceId(): string {
  return randomBytes(17).toString('base64').replace(/[+/=]/g, '').slice(0, 23);
}

/** A refusal on its way to the client: the HTTP status, Meta's body and optional headers. */
export class GraphError extends Error {
  constructor(
    readonly status: number,
    readonly body: GraphErrorBody,
    readonly headers: Record<string, string> = {},
  ) {
    super(body.error.message);
  }
}

export interface GraphErrorInit {
  status?: number;
  details?: string;
  /** Replaces the `(#code) title` message. */
  message?: string;
  type?: string;
  subcode?: number;
  headers?: Record<string, string>;
}

/** Meta's shape for an error code: `(#code) title`, OAuthException, `error_data.details`, a trace id. */
export function graphError(code: number, init: GraphErrorInit = {}): GraphError {
  const entry = ERROR_CATALOG[code];
  const status = init.status ?? entry?.httpStatus ?? 400;
  const body: GraphErrorBody = {
    error: {
      message: init.message ?? `(#${code}) ${entry?.title ?? 'Error'}`,
      type: init.type ?? entry?.type ?? 'OAuthException',
      code,
      ...(init.subcode === undefined ? {} : { error_subcode: init.subcode }),
      error_data: { messaging_product: 'whatsapp', details: init.details ?? entry?.details ?? 'Error' },
      fbtrace_id: fbtraceId(),
    },
  };
  return new GraphError(status, body, init.headers);
}

/** Graph answers an unknown object id like this, whatever the path. */
export function unknownObject(id: string, method: 'get' | 'post' | 'delete'): GraphError {
  return graphError(100, {
    message: `Unsupported ${method} request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`,
    type: 'GraphMethodException',
    subcode: 33,
    details: `Object with ID '${id}' does not exist`,
  });
}

export function invalidToken(): GraphError {
  return graphError(190, {
    message: 'Invalid OAuth access token - Cannot parse access token',
    details: 'The access token is missing, malformed or not valid for this app.',
    headers: { 'www-authenticate': 'OAuth "Facebook Platform" "invalid_token" "Invalid OAuth access token - Cannot parse access token"' },
  });
}
