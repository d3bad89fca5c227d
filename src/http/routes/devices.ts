import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { sendProblem } from '../problem.js';

export interface DeviceRouteDeps {
  /** removes the device's secret and closes its MQTT sessions at once */
  revoke: (binId: string) => Promise<{ revoked: boolean; disconnected: number }>;
}

/** Device secrets under /api/devices (issuing stays on the command line, which shows a secret once). */
export function deviceRoutes(deps: DeviceRouteDeps): FastifyPluginAsync {
  return async (app) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    r.delete(
      '/devices/:id/secret',
      {
        schema: {
          description: "Revokes a device's MQTT secret: it can no longer log in, and its open sessions are closed at once",
          params: z.object({ id: z.string().min(1).max(200) }),
        },
      },
      async (req, reply) => {
        const { revoked, disconnected } = await deps.revoke(req.params.id);
        if (!revoked) return sendProblem(reply, 404, `${req.params.id} has no secret`);
        return { bin_id: req.params.id, revoked: true, disconnected };
      },
    );
  };
}
