'use strict';
// Compiles contracts/Registry.sol with solc-js and deploys {{project.class_name}}Registry with
// ethers (npm install first). The key comes from the DEPLOYER_KEY environment
// variable only, never from the command line (it would show in `ps`).
//   RPC_URL=http://127.0.0.1:8545 DEPLOYER_KEY=0x... node scripts/deploy.js [--dry-run]
const fs = require('node:fs');
const path = require('node:path');

const CONTRACT = '{{project.class_name}}Registry';
const SOURCE = path.join(__dirname, '..', 'contracts', 'Registry.sol');

function parseArgs(argv, env) {
  const options = { dryRun: false, rpcUrl: env.RPC_URL || '', key: env.DEPLOYER_KEY || '' };
  for (const arg of argv) {
    if (arg === '--dry-run') options.dryRun = true;
    else if (arg.startsWith('--rpc-url=')) options.rpcUrl = arg.slice('--rpc-url='.length);
    else if (arg.startsWith('--key') || arg.startsWith('--private-key')) {
      throw new Error('pass the key in DEPLOYER_KEY, not on the command line');
    } else throw new Error(`unknown argument ${arg}`);
  }
  if (!options.dryRun) {
    if (!/^https?:\/\//.test(options.rpcUrl)) throw new Error('set RPC_URL (http:// or https://)');
    if (!/^0x[0-9a-fA-F]{64}$/.test(options.key)) throw new Error('set DEPLOYER_KEY (0x + 64 hex digits)');
  }
  return options;
}

// The solc standard-JSON input for the registry.
function compileInput(source) {
  return {
    language: 'Solidity',
    sources: { 'Registry.sol': { content: source } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      outputSelection: { '*': { [CONTRACT]: ['abi', 'evm.bytecode.object'] } },
    },
  };
}

function compile(solc, source) {
  const output = JSON.parse(solc.compile(JSON.stringify(compileInput(source))));
  const errors = (output.errors || []).filter((e) => e.severity === 'error');
  if (errors.length) throw new Error(errors.map((e) => e.formattedMessage).join('\n'));
  const contract = output.contracts['Registry.sol'][CONTRACT];
  return { abi: contract.abi, bytecode: `0x${contract.evm.bytecode.object}` };
}

async function main(argv = process.argv.slice(2), env = process.env) {
  const options = parseArgs(argv, env);
  const solc = require('solc');
  const artifact = compile(solc, fs.readFileSync(SOURCE, 'utf8'));
  fs.mkdirSync(path.join(__dirname, '..', 'artifacts'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, '..', 'artifacts', `${CONTRACT}.json`), JSON.stringify(artifact, null, 2));
  if (options.dryRun) {
    console.log(`compiled ${CONTRACT} (${artifact.bytecode.length / 2 - 1} bytes); dry run, nothing deployed`);
    return null;
  }
  const { ethers } = require('ethers');
  const wallet = new ethers.Wallet(options.key, new ethers.JsonRpcProvider(options.rpcUrl));
  const contract = await new ethers.ContractFactory(artifact.abi, artifact.bytecode, wallet).deploy();
  await contract.waitForDeployment();
  const address = await contract.getAddress();
  console.log(`${CONTRACT} deployed at ${address}`);
  return address;
}

module.exports = { CONTRACT, SOURCE, parseArgs, compileInput, compile, main };

if (require.main === module) {
  main().catch((err) => {
    console.error(`deploy: ${err.message}`);
    process.exitCode = 1;
  });
}
