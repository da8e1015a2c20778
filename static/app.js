// Nasty pages, client side: relative times, owner-only controls, the live indicator and resync, scramble layout.
// A static file (the Content-Security-Policy allows no inline script); htmx and hx-ws do the rest.
(() => {
  "use strict";

  const FEED_ITEMS_MAX = 200;
  const TIMES_REFRESH_MS = 30_000;
  const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");
  const viewer = document.body.dataset.viewer || "";

  // Fragments are rendered once for every watcher, so each card carries its owner's controls.
  // They are hidden by app.css; this rule, keyed on body[data-viewer], shows them to the owner.
  if (viewer) {
    const sheet = new CSSStyleSheet();
    const name = CSS.escape(viewer);
    sheet.replaceSync(`body[data-viewer="${name}"] [data-owner="${name}"] .owner-only { display: inline; }`);
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
  }

  // ---- "3 min ago": the server sends <time datetime>, which no shared fragment could keep fresh ----

  const dateFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
  const dateYearFormat = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });
  const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

  function ago(then, now) {
    const seconds = Math.max(0, (now - then) / 1000);
    if (seconds < 45) return "just now";
    const minutes = Math.round(seconds / 60);
    if (minutes < 60) return `${minutes} min ago`;
    const hours = Math.round(minutes / 60);
    if (hours < 24) return `${hours} h ago`;
    const days = Math.round(hours / 24);
    if (days < 7) return days === 1 ? "yesterday" : `${days} days ago`;
    const date = new Date(then);
    return (date.getFullYear() === new Date(now).getFullYear() ? dateFormat : dateYearFormat).format(date);
  }

  function formatTimes(root) {
    const now = Date.now();
    for (const time of root.querySelectorAll("time[datetime]")) {
      const then = Date.parse(time.getAttribute("datetime"));
      if (Number.isNaN(then)) continue;
      time.textContent = ago(then, now);
      if (!time.title) time.title = fullFormat.format(new Date(then));
    }
  }

  // ---- the live indicator, and resuming after a reconnect ----
  // Every fragment carries the seq of its event. The page's socket URL starts with the seq the page
  // was rendered at (?since=); after a drop it reconnects with the last seq it saw, and the server
  // replays what was missed in order. Only when it no longer holds that history does it send
  // {"resync":true}: then the live part is reloaded, and the indicator says so.

  const liveStatus = document.getElementById("live-status");
  let lastSeq = null;
  let resynced = false;

  function setLive(state, text) {
    if (!liveStatus) return;
    liveStatus.dataset.state = state;
    liveStatus.querySelector(".live-text").textContent = text;
  }

  function resync() {
    resynced = true;
    setLive("live", "live · reloaded what was missed");
    if (!document.getElementById("live-body")) return;
    htmx.ajax("GET", location.href, { target: "#live-body", select: "#live-body", swap: "outerHTML" }).catch(() => {});
  }

  /** The socket URL to reconnect to: the same topic, from the last seq seen. */
  function resumeFrom(connection) {
    if (!connection || lastSeq === null) return;
    const url = new URL(connection.url);
    url.searchParams.set("since", String(lastSeq));
    connection.url = url.href;
  }

  document.addEventListener("htmx:ws:before:message:incoming", (event) => {
    const data = event.detail && event.detail.message && event.detail.message.data;
    if (typeof data !== "string" || data.charCodeAt(0) !== 123) return;
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    if (message.resync === true) resync();
    else if (Number.isSafeInteger(message.seq) && (lastSeq === null || message.seq > lastSeq)) lastSeq = message.seq;
  });
  document.addEventListener("htmx:ws:after:connection", (event) => {
    const connection = event.detail && event.detail.connection;
    const since = connection ? new URL(connection.url).searchParams.get("since") : null;
    if (lastSeq === null && since !== null && /^\d+$/.test(since)) lastSeq = Number(since);
    setLive("live", resynced ? "live · reloaded what was missed" : "live");
  });
  document.addEventListener("htmx:ws:close", (event) => {
    resumeFrom(event.detail && event.detail.connection);
    const code = event.detail && event.detail.code;
    // 44xx: the server refused this topic (gone, private); hx-ws does not retry those.
    if (typeof code === "number" && code >= 4000) setLive("off", "not live");
    else setLive("reconnecting", document.hidden ? "paused" : "reconnecting…");
  });
  document.addEventListener("htmx:ws:error", () => setLive("reconnecting", "reconnecting…"));

  // ---- scramble: cards scattered at random positions and angles, dealt again every 5 s ----

  const scramble = document.getElementById("scramble");

  function scatter(container) {
    container.classList.add("scattered");
    const width = container.clientWidth;
    const height = container.clientHeight;
    const cards = container.querySelectorAll(".card");
    cards.forEach((card, index) => {
      const x = Math.random() * Math.max(0, width - card.offsetWidth);
      const y = Math.random() * Math.max(0, height - card.offsetHeight);
      card.style.setProperty("--x", `${x.toFixed(0)}px`);
      card.style.setProperty("--y", `${y.toFixed(0)}px`);
      card.style.setProperty("--r", `${(Math.random() * 30 - 15).toFixed(1)}deg`);
      card.style.setProperty("--delay", `${Math.min(index * 20, 600)}ms`);
      card.style.setProperty("--z", String(index + 1));
    });
  }

  if (scramble) {
    scatter(scramble);
    let resizeTimer = 0;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => scatter(scramble), 200);
    });
    // The 5-second deal comes from hx-trigger="every 5s"; it pauses for visitors who prefer
    // reduced motion and for hidden tabs. The "shuffle now" button always works.
    document.addEventListener("htmx:before:request", (event) => {
      const source = event.detail && event.detail.ctx && event.detail.ctx.sourceElement;
      if (source === scramble && (reducedMotion.matches || document.hidden)) event.preventDefault();
    });
  }

  // ---- whatever htmx or hx-ws inserts: format its times, mark new cards, keep feeds bounded ----

  function arrived(node) {
    formatTimes(node);
    if (node.classList.contains("card") && node.parentElement && node.parentElement.id === "feed") node.classList.add("arrived");
  }

  new MutationObserver((mutations) => {
    let scrambled = false;
    for (const mutation of mutations) {
      for (const node of mutation.addedNodes) if (node.nodeType === Node.ELEMENT_NODE) arrived(node);
      if (mutation.target === scramble && mutation.addedNodes.length > 0) scrambled = true;
    }
    if (scrambled) scatter(scramble);
    const feed = document.getElementById("feed");
    if (feed) while (feed.children.length > FEED_ITEMS_MAX) feed.lastElementChild.remove();
  }).observe(document.body, { childList: true, subtree: true });

  formatTimes(document);
  setInterval(() => formatTimes(document), TIMES_REFRESH_MS);
})();
