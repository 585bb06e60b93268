'use strict';
// Tests of /api/{{name}}: CRUD, validation of required fields and types.
const test = require('node:test');
const assert = require('node:assert/strict');
const { RESOURCES, invalidValue } = require('../src/schema');
const { start } = require('./helpers');

const URL = '/api/{{name}}';
const FIELDS = RESOURCES.{{name}}.fields;
const SAMPLE = {
{{#fields}}
  {{name}}: {{sample_js}},
{{/fields}}
};
const OTHER = {
{{#fields}}
  {{name}}: {{sample2_js}},
{{/fields}}
};

let api;
test.before(async () => { api = await start(); });
test.after(() => api.close());

async function create(body = SAMPLE) {
  const r = await api.call('POST', URL, body);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

test('create then get', async () => {
  const item = await create();
  assert.ok(Number.isInteger(item.id));
  for (const [key, value] of Object.entries(SAMPLE)) assert.deepEqual(item[key], value, key);
  const r = await api.call('GET', `${URL}/${item.id}`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, item);
});

test('list returns created items in order, with paging', async () => {
  const first = await create();
  const second = await create(OTHER);
  const ids = (await api.call('GET', `${URL}?limit=1000`)).body.map((i) => i.id);
  assert.ok(ids.indexOf(first.id) >= 0 && ids.indexOf(first.id) < ids.indexOf(second.id));
  const page = await api.call('GET', `${URL}?limit=1&offset=${ids.indexOf(second.id)}`);
  assert.deepEqual(page.body.map((i) => i.id), [second.id]);
});

test('put replaces every field', async () => {
  const item = await create();
  const r = await api.call('PUT', `${URL}/${item.id}`, OTHER);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.id, item.id);
  for (const [key, value] of Object.entries(OTHER)) assert.deepEqual(r.body[key], value, key);
});

test('patch changes one field at a time', async () => {
  for (const field of FIELDS) {
    const item = await create();
    const r = await api.call('PATCH', `${URL}/${item.id}`, { [field.name]: OTHER[field.name] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    for (const [key, value] of Object.entries(SAMPLE)) {
      assert.deepEqual(r.body[key], key === field.name ? OTHER[key] : value, key);
    }
  }
});

test('delete', async () => {
  const item = await create();
  assert.equal((await api.call('DELETE', `${URL}/${item.id}`)).status, 204);
  assert.equal((await api.call('GET', `${URL}/${item.id}`)).status, 404);
  assert.equal((await api.call('DELETE', `${URL}/${item.id}`)).status, 404);
});

test('unknown ids are a 404', async () => {
  assert.equal((await api.call('GET', `${URL}/999999`)).status, 404);
  assert.equal((await api.call('PUT', `${URL}/999999`, SAMPLE)).status, 404);
  assert.equal((await api.call('GET', `${URL}/not-a-number`)).status, 404);
});

test('required fields', async () => {
  for (const field of FIELDS.filter((f) => f.required)) {
    const body = { ...SAMPLE };
    delete body[field.name];
    const r = await api.call('POST', URL, body);
    assert.equal(r.status, 400);
    assert.equal(r.body.fields[field.name], 'is required');
    assert.equal((await api.call('POST', URL, { ...SAMPLE, [field.name]: null })).status, 400);
  }
});

test('wrong types are refused', async () => {
  for (const field of FIELDS) {
    const bad = invalidValue(field.type);
    const r = await api.call('POST', URL, { ...SAMPLE, [field.name]: bad });
    assert.equal(r.status, 400, field.name);
    assert.ok(field.name in r.body.fields, field.name);
    const item = await create();
    assert.equal((await api.call('PATCH', `${URL}/${item.id}`, { [field.name]: bad })).status, 400);
    assert.deepEqual((await api.call('GET', `${URL}/${item.id}`)).body, item);
  }
});

test('unknown fields and bad bodies are refused', async () => {
  const r = await api.call('POST', URL, { ...SAMPLE, not_a_field: 1 });
  assert.equal(r.status, 400);
  assert.ok('not_a_field' in r.body.fields);
  assert.equal((await api.call('POST', URL, [SAMPLE])).status, 400);
  const plain = await fetch(api.base + URL, { method: 'POST', headers: { ...api.headers, 'Content-Type': 'text/plain' }, body: 'x' });
  assert.equal(plain.status, 400);
});
