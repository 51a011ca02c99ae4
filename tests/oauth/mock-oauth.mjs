// Starts the npm package `oauth2-mock-server` (a real OAuth 2.0 / OIDC server) on
// 127.0.0.1 for the end-to-end OAuth tests, and prints {"issuer": URL} on stdout.
//
// The package is installed outside the clone by scripts/test-all.sh into
// $AETHEX_NPM_DIR. This file only configures it:
// - the user of a login is chosen by the test's `login_hint` on /authorize
//   (`unverified=1` marks the email unverified);
// - token requests without a PKCE S256 verifier are refused, so a server that skipped
//   PKCE fails the tests;
// - /userinfo answers the union of the OIDC, GitHub and Discord user shapes.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const dir = process.env.AETHEX_NPM_DIR;
if (!dir) throw new Error('AETHEX_NPM_DIR is not set');
const require = createRequire(dir.replace(/\/?$/, '/'));
const { OAuth2Server } = await import(pathToFileURL(require.resolve('oauth2-mock-server')).href);

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');
await server.start(0, '127.0.0.1');
const port = server.address().port;
server.issuer.url = `http://127.0.0.1:${port}`;

const logins = new Map(); // authorization code -> { email, verified, method }

server.service.on('beforeAuthorizeRedirect', (redirect, req) => {
  const code = redirect.url.searchParams.get('code');
  if (!code) return;
  logins.set(code, {
    email: String(req.query.login_hint || 'johndoe@example.com'),
    verified: req.query.unverified !== '1',
    method: req.query.code_challenge_method,
  });
});

server.service.on('beforeTokenSigning', (token, req) => {
  const login = logins.get(req.body.code);
  if (!login) return;
  token.payload.sub = 'mock-' + Buffer.from(login.email).toString('hex').slice(0, 32);
  token.payload.email = login.email;
  token.payload.email_verified = login.verified;
  token.payload.name = login.email.split('@')[0];
});

server.service.on('beforeResponse', (response, req) => {
  if (req.body.grant_type !== 'authorization_code') return;
  const login = logins.get(req.body.code);
  if (!req.body.code_verifier || !login || login.method !== 'S256') {
    response.statusCode = 400;
    response.body = { error: 'invalid_request', error_description: 'PKCE with S256 is required' };
  }
});

server.service.on('beforeUserinfo', (response, req) => {
  const auth = String(req.headers['authorization'] || '');
  const jwt = auth.split(' ')[1] || '';
  const payload = JSON.parse(Buffer.from(jwt.split('.')[1] || 'e30', 'base64url').toString());
  response.body = {
    sub: payload.sub, id: payload.sub, email: payload.email,
    email_verified: payload.email_verified, verified: payload.email_verified,
    name: payload.name, login: payload.name, username: payload.name,
  };
});

console.log(JSON.stringify({ issuer: server.issuer.url }));
process.on('SIGTERM', async () => { await server.stop(); process.exit(0); });
