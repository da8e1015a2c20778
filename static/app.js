// Nasty pages, client side: relative times, owner-only controls, the live indicator and resync, pause, scramble layout, keyboard shortcuts, asking before a delete, and filling the add form from the page it saves.
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
    if (Number.isSafeInteger(message.seq) && (lastSeq === null || message.seq > lastSeq)) lastSeq = message.seq;
    if (holding()) {
      // Held until resumed: hx-ws skips a message whose event detail is marked cancelled.
      event.detail.cancelled = true;
      event.preventDefault();
      hold(message);
    } else if (message.resync === true) resync();
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

  // ---- pause: a live page and the scramble hold what arrives until resumed (WCAG 2.2.2) ----
  // While paused, each live message is kept instead of swapped; resuming swaps them in the order
  // they came, exactly as hx-ws would have, and keeps holding newer ones until the queue is empty
  // so nothing overtakes. A resync while paused drops what was held: the reload shows it all.

  const HELD_MESSAGES_MAX = 1000;
  const pauseButton = document.getElementById("pause");
  const liveRoot = document.getElementById("main");
  let paused = false;
  let releasing = false;
  let heldResync = false;
  const held = [];

  function holding() {
    return paused || releasing;
  }

  function showPause() {
    if (!pauseButton) return;
    pauseButton.setAttribute("aria-pressed", String(paused));
    pauseButton.textContent = !paused ? "pause" : held.length > 0 || heldResync ? `resume (${heldResync ? "reload" : `${held.length} waiting`})` : "resume";
  }

  function hold(message) {
    if (message.resync === true || held.length >= HELD_MESSAGES_MAX) {
      heldResync = true;
      held.length = 0;
    } else if (!heldResync && typeof message.content === "string") {
      held.push(message);
    }
    showPause();
  }

  async function release() {
    releasing = true;
    if (heldResync) {
      heldResync = false;
      held.length = 0;
      resync();
    }
    while (held.length > 0 && !paused) {
      const message = held.shift();
      let swap = message.swap || "innerHTML";
      if (!/(?:^|\s)swapEmpty(?::(?:true|false))?(?=\s|$)/.test(swap)) swap += " swapEmpty:false";
      try {
        await htmx.swap({ sourceElement: liveRoot, target: message.target || liveRoot, swap, text: message.content, transition: false });
      } catch {
        // A target that is gone (a card deleted meanwhile) is what live delivery meets too.
      }
      showPause();
    }
    releasing = false;
    showPause();
  }

  if (pauseButton) {
    pauseButton.hidden = false;
    pauseButton.addEventListener("click", () => {
      paused = !paused;
      showPause();
      if (paused) return;
      if (liveRoot && liveRoot.hasAttribute("hx-ws:connect")) void release();
      const scrambleBox = document.getElementById("scramble");
      if (scrambleBox) htmx.ajax("GET", "/scramble/cards", { target: "#scramble", swap: "innerHTML settle:0" }).catch(() => {});
    });
  }

  // ---- scramble: cards scattered at random positions and angles, dealt again every 5 s ----

  const scramble = document.getElementById("scramble");

  function scatter(container) {
    container.classList.add("scattered");
    const width = container.clientWidth;
    const height = container.clientHeight;
    const cards = container.querySelectorAll(".card");
    // Each card gets its own cell of a jittered grid, dealt in random order, so no two land on the same place.
    const columns = Math.max(1, Math.ceil(Math.sqrt(cards.length * Math.max(1, width) / Math.max(1, height))));
    const rows = Math.max(1, Math.ceil(cards.length / columns));
    const cells = Array.from({ length: columns * rows }, (_, cell) => cell);
    for (let last = cells.length - 1; last > 0; last -= 1) {
      const pick = Math.floor(Math.random() * (last + 1));
      [cells[last], cells[pick]] = [cells[pick], cells[last]];
    }
    cards.forEach((card, index) => {
      const cellWidth = Math.max(0, width - card.offsetWidth) / columns;
      const cellHeight = Math.max(0, height - card.offsetHeight) / rows;
      const x = ((cells[index] % columns) + Math.random()) * cellWidth;
      const y = (Math.floor(cells[index] / columns) + Math.random()) * cellHeight;
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
    // reduced motion, for hidden tabs and while the pause button is pressed. "Shuffle now" always works.
    document.addEventListener("htmx:before:request", (event) => {
      const source = event.detail && event.detail.ctx && event.detail.ctx.sourceElement;
      if (source === scramble && (reducedMotion.matches || document.hidden || paused)) event.preventDefault();
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

  // ---- keyboard shortcuts: / search, n new, j k move, o open, e edit, ? the list ----
  // Never while typing in a field or with Ctrl, Alt or Meta held (those are the browser's).

  const shortcuts = document.getElementById("shortcuts");
  const confirmDialog = document.getElementById("confirm");
  let selectedId = null;

  // Inputs that take no typed text: a focused (ticked) box or a button leaves the keys to the shortcuts.
  const KEYLESS_INPUTS = new Set(["checkbox", "radio", "button", "submit", "reset", "image", "file", "color", "range"]);

  function typing(target) {
    if (!(target instanceof Element)) return false;
    if (target instanceof HTMLElement && target.isContentEditable) return true;
    const field = target.closest("input, textarea, select");
    return field !== null && !(field instanceof HTMLInputElement && KEYLESS_INPUTS.has(field.type));
  }

  function listCards() {
    return [...document.querySelectorAll("main .card[id]")];
  }

  function selectedCard() {
    return selectedId === null ? null : document.getElementById(selectedId);
  }

  /** What o and e act on: the selected card, or the page's only card (one bookmark's page) when none is. */
  function actedOnCard() {
    const selected = selectedCard();
    if (selected) return selected;
    const cards = listCards();
    return cards.length === 1 ? cards[0] : null;
  }

  function select(card) {
    const previous = selectedCard();
    if (previous) previous.classList.remove("selected");
    selectedId = card.id;
    card.classList.add("selected");
    card.tabIndex = -1;
    card.focus({ preventScroll: true });
    card.scrollIntoView({ block: "nearest", behavior: reducedMotion.matches ? "auto" : "smooth" });
  }

  function move(step) {
    const cards = listCards();
    if (cards.length === 0) return;
    const index = cards.indexOf(selectedCard());
    const next = index < 0 ? 0 : Math.min(cards.length - 1, Math.max(0, index + step));
    select(cards[next]);
  }

  function focusNewBookmark() {
    const field = document.querySelector('#new-bookmark input[name="url"]');
    if (!field) return false;
    field.focus();
    return true;
  }

  const SHORTCUTS = {
    "/": () => {
      const search = document.querySelector('main input[type="search"]');
      if (search) search.focus();
      else location.href = "/search";
    },
    n: () => {
      if (!focusNewBookmark()) location.href = "/bookmarks#new-bookmark";
    },
    j: () => move(1),
    k: () => move(-1),
    o: () => {
      const link = actedOnCard()?.querySelector(".card-title a[href]");
      if (link) location.href = link.href;
    },
    e: () => {
      const card = actedOnCard();
      if (card && viewer && card.dataset.owner === viewer) location.href = `/b/${card.id.slice("b-".length)}/edit`;
    },
    "?": () => {
      if (!shortcuts) return;
      if (shortcuts.open) shortcuts.close();
      else shortcuts.showModal();
    },
  };

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey || event.isComposing || typing(event.target)) return;
    const action = Object.hasOwn(SHORTCUTS, event.key) ? SHORTCUTS[event.key] : null;
    if (!action || (confirmDialog && confirmDialog.open) || (shortcuts && shortcuts.open && event.key !== "?")) return;
    event.preventDefault();
    action();
  });

  // A card replaced live (an edit) keeps its selection.
  document.addEventListener("htmx:after:swap", () => {
    const card = selectedCard();
    if (card && !card.classList.contains("selected")) card.classList.add("selected");
  });

  // After load: scrolling to the fragment, which the browser does then, would otherwise take the focus back.
  // "Tick all shown" on the bulk bar: ticks every card's box in the list, or unticks them all once all are ticked.
  // The bar is swapped after each action, so the click is handled on the document.
  document.addEventListener("click", (event) => {
    if (!(event.target instanceof Element) || event.target.id !== "bulk-all") return;
    const boxes = [...document.querySelectorAll("main .card .bulk-pick")];
    const tick = !boxes.every((box) => box.checked);
    for (const box of boxes) box.checked = tick;
  });
  function showBulkAll() {
    const button = document.getElementById("bulk-all");
    if (button) button.hidden = false;
  }
  showBulkAll();
  document.addEventListener("htmx:after:swap", showBulkAll);

  // ---- deleting asks first: a dialog before a form that erases (the bulk bar's delete, a tag's delete) ----
  // Such a form carries an empty hidden `confirm`; once the person confirms it is sent with "yes"
  // (htmx collects the fields as the submit event is handled, so the field is emptied again at once).
  // The server deletes nothing without it: without JavaScript it asks on a page of its own.

  /** What to ask before `form` is sent ({text, button}), or null when it erases nothing. */
  function question(form) {
    if (form.id !== "bulk") return form.dataset.confirm ? { text: form.dataset.confirm, button: form.dataset.confirmButton || "delete" } : null;
    const action = form.elements.namedItem("action");
    if (!action || action.value !== "delete") return null;
    // form.elements holds the cards' boxes too: they belong to the bar through form="bulk".
    const count = [...form.elements].filter((element) => element.name === "ids" && element.checked).length;
    if (count === 0) return null;
    const noun = count === 1 ? "bookmark" : `${count} bookmarks`;
    return { text: `Delete ${count === 1 ? "this bookmark" : `these ${count} bookmarks`}? ${count === 1 ? "It is" : "They are"} erased for good, with their discussions; this cannot be undone.`, button: `delete ${noun}` };
  }

  /** Shows the dialog; resolves true when the person pressed the delete button (Escape and cancel say no). */
  function ask(text, button) {
    confirmDialog.querySelector("#confirm-text").textContent = text;
    confirmDialog.querySelector("#confirm-yes").textContent = button;
    confirmDialog.returnValue = "";
    return new Promise((resolve) => {
      confirmDialog.addEventListener("close", () => resolve(confirmDialog.returnValue === "confirm"), { once: true });
      confirmDialog.showModal();
    });
  }

  // In the capture phase on the document: before htmx's own listener on the form sees the submit.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!confirmDialog || !(form instanceof HTMLFormElement)) return;
    const field = form.elements.namedItem("confirm");
    if (!(field instanceof HTMLInputElement) || field.value === "yes") return;
    const asked = question(form);
    if (!asked) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    void ask(asked.text, asked.button).then((yes) => {
      if (!yes || !form.isConnected) return;
      field.value = "yes";
      form.requestSubmit();
      field.value = "";
    });
  }, true);

  // ---- the add form fills what it lacks from the page itself (GET /api/bookmarks/check) ----
  // Opened with a URL (the bookmarklet, the share target, ?url=) or given one, its empty title and
  // description are filled from what the page says about itself, never over what was typed, and a
  // URL saved already is pointed out. Without JavaScript the form is saved as it is, and the server
  // fetches a missing title itself.

  const CHECKED_URL_CHARS_MAX = 2048;
  /** Fields of the add form the person typed in: never filled. */
  const typed = new WeakSet();
  let checksAsked = 0;

  function alreadyNotice(saved) {
    const notice = document.createElement("p");
    notice.className = "notice already";
    notice.setAttribute("role", "status");
    const link = document.createElement("a");
    link.href = `/b/${encodeURIComponent(String(saved.id))}/edit`;
    const title = document.createElement("bdi");
    title.textContent = saved.title;
    link.append("“", title, "”");
    notice.append("You already saved this link as ", link, ": change it there.");
    return notice;
  }

  /** Asks the server about the form's URL; `changed`: the person gave a new URL, so what was said of the old one goes. */
  async function checkAddForm(form, changed) {
    const urlField = form.querySelector('input[name="url"]');
    const fillable = [form.querySelector('input[name="title"]'), form.querySelector('textarea[name="description"]')].filter((field) => field !== null);
    const url = urlField ? urlField.value.trim() : "";
    if (changed) for (const notice of form.querySelectorAll(".already")) notice.remove();
    if (!/^https?:\/\/\S+$/i.test(url) || url.length > CHECKED_URL_CHARS_MAX) return;
    if (!changed && fillable.every((field) => field.value !== "")) return;
    const ticket = ++checksAsked;
    form.setAttribute("aria-busy", "true");
    let answer = null;
    try {
      const response = await fetch(`/api/bookmarks/check?url=${encodeURIComponent(url)}`, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" });
      if (response.ok) answer = await response.json();
    } catch {
      // No answer: the form works as it is, and the server fetches a missing title when it saves.
    } finally {
      if (ticket === checksAsked) form.removeAttribute("aria-busy");
    }
    // An answer about a URL that is no longer the form's, or for a form already saved and replaced, is dropped.
    if (!answer || ticket !== checksAsked || !form.isConnected || urlField.value.trim() !== url) return;
    const metadata = answer.metadata || {};
    for (const field of fillable) {
      const value = field.name === "title" ? metadata.title : metadata.description;
      if (typeof value === "string" && value !== "" && field.value === "" && !typed.has(field)) field.value = value;
    }
    if (answer.saved && !form.querySelector(".already")) urlField.closest("label").before(alreadyNotice(answer.saved));
  }

  document.addEventListener("input", (event) => {
    if (event.target instanceof Element && event.target.closest("#new-bookmark")) typed.add(event.target);
  });
  document.addEventListener("change", (event) => {
    const field = event.target;
    if (field instanceof HTMLInputElement && field.name === "url" && field.form && field.form.id === "new-bookmark") void checkAddForm(field.form, true);
  });
  const addForm = document.getElementById("new-bookmark");
  if (addForm) void checkAddForm(addForm, false);

  // The bookmarklet runs on other sites; here a click (which the policy would refuse) says how to use it.
  for (const link of document.querySelectorAll("a.bookmarklet")) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      link.textContent = "drag me to your bookmarks bar";
    });
  }

  if (location.hash === "#new-bookmark") window.addEventListener("load", () => focusNewBookmark(), { once: true });

  formatTimes(document);
  setInterval(() => formatTimes(document), TIMES_REFRESH_MS);
})();
