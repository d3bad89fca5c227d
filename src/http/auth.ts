import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sendProblem } from './problem.js';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** 127.0.0.0/8, ::1, and 127.x written IPv4-mapped (::ffff:127.0.0.1, as a dual-stack listener reports it). */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.toLowerCase();
  if (a === '::1' || a === '0:0:0:0:0:0:0:1') return true;
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

export interface AccessOptions {
  /** the bearer token; '' lets every request in (a route tried on its own in a test) */
  token: string;
  /** the token is binbridge's generated one: requests from this machine may use /api/* without it, as before there was one */
  loopbackOpen: boolean;
  /** http.trust_proxy is set: Fastify's req.ip is the client a trusted proxy forwarded for */
  trustProxy: boolean;
}

/**
 * Who may use the admin surface. /api/* (the live event stream included): the token, except from this machine when
 * the token was generated (an explicit http.api_token is asked of everyone). /metrics and /docs: the token, except
 * from this machine. The page's files, /healthz, /readyz, Open311 and the WhatsApp webhook are not behind it.
 */
export class Access {
  private readonly expected: Buffer;

  constructor(readonly opts: AccessOptions) {
    this.expected = digest(opts.token);
  }

  /** From this machine: a loopback peer that is not a proxy relaying someone else (X-Forwarded-For is trusted only with http.trust_proxy). */
  isLocal(req: FastifyRequest): boolean {
    if (this.opts.trustProxy) return isLoopback(req.ip);
    // a reverse proxy on this machine relays other machines' requests from a loopback address
    if (req.headers['x-forwarded-for'] !== undefined || req.headers.forwarded !== undefined || req.headers['x-real-ip'] !== undefined) return false;
    return isLoopback(req.socket.remoteAddress);
  }

  /** `Authorization: Bearer <token>`, or `queryToken` (the event stream's ?token=: EventSource cannot set headers) */
  hasToken(req: FastifyRequest, queryToken = ''): boolean {
    const header = req.headers.authorization ?? '';
    const given = header.startsWith('Bearer ') ? header.slice(7) : queryToken;
    return timingSafeEqual(digest(given), this.expected);
  }

  allowsApi(req: FastifyRequest, queryToken?: string): boolean {
    return !this.opts.token || (this.opts.loopbackOpen && this.isLocal(req)) || this.hasToken(req, queryToken);
  }

  allowsAdmin(req: FastifyRequest): boolean {
    return !this.opts.token || this.isLocal(req) || this.hasToken(req);
  }
}

/** The one refusal for a request without the token. */
export function refuse(reply: FastifyReply): FastifyReply {
  return sendProblem(reply.header('www-authenticate', 'Bearer'), 401, TOKEN_REQUIRED);
}

const TOKEN_REQUIRED = 'Authorization: Bearer <token> required: http.api_token, or the token binbridge generated into <data_dir>/api.token';

/** onRequest hook for /api/* */
export function apiAuth(access: Access) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!access.allowsApi(req)) await refuse(reply);
  };
}

/** onRequest hook for /metrics and /docs */
export function adminAuth(access: Access) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!access.allowsAdmin(req)) await refuse(reply);
  };
}
