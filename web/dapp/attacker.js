// A hostile embedding page: what can a page do to the wallet frame? Each attempt records
// whether the wallet's defence held in window.attackResults[name] = {held, detail}.
//
// Two situations (chosen by the test through the URL):
//   attacker.html               on the allowed dApp origin: a malicious script that shares the
//                               dApp's origin. It can send requests, so the checks are that
//                               it cannot read the frame, cannot get a share out, and cannot
//                               approve a signature itself.
//   attacker.html?foreign=1     opened on an origin that is NOT in allowedOrigins (e.g.
//                               localhost instead of 127.0.0.1): the frame must refuse to be
//                               embedded (frame-ancestors) and never answer, not even when
//                               opened as a popup and messaged from there.
// Option ?user=NAME logs in as that user (the test passes the main user, whose shares the
// frame holds, so the auto-approve attempt reaches a real confirmation dialog).

const params = new URLSearchParams(location.search);
const results = {};
window.attackResults = results;
window.attackDone = false;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const record = (name, held, detail) => {
  results[name] = { held: Boolean(held), detail };
  const line = document.createElement('div');
  line.className = held ? 'ok' : 'err';
  line.textContent = `${held ? 'HELD  ' : 'BROKEN'} ${name}: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`;
  document.getElementById('log').append(line);
};

const config = await (await fetch('/config.json')).json();
const walletUrl = new URL(config.walletUrl);
const walletOrigin = walletUrl.origin;

// Raw messaging (no SDK): collect everything the frame sends us.
const inbox = [];
let target = null; // the wallet window we talk to
window.addEventListener('message', (e) => {
  if (e.origin === walletOrigin) inbox.push({ data: e.data, fromTarget: e.source === target });
});

let seq = 0;
function send(msg) {
  target.postMessage(msg, walletOrigin);
}
// Sends a request and waits up to `ms` for the reply with its id; null when none came.
async function ask(msg, ms = 2000) {
  const id = msg.id ?? `a${++seq}`;
  send({ ...msg, id });
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const hit = inbox.find((m) => m.data && m.data.id === id);
    if (hit) return hit.data;
    await sleep(20);
  }
  return null;
}

function mountFrame() {
  const iframe = document.createElement('iframe');
  iframe.id = 'wallet-frame';
  iframe.src = walletUrl.href;
  iframe.width = '460';
  iframe.height = '600';
  document.getElementById('frames').append(iframe);
  return iframe;
}

async function waitEvent(name, ms) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (inbox.some((m) => m.data && m.data.event === name)) return true;
    await sleep(50);
  }
  return false;
}

function tryRead(name, fn) {
  try {
    const v = fn();
    record(name, false, `read succeeded: ${String(v).slice(0, 80)}`);
  } catch (err) {
    record(name, err.name === 'SecurityError', `${err.name}: ${err.message.slice(0, 120)}`);
  }
}

