// Runs oidc-provider over HTTPS on 127.0.0.1 for shared/token's tests.
//
// Usage: node server.mjs config.json
// config.json: { "cert": "<PEM>", "key": "<PEM>", "clientCA": "<PEM>", "clients": [ ...client metadata ] }
// Prints one JSON line {"issuer": "...", "token_endpoint": "..."} once ready,
// and exits when its standard input closes (the test ended).
import fs from 'node:fs';
import https from 'node:https';
import Provider from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

let handler = (req, res) => { res.statusCode = 503; res.end(); };
const server = https.createServer({
  cert: config.cert,
  key: config.key,
  ca: config.clientCA,
  // Certificates are checked by oidc-provider (tls_client_auth), not here.
  requestCert: true,
  rejectUnauthorized: false,
  minVersion: 'TLSv1.2',
}, (req, res) => handler(req, res));

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `https://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: config.clients,
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'tls_client_auth'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      mTLS: {
        enabled: true,
        tlsClientAuth: true,
        // The PEM of the certificate presented on this connection.
        getCertificate(ctx) {
          const peer = ctx.req.socket.getPeerX509Certificate?.();
          return peer ? peer.toString() : undefined;
        },
        // Node verified the chain against config.clientCA during the handshake.
        certificateAuthorized(ctx) {
          return ctx.req.socket.authorized === true;
        },
        certificateSubjectMatches(ctx, property, expected) {
          const peer = ctx.req.socket.getPeerX509Certificate?.();
          return property === 'tls_client_auth_subject_dn' && peer?.subject === expected;
        },
      },
    },
    cookies: { keys: ['keyport-test-only'] },
  });
  provider.proxy = false;
  handler = provider.callback();
  console.log(JSON.stringify({ issuer, token_endpoint: `${issuer}/token` }));
});

process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
