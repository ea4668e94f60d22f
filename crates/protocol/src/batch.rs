//! Several signatures in one ceremony: each item is an ordinary signing run under its own
//! id, and the batch moves them in lockstep, one message per recipient and round carrying
//! every item's payload in item order. What a ceremony costs besides the protocol (setup,
//! key agreement, relay connection, sealed share) is then paid once for the batch.

use std::collections::BTreeMap;

use serde_bytes::{ByteBuf, Bytes};
use zeroize::Zeroize;

use crate::ceremony::{Context, Expect, Inbox, Outgoing, Round, Started, Transition, encode_into};
use crate::{CeremonyId, Error, PartyIndex, Recipient, Scheme};

/// The most requests one batch signs, of any scheme ([`max_batch`] is per scheme).
pub const MAX_BATCH: usize = 64;

/// The most requests one batch of `scheme` signs. An ECDSA signature's largest round
/// message is ≈ 55 KB (the OT-based multiplication), so 16 of them (≈ 890 KB) stay inside
/// [`crate::MAX_MESSAGE_BYTES`]; a FROST signature's are a few hundred bytes, and 64 of
/// them keep a batch's protocol work near 100 ms of CPU (tests check both).
pub fn max_batch(scheme: Scheme) -> usize {
    match scheme {
        Scheme::Ecdsa => 16,
        Scheme::Ed25519 | Scheme::Bip340 => MAX_BATCH,
    }
}

/// Item `i`'s context: the batch's, under an id derived from the batch id and `i`, so no
/// two items share protocol transcripts.
pub(crate) fn item_context(batch: &Context, i: usize) -> Context {
    let index = u32::try_from(i).unwrap_or(u32::MAX).to_be_bytes();
    Context { id: CeremonyId(batch.hash("batch-item", &[&index])), ..batch.clone() }
}

/// Combines the items' first rounds.
pub(crate) fn start<O: Send + 'static>(items: Vec<(Context, Started<O>)>) -> Result<Started<Vec<O>>, Error> {
    let mut contexts = Vec::with_capacity(items.len());
    let mut rounds = Vec::with_capacity(items.len());
    let mut outgoing = Vec::with_capacity(items.len());
    for (ctx, (round, out)) in items {
        contexts.push(ctx);
        rounds.push(round);
        outgoing.push(out);
    }
    let out = combine(outgoing)?;
    Ok((Box::new(Batch { contexts, rounds }), out))
}

struct Batch<O> {
    contexts: Vec<Context>,
    rounds: Vec<Box<dyn Round<O>>>,
}

impl<O: Send + 'static> Round<Vec<O>> for Batch<O> {
    fn expects(&self) -> Expect {
        // Every item runs the same protocol among the same parties, so the first speaks for all.
        self.rounds.first().map(|r| r.expects()).unwrap_or_default()
    }

    fn finish(self: Box<Self>, _ctx: &Context, mut inbox: Inbox) -> Result<Transition<Vec<O>>, Error> {
        let n = self.rounds.len();
        let round = inbox.round;
        let mut inboxes: Vec<Inbox> =
            (0..n).map(|_| Inbox { round, broadcast: BTreeMap::new(), direct: BTreeMap::new() }).collect();
        for (broadcast, messages) in
            [(true, std::mem::take(&mut inbox.broadcast)), (false, std::mem::take(&mut inbox.direct))]
        {
            for (from, mut bytes) in messages {
                let parts = split(&bytes, n, from, round);
                bytes.zeroize();
                for (item, part) in inboxes.iter_mut().zip(parts?) {
                    if broadcast {
                        item.broadcast.insert(from, part)
                    } else {
                        item.direct.insert(from, part)
                    };
                }
            }
        }
        let mut next = Vec::with_capacity(n);
        let mut outgoing = Vec::with_capacity(n);
        let mut done = Vec::with_capacity(n);
        for ((state, ctx), item) in self.rounds.into_iter().zip(&self.contexts).zip(inboxes) {
            match state.finish(ctx, item)? {
                Transition::Next(r, out) => {
                    next.push(r);
                    outgoing.push(out);
                }
                Transition::Done(o) => done.push(o),
            }
        }
        match (next.is_empty(), done.is_empty()) {
            (true, false) => Ok(Transition::Done(done)),
            (false, true) => {
                let out = combine(outgoing)?;
                Ok(Transition::Next(Box::new(Batch { contexts: self.contexts, rounds: next }), out))
            }
            _ => Err(Error::Aborted("the batch's signatures fell out of step".into())),
        }
    }
}

/// One sender's batch message → the items' payloads, exactly `n` of them. As byte strings,
/// not sequences of `u8`: serde would otherwise visit an ECDSA batch's ≈ 890 KB byte by byte.
fn split(bytes: &[u8], n: usize, from: PartyIndex, round: u8) -> Result<Vec<Vec<u8>>, Error> {
    match postcard::from_bytes::<Vec<ByteBuf>>(bytes) {
        Ok(parts) if parts.len() == n => Ok(parts.into_iter().map(ByteBuf::into_vec).collect()),
        Ok(mut parts) => {
            parts.iter_mut().for_each(|p| p.zeroize());
            Err(Error::MalformedPayload { from, round })
        }
        Err(_) => Err(Error::MalformedPayload { from, round }),
    }
}

/// The items' messages of one round → one per recipient, payloads in item order. Every
/// item must address the same recipients in the same order, as runs of one protocol do.
fn combine(items: Vec<Vec<Outgoing>>) -> Result<Vec<Outgoing>, Error> {
    let Some(first) = items.first() else { return Ok(Vec::new()) };
    let recipients: Vec<Recipient> = first.iter().map(|o| o.to).collect();
    let mut parts: Vec<Vec<Vec<u8>>> = recipients.iter().map(|_| Vec::with_capacity(items.len())).collect();
    let mut out_of_step = false;
    for item in items {
        out_of_step |= item.len() != recipients.len() || item.iter().zip(&recipients).any(|(o, to)| o.to != *to);
        for (slot, o) in parts.iter_mut().zip(item) {
            slot.push(o.payload);
        }
    }
    let combined = if out_of_step {
        Err(Error::Aborted("the batch's signatures address different parties".into()))
    } else {
        recipients
            .iter()
            .zip(&parts)
            .map(|(to, p)| {
                let items: Vec<&Bytes> = p.iter().map(|x| Bytes::new(x)).collect();
                // Each item's length varint is at most 10 bytes, as is the count's.
                let size = p.iter().map(|x| x.len() + 10).sum::<usize>() + 10;
                Ok(Outgoing { to: *to, payload: encode_into(&items, Vec::with_capacity(size))? })
            })
            .collect()
    };
    // Direct payloads can be secret; the combined copy is what leaves.
    parts.iter_mut().flatten().for_each(Zeroize::zeroize);
    combined
}