async function allowedOriginAttacks() {
  const iframe = mountFrame();
  target = iframe.contentWindow;
  if (!(await waitEvent('ready', 30000))) throw new Error('wallet frame never became ready on the allowed origin');

  // 1. Reading the frame: the same-origin policy stops every one.
  tryRead('read_document', () => iframe.contentWindow.document.body.innerHTML);
  tryRead('read_localStorage', () => iframe.contentWindow.localStorage.length);
  tryRead('read_indexedDB', () => iframe.contentWindow.indexedDB.open('tssw-wallet'));
  tryRead('read_location', () => iframe.contentWindow.location.href);
  tryRead('call_into_frame', () => iframe.contentWindow.eval('1'));
  tryRead('click_approve_directly', () => iframe.contentWindow.document.getElementById('approve').click());

  // 2. Methods that would hand out secrets do not exist; prototype names are not methods.
  for (const method of ['exportShare', 'getShare', 'share', 'identitySeed', 'export', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'approve']) {
    const r = await ask({ tssw: 1, method, params: {} });
    record(`method_${method}`, r?.error?.code === 4200 && !JSON.stringify(r).includes('share"'), r);
  }

  // 3. Malformed requests: answered with an error, never acted on.
  const versions = [[2, 'v2'], ['1', 'v_string'], [0, 'v0'], [null, 'v_null']];
  for (const [v, label] of versions) {
    const r = await ask({ tssw: v, method: 'status', params: {} });
    record(`version_${label}`, r?.error?.code === -32600, r);
  }
  {
    const r = await ask({ tssw: 1, id: { evil: true }, method: 'status' }, 1500);
    // An invalid id cannot be matched; the frame answers with id null.
    const nullReply = inbox.find((m) => m.data && m.data.id === null && m.data.error?.code === -32600);
    record('bad_id', r === null && Boolean(nullReply), nullReply?.data ?? 'no reply');
  }
  {
    send({ method: 'status', id: 'no-version' });
    await sleep(800);
    const r = inbox.find((m) => m.data && m.data.id === 'no-version');
    record('no_version_field_ignored', !r, r ? r.data : 'no reply (not addressed to the wallet)');
  }
  for (const [label, p] of [['array', [1, 2]], ['string', 'x'], ['number', 7]]) {
    const r = await ask({ tssw: 1, method: 'signMessage', params: p });
    record(`params_${label}`, r?.error?.code === -32602, r);
  }
  {
    const big = 'x'.repeat(4 * 1024 * 1024);
    const r = await ask({ tssw: 1, method: 'signMessage', params: { wallet: 'w', message: big } }, 10000);
    record('giant_payload', r?.error?.code === -32602, r ? { ...r, error: r.error } : 'no reply');
  }

  // 4. Before connect: sessions methods are unauthorized.
  {
    const r = await ask({ tssw: 1, method: 'signMessage', params: { wallet: 'w', message: 'hi' } });
    record('sign_before_connect', r?.error?.code === 4100, r);
  }

  // 5. A sibling frame of ours (same origin as the allowed parent, but not the parent) posts
  //    to the wallet: it must get nothing.
  {
    const child = document.createElement('iframe');
    child.src = 'attacker-child.html';
    document.getElementById('frames').append(child);
    const report = await new Promise((resolve) => {
      const onMsg = (e) => {
        if (e.source === child.contentWindow && e.data?.childReport) {
          window.removeEventListener('message', onMsg);
          resolve(e.data.childReport);
        }
      };
      window.addEventListener('message', onMsg);
      setTimeout(() => resolve({ timeout: true }), 10000);
    });
    record('sibling_frame_ignored', report.replies === 0 && !report.timeout, report);
  }

  // 6. With a session (if the test gave us a user): a real signature request that we try to
  //    approve ourselves. It must stay pending until the user clicks in the frame.
  const user = params.get('user');
  if (!user) return;
  const tok = await (await fetch('/dev-token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user }) })).json();
  const conn = await ask({ tssw: 1, method: 'connect', params: { token: tok.token } }, 60000);
  const ecdsa = conn?.result?.wallets?.find((w) => w.scheme === 'ecdsa' && w.hasShare);
  record('connect_returns_no_secrets', Boolean(conn?.result) && !/"share"|seed|identity/i.test(JSON.stringify(conn.result)), conn);
  if (!ecdsa) {
    record('auto_approve', false, 'no ECDSA wallet with a share to try on');
    return;
  }
  {
    // A passcode chosen by the page would let the page (which has the token) restore the backup.
    const r = await ask({ tssw: 1, method: 'backup', params: { wallet: ecdsa.id, passcode: 'from-the-page' } });
    record('passcode_from_page_refused', r?.error?.code === -32602, r);
  }
  const signId = 'attack-sign';
  send({ tssw: 1, id: signId, method: 'signMessage', params: { wallet: ecdsa.id, message: 'attacker wants this signed' } });
  await sleep(300);
  // Everything a page can post that might look like an approval.
  send({ approve: true });
  send({ tssw: 1, approve: true, id: signId });
  send({ tssw: 1, id: 'x1', method: 'approve', params: { id: signId } });
  send({ tssw: 1, id: signId, result: { approved: true } });
  send({ tssw: 1, event: 'approve' });
  const busy = await ask({ tssw: 1, method: 'signMessage', params: { wallet: ecdsa.id, message: 'second' } });
  record('second_request_while_pending', busy?.error?.code === -32002, busy);
  try {
    iframe.contentWindow.document.getElementById('approve').click();
  } catch { /* SecurityError, recorded above */ }
  iframe.focus();
  await sleep(3000);
  // Replies to the fake approvals that reused the request's id are refused as duplicates;
  // what matters is that the signature request itself has not ended.
  const outcome = (m) => m.data && m.data.id === signId && (m.data.result !== undefined || m.data.error?.code !== -32600);
  const early = inbox.find(outcome);
  record('auto_approve_pending', !early, early ? early.data : 'still pending after 3 s of self-approval attempts');
  // The test now clicks Reject inside the frame; the request must end as a user rejection.
  window.attackAwaitingUser = true;
  const until = Date.now() + 60000;
  let final = null;
  while (!final && Date.now() < until) {
    final = inbox.find(outcome)?.data ?? null;
    await sleep(50);
  }
  window.attackAwaitingUser = false;
  record('auto_approve', final?.error?.code === 4001 && !final.result, final ?? 'no answer');

  // 7. Clickjacking: the page draws over the dialog (click-through, so the user's click lands
  //    on Approve while they see something else). The frame sees it is covered and refuses.
  const st0 = await ask({ tssw: 1, method: 'status' });
  if (st0?.result?.occlusionCheck === 'active') {
    const rect = iframe.getBoundingClientRect();
    const cover = document.createElement('div');
    cover.textContent = 'Click the blue button to claim your prize!';
    Object.assign(cover.style, {
      position: 'absolute', left: `${rect.left + window.scrollX}px`, top: `${rect.top + window.scrollY}px`,
      width: `${rect.width}px`, height: `${rect.height}px`, background: 'rgba(255,255,255,0.92)',
      pointerEvents: 'none', font: '20px sans-serif', display: 'flex', alignItems: 'center', justifyContent: 'center',
    });
    document.body.append(cover);
    const jackId = 'attack-clickjack';
    const jackOutcome = (m) => m.data && m.data.id === jackId;
    send({ tssw: 1, id: jackId, method: 'signMessage', params: { wallet: ecdsa.id, message: 'clickjacked' } });
    await sleep(1000);
    window.attackAwaitingClick = 'approve'; // the test clicks Approve through the cover
    const until2 = Date.now() + 60000;
    while (!window.attackClicked && Date.now() < until2) await sleep(50);
    await sleep(500);
    const afterApprove = inbox.find(jackOutcome)?.data ?? null;
    window.attackAwaitingClick = 'reject'; // ... then Reject, to end the request
    let jackFinal = null;
    while (!jackFinal && Date.now() < until2) {
      jackFinal = inbox.find(jackOutcome)?.data ?? null;
      await sleep(50);
    }
    window.attackAwaitingClick = null;
    cover.remove();
    record('clickjack_overlay', afterApprove === null && jackFinal?.error?.code === 4001, { afterApprove, final: jackFinal });
  } else {
    record('clickjack_overlay', true, `not run: this browser does not report occlusion (${st0?.result?.occlusionCheck}); only the arming delay applies`);
  }

  const st = await ask({ tssw: 1, method: 'status' });
  record('dropped_messages_counted', (st?.result?.dropped ?? 0) >= 1, st?.result);
}

async function foreignOriginAttacks() {
  // Embedding is refused by the frame's CSP (frame-ancestors); nothing must arrive.
  const iframe = mountFrame();
  target = iframe.contentWindow;
  const ready = await waitEvent('ready', 6000);
  const r1 = await ask({ tssw: 1, method: 'status' }, 1500);
  const r2 = await ask({ tssw: 1, method: 'hello' }, 1500);
  record('foreign_embed_no_ready', !ready, ready ? 'ready event received' : 'no ready event');
  record('foreign_embed_no_reply', r1 === null && r2 === null, { status: r1, hello: r2 });

  // A popup is not subject to frame-ancestors; the page loads, but its origin check and
  // "only from my parent" rule must leave every request unanswered.
  const popup = window.open(walletUrl.href, 'tssw-popup', 'width=480,height=640');
  if (!popup) {
    record('foreign_popup_no_reply', true, 'popup blocked by the browser (nothing to talk to)');
  } else {
    target = popup;
    await sleep(4000); // let it boot
    const replies = [];
    for (const method of ['hello', 'status', 'connect', 'wallets', 'signMessage']) {
      replies.push(await ask({ tssw: 1, method, params: {} }, 1000));
    }
    const any = inbox.filter((m) => m.fromTarget);
    record('foreign_popup_no_reply', replies.every((r) => r === null) && any.length === 0, { replies, messagesFromPopup: any.length });
    popup.close();
  }
}

try {
  if (params.get('foreign')) await foreignOriginAttacks();
  else await allowedOriginAttacks();
} catch (err) {
  record('attack_page_error', false, String(err && err.message));
}
window.attackDone = true;
document.getElementById('done').textContent = 'done';
