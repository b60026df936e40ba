// Copies what the platform page uses from node_modules into central/web/static/vendor, so the
// page needs no internet and no node_modules at run time. Run: npm run build:web
import { copyFileSync, mkdirSync } from "node:fs";

const out = new URL("../central/web/static/vendor/", import.meta.url);
mkdirSync(out, { recursive: true });
for (const [from, to] of [
  ["uplot/dist/uPlot.iife.min.js", "uPlot.iife.min.js"],
  ["uplot/dist/uPlot.min.css", "uPlot.min.css"],
  ["uplot/LICENSE", "uPlot.LICENSE"],
]) {
  copyFileSync(new URL("../node_modules/" + from, import.meta.url), new URL(to, out));
}
