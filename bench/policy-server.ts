// Mandate's decision point behind one HTTP hop, for the policy benchmark's comparison
// with Cerbos (which is always out of process): a child process that loads the policy
// files it is given and answers `POST /decide` (an AuthorizationRequest as JSON) with
// `{ decision, policies }`. Nothing else — no authentication, no audit: the same work
// a Cerbos PDP does for a check.
//
//   node bench/policy-server.ts <sources.json> <port>
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { DecisionPoint, type AuthorizationRequest } from '../src/policy/decision-point.ts';
import { PolicySet, splitPolicies, type PolicySource } from '../src/policy/policy-set.ts';

const [sourcesFile, port] = process.argv.slice(2);
if (!sourcesFile || !port) {
  console.error('usage: policy-server.ts <sources.json> <port>');
  process.exit(2);
}
const sources = JSON.parse(readFileSync(sourcesFile, 'utf8')) as PolicySource[];
const point = new DecisionPoint(PolicySet.unvalidated(splitPolicies(sources)));

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    let body: string;
    try {
      const decision = point.decide(JSON.parse(Buffer.concat(chunks).toString()) as AuthorizationRequest);
      body = JSON.stringify({ decision: decision.decision, policies: decision.policies });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    } catch (error) {
      body = JSON.stringify({ error: (error as Error).message });
      res.writeHead(400, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    }
    res.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(port), '127.0.0.1', () => console.log(`listening on ${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
