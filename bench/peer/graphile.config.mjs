// PostGraphile 5 with the amber preset over the hub's benchmark database (bench/peer.sh).
// PEER_DATABASE_URL names the database; PEER_PORT the port it serves on 127.0.0.1.
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString: process.env.PEER_DATABASE_URL,
      schemas: ["public"],
    }),
  ],
  grafserv: {
    host: "127.0.0.1",
    port: Number(process.env.PEER_PORT || 5678),
    graphiql: false,
    watch: false,
  },
  grafast: { explain: false },
};

export default preset;
