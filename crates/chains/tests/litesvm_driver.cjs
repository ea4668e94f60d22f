// Executes Solana transactions in litesvm for the chains tests (see tests/common/tools.rs).
// argv: <airdrop lamports> <payer address>...; stdin: {"tx": base64, "watch": [address]} lines.
"use strict";
const path = require("node:path");
const readline = require("node:readline");
const modules = process.env.TSSW_NODE_MODULES;
const { LiteSVM, FailedTransactionMetadata } = require(path.join(modules, "litesvm"));
const { getTransactionDecoder, address, lamports } = require(path.join(modules, "@solana/kit"));

const [airdrop, ...payers] = process.argv.slice(2);
const svm = new LiteSVM();
for (const payer of payers) {
  const res = svm.airdrop(address(payer), lamports(BigInt(airdrop)));
  if (res instanceof FailedTransactionMetadata) {
    throw new Error(`airdrop failed: ${res.toString()}`);
  }
}
const balance = (a) => String(svm.getBalance(address(a)) ?? 0n);
console.log(JSON.stringify({ blockhash: svm.latestBlockhash() }));

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const { tx, watch } = JSON.parse(line);
  let ok = false;
  let err = null;
  try {
    const decoded = getTransactionDecoder().decode(Buffer.from(tx, "base64"));
    const res = svm.sendTransaction(decoded);
    ok = !(res instanceof FailedTransactionMetadata);
    if (!ok) err = res.toString();
  } catch (e) {
    err = String(e);
  }
  const balances = Object.fromEntries(watch.map((a) => [a, balance(a)]));
  console.log(JSON.stringify({ ok, err, balances }));
});
