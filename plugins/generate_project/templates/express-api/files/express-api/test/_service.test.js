'use strict';
// Tests of what is not one resource: health, errors, CORS{{#features.auth}}, authentication{{/features.auth}}.
const test = require('node:test');
const assert = require('node:assert/strict');
const { RESOURCES } = require('../src/schema');
const { start, SECRET, USER, PASSWORD } = require('./helpers');
{{#features.auth}}
const auth = require('../src/auth');
{{/features.auth}}

let api;
test.before(async () => { api = await start(); });
test.after(() => api.close());

test('health', async () => {
  const r = await api.call('GET', '/health', undefined, {});
  assert.equal(r.status, 200);
  assert.equal(r.body.status, 'ok');
  assert.deepEqual(r.body.resources, Object.keys(RESOURCES).sort());
  assert.equal(r.headers.get('access-control-allow-origin'), '*');
});

test('unknown routes are a JSON 404', async () => {
  const r = await api.call('GET', '/api/no_such_resource');
  assert.equal(r.status, 404);
  assert.deepEqual(r.body, { error: 'not found' });
});

test('bad paging is a 400', async () => {
  for (const name of Object.keys(RESOURCES)) {
    assert.equal((await api.call('GET', `/api/${name}?limit=zero`)).status, 400);
    assert.equal((await api.call('GET', `/api/${name}?limit=0`)).status, 400);
  }
});

test('malformed JSON is a 400', async () => {
  for (const name of Object.keys(RESOURCES)) {
    assert.equal((await api.call('POST', `/api/${name}`, '{"broken": ')).status, 400);
  }
});
{{#features.admin}}

test('admin summary counts every resource', async () => {
  const r = await api.call('GET', '/api/admin/summary');
  assert.equal(r.status, 200);
  assert.deepEqual(Object.keys(r.body).sort(), Object.keys(RESOURCES).sort());
});
{{/features.admin}}
{{#features.auth}}

test('login issues a token', async () => {
  const r = await api.call('POST', '/auth/token', { username: USER, password: PASSWORD }, {});
  assert.equal(r.status, 200);
  assert.equal(auth.verify(SECRET, r.body.access_token).sub, USER);
});

test('login refuses bad credentials', async () => {
  assert.equal((await api.call('POST', '/auth/token', { username: USER, password: 'wrong' }, {})).status, 401);
  assert.equal((await api.call('POST', '/auth/token', { username: 'nobody', password: PASSWORD }, {})).status, 401);
  assert.equal((await api.call('POST', '/auth/token', { username: USER }, {})).status, 400);
});

test('the API requires a valid token', async () => {
  const forged = auth.issue('another-secret-of-some-length', USER);
  const expired = auth.issue(SECRET, USER, 10, {}, Date.now() / 1000 - 3600);
  for (const name of Object.keys(RESOURCES)) {
    assert.equal((await api.call('GET', `/api/${name}`, undefined, {})).status, 401);
    for (const token of ['not.a.token', forged, expired]) {
      assert.equal((await api.call('GET', `/api/${name}`, undefined, { Authorization: `Bearer ${token}` })).status, 401);
    }
  }
});

test('tokens reject a swapped payload', () => {
  const [header, , signature] = auth.issue(SECRET, USER, 600, { admin: false }).split('.');
  const other = auth.issue(SECRET, USER, 600, { admin: true }).split('.')[1];
  assert.throws(() => auth.verify(SECRET, [header, other, signature].join('.')), auth.InvalidToken);
});

test('the app refuses to start without a secret', () => {
  const { createApp } = require('../src/app');
  assert.throws(() => createApp({ jwtSecret: '' }), /JWT_SECRET/);
});
{{/features.auth}}
