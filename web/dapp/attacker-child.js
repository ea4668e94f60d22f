// A frame beside the wallet frame, on the allowed dApp origin: it is not the wallet's parent,
// so whatever it posts must go unanswered. Reports how many replies it got to its parent.
const config = await (await fetch('/config.json')).json();
const walletOrigin = new URL(config.walletUrl).origin;
const wallet = window.parent.document.getElementById('wallet-frame').contentWindow;
let replies = 0;
window.addEventListener('message', (e) => {
  if (e.origin === walletOrigin) replies++;
});
for (const [i, method] of ['hello', 'status', 'wallets', 'signMessage'].entries()) {
  wallet.postMessage({ tssw: 1, id: `sib${i}`, method, params: {} }, walletOrigin);
}
await new Promise((r) => setTimeout(r, 2000));
window.parent.postMessage({ childReport: { sent: 4, replies } }, location.origin);
