// Tests of the client logic: typed form values, validation, display, and the
// API client's requests and error handling against a local HTTP server that
// records what it receives.
import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createApi, ApiError } from '../src/api.js';
import { apiBase, DEFAULT_API_BASE } from '../src/config.js';
import { RESOURCES, formToItem, displayValue, escapeHtml, inputType } from '../src/resources.js';

function sampleForm(resource) {
  const values = {};
  const expected = {};
  for (const field of RESOURCES[resource].fields) {
    const sample = {
      string: ['Some words', 'Some words'], text: ['Line one\nline two', 'Line one\nline two'],
      integer: ['42', 42], number: ['19.5', 19.5], boolean: [true, true],
      date: ['2024-01-31', '2024-01-31'], email: ['user@example.com', 'user@example.com'],
    }[field.type];
    values[field.name] = sample[0];
    expected[field.name] = sample[1];
  }
  return { values, expected };
}

test('form values become typed items', () => {
  for (const resource of Object.keys(RESOURCES)) {
    const { values, expected } = sampleForm(resource);
    const { item, errors } = formToItem(resource, values);
    assert.deepEqual(errors, {}, resource);
    assert.deepEqual(item, expected, resource);
  }
});

test('form validation mirrors the API', () => {
  for (const [resource, spec] of Object.entries(RESOURCES)) {
    for (const field of spec.fields) {
      const { values } = sampleForm(resource);
      if (field.type === 'boolean') continue;
      values[field.name] = '';
      const empty = formToItem(resource, values);
      if (field.required) assert.equal(empty.errors[field.name], 'is required');
      else assert.equal(empty.item[field.name], null);
      const bad = { integer: '4.5', number: 'abc', email: 'nobody', date: '31/01/2024' }[field.type];
      if (bad !== undefined) {
        values[field.name] = bad;
        assert.ok(formToItem(resource, values).errors[field.name], `${resource}.${field.name} accepted ${bad}`);
      }
    }
  }
});

test('display and escaping', () => {
  assert.equal(displayValue({ type: 'boolean' }, true), 'yes');
  assert.equal(displayValue({ type: 'string' }, null), '');
  assert.equal(escapeHtml('<img src=x onerror="a()">&\''), '&lt;img src=x onerror=&quot;a()&quot;&gt;&amp;&#39;');
  assert.equal(inputType({ type: 'boolean' }), 'checkbox');
  assert.equal(inputType({ type: 'text' }), 'text');
});

test('the API base comes from the page or the default', () => {
  assert.equal(apiBase({ API_BASE: 'https://api.example.org//' }), 'https://api.example.org');
  assert.equal(apiBase({}), DEFAULT_API_BASE.replace(/\/+$/, ''));
});

async function recordingServer(answer) {
  const seen = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      const [status, payload] = answer(req);
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(payload === undefined ? '' : JSON.stringify(payload));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { seen, base: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

test('the client sends the right requests', async () => {
  const server = await recordingServer((req) => {
    if (req.url === '/auth/token') return [200, { access_token: 'tok.en.x', token_type: 'Bearer' }];
    if (req.method === 'DELETE') return [204];
    if (req.method === 'POST') return [201, { id: 1 }];
    return [200, []];
  });
  try {
    const api = createApi({ baseUrl: server.base + '/' });
    for (const resource of Object.keys(RESOURCES)) {
      await api.list(resource, { limit: 5, offset: 10 });
      await api.create(resource, { a: 1 });
      await api.update(resource, 3, { a: 2 });
      await api.remove(resource, 3);
    }
    await api.login('me', 'secret');
    await api.health();
    const summary = server.seen.map((r) => `${r.method} ${r.url}`);
    const expected = [];
    for (const resource of Object.keys(RESOURCES)) {
      expected.push(`GET /api/${resource}?limit=5&offset=10`, `POST /api/${resource}`, `PUT /api/${resource}/3`, `DELETE /api/${resource}/3`);
    }
    expected.push('POST /auth/token', 'GET /health');
    assert.deepEqual(summary, expected);
    const posts = server.seen.filter((r) => r.method === 'POST' && r.url.startsWith('/api/'));
    for (const post of posts) {
      assert.equal(post.headers['content-type'], 'application/json');
      assert.deepEqual(JSON.parse(post.body), { a: 1 });
    }
    assert.equal(server.seen.at(-1).headers.authorization, 'Bearer tok.en.x');
    assert.equal(server.seen[0].headers.authorization, undefined);
  } finally {
    await server.close();
  }
});

test('API errors carry status, message and fields', async () => {
  const server = await recordingServer(() => [400, { error: 'invalid thing', fields: { name: 'is required' } }]);
  try {
    const api = createApi({ baseUrl: server.base });
    await assert.rejects(api.create(Object.keys(RESOURCES)[0] || 'things', {}), (err) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.status, 400);
      assert.equal(err.message, 'invalid thing');
      assert.deepEqual(err.fields, { name: 'is required' });
      return true;
    });
    assert.throws(() => api.get('../etc', 1), TypeError);
    assert.throws(() => api.get('things', -1), TypeError);
  } finally {
    await server.close();
  }
});
