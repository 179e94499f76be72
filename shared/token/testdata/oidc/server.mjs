// Runs oidc-provider over HTTPS on 127.0.0.1 for shared/token's tests.
//
// Usage: node server.mjs config.json
// config.json: { "cert": "<PEM>", "key": "<PEM>", "clientCA": "<PEM>", "clients": [ ...client metadata ],
//   "jwks": { "keys": [ private JWKs ] }     optional: the server's own keys; one with "use": "enc"
//                                              turns on encrypted request objects (PAR with a JWE)
//   "requireKid": [ "client id", ... ] }     optional: see below
// Prints one JSON line {"issuer": "...", "token_endpoint": "...", "par_endpoint": "...",
// "authorization_endpoint": "...", "jwks_uri": "..."} once ready,
// and exits when its standard input closes (the test ended).
import fs from 'node:fs';
import https from 'node:https';
import querystring from 'node:querystring';
import Provider from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

let handler = (req, res) => { res.statusCode = 503; res.end(); };

// oidc-provider tries every key of a client when an assertion has no kid.
// Many platforms do not: they look the key up by kid and refuse an assertion
// without one. For the clients in config.requireKid this wrapper does the
// same before oidc-provider sees the request (the body it read is handed on
// as req.body, which oidc-provider accepts from an upstream parser).
const requireKid = new Set(config.requireKid || []);
function kidChecked(next) {
  return (req, res) => {
    if (req.method !== 'POST' || requireKid.size === 0) return next(req, res);
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      req.body = body;
      const form = querystring.parse(body);
      if (typeof form.client_assertion === 'string' && requireKid.has(form.client_id)) {
        let header = {};
        try {
          header = JSON.parse(Buffer.from(form.client_assertion.split('.')[0], 'base64url').toString('utf8'));
        } catch {}
        if (typeof header.kid !== 'string') {
          res.statusCode = 401;
          res.setHeader('Content-Type', 'application/json');
          res.end(JSON.stringify({ error: 'invalid_client', error_description: 'the client assertion has no kid' }));
          return;
        }
      }
      next(req, res);
    });
  };
}
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
    ...(config.jwks ? { jwks: config.jwks } : {}),
    features: {
      // Pushed Authorization Requests (on by default in oidc-provider), with
      // request objects and their encryption to the server's enc key.
      pushedAuthorizationRequests: { enabled: true },
      requestObjects: { enabled: true },
      encryption: { enabled: true },
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
  handler = kidChecked(provider.callback());
  console.log(JSON.stringify({
    issuer,
    token_endpoint: `${issuer}/token`,
    par_endpoint: `${issuer}/request`,
    authorization_endpoint: `${issuer}/auth`,
    jwks_uri: `${issuer}/jwks`,
  }));
});

process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
