// Serves PostGraphile (graphile.config.mjs) at /graphql until stopped.
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/node";
import preset from "./graphile.config.mjs";

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer();
server.on("error", (error) => {
  console.error(error);
  process.exit(1);
});
await serv.addTo(server);
server.listen(preset.grafserv.port, preset.grafserv.host, () => {
  console.error(`PostGraphile on http://${preset.grafserv.host}:${preset.grafserv.port}/graphql`);
});
const stop = () => {
  server.close();
  pgl.release().finally(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
