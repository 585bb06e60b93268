'use strict';
// Tests of the deploy script's argument handling and compile input, and of
// the shape of the contract: every resource has its record type and its
// create/get/update/remove functions.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { CONTRACT, SOURCE, parseArgs, compileInput } = require('../scripts/deploy');

const RESOURCES = [
{{#resources}}
  '{{class_name}}',
{{/resources}}
];
const source = fs.readFileSync(SOURCE, 'utf8');

test('arguments: RPC URL and key from the environment only', () => {
  const key = `0x${'ab'.repeat(32)}`;
  assert.deepEqual(parseArgs([], { RPC_URL: 'http://127.0.0.1:8545', DEPLOYER_KEY: key }),
    { dryRun: false, rpcUrl: 'http://127.0.0.1:8545', key });
  assert.equal(parseArgs(['--dry-run'], {}).dryRun, true);
  assert.throws(() => parseArgs([], { DEPLOYER_KEY: key }), /RPC_URL/);
  assert.throws(() => parseArgs([], { RPC_URL: 'http://x', DEPLOYER_KEY: 'nope' }), /DEPLOYER_KEY/);
  assert.throws(() => parseArgs([`--private-key=${key}`], {}), /DEPLOYER_KEY/);
  assert.throws(() => parseArgs(['--bogus'], {}), /unknown argument/);
});

test('compile input selects the registry', () => {
  const input = compileInput(source);
  assert.equal(input.sources['Registry.sol'].content, source);
  assert.deepEqual(Object.keys(input.settings.outputSelection['*']), [CONTRACT]);
});

test('the contract declares every resource', () => {
  assert.match(source, /^\/\/ SPDX-License-Identifier: MIT/);
  assert.match(source, new RegExp(`contract ${CONTRACT} \\{`));
  for (const name of RESOURCES) {
    assert.match(source, new RegExp(`struct ${name}Record \\{`), name);
    for (const verb of ['create', 'get', 'update', 'remove']) {
      assert.match(source, new RegExp(`function ${verb}${name}\\(`), `${verb}${name}`);
    }
  }
});

test('braces and parentheses balance', () => {
  const code = source.replace(/\/\/.*$/gm, '').replace(/"(?:[^"\\]|\\.)*"/g, '""');
  for (const [open, close] of [['{', '}'], ['(', ')']]) {
    let depth = 0;
    for (const c of code) {
      if (c === open) depth += 1;
      if (c === close) depth -= 1;
      assert.ok(depth >= 0, `unbalanced ${close}`);
    }
    assert.equal(depth, 0, `unbalanced ${open}`);
  }
});
