// Game logic in JavaScript: the same WIT world as the Rust example (protocol/wit/logic.wit),
// built into a component by the Bytecode Alliance's componentize-js (build.mjs). It refuses
// impossible scores and keeps a counter in the game's key-value storage (RPC `counter`).
import { kvGet, kvCompareAndSet } from 'aethex:logic/host@0.1.0';

const IMPOSSIBLE_SCORE = 10000000n;

export const hooks = {
  init() {
    return { hooks: ['before-score'], rpcs: ['counter'], rooms: false };
  },
  beforeSave(ctx, save) {
    return { tag: 'accept' };
  },
  beforeScore(ctx, s) {
    if (s.score < 0n || s.score > IMPOSSIBLE_SCORE) {
      return { tag: 'reject', val: `impossible score ${s.score}` };
    }
    return { tag: 'accept' };
  },
  beforeAchievement(ctx, p) {
    return { tag: 'accept' };
  },
  beforeTicket(ctx, t) {
    return { tag: 'accept' };
  },
  afterEvent(ctx, e) {},
};

export const rpc = {
  // `payload` and the answer are JSON text; a thrown string is the caller's error reason.
  call(ctx, name, payload) {
    if (name !== 'counter') throw `no RPC named ${name}`;
    const by = JSON.parse(payload).by ?? 1;
    if (!Number.isInteger(by) || by < 1 || by > 100) throw 'by is 1 to 100';
    for (let i = 0; i < 16; i++) {
      const old = kvGet('counter');
      const n = old ? Number(new TextDecoder().decode(old)) : 0;
      if (kvCompareAndSet('counter', old, new TextEncoder().encode(String(n + by)))) {
        return JSON.stringify({ counter: n + by, caller: ctx.caller.tag });
      }
    }
    throw 'the counter is busy: try again';
  },
};

export const room = {
  open(roomId, mode, properties) {},
  join(playerId, playerData) {},
  leave(playerId) {},
  tick(tick, inputs) {
    return { state: [], end: undefined };
  },
};
