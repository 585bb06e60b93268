'use strict';
// Starts the app on an ephemeral port for a test file; `call` does a fetch
// with JSON in and out{{#features.auth}} and a token from /auth/token{{/features.auth}}.
const { createApp } = require('../src/app');

const SECRET = 'test-secret-for-the-generated-api';
const USER = 'tester';
const PASSWORD = 'correct horse battery staple';

async function start() {
  const app = createApp({ jwtSecret: SECRET, apiUser: USER, apiPassword: PASSWORD, tokenTtl: 600 });
  const server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const base = `http://127.0.0.1:${server.address().port}`;
  const api = { base, app, headers: {}, close: () => new Promise((resolve) => server.close(resolve)) };
  api.call = async (method, path, body, headers = api.headers) => {
    const init = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
    }
    const response = await fetch(base + path, init);
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : null };
  };
{{#features.auth}}
  const login = await api.call('POST', '/auth/token', { username: USER, password: PASSWORD });
  if (login.status !== 200) throw new Error(`login failed: ${login.status}`);
  api.headers = { Authorization: `Bearer ${login.body.access_token}` };
{{/features.auth}}
  return api;
}

module.exports = { start, SECRET, USER, PASSWORD };
