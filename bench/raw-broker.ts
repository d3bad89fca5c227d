// A bare aedes broker (no hooks, in-memory persistence), for bench/ingest.ts --compare-raw: what the broker alone
// carries on this machine, so that binbridge's figures have a measure to be read against.
//   node --import tsx bench/raw-broker.ts --port 1883 [--host 127.0.0.1]
// Prints "listening <port>" on stdout once it accepts connections; stops on SIGTERM/SIGINT.
import net from 'node:net';
import { parseArgs } from 'node:util';
import { Aedes } from 'aedes';

const { values: opts } = parseArgs({ options: { port: { type: 'string' }, host: { type: 'string', default: '127.0.0.1' } } });
const port = Number(opts.port);
if (!Number.isInteger(port) || port < 1) {
  process.stderr.write(`raw-broker: --port must be a port (got ${opts.port})\n`);
  process.exit(2);
}
const broker = await Aedes.createBroker();
const server = net.createServer((socket) => broker.handle(socket));
server.listen(port, opts.host, () => process.stdout.write(`listening ${port}\n`));
const stop = (): void => {
  server.close();
  broker.close(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
