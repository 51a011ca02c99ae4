// The Colyseus baseline for aethex-relay-load: a relay room equivalent to aethex-relay's
// rooms. Players send their state ("s" messages, MessagePack maps); the room merges each
// player's fields and, on a fixed 20 Hz simulation interval, broadcasts one batch
// ("b": {sessionId: changed fields}) of every player that changed since the last tick.
// One encoding of the batch for the whole room (Colyseus's broadcast), which is cheaper
// than aethex-relay's per-recipient batches. Rooms hold 10 players; joinOrCreate fills
// them in order.
//
//   PORT=2567 node server.mjs   (prints "colyseus listening on ws://127.0.0.1:<port>")
import { Server, Room } from "@colyseus/core";
import { WebSocketTransport } from "@colyseus/ws-transport";

const TICK_MS = Number(process.env.TICK_MS || 50);

class RelayRoom extends Room {
  maxClients = 10;

  onCreate() {
    this.autoDispose = true;
    this.pending = new Map();
    this.onMessage("s", (client, data) => {
      let fields = this.pending.get(client.sessionId);
      if (fields === undefined) {
        fields = {};
        this.pending.set(client.sessionId, fields);
      }
      Object.assign(fields, data);
    });
    this.setSimulationInterval(() => {
      if (this.pending.size === 0) return;
      const batch = Object.fromEntries(this.pending);
      this.pending.clear();
      this.broadcast("b", batch);
    }, TICK_MS);
  }

  onLeave(client) {
    this.pending.delete(client.sessionId);
  }
}

const port = Number(process.env.PORT || 2567);
const server = new Server({ transport: new WebSocketTransport({ pingInterval: 0 }), greet: false });
server.define("relay", RelayRoom);
await server.listen(port, "127.0.0.1");
console.log(`colyseus listening on ws://127.0.0.1:${port}`);
