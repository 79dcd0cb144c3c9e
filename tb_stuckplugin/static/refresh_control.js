// Refreshing by itself: runs `refresh` every few seconds, shows "Updated 5 s ago", and has Pause
// and Refresh-now buttons. A refresh starts only after the previous one ended: they never overlap.
//
// The interval defaults to 10 s; tests (or impatient users) can change it with
//   localStorage.setItem("tb-stuckplugin.refresh-seconds", "1")
import { el, setAttr, setText } from "./dom.js";
import { timeAgo } from "./format.js";

const DEFAULT_SECONDS = 10;
const STORAGE_KEY = "tb-stuckplugin.refresh-seconds";

export function createRefreshControl(refresh) {
  const seconds = intervalSeconds();
  const label = el("span", { class: "updated" }, "Loading…");
  const pauseButton = el(
    "button",
    {
      type: "button",
      class: "pause-button",
      "aria-pressed": "false",
      title: `Refreshes every ${seconds} s`,
    },
    "Pause",
  );
  const nowButton = el("button", { type: "button", class: "refresh-button" }, "Refresh now");
  const element = el("div", { class: "refresh-control" }, label, pauseButton, nowButton);

  let paused = false;
  let timer = null;
  let running = null;
  let lastSuccess = null;

  // One refresh now (or after the one under way), then the next one scheduled.
  async function runNow() {
    clearTimeout(timer);
    if (!running) {
      // A bug must not stop the refreshing: log it (tests fail on console errors) and go on.
      running = refresh()
        .catch((error) => {
          console.error(error);
          return false;
        })
        .finally(() => {
          running = null;
        });
    }
    const ok = await running;
    if (ok) lastSuccess = Date.now();
    tick();
    if (!paused) {
      clearTimeout(timer);
      timer = setTimeout(runNow, seconds * 1000);
    }
  }

  pauseButton.addEventListener("click", () => {
    paused = !paused;
    setAttr(pauseButton, "aria-pressed", String(paused));
    setText(pauseButton, paused ? "Resume" : "Pause");
    if (paused) clearTimeout(timer);
    else runNow();
    tick();
  });
  nowButton.addEventListener("click", runNow);

  // Rewrites "Updated N s ago"; called every second.
  function tick() {
    const when = lastSuccess === null ? "not yet" : timeAgo(lastSuccess / 1000);
    setText(label, `${paused ? "Paused · updated" : "Updated"} ${when}`);
  }

  return { element, start: runNow, tick };
}

function intervalSeconds() {
  let stored = null;
  try {
    stored = Number(window.localStorage.getItem(STORAGE_KEY));
  } catch {
    // Storage can be blocked; the default is fine then.
  }
  return stored > 0 ? stored : DEFAULT_SECONDS;
}
