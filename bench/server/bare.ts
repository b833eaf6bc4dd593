/**
 * The floor of HTTP for the classify ceiling (bench/classify-ceiling.ts): node:http that reads
 * each POST body whole and answers a fixed top-5 JSON, nothing else. Its CPU per request is what
 * receiving a JPEG and answering costs any Node server before it decodes a pixel.
 *
 * Usage: node --import tsx bench/server/bare.ts --port 0
 * Prints `listening http://127.0.0.1:PORT` on stdout once it accepts requests.
 */
import http from 'node:http';
import { parseArgs } from 'node:util';

const ANSWER = JSON.stringify({ 'class 0': 0.5, 'class 1': 0.2, 'class 2': 0.1, 'class 3': 0.1, 'class 4': 0.05 });

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' } } });
const server = http.createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    Buffer.concat(chunks);
    response.writeHead(200, { 'content-type': 'application/json' }).end(ANSWER);
  });
});
server.listen(Number(values.port), '127.0.0.1', () => {
  const address = server.address();
  if (address && typeof address === 'object') console.log(`listening http://127.0.0.1:${address.port}`);
});
const stop = () => server.close(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
